//! SIGKILL during writes: the embedded store never loses an acknowledged
//! write and never shows a torn one.
//!
//! The test runs its own binary again as the writer (`STATE_WRITER_DIR`
//! set): it applies events to one contract and rewrites one registry record,
//! printing each acknowledged version; the test kills it mid-stream, then
//! reopens the store and checks every acknowledged version is there.
//!
//! Through a deferred handle (`STATE_WRITER_DEFERRED` set) a write is
//! acknowledged by the next flush, every fifth pair; what survives must
//! still be a prefix of the writes: never a record rewrite without the
//! contract version written before it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use moneta_domain::Kind;
use moneta_state::{
    ContractApplied, ContractKeys, ContractWrite, EmbeddedStore, Expect, StateStore,
};

const CONTRACT: &str = "contract-under-fire";
const RECORD: &str = "org-under-fire";

fn body(version: u64) -> Vec<u8> {
    // Large enough to span pages, so a torn write would show.
    format!(
        "{{\"version\":{version},\"pad\":\"{}\"}}",
        "x".repeat(8_000)
    )
    .into_bytes()
}

/// Writes until killed; through a deferred handle when `deferred`.
async fn writer(dir: &str, deferred: bool) -> anyhow::Result<()> {
    let plain: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(std::path::Path::new(dir))?);
    let store = if deferred { plain.deferred() } else { plain };
    let mut version = store
        .get_contract(CONTRACT)
        .await?
        .map_or(0, |s| s.revision);
    let mut revision = store
        .get(Kind::Organization, RECORD)
        .await?
        .map_or(0, |s| s.revision);
    // Pair n is contract version n, then record revision n. A kill between
    // the two leaves the record one behind: finish that pair first, so the
    // counters stay tied to what the store holds (two kills in that window
    // must not drift them apart, which the prefix check would misread).
    while revision < version {
        revision = rewrite_record(store.as_ref(), revision).await?;
    }
    loop {
        let write = ContractWrite {
            contract_id: CONTRACT.into(),
            event_id: format!("event-{}", version + 1),
            expected_version: version,
            body: body(version + 1),
            keys: ContractKeys::default(),
        };
        match store.apply_contract(write).await? {
            ContractApplied::Applied { version: v } => version = v,
            other => anyhow::bail!("unexpected {other:?}"),
        }
        revision = rewrite_record(store.as_ref(), revision).await?;
        if deferred {
            if version % 5 == 0 {
                store.flush().await?;
                println!("acked {version} {revision}");
            }
        } else {
            println!("acked {version} {revision}");
        }
    }
}

/// Rewrites the record from `revision` (absent at 0) to the next; the new revision.
async fn rewrite_record(store: &dyn StateStore, revision: u64) -> anyhow::Result<u64> {
    let expect = if revision == 0 {
        Expect::Absent
    } else {
        Expect::Revision(revision)
    };
    Ok(store
        .put(Kind::Organization, RECORD, &body(revision + 1), &[], expect)
        .await?)
}

/// `acked <version> <revision>` → the pair.
fn parse_ack(line: &str) -> Option<(u64, u64)> {
    let mut parts = line
        .strip_prefix("acked ")?
        .split(' ')
        .map(str::parse::<u64>);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write_and_tears_none() -> anyhow::Result<()> {
    kill_rounds(
        "sigkill_during_writes_loses_no_acknowledged_write_and_tears_none",
        false,
    )
}

#[test]
fn sigkill_during_deferred_writes_loses_no_flushed_write_and_keeps_a_prefix() -> anyhow::Result<()>
{
    kill_rounds(
        "sigkill_during_deferred_writes_loses_no_flushed_write_and_keeps_a_prefix",
        true,
    )
}

/// Runs this test (`name`) as a writer three times, killing it each time,
/// and checks the store after every kill.
fn kill_rounds(name: &str, deferred: bool) -> anyhow::Result<()> {
    if let Ok(dir) = std::env::var("STATE_WRITER_DIR") {
        let deferred = std::env::var_os("STATE_WRITER_DEFERRED").is_some();
        return tokio::runtime::Runtime::new()?.block_on(writer(&dir, deferred));
    }
    let dir = tempfile::tempdir()?;
    let mut acked = (0u64, 0u64);
    for round in 1..=3 {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["--exact", name, "--nocapture"])
            .env("STATE_WRITER_DIR", dir.path());
        if deferred {
            command.env("STATE_WRITER_DEFERRED", "1");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < 40 * round {
            let Some(line) = lines.next() else { break };
            if let Some(pair) = parse_ack(&line?) {
                acked = pair;
                seen += 1;
            }
        }
        child.kill()?; // SIGKILL, mid-write
        child.wait()?;
        // Lines still in the pipe were acknowledged before the kill too.
        for line in lines {
            if let Some(pair) = parse_ack(&line?) {
                acked = pair;
            }
        }
        assert!(seen > 0, "round {round}: the writer acknowledged nothing");

        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path())?);
        let runtime = tokio::runtime::Runtime::new()?;
        let (contract, record) = runtime.block_on(async {
            Ok::<_, moneta_state::StoreError>((
                store.get_contract(CONTRACT).await?,
                store.get(Kind::Organization, RECORD).await?,
            ))
        })?;
        let (contract, record) = (contract.expect("contract"), record.expect("record"));
        // Nothing acknowledged is lost; without deferral, at most the
        // write in flight is added.
        let most = if deferred { u64::MAX } else { acked.0 + 1 };
        assert!(
            (acked.0..=most).contains(&contract.revision),
            "contract {} vs acked {}",
            contract.revision,
            acked.0
        );
        assert!(
            (acked.1..=most).contains(&record.revision),
            "record {} vs acked {}",
            record.revision,
            acked.1
        );
        // What survived is a prefix of the writes: record rewrite n always
        // follows contract version n and precedes version n + 1.
        assert!(
            record.revision + 1 == contract.revision || record.revision == contract.revision,
            "not a prefix: contract v{} with record r{}",
            contract.revision,
            record.revision
        );
        // Nothing is torn: the body is whole and matches its version.
        assert_eq!(contract.body, body(contract.revision));
        assert_eq!(record.body, body(record.revision));
        // Every event up to the stored version is recorded exactly once.
        for v in 1..=contract.revision {
            let replay = ContractWrite {
                contract_id: CONTRACT.into(),
                event_id: format!("event-{v}"),
                expected_version: v - 1,
                body: body(v),
                keys: ContractKeys::default(),
            };
            let outcome = runtime.block_on(store.apply_contract(replay))?;
            assert_eq!(outcome, ContractApplied::AlreadyApplied { version: v });
        }
        eprintln!(
            "round {round}: acked contract v{} record r{}; stored v{} r{}",
            acked.0, acked.1, contract.revision, record.revision
        );
    }
    Ok(())
}
