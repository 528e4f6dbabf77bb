//! Which processor instance to run: what its clients, its lag monitor and
//! its driver are named after.

/// Which processor instance to run, on which topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorSpec {
    /// Processor name: names its consumer group and transactional id.
    pub name: String,
    /// Topics it consumes.
    pub inputs: Vec<String>,
    /// Topic its rejected records go to.
    pub dead_letter_topic: String,
    /// Instance number, stable across restarts of the same instance.
    pub instance: u32,
}
