//! RFC 8414 authorization-server metadata and the RFC 7517 JWK Set.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::domain::profile::REQUIRED_SCOPE;
use crate::http::AppState;
use crate::security::client_keys::ASSERTION_ALGS;
use crate::security::dpop::DPOP_ALGS;

/// RFC 8414 §2 / RFC 7591 §2 names of the client authentication methods every endpoint takes.
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server",
    responses((status = 200, description = "RFC 8414 metadata", body = serde_json::Value)))]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.authority.tokens.issuer();
    let algs: Vec<&str> = ASSERTION_ALGS.iter().map(|(name, _)| *name).collect();
    // RFC 8705 §2.1, §2.2: the certificate methods where a client certificate can reach
    // tollgate (its own TLS asks for one, a self-signed one included, or a proxy forwards it).
    let mut methods = AUTH_METHODS.to_vec();
    if state.certificate_bound_tokens {
        methods.extend(["tls_client_auth", "self_signed_tls_client_auth"]);
    }
    let dpop_algs: Vec<&str> = DPOP_ALGS.iter().map(|(name, _)| *name).collect();
    let mut doc = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/access_token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        // RFC 8414 §2 makes response_types_supported REQUIRED; tollgate has no authorization
        // endpoint, so it supports none.
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint": format!("{issuer}/revoke"),
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint": format!("{issuer}/introspect"),
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "service_documentation": format!("{issuer}/openapi.json"),
        // RFC 9449 §5.1: the algorithms a DPoP proof may use.
        "dpop_signing_alg_values_supported": dpop_algs,
        // RFC 8705 §3.3: tokens bound to a client certificate, when one can reach tollgate.
        "tls_client_certificate_bound_access_tokens": state.certificate_bound_tokens,
    });
    // RECOMMENDED, not required: when the database is away, serve the rest.
    match state.authority.store.scopes_in_use().await {
        Ok(mut scopes) => {
            if !scopes.iter().any(|s| s == REQUIRED_SCOPE) {
                scopes.push(REQUIRED_SCOPE.to_owned());
                scopes.sort();
            }
            doc["scopes_supported"] = json!(scopes);
        }
        Err(e) => tracing::warn!(error = %e, "metadata served without scopes_supported"),
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(doc)
}

#[utoipa::path(get, path = "/.well-known/jwks.json",
    responses((status = 200, description = "RFC 7517 JWK Set: public keys only", body = serde_json::Value)))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let keys = state.authority.tokens.keys();
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(keys.jwks_json(state.clock.now_secs()))
}
