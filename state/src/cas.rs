//! Compare-and-set, retried: the one loop every writer of a contended row
//! uses (event records, contracts, settle-aggregate's state).

use std::future::Future;

use crate::store::StoreError;

/// How many times a compare-and-set write is tried before the row counts as
/// contended (a transient failure: the record is retried later).
pub const CAS_ATTEMPTS: usize = 16;

/// What one compare-and-set attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<T> {
    /// Written (or nothing to write): the result.
    Done(T),
    /// Another writer got there first: read again and retry.
    Lost,
}

/// A row stayed contended for [`CAS_ATTEMPTS`] attempts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: gave up after {CAS_ATTEMPTS} compare-and-set conflicts")]
pub struct Contended(pub String);

/// Runs `attempt` (read, decide, compare-and-set) until it is done, at most
/// [`CAS_ATTEMPTS`] times; then fails with [`Contended`] naming `row`.
pub async fn retry<T, E, F, Fut>(row: &str, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, E>>,
    E: From<Contended>,
{
    for _ in 0..CAS_ATTEMPTS {
        if let Attempt::Done(value) = attempt().await? {
            return Ok(value);
        }
    }
    Err(Contended(row.to_owned()).into())
}

/// A conditional write's result as an attempt: a conflict is a lost race.
pub fn attempt<T>(result: Result<T, StoreError>) -> Result<Attempt<T>, StoreError> {
    match result {
        Ok(value) => Ok(Attempt::Done(value)),
        Err(StoreError::Conflict { .. }) => Ok(Attempt::Lost),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Failed {
        #[error(transparent)]
        Contended(#[from] Contended),
    }

    #[tokio::test]
    async fn retries_lost_races_then_gives_up() {
        let mut tries = 0;
        let won: Result<u32, Failed> = retry("row", || {
            tries += 1;
            let t = tries;
            async move {
                Ok(if t < 3 {
                    Attempt::Lost
                } else {
                    Attempt::Done(t)
                })
            }
        })
        .await;
        assert_eq!(won.ok(), Some(3));
        let lost: Result<(), Failed> = retry("row r", || async { Ok(Attempt::Lost) }).await;
        assert_eq!(
            lost.err().map(|e| e.to_string()),
            Some(format!(
                "row r: gave up after {CAS_ATTEMPTS} compare-and-set conflicts"
            ))
        );
    }
}
