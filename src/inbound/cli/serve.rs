//! `identity-link serve`: binds the listeners the settings name and serves until
//! a stop signal.

use crate::inbound::rest::Exposure;
use crate::inbound::serve;
use crate::process::config::Settings;
use crate::process::wiring;
use crate::usecases::metrics::Metrics;

use super::Failure;

pub async fn run(settings: Settings) -> Result<(), Failure> {
    crate::inbound::serve::exposure::warn(&settings);
    // Installed first, so a stop signal during startup or right after the
    // listeners answer is a graceful stop, never the default kill.
    let stop = serve::stop_signal();
    let app = wiring::build(&settings, Metrics::new()).await?;
    let mut listeners = Vec::new();
    match settings.internal_listen {
        Some(internal) => {
            listeners.push(
                serve::bind(settings.listen, Exposure::Public)
                    .await
                    .map_err(Failure::Usage)?,
            );
            listeners.push(
                serve::bind(internal, Exposure::Internal)
                    .await
                    .map_err(Failure::Usage)?,
            );
        }
        None => listeners.push(
            serve::bind(settings.listen, Exposure::All)
                .await
                .map_err(Failure::Usage)?,
        ),
    }
    for bound in &listeners {
        tracing::info!(addr = %bound.addr, exposure = ?bound_exposure(bound), identities = %app.identities.describe(), "listening");
    }
    serve::run(app, settings, listeners, stop).await?;
    Ok(())
}

fn bound_exposure(bound: &serve::Bound) -> Exposure {
    bound.exposure()
}
