//! W3C trace context across Kafka hops and HTTP requests.
//!
//! A span that handles a record (or a request) continues the trace context
//! the record carries ([`continue_trace`]); what it writes carries the
//! span's own context ([`trace_context`]), so one trace runs from the edge
//! through every stage to the webhook delivery. Both need the OpenTelemetry
//! layer (`[telemetry] otlp_endpoint`): without it [`continue_trace`] does
//! nothing and [`trace_context`] is `None`, and callers pass on the context
//! they were given, as before.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C `traceparent` header (and Kafka record header).
pub const TRACEPARENT: &str = "traceparent";
/// The W3C `tracestate` header (and Kafka record header).
pub const TRACESTATE: &str = "tracestate";

/// A W3C trace context: what a record or a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// `00-<trace id>-<span id>-<flags>`.
    pub traceparent: String,
    /// Vendor state, if any.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The headers to write: `traceparent`, and `tracestate` if there is one.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![(TRACEPARENT, self.traceparent.clone())];
        if let Some(state) = &self.tracestate {
            headers.push((TRACESTATE, state.clone()));
        }
        headers
    }
}

/// Makes `span` a child of the span `traceparent` names (with its
/// `tracestate`). Call it before the span is first entered. Does nothing
/// when `traceparent` is missing or not valid W3C, or when spans are not
/// exported.
pub fn continue_trace(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let mut carrier = std::collections::HashMap::new();
    carrier.insert(TRACEPARENT.to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only without the OpenTelemetry layer (nothing to parent)
        // or on a span already started (a caller's mistake, not fatal).
        let _ = span.set_parent(parent);
    }
}

/// The trace context of `span` itself, for what it writes; `None` when
/// spans are not exported (or `span` is disabled).
pub fn trace_context(span: &Span) -> Option<TraceContext> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    Some(TraceContext {
        traceparent: carrier.remove(TRACEPARENT)?,
        tracestate: carrier.remove(TRACESTATE).filter(|s| !s.is_empty()),
    })
}

/// The trace context of the current span (see [`trace_context`]).
pub fn current() -> Option<TraceContext> {
    trace_context(&Span::current())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn without_the_layer_nothing_changes() {
        let span = tracing::info_span!("process");
        continue_trace(&span, Some(INCOMING), None);
        assert_eq!(trace_context(&span), None);
    }

    #[test]
    fn a_span_continues_the_incoming_trace_and_writes_its_own_span_id() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let written = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("process");
            continue_trace(&span, Some(INCOMING), Some("moneta=1"));
            let _entered = span.enter();
            current()
        });
        let written = written.expect("a context while exporting");
        let parts: Vec<&str> = written.traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{written:?}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "same trace");
        assert_ne!(parts[2], "00f067aa0ba902b7", "its own span id");
        assert_eq!(parts[3], "01");
        assert_eq!(written.tracestate.as_deref(), Some("moneta=1"));
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let written = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("process");
            continue_trace(&span, Some("not-a-traceparent"), None);
            trace_context(&span)
        });
        let written = written.expect("a context while exporting");
        assert!(!written.traceparent.contains("4bf92f35"));
        assert_eq!(written.traceparent.len(), 55);
    }
}
