//! `identity-link serve`: the HTTP listeners with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, AcceptorExt, Listener, TcpListener};
use poem::Server;

use crate::app::App;
use crate::background;
use crate::graphql::Graphql;
use crate::rest::{self, Exposure};
use crate::wiring;

/// How long in-flight requests may take to finish after a stop signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound listener, ready to serve.
pub struct Bound {
    acceptor: poem::listener::BoxAcceptor,
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
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {addr}: {error}"))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .unwrap_or(addr);
    Ok(Bound {
        acceptor: acceptor.boxed(),
        exposure,
        addr: local,
    })
}

/// Serves every bound listener until `shutdown` resolves, then drains and
/// flushes the audit trail.
///
/// # Errors
/// When the admin API's session check cannot be set up, or a listener fails.
pub async fn run(
    app: Arc<App>,
    listeners: Vec<Bound>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let graphql = Graphql::new(
        app.clone(),
        app.backfill_reports.clone(),
        wiring::session_verifier(&app.settings, &app.metrics)?,
    );
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let background = background::spawn(app.clone(), stop.subscribe());
    let servers = listeners.into_iter().map(|bound| {
        let endpoint = rest::routes(app.clone(), bound.exposure, Some(graphql.endpoint()));
        let mut stopped = stop.subscribe();
        tokio::spawn(async move {
            Server::new_with_acceptor(bound.acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async move {
                        let _ = stopped.recv().await;
                    },
                    Some(DRAIN_TIMEOUT),
                )
                .await
        })
    });
    let servers: Vec<_> = servers.collect();
    shutdown.await;
    tracing::info!("stopping: no new connections; finishing in-flight requests");
    let _ = stop.send(());
    let mut failure = None;
    for server in servers {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failure = Some(anyhow::anyhow!("listener failed: {error}")),
            Err(error) => failure = Some(anyhow::anyhow!("listener task failed: {error}")),
        }
    }
    if let Err(error) = background.await {
        failure = Some(anyhow::anyhow!("background task failed: {error}"));
    }
    app.audit.flush().await;
    tracing::info!("stopped");
    failure.map_or(Ok(()), Err)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
