//! The codec against two sessions recorded byte for byte between Tongsuo 8.5's `s_client`
//! and `s_server` (see `shared/vectors/tlcp/README.md`).

use serde_json::Value;
use wearpay_tlcp::codec::Codec;
use wearpay_tlcp::msgs::{
    AlertMessage, ChangeCipherSpec, ClientCertificateType, ClientExtension, Compression, ContentType, ExtensionType,
    HandshakeMessage, HandshakePayload, HandshakeType, ProtocolVersion, ServerExtension,
};
use wearpay_tlcp::{CipherSuite, HandshakeJoiner, JoinedMessage, MessageDeframer, OpaqueRecord, read_record};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp");

struct Session {
    name: &'static str,
    suite: CipherSuite,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    transcript: Value,
    chunks: Value,
}

impl Session {
    fn load(name: &'static str, suite: CipherSuite) -> Self {
        let dir = format!("{VECTORS}/{name}");
        let read = |file: &str| std::fs::read(format!("{dir}/{file}")).unwrap_or_else(|e| panic!("{dir}/{file}: {e}"));
        let json = |file: &str| -> Value { serde_json::from_slice(&read(file)).expect("valid JSON") };
        Self {
            name,
            suite,
            c2s: read("raw.c2s.bin"),
            s2c: read("raw.s2c.bin"),
            transcript: json("transcript.json"),
            chunks: json("raw.chunks.json"),
        }
    }

    fn stream(&self, dir: &str) -> &[u8] {
        if dir == "c2s" { &self.c2s } else { &self.s2c }
    }

    fn file(&self, path: &str) -> String {
        let path = format!("{VECTORS}/{}/{path}", self.name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn derived(&self, key: &str) -> &Value {
        &self.transcript["derived"][key]
    }

    /// The transcript's handshake messages sent in one direction, in order.
    fn transcript_messages(&self, dir: &str) -> Vec<(String, Vec<u8>)> {
        self.transcript["handshake_messages"]
            .as_array()
            .expect("handshake_messages")
            .iter()
            .filter(|m| m["dir"] == dir)
            .map(|m| {
                let hex = unhex(&m["hex"]);
                assert_eq!(m["len"].as_u64(), Some(hex.len() as u64 - 4), "{}: len field", self.name);
                (str_of(&m["type"]).to_owned(), hex)
            })
            .collect()
    }
}

fn sessions() -> [Session; 2] {
    [
        Session::load("ecc_sm4_cbc_sm3", CipherSuite::ECC_SM4_CBC_SM3),
        Session::load("ecc_sm4_gcm_sm3", CipherSuite::ECC_SM4_GCM_SM3),
    ]
}

const DIRS: [&str; 2] = ["c2s", "s2c"];

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(str_of(v)).expect("hex")
}

/// Every record of a stream, offered to the deframer in pieces of the given sizes.
fn deframe(stream: &[u8], piece: impl Fn(usize) -> usize) -> Vec<OpaqueRecord> {
    let mut deframer = MessageDeframer::new();
    let mut records = Vec::new();
    let mut input = stream;
    let mut i = 0;
    while !input.is_empty() {
        let (now, later) = input.split_at(piece(i).min(input.len()));
        i += 1;
        let mut now = now;
        while !now.is_empty() {
            let taken = deframer.push(now);
            now = &now[taken..];
            while let Some(record) = deframer.pop().expect("recorded stream frames") {
                records.push(record);
            }
        }
        input = later;
    }
    assert_eq!(deframer.buffered(), 0, "stream ends on a record boundary");
    records
}

/// The handshake messages sent in plaintext, before the direction's ChangeCipherSpec.
fn plaintext_handshake(records: &[OpaqueRecord]) -> Vec<JoinedMessage> {
    let mut joiner = HandshakeJoiner::new();
    let mut out = Vec::new();
    for record in records.iter().take_while(|r| r.typ != ContentType::ChangeCipherSpec) {
        assert_eq!(record.typ, ContentType::Handshake);
        joiner.push(&record.payload).expect("joins");
        while let Some(m) = joiner.pop().expect("parses") {
            out.push(m);
        }
    }
    assert!(joiner.is_empty(), "no message straddles ChangeCipherSpec");
    out
}

fn find(messages: &[JoinedMessage], typ: HandshakeType) -> &HandshakePayload {
    &messages.iter().find(|m| m.message.typ == typ).unwrap_or_else(|| panic!("no {typ:?}")).message.payload
}

#[test]
fn every_record_matches_the_transcript() {
    for s in sessions() {
        for dir in DIRS {
            let records = deframe(s.stream(dir), |_| usize::MAX);
            let expected = s.transcript["records"][dir].as_array().expect("records");
            assert_eq!(records.len(), expected.len(), "{} {dir}", s.name);
            let mut reencoded = Vec::new();
            for (record, want) in records.iter().zip(expected) {
                assert_eq!(record.typ.as_str(), Some(str_of(&want["type"])));
                assert_eq!(record.version, ProtocolVersion::Tlcp1_1);
                assert_eq!(str_of(&want["version"]), "0101");
                assert_eq!(Some(record.payload.len() as u64), want["len"].as_u64());
                assert_eq!(record.get_encoding(), unhex(&want["hex"]));
                assert_eq!(OpaqueRecord::read_bytes(&unhex(&want["hex"])).as_ref(), Ok(record));
                record.encode(&mut reencoded);
            }
            assert_eq!(reencoded, s.stream(dir));

            // The zero-copy reader agrees with the buffered deframer.
            let mut rest = s.stream(dir);
            for record in &records {
                let borrowed = read_record(rest).expect("valid").expect("complete");
                assert_eq!(&borrowed.to_owned_record(), record);
                rest = &rest[borrowed.encoded_len()..];
            }
            assert!(rest.is_empty());
        }
    }
}

#[test]
fn deframing_does_not_depend_on_how_bytes_arrive() {
    for s in sessions() {
        for dir in DIRS {
            let whole = deframe(s.stream(dir), |_| usize::MAX);
            assert_eq!(deframe(s.stream(dir), |_| 1), whole, "byte by byte");
            assert_eq!(deframe(s.stream(dir), |i| [3, 7, 1, 500, 2][i % 5]), whole, "odd pieces");

            // As the TCP reads actually happened.
            let chunks: Vec<Vec<u8>> = s
                .chunks
                .as_array()
                .expect("chunks")
                .iter()
                .filter(|c| c["dir"] == dir)
                .map(|c| unhex(&c["hex"]))
                .collect();
            assert_eq!(chunks.concat(), s.stream(dir));
            let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
            assert_eq!(deframe(s.stream(dir), |i| sizes[i]), whole, "recorded chunks");
        }
    }
}

#[test]
fn plaintext_handshake_messages_match_the_transcript_and_reencode_exactly() {
    for s in sessions() {
        for dir in DIRS {
            let joined = plaintext_handshake(&deframe(s.stream(dir), |_| usize::MAX));
            let expected = s.transcript_messages(dir);
            // Everything but the Finished is sent in plaintext.
            assert_eq!(joined.len() + 1, expected.len(), "{} {dir}", s.name);
            assert_eq!(expected.last().map(|(t, _)| t.as_str()), Some("finished"));
            for (m, (typ, bytes)) in joined.iter().zip(&expected) {
                assert_eq!(m.message.typ.as_str(), Some(typ.as_str()));
                assert_eq!(m.message.typ, m.message.payload.handshake_type());
                assert_eq!(&m.encoded, bytes, "{} {dir} {typ}: joined bytes", s.name);
                assert_eq!(&m.message.get_encoding(), bytes, "{} {dir} {typ}: re-encoding", s.name);
                assert_eq!(HandshakeMessage::read_bytes(bytes).as_ref(), Ok(&m.message));
            }
        }
        let order: Vec<&str> = s.transcript["handshake_messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| str_of(&m["type"]))
            .collect();
        assert_eq!(
            order,
            [
                "client_hello",
                "server_hello",
                "certificate",
                "server_key_exchange",
                "certificate_request",
                "server_hello_done",
                "certificate",
                "client_key_exchange",
                "certificate_verify",
                "finished",
                "new_session_ticket",
                "finished"
            ]
        );
    }
}

#[test]
fn decrypted_finished_messages_parse() {
    for s in sessions() {
        for (dir, key) in [("c2s", "client_verify_data"), ("s2c", "server_verify_data")] {
            let (typ, bytes) = s.transcript_messages(dir).pop().expect("a finished");
            assert_eq!(typ, "finished");
            let msg = HandshakeMessage::read_bytes(&bytes).expect("parses");
            assert_eq!(msg.payload, HandshakePayload::Finished(unhex(s.derived(key)).try_into().expect("12 bytes")));
            assert_eq!(msg.get_encoding(), bytes);
        }
    }
}

#[test]
fn hellos_carry_what_the_readme_says() {
    for s in sessions() {
        let client = plaintext_handshake(&deframe(&s.c2s, |_| usize::MAX));
        let server = plaintext_handshake(&deframe(&s.s2c, |_| usize::MAX));

        let HandshakePayload::ClientHello(ch) = find(&client, HandshakeType::ClientHello) else { unreachable!() };
        assert_eq!(ch.client_version, ProtocolVersion::Tlcp1_1);
        assert_eq!(ch.random.to_vec(), unhex(s.derived("client_random")));
        assert!(ch.session_id.is_empty());
        assert_eq!(ch.cipher_suites, [s.suite, CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV]);
        assert_eq!(ch.compression_methods, [Compression::Null]);
        assert_eq!(ch.extensions, [ClientExtension::SessionTicket(vec![])]);
        assert!(ch.find_extension(ExtensionType::SessionTicket).is_some());

        let HandshakePayload::ServerHello(sh) = find(&server, HandshakeType::ServerHello) else { unreachable!() };
        assert_eq!(sh.server_version, ProtocolVersion::Tlcp1_1);
        assert_eq!(sh.random.to_vec(), unhex(s.derived("server_random")));
        assert_eq!(sh.cipher_suite, s.suite);
        let (number, name) = str_of(s.derived("cipher_suite")).split_once(' ').expect("'0xNNNN NAME'");
        assert_eq!(format!("0x{:04X}", u16::from(sh.cipher_suite)), number);
        assert_eq!(CipherSuite::from_name(name), Some(s.suite));
        assert_eq!(s.suite.name().map(str::to_ascii_lowercase).as_deref(), Some(s.name), "folder names the suite");
        assert_eq!(sh.compression_method, Compression::Null);
        assert_eq!(sh.extensions, [ServerExtension::SessionTicketAck]);
        let mut ext_block = Vec::new();
        for e in &sh.extensions {
            e.encode(&mut ext_block);
        }
        assert_eq!(hex::encode(ext_block), str_of(s.derived("server_hello_extensions_hex"))[4..]);
    }
}

/// Decodes the first PEM block of a file.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn certificates_are_sign_enc_then_ca() {
    for s in sessions() {
        let ca = pem_der(&s.file("certs/ca.crt"));
        for (dir, who) in [("s2c", "srv"), ("c2s", "cli")] {
            let msgs = plaintext_handshake(&deframe(s.stream(dir), |_| usize::MAX));
            let HandshakePayload::Certificate(certs) = find(&msgs, HandshakeType::Certificate) else { unreachable!() };
            let expected_len = s.derived(if who == "srv" { "server_cert_chain_len" } else { "client_cert_chain_len" });
            assert_eq!(Some(certs.len() as u64), expected_len.as_u64());
            // The README says "no CA", but Tongsuo 8.5 sends the root too: three, not two.
            assert_eq!(certs.len(), 3, "{} {dir}", s.name);
            assert_eq!(certs[0].as_ref(), pem_der(&s.file(&format!("certs/{who}_sign.crt"))), "{who} signing first");
            assert_eq!(certs[1].as_ref(), pem_der(&s.file(&format!("certs/{who}_enc.crt"))), "{who} encryption second");
            assert_eq!(certs[2].as_ref(), ca, "root last");
        }
    }
}

/// The length of a DER SEQUENCE at the start of `der`, with its header.
fn der_sequence_len(der: &[u8]) -> usize {
    assert_eq!(der[0], 0x30, "a SEQUENCE");
    match der[1] {
        n @ 0..=0x7f => 2 + usize::from(n),
        0x81 => 3 + usize::from(der[2]),
        0x82 => 4 + usize::from(u16::from_be_bytes([der[2], der[3]])),
        other => panic!("unexpected DER length byte {other:#x}"),
    }
}

#[test]
fn key_exchange_and_request_layouts() {
    for s in sessions() {
        let client = plaintext_handshake(&deframe(&s.c2s, |_| usize::MAX));
        let server = plaintext_handshake(&deframe(&s.s2c, |_| usize::MAX));

        // ServerKeyExchange: u16 length, then an SM2 signature in DER; no algorithm field.
        let HandshakePayload::ServerKeyExchange(sig) = find(&server, HandshakeType::ServerKeyExchange) else {
            unreachable!()
        };
        assert_eq!(der_sequence_len(sig), sig.len());
        assert!((70..=72).contains(&sig.len()));

        // ClientKeyExchange: u16 length, then SM2 ciphertext in DER (x, y, SM3 hash, 48-byte
        // encrypted pre-master secret).
        let HandshakePayload::ClientKeyExchange(ct) = find(&client, HandshakeType::ClientKeyExchange) else {
            unreachable!()
        };
        assert_eq!(der_sequence_len(ct), ct.len());
        assert_eq!(&ct[ct.len() - 50..ct.len() - 48], [0x04, 0x30], "OCTET STRING of 48 bytes last");
        assert_eq!(unhex(s.derived("pre_master_secret")).len(), 48);

        let HandshakePayload::CertificateVerify(sig) = find(&client, HandshakeType::CertificateVerify) else {
            unreachable!()
        };
        assert_eq!(der_sequence_len(sig), sig.len());

        // CertificateRequest: u8 list of types, u16 list of u16 names; no signature algorithms.
        let HandshakePayload::CertificateRequest(req) = find(&server, HandshakeType::CertificateRequest) else {
            unreachable!()
        };
        assert_eq!(req.certificate_types, [ClientCertificateType::RsaSign, ClientCertificateType::EcdsaSign]);
        assert_eq!(req.certificate_authorities.len(), 1);
        let ca = pem_der(&s.file("certs/ca.crt"));
        let name = req.certificate_authorities[0].as_ref();
        assert!(ca.windows(name.len()).any(|w| w == name), "the CA's subject");

        let HandshakePayload::NewSessionTicket(t) = find(&server, HandshakeType::NewSessionTicket) else {
            unreachable!()
        };
        assert_eq!(t.lifetime_hint, 7200);
        assert_eq!(t.ticket.len(), 704);
        assert_eq!(find(&server, HandshakeType::ServerHelloDone), &HandshakePayload::ServerHelloDone);
    }
}

#[test]
fn key_block_and_record_sizes_match_suite_params() {
    for s in sessions() {
        let p = s.suite.params().expect("implemented");
        let kb = &s.derived("key_block");
        for (key, len) in [
            ("client_mac", p.mac_key_len),
            ("server_mac", p.mac_key_len),
            ("client_key", p.enc_key_len),
            ("server_key", p.enc_key_len),
            ("client_iv", p.fixed_iv_len),
            ("server_iv", p.fixed_iv_len),
        ] {
            assert_eq!(unhex(&kb[key]).len(), len, "{} {key}", s.name);
        }
        let decrypted = s.transcript["application_records_decrypted"].as_array().expect("decrypted");
        for dir in DIRS {
            let records = deframe(s.stream(dir), |_| usize::MAX);
            let ccs = records.iter().position(|r| r.typ == ContentType::ChangeCipherSpec).expect("a CCS");
            assert_eq!(ChangeCipherSpec::read_bytes(&records[ccs].payload), Ok(ChangeCipherSpec));
            // Finished (16 bytes), then the decrypted records in order.
            let plaintext_lens = core::iter::once(16)
                .chain(decrypted.iter().filter(|r| r["dir"] == dir).map(|r| unhex(&r["plaintext_hex"]).len()));
            let protected = &records[ccs + 1..];
            assert_eq!(protected.len(), 1 + decrypted.iter().filter(|r| r["dir"] == dir).count());
            for (record, len) in protected.iter().zip(plaintext_lens) {
                let expected = if p.bulk.is_aead() {
                    p.record_iv_len + len + p.tag_len
                } else {
                    let mac = p.hash.output_len();
                    p.record_iv_len + (len + mac + 1).div_ceil(16) * 16
                };
                assert_eq!(record.payload.len(), expected, "{} {dir} {:?}", s.name, record.typ);
            }
            for r in decrypted.iter().filter(|r| r["dir"] == dir && r["type"] == "alert") {
                assert_eq!(AlertMessage::read_bytes(&unhex(&r["plaintext_hex"])), Ok(AlertMessage::close_notify()));
            }
        }
    }
}

/// Deterministic mutations of `bytes`: bit flips, byte and 16/24-bit overwrites with
/// all-zero and all-one (which hits every length field), truncations and garbage tails.
fn mutations(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let flips = (0..bytes.len()).flat_map(move |i| {
        [0u8, 1, 4, 7].into_iter().map(move |bit| {
            let mut m = bytes.to_vec();
            m[i] ^= 1 << bit;
            m
        })
    });
    let fills = (0..bytes.len()).flat_map(move |i| {
        [(1, 0x00), (1, 0xff), (2, 0x00), (2, 0xff), (3, 0x00), (3, 0xff)].into_iter().map(move |(w, v)| {
            let mut m = bytes.to_vec();
            let end = (i + w).min(m.len());
            m[i..end].fill(v);
            m
        })
    });
    let truncations = (0..bytes.len()).map(move |n| bytes[..n].to_vec());
    let tails = [&[0u8][..], &[0xff], &[0, 0], &[0x16, 0x01, 0x01, 0x00, 0x01, 0x00]]
        .into_iter()
        .map(move |t| [bytes, t].concat());
    flips.chain(fills).chain(truncations).chain(tails)
}

#[test]
fn mutated_handshake_messages_never_panic() {
    let mut parsed = 0usize;
    let mut rejected = 0usize;
    for s in sessions() {
        for dir in DIRS {
            for (typ, bytes) in s.transcript_messages(dir) {
                for n in 0..bytes.len() {
                    assert!(HandshakeMessage::read_bytes(&bytes[..n]).is_err(), "{typ}: prefix of {n} bytes");
                }
                for m in mutations(&bytes) {
                    match HandshakeMessage::read_bytes(&m) {
                        Ok(msg) => {
                            parsed += 1;
                            // Whatever decodes re-encodes to something that decodes the same.
                            assert_eq!(HandshakeMessage::read_bytes(&msg.get_encoding()).as_ref(), Ok(&msg), "{typ}");
                            assert!(m.len() <= bytes.len(), "{typ}: trailing garbage accepted");
                        }
                        Err(e) => {
                            rejected += 1;
                            let _ = e.alert();
                        }
                    }
                    // The same bytes through the joiner, split over three records.
                    let mut joiner = HandshakeJoiner::new();
                    for b in m.chunks(m.len().div_ceil(3).max(1)) {
                        if joiner.push(b).is_err() {
                            break;
                        }
                    }
                    while let Ok(Some(_)) = joiner.pop() {}
                }
            }
        }
    }
    assert!(parsed > 1000 && rejected > 1000, "mutations exercise both paths: {parsed} ok, {rejected} rejected");
}

/// Runs a whole stream through deframer and joiner the way a peer would, stopping at the
/// first error.
fn drive(stream: &[u8]) -> Result<usize, wearpay_tlcp::InvalidMessage> {
    let mut deframer = MessageDeframer::new();
    let mut joiner = HandshakeJoiner::new();
    let mut keys_on = false;
    let mut messages = 0;
    let mut input = stream;
    while !input.is_empty() {
        let taken = deframer.push(input);
        input = &input[taken..];
        while let Some(record) = deframer.pop()? {
            match record.typ {
                ContentType::ChangeCipherSpec => {
                    ChangeCipherSpec::read_bytes(&record.payload)?;
                    keys_on = true;
                }
                ContentType::Handshake if !keys_on => {
                    joiner.push(&record.payload)?;
                    while joiner.pop()?.is_some() {
                        messages += 1;
                    }
                }
                ContentType::Alert if !keys_on => {
                    AlertMessage::read_bytes(&record.payload)?;
                }
                _ => {}
            }
        }
        if taken == 0 {
            break;
        }
    }
    Ok(messages)
}

#[test]
fn mutated_streams_never_panic() {
    for s in sessions() {
        for dir in DIRS {
            let stream = s.stream(dir);
            assert!(drive(stream).is_ok_and(|n| n >= 4));
            let mut outcomes = [0usize; 2];
            for (i, _) in stream.iter().enumerate() {
                for bit in [0u8, 3, 7] {
                    let mut m = stream.to_vec();
                    m[i] ^= 1 << bit;
                    outcomes[usize::from(drive(&m).is_ok())] += 1;
                }
                let _ = drive(&stream[..i]);
            }
            for fill in [0x00, 0xff] {
                for i in 0..stream.len() - 1 {
                    let mut m = stream.to_vec();
                    m[i..i + 2].fill(fill);
                    let _ = drive(&m);
                }
            }
            assert!(outcomes[0] > 0 && outcomes[1] > 0, "{} {dir}: {outcomes:?}", s.name);
        }
    }
}
