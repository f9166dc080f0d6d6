//! The constant-time check: SM4 under a secret key, SM2 signing and SM2 decryption with a
//! secret scalar, SM2 signing and encryption with secret nonces, with every secret byte
//! marked undefined for valgrind's
//! memcheck. Any branch or memory index that depends on a secret is then reported as a use
//! of an uninitialised value. Public results (a signature, a decrypted message, a MAC tag)
//! are marked defined again before this program looks at them.
//!
//! Run it with `ct/run.sh`, which builds it in release and fails on any report. Outside
//! valgrind it runs as an ordinary self-check. `--control` runs the portable provider's
//! table-based SM4 instead, which valgrind must flag: the check of the check.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc, missing_docs)]

use std::{process::ExitCode, sync::Mutex};

use wearpay_crypto::{DEFAULT_SM2_ID, Error, PublicKey, SecureRandom, SigningKey};
use wearpay_shangmi::{
    PROVIDER, provider_with,
    sm2::ct::{mark_public, mark_secret},
    sm4::Backend,
};

/// SplitMix64 whose output is marked secret: the nonces of signing come from here.
struct SecretRandom(Mutex<u64>);

impl std::fmt::Debug for SecretRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretRandom")
    }
}

impl SecretRandom {
    fn next(&self) -> u64 {
        let mut s = self.0.lock().unwrap();
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl SecureRandom for SecretRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        for chunk in dest.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
        mark_secret(dest);
        Ok(())
    }
}

static NONCES: SecretRandom = SecretRandom(Mutex::new(0x5ec2e7));

fn sm4(failures: &mut Vec<String>) {
    for backend in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
        let p = provider_with(backend);
        let mut key = [0x3cu8; 16];
        mark_secret(&mut key);
        // CBC both ways over a few blocks; the ciphertext is public.
        let cbc = p.sm4_cbc.new_key(&key).unwrap();
        let mut data = [0x11u8; 64];
        cbc.encrypt(&[1; 16], &mut data).unwrap();
        mark_public(&mut data);
        let ciphertext = data;
        cbc.decrypt(&[1; 16], &mut data).unwrap();
        mark_public(&mut data);
        if data != [0x11; 64] {
            failures.push(format!("SM4-CBC round trip on {backend:?}"));
        }
        // GCM seal: the ciphertext and tag are public.
        let gcm = p.sm4_gcm.new_key(&key).unwrap();
        let mut record = [0x22u8; 100];
        let mut tag = gcm.seal(&[2; 12], b"header", &mut record).unwrap();
        mark_public(&mut record);
        mark_public(&mut tag);
        if record[..] == [0x22; 100][..] || ciphertext == [0x11; 64] {
            failures.push(format!("SM4 did not encrypt on {backend:?}"));
        }
    }
}

fn sm2(failures: &mut Vec<String>) {
    let mut scalar = [0u8; 32];
    for (i, b) in scalar.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    mark_secret(&mut scalar);
    let key = PROVIDER.sm2.from_secret_with_random(&scalar, DEFAULT_SM2_ID, &NONCES).unwrap();
    let PublicKey::Sm2(public) = SigningKey::public_key(&*key) else { unreachable!() };

    // Signing: secret scalar, secret nonces; the signature comes out public.
    for msg in [&b""[..], b"pay 12.00 CNY", &[0xa5; 300][..]] {
        let sig = key.sign(msg).unwrap();
        if PROVIDER.sm2.verify(&public, DEFAULT_SM2_ID, msg, &sig).is_err() {
            failures.push("SM2 signature does not verify".into());
        }
    }

    // Decryption with the secret scalar: of a good ciphertext, and of one with a wrong C3.
    for len in [1usize, 48, 100] {
        let msg = vec![0x5au8; len];
        let ct = PROVIDER.sm2.encrypt(&public, &msg, PROVIDER.random).unwrap();
        let mut plain = key.decrypt(&ct).unwrap();
        mark_public(&mut plain);
        if plain[..] != msg[..] {
            failures.push(format!("SM2 decryption of {len} bytes"));
        }
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        if key.decrypt(&bad).is_ok() {
            failures.push("SM2 decryption accepted a changed C2".into());
        }
    }

    // Encryption with secret nonces, to a key used often enough to get its comb: the first
    // encryptions take the ladder, the later ones the comb.
    let msg = b"premaster secret";
    for i in 0..40 {
        let ct = PROVIDER.sm2.encrypt(&public, msg, &NONCES).unwrap();
        let mut plain = key.decrypt(&ct).unwrap();
        mark_public(&mut plain);
        if plain[..] != msg[..] {
            failures.push(format!("SM2 encryption {i} with a secret nonce"));
        }
    }
}

/// The negative control: the portable provider's SM4 looks its S-box up in a table indexed by
/// key-dependent bytes, so under valgrind this must be reported. It shows that the marking
/// works and the check can fail.
fn portable_sm4_control() {
    let mut key = [0x3cu8; 16];
    mark_secret(&mut key);
    let cbc = wearpay_crypto::portable::PROVIDER.sm4_cbc.new_key(&key).unwrap();
    let mut data = [0x11u8; 16];
    cbc.encrypt(&[1; 16], &mut data).unwrap();
    mark_public(&mut data);
    println!("ctgrind: control ran ({:02x})", data[0]);
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--control") {
        portable_sm4_control();
        return ExitCode::SUCCESS;
    }
    let mut failures = Vec::new();
    sm4(&mut failures);
    sm2(&mut failures);
    for f in &failures {
        eprintln!("ctgrind: {f}");
    }
    if failures.is_empty() {
        let backends: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.is_supported()).collect();
        println!("ctgrind: SM4 on {backends:?}, SM2 signing, decryption and encryption ran");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
