//! The secure element: the band's keys, its counter and everything that must survive a
//! crash.
use alloc::{sync::Arc, vec::Vec};
use core::fmt::Debug;

use wearpay_crypto::{Capabilities, KeyAlgorithm, PublicKey, SigningKey, Zeroizing};

use crate::PROVIDER;
use wearpay_pay::{BiometricMatch, Counter, OrderId, Press, Timestamp, TxId, WornAttestation};
use wearpay_pki::{CertificateRequest, CsrBuilder, DistinguishedName};
use wearpay_tlcp::{BulkCipher, CipherSuite, DEFAULT_SUITES, HashAlgorithm, KeyExchange, SM1_SUITES};

use crate::Error;

/// A payment request signed and stored before it was sent: what recovery resends.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// Its transaction id.
    pub tx_id: TxId,
    /// The order it pays (a new payment of this order waits until this one is settled).
    pub order_id: OrderId,
    /// The encoded `PayRequest`, exactly as sent.
    pub request: Vec<u8>,
}

impl Debug for PendingRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingRequest").field("tx_id", &self.tx_id).field("order_id", &self.order_id).finish()
    }
}

/// A payment the center decided: the request as sent and the center's answer as received.
#[derive(Clone, PartialEq, Eq)]
pub struct SettledPayment {
    /// Its transaction id.
    pub tx_id: TxId,
    /// The encoded `PayRequest`.
    pub request: Vec<u8>,
    /// The encoded `Response` (a pay response with the signed receipt, or an error).
    pub response: Vec<u8>,
}

impl Debug for SettledPayment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SettledPayment").field("tx_id", &self.tx_id).finish_non_exhaustive()
    }
}

/// The band's secure element.
///
/// Its private key never leaves it: [`SecureElement::signing_key`] hands out a handle that
/// signs inside. Its persistent state — the key, the counter, the time floor, pending
/// requests and settled payments — must be written durably before a call that changes it
/// returns, so that a crash at any point never reuses a counter value nor forgets a
/// request that may have reached the center.
///
/// The element has no clock: times are passed in (the band's effective time).
pub trait SecureElement: Debug {
    /// Which algorithms it runs (F1: the offer follows them, see [`suites_for`]).
    fn capabilities(&self) -> Capabilities;

    /// Generates the band's key pair inside (once: [`Error::KeyExists`] if there is one)
    /// and returns its public half.
    fn generate_key(&mut self, alg: KeyAlgorithm) -> Result<PublicKey, Error>;

    /// The public half of the band's key ([`Error::NoKey`] before enrollment).
    fn public_key(&self) -> Result<PublicKey, Error>;

    /// The band's key as a signer for the TLCP handshake and for payment requests.
    fn signing_key(&self) -> Result<Arc<dyn SigningKey>, Error>;

    /// Decrypts an SM2 ciphertext (DER) or an RSAES-PKCS1-v1_5 block with the band's key.
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>;

    /// Fills `dest` from the element's random source.
    fn random(&self, dest: &mut [u8]) -> Result<(), Error>;

    /// The next value of the request counter, persisted before it is returned.
    fn next_counter(&mut self) -> Result<Counter, Error>;

    /// The counter's last value handed out (0 before the first).
    fn counter(&self) -> Counter;

    /// The user's press of the band's button, bound to `tx_id`, at the band's time `at`
    /// ([`Error::NoPress`] if the element saw none).
    fn press(&mut self, tx_id: &TxId, at: Timestamp) -> Result<Press, Error>;

    /// The statement that the band has been worn since it was last unlocked.
    fn worn_attestation(&mut self) -> Result<WornAttestation, Error>;

    /// Runs the on-device biometric matcher.
    fn biometric_match(&mut self) -> Result<BiometricMatch, Error>;

    /// The highest center time seen in a verified receipt (0 before the first).
    fn time_floor(&self) -> Timestamp;

    /// Stores a signed request as pending, durably, before it is sent.
    fn store_pending(&mut self, pending: PendingRequest) -> Result<(), Error>;

    /// The pending requests, oldest first.
    fn pending(&self) -> Vec<PendingRequest>;

    /// Records the center's definitive answer in one durable step: stores `settled`, forgets
    /// the pending request of the same transaction, and raises the time floor to
    /// `center_time` when it is given and higher.
    fn settle(&mut self, settled: SettledPayment, center_time: Option<Timestamp>) -> Result<(), Error>;

    /// The settled payments, oldest first.
    fn settled(&self) -> Vec<SettledPayment>;

    /// A PKCS#10 request for the band's key, signed inside the element, with an optional
    /// challengePassword (enrollment's activation proof).
    fn csr(&self, subject: DistinguishedName, challenge_password: Option<&str>) -> Result<CertificateRequest, Error> {
        let mut builder = CsrBuilder::new(subject);
        if let Some(text) = challenge_password {
            builder = builder.challenge_password(text)?;
        }
        let key = self.signing_key()?;
        // The provider only checks the finished request's self-signature: public-key work.
        Ok(builder.sign(&PROVIDER, &*key)?)
    }
}

/// The cipher suites to offer for an element with `caps` (F1), best first: wearpay's
/// [`DEFAULT_SUITES`] and, with SM1, the [`SM1_SUITES`], keeping those whose key
/// transport (SM2 or RSA), record cipher (SM4 or SM1) and SM3 hash the element runs.
pub fn suites_for(caps: &Capabilities) -> Vec<CipherSuite> {
    DEFAULT_SUITES
        .iter()
        .chain(SM1_SUITES)
        .copied()
        .filter(|suite| {
            let Some(p) = suite.params() else { return false };
            let exchange = match p.key_exchange {
                KeyExchange::Ecc => caps.sm2,
                KeyExchange::Rsa => caps.rsa,
            };
            let bulk = match p.bulk {
                BulkCipher::Sm4Cbc | BulkCipher::Sm4Gcm => caps.sm4,
                BulkCipher::Sm1Cbc => caps.sm1,
            };
            // SHA-256 is ordinary software; SM3 the element must have.
            let hash = p.hash != HashAlgorithm::Sm3 || caps.sm3;
            exchange && bulk && hash
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALL: Capabilities = Capabilities { sm1: true, sm2: true, sm3: true, sm4: true, rsa: true };

    #[test]
    fn the_offer_follows_the_capabilities() {
        let all = suites_for(&ALL);
        assert_eq!(&all[..DEFAULT_SUITES.len()], DEFAULT_SUITES);
        assert_eq!(&all[DEFAULT_SUITES.len()..], SM1_SUITES);

        let software = suites_for(&Capabilities { sm1: false, ..ALL });
        assert_eq!(software, DEFAULT_SUITES);

        // An SM-only chip: no RSA key transport.
        let sm_only = suites_for(&Capabilities { rsa: false, ..ALL });
        assert_eq!(sm_only, [CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::ECC_SM4_CBC_SM3, CipherSuite::ECC_SM1_SM3]);

        // An RSA chip without SM3: only the SHA-256 suites.
        let rsa_only = suites_for(&Capabilities { sm1: false, sm2: false, sm3: false, sm4: true, rsa: true });
        assert_eq!(rsa_only, [CipherSuite::RSA_SM4_GCM_SHA256, CipherSuite::RSA_SM4_CBC_SHA256]);

        // SM1 without SM4: the SM1 suites only.
        let sm1 = suites_for(&Capabilities { sm4: false, ..ALL });
        assert_eq!(sm1, SM1_SUITES);

        assert!(suites_for(&Capabilities { sm1: false, sm2: false, sm3: false, sm4: false, rsa: false }).is_empty());
    }
}
