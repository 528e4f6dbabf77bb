//! The topology as production runs it, under chaos: the schema registry,
//! the admin API, the ingest edge, the webhook worker and every stage each
//! in a process of its own (`moneta run …`, `moneta admin serve`), two
//! instances each of validate and countersign sharing their consumer
//! groups, `exactly_once`, the state in CQL (Apache Cassandra from the
//! testkit). Signed contracts go through it while a stage instance is
//! SIGKILLed and restarted every few seconds (countersign's second one
//! first), so partitions move between the instances of a group: every
//! accepted contract is countersigned exactly once in the `read_committed`
//! output, every webhook delivered, settlement totals exact to the minor
//! unit (the checks of `support::chaos`).
//!
//! `MONETA_CHAOS_CONTRACTS` sets the number of contracts (default 80).

mod support;

use support::Layout;
use support::chaos::{Brokers, run};

#[test]
fn scaled_out_on_cql_every_contract_is_countersigned_once_through_kills_and_rebalances()
-> anyhow::Result<()> {
    let Some(cql) = moneta_testkit::cql::cql_or_skip("the scaled-out test") else {
        return Ok(());
    };
    let bootstrap = moneta_testkit::kafka()?;
    let keyspace = moneta_testkit::unique("moneta_scaled").replace('-', "_");
    let settings = format!(
        "[state]\nbackend = \"scylla\"\nscylla_nodes = \"{}\"\nscylla_keyspace = \"{keyspace}\"\n",
        cql
    );
    let log = run(Brokers::Shared(bootstrap), Layout::ScaledOut, &settings)?;
    // Partitions moved between the instances of a group: each kill of a
    // two-instance stage gives its partitions to the survivor, and the
    // restarted instance takes some back.
    let assignments = log.matches("partitions assigned").count();
    let started = log.matches("processor started").count();
    eprintln!("{started} stage instances started, {assignments} partition assignments");
    anyhow::ensure!(
        assignments > started,
        "no partitions moved: {assignments} assignments for {started} starts"
    );
    Ok(())
}
