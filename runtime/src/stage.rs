//! Typed stages: business logic on the values of declared topics. The
//! runtime decodes each record into its topic's [`Message`], opens the span
//! (stage, contract, event, partner), runs the stage and encodes what it
//! emits; the stage never sees bytes, a codec or a registry.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use moneta_records::Message;
use tracing::{Instrument, Span};

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
    type Input: TryFrom<Message, Error: std::fmt::Display> + Send + 'static;

    /// Work on one value that reads no state this stage writes (verifying
    /// and making signatures, registry lookups): the runtime runs it for a
    /// poll's values at once, across the cores, before [`Stage::process`]
    /// sees them one after another in order. By default, none. A stage that
    /// prepares carries the result in its input (see [`Prepared`]).
    fn prepare(
        &self,
        input: Self::Input,
        _record: &Record,
    ) -> impl Future<Output = Result<Self::Input, ProcessError>> + Send {
        std::future::ready(Ok(input))
    }

    /// Maps one value, read from `record`, to what it produces.
    fn process(
        &self,
        input: Self::Input,
        record: &Record,
    ) -> impl Future<Output = Result<Emitted, ProcessError>> + Send;

    /// Reads, prepares and processes one value, as the runtime does with a
    /// record: one call for tests and tools.
    fn handle(
        &self,
        value: impl Into<Message> + Send,
        record: &Record,
    ) -> impl Future<Output = Result<Emitted, ProcessError>> + Send {
        async move {
            let input = Self::Input::try_from(value.into())
                .map_err(|e| Rejection::new("unexpected_schema", e.to_string()))?;
            let input = self.prepare(input, record).await?;
            self.process(input, record).await
        }
    }
}

/// A value and what a stage's [`Stage::prepare`] worked out from it
/// (`None` until it has).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared<T, W> {
    /// The value read.
    pub value: T,
    /// The prepared work.
    pub work: Option<W>,
}

impl<T, W> TryFrom<Message> for Prepared<T, W>
where
    T: TryFrom<Message>,
{
    type Error = T::Error;

    fn try_from(message: Message) -> Result<Self, Self::Error> {
        Ok(Self {
            value: T::try_from(message)?,
            work: None,
        })
    }
}

/// A future a boxed stage returns.
pub type StageFuture<'a> = Pin<Box<dyn Future<Output = Result<Emitted, ProcessError>> + Send + 'a>>;

/// A stage's input once prepared, its type erased.
pub type PreparedInput = Box<dyn Any + Send>;

/// The future of [`AnyStage::prepare_message`].
pub type PrepareFuture =
    Pin<Box<dyn Future<Output = Result<PreparedInput, ProcessError>> + Send + 'static>>;

/// Any [`Stage`], shared: what the stage declaration builds.
pub trait AnyStage: Send + Sync + 'static {
    /// Reads `message` as the stage's input and prepares it.
    fn prepare_message(self: Arc<Self>, message: Message, record: Arc<Record>) -> PrepareFuture;

    /// Processes an input [`AnyStage::prepare_message`] made.
    fn process_message<'a>(&'a self, input: PreparedInput, record: &'a Record) -> StageFuture<'a>;
}

impl<S: Stage> AnyStage for S {
    fn prepare_message(self: Arc<Self>, message: Message, record: Arc<Record>) -> PrepareFuture {
        Box::pin(async move {
            let input = S::Input::try_from(message)
                .map_err(|e| Rejection::new("unexpected_schema", e.to_string()))?;
            let input = self.prepare(input, &record).await?;
            Ok(Box::new(input) as PreparedInput)
        })
    }

    fn process_message<'a>(&'a self, input: PreparedInput, record: &'a Record) -> StageFuture<'a> {
        Box::pin(async move {
            let input = input.downcast::<S::Input>().map_err(|_| {
                ProcessError::Rejected(Rejection::new(
                    "unexpected_schema",
                    "the prepared input is not the stage's",
                ))
            })?;
            self.process(*input, record).await
        })
    }
}

/// A typed stage run as the runtime's [`Processor`]: decode, span, prepare
/// (in parallel across a poll's records), process, encode.
pub struct Typed {
    name: &'static str,
    stage: Arc<dyn AnyStage>,
    serdes: Arc<Serdes>,
}

impl Typed {
    /// The stage called `name`, reading and writing through `serdes`.
    pub fn new(name: &'static str, stage: Arc<dyn AnyStage>, serdes: Serdes) -> Self {
        Self {
            name,
            stage,
            serdes: Arc::new(serdes),
        }
    }
}

/// A record as a typed stage reads it: its value prepared, in its span.
pub struct Decoded {
    input: PreparedInput,
    span: Span,
}

impl Processor for Typed {
    type Input = Decoded;

    /// Avro decoding, the span and the stage's preparation run on the
    /// runtime's decode threads.
    const PARALLEL_DECODE: bool = true;

    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<Decoded, ProcessError>> + Send + 'static {
        let (name, stage, serdes) = (self.name, Arc::clone(&self.stage), Arc::clone(&self.serdes));
        let record = Arc::clone(record);
        async move {
            let message = serdes.decode(&record).await?;
            let span = span_of(name, &message, &record);
            let input = stage
                .prepare_message(message, Arc::clone(&record))
                .instrument(span.clone())
                .await?;
            Ok(Decoded { input, span })
        }
    }

    async fn process(
        &mut self,
        decoded: Decoded,
        record: &Record,
    ) -> Result<Outcome, ProcessError> {
        let Decoded { input, span } = decoded;
        let written = moneta_telemetry::trace_context(&span);
        let emitted = self
            .stage
            .process_message(input, record)
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

/// The span of one record's processing: stage, contract, event, partner,
/// continuing the trace its headers carry.
fn span_of(name: &'static str, message: &Message, record: &Record) -> Span {
    let trace = message.trace();
    let span = tracing::info_span!(
        "process",
        stage = name,
        contract_id = %trace.contract_id,
        event_id = %trace.event_id,
        partner = %trace.partner,
    );
    moneta_telemetry::continue_trace(
        &span,
        header_text(record, moneta_telemetry::TRACEPARENT),
        header_text(record, moneta_telemetry::TRACESTATE),
    );
    span
}

/// The header `name` of `record` as text, if it is.
fn header_text<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record
        .header(name)
        .and_then(|v| std::str::from_utf8(v).ok())
}
