//! Fragmentation of messages into GATT values, and their reassembly.

use alloc::vec::Vec;
use core::time::Duration;

use crate::{Command, Error, ErrorStatus, KeepaliveStatus};

/// The smallest ATT_MTU; every BLE device supports it.
pub const ATT_MTU_MIN: u16 = 23;
/// The largest ATT_MTU worth negotiating: the 512-byte attribute value plus the 3-byte
/// ATT header of a notification or write, plus 2 (the spec's own upper bound).
pub const ATT_MTU_MAX: u16 = 517;
/// Bytes of an ATT write or notification PDU before the value (opcode, handle).
pub const ATT_HEADER_LEN: usize = 3;
/// The longest attribute value (Core spec, Vol 3, Part F, 3.2.9).
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 512;
/// The smallest control point length the band may announce.
pub const CONTROL_POINT_LENGTH_MIN: u16 = 20;
/// The largest control point length the band may announce.
pub const CONTROL_POINT_LENGTH_MAX: u16 = 512;
/// Header bytes of an initial fragment: CMD, HLEN, LLEN.
pub const INIT_HEADER_LEN: usize = 3;
/// Header bytes of a continuation fragment: SEQ.
pub const CONT_HEADER_LEN: usize = 1;
/// The longest message: the 16-bit length field.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;
/// How long the reassembler waits for the next fragment of a message by default.
pub const DEFAULT_FRAGMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// Checks that an ATT_MTU lies in 23..=517.
pub fn check_att_mtu(att_mtu: u16) -> Result<u16, Error> {
    if (ATT_MTU_MIN..=ATT_MTU_MAX).contains(&att_mtu) { Ok(att_mtu) } else { Err(Error::AttMtuOutOfRange(att_mtu)) }
}

/// The ATT_MTU both sides use: the smaller proposal, clamped to 23..=517 (a side that
/// proposes less than 23 still gets 23, the floor every device supports).
pub fn negotiate_att_mtu(ours: u16, theirs: u16) -> u16 {
    ours.min(theirs).clamp(ATT_MTU_MIN, ATT_MTU_MAX)
}

/// The longest fragment: `min(ATT_MTU − 3, 512, control_point_length)`.
///
/// Refuses an ATT_MTU outside 23..=517 and a control point length outside 20..=512.
pub fn max_fragment_len(att_mtu: u16, control_point_length: u16) -> Result<usize, Error> {
    let att_mtu = check_att_mtu(att_mtu)?;
    if !(CONTROL_POINT_LENGTH_MIN..=CONTROL_POINT_LENGTH_MAX).contains(&control_point_length) {
        return Err(Error::ControlPointLengthOutOfRange(control_point_length));
    }
    Ok((usize::from(att_mtu) - ATT_HEADER_LEN).min(MAX_ATTRIBUTE_VALUE_LEN).min(usize::from(control_point_length)))
}

fn check_fragment_limit(max_fragment_len: usize) -> Result<usize, Error> {
    if (usize::from(CONTROL_POINT_LENGTH_MIN)..=MAX_ATTRIBUTE_VALUE_LEN).contains(&max_fragment_len) {
        Ok(max_fragment_len)
    } else {
        Err(Error::FragmentLimitOutOfRange(max_fragment_len))
    }
}

/// A point in time in milliseconds, from any origin the caller picks; the core reads no
/// clock, so the caller passes `now` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later (a clock that
    /// steps back never makes a timeout fire early or a subtraction overflow).
    pub const fn millis_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This instant plus `d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// A complete message: its command and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The command.
    pub cmd: Command,
    /// The data (at most 65535 bytes).
    pub data: Vec<u8>,
}

impl Message {
    /// A message of `cmd` carrying `data`.
    pub fn new(cmd: Command, data: impl Into<Vec<u8>>) -> Self {
        Self { cmd, data: data.into() }
    }

    /// An ERROR message with `status`.
    pub fn error(status: ErrorStatus) -> Self {
        Self::new(Command::Error, [status.as_u8()])
    }

    /// The status of an ERROR message (unknown codes as [`ErrorStatus::Other`]), `None`
    /// for any other command. An ERROR without exactly one byte reads as `Other`.
    pub fn error_status(&self) -> Option<ErrorStatus> {
        match (self.cmd, self.data.as_slice()) {
            (Command::Error, [b]) => Some(ErrorStatus::from_u8_lossy(*b)),
            (Command::Error, _) => Some(ErrorStatus::Other),
            _ => None,
        }
    }

    /// The status of a KEEPALIVE message, `None` for another command or an unknown status.
    pub fn keepalive_status(&self) -> Option<KeepaliveStatus> {
        match (self.cmd, self.data.as_slice()) {
            (Command::Keepalive, [b]) => KeepaliveStatus::from_u8(*b),
            _ => None,
        }
    }

    /// The fragments of this message, each at most `max_fragment_len` bytes.
    pub fn fragments(&self, max_fragment_len: usize) -> Result<Fragmenter<'_>, Error> {
        fragment(self.cmd, &self.data, max_fragment_len)
    }
}

/// One fragment: a header (`CMD ‖ HLEN ‖ LLEN` or `SEQ`) and a slice of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    header: [u8; INIT_HEADER_LEN],
    header_len: u8,
    payload: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// The header bytes.
    pub fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// The message bytes this fragment carries.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Header and payload length: the GATT value's length.
    pub fn len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }

    /// Always false: a fragment has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether this is the initial fragment.
    pub fn is_initial(&self) -> bool {
        usize::from(self.header_len) == INIT_HEADER_LEN
    }

    /// Appends the fragment's bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.header());
        out.extend_from_slice(self.payload);
    }

    /// The fragment's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        self.write_to(&mut out);
        out
    }
}

/// The fragments of one message, in order; borrows the message, copies nothing.
#[derive(Debug, Clone)]
pub struct Fragmenter<'a> {
    cmd: Command,
    data: &'a [u8],
    max: usize,
    /// Bytes of `data` already handed out; `None` before the initial fragment.
    offset: Option<usize>,
    seq: u8,
}

/// Splits `data` into the fragments of one `cmd` message, each at most `max_fragment_len`
/// bytes (which must lie in 20..=512; see [`max_fragment_len`]).
///
/// Refuses data longer than 65535 bytes.
pub fn fragment(cmd: Command, data: &[u8], max_fragment_len: usize) -> Result<Fragmenter<'_>, Error> {
    let max = check_fragment_limit(max_fragment_len)?;
    if data.len() > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLong { len: data.len(), max: MAX_MESSAGE_LEN });
    }
    Ok(Fragmenter { cmd, data, max, offset: None, seq: 0 })
}

impl Fragmenter<'_> {
    fn remaining_count(&self) -> usize {
        let (rest, initial) = match self.offset {
            None => (self.data.len().saturating_sub(self.max - INIT_HEADER_LEN), 1),
            Some(o) => (self.data.len() - o, 0),
        };
        initial + rest.div_ceil(self.max - CONT_HEADER_LEN)
    }
}

impl<'a> Iterator for Fragmenter<'a> {
    type Item = Fragment<'a>;

    fn next(&mut self) -> Option<Fragment<'a>> {
        match self.offset {
            None => {
                let take = self.data.len().min(self.max - INIT_HEADER_LEN);
                self.offset = Some(take);
                // `fragment` checked the length fits 16 bits.
                let [hlen, llen] = (self.data.len() as u16).to_be_bytes();
                Some(Fragment { header: [self.cmd.as_u8(), hlen, llen], header_len: 3, payload: &self.data[..take] })
            }
            Some(offset) if offset < self.data.len() => {
                let take = (self.data.len() - offset).min(self.max - CONT_HEADER_LEN);
                let seq = self.seq;
                // SEQ runs 0..=0x7F and wraps, keeping the high bit clear.
                self.seq = (self.seq + 1) & 0x7F;
                self.offset = Some(offset + take);
                Some(Fragment { header: [seq, 0, 0], header_len: 1, payload: &self.data[offset..offset + take] })
            }
            Some(_) => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining_count();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fragmenter<'_> {}

/// How many fragments a message of `data_len` bytes takes at `max_fragment_len`.
pub fn fragment_count(data_len: usize, max_fragment_len: usize) -> Result<usize, Error> {
    let max = check_fragment_limit(max_fragment_len)?;
    if data_len > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLong { len: data_len, max: MAX_MESSAGE_LEN });
    }
    Ok(1 + data_len.saturating_sub(max - INIT_HEADER_LEN).div_ceil(max - CONT_HEADER_LEN))
}

#[derive(Debug)]
struct Partial {
    cmd: Command,
    declared: u16,
    data: Vec<u8>,
    next_seq: u8,
    last: Instant,
}

/// Rebuilds messages from fragments, checking each against the framing rules.
///
/// Any error resets it, so the next initial fragment starts a new message.
#[derive(Debug)]
pub struct Reassembler {
    max_fragment_len: usize,
    max_message_len: u16,
    timeout_ms: u64,
    partial: Option<Partial>,
}

impl Reassembler {
    /// A reassembler for fragments of at most `max_fragment_len` bytes (20..=512), with the
    /// default 3 s timeout between fragments and messages up to 65535 bytes.
    pub fn new(max_fragment_len: usize) -> Result<Self, Error> {
        Ok(Self {
            max_fragment_len: check_fragment_limit(max_fragment_len)?,
            max_message_len: u16::MAX,
            timeout_ms: DEFAULT_FRAGMENT_TIMEOUT.as_millis() as u64,
            partial: None,
        })
    }

    /// Sets the longest gap allowed between two fragments of a message.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Refuses messages declared longer than `max` bytes, before buffering any of it (a
    /// band with little RAM sets this).
    #[must_use]
    pub fn with_max_message_len(mut self, max: u16) -> Self {
        self.max_message_len = max;
        self
    }

    /// The longest fragment accepted.
    pub fn max_fragment_len(&self) -> usize {
        self.max_fragment_len
    }

    /// Whether no message is in progress.
    pub fn is_idle(&self) -> bool {
        self.partial.is_none()
    }

    /// When the message in progress times out, if one is.
    pub fn deadline(&self) -> Option<Instant> {
        self.partial.as_ref().map(|p| Instant(p.last.0.saturating_add(self.timeout_ms)))
    }

    /// Drops the message in progress.
    pub fn reset(&mut self) {
        self.partial = None;
    }

    /// Fails with [`Error::FragmentTimeout`] (and resets) if the message in progress has
    /// waited longer than the timeout for its next fragment.
    pub fn poll(&mut self, now: Instant) -> Result<(), Error> {
        if let Some(p) = &self.partial {
            let waited_ms = now.millis_since(p.last);
            if waited_ms > self.timeout_ms {
                self.partial = None;
                return Err(Error::FragmentTimeout { waited_ms });
            }
        }
        Ok(())
    }

    /// Takes one fragment received at `now`; returns the message it completes, if any.
    ///
    /// A fragment arriving after the timeout fails with [`Error::FragmentTimeout`] and is
    /// dropped, like any fragment that fails a check.
    pub fn push(&mut self, fragment: &[u8], now: Instant) -> Result<Option<Message>, Error> {
        let result = self.push_checked(fragment, now);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn push_checked(&mut self, fragment: &[u8], now: Instant) -> Result<Option<Message>, Error> {
        self.poll(now)?;
        if fragment.len() > self.max_fragment_len {
            return Err(Error::FragmentTooLong { len: fragment.len(), max: self.max_fragment_len });
        }
        let Some((&first, body)) = fragment.split_first() else {
            return Err(Error::EmptyFragment);
        };
        match self.partial.take() {
            None => {
                if first & 0x80 == 0 {
                    return Err(Error::ContinuationWithoutInit { seq: first });
                }
                let [_, hlen, llen, data @ ..] = fragment else {
                    return Err(Error::InitTooShort { len: fragment.len() });
                };
                let cmd = Command::try_from(first)?;
                let declared = u16::from_be_bytes([*hlen, *llen]);
                if declared > self.max_message_len {
                    return Err(Error::MessageTooLong {
                        len: usize::from(declared),
                        max: usize::from(self.max_message_len),
                    });
                }
                if data.len() > usize::from(declared) {
                    return Err(Error::DataPastLength { declared, received: data.len() });
                }
                let mut buf = Vec::new();
                // Grow with what arrives rather than trusting the declared length up front.
                buf.extend_from_slice(data);
                self.finish_or_wait(Partial { cmd, declared, data: buf, next_seq: 0, last: now })
            }
            Some(mut p) => {
                if first != p.next_seq {
                    return Err(Error::UnexpectedSeq { expected: p.next_seq, got: first });
                }
                if body.is_empty() {
                    return Err(Error::EmptyFragment);
                }
                let received = p.data.len() + body.len();
                if received > usize::from(p.declared) {
                    return Err(Error::DataPastLength { declared: p.declared, received });
                }
                p.data.extend_from_slice(body);
                p.next_seq = (p.next_seq + 1) & 0x7F;
                p.last = now;
                self.finish_or_wait(p)
            }
        }
    }

    fn finish_or_wait(&mut self, p: Partial) -> Result<Option<Message>, Error> {
        if p.data.len() == usize::from(p.declared) {
            Ok(Some(Message { cmd: p.cmd, data: p.data }))
        } else {
            self.partial = Some(p);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    fn frags(cmd: Command, data: &[u8], max: usize) -> Vec<Vec<u8>> {
        fragment(cmd, data, max).unwrap().map(|f| f.to_vec()).collect()
    }

    #[test]
    fn ctap_style_known_frame() {
        // A 7-byte MSG fits one fragment: 83 0007 then the data.
        let data = [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(frags(Command::Msg, &data, 20), vec![vec![0x83, 0x00, 0x07, 0x00, 0x03, 0, 0, 0, 0, 0]]);
    }

    #[test]
    fn layout_of_a_three_fragment_message() {
        let data: Vec<u8> = (0..40).collect();
        let f = frags(Command::Ping, &data, 20);
        assert_eq!(f.len(), 3);
        assert_eq!(&f[0][..3], &[0x81, 0x00, 40]);
        assert_eq!(&f[0][3..], &data[..17]);
        assert_eq!(f[1][0], 0);
        assert_eq!(&f[1][1..], &data[17..36]);
        assert_eq!(f[2], [&[1u8][..], &data[36..]].concat());
        assert_eq!(fragment_count(40, 20).unwrap(), 3);
    }

    #[test]
    fn seq_wraps_after_0x7f() {
        // 17 + 130 × 19 bytes: 130 continuations, SEQ 0..=0x7F then 0x00, 0x01.
        let data = vec![0xA5; 17 + 130 * 19];
        let f = frags(Command::Msg, &data, 20);
        assert_eq!(f.len(), 131);
        assert_eq!(f[128][0], 0x7F);
        assert_eq!(f[129][0], 0x00);
        assert_eq!(f[130][0], 0x01);
        let mut r = Reassembler::new(20).unwrap();
        let mut out = None;
        for x in &f {
            out = r.push(x, Instant(0)).unwrap();
        }
        assert_eq!(out.unwrap().data, data);
    }

    #[test]
    fn empty_message_is_one_header() {
        assert_eq!(frags(Command::Cancel, &[], 20), vec![vec![0xBE, 0, 0]]);
        let mut r = Reassembler::new(20).unwrap();
        assert_eq!(r.push(&[0xBE, 0, 0], Instant(0)).unwrap(), Some(Message::new(Command::Cancel, vec![])));
    }

    #[test]
    fn exact_size_matches_count() {
        for len in [0, 1, 17, 18, 36, 37, 1000, 65535] {
            for max in [20, 21, 100, 244, 512] {
                let data = vec![0; len];
                let it = fragment(Command::Msg, &data, max).unwrap();
                let n = fragment_count(len, max).unwrap();
                assert_eq!(it.len(), n);
                assert_eq!(it.count(), n);
            }
        }
    }

    #[test]
    fn limits() {
        assert_eq!(max_fragment_len(23, 512).unwrap(), 20);
        assert_eq!(max_fragment_len(247, 512).unwrap(), 244);
        assert_eq!(max_fragment_len(517, 512).unwrap(), 512);
        assert_eq!(max_fragment_len(517, 100).unwrap(), 100);
        assert!(matches!(max_fragment_len(22, 512), Err(Error::AttMtuOutOfRange(22))));
        assert!(matches!(max_fragment_len(518, 512), Err(Error::AttMtuOutOfRange(518))));
        assert!(matches!(max_fragment_len(23, 19), Err(Error::ControlPointLengthOutOfRange(19))));
        assert!(matches!(max_fragment_len(23, 513), Err(Error::ControlPointLengthOutOfRange(513))));
        assert_eq!(negotiate_att_mtu(247, 185), 185);
        assert_eq!(negotiate_att_mtu(10, 185), 23);
        assert_eq!(negotiate_att_mtu(1000, 2000), 517);
        assert!(matches!(fragment(Command::Msg, &[], 19), Err(Error::FragmentLimitOutOfRange(19))));
        assert!(matches!(fragment(Command::Msg, &[], 513), Err(Error::FragmentLimitOutOfRange(513))));
        assert!(matches!(
            fragment(Command::Msg, &vec![0; 65536], 20),
            Err(Error::MessageTooLong { len: 65536, max: 65535 })
        ));
    }

    /// Pushes `bad` after `before`, checks the error and its status, then checks that a
    /// fresh message still goes through.
    fn rejects(before: &[&[u8]], bad: &[u8], status: ErrorStatus) -> Error {
        let mut r = Reassembler::new(20).unwrap();
        for f in before {
            assert_eq!(r.push(f, Instant(0)).unwrap(), None);
        }
        let e = r.push(bad, Instant(0)).unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        assert!(r.is_idle());
        assert_eq!(r.push(&[0x83, 0, 1, 9], Instant(0)).unwrap(), Some(Message::new(Command::Msg, vec![9])));
        e
    }

    #[test]
    fn rejects_continuation_without_init() {
        let e = rejects(&[], &[0x00, 1, 2], ErrorStatus::InvalidSeq);
        assert!(matches!(e, Error::ContinuationWithoutInit { seq: 0 }));
    }

    #[test]
    fn rejects_short_init() {
        let e = rejects(&[], &[0x83, 0], ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::InitTooShort { len: 2 }));
        let e = rejects(&[], &[0x83], ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::InitTooShort { len: 1 }));
        let e = rejects(&[], &[], ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::EmptyFragment));
    }

    #[test]
    fn rejects_unknown_command() {
        let e = rejects(&[], &[0x90, 0, 0], ErrorStatus::InvalidCommand);
        assert!(matches!(e, Error::UnknownCommand(0x90)));
    }

    #[test]
    fn rejects_wrong_seq() {
        let init: &[u8] = &[0x83, 0, 30, 1, 2, 3];
        let e = rejects(&[init], &[1, 4, 5], ErrorStatus::InvalidSeq);
        assert!(matches!(e, Error::UnexpectedSeq { expected: 0, got: 1 }));
        // A repeated continuation.
        let e = rejects(&[init, &[0, 4]], &[0, 4], ErrorStatus::InvalidSeq);
        assert!(matches!(e, Error::UnexpectedSeq { expected: 1, got: 0 }));
        // A new initial fragment in the middle of a message.
        let e = rejects(&[init], &[0x83, 0, 1, 7], ErrorStatus::InvalidSeq);
        assert!(matches!(e, Error::UnexpectedSeq { expected: 0, got: 0x83 }));
    }

    #[test]
    fn rejects_seq_only_continuation() {
        let e = rejects(&[&[0x83, 0, 30, 1]], &[0], ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::EmptyFragment));
    }

    #[test]
    fn rejects_data_past_length() {
        let e = rejects(&[], &[0x83, 0, 2, 1, 2, 3], ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::DataPastLength { declared: 2, received: 3 }));
        let e = rejects(&[&[0x83, 0, 4, 1, 2]], &[0, 3, 4, 5], ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::DataPastLength { declared: 4, received: 5 }));
    }

    #[test]
    fn rejects_overlong_fragment() {
        let mut long = vec![0x83, 0, 40];
        long.extend_from_slice(&[0; 18]);
        let e = rejects(&[], &long, ErrorStatus::InvalidLength);
        assert!(matches!(e, Error::FragmentTooLong { len: 21, max: 20 }));
    }

    #[test]
    fn rejects_message_over_the_configured_limit() {
        let mut r = Reassembler::new(20).unwrap().with_max_message_len(1024);
        let e = r.push(&[0x83, 0x04, 0x01, 0], Instant(0)).unwrap_err();
        assert!(matches!(e, Error::MessageTooLong { len: 1025, max: 1024 }));
        assert_eq!(e.status(), Some(ErrorStatus::InvalidLength));
        assert_eq!(r.push(&[0x83, 0, 1, 1], Instant(0)).unwrap().unwrap().data, [1]);
    }

    #[test]
    fn timeout_on_poll_and_on_push() {
        let mut r = Reassembler::new(20).unwrap();
        r.push(&[0x83, 0, 30, 1], Instant(1000)).unwrap();
        assert_eq!(r.deadline(), Some(Instant(4000)));
        // Exactly the timeout is still in time.
        r.poll(Instant(4000)).unwrap();
        let e = r.poll(Instant(4001)).unwrap_err();
        assert!(matches!(e, Error::FragmentTimeout { waited_ms: 3001 }));
        assert_eq!(e.status(), Some(ErrorStatus::Timeout));
        assert!(r.is_idle());
        r.poll(Instant(100_000)).unwrap();

        let mut r = Reassembler::new(20).unwrap().with_timeout(Duration::from_millis(50));
        r.push(&[0x83, 0, 30, 1], Instant(0)).unwrap();
        r.push(&[0, 2], Instant(50)).unwrap();
        let e = r.push(&[1, 3], Instant(101)).unwrap_err();
        assert!(matches!(e, Error::FragmentTimeout { waited_ms: 51 }));
        assert!(r.is_idle());
        // A clock stepping back does not fire the timeout.
        r.push(&[0x83, 0, 30, 1], Instant(500)).unwrap();
        r.poll(Instant(10)).unwrap();
    }

    #[test]
    fn message_status_accessors() {
        assert_eq!(Message::error(ErrorStatus::Busy).error_status(), Some(ErrorStatus::Busy));
        assert_eq!(Message::new(Command::Error, vec![0x42]).error_status(), Some(ErrorStatus::Other));
        assert_eq!(Message::new(Command::Error, vec![]).error_status(), Some(ErrorStatus::Other));
        assert_eq!(Message::new(Command::Msg, vec![1]).error_status(), None);
        assert_eq!(
            Message::new(Command::Keepalive, vec![2]).keepalive_status(),
            Some(KeepaliveStatus::UserPresenceNeeded)
        );
        assert_eq!(Message::new(Command::Keepalive, vec![3]).keepalive_status(), None);
        for b in 0..=255u8 {
            if let Ok(c) = Command::try_from(b) {
                assert_eq!(c.as_u8(), b);
                assert!(b & 0x80 != 0);
            }
        }
    }
}
