//! Avaya Experience Platform (AXP) Digital / Omni SDK token server. tollgate calls AXP
//! server-to-server: an OAuth2 client-credentials exchange (RFC 6749 §4.4) at
//! `{base}/api/auth/v1/{accountId}/protocol/openid-connect/token` with the `appkey` header,
//! cached until shortly before `expires_in`; then `POST
//! {base}/api/digital/chat/v1/accounts/{accountId}/tokens`, which answers 201 `{"jwtToken"}`.

use std::collections::HashMap;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenResponse, TokenUrl,
};
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::config::AxpConfig;
use super::{Visitor, named_secret};
use crate::domain::Error;

/// The AXP API's bounds for `ttl` (minutes).
const TTL_MINUTES: std::ops::RangeInclusive<u32> = 15..=60;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Refresh this long before the upstream token expires, so a token never dies in flight.
const REFRESH_MARGIN_SECS: i64 = 30;

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

struct Cached {
    token: SecretString,
    /// Milliseconds since the epoch after which a new exchange is made.
    refresh_at_millis: i64,
}

pub struct Axp {
    oauth: TokenClient,
    http: reqwest::Client,
    timeout: Duration,
    tokens_url: String,
    integration_id: String,
    ttl_minutes: u32,
    /// The fields every answer (and `/config`) carries besides the token.
    public: Map<String, Value>,
    /// One exchange in flight at a time: callers wait on the lock, then find the fresh token.
    cached: Mutex<Option<Cached>>,
}

/// The optional request body: display data only, never identity.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DisplayBody {
    user_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest<'a> {
    customer_id: &'a str,
    customer_name: &'a str,
    customer_identifiers: Map<String, Value>,
    verified_customer: bool,
    integration_id: &'a str,
    ttl: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    jwt_token: String,
}

fn required<'a>(value: &'a str, key: &str) -> Result<&'a str, String> {
    Some(value)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{key} is required for kind = \"axp\""))
}

/// Installs rustls' aws-lc-rs provider for the process (reqwest is built without one, to keep
/// ring out of the tree). Installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl Axp {
    pub fn from_config(
        c: &AxpConfig,
        secrets: &HashMap<String, SecretString>,
    ) -> Result<Self, String> {
        let base = required(&c.base_url, "base_url")?.trim_end_matches('/');
        let host_name = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or("base_url must be http(s)://host[:port] without a path")?;
        let account_id = required(&c.account_id, "account_id")?;
        if !account_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err("account_id must be letters, digits, - or _".into());
        }
        let integration_id = required(&c.integration_id, "integration_id")?;
        let client_id = required(&c.client_id, "client_id")?;
        let ttl_minutes = c.jwt_validity_minutes;
        if !TTL_MINUTES.contains(&ttl_minutes) {
            return Err(format!(
                "jwt_validity_minutes is {ttl_minutes}; AXP accepts 15 to 60"
            ));
        }
        let client_secret = named_secret(&c.client_secret_env, "client_secret_env", secrets)?;
        let app_key = named_secret(&c.app_key_env, "app_key_env", secrets)?;
        let region = required(&c.region, "region")?;

        let timeout_ms = c.upstream_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        // Bounded: a hung AXP must turn into a prompt 502, not a pile of waiting requests.
        if !(100..=30_000).contains(&timeout_ms) {
            return Err("upstream_timeout_ms must be between 100 and 30000".into());
        }
        let timeout = Duration::from_millis(timeout_ms);
        let mut app_key_header = HeaderValue::from_str(app_key.expose_secret())
            .map_err(|_| "the app key is not a valid header value")?;
        app_key_header.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("appkey", app_key_header);
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            // The oauth2 crate's advice: never follow redirects with credentials (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let token_url = TokenUrl::new(format!(
            "{base}/api/auth/v1/{account_id}/protocol/openid-connect/token"
        ))
        .map_err(|_| "base_url does not make a valid token URL")?;
        let oauth = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            // AXP wants client_id and client_secret in the form, not HTTP Basic.
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);

        let mut public = Map::new();
        public.insert("axpIntegrationId".into(), json!(integration_id));
        public.insert("axpHostName".into(), json!(host_name));
        public.insert("axpRegion".into(), json!(region));
        if c.expose_app_key {
            public.insert("appKey".into(), json!(app_key.expose_secret()));
        }
        for (key, value) in [
            ("callingRemoteAddress", &c.calling_remote_address),
            ("fcmConnectorBaseUrl", &c.fcm_connector_base_url),
            ("configId", &c.config_id),
        ] {
            if let Some(v) = value {
                public.insert(key.into(), json!(v));
            }
        }
        Ok(Self {
            oauth,
            http,
            timeout,
            tokens_url: format!("{base}/api/digital/chat/v1/accounts/{account_id}/tokens"),
            integration_id: integration_id.to_owned(),
            ttl_minutes,
            public,
            cached: Mutex::new(None),
        })
    }

    /// `GET /widget_tokens/<name>/config`: the answer without the token.
    pub fn public_config(&self) -> Value {
        Value::Object(self.public.clone())
    }

    pub async fn issue(
        &self,
        visitor: &Visitor,
        body: &[u8],
        now_millis: i64,
    ) -> Result<Value, Error> {
        // The body is optional and only ever a display name; a malformed one is refused.
        let display: DisplayBody = if body.iter().all(u8::is_ascii_whitespace) {
            DisplayBody::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|_| Error::invalid_request("the body must be a JSON object"))?
        };
        let mut identifiers = Map::new();
        let (name, verified) = match visitor {
            Visitor::Customer(_, profile) => {
                // Identifiers come from the customer's profile, never from the request.
                if let Some(email) = &profile.email {
                    identifiers.insert("emailAddresses".into(), json!([email]));
                }
                if let Some(phone) = super::e164(profile.phone.as_deref()) {
                    identifiers.insert("phoneNumbers".into(), json!([phone]));
                }
                let name = profile.name.clone().or(display.user_name);
                (name, true)
            }
            // Anonymous visitors send no identifiers and are never "verified".
            Visitor::Anonymous(_) => (display.user_name, false),
        };
        let name = name
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.chars().take(100).collect::<String>())
            .unwrap_or_else(|| "Guest".into());
        let request = TokenRequest {
            customer_id: visitor.id(),
            customer_name: &name,
            customer_identifiers: identifiers,
            verified_customer: verified,
            integration_id: &self.integration_id,
            ttl: self.ttl_minutes,
        };
        let access = self.access_token(now_millis).await?;
        let answer = tokio::time::timeout(
            self.timeout,
            self.http
                .post(&self.tokens_url)
                .bearer_auth(access.expose_secret())
                .json(&request)
                .send(),
        )
        .await
        .map_err(|_| Error::Upstream("the AXP tokens API timed out".into()))?
        .map_err(|e| {
            Error::Upstream(format!(
                "the AXP tokens API is unreachable: {}",
                kind_of(&e)
            ))
        })?;
        let status = answer.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // The cached access token was revoked early: the next request exchanges anew.
            *self.cached.lock().await = None;
        }
        if status != reqwest::StatusCode::CREATED {
            return Err(Error::Upstream(format!(
                "the AXP tokens API answered {status}"
            )));
        }
        let token: TokenAnswer = tokio::time::timeout(self.timeout, answer.json())
            .await
            .map_err(|_| Error::Upstream("the AXP tokens API timed out".into()))?
            .map_err(|_| Error::Upstream("the AXP tokens API answered no jwtToken".into()))?;
        let mut body = self.public.clone();
        body.insert("jwtToken".into(), json!(token.jwt_token));
        Ok(Value::Object(body))
    }

    /// The cached client-credentials token, or a fresh one. The lock is held across the
    /// exchange so that concurrent requests cause one exchange, not one each.
    async fn access_token(&self, now_millis: i64) -> Result<SecretString, Error> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| now_millis < c.refresh_at_millis) {
            return Ok(c.token.clone());
        }
        let response = tokio::time::timeout(
            self.timeout,
            self.oauth
                .exchange_client_credentials()
                .request_async(&self.http),
        )
        .await
        .map_err(|_| Error::Upstream("the AXP token exchange timed out".into()))?
        .map_err(|e| {
            use oauth2::RequestTokenError as R;
            // Only the kind of failure: the error's body may echo what we sent.
            Error::Upstream(match e {
                R::ServerResponse(r) => format!("AXP refused the exchange: {}", r.error()),
                R::Request(_) => "AXP could not be reached for the exchange".into(),
                R::Parse(_, _) => "AXP's exchange answer is malformed".into(),
                R::Other(_) => "the AXP exchange failed".into(),
            })
        })?;
        let lifetime = response.expires_in().map_or(300, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4_000)
        });
        let margin = REFRESH_MARGIN_SECS.min(lifetime / 2);
        let token = SecretString::from(response.access_token().secret().to_owned());
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at_millis: now_millis + (lifetime - margin) * 1000,
        });
        Ok(token)
    }
}

fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::secrets;
    use super::*;

    fn config(minutes: u32) -> AxpConfig {
        AxpConfig {
            base_url: "https://na.cc.avayacloud.com".into(),
            account_id: "ABCDEF".into(),
            integration_id: "int-1".into(),
            client_id: "client".into(),
            client_secret_env: "CS".into(),
            app_key_env: "AK".into(),
            jwt_validity_minutes: minutes,
            region: "NA".into(),
            expose_app_key: false,
            calling_remote_address: None,
            fcm_connector_base_url: None,
            config_id: None,
            upstream_timeout_ms: None,
        }
    }

    #[test]
    fn ttl_outside_15_to_60_minutes_is_refused() {
        let s = secrets(&[("CS", "client-secret"), ("AK", "app-key")]);
        for bad in [0, 14, 61] {
            let err = Axp::from_config(&config(bad), &s).err().unwrap();
            assert!(err.contains("15 to 60"), "{err}");
        }
        for good in [15, 60] {
            assert!(Axp::from_config(&config(good), &s).is_ok());
        }
    }

    #[test]
    fn the_public_config_names_the_host_and_never_the_secrets() {
        let s = secrets(&[("CS", "client-secret"), ("AK", "app-key")]);
        let axp = Axp::from_config(&config(30), &s).unwrap();
        let c = axp.public_config();
        assert_eq!(c["axpHostName"], "na.cc.avayacloud.com");
        assert_eq!(c["axpIntegrationId"], "int-1");
        assert_eq!(c["axpRegion"], "NA");
        let text = c.to_string();
        assert!(
            !text.contains("client-secret") && !text.contains("app-key"),
            "{text}"
        );
    }
}
