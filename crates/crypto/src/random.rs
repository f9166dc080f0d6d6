use core::fmt::Debug;

use crate::Error;

/// A cryptographically secure random source.
///
/// The band's comes from its secure element; tests may pin one to reproduce transcripts.
pub trait SecureRandom: Send + Sync + Debug {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error>;
}
