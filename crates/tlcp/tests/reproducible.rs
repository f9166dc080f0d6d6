//! The test hook that pins randomness: with every random source fixed, a whole handshake
//! (ECC key transport, SM2 signatures, CBC IVs) is byte-for-byte reproducible.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use wearpay_crypto::{CryptoProvider, DEFAULT_SM2_ID, PrivateKey, SecureRandom, portable::PROVIDER};
use wearpay_tlcp::{CipherSuite, ClientConnection, Profile, ServerConnection};

/// A deterministic stream (xorshift64*), for tests only.
#[derive(Debug)]
struct Pinned(Mutex<u64>);

impl SecureRandom for Pinned {
    fn fill(&self, dest: &mut [u8]) -> Result<(), wearpay_crypto::Error> {
        let mut s = self.0.lock().unwrap();
        for b in dest {
            *s ^= *s << 13;
            *s ^= *s >> 7;
            *s ^= *s << 17;
            *b = (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        Ok(())
    }
}

fn pinned_key(name: &str, random: &'static Pinned) -> Arc<dyn PrivateKey> {
    let scalar = key(name).export().unwrap();
    PROVIDER.sm2.from_secret_with_random(&scalar, DEFAULT_SM2_ID, random).unwrap().into()
}

/// Every byte both ends send in one full handshake plus one data record each way.
fn wire(seed: u64, suite: CipherSuite) -> Vec<u8> {
    let random: &'static Pinned = Box::leak(Box::new(Pinned(Mutex::new(seed))));
    let provider = CryptoProvider { random, ..PROVIDER };
    let mut sc = server_config(Profile::Auto);
    sc.provider = provider;
    sc.suites = vec![suite];
    sc.sign_key = pinned_key("srv_sign", random);
    sc.enc_key = pinned_key("srv_enc", random);
    let mut cc = client_config(Profile::Seed);
    cc.provider = provider;
    cc.sign_key = pinned_key("cli_sign", random);
    let mut c = ClientConnection::new(Arc::new(cc), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(sc));
    c.send_application_data(b"PayRequest").unwrap();
    let mut all = Vec::new();
    for _ in 0..6 {
        let out = c.take_output();
        all.extend_from_slice(&out);
        s.handle_input(&out, NOW).unwrap();
        if s.read_application_data().is_some() {
            s.send_application_data(b"PayResponse").unwrap();
        }
        let back = s.take_output();
        all.extend_from_slice(&back);
        c.handle_input(&back, NOW).unwrap();
    }
    assert_eq!(c.read_application_data().unwrap(), b"PayResponse");
    all
}

#[test]
fn a_pinned_random_source_reproduces_the_transcript() {
    for suite in [CipherSuite::ECC_SM4_CBC_SM3, CipherSuite::ECC_SM4_GCM_SM3] {
        let a = wire(0x5eed, suite);
        let b = wire(0x5eed, suite);
        assert_eq!(a, b, "{suite}: same seed, same bytes");
        assert_ne!(a, wire(0x5eee, suite), "{suite}: another seed, other bytes");
    }
}
