//! One HTTP connection under the server's limits (CONTRACT §6.1).
//!
//! hyper's own header timeout also runs while a keep-alive connection waits
//! for its next request, which would cut idle keep-alive to the header
//! timeout. So the connection keeps its own clock instead: a request's head
//! has `header_timeout` from its first byte (or from accept), an idle
//! connection `idle_timeout` from its last response, and a request being
//! handled is bounded by the request timeout of the endpoint itself.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::{Addr, Endpoint, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// The limits of every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a request's first byte (or from accept) to its complete head.
    pub header_timeout: Duration,
    /// From a connection's last response to its next request's first byte.
    pub idle_timeout: Duration,
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request's head to complete.
    Head,
    /// At least this many requests are being handled.
    Busy(usize),
    /// Between requests.
    Idle,
}

/// The phase and when it began, shared by the socket, the service and the watchdog.
struct Clock {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Clock {
    fn new() -> Self {
        Self {
            state: Mutex::new((Phase::Head, Instant::now())),
            changed: Notify::new(),
        }
    }

    fn update(&self, next: impl FnOnce(Phase) -> Option<Phase>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(phase) = next(state.0) {
            *state = (phase, Instant::now());
            self.changed.notify_one();
        }
    }

    /// Bytes arrived: on an idle connection they start a request's head.
    fn bytes_read(&self) {
        self.update(|phase| (phase == Phase::Idle).then_some(Phase::Head));
    }

    fn request_started(&self) {
        self.update(|phase| {
            Some(match phase {
                Phase::Busy(count) => Phase::Busy(count + 1),
                Phase::Head | Phase::Idle => Phase::Busy(1),
            })
        });
    }

    fn request_finished(&self) {
        self.update(|phase| {
            Some(match phase {
                Phase::Busy(count) if count > 1 => Phase::Busy(count - 1),
                _ => Phase::Idle,
            })
        });
    }

    fn snapshot(&self) -> (Phase, Instant) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves with the limit that expired.
    async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            let (phase, since) = self.snapshot();
            let deadline = match phase {
                Phase::Head => Some(since + limits.header_timeout),
                Phase::Idle => Some(since + limits.idle_timeout),
                Phase::Busy(_) => None,
            };
            let changed = self.changed.notified();
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => continue,
                    }
                }
                None => {
                    changed.await;
                    continue;
                }
            }
            if self.snapshot() == (phase, since) {
                return if phase == Phase::Head {
                    "request head not complete in time"
                } else {
                    "idle"
                };
            }
        }
    }
}

/// Marks the end of a request even when its handler is dropped.
struct Handling(Arc<Clock>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The socket, telling the clock when bytes arrive.
struct Watched {
    socket: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// Serves one accepted connection until the client leaves, a limit expires,
/// or `stopping` turns true (then in-flight requests finish first).
pub async fn serve(
    socket: TcpStream,
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let local = socket.local_addr().ok();
    let remote = socket.peer_addr().ok();
    let clock = Arc::new(Clock::new());
    let service = {
        let clock = clock.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let endpoint = endpoint.clone();
            let handling = Handling(clock.clone());
            clock.request_started();
            let request = Request::from((
                request,
                poem::web::LocalAddr(local.map_or(Addr::Custom("tcp", "".into()), Addr::from)),
                poem::web::RemoteAddr(remote.map_or(Addr::Custom("tcp", "".into()), Addr::from)),
                poem::http::uri::Scheme::HTTP,
            ));
            async move {
                let response = endpoint.get_response(request).await;
                drop(handling);
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        })
    };
    let io = TokioIo::new(Watched {
        socket,
        clock: clock.clone(),
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        reason = clock.expired(limits) => {
            tracing::debug!(?remote, reason, "closing the connection");
            if reason != "idle" {
                // Dropping the connection closes the socket at once.
                return;
            }
        }
        () = stopped(&mut stopping) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Resolves once `stopping` turns true (or its sender is gone).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}
