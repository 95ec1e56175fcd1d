//! Closes a connection that has not sent its first bytes in time.
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Length of the HTTP/2 connection preface; any real HTTP/1.1 request is at least this long too.
const PREFACE_LEN: usize = 24;

/// A connection that fails its reads once `deadline` passes before the peer has sent its first
/// 24 bytes (the HTTP/2 preface, or the start of an HTTP/1.1 request), so a client that connects
/// and stays silent does not hold a socket and a task forever. After that, HTTP/2 keep-alive pings
/// and HTTP/1's header read timeout take over.
#[derive(Debug)]
pub struct PrefaceDeadline<IO> {
    inner: IO,
    received: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> PrefaceDeadline<IO> {
    /// Wraps `inner`, allowing `within` for the first bytes.
    pub fn new(inner: IO, within: Duration) -> Self {
        Self { inner, received: 0, deadline: Some(Box::pin(tokio::time::sleep(within))) }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.received += buf.filled().len() - before;
                if this.received >= PREFACE_LEN {
                    this.deadline = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    tracing::debug!("closing a connection that sent nothing in time");
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "client sent no request in time",
                    )))
                }
                _ => Poll::Pending,
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<IO: tonic::transport::server::Connected> tonic::transport::server::Connected for PrefaceDeadline<IO> {
    type ConnectInfo = IO::ConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn silent_connections_are_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let mut conn = PrefaceDeadline::new(server, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        drop(client);

        // A client that sends its preface in time keeps the connection, however quiet later.
        let (mut client, server) = tokio::io::duplex(64);
        let mut conn = PrefaceDeadline::new(server, Duration::from_secs(10));
        client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 24];
        conn.read_exact(&mut buf).await.unwrap();
        let pending = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut buf)).await;
        assert!(pending.is_err(), "no deadline after the preface");
    }
}
