//! HTTPS for the API when `[api] cert_file` and `key_file` are set: TLS
//! handshakes on the accepted connections before axum sees them.
//!
//! Handshakes run side by side, each bounded in time, and at most
//! [`MAX_HANDSHAKES`] at once: a client that opens a connection and never
//! finishes its handshake neither holds up other clients nor piles up
//! connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the
/// system's backlog until one ends.
const MAX_HANDSHAKES: usize = 64;

/// The peer's address, as the handlers see it (`/metrics`'s allow-list),
/// whether the connection is plain or TLS.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, Handshakes>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Handshakes>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// Accepted TCP connections, handed on once their TLS handshake is done.
pub(super) struct Handshakes {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    running: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl Handshakes {
    /// TLS with `config` on the connections `tcp` accepts.
    pub(super) fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(config),
            running: JoinSet::new(),
        }
    }

    fn start(&mut self, stream: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.running.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                // A scanner, a plain-HTTP client or a client that does not
                // trust the certificate: nothing the admin can act on.
                Ok(Err(err)) => {
                    tracing::debug!("API: TLS handshake with {peer} failed: {err}");
                    None
                }
                Err(_) => {
                    tracing::debug!("API: {peer} did not finish its TLS handshake in time");
                    None
                }
            }
        });
    }
}

impl Listener for Handshakes {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if self.running.len() >= MAX_HANDSHAKES {
                if let Some(Ok(Some(done))) = self.running.join_next().await {
                    return done;
                }
                continue;
            }
            tokio::select! {
                (stream, peer) = Listener::accept(&mut self.tcp) => self.start(stream, peer),
                Some(finished) = self.running.join_next() => {
                    if let Ok(Some(done)) = finished {
                        return done;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}
