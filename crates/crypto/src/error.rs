/// What went wrong in a cryptographic operation.
///
/// Deliberately coarse: a peer learns nothing from which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// A ciphertext did not decrypt (wrong key, tampered, malformed, bad tag or check value).
    #[error("decryption failed")]
    DecryptionFailed,
    /// Key bytes were not a valid key for the algorithm.
    #[error("invalid private key")]
    InvalidKey,
    /// A public key was malformed, off the curve or the point at infinity.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// An input had a length the operation cannot take.
    #[error("invalid length")]
    InvalidLength,
    /// A signature or ciphertext was not well-formed DER or raw encoding.
    #[error("malformed encoding")]
    Encoding,
    /// The provider does not implement this algorithm (for example SM1 in software).
    #[error("{0} is not supported by this crypto provider")]
    Unsupported(&'static str),
    /// The random source failed.
    #[error("random number generator failed")]
    Random,
    /// The key lives in hardware and cannot be exported.
    #[error("private key cannot be exported")]
    NotExportable,
}
