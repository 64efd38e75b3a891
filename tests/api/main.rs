//! One integration-test binary: the real server on a random port, a fresh database per test,
//! every test on PostgreSQL and on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod audit;
mod caching;
mod cli;
mod customer;
mod discovery;
mod drills;
mod keys;
mod limits;
mod profile;
mod revocation;
mod robustness;
mod token;
mod widgets;
