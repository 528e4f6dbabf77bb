//! The chaos run: many contracts through the whole topology, `exactly_once`
//! on real Kafka, while `moneta up` is SIGKILLed every few seconds and
//! restarted, a broker is SIGKILLed under the running pipeline and brought
//! back, and the webhook receiver fails a share of its requests.
//! Afterwards everything is checked against a reference computed from the
//! inputs (settlement totals to the minor unit), and the counts are printed.
//!
//! On the embedded default every processor runs inside `moneta up` (the
//! embedded state store belongs to one process), so killing "a processor"
//! kills all of them at once, together with the edge and the webhook worker:
//! the harshest case. Partners behave like real ones: a submission that
//! fails on the connection or with a 5xx is sent again, freshly signed, with
//! the same `Idempotency-Key`.
//!
//! - one broker (CI): SIGKILLed at the fourth kill and restarted 2 s later;
//! - three brokers (`MONETA_CHAOS_BROKERS=3`; replication factor 3,
//!   `min.insync.replicas=2`): the leader of the countersigned topic's first
//!   partition is SIGKILLed and restarted 10 s later.
//!
//! A run has at least [`MIN_KILLS`] kills; those after everything settled
//! check that a restart recognises what was already applied.
//!
//! `MONETA_CHAOS_CONTRACTS` sets the number of contracts (default 80);
//! `MONETA_CHAOS_SEED` the kill schedule's seed. The full run
//! (`load-tests/chaos.sh`): `MONETA_CHAOS_CONTRACTS=2000 MONETA_CHAOS_BROKERS=3
//! cargo test --release -p moneta-cli --test chaos -- --nocapture`.

mod support;

use support::Layout;
use support::chaos::{Brokers, run};

#[test]
fn chaos_exactly_once_on_kafka() -> anyhow::Result<()> {
    run(Brokers::start()?, Layout::Up, "").map(drop)
}
