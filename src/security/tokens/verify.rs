//! Verifying the JWTs tollgate signs: the header read by hand (`crit` included), the key and
//! algorithm from our key set, never from the token, and the times against our clock.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::Deserialize;

use super::{AccessClaims, AccessGrant, CustomerClaims, LEEWAY_SECS, Rejection, TokenService};
use crate::security::keys::TokenType;
use crate::security::verified::Digest;
use crate::types::{CustomerId, ScopeSet};

impl TokenService {
    pub fn verify_anonymous_token(&self, token: &str, now_secs: i64) -> Result<String, Rejection> {
        let audience = Some(self.anonymous_audience.as_str());
        let claims: CustomerClaims = self.verify(token, TokenType::Visitor, audience, now_secs)?;
        uuid::Uuid::try_parse(&claims.sub)
            .map(|id| id.hyphenated().to_string())
            .map_err(|_| "the visitor cookie is malformed")
    }

    /// RFC 9068 §4 validation of an access token meant for this server's own APIs: its `aud`
    /// (a string, or an array) must contain the server's audience. A token verified before on
    /// this instance skips the signature check, never the checks that depend on the time.
    pub fn verify_access_token(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<Arc<AccessGrant>, Rejection> {
        let key = Digest::of(token);
        if let Some(grant) = self.verified.get(&key, &self.keys(), now_secs) {
            return Ok(grant);
        }
        let audience = Some(self.default_audience.as_str());
        let (claims, kid) =
            self.verify_keyed::<AccessClaims>(token, TokenType::Access, audience, now_secs)?;
        let scope = ScopeSet::parse(&claims.scope).map_err(|_| "the token's scope is malformed")?;
        let grant = Arc::new(AccessGrant {
            client_id: claims.client_id,
            scope,
            jti: claims.jti,
            cnf: claims.cnf,
        });
        let expires = claims.exp.saturating_add(LEEWAY_SECS);
        self.verified
            .insert(key, &kid, expires, Arc::clone(&grant), now_secs);
        Ok(grant)
    }

    /// Access tokens remembered as verified (for the metrics and tests).
    pub fn verified_tokens(&self) -> usize {
        self.verified.len()
    }

    /// An access token of ours for any audience: for introspection and revocation, which
    /// answer about every token this server issued.
    pub fn inspect_access_token(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<AccessClaims, Rejection> {
        self.verify(token, TokenType::Access, None, now_secs)
    }

    pub fn verify_customer_token(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<CustomerId, Rejection> {
        let audience = Some(self.customer_audience.as_str());
        let claims: CustomerClaims = self.verify(token, TokenType::Customer, audience, now_secs)?;
        CustomerId::parse(&claims.sub).map_err(|_| "the token's subject is malformed")
    }

    fn verify<C>(
        &self,
        token: &str,
        typ: TokenType,
        audience: Option<&str>,
        now_secs: i64,
    ) -> Result<C, Rejection>
    where
        C: serde::de::DeserializeOwned + TimeClaims,
    {
        self.verify_keyed(token, typ, audience, now_secs)
            .map(|(claims, _)| claims)
    }

    /// `verify`, and the `kid` of the key that signed the token.
    fn verify_keyed<C>(
        &self,
        token: &str,
        typ: TokenType,
        audience: Option<&str>,
        now_secs: i64,
    ) -> Result<(C, String), Rejection>
    where
        C: serde::de::DeserializeOwned + TimeClaims,
    {
        let header = Header::parse(token)?;
        // RFC 9068 §4: the resource server MUST check `typ` is at+jwt; the other kinds likewise
        // insist on their own, so no token passes as another kind.
        if !typ.matches(header.typ.as_deref()) {
            return Err("the token is not of the expected type");
        }
        // RFC 7515 §4.1.11: extensions listed in `crit` MUST be understood; tollgate understands
        // none and issues none, so any `crit` is refused.
        if header.crit.is_some() {
            return Err("the token names critical header extensions");
        }
        let kid = header.kid.ok_or("the token names no key")?;
        let keys = self.keys();
        let vk = keys
            .verifying_key(&kid, now_secs)
            .ok_or("the token is signed by an unknown key")?;
        // The algorithm comes from our key, never from the token header (RFC 8725 §3.1): a
        // header saying "none" or "HS256" for an EC key is refused by this check.
        if header.alg != vk.alg {
            return Err("the token's algorithm does not match its key");
        }
        let mut validation = Validation::new(vk.alg);
        validation.set_issuer(&[&self.issuer]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        // Times are checked below against our clock, not the library's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<C>(token, &vk.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => "the token's signature is invalid",
                ErrorKind::InvalidAudience => {
                    "the token's aud does not include the audience this API requires"
                }
                ErrorKind::InvalidIssuer => "the token was issued by someone else",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            }
        })?;
        let claims = data.claims;
        if claims.exp() + LEEWAY_SECS <= now_secs {
            return Err("the token has expired");
        }
        // tollgate never issues a token dated in the future, nor one with `nbf`: a token that
        // says so was not made by tollgate's own issuing code.
        if claims.iat() > now_secs + LEEWAY_SECS {
            return Err("the token is issued in the future");
        }
        if claims.nbf().is_some_and(|nbf| nbf > now_secs + LEEWAY_SECS) {
            return Err("the token is not valid yet");
        }
        Ok((claims, kid))
    }
}

/// The JOSE header members tollgate looks at (RFC 7515 §4.1), parsed here rather than by
/// `jsonwebtoken::decode_header`, which drops `crit`.
#[derive(Deserialize)]
struct Header {
    alg: jsonwebtoken::Algorithm,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

impl Header {
    fn parse(token: &str) -> Result<Self, Rejection> {
        let encoded = token.split('.').next().ok_or("the token is malformed")?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| "the token is malformed")?;
        serde_json::from_slice(&bytes).map_err(|_| "the token is malformed")
    }
}

pub trait TimeClaims {
    fn exp(&self) -> i64;
    fn iat(&self) -> i64;
    fn nbf(&self) -> Option<i64>;
}

macro_rules! time_claims {
    ($($t:ty),*) => {$(
        impl TimeClaims for $t {
            fn exp(&self) -> i64 {
                self.exp
            }
            fn iat(&self) -> i64 {
                self.iat
            }
            fn nbf(&self) -> Option<i64> {
                self.nbf
            }
        }
    )*};
}

time_claims!(AccessClaims, CustomerClaims);
