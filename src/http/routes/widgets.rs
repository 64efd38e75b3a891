//! `/widget_tokens/<name>`: chat-widget tokens, with each profile's own CORS policy. Also the
//! vendors' sample paths: `GET /auth/token` (first `ccai` profile, what the CCAI Web SDK's
//! `authenticate` callback fetches) and `POST /token` (first `axp` profile).
//!
//! Every profile gets resources of its own, registered at start-up, so that actix-cors wraps
//! each with that profile's policy; `/widget_tokens/{name}` then only answers unknown names.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::domain::Error;
use crate::http::cors;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Body, header};
use crate::http::routes::customer::session_cookie;
use crate::http::state::AppState;
use crate::http::{options, resource};
use crate::security::tokens::Issued;
use crate::widgets::{self, Credentials, TokenKind, WidgetKind, WidgetRequest, Widgets};

/// The anonymous visitor's cookie: a JWT signed by the server's key (its own audience).
pub const ANONYMOUS_COOKIE: &str = "tollgate_visitor";

/// What a widget's script sends: a customer token as a bearer token, JSON to axp profiles.
const CORS: cors::Allowed = cors::Allowed {
    methods: &[Method::GET, Method::POST],
    headers: &[header::AUTHORIZATION, header::CONTENT_TYPE],
};

/// Which profile a resource serves (resource data, set at registration).
pub struct Served(String);

pub fn routes(cfg: &mut web::ServiceConfig, widgets: &Widgets) {
    let served = |path: String, allow: &'static str, name: &str| {
        resource(&path, allow).app_data(web::Data::new(Served(name.to_owned())))
    };
    for profile in widgets.iter() {
        let name = &profile.name;
        let token = served(format!("/widget_tokens/{name}"), "GET, POST, OPTIONS", name)
            .route(web::get().to(token))
            .route(web::post().to(token))
            .route(options());
        cors::service(cfg, token, &profile.cors, &CORS);
        let config = served(
            format!("/widget_tokens/{name}/config"),
            "GET, OPTIONS",
            name,
        )
        .route(web::get().to(config))
        .route(options());
        cors::service(cfg, config, &profile.cors, &CORS);
        // The public keys of a profile with a key of its own: fetched by the vendor's servers
        // (Salesforce's keyset "Endpoint URL"), so no CORS.
        if widgets.key_profiles().iter().any(|(n, _, _)| n == name) {
            cfg.service(
                served(format!("/widget_tokens/{name}/jwks.json"), "GET", name)
                    .route(web::get().to(jwks)),
            );
        }
    }
    // The vendors' sample paths: the CCAI Web SDK fetches `/auth/token`, AXP's sample token
    // server answers `POST /token`.
    for (path, kind, allow) in [
        ("/auth/token", WidgetKind::Ccai, "GET, OPTIONS"),
        ("/token", WidgetKind::Axp, "POST, OPTIONS"),
    ] {
        let method = if kind == WidgetKind::Ccai {
            web::get()
        } else {
            web::post()
        };
        match widgets.first_of(kind) {
            Some(p) => {
                let r = served(path.to_owned(), allow, &p.name)
                    .route(method.to(token))
                    .route(options());
                cors::service(cfg, r, &p.cors, &CORS);
            }
            None => {
                cfg.service(
                    resource(path, allow)
                        .route(method.to(unknown))
                        .route(options()),
                );
            }
        }
    }
    cfg.service(
        resource("/widget_tokens/{name}", "GET, POST, OPTIONS")
            .route(web::get().to(unknown))
            .route(web::post().to(unknown))
            .route(options()),
    )
    .service(
        resource("/widget_tokens/{name}/config", "GET, OPTIONS")
            .route(web::get().to(unknown))
            .route(options()),
    )
    // A profile without a key of its own publishes no keys: 404, and 405 for other methods as
    // on every declared path (schemathesis ST204).
    .service(resource("/widget_tokens/{name}/jwks.json", "GET").route(web::get().to(unknown)));
}

async fn unknown() -> HttpResponse {
    ApiError(Error::UnknownWidgetProfile).error_response()
}

#[utoipa::path(
    method(get, post),
    path = "/widget_tokens/{name}",
    params(("name" = String, Path, description = "The widget profile's name")),
    request_body(content = Option<serde_json::Value>, description = "axp only, optional: `{\"userName\"}`, display data only", content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"token\"}` (ccai, dg, generic) or `{\"jwtToken\", \"axpIntegrationId\", \"axpHostName\", \"axpRegion\", …}` (axp)"),
        (status = 401, description = "Invalid customer token or cookie, or login required", body = ErrorBody),
        (status = 404, description = "No such profile", body = ErrorBody),
        (status = 502, description = "The chat platform failed or timed out (axp)", body = ErrorBody),
    ),
    security((), ("customer_token" = []))
)]
pub async fn token(
    req: HttpRequest,
    served: web::Data<Served>,
    Body(body): Body,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(profile) = state.widgets.get(&served.0) else {
        return unknown().await;
    };
    let result = match credentials(&req, &state.session_cookie_name) {
        Err(e) => Err(e),
        Ok(credentials) => {
            let request = WidgetRequest {
                credentials,
                body: &body,
            };
            widgets::issue(
                &state.authority,
                &state.widgets,
                profile,
                request,
                state.clock.now_millis(),
            )
            .await
            .map(|r| (r.body, r.anonymous_cookie))
        }
    };
    respond(result)
}

#[utoipa::path(
    get,
    path = "/widget_tokens/{name}/config",
    params(("name" = String, Path, description = "An axp profile's name")),
    responses(
        (status = 200, description = "`{\"axpIntegrationId\", \"axpHostName\", \"axpRegion\", …}` without a token"),
        (status = 404, description = "No such axp profile", body = ErrorBody),
    )
)]
pub async fn config(served: web::Data<Served>, state: web::Data<AppState>) -> HttpResponse {
    let result = match state.widgets.get(&served.0).map(|p| &p.token) {
        Some(TokenKind::Axp(axp)) => Ok((axp.public_config(), None)),
        _ => Err(Error::UnknownWidgetProfile),
    };
    respond(result)
}

#[utoipa::path(
    get,
    path = "/widget_tokens/{name}/jwks.json",
    params(("name" = String, Path, description = "A widget profile with a key of its own (salesforce, liveperson, zoom, or a generic template with an asymmetric alg)")),
    responses(
        (status = 200, description = "RFC 7517 JWK Set: the profile's signing key and the keys it replaced until their tokens expire; each with `x5c` (a self-signed certificate)", content_type = "application/json"),
        (status = 404, description = "No such profile, or a profile without a key of its own", body = ErrorBody),
    )
)]
pub async fn jwks(served: web::Data<Served>, state: web::Data<AppState>) -> HttpResponse {
    match state
        .widgets
        .keys()
        .jwks_json(&served.0, state.clock.now_secs())
    {
        Some(body) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(body),
        None => unknown().await,
    }
}

fn respond(result: Result<(serde_json::Value, Option<Issued>), Error>) -> HttpResponse {
    match result {
        Ok((body, anonymous_cookie)) => {
            let mut res = HttpResponse::Ok();
            res.insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"));
            if let Some(c) = anonymous_cookie {
                res.cookie(session_cookie(
                    ANONYMOUS_COOKIE.to_owned(),
                    c.token,
                    c.expires_in,
                ));
            }
            res.json(body)
        }
        // Errors carry the profile's CORS headers too (added around this handler), so the
        // widget's script can read the 401 and send the visitor to log in.
        Err(e) => ApiError(e).error_response(),
    }
}

fn credentials<'a>(req: &'a HttpRequest, session_cookie: &str) -> Result<Credentials<'a>, Error> {
    let cookie = |name: &str| {
        req.cookie(name)
            .map(|c| c.value().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    };
    Ok(Credentials {
        authorization: header(req, "authorization").map_err(|e| e.0)?,
        session_cookie: cookie(session_cookie),
        anonymous_cookie: cookie(ANONYMOUS_COOKIE),
    })
}
