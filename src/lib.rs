//! tollgate: an OAuth2 client-credentials and customer-token server.
//!
//! Layers, each importing only the ones below it (README "Code map"):
//! `app`, `cli` → `http` → `widgets` → `domain` → `security` → `store` → `wire`, `types`;
//! `metrics` and `clock` are leaves any layer may use.
// Denied, not forbidden: one system call has no safe wrapper (`security::hashing::priority`).
#![deny(unsafe_code)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod security;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod types;
pub mod widgets;
pub mod wire;
