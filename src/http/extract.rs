//! Typed requests out of actix-web requests: each wire parser becomes an extractor, so a
//! handler's signature says what it takes and its body only calls the domain.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use crate::domain::Error;
use crate::domain::audit::Caller;
use crate::http::conn::TlsClientCertificate;
use crate::http::error::{ApiError, generic};
use crate::http::middleware::RequestId;
use crate::http::state::AppState;
use crate::wire;
use crate::wire::client_cert::{ClientCertificate, Presented};
use crate::wire::dpop::DpopRequest;
use crate::wire::login::LoginRequest;
use crate::wire::profile_request::{ProfileRequest, RawProfileRequest};
use crate::wire::token_request::{RawTokenRequest, TokenOperation, TokenRequest};

/// A request parsed from its head and its whole body (bounded by `web::PayloadConfig`).
pub trait FromBody: Sized + 'static {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError>;
}

/// The extractor of a `FromBody` request.
pub struct Parsed<T>(pub T);

impl<T: FromBody> FromRequest for Parsed<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Body::from_request(&req, payload);
        Box::pin(async move {
            // A body over the limit or cut off is the framework's 413/400 (JSON via middleware).
            let Body(body) = body.await?;
            Ok(T::parse(&req, &body).map(Parsed)?)
        })
    }
}

fn raw_token_request<'a>(
    req: &'a HttpRequest,
    body: &'a [u8],
) -> Result<RawTokenRequest<'a>, ApiError> {
    Ok(RawTokenRequest {
        content_type: header(req, "content-type")?,
        authorization: header(req, "authorization")?,
        query: req.query_string(),
        body,
    })
}

impl FromBody for TokenRequest {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        Ok(wire::token_request::parse(&raw_token_request(req, body)?)?)
    }
}

impl FromBody for TokenOperation {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        Ok(wire::token_request::parse_token_operation(
            &raw_token_request(req, body)?,
        )?)
    }
}

impl FromBody for LoginRequest {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        Ok(LoginRequest::parse(header(req, "content-type")?, body)?)
    }
}

impl FromBody for ProfileRequest {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let api_key = match (header(req, "api-key")?, header(req, "x-api-key")?) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::invalid_request("api-key and x-api-key differ").into());
            }
            (a, b) => a.or(b),
        };
        Ok(ProfileRequest::parse(&RawProfileRequest {
            authorization: header(req, "authorization")?,
            api_key,
            customer_auth: header(req, "customer-auth")?,
            customer_id_header: header(req, "x-customer-id")?,
            content_type: header(req, "content-type")?,
            body,
        }))
    }
}

/// The request's `DPoP` header (RFC 9449 §4.1), with the method and path its proof must name.
/// Never fails: a bad header is the domain's to refuse, in its RFC's terms.
impl FromRequest for DpopRequest {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let values = req.headers().get_all("dpop").map(|v| v.to_str().ok());
        std::future::ready(Ok(DpopRequest::parse(
            values,
            req.method().as_str(),
            req.path(),
        )))
    }
}

/// The client certificate (RFC 8705): the one of this TLS connection, else, when the peer is
/// a trusted proxy, the one in its header. From anyone else the header is ignored: a client
/// could otherwise claim any certificate it has seen.
impl FromRequest for ClientCertificate {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ClientCertificate(client_certificate(req))))
    }
}

/// What a header certificate is trusted for. The proxy terminated TLS, so the handshake proved
/// the client holds the certificate's key whatever the chain: that is all binding (RFC 8705
/// §3) and `self_signed_tls_client_auth` (§2.2) need. Whether it chains to the partners' CA
/// (`tls_client_auth`, §2.1) is checked here again, with rustls-webpki, when tollgate knows that
/// CA (`TOLLGATE_CLIENT_CERT_CA_PATH`, else `[tls] client_ca_path`): a proxy that also serves
/// self-signed clients must accept certificates it cannot verify (nginx
/// `ssl_verify_client optional_no_ca`), so its acceptance proves nothing about the chain.
/// Without a CA configured, the proxy is trusted to have verified the chain, as before; the
/// README tells operators of mixed set-ups to configure the CA.
fn client_certificate(req: &HttpRequest) -> Result<Option<Presented>, &'static str> {
    if let Some(cert) = req.conn_data::<TlsClientCertificate>() {
        return Ok(Some(cert.0.clone()));
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(None);
    };
    let Some(name) = &state.client_cert_header else {
        return Ok(None);
    };
    let from_proxy = req
        .peer_addr()
        .is_some_and(|a| state.trusted_proxies.contains(&a.ip()));
    if !from_proxy {
        return Ok(None);
    }
    let mut values = req.headers().get_all(name);
    let der = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => return Err("the client certificate header is repeated"),
        (Some(v), None) => {
            let text = v
                .to_str()
                .map_err(|_| "the client certificate header is not ASCII")?;
            // Some proxies send the header empty when the client presented no certificate.
            if text.trim().is_empty() {
                return Ok(None);
            }
            wire::client_cert::parse(text)?
        }
    };
    // Proxies forward the leaf alone: the CA file must hold any intermediate CA as well.
    let chains_to_ca = match &state.header_ca {
        Some(ca) => ca.chains(&rustls_pki_types::CertificateDer::from(der.as_slice()), &[]),
        None => true,
    };
    Ok(Some(Presented { der, chains_to_ca }))
}

/// Who is calling, for the audit trail and the abuse limits: the peer address and the request
/// id. Never fails.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(caller(req)))
    }
}

pub fn caller(req: &HttpRequest) -> Caller {
    let hops = req
        .app_data::<web::Data<AppState>>()
        .map_or(0, |s| s.trusted_proxy_hops);
    Caller {
        source: client_address(req, hops),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// The caller's address. `X-Forwarded-For` is believed only as far as our own proxies wrote it:
/// each trusted proxy appends the address it saw, so the client is the `hops`-th entry from the
/// right. Anything left of that was written by the client and proves nothing.
fn client_address(req: &HttpRequest, hops: usize) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries.get(i))
        .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
        .or(peer)
}

/// A header as text. Present but not visible ASCII is a malformed request, not "absent"; and
/// so is a header sent twice: a proxy that reads the other copy would disagree with us about
/// whose credential this is.
pub fn header<'a>(req: &'a HttpRequest, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    let mut values = req.headers().get_all(name);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::invalid_request(format!("the {name} header is repeated")).into());
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| Error::invalid_request(format!("the {name} header is not ASCII")).into())
}

/// A request body, read within the configured time (`TOLLGATE_BODY_TIMEOUT_MS`): slow headers
/// are cut off by actix-web itself, a body trickling in byte by byte would otherwise hold its
/// connection for as long as the client likes.
pub struct Body(pub web::Bytes);

impl FromRequest for Body {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(std::time::Duration::from_secs(10), |s| s.body_timeout);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            match tokio::time::timeout(limit, body).await {
                Ok(body) => Ok(Body(body?)),
                Err(_) => Err(actix_web::error::InternalError::from_response(
                    "request body timed out",
                    HttpResponse::RequestTimeout()
                        // The rest of the body is never read: the connection cannot be reused.
                        .insert_header((actix_web::http::header::CONNECTION, "close"))
                        .json(generic(StatusCode::REQUEST_TIMEOUT)),
                )
                .into()),
            }
        })
    }
}
