//! OpenTelemetry span export over OTLP/HTTP (protobuf), set up from
//! `[telemetry]`.
//!
//! Spans are batched on the SDK's own thread; each export is an HTTP POST
//! made by the workspace's reqwest client on the process's tokio runtime
//! (no second HTTP stack, no gRPC).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use moneta_topology::telemetry::TelemetryConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tokio::runtime::Handle;

/// Why span export cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The exporter refused its settings (the endpoint, a header).
    #[error("telemetry: cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The HTTP client could not be built.
    #[error("telemetry: cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The running export: flush it with [`Otlp::shutdown`] before exiting.
pub struct Otlp {
    provider: SdkTracerProvider,
}

impl Otlp {
    /// Starts exporting as `config` says, or `None` when export is off.
    /// Exports run on `handle`'s runtime.
    pub fn start(config: &TelemetryConfig, handle: Handle) -> Result<Option<Self>, OtlpError> {
        let Some(url) = config.traces_url() else {
            return Ok(None);
        };
        let timeout = Duration::from_millis(config.otlp_timeout_ms);
        let client = TokioClient {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            handle,
        };
        let headers: HashMap<String, String> = config
            .otlp_headers
            .iter()
            .map(|(name, value)| (name.clone(), value.0.clone()))
            .collect();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(timeout)
            .with_headers(headers)
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sampling_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        Ok(Some(Self { provider }))
    }

    /// The tracer the `tracing` layer records with.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("moneta")
    }

    /// Exports what is still buffered and stops. Call it outside the
    /// runtime's tasks, while the runtime still runs (exports use it).
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "telemetry: spans may have been lost at shutdown");
        }
    }
}

/// An OTLP HTTP client: reqwest on the process's tokio runtime, callable
/// from the SDK's batch thread (which has no runtime of its own).
#[derive(Debug)]
struct TokioClient {
    client: reqwest::Client,
    handle: Handle,
}

#[async_trait]
impl HttpClient for TokioClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.handle.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(response.headers().clone());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        let answer = sent.await?;
        if let Err(error) = &answer {
            tracing::warn!(%error, "telemetry: span export failed");
        }
        answer
    }
}
