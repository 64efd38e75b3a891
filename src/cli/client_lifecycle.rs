//! `tollgate client list|show|update|disable|enable|delete`, and the policy flags that
//! `client create` shares with `update` (rate limit, quota, quota mode, token lifetime).

use clap::{Args, Subcommand};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{CliError, print, rfc3339};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::lifecycle::{self, ClientChange, PolicyFlags};
use crate::domain::usage::Credential;
use crate::store::{Backend, ClientPolicy, ClientRow, PolicyChange};

/// A client's operating settings.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Short-term limit on token requests: N/s, N/m, N/h or N/d (e.g. 50/s); `none` removes it.
    #[arg(long, allow_hyphen_values = true)]
    rate_limit: Option<String>,
    /// Long-term quota on token requests: N/s, N/m, N/h or N/d (e.g. 100000/d); `none`
    /// removes it.
    #[arg(long, allow_hyphen_values = true)]
    quota: Option<String>,
    /// `enforce` (over a limit: 429) or `observe` (only count and log). Default: enforce.
    #[arg(long, allow_hyphen_values = true)]
    quota_mode: Option<String>,
    /// This client's access-token lifetime (300s, 10m, 1h), at most TOLLGATE_ACCESS_TOKEN_TTL;
    /// `none` returns to the server's.
    #[arg(long, allow_hyphen_values = true)]
    token_ttl: Option<String>,
}

impl PolicyArgs {
    pub fn change(&self, settings: &Settings) -> Result<PolicyChange, CliError> {
        let flags = PolicyFlags {
            rate_limit: self.rate_limit.clone(),
            quota: self.quota.clone(),
            quota_mode: self.quota_mode.clone(),
            token_ttl: self.token_ttl.clone(),
        };
        Ok(lifecycle::parse_policy(&flags, settings.access_token_ttl)?)
    }

    /// The policy of a new client.
    pub fn policy(&self, settings: &Settings) -> Result<ClientPolicy, CliError> {
        Ok(self.change(settings)?.applied_to(&ClientPolicy::default()))
    }
}

#[derive(Subcommand)]
pub enum LifecycleCommand {
    /// List every client (without secrets).
    List,
    /// Show one client: scopes, state, policy, previous secrets still valid.
    Show {
        #[arg(long)]
        id: String,
    },
    /// Change a client's scopes, audiences or policy (only what is given changes; every
    /// instance within 5 seconds); prints the client as it now is.
    Update {
        #[arg(long)]
        id: String,
        /// Space-delimited scopes the client may request.
        #[arg(long)]
        scope: Option<String>,
        /// Scopes granted when a request names none (must be among the allowed scopes).
        #[arg(long)]
        default_scope: Option<String>,
        /// Replace the client's audiences with these (repeatable; absolute URIs, RFC 8707).
        #[arg(long, conflicts_with = "server_audience")]
        audience: Vec<String>,
        /// Replace the client's audiences with the server's own audience.
        #[arg(long)]
        server_audience: bool,
        /// Whether token requests must carry a DPoP proof (RFC 9449): true or false.
        #[arg(long)]
        require_dpop: Option<bool>,
        /// Whether its tokens are bound to its client certificate (RFC 8705): true or false.
        #[arg(long)]
        bind_certificate: Option<bool>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print the SQL for a provisioning migration instead of changing the database.
        #[arg(long)]
        sql: bool,
    },
    /// Disable a client: it cannot authenticate, and its tokens stop working everywhere within
    /// 5 seconds.
    Disable {
        #[arg(long)]
        id: String,
        /// Print the SQL for a provisioning migration instead of changing the database.
        #[arg(long)]
        sql: bool,
    },
    /// Enable a disabled client again.
    Enable {
        #[arg(long)]
        id: String,
        /// Print the SQL for a provisioning migration instead of changing the database.
        #[arg(long)]
        sql: bool,
    },
    /// Delete a client: its tokens stop working everywhere within 5 seconds, and its id cannot
    /// be reused until they would have expired.
    Delete {
        #[arg(long)]
        id: String,
    },
}

pub async fn run(command: LifecycleCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    let toggle = match &command {
        LifecycleCommand::Disable { id, sql } => Some((id.clone(), false, *sql)),
        LifecycleCommand::Enable { id, sql } => Some((id.clone(), true, *sql)),
        _ => None,
    };
    if let Some((id, enabled, sql)) = toggle {
        if sql {
            let statement = lifecycle::set_client_enabled_sql(&id, enabled, now)?;
            let what = if enabled { "enable" } else { "disable" };
            print_sql(settings, &format!("{what} client {id}"), &statement);
            return Ok(());
        }
        let store = open_store(settings).await?;
        let row = lifecycle::set_client_enabled(&store, &id, enabled, now).await?;
        print(&client_json(&row, settings));
        return Ok(());
    }
    match command {
        LifecycleCommand::Update {
            id,
            scope,
            default_scope,
            audience,
            server_audience,
            require_dpop,
            bind_certificate,
            policy,
            sql,
        } => {
            let change = ClientChange {
                scope,
                default_scope,
                audiences: (server_audience || !audience.is_empty()).then_some(audience),
                require_dpop,
                bind_certificate,
                policy: policy.change(settings)?,
            };
            let own = settings.default_audience();
            if sql {
                let statements = lifecycle::update_client_sql(&id, &change, own, now)?;
                print_sql(settings, &format!("update client {id}"), &statements);
                return Ok(());
            }
            let store = open_store(settings).await?;
            let row = lifecycle::update_client(&store, &id, &change, own, now).await?;
            print(&client_json(&row, settings));
        }
        LifecycleCommand::List => {
            let store = open_store(settings).await?;
            let clients: Vec<Value> = store
                .client_rows()
                .await?
                .iter()
                .map(|row| client_json(row, settings))
                .collect();
            print(&json!({ "clients": clients }));
        }
        LifecycleCommand::Show { id } => {
            let store = open_store(settings).await?;
            let row = lifecycle::client(&store, &id).await?;
            let previous: Vec<Value> = store
                .previous_secrets(&row.client_id, now)
                .await?
                .into_iter()
                .map(|(_, until)| json!({ "valid_until": rfc3339(until * 1000) }))
                .collect();
            let mut out = client_json(&row, settings);
            // As far as the servers have flushed it (every 2 seconds and when they stop). An
            // admin ends a rotation once the previous secret is no longer used.
            let last = |c: Credential| store.last_used(c.as_str(), &row.client_id);
            let current = last(Credential::ClientSecret).await?;
            let old = last(Credential::ClientPreviousSecret).await?;
            out["secret_last_used_at"] = json!(current.map(rfc3339));
            out["previous_secret_last_used_at"] = json!(old.map(rfc3339));
            out["previous_secrets"] = json!(previous);
            print(&out);
        }
        LifecycleCommand::Delete { id } => {
            let store = open_store(settings).await?;
            let reusable_at =
                lifecycle::delete_client(&store, &id, settings.access_token_ttl, now).await?;
            print(&json!({
                "client_id": id,
                "deleted": true,
                "id_reusable_after": rfc3339(reusable_at * 1000),
            }));
        }
        LifecycleCommand::Disable { .. } | LifecycleCommand::Enable { .. } => {}
    }
    Ok(())
}

/// A client as `list`, `show`, `update`, `disable` and `enable` print it: one JSON object, to
/// which later fields (such as when its secret was last used) are added by name.
pub fn client_json(row: &ClientRow, settings: &Settings) -> Value {
    let p = &row.policy;
    let rate = |r: Option<crate::types::Rate>| r.map(|r| r.to_string());
    let audiences = if row.audiences.is_empty() {
        vec![settings.default_audience().to_owned()]
    } else {
        row.audiences.clone()
    };
    let mut out = json!({
        "client_id": row.client_id,
        "enabled": row.enabled,
        "token_endpoint_auth_method": row.auth_method,
        "scopes": row.allowed_scopes.to_string(),
        "default_scopes": row.default_scopes.to_string(),
        "audiences": audiences,
        "require_dpop": row.require_dpop,
        "bind_certificate": row.bind_certificate,
        "token_ttl": p.token_ttl,
        "rate_limit": rate(p.rate_limit),
        "quota": rate(p.quota),
        "quota_mode": p.quota_mode.as_str(),
        "created_at": rfc3339(row.created_at * 1000),
        "updated_at": rfc3339(row.updated_at * 1000),
    });
    // RFC 8705 §2.1.2 and RFC 7591 §2 names, only for the clients that have them.
    if let Some(subject) = &row.tls_subject {
        let (name, value) = subject.describe();
        out[name] = json!(value);
    }
    if let Some(uri) = &row.jwks_uri {
        out["jwks_uri"] = json!(uri);
    }
    out
}

/// SQL for the admin's provisioning migrations, headed like `client create --sql`'s.
pub fn print_sql(settings: &Settings, what: &str, statements: &str) {
    let backend =
        Backend::from_url(settings.database_url.expose_secret()).map_or("sql", |b| b.name());
    println!("-- tollgate provisioning migration ({backend}): {what}\n{statements};");
}
