//! The CQL node `moneta up --cql` owns: a Cassandra node on a thread of its
//! own (the kernel stops the node when that thread ends, so it never
//! outlives its owner), stopped when the handle is dropped.

use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{CassandraError, CassandraInstall, CassandraNode, CassandraSpec};

/// A running local node; dropping it stops the node (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct LocalCassandra {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalCassandra {
    /// Starts a node serving CQL on `listen`, its data under `dir`, and
    /// waits until it accepts clients; returns it and how long that took.
    pub fn start(
        install: CassandraInstall,
        listen: &str,
        dir: &Path,
        heap_mb: u32,
        limit: Duration,
    ) -> Result<(Self, Duration), CassandraError> {
        let storage_port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| CassandraError::io(dir, e))?;
        let spec = CassandraSpec {
            listen: listen.to_owned(),
            storage_port,
            dir: dir.to_owned(),
            heap_mb,
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cassandra".into())
            .spawn(move || {
                let mut node = CassandraNode::new(install, spec);
                let started = node.start(limit);
                let ok = started.is_ok();
                let _ = ready_tx.send(started);
                if ok {
                    // Until the handle is dropped; the node stops with `node`.
                    let _ = stop_rx.recv();
                }
            })
            .map_err(|e| CassandraError::io(dir, e))?;
        let took = ready_rx.recv().map_err(|_| {
            CassandraError::io(dir, std::io::Error::other("the Cassandra thread ended"))
        })??;
        Ok((
            Self {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            took,
        ))
    }
}

impl Drop for LocalCassandra {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
