//! Which Kratos hook a webhook call comes from (the `hook` parameter of the URL
//! each hook is configured with), and the count of calls the webhook failed to
//! process, by hook.
//!
//! Kratos runs the recommended hooks in the background (`response.ignore:
//! true`): a call that fails is logged by Kratos and dropped once its HTTP
//! client stops retrying, so what it should have done waits for `reconcile`.
//! The count says which hook lost work. A refusal is an answer, not a failure.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Request};
use poem_openapi::types::{ParseFromParameter, ToJSON};
use poem_openapi::Enum;

use super::error::code_for_status;
use crate::usecases::app::App;

/// The Kratos hook a call comes from, as named in the URL's `hook` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "WebhookHook", rename_all = "kebab-case")]
pub enum Hook {
    /// Registration, before Kratos saves the identity (optional, blocking).
    RegistrationPrecheck,
    /// Registration, after Kratos saved the identity.
    Registration,
    /// Login, after the user signed in.
    Login,
    /// Verification, after an address was verified.
    Verification,
    /// Settings, before Kratos saves a profile change (optional, blocking).
    SettingsPrecheck,
    /// Settings, after Kratos saved a profile change.
    Settings,
}

/// The label of calls whose URL has no `hook` (configurations older than the parameter).
const UNSPECIFIED: &str = "unspecified";
/// The label of calls whose `hook` names no known hook (they are refused).
const INVALID: &str = "invalid";

/// The metrics label for a call with this query string.
fn hook_label(query: Option<&str>) -> String {
    let mut hooks = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "hook")
        .map(|(_, value)| value);
    let Some(value) = hooks.next() else {
        return UNSPECIFIED.to_owned();
    };
    if hooks.next().is_some() {
        return INVALID.to_owned();
    }
    Hook::parse_from_parameter(&value)
        .ok()
        .and_then(|hook| hook.to_json())
        .and_then(|name| name.as_str().map(str::to_owned))
        .unwrap_or_else(|| INVALID.to_owned())
}

/// The webhook's refusals (Kratos's messages body); every one is an answer the
/// handler produced, never an error of the request's parsing.
const REFUSALS: [StatusCode; 3] = [
    StatusCode::NOT_FOUND,
    StatusCode::CONFLICT,
    StatusCode::UNPROCESSABLE_ENTITY,
];

/// The status Kratos sees when the call failed to be processed, else `None`.
fn failure(result: &poem::Result<poem::Response>) -> Option<StatusCode> {
    match result {
        Ok(response) if response.status().is_success() => None,
        Ok(response) if REFUSALS.contains(&response.status()) => None,
        Ok(response) => Some(response.status()),
        // Errors are rewritten to the contract's statuses on their way out.
        Err(error) => Some(code_for_status(error.status()).0),
    }
}

/// Counts the calls of `ep` that fail, in `webhook_failures_total{hook, status}`.
pub fn count_failures<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    ep.around(|ep, request: Request| async move {
        let app = request.data::<Arc<App>>().cloned();
        let hook = hook_label(request.uri().query());
        let result = ep.call(request).await.map(IntoResponse::into_response);
        if let (Some(app), Some(status)) = (app, failure(&result)) {
            app.metrics
                .webhook_failures
                .with_label_values(&[hook.as_str(), status.as_str()])
                .inc();
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hook_is_labelled_by_its_name_in_the_url() {
        for (query, label) in [
            ("hook=registration-precheck", "registration-precheck"),
            ("hook=registration", "registration"),
            ("hook=login", "login"),
            ("hook=verification", "verification"),
            ("hook=settings-precheck", "settings-precheck"),
            ("other=1&hook=settings", "settings"),
        ] {
            assert_eq!(hook_label(Some(query)), label, "{query}");
        }
    }

    #[test]
    fn a_missing_hook_is_unspecified_and_an_unknown_or_repeated_one_invalid() {
        assert_eq!(hook_label(None), "unspecified");
        assert_eq!(hook_label(Some("trigger=1")), "unspecified");
        assert_eq!(hook_label(Some("hook=logout")), "invalid");
        assert_eq!(hook_label(Some("hook=")), "invalid");
        assert_eq!(hook_label(Some("hook=login&hook=settings")), "invalid");
        assert_eq!(hook_label(Some("hook=%0Alogin")), "invalid");
    }

    fn answered(status: StatusCode) -> poem::Result<poem::Response> {
        Ok(poem::Response::builder().status(status).finish())
    }

    #[test]
    fn refusals_and_acceptances_are_answers_and_everything_else_a_failure() {
        assert_eq!(failure(&answered(StatusCode::OK)), None);
        for refusal in REFUSALS {
            assert_eq!(failure(&answered(refusal)), None, "{refusal}");
        }
        for failed in [
            StatusCode::UNAUTHORIZED,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            assert_eq!(failure(&answered(failed)), Some(failed));
        }
        let unparsable = poem::Error::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(failure(&Err(unparsable)), Some(StatusCode::BAD_REQUEST));
        let not_found = poem::Error::from_status(StatusCode::NOT_FOUND);
        assert_eq!(failure(&Err(not_found)), Some(StatusCode::NOT_FOUND));
    }

    #[test]
    fn every_refusal_of_the_webhook_answers_with_a_refusal_status() {
        use crate::usecases::webhook::Refusal;
        for refusal in [
            Refusal::Duplicate,
            Refusal::TraitsMissing,
            Refusal::Inactive,
            Refusal::IdentityNotFound,
        ] {
            let status = super::super::webhook::refused(refusal, "/email")
                .into_response()
                .status();
            assert!(REFUSALS.contains(&status), "{refusal:?}: {status}");
        }
    }
}
