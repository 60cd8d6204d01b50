//! Throwaway Postgres clusters for TLS: one that accepts TLS only, with a
//! server certificate for `localhost` and `127.0.0.1` from a test CA, and one
//! that offers no TLS at all. Certificates are made with the `openssl` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::db::{postgres_bin, start_cluster_with, Cluster};

pub struct TlsClusters {
    /// TLS only (`hostnossl … reject`), listening on 127.0.0.1 and 127.0.0.2.
    pub tls: Cluster,
    /// No TLS at all.
    pub plain: Cluster,
    /// The CA that signed the TLS cluster's certificate.
    pub ca: PathBuf,
    /// A CA that signed nothing the clusters use.
    pub other_ca: PathBuf,
}

/// Runs `openssl` in `dir` with `args` (split on whitespace).
fn openssl(dir: &Path, args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(&args)
        .output()
        .expect("run openssl (installed by .ci/run)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout {name}.key -out {name}.pem -days 2 -subj /CN=identity-link-{name} \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

/// A server certificate for `localhost` and 127.0.0.1 signed by `ca`, as
/// `server.crt`/`server.key` in `data`.
fn make_server_certificate(dir: &Path, data: &Path) {
    openssl(
        dir,
        "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -keyout server.key -out server.csr -subj /CN=localhost",
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write the extensions");
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
         -out server.crt -days 2 -extfile server.ext",
    );
    for file in ["server.crt", "server.key"] {
        std::fs::copy(dir.join(file), data.join(file)).expect("copy into the data directory");
    }
    let status = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status()
        .expect("chmod the key");
    assert!(status.success());
}

/// The clusters, started once per test process.
pub fn tls_clusters() -> &'static TlsClusters {
    static CLUSTERS: OnceLock<TlsClusters> = OnceLock::new();
    CLUSTERS.get_or_init(|| {
        let bin = postgres_bin();
        let certs = std::env::temp_dir().join(format!("identity-link-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&certs).expect("a directory for the certificates");
        make_ca(&certs, "ca");
        make_ca(&certs, "other-ca");
        let tls = start_cluster_with(
            &bin,
            "-c ssl=on -c listen_addresses=127.0.0.1,127.0.0.2",
            |data| {
                make_server_certificate(&certs, data);
                std::fs::write(
                    data.join("pg_hba.conf"),
                    "local all all trust\n\
                     hostssl all all 127.0.0.0/8 trust\n\
                     hostnossl all all 127.0.0.0/8 reject\n",
                )
                .expect("write pg_hba.conf");
            },
        );
        let plain = start_cluster_with(&bin, "-c ssl=off", |_| {});
        TlsClusters {
            tls,
            plain,
            ca: certs.join("ca.pem"),
            other_ca: certs.join("other-ca.pem"),
        }
    })
}

impl TlsClusters {
    /// A URL of the TLS cluster's database `db` at `host`, with `params`.
    pub fn tls_url(&self, host: &str, db: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/{db}?{params}", self.tls.port)
    }

    pub fn plain_url(&self, db: &str, params: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?{params}",
            self.plain.port
        )
    }
}
