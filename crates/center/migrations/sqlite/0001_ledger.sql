-- wearpay center storage, SQLite. Money is INTEGER minor units with an ISO 4217 code; times
-- are Unix seconds; STRICT tables refuse any value of another type (no REAL can creep into a
-- balance). Keep in step with ../postgres/0001_ledger.sql.

CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL,
    currency            TEXT    NOT NULL CHECK (length(currency) = 3),
    balance             INTEGER NOT NULL DEFAULT 0,
    overdraft_limit     INTEGER NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
    kind                TEXT    NOT NULL CHECK (kind IN ('customer', 'merchant', 'system')),
    pan                 TEXT    UNIQUE,
    pin_verification    BLOB,
    pin_tries           INTEGER NOT NULL DEFAULT 0 CHECK (pin_tries >= 0),
    pin_locked          INTEGER NOT NULL DEFAULT 0 CHECK (pin_locked IN (0, 1)),
    report_secret_hash  BLOB,
    created_at          INTEGER NOT NULL,
    -- The last line of defence: no balance below its overdraft, whatever the code does.
    CHECK (balance >= -overdraft_limit),
    CHECK (kind = 'customer' OR pan IS NULL)
) STRICT;

-- One funding account per name (e.g. 'funding CNY'), found again by deposits.
CREATE UNIQUE INDEX accounts_system_name ON accounts (name) WHERE kind = 'system';

CREATE TABLE merchants (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    account_id  INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE terminals (
    serial             TEXT    PRIMARY KEY,  -- upper-case hex of the certificate serial
    account_id         INTEGER NOT NULL REFERENCES accounts (id),
    status             TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    last_counter       INTEGER NOT NULL DEFAULT -1,  -- -1: no request accepted yet
    certificate        BLOB    NOT NULL,
    enrolled_at        INTEGER NOT NULL,
    status_changed_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX terminals_account ON terminals (account_id);

CREATE TABLE orders (
    order_id     TEXT    PRIMARY KEY,
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    description  TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('open', 'paid', 'expired')),
    paid_tx_id   BLOB    UNIQUE,
    created_at   INTEGER NOT NULL,
    CHECK ((status = 'paid') = (paid_tx_id IS NOT NULL))
) STRICT;

-- Every payment request the center decided, approved or declined, keyed by the band's
-- tx_id (the idempotency key). outcome: 0 approved, else the reason code; NULL only inside
-- the deciding transaction, never committed.
CREATE TABLE payments (
    tx_id             BLOB    PRIMARY KEY CHECK (length(tx_id) = 16),
    terminal_serial   TEXT    NOT NULL REFERENCES terminals (serial),
    payer_account     INTEGER NOT NULL REFERENCES accounts (id),
    merchant_account  INTEGER REFERENCES accounts (id),
    order_id          TEXT    NOT NULL,
    amount            INTEGER NOT NULL CHECK (amount > 0),
    currency          TEXT    NOT NULL CHECK (length(currency) = 3),
    mode              INTEGER NOT NULL CHECK (mode BETWEEN 1 AND 4),
    counter           INTEGER NOT NULL CHECK (counter >= 0),
    outcome           INTEGER CHECK (outcome >= 0),
    request           BLOB    NOT NULL,
    request_hash      BLOB    NOT NULL CHECK (length(request_hash) = 32),
    response          BLOB,
    refunded          INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    created_at        INTEGER NOT NULL,
    day               INTEGER NOT NULL,  -- yyyymmdd in the center's time zone
    CHECK (outcome = 0 OR refunded = 0)
) STRICT;
-- At most one approved payment per order, whatever happens above.
CREATE UNIQUE INDEX payments_one_approved_per_order ON payments (order_id) WHERE outcome = 0;
CREATE INDEX payments_terminal ON payments (terminal_serial, created_at);

-- Double entry: one ledger transaction per approved payment, refund or deposit; its postings
-- sum to zero.
CREATE TABLE ledger_txs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('payment', 'refund', 'deposit')),
    tx_id       BLOB    REFERENCES payments (tx_id),
    created_at  INTEGER NOT NULL,
    CHECK ((kind = 'deposit') = (tx_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX ledger_one_per_payment ON ledger_txs (tx_id) WHERE kind = 'payment';

CREATE TABLE postings (
    id            INTEGER PRIMARY KEY,
    ledger_tx_id  INTEGER NOT NULL REFERENCES ledger_txs (id),
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    amount        INTEGER NOT NULL CHECK (amount <> 0),  -- credit > 0, debit < 0
    currency      TEXT    NOT NULL CHECK (length(currency) = 3)
) STRICT;
CREATE INDEX postings_account ON postings (account_id, id);
CREATE INDEX postings_ledger_tx ON postings (ledger_tx_id);

CREATE TABLE refunds (
    refund_id     TEXT    PRIMARY KEY,
    tx_id         BLOB    NOT NULL REFERENCES payments (tx_id),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    ledger_tx_id  INTEGER UNIQUE REFERENCES ledger_txs (id),  -- NULL only inside its transaction
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX refunds_tx ON refunds (tx_id);

-- What each terminal paid per day: scope 0 counts every mode, 1-4 one mode.
CREATE TABLE daily_spend (
    terminal_serial  TEXT    NOT NULL REFERENCES terminals (serial),
    scope            INTEGER NOT NULL CHECK (scope BETWEEN 0 AND 4),
    day              INTEGER NOT NULL,
    spent            INTEGER NOT NULL CHECK (spent >= 0),
    PRIMARY KEY (terminal_serial, scope, day)
) STRICT;
