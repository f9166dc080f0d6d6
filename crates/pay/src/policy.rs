//! Per-mode limits, as the center configures them and serves them to the band.
use crate::{
    Amount, Currency, Error, Mode, Money, ReasonCode,
    cbor::{self, MapReader, Reader, Writer},
};

/// One mode's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The most one payment may be.
    pub per_transaction: Amount,
    /// The most all approved payments of one terminal in this mode may add up to in one day
    /// (days counted in the center's configured time zone).
    pub daily: Amount,
}

impl Limits {
    /// Limits from whole major units of `currency` (for defaults and tests).
    const fn major(per_transaction: u64, daily: u64, currency: Currency) -> Self {
        let unit = currency.minor_per_major();
        Self {
            per_transaction: Amount::saturating(per_transaction.saturating_mul(unit)),
            daily: Amount::saturating(daily.saturating_mul(unit)),
        }
    }
}

impl Amount {
    const fn saturating(minor: u64) -> Self {
        match Amount::from_minor(minor) {
            Ok(a) => a,
            Err(_) => Amount::MAX,
        }
    }
}

/// The limits of every mode, in one currency. A mode without limits is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The currency of every limit.
    pub currency: Currency,
    /// Quick mode.
    pub quick: Option<Limits>,
    /// PIN mode.
    pub pin: Option<Limits>,
    /// Biometric mode.
    pub biometric: Option<Limits>,
    /// Confirm mode.
    pub confirm: Option<Limits>,
}

impl Default for Policy {
    /// In CNY, per transaction / per day: quick 1000.00 / 3000.00 (the defaults);
    /// biometric 5000.00 / 20000.00 (a live match on the band is stronger than wearing it,
    /// weaker than a secret); PIN 50000.00 / 200000.00 (the card-present PIN norm);
    /// confirm 500000.00 / 1000000.00 (transfers, the U-key's use; the highest).
    fn default() -> Self {
        let c = Currency::CNY;
        Self {
            currency: c,
            quick: Some(Limits::major(1_000, 3_000, c)),
            pin: Some(Limits::major(50_000, 200_000, c)),
            biometric: Some(Limits::major(5_000, 20_000, c)),
            confirm: Some(Limits::major(500_000, 1_000_000, c)),
        }
    }
}

impl Policy {
    /// The limits of `mode`, or `None` when the mode is not allowed.
    pub fn limits(&self, mode: Mode) -> Option<&Limits> {
        match mode {
            Mode::Quick => self.quick.as_ref(),
            Mode::Pin => self.pin.as_ref(),
            Mode::Biometric => self.biometric.as_ref(),
            Mode::Confirm => self.confirm.as_ref(),
        }
    }

    fn limits_mut(&mut self, mode: Mode) -> &mut Option<Limits> {
        match mode {
            Mode::Quick => &mut self.quick,
            Mode::Pin => &mut self.pin,
            Mode::Biometric => &mut self.biometric,
            Mode::Confirm => &mut self.confirm,
        }
    }

    /// Whether a payment of `money` in `mode` fits, given what this terminal has already
    /// paid in that mode today: `currency_mismatch`, `mode_not_allowed`, `limit_per_tx` or
    /// `limit_daily` when not.
    pub fn check(&self, mode: Mode, money: Money, spent_today: Amount) -> Result<(), ReasonCode> {
        if money.currency != self.currency {
            return Err(ReasonCode::CurrencyMismatch);
        }
        let limits = self.limits(mode).ok_or(ReasonCode::ModeNotAllowed)?;
        if money.amount > limits.per_transaction {
            return Err(ReasonCode::LimitPerTx);
        }
        match spent_today.checked_add(money.amount) {
            Some(total) if total <= limits.daily => Ok(()),
            _ => Err(ReasonCode::LimitDaily),
        }
    }

    pub(crate) const FIELDS: u64 = 2;

    pub(crate) fn encode_fields(&self, w: &mut Writer) {
        w.uint(2).text(self.currency.code());
        let allowed = Mode::ALL.iter().filter(|m| self.limits(**m).is_some()).count() as u64;
        w.uint(3).map(allowed);
        for mode in Mode::ALL {
            if let Some(l) = self.limits(mode) {
                w.uint(u64::from(mode.code())).array(2).uint(l.per_transaction.minor()).uint(l.daily.minor());
            }
        }
    }

    pub(crate) fn decode_fields(r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, 2)?;
        let currency = cbor::currency(r)?;
        let mut policy = Policy { currency, quick: None, pin: None, biometric: None, confirm: None };
        m.required(r, 3)?;
        let mut modes = r.map()?;
        for mode in Mode::ALL {
            if modes.optional(r, u64::from(mode.code()))? {
                r.array_of(2)?;
                let per_transaction = cbor::amount(r)?;
                let daily = cbor::amount(r)?;
                *policy.limits_mut(mode) = Some(Limits { per_transaction, daily });
            }
        }
        modes.finish(r)?;
        Ok(policy)
    }
}
