//! The administrator's endpoints: accounts, merchants, deposits, terminals, activation
//! codes, balances and the ledger check. Every change goes through the same store and
//! [`Center`](crate::node::Center) methods as the `wearpay center` commands.
extern crate alloc;

use alloc::{string::String, vec::Vec};
use core::time::Duration;

use axum::{
    Json,
    extract::{Path, State as AxumState},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use wearpay_crypto::Zeroizing;
use wearpay_pay::{Amount, Currency, HistoryCursor, MerchantId, MerchantName, Money, Pan, TerminalSerial};

use super::{
    ApiError, State,
    activation::DEFAULT_VALIDITY,
    error::{ApiJson, ApiQuery},
    now,
    public::{Revoked, report_secret_hash, revoke_all},
    tokens::Admin,
    view::{AccountView, TerminalView, decimal},
};
use crate::{AccountId, AccountKind, HistoryKind, NewAccount, NewMerchant, TerminalStatus};

fn bad(e: &wearpay_pay::Error) -> ApiError {
    ApiError::bad_request("invalid_input", e.to_string())
}

fn account_id(s: &str) -> Result<AccountId, ApiError> {
    s.parse::<AccountId>().map_err(ApiError::from)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccountBody {
    name: String,
    currency: String,
    /// `customer` or `merchant`.
    kind: String,
    /// Customer accounts: the PAN provisioned to the account's bands.
    pan: Option<String>,
    /// How far below zero it may go, decimal.
    overdraft: Option<String>,
}

/// A new account, with its reporting secret shown this once.
#[derive(Serialize)]
pub(crate) struct CreatedAccount {
    #[serde(flatten)]
    account: AccountView,
    /// Customer accounts: the secret that reports a lost band (`POST /v1/lost`); the
    /// center keeps only its SM3 hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    reporting_secret: Option<String>,
}

/// `POST /v1/admin/accounts`.
pub(crate) async fn create_account(
    AxumState(api): AxumState<State>,
    _: Admin,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<(StatusCode, Json<CreatedAccount>), ApiError> {
    let currency = Currency::from_code(&body.currency).map_err(|e| bad(&e))?;
    let kind = match body.kind.as_str() {
        "customer" => AccountKind::Customer,
        "merchant" => AccountKind::Merchant,
        _ => return Err(ApiError::bad_request("invalid_input", "kind must be customer or merchant")),
    };
    let mut new = NewAccount::new(&body.name, currency, kind);
    if let Some(pan) = &body.pan {
        new = new.with_pan(Pan::new(pan).map_err(|e| bad(&e))?);
    }
    if let Some(o) = &body.overdraft {
        new = new.with_overdraft(Amount::parse(o, currency).map_err(|e| bad(&e))?);
    }
    let store = api.center.store();
    let account = store.create_account(new, now()).await?;
    let reporting_secret = if kind == AccountKind::Customer {
        let mut bytes = Zeroizing::new([0u8; 20]);
        api.center.provider().fill_random(bytes.as_mut()).map_err(|e| ApiError::internal(&e))?;
        let secret = hex::encode(bytes.as_ref());
        store.set_report_secret_hash(account.id, Some(report_secret_hash(&secret).to_vec())).await?;
        Some(secret)
    } else {
        None
    };
    let account = store.account(account.id).await?.ok_or(ApiError::not_found("account"))?;
    Ok((StatusCode::CREATED, Json(CreatedAccount { account: AccountView::from(&account), reporting_secret })))
}

/// `GET /v1/admin/accounts/{id}`.
pub(crate) async fn account(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = api.center.store().account(account_id(&id)?).await?.ok_or(ApiError::not_found("account"))?;
    Ok(Json(AccountView::from(&account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DepositBody {
    /// Decimal, in the account's currency.
    amount: String,
}

#[derive(Serialize)]
pub(crate) struct DepositView {
    account: i64,
    amount: String,
    currency: String,
    balance: String,
    ledger_tx: i64,
}

/// `POST /v1/admin/accounts/{id}/deposits`.
pub(crate) async fn deposit(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DepositBody>,
) -> Result<(StatusCode, Json<DepositView>), ApiError> {
    let store = api.center.store();
    let account = store.account(account_id(&id)?).await?.ok_or(ApiError::not_found("account"))?;
    let currency = account.currency();
    let amount = Amount::parse(&body.amount, currency).map_err(|e| bad(&e))?;
    let d = store.deposit(account.id, Money::new(amount, currency), now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(DepositView {
            account: account.id.0,
            amount: decimal(amount.minor_i64(), currency),
            currency: String::from(currency.code()),
            balance: decimal(d.balance.minor, currency),
            ledger_tx: d.ledger_tx.0,
        }),
    ))
}

/// `GET /v1/admin/accounts/{id}/terminals`.
pub(crate) async fn terminals(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Vec<TerminalView>>, ApiError> {
    let store = api.center.store();
    let id = account_id(&id)?;
    store.account(id).await?.ok_or(ApiError::not_found("account"))?;
    Ok(Json(store.terminals_of(id).await?.iter().map(TerminalView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// The `cursor` of the last entry of the previous page.
    before: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct HistoryView {
    cursor: u64,
    kind: &'static str,
    amount: String,
    currency: String,
    at: u64,
    ledger_tx: i64,
    tx_id: Option<String>,
    order_id: Option<String>,
    mode: Option<&'static str>,
    refund_id: Option<String>,
}

/// `GET /v1/admin/accounts/{id}/transactions?limit=&before=`: the account's postings,
/// newest first.
pub(crate) async fn transactions(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Vec<HistoryView>>, ApiError> {
    let store = api.center.store();
    let id = account_id(&id)?;
    store.account(id).await?.ok_or(ApiError::not_found("account"))?;
    let items = store.history(id, q.limit.unwrap_or(100), q.before.map(HistoryCursor)).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|h| HistoryView {
                cursor: h.cursor.0,
                kind: match h.kind {
                    HistoryKind::Payment => "payment",
                    HistoryKind::Refund => "refund",
                    HistoryKind::Deposit => "deposit",
                },
                amount: decimal(h.amount.minor, h.amount.currency),
                currency: String::from(h.amount.currency.code()),
                at: h.at.0,
                ledger_tx: h.ledger_tx.0,
                tx_id: h.tx_id.map(|t| t.to_string()),
                order_id: h.order_id.map(|o| String::from(o.as_str())),
                mode: h.mode.map(wearpay_pay::Mode::name),
                refund_id: h.refund_id.map(|r| String::from(r.as_str())),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCodeBody {
    /// The band's name in its certificate subject.
    #[serde(default)]
    label: String,
    /// Seconds it may be used (default 7 days, at most 90).
    expires_in: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct CodeView {
    /// `<id>-<secret>`, for the holder: shown this once.
    activation_code: String,
    activation_id: String,
    account: i64,
    expires_at: u64,
}

/// `POST /v1/admin/accounts/{id}/activation-codes`.
pub(crate) async fn create_activation_code(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewCodeBody>,
) -> Result<(StatusCode, Json<CodeView>), ApiError> {
    let validity = body.expires_in.map_or(DEFAULT_VALIDITY, Duration::from_secs);
    let code = api.center.create_activation_code(account_id(&id)?, &body.label, validity, now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CodeView {
            activation_code: code.code.to_string(),
            activation_id: String::from(code.code.id()),
            account: code.account.0,
            expires_at: code.expires_at.0,
        }),
    ))
}

/// `POST /v1/admin/accounts/{id}/lost`: revokes every terminal of the account.
pub(crate) async fn lost(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let id = account_id(&id)?;
    api.center.store().account(id).await?.ok_or(ApiError::not_found("account"))?;
    Ok(Json(revoke_all(&api, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMerchantBody {
    /// The merchant id orders name.
    id: String,
    /// The name bands show.
    name: String,
    /// Its merchant account.
    account: i64,
}

#[derive(Serialize)]
pub(crate) struct MerchantView {
    id: String,
    name: String,
    account: i64,
    created_at: u64,
}

/// `POST /v1/admin/merchants`.
pub(crate) async fn create_merchant(
    AxumState(api): AxumState<State>,
    _: Admin,
    ApiJson(body): ApiJson<NewMerchantBody>,
) -> Result<(StatusCode, Json<MerchantView>), ApiError> {
    let new = NewMerchant {
        id: MerchantId::new(&body.id).map_err(|e| bad(&e))?,
        name: MerchantName::new(&body.name).map_err(|e| bad(&e))?,
        account: AccountId(body.account),
    };
    let m = api.center.store().create_merchant(new, now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(MerchantView {
            id: String::from(m.id.as_str()),
            name: String::from(m.name.as_str()),
            account: m.account.0,
            created_at: m.created_at.0,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    /// Where the merchant's events go: `https://…` (`http://` only with `[webhooks]
    /// allow_http`).
    url: String,
}

/// A merchant's endpoint, with its new signing secret shown this once.
#[derive(Serialize)]
pub(crate) struct WebhookView {
    merchant: String,
    url: String,
    /// `whsec_…`: the HMAC-SM3 key of the `Wearpay-Signature` header; the center keeps it
    /// only sealed.
    secret: String,
}

/// `PUT /v1/admin/merchants/{id}/webhook`: sets the endpoint and makes a new secret.
pub(crate) async fn set_webhook(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let merchant = MerchantId::new(&id).map_err(|e| bad(&e))?;
    let secret = api.center.configure_webhook(&merchant, &body.url, now()).await?;
    let url = api.center.store().webhook_url(&merchant).await?.ok_or(ApiError::not_found("merchant"))?;
    Ok(Json(WebhookView { merchant: id, url, secret: String::from(secret.as_str()) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhooksQuery {
    /// `pending`, `delivered` or `failed`; every state if absent.
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

#[derive(Serialize)]
pub(crate) struct WebhookEventView {
    id: String,
    merchant: String,
    #[serde(rename = "type")]
    kind: &'static str,
    state: &'static str,
    created_at: u64,
    attempts: u32,
    next_attempt_at: u64,
    last_status: Option<u16>,
    last_error: Option<String>,
    delivered_at: Option<u64>,
}

/// `GET /v1/admin/webhooks?state=&limit=`: the event queue, newest first (without the
/// bodies).
pub(crate) async fn webhooks(
    AxumState(api): AxumState<State>,
    _: Admin,
    ApiQuery(q): ApiQuery<WebhooksQuery>,
) -> Result<Json<Vec<WebhookEventView>>, ApiError> {
    let state = q
        .state
        .as_deref()
        .map(str::parse::<crate::WebhookState>)
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid_query", "state must be pending, delivered or failed"))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit must be 1 to 1000"));
    }
    let events = api.center.store().webhook_events(state, limit).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| WebhookEventView {
                id: e.id,
                merchant: String::from(e.merchant.as_str()),
                kind: e.kind.as_str(),
                state: e.state.as_str(),
                created_at: e.created_at.0,
                attempts: e.attempts,
                next_attempt_at: e.next_attempt_at.0,
                last_status: e.last_status,
                last_error: e.last_error,
                delivered_at: e.delivered_at.map(|t| t.0),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BalancesQuery {
    /// Accounts after this id (default 0).
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

#[derive(Serialize)]
pub(crate) struct BalanceView {
    account: i64,
    name: String,
    kind: &'static str,
    balance: String,
    currency: String,
}

/// `GET /v1/admin/balances?after=&limit=`: every account's balance, by id.
pub(crate) async fn balances(
    AxumState(api): AxumState<State>,
    _: Admin,
    ApiQuery(q): ApiQuery<BalancesQuery>,
) -> Result<Json<Vec<BalanceView>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit must be 1 to 1000"));
    }
    let lines = api.center.store().balances(q.after.unwrap_or(0), limit).await?;
    Ok(Json(
        lines
            .into_iter()
            .map(|b| BalanceView {
                account: b.account.0,
                name: b.name,
                kind: b.kind.as_str(),
                balance: decimal(b.balance.minor, b.balance.currency),
                currency: String::from(b.balance.currency.code()),
            })
            .collect(),
    ))
}

fn serial(s: &str) -> Result<TerminalSerial, ApiError> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    hex::decode(&clean)
        .ok()
        .and_then(|b| TerminalSerial::new(&b).ok())
        .ok_or(ApiError::bad_request("invalid_input", "a terminal serial is hex"))
}

/// `GET /v1/admin/terminals/{serial}`.
pub(crate) async fn terminal(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(s): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    let t = api.center.store().terminal(&serial(&s)?).await?.ok_or(ApiError::not_found("terminal"))?;
    Ok(Json(TerminalView::from(&t)))
}

async fn set_status(api: &State, s: &str, status: TerminalStatus) -> Result<Json<TerminalView>, ApiError> {
    let t = api.center.set_terminal_status(&serial(s)?, status, now()).await?;
    Ok(Json(TerminalView::from(&t)))
}

/// `POST /v1/admin/terminals/{serial}/suspend`.
pub(crate) async fn suspend(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(s): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    set_status(&api, &s, TerminalStatus::Suspended).await
}

/// `POST /v1/admin/terminals/{serial}/revoke`: final; the CRL is regenerated.
pub(crate) async fn revoke(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(s): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    set_status(&api, &s, TerminalStatus::Revoked).await
}

/// `POST /v1/admin/terminals/{serial}/reactivate`.
pub(crate) async fn reactivate(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(s): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    set_status(&api, &s, TerminalStatus::Active).await
}

#[derive(Serialize)]
pub(crate) struct PinView {
    account: i64,
    locked: bool,
    failures: u32,
}

/// `POST /v1/admin/terminals/{serial}/unlock-pin`: PIN mode on the terminal's account.
pub(crate) async fn unlock_pin(
    AxumState(api): AxumState<State>,
    _: Admin,
    Path(s): Path<String>,
) -> Result<Json<PinView>, ApiError> {
    let store = api.center.store();
    let t = store.terminal(&serial(&s)?).await?.ok_or(ApiError::not_found("terminal"))?;
    let state = store.unlock_pin(t.account, now()).await?;
    Ok(Json(PinView { account: t.account.0, locked: state.locked, failures: state.failures }))
}

#[derive(Serialize)]
pub(crate) struct LedgerView {
    ok: bool,
    summary: String,
    accounts: u64,
    postings: u64,
    approved_payments: u64,
    declined_payments: u64,
    unbalanced_ledger_txs: usize,
    balance_mismatches: usize,
    approved_without_one_booking: usize,
    bookings_without_approval: usize,
    order_mismatches: usize,
    refund_mismatches: usize,
}

/// `GET /v1/admin/ledger/check`.
pub(crate) async fn ledger_check(AxumState(api): AxumState<State>, _: Admin) -> Result<Json<LedgerView>, ApiError> {
    let r = api.center.store().ledger_check().await?;
    Ok(Json(LedgerView {
        ok: r.ok,
        summary: r.to_string(),
        accounts: r.accounts,
        postings: r.postings,
        approved_payments: r.approved_payments,
        declined_payments: r.declined_payments,
        unbalanced_ledger_txs: r.unbalanced_ledger_txs.len(),
        balance_mismatches: r.balance_mismatches.len(),
        approved_without_one_booking: r.approved_without_one_booking.len(),
        bookings_without_approval: r.bookings_without_approval.len(),
        order_mismatches: r.order_mismatches.len(),
        refund_mismatches: r.refund_mismatches.len(),
    }))
}
