//! The center's storage, on a fresh SQLite file and a fresh PostgreSQL database per test.
//!
//! Each scenario is an `async fn(&Store)` run on both backends (`NAME::sqlite`,
//! `NAME::postgres`). The PostgreSQL half needs `WEARPAY_TEST_POSTGRES`; `./test.sh`
//! installs and starts the server and sets it, with `WEARPAY_REQUIRE_INTEROP=1` so that an
//! unreachable server fails instead of skipping.
#![allow(clippy::unwrap_used, clippy::std_instead_of_alloc)]

mod common;

mod bench;
mod concurrency;
mod limits;
mod payments;
mod refunds;
mod registry;
