//! Issuing and verifying the JWTs tollgate signs: RFC 9068 access tokens for clients, customer
//! tokens whose subject is the opaque customer id, and the anonymous visitor's cookie. Each kind
//! has its own `typ` and audience, and each verification (`verify.rs`) insists on both.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::security::KeyError;
use crate::security::keys::{self, Alg, KeySet, MasterKey, TokenType};
use crate::security::verified::VerifiedTokens;
use crate::store::Store;
use crate::types::{Audience, ClientId, CustomerId, ScopeSet};

mod verify;

/// Why a token was refused: a short fixed text, safe to show the client (RFC 6750 §3
/// `error_description`).
pub type Rejection = &'static str;

/// Clock skew tolerated when checking `exp`, `iat` and `nbf`, in seconds.
const LEEWAY_SECS: i64 = 30;

/// RFC 9068 §2.2 claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    /// One audience as a string, several as an array (RFC 8707 §2: the requested resources).
    pub aud: Audience,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    /// Never issued by tollgate; checked when present (RFC 7519 §4.1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// What the token is bound to (RFC 7800 §3.1); absent: a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 §3.1 confirmation members tollgate issues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 9449 §6.1: the RFC 7638 thumbprint of the client's DPoP key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// RFC 8705 §3.1: the SHA-256 thumbprint of the client's certificate.
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

/// A customer token carries who, for how long, and nothing personal.
#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

pub struct Issued {
    pub token: String,
    pub jti: String,
    /// The signing key's id, for its last-use bookkeeping.
    pub kid: String,
    pub expires_in: u64,
    pub issued_at_millis: i64,
}

/// A verified access token, reduced to what resource checks need.
#[derive(Debug)]
pub struct AccessGrant {
    pub client_id: String,
    pub scope: ScopeSet,
    pub jti: String,
    pub cnf: Option<Confirmation>,
}

/// How long a new key is published before it signs: longer than the JWKS `max-age` (300 s),
/// so no resource server meets a `kid` its cached JWKS lacks.
pub const DEFAULT_PUBLISH_AHEAD: i64 = 600;

pub struct TokenService {
    key_store: Option<(MasterKey, Alg)>,
    keys: RwLock<Arc<KeySet>>,
    issuer: String,
    default_audience: String,
    customer_audience: String,
    /// Audience of anonymous-visitor tokens (issue 4): distinct, so such a token can never
    /// pass as a customer token, nor a customer token as an anonymous one.
    anonymous_audience: String,
    access_ttl: u64,
    customer_ttl: u64,
    /// Access tokens for this server's APIs already verified here (`security::verified`).
    verified: VerifiedTokens,
}

impl TokenService {
    pub fn new(
        keys: KeySet,
        issuer: String,
        default_audience: String,
        access_ttl: u64,
        customer_ttl: u64,
    ) -> Self {
        let [default_audience, customer_audience, anonymous_audience] =
            Self::audiences(&issuer, &default_audience);
        Self {
            keys: RwLock::new(Arc::new(keys)),
            customer_audience,
            anonymous_audience,
            issuer,
            default_audience,
            access_ttl,
            customer_ttl,
            key_store: None,
            verified: VerifiedTokens::default(),
        }
    }

    /// Lets `reload` and `rotate_if_due` read and add keys in the database.
    pub fn with_key_store(mut self, master: MasterKey, alg: Alg) -> Self {
        self.key_store = Some((master, alg));
        self
    }

    /// Rebuilds the key set from the database (after a rotation anywhere).
    pub async fn reload(&self, store: &Store, now: i64) -> Result<(), KeyError> {
        if let Some((master, alg)) = &self.key_store {
            self.replace_keys(keys::load_or_create(store, master, *alg, now).await?);
        }
        Ok(())
    }

    /// Scheduled rotation: when the newest key is `every_secs` old, add the next one. Two
    /// instances may try at once; the database lets one succeed.
    pub async fn rotate_if_due(
        &self,
        store: &Store,
        every_secs: i64,
        now: i64,
    ) -> Result<Option<keys::Rotation>, KeyError> {
        let Some((master, alg)) = &self.key_store else {
            return Ok(None);
        };
        if every_secs <= 0 || now - self.keys().newest_created_at() < every_secs {
            return Ok(None);
        }
        let max_ttl = ttl_i64(self.access_ttl.max(self.customer_ttl));
        let rotation =
            keys::rotate(store, master, *alg, DEFAULT_PUBLISH_AHEAD, max_ttl, now).await?;
        self.reload(store, now).await?;
        Ok(rotation)
    }

    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace_keys(&self, keys: KeySet) {
        let mut guard = match self.keys.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(keys);
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn default_audience(&self) -> &str {
        &self.default_audience
    }

    /// An RFC 9068 access token for `audience` (`None`: the server's default audience).
    /// `ttl`: the client's own token lifetime, if it has one. The server's lifetime caps it:
    /// key retirement waits for the longest token the server issues (`rotate_if_due`).
    pub fn issue_access_token(
        &self,
        client_id: &ClientId,
        audience: Option<Audience>,
        scope: &ScopeSet,
        ttl: Option<u64>,
        cnf: Option<Confirmation>,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let ttl = ttl.map_or(self.access_ttl, |t| t.clamp(1, self.access_ttl));
        let iat = now_millis.div_euclid(1000);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_string(),
            client_id: client_id.to_string(),
            aud: audience.unwrap_or_else(|| Audience::One(self.default_audience.clone())),
            iat,
            exp: iat + ttl_i64(ttl),
            jti: crate::types::random_uuid()?.to_string(),
            scope: scope.to_string(),
            nbf: None,
            cnf,
        };
        self.sign(TokenType::Access, &claims, &claims.jti, ttl, now_millis)
    }

    pub fn issue_customer_token(
        &self,
        customer: &CustomerId,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let (aud, ttl) = (&self.customer_audience, self.customer_ttl);
        self.issue_plain(TokenType::Customer, customer.as_str(), aud, ttl, now_millis)
    }

    /// A signed, stable id for an anonymous widget visitor, kept in an HttpOnly cookie.
    pub fn issue_anonymous_token(
        &self,
        visitor_id: &str,
        ttl: u64,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let aud = &self.anonymous_audience;
        self.issue_plain(TokenType::Visitor, visitor_id, aud, ttl, now_millis)
    }

    /// The audiences of tollgate's own tokens (access, customer, anonymous visitor) for an
    /// issuer: nothing else signed by its keys may claim them.
    pub fn audiences(issuer: &str, default_audience: &str) -> [String; 3] {
        [
            default_audience.to_owned(),
            format!("{issuer}/customer"),
            format!("{issuer}/anonymous"),
        ]
    }

    fn issue_plain(
        &self,
        typ: TokenType,
        sub: &str,
        aud: &str,
        ttl: u64,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let iat = now_millis.div_euclid(1000);
        let claims = CustomerClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: aud.to_owned(),
            iat,
            exp: iat + ttl_i64(ttl),
            jti: crate::types::random_uuid()?.to_string(),
            nbf: None,
        };
        self.sign(typ, &claims, &claims.jti, ttl, now_millis)
    }

    /// Signs `claims` with the key active at their `iat` (`now_millis`).
    fn sign<C: Serialize>(
        &self,
        typ: TokenType,
        claims: &C,
        jti: &str,
        ttl: u64,
        now_millis: i64,
    ) -> Result<Issued, KeyError> {
        let keys = self.keys();
        let signer = keys.active(now_millis.div_euclid(1000))?;
        Ok(Issued {
            token: signer.sign_jwt(typ, claims)?,
            kid: signer.kid().to_owned(),
            jti: jti.to_owned(),
            expires_in: ttl,
            issued_at_millis: now_millis,
        })
    }
}

fn ttl_i64(ttl: u64) -> i64 {
    i64::try_from(ttl).unwrap_or(i64::MAX / 2)
}
