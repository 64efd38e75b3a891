//! What an admin does to clients and customers after creating them: inspect, change, disable,
//! delete. Shared by the CLI and the tests, like `provisioning`. Every change is validated in
//! full before the database is touched, applied in one statement or transaction, and then
//! written to the audit trail; the cache epoch carries client changes to every instance within
//! the 5-second bound, and customers are read from the database on every login and profile
//! read, so their changes apply at once.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::domain::Error;
use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::security::hashing::{Argon2Settings, bind, hash_now};
use crate::store::{
    ClientPolicy, ClientRow, ClientUpdate, CustomerKey, CustomerRow, CustomerUpdate, PolicyChange,
    Store, client_enabled_sql as enabled_sql, client_update_sql,
};
use crate::types::{ClientId, CustomerId, QuotaMode, Rate, ScopeSet, Username};

/// Tokens of a deleted client stop working within the cache bound; its id stays unused this
/// long after the longest token lifetime, for the clock skew resource servers allow.
const ID_REUSE_MARGIN_SECS: i64 = 60;

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

fn describe_change(c: &PolicyChange) -> String {
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

/// A change an admin asks of a client.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    pub scope: Option<String>,
    pub default_scope: Option<String>,
    pub policy: PolicyChange,
}

fn client_id(raw: &str) -> Result<ClientId, Error> {
    ClientId::parse(raw).map_err(Error::invalid_request)
}

fn no_client(id: &ClientId) -> Error {
    Error::invalid_request(format!("no client {id}"))
}

fn scope_set(flag: &str, raw: &str) -> Result<ScopeSet, Error> {
    ScopeSet::parse(raw).map_err(|why| Error::InvalidScope(format!("{flag}: {why}").into()))
}

fn check_defaults(allowed: &ScopeSet, defaults: &ScopeSet) -> Result<(), Error> {
    if defaults.is_subset(allowed) {
        return Ok(());
    }
    Err(Error::InvalidScope(
        format!(
            "the default scopes must be among the allowed scopes; not allowed: {} \
             (give --default-scope too)",
            defaults.difference(allowed).join(" ")
        )
        .into(),
    ))
}

/// The client as it is stored, or "no client".
pub async fn client(store: &Store, id: &str) -> Result<ClientRow, Error> {
    let id = client_id(id)?;
    store
        .client_row(id.as_str())
        .await?
        .ok_or_else(|| no_client(&id))
}

/// Applies `change` to client `id`; returns the client as it now is.
pub async fn update_client(
    store: &Store,
    id: &str,
    change: &ClientChange,
    now: i64,
) -> Result<ClientRow, Error> {
    let current = client(store, id).await?;
    let scopes = match (&change.scope, &change.default_scope) {
        (None, None) => None,
        (scope, default_scope) => {
            let allowed = match scope {
                Some(s) => scope_set("--scope", s)?,
                None => current.allowed_scopes.clone(),
            };
            let defaults = match default_scope {
                Some(d) => scope_set("--default-scope", d)?,
                None => current.default_scopes.clone(),
            };
            check_defaults(&allowed, &defaults)?;
            Some((allowed, defaults))
        }
    };
    if scopes.is_none() && change.policy.is_empty() {
        return Err(Error::invalid_request(
            "nothing to change: give --scope, --default-scope, --rate-limit, --quota, \
             --quota-mode or --token-ttl",
        ));
    }
    let detail = match &scopes {
        Some((a, d)) => format!("scopes={a} default_scopes={d}"),
        None => String::new(),
    } + &describe_change(&change.policy);
    let update = ClientUpdate {
        scopes,
        policy: change.policy.clone(),
    };
    if !store
        .update_client(&current.client_id, &update, now)
        .await?
    {
        // Deleted between the read and the write.
        return Err(Error::invalid_request(format!(
            "no client {}",
            current.client_id
        )));
    }
    AuditEvent::new(AuditKind::ClientUpdated, &Caller::cli(), now * 1000)
        .client(&current.client_id)
        .detail(detail.trim().to_owned())
        .write_now(store)
        .await?;
    client(store, &current.client_id).await
}

/// `update_client` as SQL for a provisioning migration, without reading the database: the
/// scopes are therefore given together, so that the defaults can be checked.
pub fn update_client_sql(id: &str, change: &ClientChange, now: i64) -> Result<String, Error> {
    let id = client_id(id)?;
    let scopes = match (&change.scope, &change.default_scope) {
        (None, None) => None,
        (Some(s), Some(d)) => {
            let (allowed, defaults) = (scope_set("--scope", s)?, scope_set("--default-scope", d)?);
            check_defaults(&allowed, &defaults)?;
            Some((allowed, defaults))
        }
        _ => {
            return Err(Error::invalid_request(
                "with --sql, give --scope and --default-scope together: the database's \
                 current scopes cannot be checked",
            ));
        }
    };
    if scopes.is_none() && change.policy.is_empty() {
        return Err(Error::invalid_request("nothing to change"));
    }
    let update = ClientUpdate {
        scopes,
        policy: change.policy.clone(),
    };
    Ok(client_update_sql(id.as_str(), &update, now))
}

/// Disables or enables a client. A disabled client cannot authenticate anywhere and its
/// unexpired tokens are refused by every instance within the cache bound.
pub async fn set_client_enabled(
    store: &Store,
    id: &str,
    enabled: bool,
    now: i64,
) -> Result<ClientRow, Error> {
    let id = client_id(id)?;
    if !store.set_client_enabled(id.as_str(), enabled, now).await? {
        return Err(no_client(&id));
    }
    let kind = if enabled {
        AuditKind::ClientEnabled
    } else {
        AuditKind::ClientDisabled
    };
    AuditEvent::new(kind, &Caller::cli(), now * 1000)
        .client(id.as_str())
        .write_now(store)
        .await?;
    client(store, id.as_str()).await
}

pub fn set_client_enabled_sql(id: &str, enabled: bool, now: i64) -> Result<String, Error> {
    Ok(enabled_sql(client_id(id)?.as_str(), enabled, now))
}

/// Deletes a client, its previous secrets and its policy. Its unexpired tokens stop working
/// on every instance within the cache bound, as a disabled client's do (the instances' set of
/// enabled clients no longer has it); its id cannot be given to a new client until they have
/// expired, `longest_ttl` + 60 s from now. Returns that time.
pub async fn delete_client(
    store: &Store,
    id: &str,
    longest_ttl: u64,
    now: i64,
) -> Result<i64, Error> {
    let id = client_id(id)?;
    let reusable_at = now
        .saturating_add(i64::try_from(longest_ttl).unwrap_or(i64::MAX / 2))
        .saturating_add(ID_REUSE_MARGIN_SECS);
    if !store.delete_client(id.as_str(), now, reusable_at).await? {
        return Err(no_client(&id));
    }
    AuditEvent::new(AuditKind::ClientDeleted, &Caller::cli(), now * 1000)
        .client(id.as_str())
        .detail(format!("id reusable at {reusable_at}"))
        .write_now(store)
        .await?;
    Ok(reusable_at)
}

// --- customers ----------------------------------------------------------------------------

/// A customer named by username or by opaque id (exactly one of them).
pub fn customer_key(username: Option<&str>, id: Option<&str>) -> Result<CustomerKey, Error> {
    match (username, id) {
        (Some(u), None) => Username::parse(u)
            .map(CustomerKey::Username)
            .map_err(Error::invalid_request),
        (None, Some(i)) => CustomerId::parse(i)
            .map(CustomerKey::Id)
            .map_err(Error::invalid_request),
        _ => Err(Error::invalid_request(
            "name the customer by --username or by --id (one of them)",
        )),
    }
}

pub async fn customer(store: &Store, key: &CustomerKey) -> Result<CustomerRow, Error> {
    store
        .customer_row(key)
        .await?
        .ok_or_else(|| Error::invalid_request("no such customer"))
}

/// A change an admin asks of a customer. An empty name, email or phone clears it.
#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// A JSON object that replaces the customer's attributes.
    pub attributes: Option<Value>,
}

pub async fn update_customer(
    store: &Store,
    key: &CustomerKey,
    change: CustomerChange,
    now: i64,
) -> Result<CustomerRow, Error> {
    let clear_empty = |v: Option<String>| v.map(|v| Some(v).filter(|v| !v.is_empty()));
    let username = change
        .username
        .as_deref()
        .map(Username::parse)
        .transpose()
        .map_err(Error::invalid_request)?;
    let update = CustomerUpdate {
        username,
        name: clear_empty(change.name),
        email: clear_empty(change.email),
        phone: clear_empty(change.phone),
        attributes: match change.attributes {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(Error::invalid_request("attributes must be a JSON object")),
        },
    };
    if update.is_empty() {
        return Err(Error::invalid_request(
            "nothing to change: give --new-username, --name, --email, --phone or --attributes",
        ));
    }
    let current = customer(store, key).await?;
    if let Some(u) = &update.username
        && let Some(other) = store
            .customer_row(&CustomerKey::Username(u.clone()))
            .await?
        && other.customer_id != current.customer_id
    {
        return Err(Error::invalid_request("that username is taken"));
    }
    let id = &current.customer_id;
    if !store.update_customer(id, &update, now).await? {
        return Err(Error::invalid_request("no such customer"));
    }
    // Which fields changed, never their values: they are personal data.
    let fields: Vec<&str> = [
        ("username", update.username.is_some()),
        ("name", update.name.is_some()),
        ("email", update.email.is_some()),
        ("phone", update.phone.is_some()),
        ("attributes", update.attributes.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, changed)| changed.then_some(f))
    .collect();
    AuditEvent::new(AuditKind::CustomerUpdated, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .detail(format!("changed: {}", fields.join(" ")))
        .write_now(store)
        .await?;
    customer(store, &CustomerKey::Id(id.clone())).await
}

/// A disabled customer cannot log in (answered like a wrong password) and their profile is no
/// longer served, from the next request on every instance.
pub async fn set_customer_disabled(
    store: &Store,
    key: &CustomerKey,
    disabled: bool,
    now: i64,
) -> Result<CustomerRow, Error> {
    let id = customer(store, key).await?.customer_id;
    if !store
        .set_customer_disabled(&id, disabled.then_some(now), now)
        .await?
    {
        return Err(Error::invalid_request("no such customer"));
    }
    let kind = if disabled {
        AuditKind::CustomerDisabled
    } else {
        AuditKind::CustomerEnabled
    };
    AuditEvent::new(kind, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    customer(store, &CustomerKey::Id(id)).await
}

pub async fn delete_customer(
    store: &Store,
    key: &CustomerKey,
    now: i64,
) -> Result<CustomerId, Error> {
    let id = customer(store, key).await?.customer_id;
    if !store.delete_customer(&id).await? {
        return Err(Error::invalid_request("no such customer"));
    }
    AuditEvent::new(AuditKind::CustomerDeleted, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    Ok(id)
}

/// A new password (at least 8 characters), hashed bound to the customer id. Customer tokens
/// already issued stay valid until they expire.
pub async fn set_customer_password(
    store: &Store,
    key: &CustomerKey,
    password: &SecretString,
    argon2: &Argon2Settings,
    now: i64,
) -> Result<CustomerId, Error> {
    if password.expose_secret().len() < 8 {
        return Err(Error::invalid_request(
            "a password must be at least 8 characters",
        ));
    }
    let id = customer(store, key).await?.customer_id;
    let hash = hash_now(argon2, &bind(id.as_str(), password.expose_secret()))?;
    if !store.set_customer_password(&id, &hash, now).await? {
        return Err(Error::invalid_request("no such customer"));
    }
    AuditEvent::new(AuditKind::CustomerPasswordSet, &Caller::cli(), now * 1000)
        .customer(id.as_str())
        .write_now(store)
        .await?;
    Ok(id)
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

    #[test]
    fn update_sql_needs_both_scopes_and_checks_them() {
        let change = |s: Option<&str>, d: Option<&str>| ClientChange {
            scope: s.map(str::to_owned),
            default_scope: d.map(str::to_owned),
            policy: PolicyChange::default(),
        };
        assert!(
            update_client_sql("p", &change(Some("a"), None), 1)
                .unwrap_err()
                .to_string()
                .contains("together")
        );
        assert!(
            update_client_sql("p", &change(Some("a"), Some("b")), 1)
                .unwrap_err()
                .to_string()
                .contains("not allowed: b")
        );
        let sql = update_client_sql("p", &change(Some("a b"), Some("a")), 1).unwrap();
        assert!(
            sql.starts_with("UPDATE clients SET allowed_scopes = 'a b', default_scopes = 'a'"),
            "{sql}"
        );
        assert!(update_client_sql("p", &change(None, None), 1).is_err());
    }
}
