//! One integration-test binary: the real server on a random port, a fresh database per test,
//! every test on PostgreSQL and on SQLite. The harness is in `support/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod support;

mod audit;
mod caching;
mod cli;
mod customer;
mod discovery;
mod dpop;
mod drills;
mod framing;
mod haproxy_drill;
mod keys;
mod lifecycle;
mod limits;
mod login_cors;
mod metrics;
mod mtls;
mod outages;
mod private_key_jwt;
mod profile;
mod quotas;
mod resource_indicators;
mod revocation;
mod robustness;
mod token;
mod usage;
mod widgets;
