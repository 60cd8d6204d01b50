//! TLS to Postgres with rustls, with libpq's meaning of each `sslmode`, and
//! TLS failures named for an operator.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::dsn::{RootCert, SslMode, TlsParams};

/// The TLS connector for `params`.
///
/// # Errors
/// When the trusted CAs cannot be read.
pub fn connector(params: &TlsParams) -> anyhow::Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let name_unchecked = |chain| {
        Arc::new(NameUnchecked {
            chain,
            provider: provider.clone(),
        })
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (params.mode, &params.root_cert) {
        (SslMode::VerifyFull, root) => webpki(root.as_ref(), &provider)?,
        (SslMode::VerifyCa, root) => name_unchecked(Some(webpki(root.as_ref(), &provider)?)),
        // libpq: `require` with a root certificate behaves like `verify-ca`.
        (SslMode::Require, Some(root)) => name_unchecked(Some(webpki(Some(root), &provider)?)),
        (SslMode::Require | SslMode::Prefer | SslMode::Disable, _) => name_unchecked(None),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| anyhow::anyhow!("cannot set up TLS: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots(root: Option<&RootCert>) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root {
        Some(RootCert::File(path)) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|error| {
                    anyhow::anyhow!("sslrootcert: cannot read {}: {error}", path.display())
                })?;
            let (added, _) = store.add_parsable_certificates(certificates);
            if added == 0 {
                anyhow::bail!(
                    "sslrootcert: {} holds no usable CA certificate",
                    path.display()
                );
            }
        }
        Some(RootCert::System) | None => {
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
            if store.is_empty() {
                anyhow::bail!(
                    "sslmode verify-*: the system has no trusted CA certificates; set sslrootcert"
                );
            }
        }
    }
    Ok(store)
}

fn webpki(
    root: Option<&RootCert>,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider.clone())
        .build()
        .map_err(|error| anyhow::anyhow!("cannot set up TLS verification: {error}"))
}

/// `verify-ca` (a chain given) or `prefer`/`require` without a root
/// certificate (none: encrypted, not authenticated, as libpq does). The name
/// is never checked here (rustls checks it only after the chain); handshake
/// signatures always are.
#[derive(Debug)]
struct NameUnchecked {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NameUnchecked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS cause of a failed connection, in an operator's words, if TLS was the cause.
pub fn tls_failure(error: &tokio_postgres::Error, mode: SslMode) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        let rustls_error = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls_error) = rustls_error {
            return Some(describe(rustls_error, mode));
        }
        if current.to_string().contains("server does not support TLS") {
            return Some(format!(
                "the server does not offer TLS, and sslmode={} allows no plaintext",
                mode.as_str()
            ));
        }
        source = current.source();
    }
    None
}

fn describe(error: &rustls::Error, mode: SslMode) -> String {
    let mode = mode.as_str();
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS name mismatch: the server's certificate does not name the host connected to (sslmode={mode})"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "untrusted TLS certificate: the server's certificate is not signed by a CA in sslrootcert (sslmode={mode})"
        ),
        rustls::Error::InvalidCertificate(other) => {
            format!("the server's TLS certificate is refused: {other:?} (sslmode={mode})")
        }
        other => format!("the TLS handshake failed: {other} (sslmode={mode})"),
    }
}
