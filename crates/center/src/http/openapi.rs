//! The OpenAPI 3.1 document of the API, written by hand. A test holds its paths and
//! methods to [`super::route_table`], which is what the router serves.
use serde_json::{Map, Value, json};

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Access {
    Public,
    Merchant,
    Admin,
}

/// One operation: method, path, access, summary, request body schema (if any), the
/// success status and its schema, and the error statuses it may answer.
struct Op {
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    body: Option<Value>,
    ok: (&'static str, Value),
    errors: &'static [&'static str],
}

fn string() -> Value {
    json!({"type": "string"})
}

fn decimal() -> Value {
    json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "decimal, in the major unit"})
}

fn integer() -> Value {
    json!({"type": "integer"})
}

fn object(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn ops() -> Vec<Op> {
    use Access::{Admin, Merchant, Public};
    let revoked =
        object(&["account", "revoked"], json!({"account": integer(), "revoked": {"type": "array", "items": string()}}));
    let terminal = schema("Terminal");
    vec![
        Op {
            method: "get",
            path: "/health",
            access: Public,
            summary: "The center and its database answer",
            body: None,
            ok: ("200", object(&["status"], json!({"status": {"const": "ok"}}))),
            errors: &["503"],
        },
        Op {
            method: "get",
            path: "/metrics",
            access: Admin,
            summary: "The center's metrics, OpenMetrics text (handshakes, payments, latencies, connections, \
                      rejected handshakes, queue depths). Needs no token with [http] metrics_public = true.",
            body: None,
            ok: ("200", string()),
            errors: &["401", "403"],
        },
        Op {
            method: "get",
            path: "/crl",
            access: Public,
            summary: "The terminal CRL: DER for Accept: application/pkix-crl, else PEM",
            body: None,
            ok: ("200", string()),
            errors: &["500"],
        },
        Op {
            method: "get",
            path: "/openapi.json",
            access: Public,
            summary: "This document",
            body: None,
            ok: ("200", json!({"type": "object"})),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/v1/enroll",
            access: Public,
            summary: "Enroll a band with an activation code: its CSR's challengePassword is the lowercase hex of \
                      HMAC-SM3(code secret, the CSR's SubjectPublicKeyInfo DER). Rate-limited per address.",
            body: Some(object(&["activation_id", "csr_pem"], json!({"activation_id": string(), "csr_pem": string()}))),
            ok: ("201", schema("Enrollment")),
            errors: &["400", "403", "410", "415", "422", "429"],
        },
        Op {
            method: "post",
            path: "/v1/lost",
            access: Public,
            summary: "Report a lost band with the account's reporting secret: every terminal of the account is \
                      revoked at once. Rate-limited per address.",
            body: Some(object(
                &["account", "reporting_secret"],
                json!({"account": integer(), "reporting_secret": string()}),
            )),
            ok: ("200", revoked.clone()),
            errors: &["400", "403", "422", "429"],
        },
        Op {
            method: "post",
            path: "/v1/orders",
            access: Merchant,
            summary: "Create an order for a band to pay",
            body: Some(object(
                &["order_id", "amount", "currency"],
                json!({"order_id": string(), "amount": decimal(), "currency": string(), "description": string(),
                       "expires_in": {"type": "integer", "minimum": 1, "maximum": 2_592_000, "default": 900}}),
            )),
            ok: ("201", schema("Order")),
            errors: &["400", "401", "403", "409", "422"],
        },
        Op {
            method: "get",
            path: "/v1/orders/{id}",
            access: Merchant,
            summary: "An order of the caller's and its payment",
            body: None,
            ok: ("200", schema("Order")),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "post",
            path: "/v1/orders/{id}/refunds",
            access: Merchant,
            summary: "Refund part or all of the order's payment; idempotent by refund_id (200 with replayed = true)",
            body: Some(object(&["refund_id", "amount"], json!({"refund_id": string(), "amount": decimal()}))),
            ok: ("201", schema("Refund")),
            errors: &["400", "401", "403", "404", "409", "422"],
        },
        Op {
            method: "get",
            path: "/v1/transactions",
            access: Merchant,
            summary: "The caller's payment requests (approved and declined) and refunds of a day, in the center's \
                      time zone",
            body: None,
            ok: ("200", json!({"type": "object"})),
            errors: &["400", "401", "403"],
        },
        Op {
            method: "get",
            path: "/v1/reports/daily",
            access: Merchant,
            summary: "Every posting of a day on the caller's account, with totals; format=json (default) or csv",
            body: None,
            ok: ("200", schema("DailyReport")),
            errors: &["400", "401", "403"],
        },
        Op {
            method: "post",
            path: "/v1/admin/accounts",
            access: Admin,
            summary: "Open an account; a customer account's reporting secret is returned this once",
            body: Some(object(
                &["name", "currency", "kind"],
                json!({"name": string(), "currency": string(), "kind": {"enum": ["customer", "merchant"]},
                       "pan": string(), "overdraft": decimal()}),
            )),
            ok: ("201", schema("Account")),
            errors: &["400", "401", "403", "409", "422"],
        },
        Op {
            method: "get",
            path: "/v1/admin/accounts/{id}",
            access: Admin,
            summary: "An account",
            body: None,
            ok: ("200", schema("Account")),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "post",
            path: "/v1/admin/accounts/{id}/deposits",
            access: Admin,
            summary: "Credit the account from the bank's funding account",
            body: Some(object(&["amount"], json!({"amount": decimal()}))),
            ok: ("201", json!({"type": "object"})),
            errors: &["400", "401", "403", "404", "422"],
        },
        Op {
            method: "get",
            path: "/v1/admin/accounts/{id}/terminals",
            access: Admin,
            summary: "The account's terminals",
            body: None,
            ok: ("200", json!({"type": "array", "items": terminal.clone()})),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "get",
            path: "/v1/admin/accounts/{id}/transactions",
            access: Admin,
            summary: "The account's postings, newest first (limit, before)",
            body: None,
            ok: ("200", json!({"type": "array", "items": {"type": "object"}})),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "post",
            path: "/v1/admin/accounts/{id}/activation-codes",
            access: Admin,
            summary: "A one-time code that enrolls a band to this customer account (default 7 days)",
            body: Some(object(&[], json!({"label": string(), "expires_in": integer()}))),
            ok: (
                "201",
                object(
                    &["activation_code", "activation_id", "account", "expires_at"],
                    json!({"activation_code": string(), "activation_id": string(), "account": integer(),
                           "expires_at": integer()}),
                ),
            ),
            errors: &["400", "401", "403", "404", "422"],
        },
        Op {
            method: "post",
            path: "/v1/admin/accounts/{id}/lost",
            access: Admin,
            summary: "Revoke every terminal of the account (a lost band)",
            body: None,
            ok: ("200", revoked),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "post",
            path: "/v1/admin/merchants",
            access: Admin,
            summary: "Register a merchant on a merchant account",
            body: Some(object(
                &["id", "name", "account"],
                json!({"id": string(), "name": string(), "account": integer()}),
            )),
            ok: ("201", json!({"type": "object"})),
            errors: &["400", "401", "403", "404", "409", "422"],
        },
        Op {
            method: "put",
            path: "/v1/admin/merchants/{id}/webhook",
            access: Admin,
            summary: "Set the merchant's webhook endpoint; answers a new signing secret, shown this once",
            body: Some(object(&["url"], json!({"url": {"type": "string", "format": "uri"}}))),
            ok: (
                "200",
                object(
                    &["merchant", "url", "secret"],
                    json!({"merchant": string(), "url": string(), "secret": string()}),
                ),
            ),
            errors: &["400", "401", "403", "404", "422"],
        },
        Op {
            method: "get",
            path: "/v1/admin/webhooks",
            access: Admin,
            summary: "Merchants' webhook events, newest first (state, limit)",
            body: None,
            ok: ("200", json!({"type": "array", "items": schema("WebhookEvent")})),
            errors: &["400", "401", "403"],
        },
        Op {
            method: "get",
            path: "/v1/admin/balances",
            access: Admin,
            summary: "Every account's balance, by id (after, limit)",
            body: None,
            ok: ("200", json!({"type": "array", "items": {"type": "object"}})),
            errors: &["400", "401", "403"],
        },
        Op {
            method: "get",
            path: "/v1/admin/terminals/{serial}",
            access: Admin,
            summary: "A terminal",
            body: None,
            ok: ("200", terminal.clone()),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "post",
            path: "/v1/admin/terminals/{serial}/suspend",
            access: Admin,
            summary: "Refuse the terminal until reactivated",
            body: None,
            ok: ("200", terminal.clone()),
            errors: &["400", "401", "403", "404", "409"],
        },
        Op {
            method: "post",
            path: "/v1/admin/terminals/{serial}/revoke",
            access: Admin,
            summary: "Revoke the terminal for good; the CRL is regenerated",
            body: None,
            ok: ("200", terminal.clone()),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "post",
            path: "/v1/admin/terminals/{serial}/reactivate",
            access: Admin,
            summary: "Let a suspended terminal pay again",
            body: None,
            ok: ("200", terminal),
            errors: &["400", "401", "403", "404", "409"],
        },
        Op {
            method: "post",
            path: "/v1/admin/terminals/{serial}/unlock-pin",
            access: Admin,
            summary: "Unlock PIN mode on the terminal's account",
            body: None,
            ok: ("200", json!({"type": "object"})),
            errors: &["400", "401", "403", "404"],
        },
        Op {
            method: "get",
            path: "/v1/admin/ledger/check",
            access: Admin,
            summary: "Prove the ledger: postings sum to zero, balances match them",
            body: None,
            ok: ("200", json!({"type": "object"})),
            errors: &["401", "403"],
        },
    ]
}

fn parameters(op: &Op) -> Vec<Value> {
    let mut out = Vec::new();
    for name in ["id", "serial"] {
        if op.path.contains(&format!("{{{name}}}")) {
            out.push(json!({"name": name, "in": "path", "required": true, "schema": string()}));
        }
    }
    match op.path {
        "/v1/transactions" => {
            out.push(
                json!({"name": "day", "in": "query", "required": true, "schema": {"type": "string", "format": "date"}}),
            );
        }
        "/v1/reports/daily" => {
            out.push(
                json!({"name": "day", "in": "query", "required": true, "schema": {"type": "string", "format": "date"}}),
            );
            out.push(json!({"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}}));
        }
        "/v1/admin/accounts/{id}/transactions" => {
            out.push(json!({"name": "limit", "in": "query", "schema": integer()}));
            out.push(json!({"name": "before", "in": "query", "schema": integer()}));
        }
        "/v1/admin/webhooks" => {
            out.push(json!({"name": "state", "in": "query", "schema": {"enum": ["pending", "delivered", "failed"]}}));
            out.push(json!({"name": "limit", "in": "query", "schema": integer()}));
        }
        "/v1/admin/balances" => {
            out.push(json!({"name": "after", "in": "query", "schema": integer()}));
            out.push(json!({"name": "limit", "in": "query", "schema": integer()}));
        }
        _ => {}
    }
    out
}

fn operation(op: &Op) -> Value {
    let mut responses = Map::new();
    // Every answer is JSON but the metrics, which Prometheus reads as OpenMetrics text.
    let media = if op.path == "/metrics" { "application/openmetrics-text" } else { "application/json" };
    responses
        .insert(op.ok.0.into(), json!({"description": "success", "content": {media: {"schema": op.ok.1.clone()}}}));
    for status in op.errors {
        responses.insert(
            (*status).into(),
            json!({"description": "error", "content": {"application/json": {"schema": schema("Error")}}}),
        );
    }
    let mut o = json!({
        "summary": op.summary,
        "operationId": format!("{}_{}", op.method, op.path.trim_start_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
        "parameters": parameters(op),
        "responses": responses,
    });
    match op.access {
        Access::Public => o["security"] = json!([]),
        Access::Merchant => o["tags"] = json!(["merchant"]),
        Access::Admin => o["tags"] = json!(["admin"]),
    }
    if let Some(body) = &op.body {
        o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": body}}});
    }
    o
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in ops() {
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method] = operation(&op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wearpay processing center",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Operations API: merchants' orders, refunds and reports; the bank's accounts and \
                            terminals; band enrollment by activation code and lost-band reports. Amounts are \
                            decimal strings in the major unit of their currency.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": object(&["error"], json!({"error": object(&["code", "message"], json!({"code": string(), "message": string()}))})),
                "Enrollment": object(
                    &["account", "pan", "terminal_serial", "certificate_pem", "terminal_ca_chain_pem", "root_pem",
                      "center_ca_pem", "receipt_sign_pem", "pin_enc_pem", "server_name", "certificate_not_after"],
                    json!({"account": integer(), "pan": string(), "terminal_serial": string(),
                           "certificate_pem": string(), "terminal_ca_chain_pem": {"type": "array", "items": string()},
                           "root_pem": string(), "center_ca_pem": string(), "receipt_sign_pem": string(),
                           "pin_enc_pem": string(), "server_name": string(), "certificate_not_after": integer()}),
                ),
                "Order": object(
                    &["order_id", "merchant", "amount", "currency", "status", "expires_at"],
                    json!({"order_id": string(), "merchant": string(), "merchant_name": string(), "amount": decimal(),
                           "currency": string(), "description": string(),
                           "status": {"enum": ["open", "paid", "expired"]}, "expires_at": integer(),
                           "created_at": integer(), "paid_tx_id": {"type": ["string", "null"]},
                           "refunded": decimal(), "refundable": decimal()}),
                ),
                "Refund": object(
                    &["refund_id", "order_id", "tx_id", "amount", "currency", "refunded_total", "replayed"],
                    json!({"refund_id": string(), "order_id": string(), "tx_id": string(), "amount": decimal(),
                           "currency": string(), "paid": decimal(), "refunded_total": decimal(),
                           "created_at": integer(), "replayed": {"type": "boolean"}}),
                ),
                "DailyReport": object(
                    &["merchant", "day", "time_zone", "entries", "totals"],
                    json!({"merchant": string(), "account": integer(), "day": string(), "time_zone": string(),
                           "from": integer(), "to": integer(), "currency": string(),
                           "entries": {"type": "array", "items": {"type": "object"}},
                           "totals": object(&["payments", "refunds", "net"], json!({"payments_count": integer(),
                               "payments": decimal(), "refunds_count": integer(), "refunds": decimal(),
                               "deposits": decimal(), "net": decimal(), "net_minor": integer()}))}),
                ),
                "Account": object(
                    &["account", "name", "kind", "currency", "balance"],
                    json!({"account": integer(), "name": string(), "kind": string(), "currency": string(),
                           "balance": decimal(), "overdraft_limit": decimal(), "pan": {"type": ["string", "null"]},
                           "pin_set": {"type": "boolean"}, "pin_locked": {"type": "boolean"},
                           "pin_failures": integer(), "reporting_secret_set": {"type": "boolean"},
                           "created_at": integer(), "reporting_secret": string()}),
                ),
                "WebhookEvent": object(
                    &["id", "merchant", "type", "state", "created_at", "attempts", "next_attempt_at"],
                    json!({"id": string(), "merchant": string(),
                           "type": {"enum": ["payment.approved", "refund.succeeded"]},
                           "state": {"enum": ["pending", "delivered", "failed"]}, "created_at": integer(),
                           "attempts": integer(), "next_attempt_at": integer(),
                           "last_status": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                           "delivered_at": {"type": ["integer", "null"]}}),
                ),
                "Terminal": object(
                    &["serial", "account", "status"],
                    json!({"serial": string(), "account": integer(),
                           "status": {"enum": ["active", "suspended", "revoked"]},
                           "last_counter": {"type": ["integer", "null"]}, "enrolled_at": integer(),
                           "status_changed_at": integer(), "replaced_by": {"type": ["string", "null"]}}),
                ),
            },
        },
    })
}
