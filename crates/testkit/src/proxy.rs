//! A TCP proxy for fault injection: put it between a service and a backend
//! (PostgreSQL, Redis, RabbitMQ, a service replica) and inject the faults
//! an operator meets, on the same address throughout:
//!
//! - [`TcpProxy::cut`]: the backend vanishes — open connections are closed
//!   and new ones refused, as when the server is stopped;
//! - [`TcpProxy::blackhole`]: the backend stops answering — connections
//!   are accepted and kept open but no byte moves in either direction, as
//!   when a network path drops packets (the peer only notices by timing out);
//! - [`TcpProxy::slow`]: every chunk is delayed, as on a congested link;
//! - [`TcpProxy::restore`]: back to normal. Bytes held during a blackhole
//!   are delivered then, as TCP retransmission would.
//!
//! The shared backend itself is never stopped.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Mutex, watch},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// How the proxy treats bytes on open connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Blackhole,
    Slow(Duration),
}

pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    running: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

impl TcpProxy {
    /// A proxy on 127.0.0.1 (ephemeral port) to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, _) = watch::channel(Mode::Pass);
        let proxy = Self {
            addr,
            upstream,
            mode,
            running: Mutex::new(None),
        };
        *proxy.running.lock().await = Some(serve(listener, upstream, proxy.mode.clone()));
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

    /// Keeps every connection (and accepts new ones) but moves no byte
    /// until [`TcpProxy::restore`].
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Delays every chunk in either direction by `delay`.
    pub fn slow(&self, delay: Duration) {
        self.mode.send_replace(Mode::Slow(delay));
    }

    /// Listens again on the same address (after a cut) and moves bytes at
    /// full speed again (after a blackhole or a slow-down).
    pub async fn restore(&self) {
        self.mode.send_replace(Mode::Pass);
        let mut running = self.running.lock().await;
        if running.is_none() {
            let listener = TcpListener::bind(self.addr)
                .await
                .expect("rebind the proxy's address");
            *running = Some(serve(listener, self.upstream, self.mode.clone()));
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

fn serve(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    conns.spawn(pipe(client, upstream, mode.subscribe(), token.clone()));
                }
            }
        }
        drop(listener);
        // Every connection closes on the token; wait for them to be gone.
        while conns.join_next().await.is_some() {}
    });
    (stop, task)
}

async fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    stop: CancellationToken,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending (EOF or error) ends the connection, like
    // `copy_bidirectional` would.
    tokio::select! {
        () = stop.cancelled() => {}
        () = forward(client_read, server_write, mode.clone()) => {}
        () = forward(server_read, client_write, mode) => {}
    }
}

/// Copies one direction chunk by chunk, holding bytes while the proxy is a
/// blackhole and delaying them while it is slow.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if hold_while_blackholed(&mut mode).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just before a blackhole began wait for its end too.
        let Ok(current) = hold_while_blackholed(&mut mode).await else {
            return;
        };
        if let Mode::Slow(delay) = current {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits until the mode is not a blackhole and returns it; errs when the
/// proxy is gone.
async fn hold_while_blackholed(mode: &mut watch::Receiver<Mode>) -> Result<Mode, ()> {
    let current = mode
        .wait_for(|m| *m != Mode::Blackhole)
        .await
        .map_err(|_| ())?;
    Ok(*current)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes every byte back.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = conn.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(conn: &mut TcpStream, byte: u8) -> u8 {
        conn.write_all(&[byte]).await.unwrap();
        let mut got = [0u8; 1];
        conn.read_exact(&mut got).await.unwrap();
        got[0]
    }

    #[tokio::test]
    async fn a_blackhole_holds_bytes_until_restored_and_a_cut_refuses() {
        let proxy = TcpProxy::start(echo_server().await).await;
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut conn, 1).await, 1);

        proxy.blackhole();
        conn.write_all(&[2]).await.unwrap();
        let mut got = [0u8; 1];
        let held =
            tokio::time::timeout(Duration::from_millis(300), conn.read_exact(&mut got)).await;
        assert!(held.is_err(), "a blackholed connection delivered a byte");
        // New connections are accepted but just as silent.
        let mut late = TcpStream::connect(proxy.addr()).await.unwrap();
        late.write_all(&[3]).await.unwrap();

        proxy.restore().await;
        conn.read_exact(&mut got).await.unwrap();
        assert_eq!(got[0], 2, "the held byte arrives after the blackhole");
        late.read_exact(&mut got).await.unwrap();
        assert_eq!(got[0], 3);

        proxy.cut().await;
        assert!(TcpStream::connect(proxy.addr()).await.is_err());
        proxy.restore().await;
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, 4).await, 4);
    }
}
