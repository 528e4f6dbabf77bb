//! Consumer-group lag, measured on its own thread and connection so the
//! processing loop never waits on it: per input partition, the high
//! watermark minus the group's committed offset.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moneta_kafka::{KafkaConfig, group_lag, lag_reader};

use crate::clients::{group_id, transactional_id};
use crate::config::ProcessingConfig;
use crate::metrics::ProcessorMetrics;
use crate::spec::ProcessorSpec;

/// How often the lag gauges are refreshed.
const INTERVAL: Duration = Duration::from_secs(5);
/// Longest one broker request of a measurement may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The lag thread of one processor instance; stops when dropped.
pub(crate) struct LagMonitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LagMonitor {
    /// Starts measuring `spec`'s group lag into `metrics`; `None` (logged)
    /// if the client or the thread cannot be created.
    pub(crate) fn start(
        kafka: &KafkaConfig,
        processing: &ProcessingConfig,
        spec: &ProcessorSpec,
        metrics: ProcessorMetrics,
    ) -> Option<Self> {
        // Never subscribes, so it never joins the group: it only reads the
        // group's committed offsets.
        let client_id = format!("{}.lag", transactional_id(processing, spec));
        let consumer = match lag_reader(kafka, &group_id(processing, spec), &client_id) {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::warn!(processor = %spec.name, %error, "no lag monitor");
                return None;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, topics) = (stop.clone(), spec.inputs.clone());
        let thread = std::thread::Builder::new()
            .name(format!("{}-{}-lag", spec.name, spec.instance))
            .spawn(move || {
                let mut next = Instant::now();
                while !flag.load(Ordering::Acquire) {
                    if Instant::now() >= next {
                        next = Instant::now() + INTERVAL;
                        match group_lag(&consumer, &topics, TIMEOUT) {
                            Ok(lags) => {
                                for l in lags {
                                    metrics.set_lag(&l.topic, l.partition, l.lag);
                                }
                            }
                            Err(error) => tracing::debug!(%error, "lag not measured"),
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        match thread {
            Ok(thread) => Some(Self {
                stop,
                thread: Some(thread),
            }),
            Err(error) => {
                tracing::warn!(processor = %spec.name, %error, "no lag monitor");
                None
            }
        }
    }
}

impl Drop for LagMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
