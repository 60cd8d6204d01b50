//! libpq's TLS parameters (`sslmode`, `sslrootcert`) in a database URL or
//! key=value string. tokio-postgres refuses `sslrootcert` and knows no
//! `verify-ca`/`verify-full`, so they are taken out here and the rest passed on.

use std::path::PathBuf;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it, unverified; plaintext otherwise (the default).
    Prefer,
    /// TLS or nothing; the certificate is verified only when `sslrootcert` is given.
    Require,
    /// TLS with a certificate chain from a trusted CA.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host (or IP address) connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(raw: &str) -> anyhow::Result<Self> {
        Ok(match raw {
            "disable" | "allow" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => anyhow::bail!(
                "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
            ),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Which CAs to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The system's roots (`sslrootcert=system`, or no `sslrootcert` under `verify-*`).
    System,
}

/// The TLS parameters of a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
}

/// Splits the TLS parameters from `raw`; returns the rest for tokio-postgres.
///
/// # Errors
/// When `sslmode` has a value libpq does not know either.
pub fn split_tls(raw: &str) -> anyhow::Result<(String, TlsParams)> {
    let (rest, pairs) = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        split_url(raw)
    } else {
        split_key_values(raw)
    };
    let mut params = TlsParams {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "sslmode" => params.mode = SslMode::parse(&value)?,
            _ if value == "system" => params.root_cert = Some(RootCert::System),
            _ => params.root_cert = Some(RootCert::File(PathBuf::from(value))),
        }
    }
    Ok((rest, params))
}

fn is_tls_key(key: &str) -> bool {
    key == "sslmode" || key == "sslrootcert"
}

/// `postgres://…?a=b&sslmode=…`: the query without the TLS parameters.
fn split_url(raw: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = raw.split_once('?') else {
        return (raw.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if is_tls_key(&key) {
            taken.push((key, percent_decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, taken)
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `host=… sslmode=…`: libpq's key=value form (values may be single-quoted
/// with backslash escapes) without the TLS parameters.
fn split_key_values(raw: &str) -> (String, Vec<(String, String)>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut taken = Vec::new();
    let mut chars = raw.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        chars.next_if(|(_, c)| *c == '=');
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            while let Some((_, c)) = chars.next() {
                match c {
                    '\'' => break,
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    c => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(raw.len(), |&(end, _)| end);
        if is_tls_key(&key) {
            taken.push((key, value));
        } else {
            kept.push(raw[start..end].trim());
        }
    }
    (kept.join(" "), taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_its_other_parameters_and_loses_the_tls_ones() {
        let (rest, params) = split_tls(
            "postgres://app:pw@db.internal:6432/app?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://app:pw@db.internal:6432/app?application_name=x&connect_timeout=3"
        );
        assert_eq!(params.mode, SslMode::VerifyFull);
        assert_eq!(
            params.root_cert,
            Some(RootCert::File(PathBuf::from("/etc/ca.pem")))
        );
    }

    #[test]
    fn without_tls_parameters_the_mode_is_prefer_and_the_url_unchanged() {
        let (rest, params) = split_tls("postgresql://localhost/app").unwrap();
        assert_eq!(rest, "postgresql://localhost/app");
        assert_eq!(params.mode, SslMode::Prefer);
        assert_eq!(params.root_cert, None);
        let (rest, _) = split_tls("postgres://localhost/app?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://localhost/app");
    }

    #[test]
    fn key_value_strings_lose_the_tls_parameters_quoted_or_not() {
        let (rest, params) = split_tls(
            "host=db port=5432 sslmode = verify-ca sslrootcert='/a dir/ca.pem' password='p w' user=app",
        )
        .unwrap();
        assert_eq!(rest, "host=db port=5432 password='p w' user=app");
        assert_eq!(params.mode, SslMode::VerifyCa);
        assert_eq!(
            params.root_cert,
            Some(RootCert::File(PathBuf::from("/a dir/ca.pem")))
        );
    }

    #[test]
    fn system_roots_and_unknown_modes() {
        let (_, params) =
            split_tls("postgres://db/app?sslmode=verify-full&sslrootcert=system").unwrap();
        assert_eq!(params.root_cert, Some(RootCert::System));
        let error = split_tls("postgres://db/app?sslmode=strict").unwrap_err();
        assert!(error.to_string().contains("sslmode `strict`"), "{error}");
    }
}
