//! What a template may not say, checked at start-up: registered claims tollgate sets itself,
//! unknown placeholders, claim paths that collide.

use super::super::config::GenericConfig;

/// The registered claims (RFC 7519 §4.1). A template signed with the server's key may set none
/// of them: it could otherwise mint something that looks like one of tollgate's own tokens
/// (`sub`, `aud`, `nbf`). Of these, only `sub` may carry a customer field there.
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
const MAPPABLE: [&str; 1] = ["sub"];
/// With a vendor's secret or a profile's own key, nothing of tollgate's can be imitated, and
/// vendors do name `sub` and `jti` (Twilio): only the claims tollgate computes stay its own.
const COMPUTED: [&str; 5] = ["iss", "aud", "exp", "nbf", "iat"];
/// The header fields a template may add (RFC 7515 §4.1.9, §4.1.10); `alg` and `kid` come from
/// the key, and `crit` would ask verifiers to understand an extension tollgate never applies.
pub(super) const HEADER_FIELDS: [&str; 2] = ["typ", "cty"];

pub(super) fn check_format(claim: &str, text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = rest.get(open + 1..).unwrap_or_default();
        let close = after
            .find('}')
            .ok_or_else(|| format!("formatted_claims.{claim}: an unclosed {{"))?;
        let name = after.get(..close).unwrap_or_default();
        if !["iat", "id"].contains(&name) {
            return Err(format!(
                "formatted_claims.{claim}: unknown placeholder {{{name}}} (iat, id)"
            ));
        }
        rest = after.get(close + 1..).unwrap_or_default();
    }
    Ok(())
}

/// The claims tollgate sets itself cannot come from a template's constants or mappings.
pub(super) fn check_reserved(c: &GenericConfig, server: bool) -> Result<(), String> {
    let reserved: &[&str] = if server { &REGISTERED } else { &COMPUTED };
    let top = |k: &String| k.split('.').next().unwrap_or_default().to_owned();
    if let Some(k) = c
        .claims
        .keys()
        .chain(c.formatted_claims.keys())
        .find(|k| reserved.contains(&top(k).as_str()))
    {
        return Err(format!(
            "claims.{k}: {k:?} is a registered claim tollgate sets itself \
             (use issuer/audience for iss/aud, time_claims for times)"
        ));
    }
    let mappable = |k: &str| !server || MAPPABLE.contains(&k);
    if let Some(k) = c
        .customer_claims
        .keys()
        .find(|k| reserved.contains(&top(k).as_str()) && !mappable(k))
    {
        return Err(format!(
            "customer_claims.{k}: {k:?} is a registered claim tollgate sets itself"
        ));
    }
    if let Some(times) = &c.time_claims
        && let Some(k) = times
            .keys()
            .find(|k| ["iss", "sub", "aud", "jti"].contains(&top(k).as_str()))
    {
        return Err(format!("time_claims.{k}: {k:?} is not a time"));
    }
    Ok(())
}

/// Two claims may not land on one place: `a` twice, or `a` and `a.b` (a value and an object).
pub(super) fn check_paths(paths: &[(String, &str)]) -> Result<(), String> {
    for (i, (a, from_a)) in paths.iter().enumerate() {
        if a.is_empty() || a.split('.').any(str::is_empty) {
            return Err(format!("{from_a}.{a}: a claim name has an empty part"));
        }
        for (b, from_b) in paths.iter().skip(i + 1) {
            let nested = |x: &str, y: &str| y.strip_prefix(x).is_some_and(|r| r.starts_with('.'));
            if a == b {
                return Err(format!(
                    "{from_b}.{b}: the claim is also set by {from_a}.{a}"
                ));
            }
            if nested(a, b) || nested(b, a) {
                return Err(format!(
                    "{from_b}.{b}: the claim path collides with {from_a}.{a} (one would \
                     overwrite the other)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_path_collisions_are_named() {
        let err =
            check_paths(&[("a".into(), "claims"), ("a.b".into(), "customer_claims")]).unwrap_err();
        assert!(
            err.contains("customer_claims.a.b") && err.contains("claims.a"),
            "{err}"
        );
        assert!(check_paths(&[("ab".into(), "claims"), ("a.b".into(), "claims")]).is_ok());
        assert!(check_paths(&[("a..b".into(), "claims")]).is_err());
    }

    #[test]
    fn placeholders_are_checked() {
        assert!(check_format("jti", "SK1-{iat}").is_ok());
        assert!(check_format("jti", "{nope}").is_err());
        assert!(check_format("jti", "{iat").is_err());
    }
}
