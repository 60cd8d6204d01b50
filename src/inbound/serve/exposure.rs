//! What `serve` says at startup about risky exposure (CONTRACT §6.2): a
//! webhook anyone can call, internal endpoints on a non-loopback address.

use crate::process::config::Settings;

/// One sentence per risk the settings take.
pub fn risks(settings: &Settings) -> Vec<String> {
    let mut risks = Vec::new();
    if settings.webhook_secret.is_none() {
        risks.push(
            "WEBHOOK_SECRET is unset: /rest/internal/kratos/webhook accepts calls from anyone \
             who can reach it; set it and configure Kratos to send it (docs/kratos.md)"
                .to_owned(),
        );
    }
    if settings.internal_listen.is_none() && !settings.listen.ip().is_loopback() {
        risks.push(format!(
            "/rest/internal/* (resolve, webhook) is served on {}, a non-loopback address, \
             without INTERNAL_LISTEN_ADDR: keep it off public networks or split the listeners \
             (docs/operations.md)",
            settings.listen
        ));
    }
    risks
}

/// Logs each risk at WARN.
pub fn warn(settings: &Settings) {
    for risk in risks(settings) {
        tracing::warn!("{risk}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(listen: &str, internal: Option<&str>, secret: bool) -> Settings {
        Settings {
            listen: listen.parse().unwrap(),
            internal_listen: internal.map(|addr| addr.parse().unwrap()),
            webhook_secret: secret.then(|| SecretString::from("s")),
            ..Settings::default()
        }
    }

    #[test]
    fn a_webhook_without_secret_is_a_risk() {
        let risks = risks(&settings("127.0.0.1:8080", None, false));
        assert_eq!(risks.len(), 1);
        assert!(risks[0].contains("WEBHOOK_SECRET is unset"), "{risks:?}");
    }

    #[test]
    fn internal_endpoints_on_a_non_loopback_address_without_a_split_are_a_risk() {
        for listen in ["0.0.0.0:8080", "10.0.0.5:8080", "[::]:8080"] {
            let risks = risks(&settings(listen, None, true));
            assert_eq!(risks.len(), 1, "{listen}");
            assert!(risks[0].contains("INTERNAL_LISTEN_ADDR"), "{risks:?}");
        }
    }

    #[test]
    fn loopback_or_split_listeners_with_a_secret_are_no_risk() {
        assert!(risks(&settings("127.0.0.1:8080", None, true)).is_empty());
        assert!(risks(&settings("[::1]:8080", None, true)).is_empty());
        assert!(risks(&settings("0.0.0.0:8080", Some("10.0.0.5:8081"), true)).is_empty());
    }
}
