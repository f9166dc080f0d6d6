-- The audit trail, SQLite: an append-only log chained by SM3, and signed checkpoints of its
-- head. The chaining rule, the checkpoint signature and how both are checked are written
-- down in src/audit.rs. Keep in step with ../postgres/0002_audit.sql.

-- One entry per authorization decision or administrative action, appended in the same
-- transaction as the change it records. seq is assigned by the store, 1, 2, 3… without gaps.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
    at         INTEGER NOT NULL CHECK (at >= 0),
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,  -- terminal:<serial hex>, admin, merchant:<id>, system
    subject    TEXT    NOT NULL,  -- what the entry is about: payment:<tx_id hex>, account:<id>…
    details    TEXT    NOT NULL,  -- canonical JSON
    prev_hash  BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

-- The chain head: one row, which every append updates first, so that appends are serialized
-- and the chain stays linear (SQLite has one writer anyway; the row keeps both backends alike).
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL CHECK (seq >= 0),
    hash  BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Signed heads: entries 1..=seq hash to head_hash.
CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
    head_hash  BLOB    NOT NULL CHECK (length(head_hash) = 32),
    signature  BLOB    NOT NULL,
    key_id     TEXT    NOT NULL,  -- hex SM3 of the signing key's SubjectPublicKeyInfo
    algorithm  TEXT    NOT NULL,  -- sm2-sm3, rsa-pkcs1-sha256, rsa-pkcs1-sm3
    at         INTEGER NOT NULL CHECK (at >= 0)
) STRICT;

-- Append-only: the store never changes or removes an entry or a checkpoint. (Someone who
-- can drop these triggers can still edit the file; the chain and the signed checkpoints
-- are what show that.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
