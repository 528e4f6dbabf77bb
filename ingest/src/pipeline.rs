//! Whether the pipeline behind the edge keeps up: past saturation the edge
//! refuses new submissions with `503 overloaded` instead of accepting work
//! the stages cannot process in time.
//!
//! A thread measures the consumer-group lag of each watched stage (records
//! on its inputs it has not committed past) every second, on its own
//! connection. While a stage's lag exceeds `ingest.max_pipeline_lag`, the
//! edge is behind. The lag a stage shows while it keeps up is about one
//! commit interval of traffic, so the bound is set well above that; the
//! latency it allows is roughly the bound divided by the stage's rate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moneta_kafka::{KafkaConfig, group_lag, lag_reader};
use rdkafka::consumer::BaseConsumer;

/// How often the lag is measured.
const INTERVAL: Duration = Duration::from_secs(1);
/// Longest one broker request of a measurement may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A stage the edge watches: its name and consumer group, and its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedStage {
    /// The stage's name, for the refusal's detail.
    pub name: String,
    /// Its consumer group.
    pub group_id: String,
    /// The topics it reads.
    pub inputs: Vec<String>,
}

/// A stage found behind: its name and lag, in records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    /// The stage.
    pub stage: String,
    /// Its lag summed over its input partitions.
    pub lag: i64,
}

/// The latest measurement of the watched stages; measuring stops when the
/// last handle is dropped.
#[derive(Debug)]
pub struct PipelineWatch {
    behind: Arc<Mutex<Option<Behind>>>,
    stop: Arc<AtomicBool>,
}

impl PipelineWatch {
    /// Starts measuring `stages` against `max_lag` records each.
    pub fn start(
        kafka: &KafkaConfig,
        stages: Vec<WatchedStage>,
        max_lag: i64,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        let consumers = stages
            .into_iter()
            .map(|stage| {
                let client_id = format!("moneta-ingest.lag.{}", stage.name);
                let consumer = lag_reader(kafka, &stage.group_id, &client_id)?;
                Ok((stage, consumer))
            })
            .collect::<Result<Vec<_>, rdkafka::error::KafkaError>>()?;
        let behind = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (found, flag) = (behind.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("ingest-pipeline-lag".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    let now = first_behind(&consumers, max_lag);
                    *found.lock().unwrap_or_else(|e| e.into_inner()) = now;
                    std::thread::sleep(INTERVAL);
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "the edge cannot watch the pipeline's lag");
        }
        Ok(Self { behind, stop })
    }

    /// The first watched stage over its bound at the last measurement.
    pub fn behind(&self) -> Option<Behind> {
        self.behind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for PipelineWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The first stage whose summed lag exceeds `max_lag`; a stage whose lag
/// cannot be measured (broker unreachable) counts as keeping up: the
/// producer's own bounds refuse when the broker is gone.
fn first_behind(consumers: &[(WatchedStage, BaseConsumer)], max_lag: i64) -> Option<Behind> {
    consumers.iter().find_map(|(stage, consumer)| {
        let lags = match group_lag(consumer, &stage.inputs, TIMEOUT) {
            Ok(lags) => lags,
            Err(error) => {
                tracing::debug!(stage = %stage.name, %error, "pipeline lag not measured");
                return None;
            }
        };
        let lag: i64 = lags.iter().map(|l| l.lag).sum();
        (lag > max_lag).then(|| Behind {
            stage: stage.name.clone(),
            lag,
        })
    })
}
