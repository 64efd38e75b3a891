//! Client changes after creation: update, disable, enable, delete.

use super::describe_change;
use crate::domain::Error;
use crate::domain::audit::{AuditEvent, AuditKind, Caller};
use crate::domain::provisioning::check_audiences;
use crate::store::{
    ClientRow, ClientUpdate, PolicyChange, Store, client_enabled_sql as enabled_sql,
    client_update_sql,
};
use crate::types::{ClientId, ScopeSet};

/// Tokens of a deleted client stop working within the cache bound; its id stays unused this
/// long after the longest token lifetime, for the clock skew resource servers allow.
const ID_REUSE_MARGIN_SECS: i64 = 60;

/// A change an admin asks of a client.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    pub scope: Option<String>,
    pub default_scope: Option<String>,
    /// Replaces the audiences (RFC 8707); `Some(empty)`: the server's default audience.
    pub audiences: Option<Vec<String>>,
    /// Whether its token requests must carry a DPoP proof (RFC 9449 §5).
    pub require_dpop: Option<bool>,
    /// Whether its tokens are bound to its client certificate (RFC 8705 §3).
    pub bind_certificate: Option<bool>,
    pub policy: PolicyChange,
}

impl ClientChange {
    /// The store's update, with the scopes and audiences already settled; refused when it
    /// changes nothing.
    fn update(
        &self,
        scopes: Option<(ScopeSet, ScopeSet)>,
        audiences: Option<Vec<String>>,
    ) -> Result<ClientUpdate, Error> {
        let update = ClientUpdate {
            scopes,
            audiences,
            require_dpop: self.require_dpop,
            bind_certificate: self.bind_certificate,
            policy: self.policy.clone(),
        };
        if update.is_empty() {
            return Err(Error::invalid_request(NOTHING_TO_CHANGE));
        }
        Ok(update)
    }

    /// The audiences checked as `client create` checks them.
    fn audiences(&self, server_audience: &str) -> Result<Option<Vec<String>>, Error> {
        self.audiences
            .clone()
            .map(|given| check_audiences(given, server_audience))
            .transpose()
    }
}

const NOTHING_TO_CHANGE: &str = "nothing to change: give --scope, --default-scope, --audience, \
     --server-audience, --rate-limit, --quota, --quota-mode or --token-ttl";

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
    server_audience: &str,
    now: i64,
) -> Result<ClientRow, Error> {
    let current = client(store, id).await?;
    let audiences = change.audiences(server_audience)?;
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
    let update = change.update(scopes, audiences)?;
    let detail = describe_update(&update);
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

/// The audit detail of a change: what it set.
fn describe_update(update: &ClientUpdate) -> String {
    let mut detail = String::new();
    if let Some((a, d)) = &update.scopes {
        detail.push_str(&format!(" scopes={a} default_scopes={d}"));
    }
    if let Some(audiences) = &update.audiences {
        detail.push_str(&format!(" audiences={}", audiences.join(" ")));
    }
    if let Some(required) = update.require_dpop {
        detail.push_str(&format!(" require_dpop={required}"));
    }
    if let Some(bind) = update.bind_certificate {
        detail.push_str(&format!(" bind_certificate={bind}"));
    }
    detail.push_str(&describe_change(&update.policy));
    detail
}

/// `update_client` as SQL for a provisioning migration, without reading the database: the
/// scopes are therefore given together, so that the defaults can be checked.
pub fn update_client_sql(
    id: &str,
    change: &ClientChange,
    server_audience: &str,
    now: i64,
) -> Result<String, Error> {
    let id = client_id(id)?;
    let audiences = change.audiences(server_audience)?;
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
    let update = change.update(scopes, audiences)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PolicyChange;

    #[test]
    fn update_sql_needs_both_scopes_and_checks_them() {
        let change = |s: Option<&str>, d: Option<&str>| ClientChange {
            scope: s.map(str::to_owned),
            default_scope: d.map(str::to_owned),
            audiences: None,
            require_dpop: None,
            bind_certificate: None,
            policy: PolicyChange::default(),
        };
        assert!(
            update_client_sql("p", &change(Some("a"), None), "aud", 1)
                .unwrap_err()
                .to_string()
                .contains("together")
        );
        assert!(
            update_client_sql("p", &change(Some("a"), Some("b")), "aud", 1)
                .unwrap_err()
                .to_string()
                .contains("not allowed: b")
        );
        let sql = update_client_sql("p", &change(Some("a b"), Some("a")), "aud", 1).unwrap();
        assert!(
            sql.starts_with("UPDATE clients SET allowed_scopes = 'a b', default_scopes = 'a'"),
            "{sql}"
        );
        assert!(update_client_sql("p", &change(None, None), "aud", 1).is_err());
    }
}
