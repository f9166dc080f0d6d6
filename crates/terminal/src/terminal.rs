//! The band and its payment flow, over any channel that carries one request and one answer
//! at a time ([`Exchange`]). Nothing here does I/O or reads a clock directly.
use alloc::{boxed::Box, sync::Arc, vec::Vec};
use core::time::Duration;

use wearpay_crypto::CryptoProvider;
use wearpay_pay::{
    Balance, Evidence, History, HistoryQuery, MAX_HISTORY, Mode, Money, Order, OrderId, OrderQuery, Outcome,
    PayRequest, PayRequestBuilder, PayResponse, Pin, PinBlock, PinChange, ReasonCode, Receipt, Renew, Request,
    Response, SignedMoney, Timestamp, TxId, TxState, TxStatusQuery, confirm_text,
};
use wearpay_tlcp::{ClientConfig, HandshakeSummary, Profile, session::SessionStore};

use crate::{
    Approval, CenterKeys, Clock, Error, OrderScreen, PROVIDER, PendingRequest, Provisioning, SecureElement,
    SettledPayment, UserInterface, effective_time,
};

/// One request out, one answer back: what the payment flow needs of the channel.
///
/// The `std` driver implements it over a TLCP stream ([`crate::Channel`]); a band's
/// firmware implements it over its own link.
pub trait Exchange {
    /// Sends one encoded request and returns the one encoded answer.
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, Error>;
}

/// What became of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// The transaction.
    pub tx_id: TxId,
    /// The order paid.
    pub order_id: OrderId,
    /// The amount with its currency.
    pub money: Money,
    /// The mode.
    pub mode: Mode,
    /// The center's decision.
    pub outcome: Outcome,
    /// The receipt, verified with the center's receipt key (every decision the center
    /// records carries one).
    pub receipt: Option<Receipt>,
    /// The payer's balance afterwards, when the center told it.
    pub balance_after: Option<SignedMoney>,
    /// Whether the answer came by recovery (a resent request or a status query) rather
    /// than as the direct answer.
    pub recovered: bool,
}

/// What [`Terminal::resume_pending`] achieved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// The payments settled now.
    pub settled: Vec<PaymentOutcome>,
    /// The transactions still pending (the center has not decided, or did not answer).
    pub still_pending: Vec<TxId>,
}

/// How the band behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalOptions {
    /// How long the band waits for the press.
    pub press_timeout: Duration,
    /// The Finished order to ask for (the patent's `seed` order by default).
    pub profile: Profile,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        Self { press_timeout: Duration::from_secs(30), profile: Profile::Seed }
    }
}

/// The answer to a payment request, as far as the band can tell.
enum Answer {
    /// A definitive answer, stored.
    Settled(PaymentOutcome),
    /// The center has not decided (it failed, or is still deciding): still pending.
    Undecided,
}

/// Checks the order the center sent: the one asked for, not expired at the band's
/// effective time `at` (an order expires at `expires_at`).
pub fn check_order(order: &Order, asked: &OrderId, at: Timestamp) -> Result<(), Error> {
    if order.order_id != *asked {
        return Err(Error::OrderMismatch(asked.clone()));
    }
    if at >= order.expires_at {
        return Err(Error::OrderExpired { order_id: order.order_id.clone(), expires_at: order.expires_at });
    }
    Ok(())
}

/// The band: its secure element, its screen and button, the phone's clock, what enrollment
/// gave it and the TLCP sessions it may resume.
#[derive(Debug)]
pub struct Terminal<S, U, C> {
    se: S,
    ui: U,
    clock: C,
    provisioning: Provisioning,
    keys: CenterKeys,
    sessions: Arc<dyn SessionStore>,
    options: TerminalOptions,
    provider: CryptoProvider,
    last_handshake: Option<HandshakeSummary>,
}

impl<S: SecureElement, U: UserInterface, C: Clock> Terminal<S, U, C> {
    /// A band. The center's receipt and PIN certificates are verified now, at
    /// `max(phone time, floor)`.
    pub fn new(
        se: S,
        ui: U,
        clock: C,
        provisioning: Provisioning,
        sessions: Arc<dyn SessionStore>,
    ) -> Result<Self, Error> {
        let at = clock.now().max(se.time_floor());
        let keys = provisioning.verify(&PROVIDER, at)?;
        Ok(Self {
            se,
            ui,
            clock,
            provisioning,
            keys,
            sessions,
            options: TerminalOptions::default(),
            provider: PROVIDER,
            last_handshake: None,
        })
    }

    /// Changes how the band behaves.
    pub fn with_options(mut self, options: TerminalOptions) -> Self {
        self.options = options;
        self
    }

    /// The secure element.
    pub fn se(&self) -> &S {
        &self.se
    }

    /// The secure element, to change it (a simulated user, for instance).
    pub fn se_mut(&mut self) -> &mut S {
        &mut self.se
    }

    /// The user interface.
    pub fn ui(&self) -> &U {
        &self.ui
    }

    /// The user interface, to change it (more scripted answers, for instance).
    pub fn ui_mut(&mut self) -> &mut U {
        &mut self.ui
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// What enrollment gave the band.
    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }

    /// The last handshake's summary (suite, order, whether it resumed a session).
    pub fn last_handshake(&self) -> Option<&HandshakeSummary> {
        self.last_handshake.as_ref()
    }

    /// Records a completed handshake (the driver calls this).
    pub fn record_handshake(&mut self, summary: HandshakeSummary) {
        self.last_handshake = Some(summary);
    }

    /// The band's effective time: the phone's, held up by the floor; refused when the
    /// phone's clock is behind the floor ([`Error::ClockBehind`]).
    pub fn effective_time(&self) -> Result<Timestamp, Error> {
        effective_time(self.clock.now(), self.se.time_floor())
    }

    /// The TLCP configuration for a connection at the effective time `at`.
    pub fn client_config(&self, at: Timestamp) -> Result<ClientConfig, Error> {
        self.provisioning.client_config(&self.se, self.sessions.clone(), self.options.profile, at)
    }

    // ---- the payment ---------------------------------------------------------------------

    /// Pays `order_id` in `mode` over an established channel. The steps:
    ///
    /// 1. settle what is pending (a payment pending for this same order is settled first;
    ///    if it was approved, that is the answer, and if it cannot be settled nothing new
    ///    starts: [`Error::PendingPayment`]);
    /// 2. fetch the order from the center ([`OrderQuery`]);
    /// 3. check it: the order asked for, not expired at the effective time;
    /// 4. show merchant and amount and wait for the press (no press: nothing is signed or
    ///    sent, [`Error::NotApproved`]);
    /// 5. the mode's verification;
    /// 6. take the next counter, sign, and store the request as pending;
    /// 7. send it;
    /// 8. check the answer and its receipt, raise the time floor, store the receipt and
    ///    clear the pending request.
    pub fn pay_over(
        &mut self,
        channel: &mut dyn Exchange,
        order_id: &OrderId,
        mode: Mode,
    ) -> Result<PaymentOutcome, Error> {
        let at = self.effective_time()?;

        // 1. Pending payments first: a payment happens exactly once.
        let recovery = self.resume_over(channel)?;
        for outcome in &recovery.settled {
            self.ui.outcome(outcome);
        }
        if let Some(done) = recovery.settled.iter().find(|o| o.order_id == *order_id && o.outcome.is_approved()) {
            return Ok(done.clone());
        }
        if let Some(p) = self.se.pending().iter().find(|p| p.order_id == *order_id) {
            return Err(Error::PendingPayment(p.tx_id));
        }

        // 2. The order, from the center: the phone cannot alter merchant or amount.
        let order = self.fetch_order(channel, order_id)?;
        // 3. Not expired at the effective time.
        check_order(&order, order_id, at)?;

        // 4. Show it and wait for the press.
        let mut tx = [0u8; 16];
        self.se.random(&mut tx)?;
        let tx_id = TxId(tx);
        let screen = OrderScreen::new(&order, mode);
        match self.ui.confirm(&screen, self.options.press_timeout)? {
            Approval::Pressed => {}
            other => return Err(Error::NotApproved(other)),
        }
        // The press happened now: the time may have moved while the user looked.
        let pressed_at = self.effective_time()?;
        check_order(&order, order_id, pressed_at)?;
        let press = self.se.press(&tx_id, pressed_at)?;

        // 5. The mode's verification.
        let evidence = match mode {
            Mode::Quick => {
                let worn = self.se.worn_attestation()?;
                if !worn.worn_since_unlock || worn.unlocked_at > pressed_at {
                    return Err(Error::VerificationFailed(Mode::Quick));
                }
                Evidence::quick(press, worn)
            }
            Mode::Pin => {
                let pin = self.ui.read_pin("Enter your PIN")?;
                let enciphered =
                    PinBlock::encipher(&self.provider, &pin, &self.provisioning.pan, &tx_id, &self.keys.pin)?;
                Evidence::pin(press, enciphered)
            }
            Mode::Biometric => {
                let result = self.se.biometric_match()?;
                if !result.matched {
                    return Err(Error::VerificationFailed(Mode::Biometric));
                }
                Evidence::biometric(press, result)
            }
            Mode::Confirm => Evidence::confirm(press, confirm_text(&order)),
        };

        // 6. Counter, signature, and the request stored before it leaves the band.
        let counter = self.se.next_counter()?;
        let key = self.se.signing_key()?;
        let request = PayRequestBuilder::for_order(&order, tx_id, evidence, counter, pressed_at).sign(&*key)?;
        self.se.store_pending(PendingRequest {
            tx_id,
            order_id: order.order_id.clone(),
            request: request.encode().to_vec(),
        })?;

        // 7. Send it. From here on a lost answer leaves the payment pending.
        let answer =
            channel.exchange(request.encode()).map_err(|e| Error::ResponseLost { tx_id, source: Box::new(e) })?;

        // 8. Check the answer and settle.
        match self.settle_answer(&request, &answer, false)? {
            Answer::Settled(outcome) => {
                self.ui.outcome(&outcome);
                Ok(outcome)
            }
            Answer::Undecided => Err(Error::PendingPayment(tx_id)),
        }
    }

    /// Settles every pending payment it can over an established channel, oldest first:
    /// resends the stored request byte for byte (the center answers a transaction it knows
    /// with the stored answer, and decides one it never saw), and if the center has not
    /// decided, asks for the transaction's status.
    pub fn resume_over(&mut self, channel: &mut dyn Exchange) -> Result<Recovery, Error> {
        let mut recovery = Recovery::default();
        for pending in self.se.pending() {
            match self.settle_pending(channel, &pending)? {
                Answer::Settled(outcome) => recovery.settled.push(outcome),
                Answer::Undecided => recovery.still_pending.push(pending.tx_id),
            }
        }
        Ok(recovery)
    }

    fn settle_pending(&mut self, channel: &mut dyn Exchange, pending: &PendingRequest) -> Result<Answer, Error> {
        let request = PayRequest::decode(&pending.request).map_err(|_| Error::StateMalformed("a pending request"))?;
        let answer = channel.exchange(&pending.request)?;
        if let Answer::Settled(outcome) = self.settle_answer(&request, &answer, true)? {
            return Ok(Answer::Settled(outcome));
        }
        let query = Request::TxStatus(TxStatusQuery { tx_id: pending.tx_id }).encode()?;
        match Response::decode(&channel.exchange(&query)?)? {
            Response::TxStatus(status) if status.tx_id == pending.tx_id => match status.state {
                TxState::Done(response) => {
                    let bytes = Response::Pay(response.clone()).encode()?;
                    self.settle_pay(&request, response, bytes, true).map(Answer::Settled)
                }
                TxState::Pending | TxState::Unknown => Ok(Answer::Undecided),
            },
            Response::Error { reason } => Err(Error::Refused(reason)),
            _ => Err(Error::UnexpectedResponse("not the status of the pending transaction")),
        }
    }

    /// Interprets the answer to `request`.
    fn settle_answer(&mut self, request: &PayRequest, answer: &[u8], recovered: bool) -> Result<Answer, Error> {
        match Response::decode(answer)? {
            Response::Pay(response) => {
                self.settle_pay(request, response, answer.to_vec(), recovered).map(Answer::Settled)
            }
            // The center failed and changed nothing: the request stays pending.
            Response::Error { reason: ReasonCode::Internal } => Ok(Answer::Undecided),
            // Refused as a whole (it will refuse these bytes every time): definitive, and
            // nothing was booked.
            Response::Error { reason } => {
                let settled = SettledPayment {
                    tx_id: *request.tx_id(),
                    request: request.encode().to_vec(),
                    response: answer.to_vec(),
                };
                self.se.settle(settled, None)?;
                Ok(Answer::Settled(PaymentOutcome {
                    tx_id: *request.tx_id(),
                    order_id: request.order_id().clone(),
                    money: request.money(),
                    mode: request.mode(),
                    outcome: Outcome::Declined(reason),
                    receipt: None,
                    balance_after: None,
                    recovered,
                }))
            }
            _ => Err(Error::UnexpectedResponse("not an answer to a payment")),
        }
    }

    /// Verifies a pay response and its receipt, then settles it in the secure element.
    fn settle_pay(
        &mut self,
        request: &PayRequest,
        response: PayResponse,
        bytes: Vec<u8>,
        recovered: bool,
    ) -> Result<PaymentOutcome, Error> {
        if response.tx_id != *request.tx_id() {
            return Err(Error::UnexpectedResponse("an answer for another transaction"));
        }
        let receipt = match &response.receipt {
            Some(_) => Some(
                response
                    .verify_receipt(&self.provider, &self.keys.receipt, request)
                    .map_err(Error::BadReceipt)?
                    .clone(),
            ),
            // Only a decline may come without a receipt (the decoder refuses an approval
            // without one).
            None => None,
        };
        let settled = SettledPayment { tx_id: *request.tx_id(), request: request.encode().to_vec(), response: bytes };
        self.se.settle(settled, receipt.as_ref().map(|r| r.center_time))?;
        Ok(PaymentOutcome {
            tx_id: *request.tx_id(),
            order_id: request.order_id().clone(),
            money: request.money(),
            mode: request.mode(),
            outcome: response.outcome,
            receipt,
            balance_after: response.balance_after,
            recovered,
        })
    }

    fn fetch_order(&mut self, channel: &mut dyn Exchange, order_id: &OrderId) -> Result<Order, Error> {
        let query = Request::OrderQuery(OrderQuery { order_id: order_id.clone() }).encode()?;
        match Response::decode(&channel.exchange(&query)?)? {
            Response::Order(order) => Ok(order),
            Response::Error { reason } => Err(Error::Refused(reason)),
            _ => Err(Error::UnexpectedResponse("not an order")),
        }
    }

    // ---- the rest ------------------------------------------------------------------------

    /// The account's balance.
    pub fn balance_over(&mut self, channel: &mut dyn Exchange) -> Result<Balance, Error> {
        match Response::decode(&channel.exchange(&Request::BalanceQuery.encode()?)?)? {
            Response::Balance(b) => Ok(b),
            Response::Error { reason } => Err(Error::Refused(reason)),
            _ => Err(Error::UnexpectedResponse("not a balance")),
        }
    }

    /// The newest `limit` entries of the account's history (at most [`MAX_HISTORY`]).
    pub fn history_over(&mut self, channel: &mut dyn Exchange, limit: u8) -> Result<History, Error> {
        let limit = limit.clamp(1, MAX_HISTORY as u8);
        let query = Request::HistoryQuery(HistoryQuery { limit, before: None }).encode()?;
        match Response::decode(&channel.exchange(&query)?)? {
            Response::History(h) => Ok(h),
            Response::Error { reason } => Err(Error::Refused(reason)),
            _ => Err(Error::UnexpectedResponse("not a history")),
        }
    }

    /// Changes the account's PIN: both PINs enciphered to the center's PIN key, bound to
    /// one fresh id. Returns the center's decision (`wrong_pin` when `old` is wrong).
    pub fn change_pin_over(&mut self, channel: &mut dyn Exchange, old: &Pin, new: &Pin) -> Result<Outcome, Error> {
        let mut id = [0u8; 16];
        self.se.random(&mut id)?;
        let id = TxId(id);
        let pan = &self.provisioning.pan;
        let change = PinChange {
            id,
            old: PinBlock::encipher(&self.provider, old, pan, &id, &self.keys.pin)?,
            new: PinBlock::encipher(&self.provider, new, pan, &id, &self.keys.pin)?,
        };
        match Response::decode(&channel.exchange(&Request::PinChange(change).encode()?)?)? {
            Response::PinChange(r) if r.id == id => Ok(r.outcome),
            Response::Error { reason } => Err(Error::Refused(reason)),
            _ => Err(Error::UnexpectedResponse("not the result of this PIN change")),
        }
    }

    // ---- certificate renewal ---------------------------------------------------------------

    /// Whether the band should renew now: its certificate, or the center's receipt or PIN
    /// certificate it holds, ends within [`RENEW_BEFORE_SECS`] of the effective time.
    pub fn renewal_due(&self) -> Result<bool, Error> {
        let at = self.effective_time()?;
        Ok(self.provisioning.earliest_expiry() <= at.0.saturating_add(RENEW_BEFORE_SECS))
    }

    /// Renews the band's certificate over an established channel: a request for the secure
    /// element's key (signed inside it), answered with a new certificate for that key and the
    /// center's current receipt and PIN certificates. Every certificate is checked against
    /// the band's trust anchors before it is kept; the new band certificate also against the
    /// terminal CA the band already trusts. The band's stored sessions (made with the old
    /// certificate) are dropped, so that its next handshake presents the new certificate,
    /// which moves the terminal to it at the center.
    ///
    /// Returns the new provisioning, for the caller to persist; the band uses it at once.
    pub fn renew_over(&mut self, channel: &mut dyn Exchange) -> Result<&Provisioning, Error> {
        let subject = self.provisioning.band_certificate.subject().clone();
        let csr = self.se.csr(subject, None)?;
        let request = Request::Renew(Renew { csr: csr.as_der().to_vec() }).encode()?;
        let renewed = match Response::decode(&channel.exchange(&request)?)? {
            Response::Renewed(r) => r,
            Response::Error { reason } => return Err(Error::Refused(reason)),
            _ => return Err(Error::UnexpectedResponse("not a renewed certificate")),
        };
        let at = self.effective_time()?;
        let key = self.se.signing_key()?.public_key();
        let provisioning = self.provisioning.renewed(&renewed, &key, &self.provider, at)?;
        self.keys = provisioning.verify(&self.provider, at)?;
        self.provisioning = provisioning;
        self.sessions.remove(self.provisioning.server_name.as_bytes());
        Ok(&self.provisioning)
    }

    /// The payments the band has settled, oldest first, from the secure element (their
    /// receipts were verified when they were stored).
    pub fn receipts(&self) -> Result<Vec<PaymentOutcome>, Error> {
        self.se.settled().iter().map(local_outcome).collect()
    }

    /// The pending payments' transaction ids, oldest first.
    pub fn pending(&self) -> Vec<TxId> {
        self.se.pending().iter().map(|p| p.tx_id).collect()
    }

    /// Shows a message on the band.
    pub fn message(&mut self, text: &str) {
        self.ui.message(text);
    }
}

/// How long before a certificate ends the band renews: a band may stay off its phone for
/// weeks.
pub const RENEW_BEFORE_SECS: u64 = 30 * 24 * 3600;

/// A stored settlement as an outcome.
fn local_outcome(s: &SettledPayment) -> Result<PaymentOutcome, Error> {
    let malformed = |_| Error::StateMalformed("a settled payment");
    let request = PayRequest::decode(&s.request).map_err(malformed)?;
    let (outcome, receipt, balance_after) = match Response::decode(&s.response).map_err(malformed)? {
        Response::Pay(r) => (r.outcome, r.receipt.map(|sig| sig.payload_unverified().clone()), r.balance_after),
        Response::Error { reason } => (Outcome::Declined(reason), None, None),
        _ => return Err(Error::StateMalformed("a settled payment")),
    };
    Ok(PaymentOutcome {
        tx_id: s.tx_id,
        order_id: request.order_id().clone(),
        money: request.money(),
        mode: request.mode(),
        outcome,
        receipt,
        balance_after,
        recovered: false,
    })
}

#[allow(dead_code)]
fn _assert_object_safe(_: &dyn SecureElement, _: &dyn UserInterface, _: &dyn Clock, _: &dyn Exchange) {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::string::ToString;
    use wearpay_pay::{Amount, Currency, Description, MerchantId, MerchantName};

    fn order() -> Order {
        Order {
            order_id: OrderId::new("ORD-42").unwrap(),
            merchant_id: MerchantId::new("M-0001").unwrap(),
            merchant_name: MerchantName::new("Tea House").unwrap(),
            amount: Amount::from_minor(100_000).unwrap(),
            currency: Currency::CNY,
            description: Description::new("Two cups of tea").unwrap(),
            expires_at: Timestamp(2_000),
        }
    }

    #[test]
    fn an_order_is_checked_for_identity_and_expiry_at_the_effective_time() {
        let o = order();
        check_order(&o, &o.order_id, Timestamp(1_999)).unwrap();
        // Expired at `expires_at` itself, as the center judges it.
        let err = check_order(&o, &o.order_id, Timestamp(2_000)).unwrap_err();
        assert!(matches!(err, Error::OrderExpired { expires_at: Timestamp(2_000), .. }), "{err}");
        let other = OrderId::new("ORD-43").unwrap();
        assert!(matches!(check_order(&o, &other, Timestamp(0)), Err(Error::OrderMismatch(id)) if id == other));
    }

    #[test]
    fn the_screen_shows_the_text_confirm_mode_signs() {
        let screen = OrderScreen::new(&order(), Mode::Confirm);
        assert_eq!(screen.text, "Pay 1000.00 CNY\nTo Tea House (M-0001)\nOrder ORD-42\nTwo cups of tea");
        assert_eq!(screen.text, confirm_text(&order()).as_str());
        assert_eq!(screen.money.to_string(), "1000.00 CNY");
    }
}
