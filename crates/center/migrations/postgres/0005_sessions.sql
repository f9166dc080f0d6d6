-- The channel's resumable sessions, PostgreSQL, shared by every center process on this
-- database so that a band resumes on whichever process its connection reaches (see
-- src/sessions.rs). Keep in step with ../sqlite/0005_sessions.sql.

-- The master secret is never here in clear: `sealed` holds the session (suite, master
-- secret, when it began, the terminal's serial, subject and certificates) sealed by the key
-- store with SM4-GCM under a key derived for this session's ID, so that a row copied under
-- another ID does not open. No foreign key to terminals: a session is recorded when its
-- handshake ends, before the registry is asked whether the terminal is enrolled.
CREATE TABLE tlcp_sessions (
    id               BYTEA   PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 32),
    terminal_serial  TEXT    NOT NULL,  -- upper-case hex, as terminals.serial
    sealed           BYTEA   NOT NULL,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    CHECK (expires_at > created_at)
);
-- Revocation deletes a terminal's sessions; the purge deletes expired ones.
CREATE INDEX tlcp_sessions_terminal ON tlcp_sessions (terminal_serial);
CREATE INDEX tlcp_sessions_expiry ON tlcp_sessions (expires_at);
