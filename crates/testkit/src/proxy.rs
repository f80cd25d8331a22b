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
//! The proxy keeps reading what each side sends (also during a blackhole,
//! when it holds the bytes instead of passing them on), so
//! [`TcpProxy::sent_count`] can tell what a client sent even into a
//! blackhole — e.g. that no command was sent while a breaker was open.
//!
//! The shared backend itself is never stopped.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Mutex, mpsc, watch},
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
    sent: Arc<Traffic>,
    running: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

/// What went through the proxy: connections accepted, and what clients
/// sent once [`TcpProxy::record`] was called (one byte stream per
/// connection).
#[derive(Default)]
struct Traffic {
    accepted: AtomicUsize,
    on: AtomicBool,
    streams: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl Traffic {
    fn streams(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One connection's client-to-backend bytes, appended to [`Traffic`].
struct Tap {
    sent: Arc<Traffic>,
    stream: Option<usize>,
}

impl Tap {
    fn record(&mut self, bytes: &[u8]) {
        if !self.sent.on.load(Ordering::SeqCst) {
            return;
        }
        let mut streams = self.sent.streams();
        let i = *self.stream.get_or_insert_with(|| {
            streams.push(Vec::new());
            streams.len() - 1
        });
        streams[i].extend_from_slice(bytes);
    }
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
            sent: Arc::default(),
            running: Mutex::new(None),
        };
        *proxy.running.lock().await = Some(serve(
            listener,
            upstream,
            proxy.mode.clone(),
            proxy.sent.clone(),
        ));
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

    /// Connections accepted so far (during a blackhole too).
    pub fn connections(&self) -> usize {
        self.sent.accepted.load(Ordering::SeqCst)
    }

    /// Keeps, from now on, every byte clients send through the proxy (on
    /// open connections and new ones) for [`TcpProxy::sent_count`].
    pub fn record(&self) {
        self.sent.on.store(true, Ordering::SeqCst);
    }

    /// How often `needle` occurs in what clients sent since
    /// [`TcpProxy::record`], each connection's bytes searched as one
    /// stream. A byte counts once the proxy has read it, which it does
    /// during a blackhole too.
    pub fn sent_count(&self, needle: &[u8]) -> usize {
        if needle.is_empty() {
            return 0;
        }
        self.sent
            .streams()
            .iter()
            .map(|s| s.windows(needle.len()).filter(|w| *w == needle).count())
            .sum()
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
            *running = Some(serve(
                listener,
                self.upstream,
                self.mode.clone(),
                self.sent.clone(),
            ));
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
    sent: Arc<Traffic>,
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
                    sent.accepted.fetch_add(1, Ordering::SeqCst);
                    let tap = Tap { sent: sent.clone(), stream: None };
                    conns.spawn(pipe(client, upstream, mode.subscribe(), tap, token.clone()));
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
    tap: Tap,
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
        () = forward(client_read, server_write, mode.clone(), Some(tap)) => {}
        () = forward(server_read, client_write, mode, None) => {}
    }
}

/// Copies one direction chunk by chunk, holding bytes while the proxy is a
/// blackhole and delaying them while it is slow. Reading goes on whatever
/// the mode (what was read is held, in order), so `tap` sees everything
/// the sender sent; the peer sees nothing more than before.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    mut tap: Option<Tap>,
) {
    let (held, mut next) = mpsc::unbounded_channel::<Vec<u8>>();
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(tap) = &mut tap {
                tap.record(&buf[..n]);
            }
            if held.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
        // The sender is done: what is held still goes out (the writer
        // ends once it is drained), then the connection ends.
        drop(held);
        std::future::pending::<()>().await;
    };
    let write = async move {
        while let Some(chunk) = next.recv().await {
            // Bytes read before or during a blackhole wait for its end.
            let Ok(current) = hold_while_blackholed(&mut mode).await else {
                return;
            };
            if let Mode::Slow(delay) = current {
                tokio::time::sleep(delay).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = read => {}
        () = write => {}
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
    use crate::eventually;

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

    #[tokio::test]
    async fn what_clients_send_is_counted_even_into_a_blackhole() {
        let proxy = TcpProxy::start(echo_server().await).await;
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        conn.write_all(b"before-recording").await.unwrap();
        let mut got = [0u8; 16];
        conn.read_exact(&mut got).await.unwrap();
        proxy.record();
        assert_eq!(proxy.sent_count(b"before"), 0, "not recorded yet");

        // Split across two writes, the needle still counts once.
        conn.write_all(b"GET ma").await.unwrap();
        conn.write_all(b"rk\n").await.unwrap();
        let mut echoed = [0u8; 9];
        conn.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"GET mark\n");
        assert_eq!(proxy.sent_count(b"mark"), 1);

        proxy.blackhole();
        assert_eq!(proxy.connections(), 1);
        let mut other = TcpStream::connect(proxy.addr()).await.unwrap();
        other.write_all(b"mark mark").await.unwrap();
        // Read by the proxy (and held from the echo server) at once.
        eventually("the blackholed bytes are counted", async || {
            proxy.sent_count(b"mark") == 3 && proxy.connections() == 2
        })
        .await;
        let held =
            tokio::time::timeout(Duration::from_millis(300), other.read_exact(&mut [0u8; 1])).await;
        assert!(held.is_err(), "a blackholed connection delivered a byte");
        proxy.restore().await;
        let mut back = [0u8; 9];
        other.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"mark mark");
    }
}
