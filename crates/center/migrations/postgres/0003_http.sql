-- The operations API, PostgreSQL: one-time activation codes that enroll a band to a
-- customer account (see src/http/activation.rs). Keep in step with ../sqlite/0003_http.sql.

-- The holder gets '<id>-<secret>'. The secret is kept sealed by the key store (SM4-GCM
-- under a key derived from its PIN-verification secret), never in clear: the database
-- alone does not give it away.
CREATE TABLE activation_codes (
    id               TEXT    PRIMARY KEY CHECK (length(id) = 16),  -- lowercase hex of 8 random bytes
    account_id       BIGINT  NOT NULL REFERENCES accounts (id),
    label            TEXT    NOT NULL,  -- the band's name in its certificate subject
    sealed_secret    BYTEA   NOT NULL,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    used_at          BIGINT,            -- set when claimed; a claim is taken only once
    terminal_serial  TEXT    REFERENCES terminals (serial),
    CHECK (expires_at > created_at),
    CHECK (terminal_serial IS NULL OR used_at IS NOT NULL)
);
CREATE INDEX activation_codes_account ON activation_codes (account_id);
