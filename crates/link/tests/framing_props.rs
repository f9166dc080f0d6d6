#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
//! Properties of the framing: every message round-trips at every MTU and control point
//! length, and no sequence of bytes makes the reassembler panic or accept garbage silently.

use proptest::prelude::*;
use wearpay_link::{
    ATT_MTU_MAX, ATT_MTU_MIN, CONTROL_POINT_LENGTH_MAX, CONTROL_POINT_LENGTH_MIN, Command, Error, Instant, Message,
    Reassembler, fragment, fragment_count, max_fragment_len,
};

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Ping),
        Just(Command::Keepalive),
        Just(Command::Msg),
        Just(Command::Cancel),
        Just(Command::Error)
    ]
}

/// Lengths spread over the whole range, with the edges (one fragment, the 0x7F SEQ wrap,
/// the 65535 maximum) drawn often.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..=64,
        3 => 0usize..=4096,
        2 => 4096usize..=65535,
        1 => Just(65535usize),
        1 => 60_000usize..=65535,
        1 => (0usize..=4).prop_map(|d| 17 + 128 * 19 + d - 2),
    ]
}

fn message() -> impl Strategy<Value = (Command, Vec<u8>)> {
    (command(), length(), any::<u64>()).prop_map(|(cmd, len, seed)| {
        // A cheap pseudo-random fill, so that misplaced bytes show.
        let mut x = seed | 1;
        let data = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        (cmd, data)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(
        (cmd, data) in message(),
        att_mtu in ATT_MTU_MIN..=ATT_MTU_MAX,
        cpl in CONTROL_POINT_LENGTH_MIN..=CONTROL_POINT_LENGTH_MAX,
    ) {
        let max = max_fragment_len(att_mtu, cpl).unwrap();
        prop_assert!(max <= usize::from(att_mtu) - 3 && max <= 512 && max <= usize::from(cpl));
        let fragments: Vec<Vec<u8>> = fragment(cmd, &data, max).unwrap().map(|f| f.to_vec()).collect();
        prop_assert_eq!(fragments.len(), fragment_count(data.len(), max).unwrap());

        let mut rx = Reassembler::new(max).unwrap();
        let last = fragments.len() - 1;
        for (i, f) in fragments.iter().enumerate() {
            prop_assert!(f.len() <= max);
            if i == 0 {
                prop_assert_eq!(f[0], cmd.as_u8());
            } else {
                prop_assert_eq!(usize::from(f[0]), (i - 1) % 128);
                prop_assert!(f.len() > 1);
            }
            // Fragments 2.9 s apart are all in time.
            let out = rx.push(f, Instant::from_millis(2_900 * i as u64)).unwrap();
            if i == last {
                prop_assert_eq!(out, Some(Message::new(cmd, data.clone())));
            } else {
                prop_assert_eq!(out, None);
            }
        }
        prop_assert!(rx.is_idle());
    }

    #[test]
    fn arbitrary_fragments_never_panic(
        max in 20usize..=512,
        fragments in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..40),
        gaps in proptest::collection::vec(0u64..5_000, 40),
    ) {
        let mut rx = Reassembler::new(max).unwrap();
        let mut now = 0u64;
        for (f, gap) in fragments.iter().zip(&gaps) {
            now += gap;
            match rx.push(f, Instant::from_millis(now)) {
                Ok(Some(m)) => prop_assert!(m.data.len() <= 65535),
                Ok(None) => prop_assert!(!rx.is_idle()),
                Err(e) => {
                    // Every refusal tells the peer why, and leaves the reassembler ready.
                    prop_assert!(e.status().is_some(), "{e}");
                    prop_assert!(rx.is_idle());
                }
            }
            let _ = rx.poll(Instant::from_millis(now + gap));
        }
    }

    /// A corrupted fragment in a valid sequence is refused, never accepted as other data.
    #[test]
    fn single_byte_corruption_is_caught_or_harmless(
        (cmd, data) in message(),
        pick in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let max = 20;
        let mut fragments: Vec<Vec<u8>> = fragment(cmd, &data, max).unwrap().map(|f| f.to_vec()).collect();
        let n = fragments.len();
        let which = pick.index(n);
        // Corrupt a header byte: the command, the length or a SEQ.
        let at = if which == 0 { pick.index(3) } else { 0 };
        fragments[which][at] ^= flip;
        let mut rx = Reassembler::new(max).unwrap();
        let mut result: Result<Option<Message>, Error> = Ok(None);
        for f in &fragments {
            result = rx.push(f, Instant::from_millis(0));
            if result.is_err() {
                break;
            }
        }
        match result {
            // Only a command byte changed into another command can go through (the framing
            // has no checksum; the channel above authenticates the data).
            Ok(Some(m)) => prop_assert!(m.data == data && m.cmd != cmd && which == 0 && at == 0),
            Ok(None) => prop_assert!(!rx.is_idle()),
            Err(e) => prop_assert!(e.status().is_some()),
        }
    }
}

/// An edit of a valid fragment sequence, the way a hostile bridge would mangle it.
#[derive(Debug, Clone)]
enum Edit {
    Drop(prop::sample::Index),
    Duplicate(prop::sample::Index),
    Swap(prop::sample::Index, prop::sample::Index),
    Truncate(prop::sample::Index, usize),
    Poke(prop::sample::Index, prop::sample::Index, u8),
    Append(prop::sample::Index, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Drop),
        any::<prop::sample::Index>().prop_map(Edit::Duplicate),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<prop::sample::Index>(), 0usize..4).prop_map(|(a, n)| Edit::Truncate(a, n)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>())
            .prop_map(|(a, b, v)| Edit::Poke(a, b, v)),
        (any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(a, v)| Edit::Append(a, v)),
    ]
}

proptest! {
    #[test]
    fn mangled_sequences_never_panic(
        lens in proptest::collection::vec(0usize..300, 1..4),
        edits in proptest::collection::vec(edit(), 0..6),
        max in 20usize..=64,
    ) {
        let mut fragments: Vec<Vec<u8>> = Vec::new();
        let mut originals = Vec::new();
        for (i, len) in lens.iter().enumerate() {
            let data = vec![i as u8; *len];
            fragments.extend(fragment(Command::Msg, &data, max).unwrap().map(|f| f.to_vec()));
            originals.push(data);
        }
        for e in &edits {
            if fragments.is_empty() {
                break;
            }
            let n = fragments.len();
            match e {
                Edit::Drop(i) => {
                    fragments.remove(i.index(n));
                }
                Edit::Duplicate(i) => {
                    let f = fragments[i.index(n)].clone();
                    fragments.insert(i.index(n), f);
                }
                Edit::Swap(a, b) => fragments.swap(a.index(n), b.index(n)),
                Edit::Truncate(i, k) => {
                    let f = &mut fragments[i.index(n)];
                    f.truncate(f.len().saturating_sub(*k));
                }
                Edit::Poke(i, j, v) => {
                    let f = &mut fragments[i.index(n)];
                    if !f.is_empty() {
                        let at = j.index(f.len());
                        f[at] = *v;
                    }
                }
                Edit::Append(i, extra) => fragments[i.index(n)].extend_from_slice(extra),
            }
        }
        let mut rx = Reassembler::new(max).unwrap();
        for f in &fragments {
            match rx.push(f, Instant::from_millis(0)) {
                Ok(Some(m)) => prop_assert!(m.data.len() <= 300),
                Ok(None) => {}
                Err(e) => {
                    prop_assert!(e.status().is_some(), "{e}");
                    prop_assert!(rx.is_idle());
                }
            }
        }
        // After whatever came, a clean message still goes through.
        rx.reset();
        let fresh: Vec<Vec<u8>> = fragment(Command::Msg, &originals[0], max).unwrap().map(|f| f.to_vec()).collect();
        let mut out = None;
        for f in &fresh {
            out = rx.push(f, Instant::from_millis(0)).unwrap();
        }
        prop_assert_eq!(out.unwrap().data, originals[0].clone());
    }
}
