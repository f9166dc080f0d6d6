//! A center's connection fed arbitrary bytes as a terminal's, in pieces. Seed the corpus
//! with the recorded `raw.c2s.bin` streams (see README.md): the server takes the recorded
//! server random, so their certificates and ClientKeyExchange are processed for real.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wearpay_tlcp::ServerConnection;
use wearpay_tlcp_fuzz::{NOW, check_failure, pieces, server_config};

fuzz_target!(|data: &[u8]| {
    let mut server = ServerConnection::new(server_config());
    let mut out = Vec::new();
    for piece in pieces(data) {
        let result = server.handle_input(piece, NOW);
        server.write_output(&mut out);
        if let Err(e) = result {
            check_failure(&e, &out);
            assert_eq!(server.error(), Some(&e));
            // A dead connection stays dead and sends nothing more.
            assert_eq!(server.handle_input(b"\x16\x01\x01\x00\x01\x00", NOW), Err(e));
            assert!(!server.has_output());
            break;
        }
    }
    // No peer can finish a handshake without the client's key: no data, ever.
    assert!(server.read_application_data().is_none());
});
