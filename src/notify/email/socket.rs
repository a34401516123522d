//! The connection to the mail server, opened by keepwatch rather than by
//! lettre so that Nagle's algorithm is off on it.
//!
//! lettre writes the end of a message (`\r\n.\r\n`) by itself, after the
//! body. With Nagle on, the kernel holds those five bytes until the server
//! acknowledges the body, which a server that delays its acknowledgements
//! (Linux does, by up to 40 ms) does only later: every mail waited that long
//! for the server's "250". Worse, a kill -9 in that moment still delivered
//! the message (closing the socket sends what it holds) while keepwatch never
//! heard the "250", so the restart sent it again.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Cause;

/// Connects to the first of `addrs` that answers, secures the connection
/// at once when `implicit_tls` is given (`security = "tls"`), and greets the
/// server (EHLO). STARTTLS, when wanted, comes after, on the same socket.
pub(super) async fn open(
    addrs: &[SocketAddr],
    implicit_tls: Option<TlsParameters>,
    hello: &ClientId,
) -> Result<AsyncSmtpConnection, Cause> {
    let io = |err: io::Error| Cause::Io(err.kind(), err.to_string());
    let tcp = TcpStream::connect(addrs).await.map_err(io)?;
    tcp.set_nodelay(true).map_err(io)?;
    let connection = match implicit_tls {
        None => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), hello).await,
        Some(tls) => {
            // lettre secures a socket it was handed only through this type
            // (public, but marked as not meant to be); its TLS is the same
            // as on the sockets it opens itself, errors included.
            #[allow(deprecated)]
            let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
            stream
                .upgrade_tls(tls)
                .await
                .map_err(|err| Cause::of(&err))?;
            AsyncSmtpConnection::connect_with_transport(Box::new(Secured(stream)), hello).await
        }
    };
    connection.map_err(|err| Cause::of(&err))
}

/// A socket lettre secured, handed back to lettre as a plain stream: it
/// speaks the futures crate's I/O traits, lettre's connection wants tokio's.
#[allow(deprecated)]
#[derive(Debug)]
struct Secured(AsyncNetworkStream);

impl AsyncRead for Secured {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = ready!(futures_io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Secured {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for Secured {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
