//! The test harness: `spawn_app()` starts the service on a free port with a
//! database of its own and a wiremock Kratos, and returns a `TestApp` with
//! request helpers.

pub mod binary;
pub mod browser;
pub mod db;
pub mod kratos;
pub mod pgbouncer;
pub mod proxy;
pub mod pty;
pub mod tls_postgres;

use std::sync::{Arc, Once};
use std::time::Duration;

use identity_link::inbound::rest::Exposure;
use identity_link::inbound::serve;
use identity_link::process::config::{IdentitySource, Settings};
use identity_link::process::wiring;
use identity_link::usecases::app::App;
use identity_link::usecases::link::LinkPolicy;
use identity_link::usecases::metrics::Metrics;
use identity_link_ports::{AuthId, Email, NewUser, Profile, User, UserId};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;
use wiremock::MockServer;

pub use db::TestDb;

static TRACING: Once = Once::new();

/// Logs are quiet unless `TEST_LOG` is set.
pub fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = identity_link::process::telemetry::init(Some(
                identity_link::process::config::LogFormat::Pretty,
            ));
        }
    });
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub app: Arc<App>,
    /// The settings the app was built from.
    pub settings: Settings,
    pub kratos: Arc<MockServer>,
    pub database_url: String,
    /// Stops the server when the app is dropped.
    stop: Option<oneshot::Sender<()>>,
    _db: Option<Arc<TestDb>>,
}

/// What a test may change about the app it spawns.
#[derive(Clone)]
pub struct Options {
    pub database_url: Option<String>,
    /// `DATABASE_DIRECT_URL`; `None`: the database URL.
    pub database_direct_url: Option<String>,
    pub kratos: Option<Arc<MockServer>>,
    pub kratos_timeout: Duration,
    pub kratos_retries: usize,
    pub policy: LinkPolicy,
    pub tweak: fn(&mut Settings),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database_url: None,
            database_direct_url: None,
            kratos: None,
            kratos_timeout: Duration::from_millis(500),
            kratos_retries: 2,
            policy: LinkPolicy::default(),
            tweak: |_| {},
        }
    }
}

/// Settings for a test app against `database_url` and `kratos`.
pub fn settings(options: &Options, database_url: &str, kratos: &MockServer) -> Settings {
    let kratos_url = url::Url::parse(&kratos.uri()).expect("wiremock URI");
    let mut settings = Settings {
        database_url: Some(database_url.into()),
        database_direct_url: options.database_direct_url.as_deref().map(Into::into),
        database_pool_size: 8,
        identities: IdentitySource::Kratos {
            admin_url: kratos_url.clone(),
            token: None,
        },
        kratos_public_url: Some(kratos_url),
        kratos_timeout: options.kratos_timeout,
        kratos_retries: options.kratos_retries,
        listen: "127.0.0.1:0".parse().expect("address"),
        policy: options.policy.clone(),
        ..Settings::default()
    };
    (options.tweak)(&mut settings);
    settings
}

/// A fresh app with a fresh migrated database and Kratos.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    init_tracing();
    let (db, database_url) = match &options.database_url {
        Some(url) => (None, url.clone()),
        None => {
            let db = TestDb::migrated().await;
            let url = db.url.clone();
            (Some(Arc::new(db)), url)
        }
    };
    let kratos = match &options.kratos {
        Some(kratos) => kratos.clone(),
        None => Arc::new(MockServer::start().await),
    };
    let settings = settings(&options, &database_url, &kratos);
    let app = wiring::build(&settings, Metrics::new())
        .await
        .expect("build the app");
    let bound = serve::bind(settings.listen, Exposure::All)
        .await
        .expect("bind a free port");
    let address = format!("http://{}", bound.addr);
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(serve::run(
        app.clone(),
        settings.clone(),
        vec![bound],
        async move {
            let _ = stopped.await;
        },
    ));
    TestApp {
        address,
        http: reqwest::Client::new(),
        app,
        settings,
        kratos,
        database_url,
        stop: Some(stop),
        _db: db,
    }
}

/// An app whose database connections go through a [`proxy::Proxy`] that the
/// test can take down and bring back. The app owns the database.
pub async fn spawn_app_behind_proxy() -> (TestApp, proxy::Proxy) {
    use std::net::ToSocketAddrs;

    let db = TestDb::migrated().await;
    let url = url::Url::parse(&db.url).expect("database URL");
    let target = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    )
    .to_socket_addrs()
    .expect("resolve the database host")
    .next()
    .expect("a database address");
    let proxy = proxy::Proxy::start(target).await;
    let mut proxied = url.clone();
    proxied.set_host(Some("127.0.0.1")).expect("host");
    proxied.set_port(Some(proxy.addr.port())).expect("port");
    let mut app = spawn_app_with(Options {
        database_url: Some(proxied.to_string()),
        ..Options::default()
    })
    .await;
    app._db = Some(Arc::new(db));
    (app, proxy)
}

impl TestApp {
    pub async fn post_resolve(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/rest/internal/identity/resolve", self.address))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn resolve(&self, id: Uuid) -> reqwest::Response {
        self.post_resolve(&json!({ "kratosIdentityId": id })).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    /// Another app instance on the same database and Kratos.
    pub async fn sibling(&self) -> TestApp {
        spawn_app_with(Options {
            database_url: Some(self.database_url.clone()),
            kratos: Some(self.kratos.clone()),
            ..Options::default()
        })
        .await
    }

    /// A client on this app's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db()
            .await
            .query_one(sql, &[])
            .await
            .expect("count query")
            .get(0)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads a JSON body, with the body in the panic message when it is not JSON.
pub async fn json_body(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A user stored directly, linked when `auth_id` is given.
pub async fn seed_user(app: &TestApp, email: &str, auth_id: Option<Uuid>) -> User {
    app.app
        .users
        .create_linked(NewUser {
            id: UserId::generate(),
            profile: Profile {
                email: Email::new(email).expect("email"),
                first_name: Some("Grace".into()),
                last_name: Some("Hopper".into()),
                avatar_url: None,
            },
            auth_id: auth_id.map(AuthId::new),
        })
        .await
        .expect("seed a user")
}

/// The stored link of a user, read straight from Postgres.
pub async fn stored_link(app: &TestApp, user: UserId) -> Option<Uuid> {
    app.db()
        .await
        .query_one(
            "SELECT auth_id FROM users WHERE id = $1",
            &[&user.as_uuid()],
        )
        .await
        .expect("the user row")
        .get(0)
}
