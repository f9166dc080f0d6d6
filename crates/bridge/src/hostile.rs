//! A hostile phone, for tests: a seeded plan of faults applied to the relayed chunks.
//!
//! DESIGN.md assumes the phone can drop, delay, reorder, replay, truncate or rewrite any
//! byte and start sessions of its own. [`FaultPlan`] says which of these it does and how
//! often; a small deterministic generator seeded from the plan decides, chunk by chunk, so
//! that a failing seed can be run again. A *chunk* is what the bridge relays in one go:
//! the data of one MSG from the band, or what one read from the center's socket returned.
//!
//! Unlike the honest bridge, the hostile one keeps what it relays: the chunks of each
//! session, to replay them later (into the same session, or into a new connection to the
//! center, as a recorded session) and to inject recorded prefixes such as a captured
//! ClientHello.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::Error;

/// One kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Flip one to three bits of the chunk.
    BitFlip,
    /// Do not relay the chunk.
    Drop,
    /// Relay the chunk twice.
    Duplicate,
    /// Hold the chunk back and relay it after the next one in the same direction (or
    /// after [`FaultPlan::reorder_hold`] if none comes).
    Reorder,
    /// Relay the chunk after up to [`FaultPlan::max_delay`].
    Delay,
    /// Relay only a prefix of the chunk.
    Truncate,
    /// After the chunk, relay one seen earlier in the same direction (this session's or a
    /// recorded one's).
    Replay,
    /// Before the chunk, relay one of the bridge's own: random bytes, a TLCP-looking record
    /// with a random body, or the first chunk of a recorded session (a captured
    /// ClientHello towards the center).
    Inject,
    /// When a band connects, also open a new connection to the center and play a recorded
    /// band→center session into it. Its rate is per band connection, not per chunk.
    ReplaySession,
}

impl Fault {
    /// Every fault, in the order the plan lists them.
    pub const ALL: [Self; 9] = [
        Self::BitFlip,
        Self::Drop,
        Self::Duplicate,
        Self::Reorder,
        Self::Delay,
        Self::Truncate,
        Self::Replay,
        Self::Inject,
        Self::ReplaySession,
    ];

    const fn index(self) -> usize {
        self as usize
    }

    /// A short name for logs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::BitFlip => "bit_flip",
            Self::Drop => "drop",
            Self::Duplicate => "duplicate",
            Self::Reorder => "reorder",
            Self::Delay => "delay",
            Self::Truncate => "truncate",
            Self::Replay => "replay",
            Self::Inject => "inject",
            Self::ReplaySession => "replay_session",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const FAULTS: usize = Fault::ALL.len();

/// Which faults the hostile bridge commits, how often, and the seed of its choices.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// The seed of every choice.
    pub seed: u64,
    rates: [f64; FAULTS],
    /// Whether band→center chunks are tampered with.
    pub to_center: bool,
    /// Whether center→band chunks are tampered with.
    pub to_band: bool,
    /// The longest [`Fault::Delay`].
    pub max_delay: Duration,
    /// How long a [`Fault::Reorder`]ed chunk waits for a next one.
    pub reorder_hold: Duration,
}

impl FaultPlan {
    /// A plan with `seed` and no fault on: the bridge relays honestly (but records).
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rates: [0.0; FAULTS],
            to_center: true,
            to_band: true,
            max_delay: Duration::from_millis(30),
            reorder_hold: Duration::from_millis(30),
        }
    }

    /// The plan with `fault` happening at `rate` (a probability, clamped to 0..=1; NaN is 0).
    #[must_use]
    pub fn with(mut self, fault: Fault, rate: f64) -> Self {
        self.rates[fault.index()] = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        self
    }

    /// Every fault at `rate`.
    pub fn all(seed: u64, rate: f64) -> Self {
        Fault::ALL.iter().fold(Self::new(seed), |plan, &f| plan.with(f, rate))
    }

    /// A plan drawn from `seed`: each fault on with probability one half, at a rate
    /// between 2 % and 12 % of chunks (20 % to 60 % of connections for
    /// [`Fault::ReplaySession`]); sometimes only one direction is attacked.
    pub fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, u64::MAX, 0);
        let mut plan = Self::new(seed);
        for f in Fault::ALL {
            if rng.below(2) == 1 {
                let rate = match f {
                    Fault::ReplaySession => 0.2 + 0.4 * rng.unit(),
                    _ => 0.02 + 0.10 * rng.unit(),
                };
                plan = plan.with(f, rate);
            }
        }
        match rng.below(4) {
            0 => plan.to_band = false,
            1 => plan.to_center = false,
            _ => {}
        }
        plan
    }

    /// How often `fault` happens.
    pub fn rate(&self, fault: Fault) -> f64 {
        self.rates[fault.index()]
    }

    /// The faults that are on.
    pub fn faults(&self) -> impl Iterator<Item = Fault> + '_ {
        Fault::ALL.into_iter().filter(|f| self.rate(*f) > 0.0)
    }
}

/// How many times each fault was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultCounts([u64; FAULTS]);

impl FaultCounts {
    /// Times `fault` was committed.
    pub fn get(&self, fault: Fault) -> u64 {
        self.0[fault.index()]
    }

    /// Faults committed in all.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for fault in Fault::ALL {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{fault} {}", self.get(fault))?;
        }
        Ok(())
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick faults; the
/// same seed always gives the same choices, and nothing global is touched.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one stream of choices: the plan's seed, a connection, a direction.
    pub(crate) fn new(seed: u64, connection: u64, stream: u64) -> Self {
        let mut r = Self(seed);
        let a = r.next_u64() ^ connection.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut r = Self(a);
        let b = r.next_u64() ^ stream.wrapping_mul(0xABC9_8388_FB8F_AC03);
        Self(b)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; 0 gives 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: the bias is below 2^-32 for the small n used here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64() as u8;
        }
    }
}

/// A direction of relayed traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    ToCenter,
    ToBand,
}

/// Where relayed chunks go.
pub(crate) trait Sink {
    fn put(&mut self, chunk: &[u8]) -> Result<(), Error>;
}

/// The chunks of one recorded session.
#[derive(Debug, Default, Clone)]
struct Recording {
    to_center: Vec<Vec<u8>>,
    to_band: Vec<Vec<u8>>,
}

impl Recording {
    fn way(&self, way: Way) -> &[Vec<u8>] {
        match way {
            Way::ToCenter => &self.to_center,
            Way::ToBand => &self.to_band,
        }
    }
}

/// Sessions the hostile bridge keeps, and chunks per direction of each.
const RECORDED_SESSIONS: usize = 16;
const RECORDED_CHUNKS: usize = 64;

/// What the connections of one hostile bridge share: the plan, the counts, the recordings.
#[derive(Debug)]
pub(crate) struct Hostile {
    plan: FaultPlan,
    counts: [AtomicU64; FAULTS],
    recordings: Mutex<VecDeque<Recording>>,
}

impl Hostile {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        Self { plan, counts: Default::default(), recordings: Mutex::new(VecDeque::new()) }
    }

    pub(crate) fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    pub(crate) fn counts(&self) -> FaultCounts {
        FaultCounts(core::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)))
    }

    fn count(&self, fault: Fault) {
        self.counts[fault.index()].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(fault = fault.name(), "fault committed");
    }

    fn recordings(&self) -> std::sync::MutexGuard<'_, VecDeque<Recording>> {
        self.recordings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a finished session's chunks.
    pub(crate) fn record(&self, to_center: Vec<Vec<u8>>, to_band: Vec<Vec<u8>>) {
        if to_center.is_empty() && to_band.is_empty() {
            return;
        }
        let mut r = self.recordings();
        if r.len() == RECORDED_SESSIONS {
            r.pop_front();
        }
        r.push_back(Recording { to_center, to_band });
    }

    /// The tamperer of one direction of connection `connection`.
    pub(crate) fn tamper(self: &Arc<Self>, connection: u64, way: Way) -> Tamper {
        let on = match way {
            Way::ToCenter => self.plan.to_center,
            Way::ToBand => self.plan.to_band,
        };
        Tamper {
            hostile: self.clone(),
            rng: Rng::new(self.plan.seed, connection, way as u64 + 1),
            way,
            on,
            held: None,
            seen: Vec::new(),
        }
    }

    /// Whether connection `connection` also gets a recorded session replayed to the center,
    /// and which: the band→center chunks of a recorded session.
    pub(crate) fn session_to_replay(&self, connection: u64) -> Option<Vec<Vec<u8>>> {
        let mut rng = Rng::new(self.plan.seed, connection, 0);
        if !rng.chance(self.plan.rate(Fault::ReplaySession)) {
            return None;
        }
        let r = self.recordings();
        let candidates: Vec<&Recording> = r.iter().filter(|s| !s.to_center.is_empty()).collect();
        let pick = candidates.get(usize::try_from(rng.below(candidates.len() as u64)).ok()?)?;
        self.count(Fault::ReplaySession);
        Some(pick.to_center.clone())
    }
}

/// Plays a recorded band→center session into a new connection to the center, reading
/// (and counting) whatever the center answers, for at most `limit`. Returns the bytes
/// written and read.
pub(crate) fn replay_session(center: SocketAddr, chunks: &[Vec<u8>], limit: Duration) -> Result<(u64, u64), Error> {
    let started = Instant::now();
    let mut tcp = TcpStream::connect_timeout(&center, limit)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_millis(20)))?;
    let (mut written, mut read) = (0u64, 0u64);
    let mut buf = [0u8; 4096];
    let mut drain = |tcp: &mut TcpStream| -> bool {
        loop {
            match tcp.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => read += n as u64,
                Err(_) => return true,
            }
        }
    };
    for chunk in chunks {
        // The center may hang up at the first bad message; that is the point.
        if tcp.write_all(chunk).is_err() {
            break;
        }
        written += chunk.len() as u64;
        if !drain(&mut tcp) || started.elapsed() > limit {
            break;
        }
    }
    while started.elapsed() < limit && drain(&mut tcp) {}
    let _ = tcp.shutdown(Shutdown::Both);
    Ok((written, read))
}

/// The hostile relay of one direction of one connection.
#[derive(Debug)]
pub(crate) struct Tamper {
    hostile: Arc<Hostile>,
    rng: Rng,
    way: Way,
    on: bool,
    held: Option<(Vec<u8>, Instant)>,
    /// This direction's chunks so far, as received (for replay and the recording).
    seen: Vec<Vec<u8>>,
}

/// The faults that replace plain relaying of a chunk; at most one applies to a chunk.
const EXCLUSIVE: [Fault; 6] =
    [Fault::Drop, Fault::BitFlip, Fault::Truncate, Fault::Duplicate, Fault::Reorder, Fault::Delay];

impl Tamper {
    fn rate(&self, fault: Fault) -> f64 {
        if self.on { self.hostile.plan.rate(fault) } else { 0.0 }
    }

    fn roll(&mut self, fault: Fault) -> bool {
        let hit = self.rng.chance(self.rate(fault));
        if hit {
            self.hostile.count(fault);
        }
        hit
    }

    /// Relays `chunk` to `sink`, or not, or otherwise, as the plan says.
    pub(crate) fn relay(&mut self, chunk: Vec<u8>, sink: &mut dyn Sink) -> Result<(), Error> {
        if self.roll(Fault::Inject) {
            let forged = self.forge();
            sink.put(&forged)?;
        }
        if self.seen.len() < RECORDED_CHUNKS {
            self.seen.push(chunk.clone());
        }
        let fault = EXCLUSIVE.into_iter().find(|&f| self.roll(f));
        let mut chunk = chunk;
        match fault {
            None => sink.put(&chunk)?,
            Some(Fault::Drop) => {}
            Some(Fault::BitFlip) => {
                if !chunk.is_empty() {
                    for _ in 0..=self.rng.below(3) {
                        let bit = self.rng.below(chunk.len() as u64 * 8);
                        chunk[(bit / 8) as usize] ^= 1 << (bit % 8);
                    }
                }
                sink.put(&chunk)?;
            }
            Some(Fault::Truncate) => {
                let keep = self.rng.below(chunk.len() as u64) as usize;
                sink.put(&chunk[..keep.max(1).min(chunk.len())])?;
            }
            Some(Fault::Duplicate) => {
                sink.put(&chunk)?;
                sink.put(&chunk)?;
            }
            Some(Fault::Reorder) if self.held.is_none() => {
                self.held = Some((chunk, Instant::now()));
                return self.maybe_replay(sink);
            }
            Some(Fault::Reorder) => sink.put(&chunk)?,
            Some(Fault::Delay) => {
                let max = u64::try_from(self.hostile.plan.max_delay.as_micros()).unwrap_or(u64::MAX);
                std::thread::sleep(Duration::from_micros(self.rng.below(max.saturating_add(1))));
                sink.put(&chunk)?;
            }
            Some(_) => sink.put(&chunk)?,
        }
        // A held chunk goes after the one that followed it.
        if let Some((held, _)) = self.held.take() {
            sink.put(&held)?;
        }
        self.maybe_replay(sink)
    }

    fn maybe_replay(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        if !self.roll(Fault::Replay) {
            return Ok(());
        }
        let recorded = self.hostile.recordings().iter().flat_map(|r| r.way(self.way).to_vec()).collect::<Vec<_>>();
        let pool = if recorded.is_empty() || self.rng.below(2) == 0 { &self.seen } else { &recorded };
        if let Some(old) = pool.get(self.rng.below(pool.len() as u64) as usize) {
            sink.put(old)?;
        }
        Ok(())
    }

    /// A chunk of the bridge's own making.
    fn forge(&mut self) -> Vec<u8> {
        let way = self.way;
        let prefix = {
            let r = self.hostile.recordings();
            let firsts: Vec<Vec<u8>> = r.iter().filter_map(|s| s.way(way).first().cloned()).collect();
            drop(r);
            let i = self.rng.below(firsts.len() as u64) as usize;
            firsts.into_iter().nth(i)
        };
        match (self.rng.below(3), prefix) {
            (0, Some(recorded)) => recorded,
            (1, _) => {
                // A record header that parses (handshake, alert, CCS or application data,
                // version 1.1 as TLCP uses) over random bytes, to get past the first checks.
                let len = 1 + self.rng.below(300) as usize;
                let mut r = Vec::with_capacity(5 + len);
                r.push([0x14, 0x15, 0x16, 0x17][self.rng.below(4) as usize]);
                r.extend_from_slice(&[0x01, 0x01]);
                r.extend_from_slice(&(len as u16).to_be_bytes());
                r.resize(5 + len, 0);
                self.rng.fill(&mut r[5..]);
                r
            }
            _ => {
                let mut r = alloc::vec![0u8; 1 + self.rng.below(256) as usize];
                self.rng.fill(&mut r);
                r
            }
        }
    }

    /// Lets a held chunk go once it has waited long enough.
    pub(crate) fn tick(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        let due = self.held.as_ref().is_some_and(|(_, since)| since.elapsed() >= self.hostile.plan.reorder_hold);
        if let Some((held, _)) = self.held.take_if(|_| due) {
            sink.put(&held)?;
        }
        Ok(())
    }

    /// This direction's chunks, for the recording.
    pub(crate) fn into_seen(self) -> Vec<Vec<u8>> {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Collect(Vec<Vec<u8>>);

    impl Sink for Collect {
        fn put(&mut self, chunk: &[u8]) -> Result<(), Error> {
            self.0.push(chunk.to_vec());
            Ok(())
        }
    }

    fn run(plan: FaultPlan, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, FaultCounts) {
        let hostile = Arc::new(Hostile::new(plan));
        let mut t = hostile.tamper(7, Way::ToCenter);
        let mut out = Collect(Vec::new());
        for c in chunks {
            t.relay(c.to_vec(), &mut out).unwrap();
        }
        (out.0, hostile.counts())
    }

    #[test]
    fn splitmix_matches_the_reference() {
        // The first outputs of SplitMix64 seeded with 0 (reference C implementation).
        let mut r = Rng(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn no_fault_relays_everything_unchanged() {
        let chunks: [&[u8]; 3] = [b"one", b"two", b"three"];
        let (out, counts) = run(FaultPlan::new(1), &chunks);
        assert_eq!(out, chunks.map(<[u8]>::to_vec));
        assert_eq!(counts.total(), 0);
    }

    #[test]
    fn each_fault_does_what_it_says() {
        let chunks: [&[u8]; 2] = [b"first chunk", b"second chunk"];
        let (out, c) = run(FaultPlan::new(1).with(Fault::Drop, 1.0), &chunks);
        assert!(out.is_empty());
        assert_eq!(c.get(Fault::Drop), 2);

        let (out, _) = run(FaultPlan::new(1).with(Fault::Duplicate, 1.0), &chunks);
        assert_eq!(out, [&b"first chunk"[..], b"first chunk", b"second chunk", b"second chunk"]);

        let (out, c) = run(FaultPlan::new(1).with(Fault::Reorder, 1.0), &chunks);
        // The first is held, the second (also drawn for reordering) goes, then the first.
        assert_eq!(out, [&b"second chunk"[..], b"first chunk"]);
        assert_eq!(c.get(Fault::Reorder), 2);

        let (out, _) = run(FaultPlan::new(1).with(Fault::BitFlip, 1.0), &chunks);
        for (o, c) in out.iter().zip(chunks) {
            assert_eq!(o.len(), c.len());
            let flipped: u32 = o.iter().zip(c).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert!((1..=3).contains(&flipped), "{flipped}");
        }

        let (out, _) = run(FaultPlan::new(1).with(Fault::Truncate, 1.0), &chunks);
        for (o, c) in out.iter().zip(chunks) {
            assert!(!o.is_empty() && o.len() < c.len() && c.starts_with(o));
        }

        let (out, _) = run(FaultPlan::new(1).with(Fault::Replay, 1.0), &chunks);
        assert_eq!(out.len(), 4);
        assert!(chunks.contains(&&out[1][..]) && chunks.contains(&&out[3][..]));

        let (out, _) = run(FaultPlan::new(1).with(Fault::Inject, 1.0), &chunks);
        assert_eq!(out.len(), 4);
        assert_eq!((&out[1][..], &out[3][..]), (&b"first chunk"[..], &b"second chunk"[..]));
    }

    #[test]
    fn the_seed_decides_and_only_the_seed() {
        let chunks: Vec<Vec<u8>> = (0..200u8).map(|i| alloc::vec![i; 40]).collect();
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let plan = |seed| FaultPlan::all(seed, 0.1).with(Fault::Delay, 0.0);
        assert_eq!(run(plan(5), &refs), run(plan(5), &refs));
        assert_ne!(run(plan(5), &refs).0, run(plan(6), &refs).0);
        assert_ne!(FaultPlan::random(1), FaultPlan::random(2));
        assert_eq!(FaultPlan::random(3), FaultPlan::random(3));
    }

    #[test]
    fn a_held_chunk_is_released_by_time() {
        let hostile = Arc::new(Hostile::new(FaultPlan::new(1).with(Fault::Reorder, 1.0)));
        let mut t = hostile.tamper(0, Way::ToBand);
        let mut out = Collect(Vec::new());
        t.relay(b"held".to_vec(), &mut out).unwrap();
        t.tick(&mut out).unwrap();
        assert!(out.0.is_empty());
        std::thread::sleep(hostile.plan().reorder_hold);
        t.tick(&mut out).unwrap();
        assert_eq!(out.0, [b"held"]);
    }

    #[test]
    fn rates_are_clamped() {
        let p = FaultPlan::new(0).with(Fault::Drop, 7.0).with(Fault::Delay, -1.0).with(Fault::BitFlip, f64::NAN);
        assert_eq!((p.rate(Fault::Drop), p.rate(Fault::Delay), p.rate(Fault::BitFlip)), (1.0, 0.0, 0.0));
        assert_eq!(p.faults().collect::<Vec<_>>(), [Fault::Drop]);
    }
}
