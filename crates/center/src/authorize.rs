//! Authorization: one decoded application-data message from an authenticated terminal in,
//! the response bytes out.
//!
//! A payment request is checked in the order of the issue (item 3): the `tx_id` first (a
//! byte-identical retry gets the stored response verbatim, different bytes are declined
//! `duplicate_conflict`), then the terminal's status, the signature, the counter, the
//! order, amount and currency, the mode, the evidence, and last the limits and funds. Every
//! refusal after the `tx_id` is recorded with [`Store::record_decline`], so that a retry
//! gets the same answer; the ledger part is [`Store::commit_payment`], which re-checks the
//! terminal, the counter, the order, the limits and the funds atomically.
//!
//! Every decided payment (approved or declined) carries a receipt signed with the key
//! store's [`KeyPurpose::ReceiptSign`] key.
extern crate alloc;

use alloc::{boxed::Box, string::String, sync::Arc, vec::Vec};

use wearpay_crypto::{CryptoProvider, PublicKey, SigningKey};
use wearpay_pay::{
    Amount, Balance, EntryKind, EvidenceRules, History, HistoryEntry, HistoryQuery, Order, Outcome, PayRequest,
    PayResponse, PinChange, PinChangeResult, Policy, Proof, ReasonCode, Receipt, Renew, Request, Response, Signed,
    TerminalSerial, Timestamp, TxId, TxState, TxStatus,
};

use crate::{
    Account, Decision, Error, HistoryKind, OrderStatus, PaymentLimits, PaymentRecord, PaymentResult, Store, Terminal,
    TerminalStatus,
    error::BoxError,
    keystore::{self, KeyPurpose, KeyStore},
    renewal::{CertificateIssuer, RenewRefusal},
};

/// What the authorizer is configured with (from the center's config file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizerConfig {
    /// The limits of each mode (a mode without limits is not allowed).
    pub policy: Policy,
    /// Tolerances for the evidence checks that need no secret.
    pub evidence: EvidenceRules,
}

/// Turns requests from authenticated terminals into responses.
#[derive(Debug, Clone)]
pub struct Authorizer {
    store: Store,
    keys: Arc<dyn KeyStore>,
    provider: &'static CryptoProvider,
    config: AuthorizerConfig,
    issuer: Option<Arc<dyn CertificateIssuer>>,
}

/// A refusal of a whole request, answered with [`Response::Error`].
type Refusal = ReasonCode;

impl Authorizer {
    /// An authorizer over `store`, with the center's keys in `keys`.
    pub fn new(
        store: Store,
        keys: Arc<dyn KeyStore>,
        provider: &'static CryptoProvider,
        config: AuthorizerConfig,
    ) -> Self {
        Self { store, keys, provider, config, issuer: None }
    }

    /// With certificate renewal ([`Request::Renew`]) by `issuer`; without it, renewals are
    /// refused `not_supported`.
    pub fn with_issuer(mut self, issuer: Arc<dyn CertificateIssuer>) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// Moves a terminal to its renewed certificate `serial` on that certificate's first
    /// handshake ([`Store::promote_renewal`]) and republishes the CRL, which now lists the
    /// certificate it superseded. A CRL that cannot be written is logged: the registry, which
    /// the channel checks, already refuses the old certificate.
    pub async fn promote_renewal(
        &self,
        serial: &TerminalSerial,
        now: Timestamp,
    ) -> Result<Option<crate::renewal::Promotion>, Error> {
        let Some(issuer) = &self.issuer else { return Ok(None) };
        let Some(promotion) = self.store.promote_renewal(serial, now).await? else { return Ok(None) };
        let revoked = self.store.revoked_certificates().await?;
        if let Err(e) = issuer.publish_crl(&revoked, now) {
            tracing::error!(error = %e, "the CRL could not be republished after a renewal");
        }
        Ok(Some(promotion))
    }

    /// The configuration.
    pub fn config(&self) -> &AuthorizerConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Answers one message from the terminal whose certificate has serial `peer_serial` and
    /// public key `peer_key` (as the channel authenticated them), at the center's time
    /// `now`. Always an answer: a message that cannot be decoded gets [`Response::Error`]
    /// with the reason (`malformed`, `unsupported_version`, `too_large`) and changes
    /// nothing.
    pub async fn handle(
        &self,
        peer_serial: &[u8],
        peer_key: &PublicKey,
        request_bytes: &[u8],
        now: Timestamp,
    ) -> Vec<u8> {
        let request = match Request::decode(request_bytes) {
            Ok(r) => r,
            Err(e) => return error_response(e.reason_code()),
        };
        let Ok(serial) = TerminalSerial::new(peer_serial) else {
            return error_response(ReasonCode::Internal);
        };
        let answer = match request {
            Request::Pay(req) => return self.pay(&serial, peer_key, &req, now).await,
            Request::OrderQuery(q) => self.order(&serial, &q.order_id, now).await,
            Request::TxStatus(q) => self.tx_status(&serial, q.tx_id).await,
            Request::BalanceQuery => self.balance(&serial, now).await,
            Request::HistoryQuery(q) => self.history(&serial, q).await,
            Request::PolicyQuery => Ok(Response::Policy(self.config.policy.clone())),
            Request::PinChange(c) => self.pin_change(&serial, &c, now).await,
            Request::Renew(r) => self.renew(&serial, peer_key, &r, now).await,
            _ => Err(ReasonCode::Malformed),
        };
        match answer {
            Ok(resp) => encode(&resp),
            Err(reason) => error_response(reason),
        }
    }

    // ---- payments ------------------------------------------------------------------------

    async fn pay(&self, serial: &TerminalSerial, peer_key: &PublicKey, req: &PayRequest, now: Timestamp) -> Vec<u8> {
        match self.pay_inner(serial, peer_key, req, now).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(tx_id = %req.tx_id(), error = %e, "payment failed");
                error_response(ReasonCode::Internal)
            }
        }
    }

    async fn pay_inner(
        &self,
        serial: &TerminalSerial,
        peer_key: &PublicKey,
        req: &PayRequest,
        now: Timestamp,
    ) -> Result<Vec<u8>, Error> {
        let bytes = req.encode();
        // 1. The transaction id: a retry gets the stored answer, byte for byte.
        if let Some(stored) = self.store.lookup_tx(req.tx_id()).await? {
            // A retry may come after the band renewed its certificate: still the same band.
            if stored.request == bytes && self.store.same_band(&stored.terminal, serial).await? {
                return Ok(stored.response);
            }
            return self.unrecorded_decline(serial, req, ReasonCode::DuplicateConflict, now);
        }
        // 2. The terminal: active, at every payment.
        let Some(terminal) = self.store.terminal(serial).await? else {
            return self.unrecorded_decline(serial, req, ReasonCode::TerminalRevoked, now);
        };
        match terminal.status {
            TerminalStatus::Active => {}
            TerminalStatus::Suspended => return self.decline(serial, req, ReasonCode::TerminalSuspended, now).await,
            TerminalStatus::Revoked => return self.decline(serial, req, ReasonCode::TerminalRevoked, now).await,
        }
        // 3. The signature, with the key of the certificate the channel authenticated.
        if req.verify(self.provider, peer_key).is_err() {
            return self.decline(serial, req, ReasonCode::BadSignature, now).await;
        }
        // 4. The counter.
        if terminal.last_counter.is_some_and(|last| req.counter() <= last) {
            return self.decline(serial, req, ReasonCode::StaleCounter, now).await;
        }
        // 5. The order, 6. amount and currency.
        let Some(stored_order) = self.store.get_order(req.order_id()).await? else {
            return self.decline(serial, req, ReasonCode::UnknownOrder, now).await;
        };
        match stored_order.status_at(now) {
            OrderStatus::Open => {}
            OrderStatus::Paid => return self.decline(serial, req, ReasonCode::OrderPaid, now).await,
            OrderStatus::Expired => return self.decline(serial, req, ReasonCode::OrderExpired, now).await,
        }
        if let Err(reason) = req.check_order(&stored_order.order, now) {
            return self.decline(serial, req, reason, now).await;
        }
        // 7. The mode.
        if self.config.policy.limits(req.mode()).is_none() {
            return self.decline(serial, req, ReasonCode::ModeNotAllowed, now).await;
        }
        // 8. The evidence: the press and the mode's proof.
        if let Err(reason) = self.check_evidence(&terminal, req, &stored_order.order, now).await? {
            return self.decline(serial, req, reason, now).await;
        }
        // 9. Limits and 10. funds, with the order, counter and terminal again, atomically.
        let record = self.record(serial, req);
        let key = self.receipt_key()?;
        let result = self.store.commit_payment(&record, now, move |d| respond(&*key, d)).await?;
        self.answer(serial, req, result, now)
    }

    /// The evidence checks; `Ok(Err(reason))` is a decline.
    async fn check_evidence(
        &self,
        terminal: &Terminal,
        req: &PayRequest,
        order: &Order,
        now: Timestamp,
    ) -> Result<Result<(), ReasonCode>, Error> {
        if let Err(reason) = req.check_evidence(order, &self.config.evidence) {
            return Ok(Err(reason));
        }
        let Proof::Pin(enciphered) = &req.evidence().proof else {
            return Ok(Ok(()));
        };
        let account = self.payer(terminal).await?;
        let (Some(pan), Some(pvv)) = (&account.pan, &account.pin_verification) else {
            return Ok(Err(ReasonCode::BadEvidence));
        };
        let Ok(pvv) = <[u8; 32]>::try_from(pvv.as_slice()) else {
            return Ok(Err(ReasonCode::BadEvidence));
        };
        if self.store.pin_state(account.id).await?.locked {
            return Ok(Err(ReasonCode::PinLocked));
        }
        match self.keys.verify_pin(enciphered, pan, req.tx_id(), &account_ref(&account), &pvv) {
            Ok(true) => {
                self.store.record_pin_attempt(account.id, true, now).await?;
                Ok(Ok(()))
            }
            Ok(false) => {
                let state = self.store.record_pin_attempt(account.id, false, now).await?;
                Ok(Err(if state.locked { ReasonCode::PinLocked } else { ReasonCode::WrongPin }))
            }
            // A block that does not decipher (another key, transaction or PAN, or altered)
            // is bad evidence, not a wrong try.
            Err(keystore::Error::BadPinBlock(_) | keystore::Error::Pin(_)) => Ok(Err(ReasonCode::BadEvidence)),
            Err(e) => Err(Error::Response(Box::new(e))),
        }
    }

    async fn payer(&self, terminal: &Terminal) -> Result<Account, Error> {
        self.store.account(terminal.account).await?.ok_or(Error::Corrupt("a terminal without its account"))
    }

    fn record(&self, serial: &TerminalSerial, req: &PayRequest) -> PaymentRecord {
        PaymentRecord {
            tx_id: *req.tx_id(),
            terminal: serial.clone(),
            order_id: req.order_id().clone(),
            money: req.money(),
            mode: req.mode(),
            counter: req.counter(),
            request: req.encode().to_vec(),
            limits: PaymentLimits::from_policy(&self.config.policy, req.mode()),
        }
    }

    fn receipt_key(&self) -> Result<Arc<dyn SigningKey>, Error> {
        self.keys.signing_key(KeyPurpose::ReceiptSign).map_err(|e| Error::Response(Box::new(e)))
    }

    /// Declines and records the decline (a retry gets the same answer).
    async fn decline(
        &self,
        serial: &TerminalSerial,
        req: &PayRequest,
        reason: ReasonCode,
        now: Timestamp,
    ) -> Result<Vec<u8>, Error> {
        let record = self.record(serial, req);
        let key = self.receipt_key()?;
        let result = self.store.record_decline(&record, reason, now, move |d| respond(&*key, d)).await?;
        self.answer(serial, req, result, now)
    }

    /// Declines without recording: the `tx_id` is taken, or the terminal is unknown.
    fn unrecorded_decline(
        &self,
        serial: &TerminalSerial,
        req: &PayRequest,
        reason: ReasonCode,
        now: Timestamp,
    ) -> Result<Vec<u8>, Error> {
        let record = self.record(serial, req);
        let key = self.receipt_key()?;
        let decision = Decision {
            tx_id: record.tx_id,
            terminal: &record.terminal,
            order_id: &record.order_id,
            money: record.money,
            mode: record.mode,
            outcome: Outcome::Declined(reason),
            balance_after: None,
            center_time: now,
        };
        respond(&*key, &decision).map_err(Error::Response)
    }

    fn answer(
        &self,
        serial: &TerminalSerial,
        req: &PayRequest,
        result: PaymentResult,
        now: Timestamp,
    ) -> Result<Vec<u8>, Error> {
        match result {
            PaymentResult::Recorded(r) => Ok(r.response),
            PaymentResult::Replayed(s) => Ok(s.response),
            PaymentResult::DuplicateConflict => {
                self.unrecorded_decline(serial, req, ReasonCode::DuplicateConflict, now)
            }
        }
    }

    // ---- queries -------------------------------------------------------------------------

    /// The terminal, which must be active.
    async fn active_terminal(&self, serial: &TerminalSerial) -> Result<Terminal, Refusal> {
        let terminal = self.store.terminal(serial).await.map_err(internal)?.ok_or(ReasonCode::TerminalRevoked)?;
        match terminal.status {
            TerminalStatus::Active => Ok(terminal),
            TerminalStatus::Suspended => Err(ReasonCode::TerminalSuspended),
            TerminalStatus::Revoked => Err(ReasonCode::TerminalRevoked),
        }
    }

    async fn order(
        &self,
        serial: &TerminalSerial,
        id: &wearpay_pay::OrderId,
        now: Timestamp,
    ) -> Result<Response, Refusal> {
        self.active_terminal(serial).await?;
        let stored = self.store.get_order(id).await.map_err(internal)?.ok_or(ReasonCode::UnknownOrder)?;
        match stored.status_at(now) {
            OrderStatus::Open => Ok(Response::Order(stored.order)),
            OrderStatus::Paid => Err(ReasonCode::OrderPaid),
            OrderStatus::Expired => Err(ReasonCode::OrderExpired),
        }
    }

    async fn tx_status(&self, serial: &TerminalSerial, tx_id: TxId) -> Result<Response, Refusal> {
        self.active_terminal(serial).await?;
        let stored = self.store.lookup_tx(&tx_id).await.map_err(internal)?;
        let state = match stored {
            // Another terminal's transaction is not this one's business (this band's before a
            // renewal is).
            Some(stored) if self.store.same_band(&stored.terminal, serial).await.map_err(internal)? => {
                match Response::decode(&stored.response) {
                    Ok(Response::Pay(p)) => TxState::Done(p),
                    _ => return Err(ReasonCode::Internal),
                }
            }
            _ => TxState::Unknown,
        };
        Ok(Response::TxStatus(TxStatus { tx_id, state }))
    }

    /// A new certificate for the band's key (see [`crate::renewal`]): only for an active
    /// terminal, only for the key the channel authenticated, with the registry's subject.
    async fn renew(
        &self,
        serial: &TerminalSerial,
        peer_key: &PublicKey,
        req: &Renew,
        now: Timestamp,
    ) -> Result<Response, Refusal> {
        let issuer = self.issuer.as_ref().ok_or(ReasonCode::NotSupported)?;
        let terminal = self.active_terminal(serial).await?;
        let issued = match issuer.renew(&req.csr, peer_key, &terminal.certificate, now) {
            Ok(issued) => issued,
            Err(RenewRefusal::BadCsr(why)) => {
                tracing::warn!(terminal = %serial, why, "renewal refused");
                return Err(ReasonCode::BadCsr);
            }
            Err(e) => {
                tracing::error!(terminal = %serial, error = %e, "renewal failed");
                return Err(ReasonCode::Internal);
            }
        };
        let certificate = issued.renewed.certificate.clone();
        match self.store.record_renewal(serial, &issued.serial, certificate, issued.not_after, now).await {
            Ok(()) => {}
            Err(Error::TerminalRevoked) => return Err(ReasonCode::TerminalRevoked),
            Err(e) => return Err(internal(e)),
        }
        tracing::info!(terminal = %serial, new = %issued.serial, "renewed certificate issued");
        Ok(Response::Renewed(issued.renewed))
    }

    async fn balance(&self, serial: &TerminalSerial, now: Timestamp) -> Result<Response, Refusal> {
        let terminal = self.active_terminal(serial).await?;
        let balance = self.store.balance(terminal.account).await.map_err(internal)?;
        Ok(Response::Balance(Balance { balance, as_of: now }))
    }

    async fn history(&self, serial: &TerminalSerial, q: HistoryQuery) -> Result<Response, Refusal> {
        let terminal = self.active_terminal(serial).await?;
        let limit = u32::from(q.limit);
        let items = self.store.history(terminal.account, limit, q.before).await.map_err(internal)?;
        let full = items.len() == usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if full { items.last().map(|i| i.cursor) } else { None };
        let entries = items
            .into_iter()
            .filter_map(|i| {
                let kind = match i.kind {
                    HistoryKind::Payment => EntryKind::Payment,
                    HistoryKind::Refund => EntryKind::Refund,
                    HistoryKind::Deposit => return None,
                };
                Some(HistoryEntry {
                    cursor: i.cursor,
                    kind,
                    tx_id: i.tx_id?,
                    order_id: i.order_id?,
                    amount: Amount::from_minor(i.amount.minor.unsigned_abs()).ok()?,
                    currency: i.amount.currency,
                    mode: i.mode?,
                    at: i.at,
                    outcome: Outcome::Approved,
                })
            })
            .collect();
        Ok(Response::History(History { entries, next }))
    }

    async fn pin_change(&self, serial: &TerminalSerial, c: &PinChange, now: Timestamp) -> Result<Response, Refusal> {
        let terminal = self.active_terminal(serial).await?;
        let account = self.payer(&terminal).await.map_err(internal)?;
        let outcome =
            |reason| Ok(Response::PinChange(PinChangeResult { id: c.id, outcome: Outcome::Declined(reason) }));
        let (Some(pan), Some(pvv)) = (&account.pan, &account.pin_verification) else {
            return outcome(ReasonCode::BadEvidence);
        };
        let Ok(pvv) = <[u8; 32]>::try_from(pvv.as_slice()) else {
            return outcome(ReasonCode::BadEvidence);
        };
        if account.pin.locked {
            return outcome(ReasonCode::PinLocked);
        }
        let acct = account_ref(&account);
        match self.keys.verify_pin(&c.old, pan, &c.id, &acct, &pvv) {
            Ok(true) => {}
            Ok(false) => {
                let state = self.store.record_pin_attempt(account.id, false, now).await.map_err(internal)?;
                return outcome(if state.locked { ReasonCode::PinLocked } else { ReasonCode::WrongPin });
            }
            Err(_) => return outcome(ReasonCode::BadEvidence),
        }
        self.store.record_pin_attempt(account.id, true, now).await.map_err(internal)?;
        let Ok(new_pvv) = self.keys.pin_verification_value_for_new_pin(&c.new, pan, &c.id, &acct) else {
            return outcome(ReasonCode::BadEvidence);
        };
        self.store.set_pin_verification(account.id, Some(new_pvv.to_vec())).await.map_err(internal)?;
        Ok(Response::PinChange(PinChangeResult { id: c.id, outcome: Outcome::Approved }))
    }
}

/// The account string the PIN verification value is keyed with: the account's number in
/// decimal, as at enrollment.
pub fn account_ref(account: &Account) -> String {
    account.id.to_string()
}

/// Builds the pay response for `d`, with its receipt signed by `key`.
fn respond(key: &dyn SigningKey, d: &Decision<'_>) -> Result<Vec<u8>, BoxError> {
    let receipt: Receipt = d.receipt();
    let signed = Signed::sign(receipt, key)?;
    let resp =
        PayResponse { tx_id: d.tx_id, outcome: d.outcome, balance_after: d.balance_after, receipt: Some(signed) };
    Ok(Response::Pay(resp).encode()?)
}

fn internal(e: Error) -> ReasonCode {
    tracing::error!(error = %e, "request failed");
    ReasonCode::Internal
}

fn encode(resp: &Response) -> Vec<u8> {
    resp.encode().unwrap_or_else(|_| error_response(ReasonCode::Internal))
}

/// `Response::Error { reason }`, encoded.
pub fn error_response(reason: ReasonCode) -> Vec<u8> {
    Response::Error { reason }.encode().unwrap_or_default()
}
