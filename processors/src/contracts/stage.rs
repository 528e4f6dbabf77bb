//! The one adapter between the runtime and every Avro-reading stage: decode
//! the record through the schema registry, open the stage's span (contract,
//! event, partner), run the business logic. A stage implements
//! [`AvroStage`]; the runtime runs [`Avro`]`(stage)`.

use std::future::Future;

use moneta_avro::{Contract, ContractEvent, LedgerEntry, SchemaName};
use moneta_runtime::{Outcome, ProcessError, Processor, Record, Rejection};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::context::{PathContext, span};

/// A value a stage reads, and the span it is processed in.
pub trait Traced {
    /// The span of `stage` processing this value.
    fn span(&self, stage: &'static str) -> tracing::Span;
}

impl Traced for ContractEvent {
    fn span(&self, stage: &'static str) -> tracing::Span {
        span(stage, self)
    }
}

impl Traced for Contract {
    fn span(&self, stage: &'static str) -> tracing::Span {
        tracing::info_span!(
            "process",
            stage,
            contract_id = %self.contract_id,
            event_id = %self.event_id,
            partner = %self.partner_id,
        )
    }
}

impl Traced for LedgerEntry {
    fn span(&self, stage: &'static str) -> tracing::Span {
        tracing::info_span!(
            "process",
            stage,
            contract_id = %self.entry_id,
            event_id = "-",
            partner = %self.mo_id,
        )
    }
}

/// Business logic on one Avro value; knows nothing of offsets or commits.
pub trait AvroStage: Send + Sync + 'static {
    /// The record value it reads.
    type Value: DeserializeOwned + Traced + Send;
    /// The stage name (spans, rejections, event steps).
    const NAME: &'static str;
    /// The schema of the values it reads.
    const SCHEMA: SchemaName;

    /// Its context (codec, state, topics).
    fn context(&self) -> &PathContext;

    /// Maps one value to what it produces.
    fn handle(
        &self,
        value: Self::Value,
        record: &Record,
    ) -> impl Future<Output = Result<Outcome, ProcessError>> + Send;
}

/// Runs an [`AvroStage`] as the runtime's [`Processor`].
pub struct Avro<S>(pub S);

impl<S: AvroStage> Processor for Avro<S> {
    /// Avro decoding needs the schema registry (async), so it happens in
    /// `process`; `decode` only takes the record.
    type Input = ();

    fn decode(&self, _record: &Record) -> Result<(), Rejection> {
        Ok(())
    }

    async fn process(&mut self, _input: (), record: &Record) -> Result<Outcome, ProcessError> {
        let value: S::Value = self.0.context().decode(S::SCHEMA, record).await?;
        let span = value.span(S::NAME);
        self.0.handle(value, record).instrument(span).await
    }
}
