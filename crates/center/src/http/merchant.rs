//! The merchant endpoints: a merchant token sees its own orders, payments, refunds and
//! reports, and no one else's.
extern crate alloc;

use alloc::{string::String, vec::Vec};
use core::fmt::Write as _;

use axum::{
    Json,
    extract::{Path, State as AxumState},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use wearpay_pay::{Amount, Currency, Description, Money, OrderId, Outcome, Timestamp, TxId};

use super::{
    ApiError, State,
    error::{ApiJson, ApiQuery},
    now,
    queries::PostingKind,
    tokens::MerchantCaller,
    view::{day_bounds, decimal, local_time},
};
use crate::{Merchant, NewOrder, RefundId, StoredOrder};

/// How long an order accepts payment unless told otherwise.
const DEFAULT_ORDER_SECS: u64 = 900;
/// The longest an order may stay open.
const MAX_ORDER_SECS: u64 = 30 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrderBody {
    order_id: String,
    /// Decimal, in the major unit: "12.50".
    amount: String,
    currency: String,
    #[serde(default)]
    description: String,
    /// Seconds it accepts payment (default 900, at most 30 days).
    expires_in: Option<u64>,
}

/// An order and its payment.
#[derive(Serialize)]
pub(crate) struct OrderView {
    order_id: String,
    merchant: String,
    merchant_name: String,
    amount: String,
    currency: String,
    description: String,
    status: &'static str,
    expires_at: u64,
    created_at: u64,
    paid_tx_id: Option<String>,
    refunded: String,
    refundable: String,
}

async fn order_view(api: &State, o: &StoredOrder, at: Timestamp) -> Result<OrderView, ApiError> {
    let c = o.order.currency;
    let refunded = match &o.paid_tx {
        Some(tx) => api.center.store().lookup_tx(tx).await?.map_or(0, |t| t.refunded.minor_i64()),
        None => 0,
    };
    let refundable = if o.paid_tx.is_some() { o.order.amount.minor_i64().saturating_sub(refunded) } else { 0 };
    Ok(OrderView {
        order_id: String::from(o.order.order_id.as_str()),
        merchant: String::from(o.order.merchant_id.as_str()),
        merchant_name: String::from(o.order.merchant_name.as_str()),
        amount: decimal(o.order.amount.minor_i64(), c),
        currency: String::from(c.code()),
        description: String::from(o.order.description.as_str()),
        status: o.status_at(at).as_str(),
        expires_at: o.order.expires_at.0,
        created_at: o.created_at.0,
        paid_tx_id: o.paid_tx.map(|t| t.to_string()),
        refunded: decimal(refunded, c),
        refundable: decimal(refundable, c),
    })
}

fn bad(e: &wearpay_pay::Error) -> ApiError {
    ApiError::bad_request("invalid_input", e.to_string())
}

/// `POST /v1/orders`.
pub(crate) async fn create_order(
    AxumState(api): AxumState<State>,
    MerchantCaller(merchant): MerchantCaller,
    ApiJson(body): ApiJson<NewOrderBody>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let currency = Currency::from_code(&body.currency).map_err(|e| bad(&e))?;
    let expires_in = body.expires_in.unwrap_or(DEFAULT_ORDER_SECS);
    if !(1..=MAX_ORDER_SECS).contains(&expires_in) {
        return Err(ApiError::bad_request("invalid_input", "expires_in must be 1 second to 30 days"));
    }
    let at = now();
    let new = NewOrder {
        order_id: OrderId::new(&body.order_id).map_err(|e| bad(&e))?,
        merchant: merchant.id.clone(),
        money: Money::new(Amount::parse(&body.amount, currency).map_err(|e| bad(&e))?, currency),
        description: Description::new(&body.description).map_err(|e| bad(&e))?,
        expires_at: at.saturating_add(expires_in),
    };
    let order = api.center.store().create_order(new, at).await?;
    Ok((StatusCode::CREATED, Json(order_view(&api, &order, at).await?)))
}

/// The order `id` if it is `merchant`'s.
async fn own_order(api: &State, merchant: &Merchant, id: &str) -> Result<StoredOrder, ApiError> {
    let id = OrderId::new(id).map_err(|e| bad(&e))?;
    let order = api.center.store().get_order(&id).await?.ok_or(ApiError::not_found("order"))?;
    if order.order.merchant_id != merchant.id {
        return Err(ApiError::forbidden("the order is another merchant's"));
    }
    Ok(order)
}

/// `GET /v1/orders/{id}`.
pub(crate) async fn order(
    AxumState(api): AxumState<State>,
    MerchantCaller(merchant): MerchantCaller,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let order = own_order(&api, &merchant, &id).await?;
    Ok(Json(order_view(&api, &order, now()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundBody {
    /// The idempotency key: the same id again returns the first refund.
    refund_id: String,
    /// Decimal, in the order's currency.
    amount: String,
}

/// A refund.
#[derive(Serialize)]
pub(crate) struct RefundView {
    refund_id: String,
    order_id: String,
    tx_id: String,
    amount: String,
    currency: String,
    paid: String,
    refunded_total: String,
    created_at: u64,
    /// Whether an earlier call with this id booked it.
    replayed: bool,
}

/// `POST /v1/orders/{id}/refunds`: a partial or full refund of the order's payment.
pub(crate) async fn refund(
    AxumState(api): AxumState<State>,
    MerchantCaller(merchant): MerchantCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<(StatusCode, Json<RefundView>), ApiError> {
    let order = own_order(&api, &merchant, &id).await?;
    let refund_id = RefundId::new(&body.refund_id).map_err(ApiError::from)?;
    let currency = order.order.currency;
    let amount = Amount::parse(&body.amount, currency).map_err(|e| bad(&e))?;
    let Some(tx) = order.paid_tx else {
        return Err(ApiError::conflict("order_not_paid", "the order has no approved payment to refund"));
    };
    let r = api.center.store().refund(&refund_id, &tx, amount, now()).await?;
    let view = RefundView {
        refund_id: String::from(r.refund_id.as_str()),
        order_id: String::from(order.order.order_id.as_str()),
        tx_id: r.tx_id.to_string(),
        amount: decimal(r.money.amount.minor_i64(), currency),
        currency: String::from(currency.code()),
        paid: decimal(r.paid.minor_i64(), currency),
        refunded_total: decimal(r.refunded_total.minor_i64(), currency),
        created_at: r.created_at.0,
        replayed: r.replayed,
    };
    Ok((if r.replayed { StatusCode::OK } else { StatusCode::CREATED }, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DayQuery {
    day: String,
    #[serde(default)]
    format: Option<String>,
}

#[derive(Serialize)]
struct PaymentItem {
    tx_id: String,
    order_id: String,
    amount: String,
    currency: String,
    mode: &'static str,
    /// `approved`, or the reason it was declined.
    outcome: &'static str,
    refunded: String,
    at: u64,
}

#[derive(Serialize)]
struct RefundItem {
    refund_id: String,
    tx_id: String,
    order_id: String,
    amount: String,
    currency: String,
    at: u64,
}

/// A merchant's payments and refunds of one day.
#[derive(Serialize)]
pub(crate) struct Transactions {
    merchant: String,
    day: String,
    time_zone: String,
    payments: Vec<PaymentItem>,
    refunds: Vec<RefundItem>,
}

/// `GET /v1/transactions?day=YYYY-MM-DD`: the merchant's payment requests decided that
/// day (approved and declined) and the refunds booked that day, in the center's time zone.
pub(crate) async fn transactions(
    AxumState(api): AxumState<State>,
    MerchantCaller(merchant): MerchantCaller,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> Result<Json<Transactions>, ApiError> {
    if q.format.is_some() {
        return Err(ApiError::bad_request("invalid_query", "format is for the daily report"));
    }
    let tz = api.center.store().config().time_zone;
    let (date, from, to) = day_bounds(&q.day, tz)?;
    let (payments, refunds) = api.center.store().merchant_activity(&merchant.id, from, to).await?;
    Ok(Json(Transactions {
        merchant: String::from(merchant.id.as_str()),
        day: date.to_string(),
        time_zone: String::from(tz.name()),
        payments: payments
            .into_iter()
            .map(|p| PaymentItem {
                tx_id: p.tx_id.to_string(),
                order_id: String::from(p.order_id.as_str()),
                amount: decimal(p.amount, p.currency),
                currency: String::from(p.currency.code()),
                mode: p.mode.name(),
                outcome: match p.outcome {
                    Outcome::Approved => "approved",
                    Outcome::Declined(reason) => reason.name(),
                },
                refunded: decimal(p.refunded, p.currency),
                at: p.at.0,
            })
            .collect(),
        refunds: refunds
            .into_iter()
            .map(|r| RefundItem {
                refund_id: String::from(r.refund_id.as_str()),
                tx_id: r.tx_id.to_string(),
                order_id: String::from(r.order_id.as_str()),
                amount: decimal(r.amount, r.currency),
                currency: String::from(r.currency.code()),
                at: r.at.0,
            })
            .collect(),
    }))
}

/// One line of the daily report: a posting on the merchant's account.
#[derive(Serialize)]
struct ReportEntry {
    kind: &'static str,
    at: u64,
    local_time: String,
    tx_id: Option<String>,
    order_id: Option<String>,
    refund_id: Option<String>,
    mode: Option<&'static str>,
    /// As posted on the merchant's account: payments positive, refunds negative.
    amount: String,
}

#[derive(Serialize)]
struct ReportTotals {
    payments_count: u64,
    payments: String,
    refunds_count: u64,
    refunds: String,
    deposits: String,
    /// The change of the merchant account's balance over the day.
    net: String,
    net_minor: i64,
}

/// The daily report.
#[derive(Serialize)]
pub(crate) struct DailyReport {
    merchant: String,
    account: i64,
    day: String,
    time_zone: String,
    /// The day as Unix seconds, `[from, to)`.
    from: u64,
    to: u64,
    currency: String,
    entries: Vec<ReportEntry>,
    totals: ReportTotals,
}

/// `GET /v1/reports/daily?day=YYYY-MM-DD&format=json|csv`: every posting of the day on the
/// merchant's account (payments, refunds, deposits) with totals; read from the ledger
/// itself on one snapshot, so `net` is exactly the balance's change over the day.
pub(crate) async fn daily_report(
    AxumState(api): AxumState<State>,
    MerchantCaller(merchant): MerchantCaller,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_query", "format must be json or csv")),
    };
    let store = api.center.store();
    let tz = store.config().time_zone;
    let (date, from, to) = day_bounds(&q.day, tz)?;
    let account = store.account(merchant.account).await?.ok_or(ApiError::not_found("merchant account"))?;
    let currency = account.currency();
    let postings = store.postings_between(merchant.account, from, to).await?;
    let (mut pay_n, mut pay, mut ref_n, mut refunds, mut deposits, mut net) = (0u64, 0i64, 0u64, 0i64, 0i64, 0i64);
    let mut entries = Vec::with_capacity(postings.len());
    for p in postings {
        let minor = p.amount.minor;
        net = net.saturating_add(minor);
        match p.kind {
            PostingKind::Payment => {
                pay_n += 1;
                pay = pay.saturating_add(minor);
            }
            PostingKind::Refund => {
                ref_n += 1;
                refunds = refunds.saturating_sub(minor);
            }
            PostingKind::Deposit => deposits = deposits.saturating_add(minor),
        }
        entries.push(ReportEntry {
            kind: p.kind.as_str(),
            at: p.at.0,
            local_time: local_time(p.at, tz),
            tx_id: p.tx_id.map(|t: TxId| t.to_string()),
            order_id: p.order_id.map(|o| String::from(o.as_str())),
            refund_id: p.refund_id.map(|r| String::from(r.as_str())),
            mode: p.mode.map(wearpay_pay::Mode::name),
            amount: decimal(minor, p.amount.currency),
        });
    }
    let report = DailyReport {
        merchant: String::from(merchant.id.as_str()),
        account: merchant.account.0,
        day: date.to_string(),
        time_zone: String::from(tz.name()),
        from: from.0,
        to: to.0,
        currency: String::from(currency.code()),
        entries,
        totals: ReportTotals {
            payments_count: pay_n,
            payments: decimal(pay, currency),
            refunds_count: ref_n,
            refunds: decimal(refunds, currency),
            deposits: decimal(deposits, currency),
            net: decimal(net, currency),
            net_minor: net,
        },
    };
    if !csv {
        return Ok(Json(report).into_response());
    }
    let disposition = format!("attachment; filename=\"report-{}-{}.csv\"", report.day, csv_safe_name(&report.merchant));
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report_csv(&report)).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The report as CSV (RFC 4180): a header, one row per entry, then one row per total.
fn report_csv(r: &DailyReport) -> String {
    let mut out = String::from("kind,local_time,tx_id,order_id,refund_id,mode,amount,currency\r\n");
    let opt = |s: &Option<String>| s.as_deref().map(csv_field).unwrap_or_default();
    for e in &r.entries {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{}\r\n",
            e.kind,
            e.local_time,
            opt(&e.tx_id),
            opt(&e.order_id),
            opt(&e.refund_id),
            e.mode.unwrap_or(""),
            e.amount,
            r.currency
        );
    }
    let t = &r.totals;
    for (name, value) in [
        ("total_payments", &t.payments),
        ("total_refunds", &t.refunds),
        ("total_deposits", &t.deposits),
        ("net", &t.net),
    ] {
        let _ = write!(out, "{name},,,,,,{value},{}\r\n", r.currency);
    }
    out
}

/// A text field quoted when it must be, and never read as a formula by a spreadsheet.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { String::from(s) };
    if s.contains([',', '"', '\r', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

fn csv_safe_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("O-1"), "O-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say\"hi\""), "\"say\"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_safe_name("M/../1"), "M____1");
    }
}
