//! Marking secrets for a constant-time check under valgrind (the ctgrind / TIMECOP method).
//!
//! With the `ctgrind` feature, [`mark_secret`] tells memcheck that bytes are undefined, so
//! that any branch or memory index computed from them is reported, and [`declassify`] marks
//! the few values that are public by design (a signature, the validity of a key, whether a
//! check value matched) defined again before the code branches on them. Without the
//! feature, or outside valgrind, both do nothing.

/// Memcheck's `VG_USERREQ__MAKE_MEM_UNDEFINED` (`VG_USERREQ_TOOL_BASE('M', 'C') + 1`).
#[cfg(all(feature = "ctgrind", target_arch = "x86_64"))]
const MAKE_MEM_UNDEFINED: usize = 0x4d43_0001;
/// Memcheck's `VG_USERREQ__MAKE_MEM_DEFINED`.
#[cfg(all(feature = "ctgrind", target_arch = "x86_64"))]
const MAKE_MEM_DEFINED: usize = 0x4d43_0002;

/// Issues a valgrind client request about `len` bytes at `addr` (a no-op natively).
#[cfg(all(feature = "ctgrind", target_arch = "x86_64"))]
#[inline(never)]
fn client_request(request: usize, bytes: &mut [u8]) {
    // `&mut`: the caller must reload the bytes afterwards rather than reuse copies held in
    // registers, whose shadow state the request does not change.
    let args: [usize; 6] = [request, bytes.as_mut_ptr() as usize, bytes.len(), 0, 0, 0];
    // SAFETY: this is valgrind's "special instruction preamble" from valgrind.h for amd64:
    // the four rotations of rdi add up to 128 bits and leave it unchanged, and
    // `xchg rbx, rbx` changes nothing, so on a real CPU the sequence only clobbers flags
    // (declared) and returns the default 0 in rdx. Under valgrind it reads the six words at
    // rax, which point into `args`, alive for the whole block; the request only changes
    // valgrind's shadow state, not memory.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0usize => _,
            in("rax") args.as_ptr(),
            inout("rdi") 0usize => _,
            options(nostack),
        );
    }
}

/// Marks `bytes` as secret: under valgrind, every branch or index that depends on them is
/// reported.
pub fn mark_secret(bytes: &mut [u8]) {
    #[cfg(all(feature = "ctgrind", target_arch = "x86_64"))]
    client_request(MAKE_MEM_UNDEFINED, bytes);
    #[cfg(not(all(feature = "ctgrind", target_arch = "x86_64")))]
    let _ = bytes;
}

/// Marks `bytes` as public again (a signature, a decrypted message handed to the caller).
pub fn mark_public(bytes: &mut [u8]) {
    #[cfg(all(feature = "ctgrind", target_arch = "x86_64"))]
    client_request(MAKE_MEM_DEFINED, bytes);
    #[cfg(not(all(feature = "ctgrind", target_arch = "x86_64")))]
    let _ = bytes;
}

/// Returns `value`, marked public: for a bit that the protocol reveals anyway (a key is in
/// range, a check value matched, a nonce was rejected and drawn again).
#[inline(always)]
pub(crate) fn declassify(value: u64) -> u64 {
    #[cfg(all(feature = "ctgrind", target_arch = "x86_64"))]
    {
        let mut v = value.to_ne_bytes();
        mark_public(&mut v);
        u64::from_ne_bytes(v)
    }
    #[cfg(not(all(feature = "ctgrind", target_arch = "x86_64")))]
    value
}
