//! Serving a router with graceful shutdown and read timeouts.
//!
//! Every listener (the gateway's and each service's) goes through here, so
//! a client that sends half a request cannot hold a connection open:
//! headers must arrive within [`HEADER_READ_TIMEOUT`] (hyper closes the
//! connection otherwise), and a request body that stalls for
//! [`BODY_READ_TIMEOUT`] fails to read, which ends the request with 400 and
//! the connection with it.
//!
//! hyper starts the header clock as soon as it waits for a request, so the
//! same limit is also how long a kept-alive connection may sit idle. The
//! project's own HTTP clients keep pooled connections for
//! [`CLIENT_POOL_IDLE`], less than that, so they drop a connection before a
//! server does and never send on one that is being closed.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{BoxError, Router, body::Bytes, extract::ConnectInfo};
use hyper::{
    Request,
    body::{Body, Frame, Incoming, SizeHint},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tower::ServiceExt as _;

/// Time a client has to send the whole request head, counted from the
/// moment the server waits for one (after connecting, or after the previous
/// answer on a kept-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the project's HTTP clients keep an idle pooled connection:
/// shorter than [`HEADER_READ_TIMEOUT`] (see the module docs).
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(5);
/// Longest pause allowed between two pieces of a request body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight to finish. Handlers see the peer address through
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of
                    // spinning; the listener itself is still good.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = router
            .clone()
            .map_request(move |req: Request<Incoming>| {
                let mut req = req.map(|body| StallLimit::new(body, BODY_READ_TIMEOUT));
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            })
            .map_err(|e: Infallible| match e {});
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A request body that fails once no piece of it has arrived for
/// `timeout` while it is being read. Unlike tower-http's `TimeoutBody` it
/// passes `is_end_stream` and `size_hint` through, which the gateway reads
/// to tell a request without a body from one with.
struct StallLimit {
    body: Incoming,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for more than {0:?}")]
struct Stalled(Duration);

impl StallLimit {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            stalled: None,
        }
    }
}

impl Body for StallLimit {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalled = None;
                Poll::Ready(frame.map(|r| r.map_err(BoxError::from)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let stalled = this
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if stalled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(Stalled(timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::{body::Bytes, routing::post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/echo", post(|body: Bytes| async move { body }))
            // The gateway tells bodiless requests apart by `is_end_stream`.
            .route(
                "/empty",
                axum::routing::get(|req: axum::extract::Request| async move {
                    req.body().is_end_stream().to_string()
                }),
            );
        tokio::spawn(serve(listener, router, std::future::pending()));
        addr
    }

    /// Reads until the server closes the connection; returns what it sent
    /// and how long that took.
    async fn until_closed(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let limit = HEADER_READ_TIMEOUT + BODY_READ_TIMEOUT + Duration::from_secs(5);
        loop {
            match tokio::time::timeout(limit, stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => panic!("the connection was still open after {limit:?}"),
            }
        }
        (
            String::from_utf8_lossy(&got).into_owned(),
            started.elapsed(),
        )
    }

    #[tokio::test]
    async fn half_a_request_head_is_cut_off() {
        let addr = server().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        let (_, took) = until_closed(&mut s).await;
        assert!(
            took < HEADER_READ_TIMEOUT + Duration::from_secs(3),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_stalled_body_is_cut_off() {
        let addr = server().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
            .await
            .unwrap();
        let (answer, took) = until_closed(&mut s).await;
        assert!(
            took < BODY_READ_TIMEOUT + Duration::from_secs(3),
            "{took:?}"
        );
        assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn a_request_without_a_body_still_says_so() {
        let addr = server().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (answer, _) = until_closed(&mut s).await;
        assert!(answer.ends_with("true"), "{answer}");
    }

    #[tokio::test]
    async fn a_whole_request_is_answered() {
        let addr = server().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .await
        .unwrap();
        let (answer, _) = until_closed(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
        assert!(CLIENT_POOL_IDLE < HEADER_READ_TIMEOUT);
        let addr = server().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
        s.write_all(req).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // Still usable after an idle pause shorter than the client pools'.
        tokio::time::sleep(CLIENT_POOL_IDLE).await;
        s.write_all(req).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let (_, took) = until_closed(&mut s).await;
        assert!(
            took < HEADER_READ_TIMEOUT + Duration::from_secs(3),
            "{took:?}"
        );
    }
}
