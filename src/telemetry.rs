//! Logs and traces of `liaison serve`: logs to stderr as text or JSON (level from `RUST_LOG`), and, with
//! `--otlp-endpoint`, the `tracing` spans (publish, publish_stream, subscribe, ...) exported over OTLP/gRPC
//! to an OpenTelemetry collector as service `liaison-gateway`.
//!
//! Export is batched on a background thread and the gRPC channel connects lazily, so an unreachable
//! collector costs dropped spans and a logged export error, never a failed start or a blocked request.

use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

pub mod panics;

/// The `service.name` of exported spans.
pub const SERVICE_NAME: &str = "liaison-gateway";

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Crates whose spans and events are never exported: the exporter's own gRPC stack and OpenTelemetry's
/// internal logs, which would otherwise feed every export back into the next one.
const NOT_EXPORTED: [&str; 6] = ["h2", "hyper", "hyper_util", "tonic", "tower", "opentelemetry"];

/// Keeps the OTLP tracer provider; dropping it exports the spans still queued (bounded by a timeout) and
/// shuts the exporter down. Hold it until the gateway has stopped.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let shutdown = || self.provider.shutdown();
        // The exporter's connection is a task on the Tokio runtime: block this thread only where the
        // runtime has other threads to run it.
        let result = match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(shutdown),
            _ => shutdown(),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "trace export did not shut down cleanly");
        }
    }
}

/// Installs the global `tracing` subscriber: logs to stderr in `format`, `RUST_LOG` overriding
/// `default_level` (as [`crate::cli::init_tracing`]), and with `otlp_endpoint` (e.g.
/// `http://127.0.0.1:4317`; `https://` verifies the collector against the system's roots) span export
/// over OTLP/gRPC. Must run inside a Tokio runtime when exporting. Returns the guard of the export, if
/// any; if a global subscriber is already installed, installs nothing and returns `None`.
pub fn init(
    format: LogFormat,
    default_level: &str,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Option<TelemetryGuard>> {
    let (subscriber, guard) = subscriber(format, default_level, otlp_endpoint)?;
    match subscriber.try_init() {
        Ok(()) => Ok(guard),
        Err(_) => Ok(None),
    }
}

/// The subscriber [`init`] installs, and the export guard, without installing anything.
pub(crate) fn subscriber(
    format: LogFormat,
    default_level: &str,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<(impl Subscriber + Send + Sync + for<'span> LookupSpan<'span>, Option<TelemetryGuard>)> {
    let env_filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let provider = otlp_endpoint.map(tracer_provider).transpose()?;
    let export = provider.as_ref().map(|provider| {
        let not_exported = Targets::new()
            .with_default(LevelFilter::TRACE)
            .with_targets(NOT_EXPORTED.map(|target| (target, LevelFilter::OFF)));
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("liaison"))
            .with_filter(env_filter().and(not_exported))
    });
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(export).with(logs.with_filter(env_filter()));
    Ok((subscriber, provider.map(|provider| TelemetryGuard { provider })))
}

/// A tracer provider exporting batches of spans over OTLP/gRPC to `endpoint`. Connects lazily: an
/// unreachable collector is not an error here.
pub(crate) fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        anyhow::bail!("otlp-endpoint {endpoint}: give a URL starting with http:// or https://");
    }
    tokio::runtime::Handle::try_current().context("OTLP export needs a Tokio runtime")?;
    let mut exporter =
        opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).with_timeout(EXPORT_TIMEOUT);
    if endpoint.starts_with("https:") {
        exporter = exporter.with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
    }
    let exporter = exporter.build().with_context(|| format!("otlp-endpoint {endpoint}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use tokio::sync::mpsc;

    use super::*;

    /// Nothing listens on the discard port: start-up, spans and shutdown must all go on regardless.
    const UNREACHABLE: &str = "http://127.0.0.1:9";

    /// An OTLP/gRPC collector that passes on what it receives.
    struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let _ = self.0.send(request.into_inner());
            Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_reach_the_collector_as_the_gateway_service() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (sender, mut received) = mpsc::unbounded_channel();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(sender)))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let (subscriber, guard) = subscriber(LogFormat::Text, "info", Some(&endpoint)).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("publish", party = "cbp").in_scope(|| {
                tracing::info_span!(target: "h2", "frame").in_scope(|| {});
            });
        });
        drop(guard);

        let mut resources = Vec::new();
        let mut spans = Vec::new();
        while let Ok(request) = received.try_recv() {
            for resource_spans in request.resource_spans {
                let resource = resource_spans.resource.unwrap_or_default();
                resources.extend(resource.attributes.into_iter().map(|attribute| (attribute.key, attribute.value)));
                spans.extend(resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans));
            }
        }
        let service = resources.iter().find(|(key, _)| key == "service.name").and_then(|(_, value)| value.clone());
        assert_eq!(service.and_then(|value| value.value), Some(Value::StringValue(SERVICE_NAME.into())));
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
        assert_eq!(names, ["publish"], "the exporter's own stack (h2) is not exported");
        let party = spans[0].attributes.iter().find(|attribute| attribute.key == "party");
        assert_eq!(party.and_then(|party| party.value.clone()?.value), Some(Value::StringValue("cbp".into())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_collector_neither_fails_nor_blocks() {
        let started = Instant::now();
        let (subscriber, guard) = subscriber(LogFormat::Json, "info", Some(UNREACHABLE)).unwrap();
        let guard = guard.expect("an endpoint gives a guard");
        tracing::subscriber::with_default(subscriber, || {
            for index in 0..1_000 {
                tracing::info_span!("publish", index).in_scope(|| {});
            }
        });
        // Hang detectors, not speed checks: an exporter that blocked on the collector would take a connect
        // timeout per span (minutes for 1,000), and the guard caps its final flush at 5 s.
        assert!(started.elapsed() < Duration::from_secs(30), "recording spans blocked for {:?}", started.elapsed());
        drop(guard);
        assert!(started.elapsed() < Duration::from_secs(40), "shutting down blocked for {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn without_an_endpoint_nothing_is_exported() {
        let (_subscriber, guard) = subscriber(LogFormat::Text, "info", None).unwrap();
        assert!(guard.is_none());
    }

    #[tokio::test]
    async fn endpoints_are_http_or_https_urls() {
        tracer_provider("https://127.0.0.1:9").expect("TLS to the collector").shutdown().unwrap();
        for endpoint in ["127.0.0.1:4317", "grpc://collector:4317"] {
            let error = tracer_provider(endpoint).unwrap_err();
            assert!(error.to_string().contains("starting with http:// or https://"), "{error:#}");
        }
        let error = tracer_provider("http://not a host").unwrap_err();
        assert!(format!("{error:#}").contains("otlp-endpoint http://not a host: invalid"), "{error:#}");
    }

    #[test]
    fn export_needs_a_runtime() {
        let error = tracer_provider(UNREACHABLE).unwrap_err();
        assert!(error.to_string().contains("Tokio runtime"), "{error}");
    }
}
