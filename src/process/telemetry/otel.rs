//! Span export over OTLP/HTTP (protobuf), configured by the standard
//! `OTEL_*` variables. Nothing here runs unless an OTLP endpoint is set.

use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The service name when `OTEL_SERVICE_NAME` is unset.
pub const DEFAULT_SERVICE_NAME: &str = "identity-link";

/// Whether spans are to be exported: an OTLP endpoint is set (and the SDK
/// is not disabled by `OTEL_SDK_DISABLED=true`).
pub fn export_configured(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|value| !value.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|value| value.trim() == "true");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The sampler named by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`
/// (the specification's names); unset: `parentbased_always_on`.
///
/// # Errors
/// An unknown sampler name or a ratio that is not a number in `0..=1`.
pub fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, String> {
    let ratio = || -> Result<f64, String> {
        match arg.map(str::trim) {
            None | Some("") => Ok(1.0),
            Some(text) => text
                .parse::<f64>()
                .ok()
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .ok_or_else(|| format!("OTEL_TRACES_SAMPLER_ARG {text:?} is not a ratio in 0..1")),
        }
    };
    let parent_based = |root: Sampler| Sampler::ParentBased(Box::new(root));
    Ok(match name.map(str::trim).unwrap_or("") {
        "" | "parentbased_always_on" => parent_based(Sampler::AlwaysOn),
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
        "parentbased_always_off" => parent_based(Sampler::AlwaysOff),
        "parentbased_traceidratio" => parent_based(Sampler::TraceIdRatioBased(ratio()?)),
        other => return Err(format!("OTEL_TRACES_SAMPLER {other:?} is not supported")),
    })
}

/// `OTEL_SERVICE_NAME`, else [`DEFAULT_SERVICE_NAME`].
pub fn service_name(value: Option<String>) -> String {
    value
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned())
}

/// A tracer provider exporting in batches to the configured endpoint. Call
/// outside an async context: the exporter's HTTP client runs on the batch
/// processor's own thread.
///
/// # Errors
/// An unsupported sampler, or an exporter that cannot be built (a bad URL).
pub fn provider(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<SdkTracerProvider> {
    let sampler = sampler(
        var("OTEL_TRACES_SAMPLER").as_deref(),
        var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service_name(var("OTEL_SERVICE_NAME")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    fn exported_with(sampler: Sampler, spans: usize) -> usize {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..spans {
            tracer.in_span("work", |_| {});
        }
        let _ = provider.force_flush();
        exporter.get_finished_spans().map_or(0, |spans| spans.len())
    }

    #[test]
    fn always_off_exports_nothing_and_always_on_everything() {
        let off = sampler(Some("always_off"), None);
        assert!(matches!(off, Ok(Sampler::AlwaysOff)));
        assert_eq!(
            exported_with(sampler(Some("always_off"), None).unwrap(), 10),
            0
        );
        assert_eq!(
            exported_with(sampler(Some("always_on"), None).unwrap(), 10),
            10
        );
    }

    #[test]
    fn traceidratio_takes_its_ratio_from_the_argument() {
        assert!(matches!(
            sampler(Some("traceidratio"), Some("0.25")),
            Ok(Sampler::TraceIdRatioBased(ratio)) if ratio == 0.25
        ));
        assert_eq!(
            exported_with(sampler(Some("traceidratio"), Some("0")).unwrap(), 20),
            0
        );
        let half = exported_with(sampler(Some("traceidratio"), Some("0.5")).unwrap(), 400);
        assert!((100..300).contains(&half), "{half} of 400 sampled at 0.5");
        assert!(matches!(
            sampler(Some("parentbased_traceidratio"), Some("0.1")),
            Ok(Sampler::ParentBased(_))
        ));
    }

    #[test]
    fn unset_sampler_follows_the_parent_and_bad_values_are_refused() {
        assert!(matches!(sampler(None, None), Ok(Sampler::ParentBased(_))));
        assert!(sampler(Some("traceidratio"), Some("half")).is_err());
        assert!(sampler(Some("traceidratio"), Some("1.5")).is_err());
        assert!(sampler(Some("sometimes"), None).is_err());
    }

    #[test]
    fn export_needs_an_endpoint_and_the_service_name_defaults() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert!(!export_configured(env(&[])));
        assert!(!export_configured(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            " "
        )])));
        assert!(export_configured(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://c:4318"
        )])));
        assert!(export_configured(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces"
        )])));
        assert!(!export_configured(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])));
        assert_eq!(service_name(None), "identity-link");
        assert_eq!(service_name(Some("billing".into())), "billing");
    }
}
