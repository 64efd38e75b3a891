//! Prometheus metrics. The series names are part of tollgate's contract (README "Metrics").
//! Label values are bounded: client ids only once authenticated (they are provisioned), routes
//! as templates, reasons and results from fixed lists; nothing from unauthenticated input.
//!
//! Counters are updated on the request path (an atomic add; a client's counter is looked up
//! without allocating once it exists); values that are a reading of some state (queue depths,
//! pool connections, key age) are read when `/metrics` is scraped.

use std::collections::HashMap;
use std::sync::RwLock;

use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    client_id: String,
    grant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabel {
    client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Why a client failed to authenticate (`tollgate_client_auth_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No such client, or a wrong secret: one answer to the client, two readings here.
    UnknownClient,
    BadSecret,
    DisabledClient,
    /// The failure limiter refused the attempt before any verification.
    RateLimited,
    /// A `private_key_jwt` assertion that does not hold (RFC 7523 §3).
    BadAssertion,
    /// `tls_client_auth` without a certificate naming the client (RFC 8705 §2.1).
    BadCertificate,
}

impl AuthFailure {
    fn as_str(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::BadSecret => "bad_secret",
            Self::DisabledClient => "disabled_client",
            Self::RateLimited => "rate_limited",
            Self::BadAssertion => "bad_assertion",
            Self::BadCertificate => "bad_certificate",
        }
    }
}

/// Readings taken when `/metrics` is scraped.
pub struct Readings {
    pub hash_queue_depth: i64,
    pub hash_rejected: u64,
    pub hash_yielded: u64,
    pub db_pool_idle: i64,
    pub db_pool_in_use: i64,
    pub audit_queue_depth: i64,
    pub audit_events_written: u64,
    pub signing_key_age_seconds: i64,
    pub es256_key_tables: i64,
}

pub struct Metrics {
    registry: Registry,
    tokens_issued: Family<GrantLabels, Counter>,
    /// Each client's `tokens_issued` counter, found by `&str` without building labels.
    tokens_by_client: RwLock<HashMap<Box<str>, Counter>>,
    auth_failures: Family<ReasonLabel, Counter>,
    http_requests: Family<RouteStatus, Counter>,
    http_duration: Family<RouteLabel, Histogram>,
    cache: Family<ResultLabel, Counter>,
    quota_exceeded: Family<ClientLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tollgate_tokens_issued",
            "Access tokens issued, by client and grant",
            tokens_issued.clone(),
        );
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "tollgate_client_auth_failures",
            "Failed client authentications, by reason",
            auth_failures.clone(),
        );
        let http_requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "tollgate_http_requests",
            "HTTP requests, by route template and status",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            // 0.25 ms to about 4 s.
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        });
        registry.register(
            "tollgate_http_request_duration_seconds",
            "Time from request to response, by route template",
            http_duration.clone(),
        );
        let cache = Family::<ResultLabel, Counter>::default();
        registry.register(
            "tollgate_credential_cache",
            "Credential checks answered from the cache (hit) or by argon2 (miss)",
            cache.clone(),
        );
        let quota_exceeded = Family::<ClientLabel, Counter>::default();
        registry.register(
            "tollgate_quota_exceeded",
            "Token requests over a client's quota or rate limit (refused, or let through in observe mode)",
            quota_exceeded.clone(),
        );
        Self {
            registry,
            tokens_issued,
            tokens_by_client: RwLock::new(HashMap::new()),
            auth_failures,
            http_requests,
            http_duration,
            cache,
            quota_exceeded,
        }
    }

    /// One access token issued to an authenticated client.
    pub fn token_issued(&self, client_id: &str) {
        if let Some(counter) = self
            .tokens_by_client
            .read()
            .ok()
            .and_then(|m| m.get(client_id).cloned())
        {
            counter.inc();
            return;
        }
        let counter = self.tokens_issued.get_or_create_owned(&GrantLabels {
            client_id: client_id.to_owned(),
            grant: "client_credentials",
        });
        counter.inc();
        if let Ok(mut m) = self.tokens_by_client.write() {
            m.insert(client_id.into(), counter);
        }
    }

    pub fn auth_failure(&self, why: AuthFailure) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: why.as_str(),
            })
            .inc();
    }

    pub fn credential_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn quota_exceeded(&self, client_id: &str) {
        self.quota_exceeded
            .get_or_create(&ClientLabel {
                client_id: client_id.to_owned(),
            })
            .inc();
    }

    /// One HTTP exchange; `route` is the matched template (or "unmatched").
    pub fn http_request(&self, route: String, status: u16, seconds: f64) {
        self.http_duration
            .get_or_create(&RouteLabel {
                route: route.clone(),
            })
            .observe(seconds);
        self.http_requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
    }

    /// The exposition text: the counters kept here, then `readings`.
    pub fn render(&self, readings: &Readings) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        text::encode_registry(&mut out, &self.registry)?;
        let mut now = Registry::default();
        let gauge = |v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            g
        };
        let counter = |v: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(v);
            c
        };
        now.register(
            "tollgate_hash_queue_depth",
            "argon2 jobs waiting for a hashing thread",
            gauge(readings.hash_queue_depth),
        );
        now.register(
            "tollgate_hash_rejected",
            "argon2 jobs refused because the pool was saturated (answered 503)",
            counter(readings.hash_rejected),
        );
        now.register(
            "tollgate_hash_yielded",
            "argon2 jobs that gave way to a busy process (fewer hashes at once than threads, or \
             a rest after the hash)",
            counter(readings.hash_yielded),
        );
        let pool = Family::<StateLabel, Gauge>::default();
        pool.get_or_create(&StateLabel { state: "idle" })
            .set(readings.db_pool_idle);
        pool.get_or_create(&StateLabel { state: "in_use" })
            .set(readings.db_pool_in_use);
        now.register(
            "tollgate_db_pool_connections",
            "Database connections in the pool, by state",
            pool,
        );
        now.register(
            "tollgate_audit_queue_depth",
            "Audit events waiting for the writer",
            gauge(readings.audit_queue_depth),
        );
        now.register(
            "tollgate_audit_events_written",
            "Audit events written to the database",
            counter(readings.audit_events_written),
        );
        now.register(
            "tollgate_signing_key_age_seconds",
            "Age of the key that signs tokens now",
            gauge(readings.signing_key_age_seconds),
        );
        now.register(
            "tollgate_es256_key_tables",
            "Busy P-256 client and DPoP keys whose ES256 signatures are verified on their own \
             precomputed table",
            gauge(readings.es256_key_tables),
        );
        text::encode_registry(&mut out, &now)?;
        text::encode_eof(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings() -> Readings {
        Readings {
            hash_queue_depth: 2,
            hash_rejected: 3,
            hash_yielded: 7,
            db_pool_idle: 4,
            db_pool_in_use: 1,
            audit_queue_depth: 0,
            audit_events_written: 9,
            signing_key_age_seconds: 60,
            es256_key_tables: 5,
        }
    }

    #[test]
    fn renders_every_series_with_exact_counts() {
        let m = Metrics::new();
        for _ in 0..5 {
            m.token_issued("desk");
        }
        m.auth_failure(AuthFailure::BadSecret);
        m.credential_cache(true);
        m.http_request("/access_token".into(), 200, 0.001);
        let text = m.render(&readings()).unwrap();
        for line in [
            "tollgate_tokens_issued_total{client_id=\"desk\",grant=\"client_credentials\"} 5",
            "tollgate_client_auth_failures_total{reason=\"bad_secret\"} 1",
            "tollgate_credential_cache_total{result=\"hit\"} 1",
            "tollgate_http_requests_total{route=\"/access_token\",status=\"200\"} 1",
            "tollgate_http_request_duration_seconds_count{route=\"/access_token\"} 1",
            "tollgate_hash_queue_depth 2",
            "tollgate_hash_rejected_total 3",
            "tollgate_hash_yielded_total 7",
            "tollgate_db_pool_connections{state=\"idle\"} 4",
            "tollgate_audit_events_written_total 9",
            "tollgate_signing_key_age_seconds 60",
            "tollgate_es256_key_tables 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
