//! A TCP proxy for fault injection: put it between a service and a backend
//! (Redis, RabbitMQ, ...) and [`TcpProxy::cut`] it to make the backend
//! vanish — open connections are closed and new ones refused, as when the
//! server is stopped — then [`TcpProxy::restore`] it on the same address.
//! The shared backend itself is never stopped.

use std::net::SocketAddr;

use tokio::{
    net::{TcpListener, TcpStream},
    sync::Mutex,
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    running: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

impl TcpProxy {
    /// A proxy on 127.0.0.1 (ephemeral port) to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Self {
            addr,
            upstream,
            running: Mutex::new(None),
        };
        *proxy.running.lock().await = Some(serve(listener, upstream));
        proxy
    }

    /// A proxy to the host and port of a `scheme://[user@]host:port[/...]` URL.
    pub async fn to_url(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let upstream = tokio::net::lookup_host(host_port)
            .await
            .expect("resolve the proxied address")
            .next()
            .expect("an address");
        Self::start(upstream).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:<port>`-style URL of the proxy for `scheme`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Closes every proxied connection and stops listening; returns once
    /// the address refuses connections.
    pub async fn cut(&self) {
        if let Some((stop, task)) = self.running.lock().await.take() {
            stop.cancel();
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let mut running = self.running.lock().await;
        if running.is_none() {
            let listener = TcpListener::bind(self.addr)
                .await
                .expect("rebind the proxy's address");
            *running = Some(serve(listener, self.upstream));
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.try_lock()
            && let Some((stop, _)) = running.take()
        {
            stop.cancel();
        }
    }
}

fn serve(listener: TcpListener, upstream: SocketAddr) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    conns.spawn(pipe(client, upstream, token.clone()));
                }
            }
        }
        drop(listener);
        // Every connection closes on the token; wait for them to be gone.
        while conns.join_next().await.is_some() {}
    });
    (stop, task)
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr, stop: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        () = stop.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}
