//! What the running process knows beyond the store, for the console: the
//! stage declaration and the process's own metrics (consumer lag,
//! throughput, dead letters, webhook circuits). Empty when the admin API
//! runs alone (`moneta admin serve`).

use std::sync::{Arc, Mutex};

use prometheus::proto::MetricType;

use super::topology::Reading;

/// One stage as the topology declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSummary {
    /// Its name (the processor label of its metrics).
    pub name: String,
    /// What it does.
    pub description: String,
    /// Topics it reads.
    pub reads: Vec<String>,
    /// Topics it writes.
    pub writes: Vec<String>,
    /// Its dead-letter topic.
    pub dead_letters: String,
}

/// The process's live view.
#[derive(Clone, Default)]
pub struct Live {
    /// The stages of the topology, in declaration order.
    pub stages: Vec<StageSummary>,
    /// The process's metrics registry.
    pub metrics: Option<prometheus::Registry>,
    /// The counters at the topology page's previous view, for rates.
    pub(crate) reading: Arc<Mutex<Reading>>,
}

impl Live {
    /// The view of a process running `stages`, with its `metrics`.
    pub fn new(stages: Vec<StageSummary>, metrics: prometheus::Registry) -> Self {
        Self {
            stages,
            metrics: Some(metrics),
            reading: Arc::default(),
        }
    }

    /// The process's metrics as they are now, gathered once for a page.
    pub fn gather(&self) -> Gathered {
        Gathered(
            self.metrics
                .as_ref()
                .map(prometheus::Registry::gather)
                .unwrap_or_default(),
        )
    }

    /// The stages of a topology declared but not run in this process.
    pub fn declared(stages: Vec<StageSummary>) -> Self {
        Self {
            stages,
            ..Self::default()
        }
    }

    /// The dead-letter topic of stage `name`.
    pub fn dead_letter_topic(&self, name: &str) -> Option<String> {
        self.stages
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.dead_letters.clone())
    }
}

/// One gathering of the process's metrics.
pub struct Gathered(Vec<prometheus::proto::MetricFamily>);

impl Gathered {
    /// The sum of metric `name` over the samples whose `label` is `value`.
    pub fn sum(&self, name: &str, label: &str, value: &str) -> Option<f64> {
        let matching: Vec<f64> = self
            .0
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| {
                let counter = family.get_field_type() == MetricType::COUNTER;
                family
                    .get_metric()
                    .iter()
                    .filter(|metric| {
                        metric
                            .get_label()
                            .iter()
                            .any(|l| l.name() == label && l.value() == value)
                    })
                    .map(move |metric| {
                        if counter {
                            metric.get_counter().get_value()
                        } else {
                            metric.get_gauge().get_value()
                        }
                    })
            })
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }

    /// An endpoint's circuit (`closed`, `half_open`, `open`), if this
    /// process delivers webhooks.
    pub fn circuit(&self, endpoint_id: &str) -> Option<&'static str> {
        self.sum("moneta_webhook_circuit_state", "endpoint", endpoint_id)
            .map(|state| match state as i64 {
                0 => "closed",
                1 => "half_open",
                _ => "open",
            })
    }
}
