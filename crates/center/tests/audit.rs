//! The audit trail on both backends: what is logged and in which order, one chain under
//! concurrent payments, signed checkpoints (from a real file key store), and the tampering
//! a database administrator could do behind the store's back, each found at its entry.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[path = "store/common.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod common;

use std::{path::Path, sync::Arc, time::Duration};

use common::{T0, TestDb, World, cny, on_both, respond, tx};
use wearpay_center::{
    AuditActor, AuditCheckpointer, AuditEntry, AuditFinding, AuditKind, Backend, CheckpointSource, PaymentResult,
    RefundId, Store, TerminalStatus,
    audit::{GENESIS_HASH, entry_hash},
    keystore::{Error as KeyError, FileKeyStore, KeyPurpose, KeyStore},
};
use wearpay_crypto::{KeyAlgorithm, PublicKey, SigningKey, portable::PROVIDER};
use wearpay_pay::{Outcome, ReasonCode, Timestamp};

/// Entry 1 of a fresh store after `create_account(customer "Alice", CNY)` at T0, computed
/// with Python's gmssl (an independent SM3) over the layout documented in `audit.rs`:
/// `"wearpay audit v1" ‖ 0^32 ‖ u64(1) ‖ u64(T0) ‖ lp("account_created") ‖ lp("admin") ‖
/// lp("account:1") ‖ lp(details)`, lp = u32 big-endian length ‖ UTF-8.
const FIRST_ENTRY_HASH: &str = "89410ec9f33b9059770d990cd4bd5ccb81345d371051bb7720e96f817b8d5170";
const FIRST_ENTRY_DETAILS: &str =
    r#"{"currency":"CNY","has_pan":0,"kind":"customer","name":"Alice","overdraft_limit":0}"#;

fn signer() -> Arc<dyn SigningKey> {
    let key: Arc<dyn wearpay_crypto::PrivateKey> =
        Arc::from(wearpay_pki::keys::generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap());
    key
}

async fn all_entries(store: &Store) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    loop {
        let page = store.audit_entries(out.last().map_or(0, |e| e.seq), 1000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Each entry hashes to what it stores and links to the one before; seqs are 1..=n.
fn assert_chain(entries: &[AuditEntry]) {
    let mut prev = GENESIS_HASH;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "numbered without gaps");
        assert_eq!(e.prev_hash, prev, "entry {} links to the one before", e.seq);
        assert_eq!(e.computed_hash(), e.hash, "entry {} hashes to its stored hash", e.seq);
        prev = e.hash;
    }
}

// ---- what is logged ---------------------------------------------------------------------

async fn decisions_and_admin_actions_in_order(store: &Store) {
    let w = World::new(store, "100.00").await;
    let setup = all_entries(store).await;
    // World::new: payer, its deposit, the merchant account, the merchant, the terminal.
    let kinds: Vec<_> = setup.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::AccountCreated,
            AuditKind::Deposit,
            AuditKind::AccountCreated,
            AuditKind::MerchantCreated,
            AuditKind::TerminalEnrolled
        ]
    );
    assert_eq!(hex::encode(setup[0].hash), FIRST_ENTRY_HASH, "entry 1 matches the gmssl vector");
    assert_eq!(setup[0].details, FIRST_ENTRY_DETAILS);
    assert_eq!((setup[0].subject.as_str(), &setup[0].actor), ("account:1", &AuditActor::Admin));
    let ours = entry_hash(&GENESIS_HASH, 1, T0.0, "account_created", "admin", "account:1", FIRST_ENTRY_DETAILS);
    assert_eq!(hex::encode(ours), FIRST_ENTRY_HASH);
    assert_eq!(setup[4].subject, format!("terminal:{}", w.terminal));

    let order = w.order("ORD-1", "30.00").await;
    let t = w.terminal.clone();
    let approved = store.commit_payment(&w.record(1, &t, &order, "30.00", 1), T0, respond).await.unwrap();
    assert_eq!(approved.outcome(), Outcome::Approved);
    // A retry of the same bytes is answered from the store and logs nothing.
    let replay = store.commit_payment(&w.record(1, &t, &order, "30.00", 1), T0, respond).await.unwrap();
    assert!(matches!(replay, PaymentResult::Replayed(_)));
    let paid_again = store.commit_payment(&w.record(2, &t, &order, "30.00", 2), T0, respond).await.unwrap();
    assert_eq!(paid_again.outcome(), Outcome::Declined(ReasonCode::OrderPaid));
    let order2 = w.order("ORD-2", "10.00").await;
    let bad = store
        .record_decline(&w.record(3, &t, &order2, "10.00", 3), ReasonCode::BadSignature, T0, respond)
        .await
        .unwrap();
    assert_eq!(bad.outcome(), Outcome::Declined(ReasonCode::BadSignature));
    let refund = store.refund(&RefundId::new("R-1").unwrap(), &tx(1), cny("5.00").amount, T0).await.unwrap();
    // A refused refund changes nothing and logs nothing.
    store.refund(&RefundId::new("R-2").unwrap(), &tx(1), cny("99.00").amount, T0).await.unwrap_err();
    store.set_terminal_status(&t, TerminalStatus::Suspended, T0).await.unwrap();
    store.set_terminal_status(&t, TerminalStatus::Suspended, T0).await.unwrap(); // no change, no entry
    store.set_terminal_status(&t, TerminalStatus::Active, T0).await.unwrap();
    store.set_terminal_status(&t, TerminalStatus::Revoked, T0).await.unwrap();
    store.set_pin_verification(w.payer, Some(vec![7; 32])).await.unwrap();
    for _ in 0..store.config().pin_max_tries {
        store.record_pin_attempt(w.payer, false, T0).await.unwrap();
    }
    assert!(store.record_pin_attempt(w.payer, false, T0).await.unwrap().locked, "locked, and counted once");
    store.unlock_pin(w.payer, T0).await.unwrap();
    store.expire_orders(Timestamp(T0.0 + 40 * 86_400)).await.unwrap();

    let entries = all_entries(store).await;
    assert_chain(&entries);
    let tail: Vec<_> =
        entries[setup.len()..].iter().map(|e| (e.kind.to_string(), e.actor.to_string(), e.subject.clone())).collect();
    let terminal_actor = format!("terminal:{t}");
    let terminal_subject = format!("terminal:{t}");
    let payer = format!("account:{}", w.payer.0);
    let expected = [
        ("order_created", "merchant:M-0001".to_owned(), "order:ORD-1".to_owned()),
        ("payment_approved", terminal_actor.clone(), format!("payment:{}", tx(1))),
        ("payment_declined:order_paid", terminal_actor.clone(), format!("payment:{}", tx(2))),
        ("order_created", "merchant:M-0001".to_owned(), "order:ORD-2".to_owned()),
        ("payment_declined:bad_signature", terminal_actor, format!("payment:{}", tx(3))),
        ("refund", "admin".to_owned(), "refund:R-1".to_owned()),
        ("terminal_suspended", "admin".to_owned(), terminal_subject.clone()),
        ("terminal_reactivated", "admin".to_owned(), terminal_subject.clone()),
        ("terminal_revoked", "admin".to_owned(), terminal_subject),
        ("pin_locked", "system".to_owned(), payer.clone()),
        ("pin_unlocked", "admin".to_owned(), payer),
        ("orders_expired", "system".to_owned(), "orders".to_owned()),
    ];
    let expected: Vec<_> = expected.into_iter().map(|(k, a, s)| (k.to_owned(), a, s)).collect();
    assert_eq!(tail, expected);

    // The particulars are canonical JSON of what happened.
    let payment = &entries[setup.len() + 1];
    let PaymentResult::Recorded(rec) = approved else { panic!("recorded") };
    assert_eq!(
        payment.details,
        format!(
            concat!(
                r#"{{"amount":3000,"balance_after":7000,"counter":"1","currency":"CNY","ledger_tx":{},"#,
                r#""merchant":{},"mode":"quick","order_id":"ORD-1","payer":{},"request_sm3":"{}"}}"#
            ),
            rec.ledger_tx.unwrap().0,
            w.merchant_account.0,
            w.payer.0,
            hex::encode(store.lookup_tx(&tx(1)).await.unwrap().unwrap().request_hash)
        )
    );
    assert!(entries[setup.len() + 5].details.contains(&format!(r#""ledger_tx":{}"#, refund.ledger_tx.0)));
    assert_eq!(entries[setup.len() + 9].details, r#"{"failures":5}"#);

    // Unsealed until a checkpoint.
    let key = signer();
    let report = store.audit_verify(&key.public_key(), None).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.entries, report.sealed_seq, report.unsealed), (entries.len() as u64, 0, entries.len() as u64));
    assert!(store.ledger_check().await.unwrap().ok);
}

// ---- one chain under concurrency, sealed as it grows ----------------------------------------

async fn concurrent_payments_keep_one_chain(store: &Store) {
    const N: u32 = 50;
    let w = World::new(store, "10000.00").await;
    let mut records = Vec::new();
    for i in 0..N {
        let t = w.enroll(100 + i).await;
        let order = w.order(&format!("ORD-{i}"), "1.00").await;
        records.push(w.record(u128::from(i) + 1, &t, &order, "1.00", 1));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.checkpoints");
    let key = signer();
    let checkpointer = AuditCheckpointer::new(store.clone(), key.clone())
        .every(10)
        .file(&file)
        .poll_interval(Duration::from_millis(10));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sealer = {
        let c = checkpointer.clone();
        tokio::spawn(async move { c.run(async move { stopped.await.unwrap() }, || T0).await })
    };

    // The first look seals the setup; the payments then go on while the checkpointer runs.
    while store.audit_status().await.unwrap().sealed_seq == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tasks: Vec<_> = records
        .into_iter()
        .map(|r| {
            let s = store.clone();
            tokio::spawn(async move { s.commit_payment(&r, T0, respond).await.unwrap().outcome() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Outcome::Approved);
    }
    stop.send(()).unwrap();
    sealer.await.unwrap().unwrap();

    let entries = all_entries(store).await;
    assert_chain(&entries);
    let payments: Vec<_> = entries.iter().filter(|e| e.kind == AuditKind::PaymentApproved).collect();
    assert_eq!(payments.len(), N as usize);
    let mut subjects: Vec<_> = payments.iter().map(|e| e.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), N as usize, "one entry per payment");

    let report = store.audit_verify(&key.public_key(), Some(&file)).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.last_seq, entries.len() as u64);
    assert_eq!((report.sealed_seq, report.unsealed), (report.last_seq, 0), "sealed at shutdown");
    let cps = store.audit_checkpoints().await.unwrap();
    assert!(cps.len() >= 2, "periodic and final checkpoints: {}", cps.len());
    assert_eq!(report.checkpoints, 2 * cps.len() as u64, "each in the database and in the file");
    // Each periodic checkpoint came once at least 10 entries were unsealed.
    assert!(cps.windows(2).all(|w| w[1].seq > w[0].seq));
    // Nothing new: no checkpoint.
    assert_eq!(checkpointer.checkpoint_now(T0).await.unwrap(), None);
    assert!(store.ledger_check().await.unwrap().ok);
}

async fn checkpoints_with_the_key_store_audit_key(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let (ks, public) =
        FileKeyStore::create_with_iterations(&keys, b"correct horse", KeyAlgorithm::Sm2, &PROVIDER, 1000).unwrap();
    let audit_key = ks.signing_key(KeyPurpose::AuditSign).unwrap();
    assert_eq!(audit_key.public_key(), public.audit_sign);
    assert_ne!(public.audit_sign, public.receipt_sign, "a key of its own");
    World::new(store, "1.00").await;
    let file = dir.path().join("checkpoints");
    let cp = store.audit_checkpoint(&*audit_key, T0, Some(&file)).await.unwrap().unwrap();
    assert_eq!(cp.seq, 5);
    assert_eq!(cp.algorithm, "sm2-sm3");
    // The signature is over the documented message, checked here without the store.
    let mut msg = b"wearpay audit checkpoint v1".to_vec();
    msg.extend_from_slice(&5u64.to_be_bytes());
    msg.extend_from_slice(&all_entries(store).await[4].hash);
    PROVIDER.verify(&public.audit_sign, wearpay_crypto::SignatureScheme::Sm2Sm3, &msg, &cp.signature).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{}\n", cp.to_line()));
    assert_eq!(store.audit_checkpoint(&*audit_key, T0, Some(&file)).await.unwrap(), None, "nothing new");

    let report = store.audit_verify(&public.audit_sign, Some(&file)).await.unwrap();
    assert!(report.ok && report.sealed_seq == 5, "{report:?}");
    // Another key (here the receipt key) does not verify the checkpoints.
    let report = store.audit_verify(&public.receipt_sign, Some(&file)).await.unwrap();
    assert_eq!(
        report.findings,
        [
            AuditFinding::BadCheckpointSignature { seq: 5, source: CheckpointSource::Database },
            AuditFinding::BadCheckpointSignature { seq: 5, source: CheckpointSource::File { line: 1 } },
        ]
    );
}

on_both!(
    decisions_and_admin_actions_in_order,
    concurrent_payments_keep_one_chain,
    checkpoints_with_the_key_store_audit_key
);

#[test]
fn a_key_store_without_the_audit_key_fails_to_open_until_it_is_added() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) =
        FileKeyStore::create_with_iterations(dir.path(), b"correct horse", KeyAlgorithm::Sm2, &PROVIDER, 1000).unwrap();
    // A key store from before the audit key: every file but audit-sign.key.
    let path = FileKeyStore::file_path(dir.path(), KeyPurpose::AuditSign);
    std::fs::remove_file(&path).unwrap();
    let err = FileKeyStore::open(dir.path(), b"correct horse", &PROVIDER).unwrap_err();
    assert!(matches!(&err, KeyError::MissingFile { purpose: KeyPurpose::AuditSign, .. }), "{err}");
    assert!(err.to_string().contains("audit-sign.key"), "{err}");

    assert!(matches!(
        FileKeyStore::add_audit_key(dir.path(), b"wrong password", &PROVIDER),
        Err(KeyError::WrongPassword)
    ));
    assert!(!path.exists(), "nothing written under a wrong password");
    let added = FileKeyStore::add_audit_key(dir.path(), b"correct horse", &PROVIDER).unwrap();
    assert_ne!(added, public.audit_sign, "a new key");
    let ks = FileKeyStore::open(dir.path(), b"correct horse", &PROVIDER).unwrap();
    assert_eq!(ks.public_key(KeyPurpose::AuditSign).unwrap(), added);
    assert!(matches!(
        FileKeyStore::add_audit_key(dir.path(), b"correct horse", &PROVIDER),
        Err(KeyError::AlreadyExists { .. })
    ));
}

// ---- tampering behind the store's back ---------------------------------------------------

/// Runs each named `async fn(&TestDb)` on both backends: these tests edit the database
/// directly, so they need more than the store.
macro_rules! on_both_raw {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&$crate::common::TestDb::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres().await {
                    super::$name(&db).await;
                }
            }
        }
    )*};
}

/// A log of 5 setup entries, an order (6) and 9 payments for it (7 to 15: the first
/// approved, the others declined `order_paid`), checkpointed at 9 and at 15, then 2 more
/// entries (unsealed).
struct Sealed {
    key: Arc<dyn SigningKey>,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

impl Sealed {
    async fn new(store: &Store) -> Self {
        let w = World::new(store, "1000.00").await;
        let key = signer();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.checkpoints");
        let t = w.terminal.clone();
        let order = w.order("ORD", "1.00").await; // entry 6
        for i in 1..=9u64 {
            // The first pays the order; the others find it paid.
            store.commit_payment(&w.record(u128::from(i), &t, &order, "1.00", i), T0, respond).await.unwrap();
            if i == 3 {
                assert_eq!(store.audit_checkpoint(&*key, T0, Some(&file)).await.unwrap().unwrap().seq, 9);
            }
        }
        assert_eq!(store.audit_checkpoint(&*key, T0, Some(&file)).await.unwrap().unwrap().seq, 15);
        w.order("ORD-X", "2.00").await;
        store.deposit(w.payer, cny("1.00"), T0).await.unwrap();
        let sealed = Self { key, _dir: dir, file };
        let report = sealed.verify(store).await;
        assert!(report.ok, "{report:?}");
        assert_eq!((report.last_seq, report.sealed_seq, report.unsealed, report.checkpoints), (17, 15, 2, 4));
        sealed
    }

    fn public(&self) -> PublicKey {
        self.key.public_key()
    }

    async fn verify(&self, store: &Store) -> wearpay_center::AuditReport {
        store.audit_verify(&self.public(), Some(&self.file)).await.unwrap()
    }
}

/// Drops the append-only triggers, as an administrator with the owner's rights could.
async fn drop_guards(db: &TestDb) {
    let sql = match db.store.backend() {
        Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
             DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;"
        }
        Backend::Postgres => {
            "DROP TRIGGER audit_log_append_only ON audit_log; \
             DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints;"
        }
    };
    db.raw(sql).await.unwrap();
}

/// A byte-string literal in the backend's SQL.
fn blob(db: &TestDb, b: &[u8]) -> String {
    match db.store.backend() {
        Backend::Sqlite => format!("X'{}'", hex::encode(b)),
        Backend::Postgres => format!("decode('{}', 'hex')", hex::encode(b)),
    }
}

async fn the_log_refuses_plain_edits(db: &TestDb) {
    let s = Sealed::new(&db.store).await;
    for sql in [
        "UPDATE audit_log SET details = '{}' WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 17",
        "DELETE FROM audit_checkpoints WHERE seq = 15",
        "UPDATE audit_checkpoints SET at = 0",
    ] {
        let err = db.raw(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert!(s.verify(&db.store).await.ok);
}

async fn a_modified_entry_is_found(db: &TestDb) {
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    // Entry 7 (the approved payment): a smaller amount.
    let n = db.raw("UPDATE audit_log SET details = replace(details, '\"amount\":100', '\"amount\":1') WHERE seq = 7");
    assert_eq!(n.await.unwrap(), 1);
    let report = s.verify(&db.store).await;
    assert!(!report.ok);
    assert_eq!(report.first(), Some(&AuditFinding::ModifiedEntry { seq: 7 }));
    // The checkpoints after it no longer match the chain either; entry 7's neighbours do.
    assert!(report.findings.contains(&AuditFinding::CheckpointMismatch { seq: 9, source: CheckpointSource::Database }));
    assert!(
        report
            .findings
            .contains(&AuditFinding::CheckpointMismatch { seq: 15, source: CheckpointSource::File { line: 2 } })
    );
    assert_eq!(report.findings.iter().filter(|f| matches!(f, AuditFinding::ModifiedEntry { .. })).count(), 1);
}

async fn a_rehashed_entry_is_found(db: &TestDb) {
    // Editing entry 10 and writing its new hash: the next link breaks, and the checkpoint.
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    let e = all_entries(&db.store).await.into_iter().nth(9).unwrap();
    let details = e.details.replace("\"amount\":100", "\"amount\":1");
    assert_ne!(details, e.details);
    let kind = e.kind.to_string();
    let forged = entry_hash(&e.prev_hash, 10, e.at.0, &kind, &e.actor.to_string(), &e.subject, &details);
    let sql = format!("UPDATE audit_log SET details = '{details}', hash = {} WHERE seq = 10", blob(db, &forged));
    assert_eq!(db.raw(&sql).await.unwrap(), 1);
    let report = s.verify(&db.store).await;
    assert_eq!(report.first(), Some(&AuditFinding::BrokenLink { seq: 11 }), "{report:?}");
    assert!(
        report.findings.contains(&AuditFinding::CheckpointMismatch { seq: 15, source: CheckpointSource::Database })
    );
}

async fn a_deleted_middle_entry_is_found(db: &TestDb) {
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    assert_eq!(db.raw("DELETE FROM audit_log WHERE seq = 12").await.unwrap(), 1);
    let report = s.verify(&db.store).await;
    assert_eq!(report.first(), Some(&AuditFinding::DeletedEntries { seq: 12, last: 12 }), "{report:?}");
    assert!(
        report.findings.contains(&AuditFinding::CheckpointMismatch { seq: 15, source: CheckpointSource::Database })
    );
}

async fn an_inserted_entry_is_found(db: &TestDb) {
    // A forged payment put in as entry 8, with a correct hash and link; everything after it
    // moves up by one, as does the recorded head.
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    let entries = all_entries(&db.store).await;
    for seq in (8..=17).rev() {
        db.raw(&format!("UPDATE audit_log SET seq = {} WHERE seq = {seq}", seq + 1)).await.unwrap();
    }
    let prev = entries[6].hash;
    let (kind, actor, subject, details) =
        ("payment_approved", entries[6].actor.to_string(), "payment:ffff", r#"{"amount":100000}"#);
    let hash = entry_hash(&prev, 8, T0.0, kind, &actor, subject, details);
    db.raw(&format!(
        "INSERT INTO audit_log (seq, at, kind, actor, subject, details, prev_hash, hash) \
         VALUES (8, {}, '{kind}', '{actor}', '{subject}', '{details}', {}, {}); \
         UPDATE audit_head SET seq = 18",
        T0.0,
        blob(db, &prev),
        blob(db, &hash)
    ))
    .await
    .unwrap();
    let report = s.verify(&db.store).await;
    assert_eq!(report.first(), Some(&AuditFinding::InsertedEntry { seq: 8 }), "{report:?}");
    assert!(report.findings.contains(&AuditFinding::CheckpointMismatch { seq: 9, source: CheckpointSource::Database }));
}

async fn a_cut_tail_is_found_by_the_file(db: &TestDb) {
    // Entries 12 to 17 removed with the checkpoint at 15, and the head set back to 11: the
    // database alone looks whole; the checkpoint file does not.
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    let eleven = all_entries(&db.store).await[10].hash;
    db.raw(&format!(
        "DELETE FROM audit_log WHERE seq > 11; DELETE FROM audit_checkpoints WHERE seq > 11; \
         UPDATE audit_head SET seq = 11, hash = {} WHERE id = 1",
        blob(db, &eleven)
    ))
    .await
    .unwrap();
    let alone = db.store.audit_verify(&s.public(), None).await.unwrap();
    assert!(alone.ok, "without the file the cut is invisible: {alone:?}");
    assert_eq!((alone.last_seq, alone.sealed_seq, alone.unsealed), (11, 9, 2));

    let report = s.verify(&db.store).await;
    assert!(!report.ok);
    assert_eq!(
        report.first(),
        Some(&AuditFinding::TailTruncated { seq: 12, named: 15, source: Some(CheckpointSource::File { line: 2 }) }),
        "{report:?}"
    );
    assert!(report.findings.contains(&AuditFinding::CheckpointMissing { seq: 15 }));
}

/// A cut that leaves the recorded head alone is found without the file.
async fn a_cut_tail_is_found_by_the_head(db: &TestDb) {
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    db.raw("DELETE FROM audit_log WHERE seq > 16").await.unwrap();
    let report = db.store.audit_verify(&s.public(), None).await.unwrap();
    assert_eq!(report.first(), Some(&AuditFinding::TailTruncated { seq: 17, named: 17, source: None }), "{report:?}");
}

async fn a_changed_signature_is_found(db: &TestDb) {
    let s = Sealed::new(&db.store).await;
    drop_guards(db).await;
    let cp = db.store.audit_checkpoints().await.unwrap().remove(0);
    let mut sig = cp.signature.clone();
    let last = sig.len() - 2;
    sig[last] ^= 1;
    let sql = format!("UPDATE audit_checkpoints SET signature = {} WHERE seq = 9", blob(db, &sig));
    assert_eq!(db.raw(&sql).await.unwrap(), 1);
    let report = s.verify(&db.store).await;
    assert_eq!(
        report.findings,
        [AuditFinding::BadCheckpointSignature { seq: 9, source: CheckpointSource::Database }],
        "{report:?}"
    );
    // The file's copy still verifies, so the log stays sealed to 15.
    assert_eq!(report.sealed_seq, 15);
}

async fn a_damaged_checkpoint_file_is_found(db: &TestDb) {
    let s = Sealed::new(&db.store).await;
    let text = std::fs::read_to_string(&s.file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Line 1 with another head (the signature no longer fits), line 2 cut in half.
    let mut words: Vec<String> = lines[0].split(' ').map(String::from).collect();
    words[3] = "00".repeat(32);
    let damaged = format!("{}\n{}\n", words.join(" "), &lines[1][..lines[1].len() / 2]);
    write(&s.file, &damaged);
    let report = s.verify(&db.store).await;
    assert_eq!(
        report.findings,
        [
            AuditFinding::CheckpointFileCorrupt { line: 2 },
            AuditFinding::BadCheckpointSignature { seq: 9, source: CheckpointSource::File { line: 1 } },
        ],
        "{report:?}"
    );
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

on_both_raw!(
    the_log_refuses_plain_edits,
    a_modified_entry_is_found,
    a_rehashed_entry_is_found,
    a_deleted_middle_entry_is_found,
    an_inserted_entry_is_found,
    a_cut_tail_is_found_by_the_file,
    a_cut_tail_is_found_by_the_head,
    a_changed_signature_is_found,
    a_damaged_checkpoint_file_is_found,
);
