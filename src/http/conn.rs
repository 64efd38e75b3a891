//! JSON bodies for the few errors actix-http answers on its own.
//!
//! Before any handler or middleware runs, actix-http's HTTP/1 dispatcher refuses a request it
//! cannot parse (400), a header block over its limits (431) and headers that do not arrive in
//! time (408). It writes those responses itself, with an empty body, and offers no hook to
//! change them (actix-http `h1/dispatcher.rs`). Without this module the promise that every
//! error is a JSON body (RFC 6749 §5.2 shape) would break for exactly the most hostile
//! requests.
//!
//! [`JsonErrors`] sits between the dispatcher and the socket and rewrites those responses, and
//! only those, on their way out. They are recognisable on the wire: the status line is followed
//! directly by `content-length: 0`. No response of tollgate's own looks like that: every error
//! the application makes carries a JSON body (`middleware::json_errors`). Each such response
//! is also the dispatcher's last word on the connection (it stops reading after a parse error,
//! shuts down after a head timeout), so the rewrite adds `connection: close`.
//!
//! Everything else passes through untouched; the cost on the hot path is one substring search
//! per write.

use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, ready};

use actix_web::http::StatusCode;
use memchr::memmem::Finder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::ErrorBody;
use super::middleware::SECURITY_HEADERS;

/// What every candidate response starts with; the exact status line is checked after a hit.
static STATUS_PREFIX: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"HTTP/1.1 4"));
const HEAD_END: &[u8] = b"\r\n\r\n";
const EMPTY_BODY: &[u8] = b"\r\ncontent-length: 0\r\n";

/// The responses actix-http makes itself, exactly as its encoder writes their status line,
/// with what the client is told instead of nothing.
const FRAMEWORK_ERRORS: [(&[u8], StatusCode, &str); 3] = [
    (
        b"HTTP/1.1 400 Bad Request",
        StatusCode::BAD_REQUEST,
        "the request is not valid HTTP/1.1",
    ),
    (
        b"HTTP/1.1 408 Request Timeout",
        StatusCode::REQUEST_TIMEOUT,
        "the request headers did not arrive in time",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "the request headers are too large",
    ),
];

/// A connection (TCP or TLS) whose framework-made error responses get a JSON body.
pub struct JsonErrors<T> {
    io: T,
    /// A rewritten response not yet handed to the socket in full.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonErrors<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            pending: Vec::new(),
            sent: 0,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

/// The client certificate of a connection (RFC 8705), for the request's connection data.
#[derive(Clone)]
pub struct TlsClientCertificate(pub crate::wire::client_cert::Presented);

/// A connection that may carry a client certificate.
pub trait PeerCertificate {
    /// The certificates the client presented in the TLS handshake, leaf first, if any.
    fn client_chain(&self) -> Option<Vec<rustls_pki_types::CertificateDer<'static>>>;
}

impl PeerCertificate for JsonErrors<tokio::net::TcpStream> {
    fn client_chain(&self) -> Option<Vec<rustls_pki_types::CertificateDer<'static>>> {
        None
    }
}

impl PeerCertificate
    for JsonErrors<actix_tls::accept::rustls_0_23::TlsStream<tokio::net::TcpStream>>
{
    fn client_chain(&self) -> Option<Vec<rustls_pki_types::CertificateDer<'static>>> {
        let (_, session) = self.io.get_ref();
        session
            .peer_certificates()
            .filter(|chain| !chain.is_empty())
            .map(<[_]>::to_vec)
    }
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// Where in `buf` a framework error response starts, if one does.
fn find(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = STATUS_PREFIX.find(&buf[from..]) {
        let start = from + at;
        if framework_error(&buf[start..]).is_some() {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

fn framework_error(buf: &[u8]) -> Option<(StatusCode, &'static str)> {
    FRAMEWORK_ERRORS
        .iter()
        .find(|(line, _, _)| buf.starts_with(line) && buf[line.len()..].starts_with(EMPTY_BODY))
        .map(|&(_, status, description)| (status, description))
}

/// The replacement for the response head at the start of `buf`, and how many bytes of `buf`
/// it stands for. `None` when the head is not complete in `buf` (it always is: the encoder
/// writes a head in one piece), in which case the bytes pass through as they are.
fn rewrite(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let (status, description) = framework_error(buf)?;
    let end = memchr::memmem::find(buf, HEAD_END)? + HEAD_END.len();
    let body = serde_json::to_vec(&ErrorBody {
        error: "invalid_request",
        error_description: description.into(),
    })
    .ok()?;
    let head = std::str::from_utf8(&buf[..end - HEAD_END.len()]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let kept: Vec<&str> = lines
        .filter(|l| !l.eq_ignore_ascii_case("content-length: 0"))
        .collect();
    let closes = kept
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("connection:"));

    let mut out = Vec::with_capacity(end + body.len() + 200);
    let mut line = |s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    debug_assert!(status_line.contains(status.as_str()));
    line(status_line);
    line("content-type: application/json");
    line(&format!("content-length: {}", body.len()));
    for (name, value) in SECURITY_HEADERS {
        line(&format!("{name}: {value}"));
    }
    if !closes {
        line("connection: close");
    }
    for l in kept {
        line(l);
    }
    line("");
    out.extend_from_slice(&body);
    Some((end, out))
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        match find(buf) {
            None => Pin::new(&mut this.io).poll_write(cx, buf),
            // Whatever precedes the error (a pipelined response) goes out first, unchanged.
            Some(at) if at > 0 => Pin::new(&mut this.io).poll_write(cx, &buf[..at]),
            Some(_) => match rewrite(buf) {
                Some((consumed, replacement)) => {
                    this.pending = replacement;
                    // The original bytes count as written; the replacement drains here, on the
                    // next write, or in flush/shutdown.
                    if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(Ok(consumed))
                }
                None => Pin::new(&mut this.io).poll_write(cx, buf),
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Writes `chunks` through the wrapper into a buffer, as the dispatcher would.
    async fn through(chunks: &[&[u8]]) -> String {
        let mut conn = JsonErrors::new(Vec::new());
        for chunk in chunks {
            conn.write_all(chunk).await.unwrap();
        }
        conn.flush().await.unwrap();
        String::from_utf8(conn.io).unwrap()
    }

    const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sat, 28 Nov 2026 03:00:00 GMT\r\n\r\n";

    #[tokio::test]
    async fn framework_400_gets_a_json_body_and_closes() {
        let out = through(&[BAD]).await;
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json\r\n"));
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(head.contains("connection: close\r\n"));
        assert!(head.contains("date: Sat, 28 Nov 2026 03:00:00 GMT"));
        assert!(head.contains("cache-control: no-store"));
        assert!(!head.contains("content-length: 0"));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "invalid_request");
        assert_eq!(
            json["error_description"],
            "the request is not valid HTTP/1.1"
        );
    }

    #[tokio::test]
    async fn an_existing_connection_header_is_kept_not_doubled() {
        let out = through(&[
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n",
        ])
        .await;
        assert_eq!(out.matches("connection: close").count(), 1, "{out}");
        assert!(out.contains("the request headers are too large"));
    }

    #[tokio::test]
    async fn responses_of_our_own_pass_through_byte_for_byte() {
        let ours: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 27\r\ncontent-type: application/json\r\n\r\n{\"error\":\"invalid_request\"}",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            // A body holding the status line alone: no `content-length: 0` after it.
            b"HTTP/1.1 200 OK\r\ncontent-length: 24\r\n\r\nHTTP/1.1 400 Bad Request",
        ];
        let expected: Vec<u8> = ours.concat();
        assert_eq!(through(ours).await.as_bytes(), expected);
    }

    #[tokio::test]
    async fn a_pipelined_response_before_the_error_is_left_intact() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let out = through(&[&[ok, BAD].concat()]).await;
        assert!(out.starts_with(std::str::from_utf8(ok).unwrap()), "{out}");
        let rest = &out[ok.len()..];
        assert!(rest.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json"));
        assert!(rest.ends_with("\"error_description\":\"the request is not valid HTTP/1.1\"}"));
    }
}
