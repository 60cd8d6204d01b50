//! `identity-link serve`: the HTTP listeners with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::usecases::app::App;

use crate::inbound::graphql::Graphql;
use crate::inbound::rest::{self, Exposure};
use crate::process::config::Settings;

mod background;
mod connection;
pub mod exposure;

pub use connection::Limits;

/// How long in-flight requests may take to finish after a stop signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle keep-alive connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A bound listener, ready to serve.
pub struct Bound {
    listener: TcpListener,
    exposure: Exposure,
    pub addr: SocketAddr,
}

impl Bound {
    pub fn exposure(&self) -> Exposure {
        self.exposure
    }
}

/// Binds `addr` (port 0 picks a free port).
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: SocketAddr, exposure: Exposure) -> anyhow::Result<Bound> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {addr}: {error}"))?;
    let local = listener.local_addr().unwrap_or(addr);
    Ok(Bound {
        listener,
        exposure,
        addr: local,
    })
}

/// Accepts connections until `stopping` turns true, then waits for the open
/// ones to finish their requests (at most [`DRAIN_TIMEOUT`]).
async fn accept_loop(
    bound: Bound,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let endpoint = Arc::new(endpoint);
    let mut connections = JoinSet::new();
    let for_connections = stopping.clone();
    loop {
        tokio::select! {
            () = connection::stopped(&mut stopping) => break,
            accepted = bound.listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let _ = socket.set_nodelay(true);
                    connections.spawn(connection::serve(
                        socket,
                        endpoint.clone(),
                        limits,
                        for_connections.clone(),
                    ));
                }
                Err(error) => {
                    // Out of file descriptors and the like: pause, do not spin.
                    tracing::warn!(%error, addr = %bound.addr, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(bound);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "requests still running after the drain timeout; closing them"
        );
        connections.shutdown().await;
    }
}

/// Serves every bound listener until `shutdown` resolves, then drains and
/// flushes the audit trail.
///
/// # Errors
/// When a listener fails.
pub async fn run(
    app: Arc<App>,
    settings: Settings,
    listeners: Vec<Bound>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let graphql = Graphql::new(app.clone(), &settings);
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let (stopping, stopping_rx) = watch::channel(false);
    let background = background::spawn(app.clone(), stop.subscribe());
    let limits = Limits {
        header_timeout: settings.http_header_timeout,
        idle_timeout: IDLE_TIMEOUT,
    };
    let servers: Vec<_> = listeners
        .into_iter()
        .map(|bound| {
            let endpoint = rest::routes(
                app.clone(),
                &settings,
                bound.exposure,
                Some(graphql.endpoint()),
            );
            tokio::spawn(accept_loop(bound, endpoint, limits, stopping_rx.clone()))
        })
        .collect();
    shutdown.await;
    tracing::info!("stopping: no new connections; finishing in-flight requests");
    let _ = stopping.send(true);
    let _ = stop.send(());
    let mut failure = None;
    for server in servers {
        if let Err(error) = server.await {
            failure = Some(anyhow::anyhow!("listener task failed: {error}"));
        }
    }
    if let Err(error) = background.await {
        failure = Some(anyhow::anyhow!("background task failed: {error}"));
    }
    app.audit.flush().await;
    tracing::info!("stopped");
    failure.map_or(Ok(()), Err)
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed
/// here, before the future is first polled, so a signal that arrives as soon
/// as the listeners answer already stops the server gracefully.
pub fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let installed = [SignalKind::interrupt(), SignalKind::terminate()].map(|kind| {
            signal(kind)
                .inspect_err(|error| tracing::warn!(%error, "cannot listen for a stop signal"))
                .ok()
        });
        async move {
            let [interrupt, terminate] = installed;
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
