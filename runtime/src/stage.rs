//! Typed stages: business logic on the values of declared topics. The
//! runtime decodes each record into its topic's [`Message`], opens the span
//! (stage, contract, event, partner), runs the stage and encodes what it
//! emits; the stage never sees bytes, a codec or a registry.

use std::future::Future;
use std::pin::Pin;

use moneta_records::Message;
use tracing::Instrument;

use crate::processor::{Outcome, ProcessError, Processor, Record, Rejection};
use crate::serdes::{Emit, Serdes};

/// What a typed stage returns for one record: values to write and effects.
pub type Emitted = Outcome<Emit>;

/// Business logic between typed topics; knows nothing of offsets, commits
/// or encodings. Processing must be deterministic: the same input and state
/// yield the same outcome.
pub trait Stage: Send + Sync + 'static {
    /// The value it reads: a record type (another schema is rejected as
    /// `unexpected_schema`), or [`Message`] for several.
    type Input: TryFrom<Message, Error: std::fmt::Display> + Send;

    /// Maps one value, read from `record`, to what it produces.
    fn process(
        &self,
        input: Self::Input,
        record: &Record,
    ) -> impl Future<Output = Result<Emitted, ProcessError>> + Send;
}

/// A future a boxed stage returns.
pub type StageFuture<'a> = Pin<Box<dyn Future<Output = Result<Emitted, ProcessError>> + Send + 'a>>;

/// Any [`Stage`], boxed: what the stage declaration builds.
pub trait AnyStage: Send + Sync + 'static {
    /// Processes `message` read from `record`.
    fn process_message<'a>(&'a self, message: Message, record: &'a Record) -> StageFuture<'a>;
}

impl<S: Stage> AnyStage for S {
    fn process_message<'a>(&'a self, message: Message, record: &'a Record) -> StageFuture<'a> {
        Box::pin(async move {
            let input = S::Input::try_from(message)
                .map_err(|e| Rejection::new("unexpected_schema", e.to_string()))?;
            self.process(input, record).await
        })
    }
}

/// A typed stage run as the runtime's [`Processor`]: decode, span, process,
/// encode.
pub struct Typed {
    name: &'static str,
    stage: Box<dyn AnyStage>,
    serdes: Serdes,
}

impl Typed {
    /// The stage called `name`, reading and writing through `serdes`.
    pub fn new(name: &'static str, stage: Box<dyn AnyStage>, serdes: Serdes) -> Self {
        Self {
            name,
            stage,
            serdes,
        }
    }
}

impl Processor for Typed {
    /// Decoding needs the schema registry (async), so it happens in
    /// `process`.
    type Input = ();

    fn decode(&self, _record: &Record) -> Result<(), Rejection> {
        Ok(())
    }

    async fn process(&mut self, _input: (), record: &Record) -> Result<Outcome, ProcessError> {
        let message = self.serdes.decode(record).await?;
        let trace = message.trace();
        let span = tracing::info_span!(
            "process",
            stage = self.name,
            contract_id = %trace.contract_id,
            event_id = %trace.event_id,
            partner = %trace.partner,
        );
        moneta_telemetry::continue_trace(
            &span,
            header_text(record, moneta_telemetry::TRACEPARENT),
            header_text(record, moneta_telemetry::TRACESTATE),
        );
        let written = moneta_telemetry::trace_context(&span);
        let emitted = self
            .stage
            .process_message(message, record)
            .instrument(span)
            .await?;
        let mut outputs = Vec::with_capacity(emitted.outputs.len());
        for emit in &emitted.outputs {
            let mut output = self.serdes.encode(emit).await?;
            // What the span wrote carries the span's context; without
            // exported spans the runtime copies the input's.
            for (name, value) in written.iter().flat_map(|c| c.headers()) {
                output.headers.push((name.to_owned(), value.into_bytes()));
            }
            outputs.push(output);
        }
        Ok(Outcome {
            outputs,
            effects: emitted.effects,
        })
    }
}

/// The header `name` of `record` as text, if it is.
fn header_text<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record
        .header(name)
        .and_then(|v| std::str::from_utf8(v).ok())
}
