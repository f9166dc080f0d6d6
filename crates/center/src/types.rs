//! The records the store keeps, and the inputs that create them.
use core::{fmt, str::FromStr};

use wearpay_pay::{
    Amount, Counter, Currency, Description, MerchantId, MerchantName, Money, Order, OrderId, Pan, SignedMoney,
    TerminalSerial, Timestamp, TxId,
};

use crate::Error;

/// An account's number in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for AccountId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(AccountId)
            .ok_or(Error::Invalid { what: "account id", why: "expected a positive integer" })
    }
}

/// What an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// A card holder's account: terminals pay from it; it may have a PAN and a PIN.
    Customer,
    /// A merchant's account: payments are credited to it, refunds debited from it.
    Merchant,
    /// The bank's own accounts, e.g. the funding account that deposits come from.
    System,
}

impl AccountKind {
    /// The name stored and shown: `customer`, `merchant`, `system`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Merchant => "merchant",
            Self::System => "system",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "customer" => Ok(Self::Customer),
            "merchant" => Ok(Self::Merchant),
            "system" => Ok(Self::System),
            _ => Err(Error::Corrupt("unknown account kind")),
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
            .map_err(|_| Error::Invalid { what: "account kind", why: "expected customer, merchant or system" })
    }
}

/// The PIN try counter of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PinState {
    /// Wrong PINs since the last right one (or the last unlock).
    pub failures: u32,
    /// Whether PIN mode is locked until an administrator unlocks it. While locked, no
    /// attempt is counted, right or wrong, and the payment is declined `pin_locked`.
    pub locked: bool,
}

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// A name for people (1 to 128 bytes, no control characters).
    pub name: String,
    /// The one currency of every amount in it.
    pub currency: Currency,
    /// What it is for.
    pub kind: AccountKind,
    /// How far below zero its balance may go; zero for none.
    pub overdraft_limit: Amount,
    /// The PAN provisioned to its bands (customer accounts only; unique).
    pub pan: Option<Pan>,
}

impl NewAccount {
    /// A customer account without overdraft or PAN.
    pub fn customer(name: &str, currency: Currency) -> Self {
        Self::new(name, currency, AccountKind::Customer)
    }

    /// A merchant account without overdraft.
    pub fn merchant(name: &str, currency: Currency) -> Self {
        Self::new(name, currency, AccountKind::Merchant)
    }

    /// An account of `kind`, without overdraft or PAN.
    pub fn new(name: &str, currency: Currency, kind: AccountKind) -> Self {
        Self { name: name.to_owned(), currency, kind, overdraft_limit: Amount::ZERO, pan: None }
    }

    /// The same, allowed `limit` below zero.
    pub fn with_overdraft(mut self, limit: Amount) -> Self {
        self.overdraft_limit = limit;
        self
    }

    /// The same, with the PAN provisioned to its bands.
    pub fn with_pan(mut self, pan: Pan) -> Self {
        self.pan = Some(pan);
        self
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its number.
    pub id: AccountId,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub kind: AccountKind,
    /// Its balance (negative when overdrawn), which always equals the sum of its postings.
    pub balance: SignedMoney,
    /// How far below zero the balance may go.
    pub overdraft_limit: Amount,
    /// The PAN of a customer account.
    pub pan: Option<Pan>,
    /// The keyed PIN verification value the key store checks PINs against, if a PIN is set.
    pub pin_verification: Option<Vec<u8>>,
    /// The PIN try counter.
    pub pin: PinState,
    /// A hash of the account's reporting secret, if one is set.
    pub report_secret_hash: Option<Vec<u8>>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Account {
    /// The currency of every amount in the account.
    pub fn currency(&self) -> Currency {
        self.balance.currency
    }
}

/// A merchant to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMerchant {
    /// The merchant id that orders name.
    pub id: MerchantId,
    /// The name the band shows.
    pub name: MerchantName,
    /// The merchant account payments are credited to (one merchant per account).
    pub account: AccountId,
}

/// A merchant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// Its id.
    pub id: MerchantId,
    /// The name the band shows.
    pub name: MerchantName,
    /// Its account.
    pub account: AccountId,
    /// When it was registered.
    pub created_at: Timestamp,
}

/// A terminal's status in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminalStatus {
    /// It may pay.
    Active,
    /// Temporarily refused; an operator may reactivate it.
    Suspended,
    /// Refused for good (a lost band). Final.
    Revoked,
}

impl TerminalStatus {
    /// The name stored and shown: `active`, `suspended`, `revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "revoked" => Ok(Self::Revoked),
            _ => Err(Error::Corrupt("unknown terminal status")),
        }
    }
}

impl fmt::Display for TerminalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TerminalStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
            .map_err(|_| Error::Invalid { what: "terminal status", why: "expected active, suspended or revoked" })
    }
}

/// A terminal to enroll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTerminal {
    /// The serial of its certificate.
    pub serial: TerminalSerial,
    /// The customer account it pays from.
    pub account: AccountId,
    /// Its certificate, DER.
    pub certificate: Vec<u8>,
}

/// A terminal as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// The serial of its certificate.
    pub serial: TerminalSerial,
    /// The customer account it pays from.
    pub account: AccountId,
    /// Whether it may pay.
    pub status: TerminalStatus,
    /// The highest request counter accepted from it, if any.
    pub last_counter: Option<Counter>,
    /// Its certificate, DER.
    pub certificate: Vec<u8>,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
    /// When its status last changed (its enrollment at first).
    pub status_changed_at: Timestamp,
    /// The certificate that took its place at a renewal, if any (it is then revoked, with
    /// reason superseded on the CRL).
    pub replaced_by: Option<TerminalSerial>,
}

/// An order to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Its id (unique across merchants: the band asks for it by id alone).
    pub order_id: OrderId,
    /// The merchant who is paid.
    pub merchant: MerchantId,
    /// The price, more than zero, in the merchant account's currency.
    pub money: Money,
    /// What is bought.
    pub description: Description,
    /// When it stops accepting payment.
    pub expires_at: Timestamp,
}

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// It accepts a payment until it expires.
    Open,
    /// It has its one approved payment.
    Paid,
    /// Marked expired by [`crate::Store::expire_orders`] (an open order past its time is
    /// refused all the same).
    Expired,
}

impl OrderStatus {
    /// The name stored and shown: `open`, `paid`, `expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Expired => "expired",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "open" => Ok(Self::Open),
            "paid" => Ok(Self::Paid),
            "expired" => Ok(Self::Expired),
            _ => Err(Error::Corrupt("unknown order status")),
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    /// The order as the band is shown it (with the merchant's name).
    pub order: Order,
    /// The account its payment is credited to.
    pub merchant_account: AccountId,
    /// Its stored status.
    pub status: OrderStatus,
    /// Its approved payment, once paid.
    pub paid_tx: Option<TxId>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl StoredOrder {
    /// Its status at `now`: an open order past `expires_at` is expired.
    pub fn status_at(&self, now: Timestamp) -> OrderStatus {
        match self.status {
            OrderStatus::Open if now >= self.order.expires_at => OrderStatus::Expired,
            s => s,
        }
    }
}

/// The id of one ledger transaction (a payment, refund or deposit and its postings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerTxId(pub i64);

/// A refund's id, chosen by the merchant or operator: the refund's idempotency key.
/// 1 to 64 printable ASCII characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefundId(String);

impl RefundId {
    /// Checks and wraps `s`.
    pub fn new(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Invalid { what: "refund id", why: "must be 1 to 64 printable ASCII characters" });
        }
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RefundId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// Checks a name for people: 1 to 128 bytes, no control characters.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(Error::Invalid { what: "account name", why: "must be 1 to 128 bytes without control characters" });
    }
    Ok(())
}
