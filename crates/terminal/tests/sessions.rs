//! The band's sealed TLCP sessions: they survive a restart and the next payment resumes;
//! an altered, cut, foreign or expired file is set aside and a full handshake follows.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{DEVICE_SECRET, SERVER_NAME, World, willing_user};
use wearpay_crypto::Zeroizing;
use wearpay_pay::{Mode, Outcome};
use wearpay_terminal::{
    Approval, Provisioning, Scripted, ScriptedUi, SealedSessionStore, SessionsDiscarded, SoftSe, Terminal,
};
use wearpay_tlcp::session::{SessionStore, StoredSession};
use wearpay_tlcp::{CipherSuite, UnixTime, prf::MASTER_SECRET_LEN};

const LIFETIME: u64 = 3600;
const T0: u64 = 1_750_000_000;

fn session(created: u64, fill: u8) -> StoredSession {
    StoredSession {
        id: vec![fill; 32],
        suite: CipherSuite::ECC_SM4_GCM_SM3,
        master_secret: Zeroizing::new([fill; MASTER_SECRET_LEN]),
        created: UnixTime(created),
        peer: None,
        peer_subject: String::from("CN=center.wearpay.test,O=wearpay center"),
    }
}

fn se(dir: &Path) -> SoftSe {
    let path = dir.join("se.state");
    if path.exists() {
        SoftSe::open(&path, DEVICE_SECRET).unwrap()
    } else {
        SoftSe::create_with_iterations(&path, DEVICE_SECRET, 1_000).unwrap()
    }
}

/// A file holding one session for `center.example`, created at T0.
fn saved(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sessions");
    let (store, why) = SealedSessionStore::load(&path, &se(dir), LIFETIME, UnixTime(T0));
    assert_eq!((store.len(), why), (0, None), "a missing file is an empty store, without a warning");
    store.put(b"center.example", session(T0, 0x42));
    store.save(UnixTime(T0)).unwrap();
    path
}

fn load_at(dir: &Path, path: &Path, now: u64) -> (SealedSessionStore, Option<SessionsDiscarded>) {
    SealedSessionStore::load(path, &se(dir), LIFETIME, UnixTime(now))
}

#[test]
fn a_session_round_trips_through_the_sealed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let (store, why) = load_at(dir.path(), &path, T0 + 10);
    assert_eq!(why, None);
    let s = store.get(b"center.example", UnixTime(T0 + 10)).unwrap();
    let want = session(T0, 0x42);
    assert_eq!(
        (&s.id, s.suite, *s.master_secret, s.created),
        (&want.id, want.suite, *want.master_secret, want.created)
    );
    assert_eq!(s.peer_subject, want.peer_subject);
    assert!(s.peer.is_none());
    assert!(store.get(b"other.example", UnixTime(T0 + 10)).is_none());

    // Neither the master secret nor the session id is on disk in clear.
    let file = std::fs::read(&path).unwrap();
    assert!(file.starts_with(b"WPSS\x01"));
    let contains = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&[0x42; 16]) && !contains(b"center.example"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Every write draws a fresh nonce: the same sessions seal to different bytes.
    store.save(UnixTime(T0 + 10)).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), file);
}

#[test]
fn an_altered_or_cut_file_is_set_aside_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let good = std::fs::read(&path).unwrap();
    let with = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let (store, why) = load_at(dir.path(), &path, T0 + 1);
        assert!(store.is_empty() && store.get(b"center.example", UnixTime(T0 + 1)).is_none());
        why.unwrap()
    };
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x01;
        b
    };
    // Header: magic, version, nonce, length; then the ciphertext and the tag.
    assert_eq!(with(&flip(0)), SessionsDiscarded::NotSessionsFile);
    assert_eq!(with(&flip(4)), SessionsDiscarded::UnsupportedVersion(0));
    assert_eq!(with(&flip(5)), SessionsDiscarded::Tampered, "nonce");
    assert_eq!(with(&flip(5 + 12 + 3)), SessionsDiscarded::Truncated, "length");
    for at in [5 + 12 + 4, good.len() / 2, good.len() - 17, good.len() - 1] {
        assert_eq!(with(&flip(at)), SessionsDiscarded::Tampered, "byte {at}");
    }
    // Cut anywhere, or appended to.
    for cut in [0, 3, 5, 20, good.len() - 16, good.len() - 1] {
        let why = with(&good[..cut]);
        assert!(matches!(why, SessionsDiscarded::Truncated | SessionsDiscarded::NotSessionsFile), "{cut}: {why:?}");
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(with(&longer), SessionsDiscarded::Truncated);
    // A directory where the file should be cannot be read.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(matches!(load_at(dir.path(), &path, T0).1, Some(SessionsDiscarded::Unreadable(_))));
    std::fs::remove_dir(&path).unwrap();

    // The reason reads as a warning, and a store that set its file aside saves a good one.
    std::fs::write(&path, flip(good.len() / 2)).unwrap();
    let (store, why) = load_at(dir.path(), &path, T0 + 1);
    assert!(why.unwrap().to_string().contains("does not authenticate"));
    store.put(b"center.example", session(T0 + 1, 0x43));
    store.save(UnixTime(T0 + 1)).unwrap();
    let (store, why) = load_at(dir.path(), &path, T0 + 2);
    assert_eq!((store.len(), why), (1, None));
}

#[test]
fn another_bands_file_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    // Another secure element, even with the same device secret, has another key.
    let other = tempfile::tempdir().unwrap();
    let (store, why) = SealedSessionStore::load(&path, &se(other.path()), LIFETIME, UnixTime(T0 + 1));
    assert_eq!((store.len(), why), (0, Some(SessionsDiscarded::Tampered)));
}

#[test]
fn sessions_expire_and_a_clock_gone_back_offers_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let (store, why) = load_at(dir.path(), &path, T0 + LIFETIME - 1);
    assert_eq!((store.len(), why), (1, None));
    assert!(store.has_session("center.example", UnixTime(T0 + LIFETIME - 1)));
    // In memory too, a session is offered for its lifetime and no longer.
    assert!(!store.has_session("center.example", UnixTime(T0 + LIFETIME)));
    assert!(store.get(b"center.example", UnixTime(T0 + LIFETIME)).is_none());
    assert!(store.is_empty(), "an expired session is dropped when asked for");

    // On load: expired at the lifetime, and not offered to a clock behind its creation.
    assert_eq!(load_at(dir.path(), &path, T0 + LIFETIME).0.len(), 0);
    assert_eq!(load_at(dir.path(), &path, T0 - 1).0.len(), 0);
    // Saving drops what has expired.
    let (store, _) = load_at(dir.path(), &path, T0);
    store.put(b"newer.example", session(T0 + 100, 7));
    store.save(UnixTime(T0 + LIFETIME + 50)).unwrap();
    let (store, why) = load_at(dir.path(), &path, T0 + LIFETIME + 50);
    assert_eq!((store.len(), why), (1, None));
    assert!(store.has_session("newer.example", UnixTime(T0 + LIFETIME + 50)));
    // A lifetime beyond a day is held to a day, as a center holds it.
    let (long, _) = SealedSessionStore::load(dir.path().join("x"), &se(dir.path()), u64::MAX, UnixTime(T0));
    long.put(b"c", session(T0, 1));
    assert!(long.has_session("c", UnixTime(T0 + 86_399)) && !long.has_session("c", UnixTime(T0 + 86_400)));
}

#[test]
fn the_store_keeps_a_few_sessions_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SealedSessionStore::load(dir.path().join("s"), &se(dir.path()), LIFETIME, UnixTime(T0));
    for i in 0..6u8 {
        store.put(format!("center-{i}").as_bytes(), session(T0 + u64::from(i), i));
    }
    assert_eq!(store.len(), wearpay_terminal::sessions::SESSIONS_CAPACITY);
    assert!(!store.has_session("center-0", UnixTime(T0 + 10)), "the oldest goes first");
    assert!(store.has_session("center-5", UnixTime(T0 + 10)));
    store.remove(b"center-5");
    assert!(!store.has_session("center-5", UnixTime(T0 + 10)));
    // A server's session (it names its peer) is not a band's to keep.
    let mut server_side = session(T0, 9);
    server_side.peer = Some(wearpay_tlcp::verify::PeerIdentity {
        subject: "CN=band".into(),
        serial: vec![1],
        sign_key: wearpay_crypto::SigningKey::public_key(
            &*wearpay_pki::generate_key(&wearpay_crypto::portable::PROVIDER, wearpay_crypto::KeyAlgorithm::Sm2)
                .unwrap(),
        ),
        certs: vec![],
    });
    store.put(b"server", server_side);
    assert!(!store.has_session("server", UnixTime(T0 + 10)));
}

/// A band over `store`, as a fresh run of the command would make it.
fn band_with(
    world: &World,
    se_path: &Path,
    provisioning: &Provisioning,
    store: Arc<SealedSessionStore>,
) -> Terminal<SoftSe, ScriptedUi, wearpay_terminal::SetClock> {
    let mut se = SoftSe::open(se_path, DEVICE_SECRET).unwrap();
    se.set_user(willing_user());
    let ui = ScriptedUi::new([Scripted::Press(Approval::Pressed)]);
    Terminal::new(se, ui, world.clock.clone(), provisioning.clone(), store).unwrap()
}

#[test]
fn a_restarted_band_resumes_and_an_altered_file_costs_one_full_handshake() {
    let world = World::new();
    let enrolled = world.enroll_band("band-1");
    let provisioning = enrolled.provisioning().clone();
    let se_path = enrolled.se().path().to_path_buf();
    drop(enrolled);
    let sessions = world.dir.path().join("band-1.sessions");
    let now = || UnixTime(common::system_now().0);
    let run = |order: &str| {
        let se = SoftSe::open(&se_path, DEVICE_SECRET).unwrap();
        let (store, why) = SealedSessionStore::load(&sessions, &se, LIFETIME, now());
        let store = Arc::new(store);
        let mut band = band_with(&world, &se_path, &provisioning, store.clone());
        let order = world.order(order, "1.00");
        let outcome = band.pay(&order, Mode::Quick, world.connect()).unwrap();
        assert_eq!(outcome.outcome, Outcome::Approved);
        store.save(now()).unwrap();
        (band.last_handshake().unwrap().resumed, why)
    };

    assert_eq!(run("ORD-1"), (false, None), "the first run has no session");
    assert!(std::fs::metadata(&sessions).unwrap().len() > 0);
    assert_eq!(run("ORD-2"), (true, None), "the second run resumes the first's session");

    // An altered file: a warning, a full handshake, and the payment goes through.
    let mut bytes = std::fs::read(&sessions).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x80;
    std::fs::write(&sessions, &bytes).unwrap();
    assert_eq!(run("ORD-3"), (false, Some(SessionsDiscarded::Tampered)));
    // A truncated one too.
    let bytes = std::fs::read(&sessions).unwrap();
    std::fs::write(&sessions, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(run("ORD-4"), (false, Some(SessionsDiscarded::Truncated)));
    // And the session of that full handshake is resumed next time.
    assert_eq!(run("ORD-5"), (true, None));
    let se = SoftSe::open(&se_path, DEVICE_SECRET).unwrap();
    let (store, _) = SealedSessionStore::load(&sessions, &se, LIFETIME, now());
    assert!(store.has_session(SERVER_NAME, now()));
    assert_eq!(world.balance(world.merchant_account), 500);
    assert!(world.ledger_ok());
}
