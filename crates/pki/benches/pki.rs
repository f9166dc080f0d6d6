//! SM2 and RSA signatures through the provider, and three-level chain verification.
//!
//! `cargo bench -p wearpay-pki --bench pki -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, missing_docs)]

use core::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, SigningKey, portable::PROVIDER as P};
use wearpay_pki::{Certificate, CertificateBuilder, DistinguishedName, Role, UnixTime, verify_chain};

const NOW: UnixTime = UnixTime(1_796_083_200);

fn dn(s: &str) -> DistinguishedName {
    DistinguishedName::parse(s).unwrap()
}

struct Chain {
    root: Certificate,
    ca: Certificate,
    leaf: Certificate,
}

fn chain(alg: KeyAlgorithm) -> Chain {
    let key = || wearpay_pki::generate_key(&P, alg).unwrap();
    let (root_key, ca_key, leaf_key) = (key(), key(), key());
    let root = CertificateBuilder::new(Role::RootCa, dn("CN=bench root"), SigningKey::public_key(&*root_key))
        .validity(NOW, NOW.plus_days(3650))
        .self_sign(&P, &*root_key)
        .unwrap();
    let ca = CertificateBuilder::new(Role::IssuingCa, dn("CN=bench CA"), SigningKey::public_key(&*ca_key))
        .validity(NOW, NOW.plus_days(1825))
        .sign(&P, &root, &*root_key)
        .unwrap();
    let leaf =
        CertificateBuilder::new(Role::Terminal, dn("CN=bench band,O=wearpay"), SigningKey::public_key(&*leaf_key))
            .validity(NOW, NOW.plus_days(365))
            .sign(&P, &ca, &*ca_key)
            .unwrap();
    Chain { root, ca, leaf }
}

fn signatures(c: &mut Criterion, name: &str, key: &dyn PrivateKey) {
    // About the size of a tbsCertificate.
    let msg = vec![0x5a; 400];
    let public = SigningKey::public_key(key);
    let scheme = key.scheme();
    c.bench_function(&format!("{name} sign"), |b| b.iter(|| key.sign(black_box(&msg)).unwrap()));
    let sig = key.sign(&msg).unwrap();
    c.bench_function(&format!("{name} verify"), |b| {
        b.iter(|| P.verify(black_box(&public), scheme, black_box(&msg), black_box(&sig)).unwrap())
    });
}

fn bench(c: &mut Criterion) {
    let sm2 = wearpay_pki::generate_key(&P, KeyAlgorithm::Sm2).unwrap();
    signatures(c, "SM2", &*sm2);
    let rsa = wearpay_pki::generate_key(&P, KeyAlgorithm::Rsa(2048)).unwrap();
    signatures(c, "RSA-2048", &*rsa);
    for (name, alg) in [("SM2", KeyAlgorithm::Sm2), ("RSA-2048", KeyAlgorithm::Rsa(2048))] {
        let ch = chain(alg);
        let anchors = [ch.root.clone()];
        let inter = [ch.ca.clone()];
        c.bench_function(&format!("{name} verify_chain (3 levels)"), |b| {
            b.iter(|| {
                verify_chain(&P, black_box(&ch.leaf), &inter, &anchors, NOW.plus_secs(60), Some(Role::Terminal), &[])
                    .unwrap()
            })
        });
        let der = ch.leaf.as_der().to_vec();
        c.bench_function(&format!("{name} parse certificate"), |b| {
            b.iter(|| Certificate::from_der(black_box(&der)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
