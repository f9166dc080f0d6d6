//! Every handshake message decoder, and the other small wire types, on arbitrary bytes.
//! Whatever decodes must re-encode to bytes that decode to the same value.
#![no_main]

use core::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use wearpay_tlcp::codec::{Codec, Reader};
use wearpay_tlcp::msgs::{
    AlertMessage, CertificateDer, CertificateRequestPayload, ChangeCipherSpec, ClientExtension, ClientHelloPayload,
    DistinguishedName, HandshakeMessage, HandshakePayload, HandshakeType, NewSessionTicketPayload, RecordHeader,
    ServerExtension, ServerHelloPayload, SessionId,
};

fn round_trip<T: Codec + PartialEq + Debug>(bytes: &[u8]) {
    if let Ok(v) = T::read_bytes(bytes) {
        let enc = v.get_encoding();
        assert_eq!(T::read_bytes(&enc).as_ref(), Ok(&v), "{}", core::any::type_name::<T>());
    }
}

fuzz_target!(|data: &[u8]| {
    // The whole input as one framed message.
    round_trip::<HandshakeMessage>(data);

    let Some((&selector, body)) = data.split_first() else { return };
    // The body alone under the type the first byte names (types 0..=20 and unknown ones).
    let typ = HandshakeType::from(selector);
    let mut r = Reader::new(body);
    if let Ok(payload) = HandshakePayload::read_body(typ, &mut r)
        && !r.any_left()
    {
        let mut enc = Vec::new();
        payload.encode_body(&mut enc);
        let mut again = Reader::new(&enc);
        assert_eq!(HandshakePayload::read_body(typ, &mut again).as_ref(), Ok(&payload));
        assert_eq!(payload.handshake_type(), typ);
    }

    // Each payload and field type directly.
    match selector % 14 {
        0 => round_trip::<ClientHelloPayload>(body),
        1 => round_trip::<ServerHelloPayload>(body),
        2 => round_trip::<CertificateRequestPayload>(body),
        3 => round_trip::<NewSessionTicketPayload>(body),
        4 => round_trip::<ClientExtension>(body),
        5 => round_trip::<ServerExtension>(body),
        6 => round_trip::<SessionId>(body),
        7 => round_trip::<CertificateDer>(body),
        8 => round_trip::<DistinguishedName>(body),
        9 => round_trip::<AlertMessage>(body),
        10 => round_trip::<ChangeCipherSpec>(body),
        11 => {
            round_trip::<RecordHeader>(body);
            if let Ok(h) = RecordHeader::read_bytes(body) {
                let _ = h.check();
            }
        }
        12 => {
            let mut r = Reader::new(body);
            let _ = wearpay_tlcp::msgs::extensions::read_extensions::<ClientExtension>(&mut r);
        }
        _ => {
            let mut r = Reader::new(body);
            let _ = wearpay_tlcp::msgs::extensions::read_extensions::<ServerExtension>(&mut r);
        }
    }
});
