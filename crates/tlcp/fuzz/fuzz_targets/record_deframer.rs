//! The record layer's framing: arbitrary bytes through `read_record`, the
//! `MessageDeframer` (offered in pieces) and the `HandshakeJoiner`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wearpay_tlcp::codec::Codec;
use wearpay_tlcp::msgs::{ContentType, HandshakeMessage};
use wearpay_tlcp::{HandshakeJoiner, MessageDeframer, read_record};

fuzz_target!(|data: &[u8]| {
    let body = data.get(1..).unwrap_or_default();

    // Borrowed framing agrees with the deframer on the first record.
    let first = read_record(body);

    let mut deframer = MessageDeframer::new();
    let mut joiner = HandshakeJoiner::with_max_message_len(usize::from(data.first().copied().unwrap_or(0)) << 8);
    let mut framed = Vec::new();
    let mut popped = 0;
    'feed: for piece in wearpay_tlcp_fuzz::pieces(data) {
        let mut piece = piece;
        loop {
            let taken = deframer.push(piece);
            assert!(deframer.buffered() <= MessageDeframer::BUFFER_LIMIT);
            piece = &piece[taken..];
            loop {
                match deframer.pop() {
                    Ok(Some(record)) => {
                        if popped == 0 {
                            let first = first.expect("the deframer framed what read_record refused");
                            assert_eq!(first.map(|r| r.to_owned_record()), Some(record.clone()));
                        }
                        popped += 1;
                        // A record re-encodes to the bytes it was read from.
                        record.encode(&mut framed);
                        assert!(body.starts_with(&framed));
                        if record.typ == ContentType::Handshake && joiner.push(&record.payload).is_ok() {
                            while let Ok(Some(m)) = joiner.pop() {
                                // Whatever decodes re-encodes to something that decodes the same.
                                let again = HandshakeMessage::read_bytes(&m.message.get_encoding());
                                assert_eq!(again.as_ref(), Ok(&m.message));
                                assert_eq!(HandshakeMessage::read_bytes(&m.encoded).as_ref(), Ok(&m.message));
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        // Final: nothing more is taken.
                        assert_eq!(deframer.push(b"\x17\x01\x01\x00\x00"), 0);
                        assert!(deframer.pop().is_err());
                        break 'feed;
                    }
                }
            }
            if piece.is_empty() {
                break;
            }
        }
    }
    if popped == 0
        && let Ok(Some(r)) = first
    {
        panic!("read_record framed {r:?} but the deframer did not");
    }
});
