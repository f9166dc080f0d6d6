-- The audit trail, PostgreSQL: an append-only log chained by SM3, and signed checkpoints of
-- its head. The chaining rule, the checkpoint signature and how both are checked are written
-- down in src/audit.rs. Keep in step with ../sqlite/0002_audit.sql.

-- One entry per authorization decision or administrative action, appended in the same
-- transaction as the change it records. seq is assigned by the store under the head's row
-- lock, 1, 2, 3… without gaps (a sequence would leave gaps on rollback).
CREATE TABLE audit_log (
    seq        BIGINT  PRIMARY KEY CHECK (seq >= 1),
    at         BIGINT  NOT NULL CHECK (at >= 0),
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,  -- terminal:<serial hex>, admin, merchant:<id>, system
    subject    TEXT    NOT NULL,  -- what the entry is about: payment:<tx_id hex>, account:<id>…
    details    TEXT    NOT NULL,  -- canonical JSON
    prev_hash  BYTEA   NOT NULL CHECK (length(prev_hash) = 32),
    hash       BYTEA   NOT NULL CHECK (length(hash) = 32)
);

-- The chain head: one row, which every append updates first. Its row lock, held until the
-- commit, serializes concurrent appenders, so the chain stays linear.
CREATE TABLE audit_head (
    id    BIGINT  PRIMARY KEY CHECK (id = 1),
    seq   BIGINT  NOT NULL CHECK (seq >= 0),
    hash  BYTEA   NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Signed heads: entries 1..=seq hash to head_hash.
CREATE TABLE audit_checkpoints (
    seq        BIGINT  PRIMARY KEY CHECK (seq >= 1),
    head_hash  BYTEA   NOT NULL CHECK (length(head_hash) = 32),
    signature  BYTEA   NOT NULL,
    key_id     TEXT    NOT NULL,  -- hex SM3 of the signing key's SubjectPublicKeyInfo
    algorithm  TEXT    NOT NULL,  -- sm2-sm3, rsa-pkcs1-sha256, rsa-pkcs1-sm3
    at         BIGINT  NOT NULL CHECK (at >= 0)
);

-- Append-only: the store never changes or removes an entry or a checkpoint. (The owner can
-- drop these triggers; the chain and the signed checkpoints are what show an edit.)
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
