//! What an admin does to clients and customers after creating them: inspect, change, disable,
//! delete. Shared by the CLI and the tests, like `provisioning`. Every change is validated in
//! full before the database is touched, applied in one statement or transaction, and then
//! written to the audit trail; the cache epoch carries client changes to every instance within
//! the 5-second bound, and customers are read from the database on every login and profile
//! read, so their changes apply at once.

mod clients;
mod customers;

pub use clients::*;
pub use customers::*;

use crate::domain::Error;
use crate::store::{ClientPolicy, PolicyChange};
use crate::types::{QuotaMode, Rate};

/// The policy flags of `client create/update`, as the admin typed them. `none` removes a
/// setting (back to the server's default, or no limit).
#[derive(Debug, Clone, Default)]
pub struct PolicyFlags {
    pub rate_limit: Option<String>,
    pub quota: Option<String>,
    pub quota_mode: Option<String>,
    pub token_ttl: Option<String>,
}

/// Parses every flag or none: the first bad one is the error and nothing is applied.
/// `max_ttl` is the server's access-token lifetime, which a client's may not exceed.
pub fn parse_policy(flags: &PolicyFlags, max_ttl: u64) -> Result<PolicyChange, Error> {
    let rate = |flag: &str, raw: &Option<String>| -> Result<Option<Option<Rate>>, Error> {
        match raw.as_deref() {
            None => Ok(None),
            Some("none") => Ok(Some(None)),
            Some(r) => Rate::parse(r)
                .map(|r| Some(Some(r)))
                .map_err(|why| Error::invalid_request(format!("{flag} {why}"))),
        }
    };
    let token_ttl = match flags.token_ttl.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(raw) => Some(Some(token_ttl(raw, max_ttl)?)),
    };
    Ok(PolicyChange {
        rate_limit: rate("--rate-limit", &flags.rate_limit)?,
        quota: rate("--quota", &flags.quota)?,
        quota_mode: flags
            .quota_mode
            .as_deref()
            .map(QuotaMode::parse)
            .transpose()
            .map_err(|why| Error::invalid_request(format!("--quota-mode {why}")))?,
        token_ttl,
    })
}

fn token_ttl(raw: &str, max_ttl: u64) -> Result<u64, Error> {
    let secs = humantime::parse_duration(raw)
        .map(|d| d.as_secs())
        .map_err(|_| {
            Error::invalid_request(format!(
                "--token-ttl {raw:?}: expected a duration such as 300s, 10m or 1h, or none"
            ))
        })?;
    if secs == 0 {
        return Err(Error::invalid_request(format!(
            "--token-ttl {raw:?}: a token lifetime must be at least 1s"
        )));
    }
    if secs > max_ttl {
        // Signing keys retire once the longest token the server issues has expired.
        return Err(Error::invalid_request(format!(
            "--token-ttl {raw:?}: at most the server's access-token lifetime, {max_ttl}s \
             (TOLLGATE_ACCESS_TOKEN_TTL), which key retirement is computed from"
        )));
    }
    Ok(secs)
}

/// A policy for the audit trail: ` rate_limit=50/s quota=100000/d …` (empty when default).
pub fn describe_policy(p: &ClientPolicy) -> String {
    describe_change(&PolicyChange::from(p))
}

pub(super) fn describe_change(c: &PolicyChange) -> String {
    let rate = |r: Option<Rate>| r.map_or_else(|| "none".to_owned(), |r| r.to_string());
    let mut out = String::new();
    if let Some(r) = c.rate_limit {
        out.push_str(&format!(" rate_limit={}", rate(r)));
    }
    if let Some(q) = c.quota {
        out.push_str(&format!(" quota={}", rate(q)));
    }
    if let Some(m) = c.quota_mode {
        out.push_str(&format!(" quota_mode={}", m.as_str()));
    }
    if let Some(t) = c.token_ttl {
        out.push_str(&format!(
            " token_ttl={}",
            t.map_or_else(|| "none".to_owned(), |t| t.to_string())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(
        rate: Option<&str>,
        quota: Option<&str>,
        mode: Option<&str>,
        ttl: Option<&str>,
    ) -> PolicyFlags {
        PolicyFlags {
            rate_limit: rate.map(str::to_owned),
            quota: quota.map(str::to_owned),
            quota_mode: mode.map(str::to_owned),
            token_ttl: ttl.map(str::to_owned),
        }
    }

    #[test]
    fn policy_flags_parse_in_full_or_not_at_all() {
        let change = parse_policy(
            &flags(Some("50/s"), Some("none"), Some("observe"), Some("10m")),
            3600,
        )
        .unwrap();
        assert_eq!(change.rate_limit, Some(Some(Rate::parse("50/s").unwrap())));
        assert_eq!(change.quota, Some(None));
        assert_eq!(change.quota_mode, Some(QuotaMode::Observe));
        assert_eq!(change.token_ttl, Some(Some(600)));
        for (f, why) in [
            (flags(Some("0/s"), None, None, None), "--rate-limit"),
            (flags(None, Some("-1/d"), None, None), "--quota"),
            (flags(None, Some("10/fortnight"), None, None), "unit"),
            (flags(Some("1e9/s"), None, None, None), "whole number"),
            (
                flags(None, None, Some("strict"), None),
                "enforce or observe",
            ),
            (
                flags(None, None, None, Some("2h")),
                "TOLLGATE_ACCESS_TOKEN_TTL",
            ),
            (flags(None, None, None, Some("0s")), "at least 1s"),
            (flags(None, None, None, Some("soon")), "duration"),
            // A good flag does not carry a bad one through.
            (flags(Some("5/s"), Some("0/d"), None, None), "--quota"),
        ] {
            let err = parse_policy(&f, 3600).unwrap_err().to_string();
            assert!(err.contains(why), "{f:?}: {err}");
        }
    }
}
