//! The processors' threads yield the cores to the edge.
//!
//! A stage's thread, its Kafka clients' threads and the decode threads run
//! at a lower priority (a higher nice value, `processing.thread_niceness`)
//! than the async threads that answer partners: when the cores are busy, an
//! HTTP request (or its refusal) waits for no batch, and the stages use
//! whatever the edge leaves. When the edge is idle they have every core.
//! Threads a lowered thread starts inherit its nice value, which covers
//! librdkafka's threads of the clients a stage creates.

/// A thread's nice value (Linux; elsewhere always 0).
pub fn niceness_of_this_thread() -> i32 {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        rustix::process::getpriority_process(Some(tid)).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Raises the calling thread's nice value to `niceness` (Linux: the nice
/// value is per thread); 0 leaves it alone. Failure is only logged: the
/// thread then keeps the process's priority.
pub fn lower_this_thread(niceness: i32) {
    if niceness <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // On Linux a thread id names the one thread (the nice value is per thread).
        let tid = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(tid), niceness) {
            tracing::warn!(
                niceness,
                %error,
                "thread keeps the process's priority"
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_thread_and_the_threads_it_starts_run_at_the_niceness() {
        let seen = std::thread::spawn(|| {
            lower_this_thread(7);
            let child = std::thread::spawn(niceness_of_this_thread)
                .join()
                .expect("child");
            (niceness_of_this_thread(), child)
        })
        .join()
        .expect("thread");
        assert_eq!(seen, (7, 7));
        assert_eq!(
            std::thread::spawn(|| {
                lower_this_thread(0);
                niceness_of_this_thread()
            })
            .join()
            .expect("thread"),
            niceness_of_this_thread()
        );
    }
}
