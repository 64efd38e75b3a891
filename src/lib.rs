//! tollgate: an OAuth2 client-credentials and customer-token server.

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
