//! identity-link as a [testcontainers] image, for the test suites of the services
//! that call it.
//!
//! ```no_run
//! use identity_link_testcontainers::{base_url, IdentityLink};
//! use testcontainers::runners::AsyncRunner;
//!
//! # async fn example() -> Result<(), testcontainers::TestcontainersError> {
//! // The local `identity-link:latest` image with its embedded defaults: an
//! // in-memory store and the bundled demo identities.
//! let container = IdentityLink::default().start().await?;
//! let url = base_url(&container).await?; // e.g. http://127.0.0.1:32768
//! # Ok(()) }
//! ```
//!
//! The container is ready once `GET /health/ready` answers 200.

use std::borrow::Cow;
use std::collections::BTreeMap;

use testcontainers::core::wait::HttpWaitStrategy;
use testcontainers::core::{ContainerPort, CopyToContainer, WaitFor};
use testcontainers::{ContainerAsync, Image, TestcontainersError};

/// The port the image listens on (`LISTEN_ADDR=0.0.0.0:8080`).
pub const PORT: ContainerPort = ContainerPort::Tcp(8080);

/// Where [`IdentityLink::with_identities`] puts its fixture in the container.
pub const FIXTURE_PATH: &str = "/identity-link/identities.json";

/// The identity-link image; by default with its embedded defaults (in-memory
/// store, demo identities). See the crate documentation.
#[derive(Debug, Clone, Default)]
pub struct IdentityLink {
    env: BTreeMap<String, String>,
    copies: Vec<CopyToContainer>,
}

impl IdentityLink {
    /// The image's default name: the one `docker build -t identity-link .` gives.
    pub const NAME: &'static str = "identity-link";
    /// The image's default tag; another name or tag: [`testcontainers::ImageExt`].
    pub const TAG: &'static str = "latest";

    /// Serves `identities` (a JSON array of identities in Kratos's own format)
    /// instead of the demo identities.
    #[must_use]
    pub fn with_identities(mut self, identities: &serde_json::Value) -> Self {
        self.copies = vec![CopyToContainer::new(
            identities.to_string().into_bytes(),
            FIXTURE_PATH,
        )];
        self.with_env("KRATOS_FIXTURE_PATH", FIXTURE_PATH)
    }

    /// Keeps users in Postgres at `url` instead of in memory. The URL must be
    /// reachable from the container: for a Postgres container, put both on one
    /// network (`with_network`) and use Postgres's address there.
    #[must_use]
    pub fn with_database_url(self, url: impl Into<String>) -> Self {
        self.with_env("DATABASE_URL", url)
    }

    /// Sets any of the service's environment variables (`REQUIRE_VERIFIED_EMAIL`,
    /// `WEBHOOK_SECRET`, `KRATOS_ADMIN_URL`, …).
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }
}

impl Image for IdentityLink {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn tag(&self) -> &str {
        Self::TAG
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::http(
            HttpWaitStrategy::new("/health/ready")
                .with_port(PORT)
                .with_expected_status_code(200_u16),
        )]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    fn copy_to_sources(&self) -> impl IntoIterator<Item = &CopyToContainer> {
        &self.copies
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        std::slice::from_ref(&PORT)
    }
}

/// The address of a started container's API, e.g. `http://127.0.0.1:32768`.
///
/// # Errors
/// When Docker does not tell the container's host or mapped port.
pub async fn base_url(
    container: &ContainerAsync<IdentityLink>,
) -> Result<String, TestcontainersError> {
    let host = container.get_host().await?;
    let port = container.get_host_port_ipv4(PORT).await?;
    Ok(format!("http://{host}:{port}"))
}
