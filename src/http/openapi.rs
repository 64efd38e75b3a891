//! `GET /openapi.json`: an OpenAPI 3 description generated from the handlers' annotations.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::AppState;
use crate::http::routes::{customer, discovery, health, profile, revocation, token, widgets};
use crate::wire::login::{LoginForm, SessionMode};
use crate::wire::profile_request::ProfileBody;
use crate::wire::token_request::{TokenForm, TokenOperationForm};

#[derive(OpenApi)]
#[openapi(
    info(title = "tollgate", description = "OAuth2 client credentials, customer login and guarded customer APIs"),
    paths(
        token::issue,
        customer::authenticate,
        profile::get,
        revocation::revoke,
        revocation::introspect,
        discovery::metadata,
        discovery::jwks,
        health::live,
        health::ready,
        widgets::token,
        widgets::config,
        widgets::jwks,
    ),
    components(schemas(token::TokenResponse, TokenForm, customer::LoginResponse, LoginForm, SessionMode, crate::http::error::ErrorBody, ProfileBody, TokenOperationForm, revocation::Introspection)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "api-key",
                "The partner's API key; the header x-api-key is accepted too",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "customer_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A customer token from /customer_authenticate (or its session cookie)",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn render() -> String {
    ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into())
}

pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}
