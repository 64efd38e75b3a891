//! `tollgate client …`: partner clients of the client-credentials grant.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::client_lifecycle::{self, LifecycleCommand, PolicyArgs};
use super::{CliError, duration_secs, print, read_stdin_secret, rfc3339};
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::provisioning::{self, NewClient, NewClientAuth};
use crate::store::{Backend, ClientJwks, TlsSubject, client_insert_sql};

/// RFC 7591 §2 `token_endpoint_auth_method`. The two secret methods make the same client: it
/// may use either.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum AuthMethodArg {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// RFC 8705 §2.1: a CA-issued client certificate naming the client (--tls-subject,
    /// --tls-san-dns, --tls-san-uri, --tls-san-ip or --tls-san-email).
    TlsClientAuth,
    /// RFC 8705 §2.2: a client certificate (self-signed is fine) carrying one of the client's
    /// public keys (--jwks-file or --jwks-uri).
    SelfSignedTlsClientAuth,
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Create a client; prints its secret once.
    Create {
        #[arg(long)]
        id: String,
        /// Space-delimited scopes the client may request.
        #[arg(long)]
        scope: String,
        /// Scopes granted when a request names none (default: all of --scope).
        #[arg(long)]
        default_scope: Option<String>,
        /// An audience its tokens may be for (repeatable; RFC 8707): an absolute URI, or the
        /// server's own audience. Default: the server's audience only.
        #[arg(long)]
        audience: Vec<String>,
        /// How the client authenticates: with a secret (client_secret_basic and
        /// client_secret_post both work), with JWTs signed by its own key (private_key_jwt,
        /// with --jwks-file or --jwks-uri), or with a client certificate (tls_client_auth, or
        /// self_signed_tls_client_auth with --jwks-file or --jwks-uri).
        #[arg(long, value_enum, default_value = "client_secret_basic")]
        auth_method: AuthMethodArg,
        /// private_key_jwt, self_signed_tls_client_auth: a file holding the client's public keys
        /// as a JWK Set.
        #[arg(long, conflicts_with_all = ["jwks_uri", "secret", "secret_stdin"])]
        jwks_file: Option<PathBuf>,
        /// private_key_jwt, self_signed_tls_client_auth: where the client publishes its JWK Set
        /// (https://; http:// only on a loopback address).
        #[arg(long, conflicts_with_all = ["secret", "secret_stdin"])]
        jwks_uri: Option<String>,
        /// Use this secret instead of generating one (visible to other local users: prefer
        /// --secret-stdin).
        #[arg(long, conflicts_with = "secret_stdin")]
        secret: Option<String>,
        /// Read the secret from standard input.
        #[arg(long)]
        secret_stdin: bool,
        /// tls_client_auth: the subject DN its certificate must have, as an RFC 4514 string
        /// ("CN=agent-desk,O=Partner Inc,C=US").
        #[arg(long, group = "tls_name", conflicts_with_all = ["secret", "secret_stdin"])]
        tls_subject: Option<String>,
        /// tls_client_auth: a DNS name its certificate must carry as a subject alternative name.
        #[arg(long, group = "tls_name", conflicts_with_all = ["secret", "secret_stdin"])]
        tls_san_dns: Option<String>,
        /// tls_client_auth: a URI its certificate must carry as a subject alternative name.
        #[arg(long, group = "tls_name", conflicts_with_all = ["secret", "secret_stdin"])]
        tls_san_uri: Option<String>,
        /// tls_client_auth: an IP address its certificate must carry as a subject alternative
        /// name (compared as an address: 2001:db8::1 is 2001:0db8:0:0:0:0:0:1).
        #[arg(long, group = "tls_name", conflicts_with_all = ["secret", "secret_stdin"])]
        tls_san_ip: Option<std::net::IpAddr>,
        /// tls_client_auth: an email address its certificate must carry as a subject
        /// alternative name.
        #[arg(long, group = "tls_name", conflicts_with_all = ["secret", "secret_stdin"])]
        tls_san_email: Option<String>,
        /// Refuse its token requests without a DPoP proof (RFC 9449): its tokens are then
        /// always bound to its key.
        #[arg(long)]
        require_dpop: bool,
        /// Bind its tokens to the client certificate it presents at the token endpoint (RFC
        /// 8705 certificate-bound tokens): it must present one there and wherever it uses them.
        #[arg(long)]
        bind_certificate: bool,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print an SQL INSERT for a provisioning migration instead of writing to the
        /// database; the secret goes to stderr.
        #[arg(long)]
        sql: bool,
    },
    /// Give a client a new secret (printed once); the old one works for --old-valid-for.
    RotateSecret {
        #[arg(long)]
        id: String,
        /// How long the current secret keeps working: 30m, 24h, 7d, or 0s to end it now.
        #[arg(long, default_value = "24h")]
        old_valid_for: String,
        /// Read the new secret from standard input instead of generating one.
        #[arg(long)]
        secret_stdin: bool,
    },
    /// End a client's previous secrets now.
    RevokeSecret {
        #[arg(long)]
        id: String,
    },
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
    /// Replace the public keys of a private_key_jwt or self_signed_tls_client_auth client (every
    /// instance within 5 seconds).
    SetJwks {
        #[arg(long)]
        id: String,
        /// A file holding the new JWK Set: keep the old key in it until the client has
        /// switched to the new one.
        #[arg(
            long,
            conflicts_with = "jwks_uri",
            required_unless_present = "jwks_uri"
        )]
        jwks_file: Option<PathBuf>,
        /// Or where the client publishes it.
        #[arg(long)]
        jwks_uri: Option<String>,
    },
}

/// The JWK Set from a file or a URL, as the flags give it (`None`: neither given).
fn jwks_arg(file: Option<&Path>, uri: Option<String>) -> Result<Option<ClientJwks>, CliError> {
    match (file, uri) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("cannot read the JWK Set {}: {e}", path.display()))
            })?;
            Ok(Some(ClientJwks::Inline(text)))
        }
        (None, Some(uri)) => Ok(Some(ClientJwks::Uri(uri))),
        (None, None) => Ok(None),
    }
}

pub async fn run(command: ClientCommand, settings: &Settings, now: i64) -> Result<(), CliError> {
    match command {
        ClientCommand::Create {
            id,
            scope,
            default_scope,
            audience,
            auth_method,
            jwks_file,
            jwks_uri,
            secret,
            secret_stdin,
            policy,
            require_dpop,
            bind_certificate,
            tls_subject,
            tls_san_dns,
            tls_san_uri,
            tls_san_ip,
            tls_san_email,
            sql,
        } => {
            let jwks = jwks_arg(jwks_file.as_deref(), jwks_uri)?;
            let tls = tls_subject
                .map(TlsSubject::Dn)
                .or(tls_san_dns.map(TlsSubject::SanDns))
                .or(tls_san_uri.map(TlsSubject::SanUri))
                .or(tls_san_ip.map(TlsSubject::SanIp))
                .or(tls_san_email.map(TlsSubject::SanEmail));
            let auth = match (auth_method, jwks, tls) {
                (AuthMethodArg::TlsClientAuth, None, Some(subject)) => {
                    NewClientAuth::TlsClientAuth(subject)
                }
                (AuthMethodArg::TlsClientAuth, _, _) => {
                    return Err(CliError::Usage(
                        "--auth-method tls_client_auth needs one of --tls-subject, --tls-san-dns, \
                         --tls-san-uri, --tls-san-ip, --tls-san-email (and no JWK Set)"
                            .into(),
                    ));
                }
                (_, _, Some(_)) => {
                    return Err(CliError::Usage(
                        "--tls-subject and --tls-san-* are for --auth-method tls_client_auth"
                            .into(),
                    ));
                }
                (m, jwks, None) => match (m, jwks) {
                    (AuthMethodArg::PrivateKeyJwt, Some(jwks)) => {
                        NewClientAuth::PrivateKeyJwt(jwks)
                    }
                    (AuthMethodArg::SelfSignedTlsClientAuth, Some(jwks)) => {
                        NewClientAuth::SelfSignedTlsClientAuth(jwks)
                    }
                    (
                        AuthMethodArg::PrivateKeyJwt | AuthMethodArg::SelfSignedTlsClientAuth,
                        None,
                    ) => {
                        return Err(CliError::Usage(
                            "--auth-method private_key_jwt and self_signed_tls_client_auth need \
                             --jwks-file or --jwks-uri"
                                .into(),
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(CliError::Usage(
                            "--jwks-file and --jwks-uri are for --auth-method private_key_jwt or \
                             self_signed_tls_client_auth"
                                .into(),
                        ));
                    }
                    (_, None) => NewClientAuth::Secret(match (secret, secret_stdin) {
                        (Some(s), _) => Some(SecretString::from(s)),
                        (None, true) => Some(read_stdin_secret("client secret")?),
                        (None, false) => None,
                    }),
                },
            };
            let method = match &auth {
                NewClientAuth::TlsClientAuth(_) => "tls_client_auth",
                NewClientAuth::SelfSignedTlsClientAuth(_) => "self_signed_tls_client_auth",
                _ => "private_key_jwt",
            };
            // A secret the admin supplied is never printed: only a generated one, once.
            let generated = matches!(auth, NewClientAuth::Secret(None));
            let spec = NewClient {
                client_id: id,
                scopes: scope,
                default_scopes: default_scope,
                audiences: audience,
                auth,
                policy: policy.policy(settings)?,
                require_dpop,
                bind_certificate,
            };
            let server_audience = settings.default_audience();
            if sql {
                let (record, secret) =
                    provisioning::prepare_client(spec, &settings.argon2, server_audience)?;
                let backend = Backend::from_url(settings.database_url.expose_secret())
                    .map_or("sql", |b| b.name());
                println!(
                    "-- tollgate provisioning migration ({backend}): client {}\n{};",
                    record.client_id,
                    client_insert_sql(&record, now)
                );
                if let Some(secret) = secret.filter(|_| generated) {
                    eprintln!(
                        "client_secret for {}: {}",
                        record.client_id,
                        secret.expose_secret()
                    );
                }
                return Ok(());
            }
            let store = open_store(settings).await?;
            let (client_id, secret) =
                provisioning::create_client(&store, spec, &settings.argon2, server_audience, now)
                    .await?;
            let out = match secret {
                Some(_) => json!({"client_id": client_id}),
                None => json!({"client_id": client_id, "token_endpoint_auth_method": method}),
            };
            print(&with_generated(out, secret.as_ref().filter(|_| generated)));
        }
        ClientCommand::RotateSecret {
            id,
            old_valid_for,
            secret_stdin,
        } => {
            let grace = duration_secs("--old-valid-for", &old_valid_for)?;
            let new_secret = if secret_stdin {
                Some(read_stdin_secret("client secret")?)
            } else {
                None
            };
            let store = open_store(settings).await?;
            let (secret, until) = provisioning::rotate_client_secret(
                &store,
                &id,
                new_secret,
                grace,
                &settings.argon2,
                now,
            )
            .await?;
            print(&with_generated(
                json!({"client_id": id, "old_secret_valid_until": rfc3339(until * 1000)}),
                (!secret_stdin).then_some(&secret),
            ));
        }
        ClientCommand::Lifecycle(command) => client_lifecycle::run(command, settings, now).await?,
        ClientCommand::RevokeSecret { id } => {
            let store = open_store(settings).await?;
            let revoked = provisioning::revoke_previous_secrets(&store, &id, now).await?;
            print(&json!({"client_id": id, "previous_secrets_revoked": revoked}));
        }
        ClientCommand::SetJwks {
            id,
            jwks_file,
            jwks_uri,
        } => {
            let jwks = jwks_arg(jwks_file.as_deref(), jwks_uri)?
                .ok_or_else(|| CliError::Usage("give --jwks-file or --jwks-uri".into()))?;
            let field = match &jwks {
                ClientJwks::Inline(_) => "jwks",
                ClientJwks::Uri(_) => "jwks_uri",
            };
            let store = open_store(settings).await?;
            provisioning::set_client_jwks(&store, &id, jwks, now).await?;
            print(&json!({"client_id": id, "updated": [field]}));
        }
    }
    Ok(())
}

/// `out` with `client_secret` when tollgate generated it (shown once), without when the admin
/// supplied it.
fn with_generated(
    mut out: serde_json::Value,
    generated: Option<&SecretString>,
) -> serde_json::Value {
    if let Some(secret) = generated {
        out["client_secret"] = json!(secret.expose_secret());
    }
    out
}
