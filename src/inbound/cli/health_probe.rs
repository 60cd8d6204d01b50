//! `identity-link health`: asks a running server whether it is ready, for
//! container health checks and exec probes in images without a shell or curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

/// The readiness endpoint (CONTRACT §3).
pub const READY_PATH: &str = "/health/ready";

/// Longer than the server's own 2 s per dependency check.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How much of a refusal's body is quoted.
const QUOTED_BODY: usize = 512;

/// The URL to ask: `url` when given (a base URL gets [`READY_PATH`]), else
/// [`READY_PATH`] on `listen`, on loopback when `listen` is every address.
///
/// # Errors
/// When `url` is not an http(s) URL with a host.
pub fn target(url: Option<&str>, listen: SocketAddr) -> anyhow::Result<Url> {
    let Some(raw) = url else {
        let host = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base = format!(
            "http://{}{READY_PATH}",
            SocketAddr::new(host, listen.port())
        );
        return Url::parse(&base).map_err(|error| anyhow::anyhow!("--listen {listen}: {error}"));
    };
    let mut url = Url::parse(raw.trim())
        .map_err(|error| anyhow::anyhow!("--url: `{raw}` is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        anyhow::bail!("--url: `{raw}` must be an http(s) URL with a host");
    }
    if url.path() == "/" {
        url.set_path(READY_PATH);
    }
    Ok(url)
}

/// Asks `url` once.
///
/// # Errors
/// Why the server is not ready: no answer in time, or a status other than 200
/// with the start of its body (the failing checks).
pub async fn probe(url: &Url) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|error| anyhow::anyhow!("cannot build the HTTP client: {error}"))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|error| anyhow::anyhow!("not ready: {url}: {}", describe(&error)))?;
    let status = response.status();
    if status == reqwest::StatusCode::OK {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let quoted: String = body.chars().take(QUOTED_BODY).collect();
    anyhow::bail!("not ready: {url} answered {status}: {quoted}")
}

/// The innermost cause, which names what went wrong (refused, timed out).
fn describe(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if error.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else {
        cause.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(raw: &str) -> SocketAddr {
        raw.parse().expect("an address")
    }

    #[test]
    fn the_default_target_is_the_listen_address_on_loopback() {
        let asked = |addr| target(None, listen(addr)).map(|url| url.to_string()).ok();
        assert_eq!(
            asked("0.0.0.0:8080").as_deref(),
            Some("http://127.0.0.1:8080/health/ready")
        );
        assert_eq!(
            asked("[::]:9000").as_deref(),
            Some("http://[::1]:9000/health/ready")
        );
        assert_eq!(
            asked("10.0.0.5:8081").as_deref(),
            Some("http://10.0.0.5:8081/health/ready")
        );
    }

    #[test]
    fn a_base_url_gets_the_readiness_path_and_a_full_one_is_kept() {
        let any = listen("127.0.0.1:1");
        let asked = |url| target(Some(url), any).map(|url| url.to_string()).ok();
        assert_eq!(
            asked("http://svc:8080").as_deref(),
            Some("http://svc:8080/health/ready")
        );
        assert_eq!(
            asked("https://svc/custom/ready").as_deref(),
            Some("https://svc/custom/ready")
        );
        assert!(asked("svc:8080").is_none());
        assert!(asked("file:///health/ready").is_none());
    }
}
