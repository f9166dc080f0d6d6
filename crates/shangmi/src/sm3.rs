//! SM3 (GB/T 32905-2016), with a fully unrolled compression function.
//!
//! The structure follows the fastest C implementations (OpenSSL's `sm3.c`, GmSSL): the 64
//! rounds are unrolled so that the register roles rotate instead of the values moving, the
//! rotations of B and F are applied in place (`B <<< 9`, `F <<< 19`) one round late, the
//! constants `T_j <<< j` are computed at compile time (and added where they keep E's chain
//! short), and the message expansion runs on a 16-word window, four rounds ahead of its
//! use, so it fills the gaps of the round chain.
//! SM3 has no secret-dependent branches or indices, so this is constant time as it stands.
use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use wearpay_crypto::{Hash, HashAlgorithm, HashContext, HashOutput};

const IV: [u32; 8] =
    [0x7380_166f, 0x4914_b2b9, 0x1724_42d7, 0xda8a_0600, 0xa96f_30bc, 0x1631_38aa, 0xe38d_ee4d, 0xb0fb_0e4e];

/// `T_j <<< (j mod 32)`.
const TJ: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut j = 0;
    while j < 64 {
        let base: u32 = if j < 16 { 0x79cc_4519 } else { 0x7a87_9d8a };
        t[j] = base.rotate_left((j % 32) as u32);
        j += 1;
    }
    t
};

/// [`TJ`] as words the compiler must load rather than fold. SS1 = (A <<< 12) + E + T_j:
/// E is the last of the three to be ready (it is the previous round's P0), so it should be
/// added last, but LLVM moves a known constant to the end of a sum, which puts two
/// additions between E and SS1 instead of one. A loaded value is left where it stands.
/// That takes a cycle off the E chain each round, which bounds the rounds (about 1.3%).
static TJ_LOADED: [AtomicU32; 64] = {
    let mut t = [const { AtomicU32::new(0) }; 64];
    let mut j = 0;
    while j < 64 {
        t[j] = AtomicU32::new(TJ[j]);
        j += 1;
    }
    t
};

#[inline(always)]
fn p0(x: u32) -> u32 {
    x ^ x.rotate_left(9) ^ x.rotate_left(17)
}

#[inline(always)]
fn p1(x: u32) -> u32 {
    x ^ x.rotate_left(15) ^ x.rotate_left(23)
}

#[inline(always)]
fn ff0(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

#[inline(always)]
fn ff1(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | ((x | y) & z)
}

#[inline(always)]
fn gg0(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

#[inline(always)]
fn gg1(x: u32, y: u32, z: u32) -> u32 {
    ((y ^ z) & x) ^ z
}

/// One round; the caller rotates the roles of the eight variables.
macro_rules! round {
    ($ff:ident, $gg:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $j:expr, $wi:expr, $wj:expr) => {{
        let a12 = $a.rotate_left(12);
        let ss1 = a12.wrapping_add(TJ_LOADED[$j].load(Relaxed)).wrapping_add($e).rotate_left(7);
        let tt1 = $ff($a, $b, $c).wrapping_add($d).wrapping_add(ss1 ^ a12).wrapping_add($wj);
        let tt2 = $gg($e, $f, $g).wrapping_add($h).wrapping_add(ss1).wrapping_add($wi);
        $b = $b.rotate_left(9);
        $d = tt1;
        $f = $f.rotate_left(19);
        $h = p0(tt2);
    }};
}

/// W[j+16] from the window (indices mod 16).
macro_rules! expand {
    ($w:ident, $j:expr) => {{
        let j = $j;
        $w[j % 16] = p1($w[j % 16] ^ $w[(j + 7) % 16] ^ $w[(j + 13) % 16].rotate_left(15))
            ^ $w[(j + 3) % 16].rotate_left(7)
            ^ $w[(j + 10) % 16];
    }};
}

/// Four rounds j..j+4, expanding the words that round j+4.. will need.
macro_rules! four {
    ($ff:ident, $gg:ident, $w:ident, $j:expr, $s:ident, expand) => {{
        four!($ff, $gg, $w, $j, $s);
        expand!($w, $j);
        expand!($w, $j + 1);
        expand!($w, $j + 2);
        expand!($w, $j + 3);
    }};
    ($ff:ident, $gg:ident, $w:ident, $j:expr, $s:ident) => {{
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = $s;
        let j = $j;
        round!($ff, $gg, a, b, c, d, e, f, g, h, j, $w[j % 16], $w[j % 16] ^ $w[(j + 4) % 16]);
        round!($ff, $gg, d, a, b, c, h, e, f, g, j + 1, $w[(j + 1) % 16], $w[(j + 1) % 16] ^ $w[(j + 5) % 16]);
        round!($ff, $gg, c, d, a, b, g, h, e, f, j + 2, $w[(j + 2) % 16], $w[(j + 2) % 16] ^ $w[(j + 6) % 16]);
        round!($ff, $gg, b, c, d, a, f, g, h, e, j + 3, $w[(j + 3) % 16], $w[(j + 3) % 16] ^ $w[(j + 7) % 16]);
        $s = [a, b, c, d, e, f, g, h];
    }};
}

/// Compresses whole 64-byte blocks into `state`: with BMI2 where the CPU has it, whose
/// three-operand `rorx` saves the register copies of ten rotations a round (about 6% here).
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if bmi2::compress(state, blocks) {
        return;
    }
    compress_blocks(state, blocks);
}

/// The BMI2 build of [`compress_blocks`].
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[allow(unsafe_code)]
mod bmi2 {
    use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

    /// Compresses `blocks` and returns true if the CPU has BMI2 (and
    /// `WEARPAY_SHANGMI_FORCE_PORTABLE` was not `1` at the first call); else does nothing.
    #[inline]
    pub(super) fn compress(state: &mut [u32; 8], blocks: &[u8]) -> bool {
        static STATE: AtomicU8 = AtomicU8::new(0);
        let yes = match STATE.load(Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let yes = !crate::sm4::force_portable_env() && std::is_x86_feature_detected!("bmi2");
                // Racing first calls compute the same answer.
                STATE.store(if yes { 2 } else { 1 }, Relaxed);
                yes
            }
        };
        if yes {
            // SAFETY: the CPU has BMI2, checked above.
            unsafe { compress_bmi2(state, blocks) };
        }
        yes
    }

    #[target_feature(enable = "bmi2")]
    fn compress_bmi2(state: &mut [u32; 8], blocks: &[u8]) {
        super::compress_blocks(state, blocks);
    }
}

/// The compression function on whole 64-byte blocks (inlined into each build above).
#[inline(always)]
fn compress_blocks(state: &mut [u32; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        let mut w: [u32; 16] = core::array::from_fn(|i| {
            u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]])
        });
        let mut s = *state;
        // Round j needs W[j] and W[j+4]; the window holds W[j..j+16] when round j starts, so
        // after rounds j..j+4 the four oldest words are replaced by W[j+16..j+20]. The last
        // three groups need no new words (W[67] is the last one used).
        four!(ff0, gg0, w, 0, s, expand);
        four!(ff0, gg0, w, 4, s, expand);
        four!(ff0, gg0, w, 8, s, expand);
        four!(ff0, gg0, w, 12, s, expand);
        four!(ff1, gg1, w, 16, s, expand);
        four!(ff1, gg1, w, 20, s, expand);
        four!(ff1, gg1, w, 24, s, expand);
        four!(ff1, gg1, w, 28, s, expand);
        four!(ff1, gg1, w, 32, s, expand);
        four!(ff1, gg1, w, 36, s, expand);
        four!(ff1, gg1, w, 40, s, expand);
        four!(ff1, gg1, w, 44, s, expand);
        four!(ff1, gg1, w, 48, s, expand);
        four!(ff1, gg1, w, 52, s);
        four!(ff1, gg1, w, 56, s);
        four!(ff1, gg1, w, 60, s);
        for (x, y) in state.iter_mut().zip(s) {
            *x ^= y;
        }
    }
}

/// An incremental SM3 computation.
#[derive(Clone)]
pub struct Sm3 {
    state: [u32; 8],
    buf: [u8; 64],
    buf_len: usize,
    /// Bytes absorbed so far (the standard allows up to 2^64 − 1 bits).
    total: u64,
}

impl core::fmt::Debug for Sm3 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state may follow from secret input (HMAC keys, transcripts): not shown.
        f.debug_struct("Sm3").field("total", &self.total).finish_non_exhaustive()
    }
}

impl Default for Sm3 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sm3 {
    /// A fresh computation.
    pub const fn new() -> Self {
        Self { state: IV, buf: [0; 64], buf_len: 0, total: 0 }
    }

    /// Absorbs `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 64 {
                return;
            }
            let buf = self.buf;
            compress(&mut self.state, &buf);
            self.buf_len = 0;
        }
        let whole = data.len() - data.len() % 64;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The digest.
    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        let mut pad = [0u8; 128];
        pad[0] = 0x80;
        let pad_len = if self.buf_len < 56 { 56 - self.buf_len } else { 120 - self.buf_len };
        pad[pad_len..pad_len + 8].copy_from_slice(&bits.to_be_bytes());
        self.update(&pad[..pad_len + 8]);
        debug_assert_eq!(self.buf_len, 0);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// SM3 of one message.
    pub fn digest(data: &[u8]) -> [u8; 32] {
        let mut h = Self::new();
        h.update(data);
        h.finalize()
    }
}

impl Drop for Sm3 {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.state.zeroize();
        self.buf.zeroize();
    }
}

/// SM3 as a [`Hash`] for the provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sm3Hash;

/// The SM3 hash object the provider uses.
pub static SM3: Sm3Hash = Sm3Hash;

impl Hash for Sm3Hash {
    fn algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::Sm3
    }
    fn start(&self) -> Box<dyn HashContext> {
        Box::new(Sm3::new())
    }
    fn hash(&self, data: &[u8]) -> HashOutput {
        HashOutput::new(&Sm3::digest(data))
    }
}

impl HashContext for Sm3 {
    fn update(&mut self, data: &[u8]) {
        Sm3::update(self, data);
    }
    fn fork(&self) -> Box<dyn HashContext> {
        Box::new(self.clone())
    }
    fn finish(self: Box<Self>) -> HashOutput {
        HashOutput::new(&(*self).finalize())
    }
    fn finish_with(&self, parts: &[&[u8]]) -> HashOutput {
        let mut ctx = self.clone();
        for p in parts {
            ctx.update(p);
        }
        HashOutput::new(&ctx.finalize())
    }
}
