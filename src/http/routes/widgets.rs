//! `/widget_tokens/<name>`: chat-widget tokens (issue 4), with per-profile CORS. Also the
//! vendors' sample paths: `GET /auth/token` (first `ccai` profile, what the CCAI Web SDK's
//! `authenticate` callback fetches) and `POST /token` (first `axp` profile).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};

use crate::config::WidgetKind;
use crate::domain::Error;
use crate::domain::widgets::{self, Credentials, TokenKind, WidgetProfile, WidgetRequest};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, header};

/// The anonymous visitor's cookie: a JWT signed by the server's key (its own audience).
pub const ANONYMOUS_COOKIE: &str = "tollgate_visitor";

/// Preflight answers may be cached this long (seconds).
const PREFLIGHT_MAX_AGE: &str = "600";

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
    name: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    serve(&req, &body, &state, state.widgets.get(&name)).await
}

/// `GET /auth/token`: the first `ccai` profile.
pub async fn ccai_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    serve(
        &req,
        &body,
        &state,
        state.widgets.first_of(WidgetKind::Ccai),
    )
    .await
}

/// `POST /token`: the first `axp` profile.
pub async fn axp_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    serve(&req, &body, &state, state.widgets.first_of(WidgetKind::Axp)).await
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
pub async fn config(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let profile = state.widgets.get(&name);
    let result = match profile.map(|p| &p.token) {
        Some(TokenKind::Axp(axp)) => Ok(axp.public_config()),
        _ => Err(Error::UnknownWidgetProfile),
    };
    respond(&req, profile, result.map(|body| (body, None)))
}

/// `OPTIONS` on any widget path: the CORS preflight.
pub async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let name = req.match_info().get("name");
    let profile = match name {
        Some(name) => state.widgets.get(name),
        None if req.path() == "/auth/token" => state.widgets.first_of(WidgetKind::Ccai),
        None => state.widgets.first_of(WidgetKind::Axp),
    };
    let mut res = HttpResponse::NoContent();
    if profile.is_some_and(|p| cors(&mut res, &req, p)) {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Content-Type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
    }
    res.finish()
}

async fn serve(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
    profile: Option<&WidgetProfile>,
) -> HttpResponse {
    let result = match profile {
        None => Err(Error::UnknownWidgetProfile),
        Some(profile) => match credentials(req, &state.session_cookie_name) {
            Err(e) => Err(e),
            Ok(credentials) => {
                let request = WidgetRequest { credentials, body };
                widgets::issue(&state.authority, profile, request, state.clock.now_millis())
                    .await
                    .map(|r| (r.body, r.anonymous_cookie))
            }
        },
    };
    respond(req, profile, result)
}

fn respond(
    req: &HttpRequest,
    profile: Option<&WidgetProfile>,
    result: Result<(serde_json::Value, Option<crate::domain::tokens::Issued>), Error>,
) -> HttpResponse {
    match result {
        Ok((body, anonymous_cookie)) => {
            let mut res = HttpResponse::Ok();
            res.insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"));
            if let Some(c) = anonymous_cookie {
                // HttpOnly + Secure + Lax, like the session cookie: scripts never see the id's
                // proof, and it stays off cross-site POSTs.
                res.insert_header((
                    header::SET_COOKIE,
                    format!(
                        "{ANONYMOUS_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
                        c.token, c.expires_in
                    ),
                ));
            }
            if let Some(p) = profile {
                cors(&mut res, req, p);
            }
            res.json(body)
        }
        Err(e) => {
            // Errors carry CORS headers too, so the widget's script can read the 401 and log in.
            let mut res = ApiError(e).error_response();
            if let Some(p) = profile {
                let mut builder = HttpResponse::Ok();
                cors(&mut builder, req, p);
                for (name, value) in builder.finish().headers() {
                    res.headers_mut().insert(name.clone(), value.clone());
                }
            }
            res
        }
    }
}

/// Adds the CORS headers the profile grants this request's `Origin`; false when none.
fn cors(res: &mut HttpResponseBuilder, req: &HttpRequest, profile: &WidgetProfile) -> bool {
    if profile.cors.varies_by_origin() {
        res.insert_header((header::VARY, "Origin"));
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let Some(grant) = profile.cors.grant(origin) else {
        return false;
    };
    let Ok(value) = HeaderValue::from_str(&grant.allow_origin) else {
        return false;
    };
    res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, value));
    if grant.allow_credentials {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"));
    }
    true
}

fn credentials<'a>(req: &'a HttpRequest, session_cookie: &str) -> Result<Credentials<'a>, Error> {
    let authorization = header(req, "authorization").map_err(|e| e.0)?;
    let cookies = header(req, "cookie").map_err(|e| e.0)?;
    Ok(Credentials {
        authorization,
        session_cookie: cookies.and_then(|c| cookie(c, session_cookie)),
        anonymous_cookie: cookies.and_then(|c| cookie(c, ANONYMOUS_COOKIE)),
    })
}

/// RFC 6265 §5.4 `Cookie: a=b; c=d`: the value of `name`, if present and non-empty.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::cookie;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = "a=1; tollgate_session=tok; tollgate_session_x=no";
        assert_eq!(cookie(h, "tollgate_session"), Some("tok"));
        assert_eq!(cookie(h, "b"), None);
        assert_eq!(cookie("x=", "x"), None);
    }
}
