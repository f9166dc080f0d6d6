//! Cutting a byte stream into records, and records into handshake messages.
//!
//! Both work on whatever the link delivers (a BLE notification, a TCP read), keep at most
//! one record's worth of partial input, and refuse a hostile length as soon as its header
//! is seen rather than after buffering it.

use alloc::vec::Vec;

use crate::codec::{Codec, Reader, U24};
use crate::error::InvalidMessage;
use crate::msgs::enums::{ContentType, ProtocolVersion};
use crate::msgs::handshake::HandshakeMessage;
use crate::msgs::record::{MAX_CIPHERTEXT, RecordHeader};

/// A record borrowed from the caller's buffer, its payload still as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BorrowedRecord<'a> {
    /// The content type.
    pub typ: ContentType,
    /// The record-layer version.
    pub version: ProtocolVersion,
    /// The fragment (ciphertext once keys are in use).
    pub payload: &'a [u8],
}

impl BorrowedRecord<'_> {
    /// Bytes the record took on the wire: discard this many from the caller's buffer.
    pub fn encoded_len(&self) -> usize {
        RecordHeader::LEN + self.payload.len()
    }

    /// An owned copy.
    pub fn to_owned_record(&self) -> OpaqueRecord {
        OpaqueRecord { typ: self.typ, version: self.version, payload: self.payload.to_vec() }
    }
}

/// An owned record, its payload still as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpaqueRecord {
    /// The content type.
    pub typ: ContentType,
    /// The record-layer version.
    pub version: ProtocolVersion,
    /// The fragment (ciphertext once keys are in use).
    pub payload: Vec<u8>,
}

impl OpaqueRecord {
    /// The header this record is framed with. A payload longer than a record can carry is a
    /// bug in the sender; its length is clamped rather than wrapped.
    pub fn header(&self) -> RecordHeader {
        RecordHeader {
            typ: self.typ,
            version: self.version,
            length: u16::try_from(self.payload.len()).unwrap_or(u16::MAX),
        }
    }
}

impl Codec for OpaqueRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header().encode(out);
        out.extend_from_slice(&self.payload);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let header = RecordHeader::read(r)?;
        header.check()?;
        let payload = r.take(usize::from(header.length)).ok_or(InvalidMessage::MissingData("record payload"))?;
        Ok(Self { typ: header.typ, version: header.version, payload: payload.to_vec() })
    }
}

/// Reads the record at the front of `buf` without copying it.
///
/// `Ok(None)` means more bytes are needed. Whatever header bytes are present are checked
/// first, so a TLS or garbage peer is refused on its first byte or two.
pub fn read_record(buf: &[u8]) -> Result<Option<BorrowedRecord<'_>>, InvalidMessage> {
    let Some(header_bytes) = buf.get(..RecordHeader::LEN) else {
        check_partial_header(buf)?;
        return Ok(None);
    };
    let header = RecordHeader::read_bytes(header_bytes)?;
    header.check()?;
    let end = RecordHeader::LEN + usize::from(header.length);
    Ok(buf.get(RecordHeader::LEN..end).map(|payload| BorrowedRecord {
        typ: header.typ,
        version: header.version,
        payload,
    }))
}

fn check_partial_header(buf: &[u8]) -> Result<(), InvalidMessage> {
    if let Some(&typ) = buf.first() {
        match ContentType::from(typ) {
            ContentType::ChangeCipherSpec
            | ContentType::Alert
            | ContentType::Handshake
            | ContentType::ApplicationData => {}
            _ => return Err(InvalidMessage::InvalidContentType),
        }
    }
    match buf.get(1) {
        Some(&major) if major != 1 => Err(InvalidMessage::UnknownProtocolVersion),
        _ => Ok(()),
    }
}

/// Turns a byte stream into records, holding back an incomplete one.
///
/// Memory is bounded by one maximal record ([`MessageDeframer::BUFFER_LIMIT`]): `push`
/// takes only what fits, so the caller offers the rest again after draining with `pop`.
/// A framing error is final, since the stream can no longer be resynchronised.
#[derive(Debug, Default)]
pub struct MessageDeframer {
    buf: Vec<u8>,
    failed: Option<InvalidMessage>,
}

impl MessageDeframer {
    /// The most bytes ever buffered: one header and the largest permitted fragment.
    pub const BUFFER_LIMIT: usize = RecordHeader::LEN + MAX_CIPHERTEXT;

    /// An empty deframer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers as much of `data` as fits and returns how many bytes were taken. Taking
    /// fewer than offered only happens while a complete record is waiting to be popped.
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.failed.is_some() {
            return 0;
        }
        let room = Self::BUFFER_LIMIT.saturating_sub(self.buf.len());
        let take = data.len().min(room);
        let data = data.get(..take).unwrap_or_default();
        let want = self.buf.len() + data.len();
        if want > self.buf.capacity() {
            // Grow to the end of the record being read, not by doubling: a band then holds
            // one full record's bytes, not twice that.
            let mut header = self.buf.iter().chain(data).skip(3).take(2);
            let record_end = match (header.next(), header.next()) {
                (Some(&hi), Some(&lo)) => RecordHeader::LEN + usize::from(u16::from_be_bytes([hi, lo])),
                _ => 0,
            };
            self.buf.reserve_exact(want.max(record_end.min(Self::BUFFER_LIMIT)) - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        take
    }

    /// The next complete record, `Ok(None)` if more input is needed.
    pub fn pop(&mut self) -> Result<Option<OpaqueRecord>, InvalidMessage> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        match read_record(&self.buf) {
            Ok(None) => Ok(None),
            Ok(Some(record)) if record.encoded_len() == self.buf.len() => {
                // The usual case, the buffer holding just this record: it becomes the
                // record's payload, without a copy.
                let (typ, version) = (record.typ, record.version);
                let mut payload = core::mem::take(&mut self.buf);
                payload.drain(..RecordHeader::LEN);
                Ok(Some(OpaqueRecord { typ, version, payload }))
            }
            Ok(Some(record)) => {
                let owned = record.to_owned_record();
                let used = record.encoded_len();
                self.buf.drain(..used);
                Ok(Some(owned))
            }
            Err(err) => {
                self.failed = Some(err);
                self.buf.clear();
                Err(err)
            }
        }
    }

    /// Bytes of an incomplete record held back. Non-zero at end of stream means the peer
    /// was cut off mid-record.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// A handshake message as reassembled: its exact bytes, which go into the transcript hash,
/// and what they decode to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMessage {
    /// Header and body as received.
    pub encoded: Vec<u8>,
    /// The decoded message.
    pub message: HandshakeMessage,
}

/// Reassembles handshake messages from handshake-record payloads: one message may span
/// several records, and one record may hold several messages.
///
/// Hashing `encoded` rather than a re-encoding means the transcript is what the peer
/// actually sent, whatever the decoder normalised.
#[derive(Debug)]
pub struct HandshakeJoiner {
    buf: Vec<u8>,
    max_message_len: usize,
}

impl Default for HandshakeJoiner {
    fn default() -> Self {
        Self::new()
    }
}

impl HandshakeJoiner {
    /// Largest handshake body accepted by default: room for two certificate chains, little
    /// enough for a band.
    pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 * 1024;

    /// A joiner with the default limit.
    pub fn new() -> Self {
        Self::with_max_message_len(Self::DEFAULT_MAX_MESSAGE_LEN)
    }

    /// A joiner that refuses bodies longer than `max` bytes.
    pub fn with_max_message_len(max: usize) -> Self {
        Self { buf: Vec::new(), max_message_len: max.min(U24::MAX as usize) }
    }

    /// Whether no partial message is held. The state machine checks this before a
    /// ChangeCipherSpec, so that no message straddles a key change.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Adds the payload of one plaintext (or decrypted) handshake record.
    pub fn push(&mut self, fragment: &[u8]) -> Result<(), InvalidMessage> {
        if fragment.is_empty() {
            return Err(InvalidMessage::InvalidEmptyPayload);
        }
        // A caller that pops after every push never holds more than this.
        let limit = self.max_message_len + HandshakeMessage::HEADER_LEN + MAX_CIPHERTEXT;
        if self.buf.len().saturating_add(fragment.len()) > limit {
            return Err(InvalidMessage::MessageTooLarge);
        }
        self.buf.extend_from_slice(fragment);
        self.next_len().map(|_| ())
    }

    /// The next complete message, `Ok(None)` if more records are needed.
    pub fn pop(&mut self) -> Result<Option<JoinedMessage>, InvalidMessage> {
        let Some(body_len) = self.next_len()? else {
            return Ok(None);
        };
        let total = HandshakeMessage::HEADER_LEN + body_len;
        if self.buf.len() < total {
            return Ok(None);
        }
        let encoded: Vec<u8> = self.buf.drain(..total).collect();
        let message = HandshakeMessage::read_bytes(&encoded)?;
        Ok(Some(JoinedMessage { encoded, message }))
    }

    /// The body length of the first buffered message, once its header is complete.
    fn next_len(&self) -> Result<Option<usize>, InvalidMessage> {
        let Some(len_bytes) = self.buf.get(1..HandshakeMessage::HEADER_LEN) else {
            return Ok(None);
        };
        let len = usize::from(U24::read_bytes(len_bytes)?);
        if len > self.max_message_len {
            return Err(InvalidMessage::MessageTooLarge);
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::handshake::HandshakePayload;
    use alloc::vec;

    fn record(typ: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![typ, 1, 1];
        out.extend_from_slice(&u16::try_from(payload.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn finished(fill: u8) -> Vec<u8> {
        HandshakeMessage::new(HandshakePayload::Finished([fill; 12])).get_encoding()
    }

    fn drain(joiner: &mut HandshakeJoiner) -> Vec<JoinedMessage> {
        let mut out = Vec::new();
        while let Ok(Some(m)) = joiner.pop() {
            out.push(m);
        }
        out
    }

    /// A full record read in link-sized pieces is held once, in a buffer grown to its
    /// size (not doubled past it), and handed over as the payload without a copy.
    #[test]
    fn a_full_record_is_buffered_once_and_moved_out() {
        let payload: Vec<u8> = (0..MAX_CIPHERTEXT).map(|i| (i % 251) as u8).collect();
        let wire = record(23, &payload);
        let mut deframer = MessageDeframer::new();
        for piece in wire.chunks(244) {
            assert_eq!(deframer.push(piece), piece.len());
            assert!(deframer.buf.capacity() <= MessageDeframer::BUFFER_LIMIT, "{}", deframer.buf.capacity());
        }
        let held = deframer.buf.as_ptr();
        let rec = deframer.pop().expect("frames").expect("complete");
        assert_eq!(rec.payload, payload);
        assert_eq!(rec.payload.as_ptr(), held, "the payload was copied");
        assert_eq!(deframer.buf.capacity(), 0);
        // Two records in one read: the first is copied out, the second stays.
        let mut two = record(23, b"first");
        two.extend_from_slice(&record(23, b"second"));
        assert_eq!(deframer.push(&two), two.len());
        assert_eq!(deframer.pop().expect("frames").expect("complete").payload, b"first");
        assert_eq!(deframer.pop().expect("frames").expect("complete").payload, b"second");
        assert_eq!(deframer.pop(), Ok(None));
    }

    #[test]
    fn message_split_across_three_records() {
        let msg = HandshakeMessage::new(HandshakePayload::ClientKeyExchange(vec![0xab; 100]));
        let bytes = msg.get_encoding();
        let (a, rest) = bytes.split_at(2); // inside the header
        let (b, c) = rest.split_at(50);

        let mut stream = Vec::new();
        for part in [a, b, c] {
            stream.extend_from_slice(&record(22, part));
        }
        let mut deframer = MessageDeframer::new();
        assert_eq!(deframer.push(&stream), stream.len());
        let mut joiner = HandshakeJoiner::new();
        let mut joined = Vec::new();
        while let Some(rec) = deframer.pop().expect("frames") {
            assert_eq!(rec.typ, ContentType::Handshake);
            joiner.push(&rec.payload).expect("fits");
            if joined.is_empty() {
                // Nothing complete until the last record.
                assert!(!joiner.is_empty());
            }
            joined.extend(drain(&mut joiner));
        }
        assert_eq!(joined, vec![JoinedMessage { encoded: bytes, message: msg }]);
        assert!(joiner.is_empty());
        assert_eq!(deframer.buffered(), 0);
    }

    #[test]
    fn three_messages_coalesced_in_one_record() {
        let msgs = [
            HandshakeMessage::new(HandshakePayload::ServerHelloDone),
            HandshakeMessage::new(HandshakePayload::ServerKeyExchange(vec![1, 2, 3])),
            HandshakeMessage::new(HandshakePayload::Finished([4; 12])),
        ];
        let mut payload = Vec::new();
        for m in &msgs {
            m.encode(&mut payload);
        }
        let wire = record(22, &payload);
        let rec = read_record(&wire).expect("valid").expect("complete");
        assert_eq!(rec.encoded_len(), wire.len());
        let mut joiner = HandshakeJoiner::new();
        joiner.push(rec.payload).expect("fits");
        let joined = drain(&mut joiner);
        assert_eq!(joined.len(), 3);
        for (j, m) in joined.iter().zip(&msgs) {
            assert_eq!(&j.message, m);
            assert_eq!(j.encoded, m.get_encoding());
        }
        assert!(joiner.is_empty());
    }

    #[test]
    fn oversize_record_rejected_from_its_header() {
        let mut deframer = MessageDeframer::new();
        // Only the header of an 18433-byte record: refused before any payload arrives.
        deframer.push(&[23, 1, 1, 0x48, 0x01]);
        assert_eq!(deframer.pop(), Err(InvalidMessage::RecordOverflow));
        // And the deframer stays failed.
        assert_eq!(deframer.push(&[23, 1, 1, 0, 0]), 0);
        assert_eq!(deframer.pop(), Err(InvalidMessage::RecordOverflow));

        let max = record(23, &vec![0; MAX_CIPHERTEXT]);
        let mut deframer = MessageDeframer::new();
        assert_eq!(deframer.push(&max), max.len());
        assert_eq!(deframer.pop().map(|r| r.map(|r| r.payload.len())), Ok(Some(MAX_CIPHERTEXT)));
    }

    #[test]
    fn bad_headers_rejected_early() {
        assert_eq!(read_record(&[0x16]), Ok(None));
        assert_eq!(read_record(&[0x16, 0x01]), Ok(None));
        assert_eq!(read_record(&[0x18]), Err(InvalidMessage::InvalidContentType));
        // A TLS ClientHello record: major version 3.
        assert_eq!(read_record(&[0x16, 0x03, 0x01]), Err(InvalidMessage::UnknownProtocolVersion));
        assert_eq!(read_record(&[0x16, 0x01, 0x01, 0, 0]), Err(InvalidMessage::InvalidEmptyPayload));
        assert_eq!(read_record(&[0x17, 0x01, 0x01, 0, 0]).map(|r| r.map(|r| r.encoded_len())), Ok(Some(5)));
    }

    #[test]
    fn push_is_bounded_and_resumable() {
        let a = record(23, &vec![1; MAX_CIPHERTEXT]);
        let b = record(21, &[1, 0]);
        let stream = [a.clone(), b.clone()].concat();
        let mut deframer = MessageDeframer::new();
        let mut input = &stream[..];
        let mut got = Vec::new();
        while !input.is_empty() {
            let n = deframer.push(input);
            assert!(deframer.buffered() <= MessageDeframer::BUFFER_LIMIT);
            input = input.get(n..).unwrap_or_default();
            while let Some(rec) = deframer.pop().expect("valid") {
                got.push(rec.get_encoding());
            }
        }
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn oversize_handshake_message_rejected_from_its_header() {
        let mut joiner = HandshakeJoiner::new();
        assert_eq!(joiner.push(&[11, 0x01, 0x00, 0x01]), Err(InvalidMessage::MessageTooLarge));
        let mut joiner = HandshakeJoiner::with_max_message_len(12);
        assert_eq!(joiner.push(&finished(1)), Ok(()));
        assert!(joiner.pop().is_ok_and(|m| m.is_some()));
        assert_eq!(joiner.push(&[11, 0, 0, 13]), Err(InvalidMessage::MessageTooLarge));
        assert_eq!(HandshakeJoiner::new().push(&[]), Err(InvalidMessage::InvalidEmptyPayload));
    }

    #[test]
    fn joiner_bounds_unpopped_input() {
        let mut joiner = HandshakeJoiner::with_max_message_len(12);
        let chunk = finished(2).repeat(1000);
        let mut pushed = 0;
        let result = loop {
            match joiner.push(&chunk) {
                Ok(()) => pushed += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(result, InvalidMessage::MessageTooLarge);
        assert!(pushed >= 1);
    }

    #[test]
    fn malformed_message_is_an_error() {
        let mut joiner = HandshakeJoiner::new();
        joiner.push(&[20, 0, 0, 1, 0]).expect("framing is fine");
        assert_eq!(joiner.pop(), Err(InvalidMessage::InvalidLength("Finished")));
        assert!(joiner.is_empty());
    }
}
