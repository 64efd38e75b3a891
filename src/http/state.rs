//! What every handler shares, built once by `app` at start-up. (It lives here rather than in
//! `app/` so that `http` never imports its caller.)

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::Authority;
use crate::widgets::{CorsPolicy, Widgets};
use crate::wire::login::SessionMode;

pub struct AppState {
    pub authority: Authority,
    pub clock: Arc<dyn Clock>,
    pub customer_session: SessionMode,
    /// How many `X-Forwarded-For` entries, from the right, were added by our own proxies.
    pub trusted_proxy_hops: usize,
    /// Peers whose client-certificate header (`client_cert_header`) is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where a trusted proxy puts the client certificate (RFC 8705 behind a proxy).
    pub client_cert_header: Option<actix_web::http::header::HeaderName>,
    /// The CA a certificate from that header must chain to for `tls_client_auth`; `None`: the
    /// proxy's own verification is trusted (see `http::extract`).
    pub header_ca: Option<Arc<crate::tls::ClientCa>>,
    /// Whether a client certificate can reach tollgate at all (its own TLS asks for one, or a
    /// proxy forwards it): RFC 8705 §3.3 metadata.
    pub certificate_bound_tokens: bool,
    pub session_cookie_name: String,
    /// How long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// The OpenAPI document, rendered once.
    pub openapi: String,
    /// Chat-widget token profiles.
    pub widgets: Widgets,
    /// Which origins' pages may call the login endpoint (always with credentials).
    pub login_cors: CorsPolicy,
}
