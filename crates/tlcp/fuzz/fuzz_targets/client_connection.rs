//! A terminal's connection, after its ClientHello, fed arbitrary bytes as the center's, in
//! pieces. Seed the corpus with the recorded `raw.s2c.bin` streams (see README.md): the
//! client takes the recorded client random and pre-master secret, so Tongsuo's signature
//! verifies and its encrypted Finished opens, and every client state is reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wearpay_tlcp::ClientConnection;
use wearpay_tlcp_fuzz::{NOW, check_failure, client_config, pieces};

fuzz_target!(|data: &[u8]| {
    let mut client = ClientConnection::new(client_config(), NOW).expect("a ClientHello");
    let hello = client.take_output();
    assert!(!hello.is_empty());
    let mut out = Vec::new();
    for piece in pieces(data) {
        let result = client.handle_input(piece, NOW);
        client.write_output(&mut out);
        if let Err(e) = result {
            check_failure(&e, &out);
            assert_eq!(client.error(), Some(&e));
            assert_eq!(client.handle_input(b"\x16\x01\x01\x00\x01\x00", NOW), Err(e));
            assert!(!client.has_output());
            break;
        }
    }
    // Tongsuo's Finished covers its own ClientHello, not ours: no data, ever.
    assert!(client.read_application_data().is_none());
});
