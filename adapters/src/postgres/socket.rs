//! Database sockets that fail instead of hanging when the network goes
//! silent: TCP keepalive and `TCP_USER_TIMEOUT` for data the peer never
//! acknowledges, and for pooled connections a bound on how long a request
//! may go unanswered (a black-holed peer acknowledges at the kernel level
//! but never answers, which no socket option notices).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Keepalive and user-timeout settings for a database socket.
pub fn configure(socket: &TcpStream, timeout: Duration) -> io::Result<()> {
    let socket = socket2::SockRef::from(socket);
    socket.set_tcp_nodelay(true)?;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(timeout)
        .with_interval((timeout / 3).max(Duration::from_secs(1)))
        .with_retries(3);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(timeout))?;
    Ok(())
}

/// Connects to the first address of `host:port` that answers, each attempt
/// bounded by `timeout`.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addresses = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "resolving the host timed out"))??;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(socket)) => {
                configure(&socket, timeout)?;
                return Ok(socket);
            }
            Ok(Err(error)) => last = error,
            Err(_) => {
                last = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {address} timed out"),
                );
            }
        }
    }
    Err(last)
}

/// A database socket, or why there is none (reported by its first use, so
/// that the driver reports it like any other connection failure).
pub struct Guarded {
    socket: Result<TcpStream, Option<io::Error>>,
    /// Longest time a request may wait for the first byte of its answer.
    answer_within: Option<Duration>,
    /// Running while a request waits for its answer.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    pub fn new(socket: io::Result<TcpStream>, answer_within: Option<Duration>) -> Self {
        Self {
            socket: socket.map_err(Some),
            answer_within,
            deadline: None,
        }
    }

    fn socket(&mut self) -> io::Result<&mut TcpStream> {
        match &mut self.socket {
            Ok(socket) => Ok(socket),
            Err(error) => Err(error
                .take()
                .unwrap_or_else(|| io::Error::from(io::ErrorKind::NotConnected))),
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = match self.socket() {
            Ok(socket) => Pin::new(socket).poll_read(cx, buf),
            Err(error) => return Poll::Ready(Err(error)),
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.deadline = None,
            Poll::Pending => {
                let limit = self.answer_within;
                if let (Some(deadline), Some(limit)) = (&mut self.deadline, limit) {
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "the database did not answer within {} ms",
                                limit.as_millis()
                            ),
                        )));
                    }
                }
            }
            Poll::Ready(_) => {}
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = match self.socket() {
            Ok(socket) => Pin::new(socket).poll_write(cx, buf),
            Err(error) => return Poll::Ready(Err(error)),
        };
        if let (Poll::Ready(Ok(written)), Some(limit)) = (&polled, self.answer_within) {
            if *written > 0 && self.deadline.is_none() {
                let mut deadline = Box::pin(tokio::time::sleep_until(Instant::now() + limit));
                // Registers this task with the timer: the driver may not poll
                // a read again before the answer (or the deadline) arrives.
                let _ = deadline.as_mut().poll(cx);
                self.deadline = Some(deadline);
            }
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.socket() {
            Ok(socket) => Pin::new(socket).poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.socket() {
            Ok(socket) => Pin::new(socket).poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}
