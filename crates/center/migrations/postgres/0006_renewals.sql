-- Certificate renewal over the channel, PostgreSQL (see src/renewal.rs). Keep in step with
-- ../sqlite/0006_renewals.sql.

-- A certificate the center issued to a band for its current key, not yet used. The band's
-- first handshake with it promotes it: a new terminals row takes over the old one's
-- account, status, counter and today's spending, and the old certificate is revoked as
-- superseded. Until then the old certificate stays the band's, so a lost answer costs
-- nothing.
CREATE TABLE terminal_renewals (
    serial           TEXT    PRIMARY KEY,  -- the new certificate's serial, as terminals.serial
    terminal_serial  TEXT    NOT NULL REFERENCES terminals (serial),  -- the one it replaces
    certificate      BYTEA   NOT NULL,
    issued_at        BIGINT  NOT NULL
);
CREATE INDEX terminal_renewals_terminal ON terminal_renewals (terminal_serial);

-- The certificate that superseded this one (NULL for a terminal's current certificate):
-- lets a retry or a status query of a payment made before the renewal find it, and the
-- CRL give the reason.
ALTER TABLE terminals ADD COLUMN replaced_by TEXT;
