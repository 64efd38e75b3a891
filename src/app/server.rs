//! The HTTP listener. actix-web's `HttpServer` is this plus options tollgate does not use; it is
//! assembled here from the same parts (actix-server accepts, actix-http speaks HTTP/1.1, the
//! same defaults) for one reason: each connection, plain or TLS, is wrapped in
//! [`JsonErrors`] before the HTTP/1 dispatcher sees it, so that the errors actix-http answers
//! on its own get a JSON body like every other (see `http/conn.rs`).

use std::fmt;
use std::future::ready;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Request, Response};
use actix_server::{GracefulShutdownSignal, Server, ServerBuilder};
use actix_service::{IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_service};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::Error;
use actix_web::dev::AppConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::http::conn::{JsonErrors, PeerCertificate, TlsClientCertificate};
use crate::tls::{ClientCa, TlsServer};
use crate::wire::client_cert::Presented;

/// Seconds a graceful stop waits for in-flight requests.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// Serves the application `factory` makes (one per worker) on `listener`, over TLS when `tls`
/// is given. Signals are left to the caller (main), so that tests can run many servers in one
/// process.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    workers: usize,
    tls: Option<TlsServer>,
    factory: F,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = ServerBuilder::default();
    // Lets idle keep-alive connections close at once on a graceful stop, as HttpServer does.
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    let secure = tls.is_some();
    let builder = match tls {
        None => builder.listen("tollgate", listener, move || {
            fn_service(|io: TcpStream| {
                let peer = io.peer_addr().ok();
                ready(Ok((JsonErrors::new(io), peer)))
            })
            .and_then(h1(&factory, &shutdown, secure, addr, None))
        })?,
        Some(TlsServer {
            mut config,
            client_ca,
        }) => {
            // HTTP/1.1 only (actix-web without its http2 feature announces the same).
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            builder.listen("tollgate-tls", listener, move || {
                Acceptor::new(config.clone())
                    .map_err(TlsError::into_service_error)
                    .map(|io: TlsStream<TcpStream>| {
                        let peer: Option<SocketAddr> = io.get_ref().0.peer_addr().ok();
                        (JsonErrors::new(io), peer)
                    })
                    .and_then(
                        h1(&factory, &shutdown, secure, addr, client_ca.clone())
                            .map_err(TlsError::Service),
                    )
            })?
        }
    };
    Ok(builder.run())
}

/// HTTP/1.1 over any wrapped connection, with HttpServer's defaults.
fn h1<T, F, I, S, B>(
    factory: &F,
    shutdown: &GracefulShutdownSignal,
    secure: bool,
    addr: SocketAddr,
    client_ca: Option<Arc<ClientCa>>,
) -> impl ServiceFactory<
    (JsonErrors<T>, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
> + use<T, F, I, S, B>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    JsonErrors<T>: PeerCertificate,
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let shutdown = shutdown.clone();
    let app = factory()
        .into_factory()
        .map_err(|err| err.into().error_response());
    HttpService::build()
        .graceful_shutdown_signal(move || {
            let signal = shutdown.clone();
            async move { signal.notified().await }
        })
        .keep_alive(KeepAlive::default())
        // Slow headers: 408 after this (the bound on bodies is the application's own).
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .h1_allow_half_closed(true)
        // RFC 8705: the certificate of the TLS handshake, for each request on the connection,
        // with whether it chains to the configured CA (the handshake accepted it either way).
        .on_connect_ext(move |io: &JsonErrors<T>, data| {
            let Some(chain) = io.client_chain() else {
                return;
            };
            if let Some((leaf, intermediates)) = chain.split_first() {
                let chains_to_ca = client_ca
                    .as_ref()
                    .is_some_and(|ca| ca.chains(leaf, intermediates));
                data.insert(TlsClientCertificate(Presented {
                    der: leaf.as_ref().to_vec(),
                    chains_to_ca,
                }));
            }
        })
        .local_addr(addr)
        .h1(actix_service::map_config(app, move |()| {
            // The host and scheme only feed `ConnectionInfo` fallbacks, which tollgate does not
            // read (its issuer is configured). actix-web builds this value with a crate-private
            // constructor; this is its public twin.
            AppConfig::__priv_test_new(secure, addr.to_string(), addr)
        }))
}
