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

use std::{convert::Infallible, future::Future, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{Request, body::Incoming};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

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
                let mut req = req.map(|body| TimeoutBody::new(BODY_READ_TIMEOUT, body));
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
        let router = Router::new().route("/echo", post(|body: Bytes| async move { body }));
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
