-- Merchant webhooks, SQLite: where each merchant wants its events, and the outbox of events
-- still to send (see src/webhook). Keep in step with ../postgres/0004_webhooks.sql.

-- One endpoint per merchant. The signing secret is kept sealed by the key store (SM4-GCM
-- under a key derived from its PIN-verification secret, labelled with the merchant id),
-- never in clear: the database alone does not give it away.
CREATE TABLE merchant_webhooks (
    merchant_id    TEXT    PRIMARY KEY REFERENCES merchants (id),
    url            TEXT    NOT NULL,
    sealed_secret  BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- The outbox: a row is written in the same transaction that books the payment or refund
-- it tells of, so a booked change always has its event and a rolled-back one never does.
-- The dispatcher claims due rows by moving next_attempt_at past a lease (one statement),
-- so several center processes on one database do not send a row at the same time.
CREATE TABLE webhook_events (
    id               TEXT    PRIMARY KEY,  -- evt_<32 hex>, derived from the type and the booking
    merchant_id      TEXT    NOT NULL REFERENCES merchants (id),
    kind             TEXT    NOT NULL CHECK (kind IN ('payment.approved', 'refund.succeeded')),
    body             TEXT    NOT NULL,     -- the JSON sent, byte for byte
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    last_status      INTEGER,              -- the receiver's last HTTP status, if it answered
    last_error       TEXT,                 -- why the last attempt failed (never the body)
    delivered_at     INTEGER,
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;
-- What the dispatcher asks for: pending rows by due time.
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE state = 'pending';
-- What operators list: by state, newest first.
CREATE INDEX webhook_events_state ON webhook_events (state, created_at);
