//! DPoP (RFC 9449): access tokens bound to a key the client holds, so that a token copied from
//! a log is useless without that key. The token endpoint binds a token to the key of the proof
//! sent with the request (`cnf.jkt`); a resource then wants a fresh proof of the same key with
//! each use of the token.
//!
//! The checks of a proof that cost nothing but CPU (`check`) run before anything else; its
//! `jti` goes to the replay store (`record`) only once the request is otherwise good, so a
//! refused request writes nothing. The replay store is the one client assertions use: shared
//! by every instance (database or Redis), batched.

use std::str::FromStr;

use serde::Deserialize;

use crate::domain::{Authority, DpopAt, Error};
use crate::security::dpop::{NonceKey, Proof, ProofClaims, access_token_hash};
use crate::security::tokens::Confirmation;
use crate::store::ClientRecord;
use crate::wire::bearer::{PresentedToken, TokenScheme};
use crate::wire::dpop::DpopRequest;

/// Clock skew tolerated on a proof's `iat` in the future, in seconds (RFC 9449 §11.1).
pub const CLOCK_SKEW_SECS: i64 = 30;

/// `TOLLGATE_DPOP_NONCE`: whether proofs must carry a server nonce (RFC 9449 §8, §9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NonceMode {
    #[default]
    Off,
    Required,
}

impl FromStr for NonceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "required" => Ok(Self::Required),
            other => Err(format!("expected off or required, got {other:?}")),
        }
    }
}

/// Tunables of the proof check.
pub struct DpopPolicy {
    /// How old a proof's `iat` may be, in seconds (`TOLLGATE_DPOP_PROOF_MAX_AGE`).
    pub max_age_secs: i64,
    /// `Some`: every proof must carry a nonce this key issued.
    pub nonces: Option<NonceKey>,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            max_age_secs: 60,
            nonces: None,
        }
    }
}

impl DpopPolicy {
    /// A fresh nonce for a response, when nonces are in use (§8.2: any response may carry one).
    pub fn next_nonce(&self, now: i64) -> Option<String> {
        self.nonces.as_ref().map(|n| n.issue(now))
    }
}

/// RFC 9449 §4.3 checks 1-10 (all but the `jti`'s uniqueness) of the request's proof, if it
/// has one. `access_token`: at a resource, the token the proof must hash in `ath` (§4.3 item
/// 12 via §7.1).
pub fn check(
    auth: &Authority,
    req: &DpopRequest,
    at: DpopAt,
    access_token: Option<&str>,
    now: i64,
) -> Result<Option<Proof>, Error> {
    let refuse = |why| Error::InvalidDpopProof(at, why);
    let jwt = match &req.proof {
        Ok(None) => return Ok(None),
        Ok(Some(jwt)) => jwt,
        Err(why) => return Err(refuse(why)),
    };
    let proof = Proof::verify(jwt, &auth.proof_keys).map_err(refuse)?;
    let issuer = auth.tokens.issuer();
    check_claims(
        &proof.claims,
        req,
        issuer,
        &auth.dpop,
        access_token,
        at,
        now,
    )?;
    Ok(Some(proof))
}

/// §4.3 items 8-10 and 12, and the nonce of §8/§9, on a proof whose signature verified.
fn check_claims(
    claims: &ProofClaims,
    req: &DpopRequest,
    issuer: &str,
    policy: &DpopPolicy,
    access_token: Option<&str>,
    at: DpopAt,
    now: i64,
) -> Result<(), Error> {
    let refuse = |why| Error::InvalidDpopProof(at, why);
    // §4.3 item 8: methods are case-sensitive (RFC 9110 §9.1): "post" is not "POST".
    if claims.htm != req.method {
        return Err(refuse("the DPoP proof's htm is not this request's method"));
    }
    if !names_target(&claims.htu, issuer, &req.path) {
        return Err(refuse("the DPoP proof's htu is not this endpoint's URL"));
    }
    if claims.iat < now - policy.max_age_secs {
        return Err(refuse("the DPoP proof is too old (its iat)"));
    }
    if claims.iat > now + CLOCK_SKEW_SECS {
        return Err(refuse("the DPoP proof is issued in the future (its iat)"));
    }
    if let Some(token) = access_token {
        // §4.3 item 12 / §7.1: ath is the hash of exactly the token this request presents.
        let expected = access_token_hash(token);
        if claims.ath.as_deref() != Some(expected.as_str()) {
            return Err(refuse(
                "the DPoP proof's ath is missing or not the hash of this access token",
            ));
        }
    }
    // §8 and §9: a missing, stale or foreign nonce gets a fresh one to retry with.
    if let Some(nonces) = &policy.nonces
        && !claims
            .nonce
            .as_deref()
            .is_some_and(|n| nonces.accepts(n, now))
    {
        return Err(Error::UseDpopNonce(at, nonces.issue(now)));
    }
    Ok(())
}

/// §4.3 item 9: `htu` names this request's URI, ignoring query and fragment, after RFC 3986
/// §6.2.2-6.2.3 normalisation (case of scheme and host, default port). The request's URI is
/// the issuer's, as partners call it, not the address a proxy forwarded to.
fn names_target(htu: &str, issuer: &str, path: &str) -> bool {
    // What clients send nearly always: our URL exactly, which needs no parsing.
    if htu.strip_prefix(issuer) == Some(path) {
        return true;
    }
    let parse = |u: &str| {
        reqwest::Url::parse(u).ok().map(|mut url| {
            url.set_query(None);
            url.set_fragment(None);
            url
        })
    };
    match (parse(htu), parse(&format!("{issuer}{path}"))) {
        (Some(claimed), Some(ours)) => claimed == ours,
        _ => false,
    }
}

/// §4.3 item 11 and §11.1: each proof is used once, on every instance. Its `jti` is kept until
/// the proof would be too old anyway, under the key's thumbprint (a `jti` is unique per key).
pub async fn record(auth: &Authority, proof: &Proof, at: DpopAt, now: i64) -> Result<(), Error> {
    let until = proof.claims.iat.max(now) + auth.dpop.max_age_secs + 1;
    // A space keeps this namespace apart from client ids, which have none.
    let owner = format!("dpop {}", proof.jkt);
    if auth
        .replay
        .first_use(&owner, &proof.claims.jti, until, now)
        .await?
    {
        Ok(())
    } else {
        Err(Error::InvalidDpopProof(
            at,
            "the DPoP proof's jti was used before",
        ))
    }
}

/// The token endpoint's binding (§5): the thumbprint of the request's proof's key, the proof
/// recorded as used; no proof from a client that must send one is refused.
pub async fn confirmation(
    auth: &Authority,
    proof: Option<Proof>,
    client: &ClientRecord,
    now: i64,
) -> Result<Option<String>, Error> {
    match proof {
        None if client.require_dpop => Err(Error::InvalidDpopProof(
            DpopAt::TokenEndpoint,
            "this client must send a DPoP proof with its token requests (RFC 9449 section 5)",
        )),
        None => Ok(None),
        Some(proof) => {
            record(auth, &proof, DpopAt::TokenEndpoint, now).await?;
            Ok(Some(proof.jkt))
        }
    }
}

/// A resource's check of a verified token's binding (§7.1): a DPoP-bound token comes with the
/// `DPoP` scheme and a proof of its key; a bearer token never under the `DPoP` scheme.
pub async fn check_binding(
    auth: &Authority,
    presented: &PresentedToken,
    cnf: Option<&Confirmation>,
    req: &DpopRequest,
    now: i64,
) -> Result<(), Error> {
    let bound_to = cnf.and_then(|c| c.jkt.as_deref());
    match (presented.scheme, bound_to) {
        (TokenScheme::Bearer, None) => Ok(()),
        // §7.2: a bound token presented as a bearer token is what a thief would do.
        (TokenScheme::Bearer, Some(_)) => Err(Error::InvalidDpopToken(
            "the token is DPoP-bound: present it with the DPoP scheme and a proof",
        )),
        (TokenScheme::Dpop, None) => Err(Error::InvalidDpopToken(
            "the token is not DPoP-bound: present it with the Bearer scheme",
        )),
        (TokenScheme::Dpop, Some(jkt)) => {
            let proof = check(auth, req, DpopAt::Resource, Some(&presented.token), now)?.ok_or(
                Error::InvalidDpopProof(DpopAt::Resource, "a DPoP-bound token needs a DPoP proof"),
            )?;
            // §4.3 item 12 / §6.1: the proof's key is the one the token is bound to.
            if proof.jkt != jkt {
                return Err(Error::InvalidDpopToken(
                    "the DPoP proof's key is not the one the token is bound to",
                ));
            }
            record(auth, &proof, DpopAt::Resource, now).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_is_compared_without_query_and_fragment_after_normalisation() {
        let issuer = "https://auth.example";
        let path = "/access_token";
        for ok in [
            "https://auth.example/access_token",
            "HTTPS://Auth.Example/access_token",
            "https://auth.example:443/access_token",
            "https://auth.example/access_token?x=1",
            "https://auth.example/access_token#f",
        ] {
            assert!(names_target(ok, issuer, path), "{ok}");
        }
        for bad in [
            "http://auth.example/access_token",
            "https://other.example/access_token",
            "https://auth.example:8443/access_token",
            "https://auth.example/getprofile",
            "https://auth.example/access_token/",
            "/access_token",
            "",
        ] {
            assert!(!names_target(bad, issuer, path), "{bad}");
        }
    }

    fn claims() -> ProofClaims {
        ProofClaims {
            jti: "j".into(),
            htm: "POST".into(),
            htu: "https://auth.example/getprofile".into(),
            iat: 1_000,
            ath: Some(access_token_hash("tok")),
            nonce: None,
        }
    }

    fn request() -> DpopRequest {
        DpopRequest::parse(std::iter::empty(), "POST", "/getprofile")
    }

    fn refusal(c: &ProofClaims, policy: &DpopPolicy, token: Option<&str>, now: i64) -> String {
        let at = DpopAt::Resource;
        match check_claims(
            c,
            &request(),
            "https://auth.example",
            policy,
            token,
            at,
            now,
        ) {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_claim_refusal_names_its_claim() {
        let policy = DpopPolicy::default();
        assert_eq!(refusal(&claims(), &policy, Some("tok"), 1_000), "");
        let mut c = claims();
        c.htm = "post".into();
        assert!(refusal(&c, &policy, None, 1_000).contains("htm"));
        let mut c = claims();
        c.htu = "https://auth.example:8443/getprofile".into();
        assert!(refusal(&c, &policy, None, 1_000).contains("htu"));
        assert!(refusal(&claims(), &policy, None, 1_000 + 3_600).contains("too old"));
        assert!(refusal(&claims(), &policy, None, 1_000 - 60).contains("future"));
        assert!(refusal(&claims(), &policy, Some("other"), 1_000).contains("ath"));
        let mut c = claims();
        c.ath = None;
        assert!(refusal(&c, &policy, Some("tok"), 1_000).contains("ath"));
        // At the token endpoint there is no token to hash: ath is not asked for.
        assert_eq!(refusal(&c, &policy, None, 1_000), "");
    }

    #[test]
    fn a_required_nonce_must_be_one_of_ours_and_recent() {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"k");
        let policy = DpopPolicy {
            max_age_secs: 3_600,
            nonces: Some(NonceKey::new(key)),
        };
        assert!(refusal(&claims(), &policy, None, 1_000).starts_with("use_dpop_nonce"));
        let mut c = claims();
        c.nonce = policy.next_nonce(1_000);
        assert_eq!(refusal(&c, &policy, None, 1_000), "");
        assert!(refusal(&c, &policy, None, 1_300).starts_with("use_dpop_nonce"));
        c.nonce = Some("made-up".into());
        assert!(refusal(&c, &policy, None, 1_000).starts_with("use_dpop_nonce"));
    }

    #[test]
    fn nonce_modes_parse() {
        assert_eq!("required".parse::<NonceMode>(), Ok(NonceMode::Required));
        assert_eq!("off".parse::<NonceMode>(), Ok(NonceMode::Off));
        assert!("yes".parse::<NonceMode>().is_err());
    }
}
