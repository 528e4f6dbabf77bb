//! Pure settlement logic for Moneta: basis-point revenue splits, settlement
//! periods by event time, and reconciliation of a party's submitted records
//! against the hub's ledger, and settlements verified against the ledger.
//!
//! Money is always integer minor units (`i64`) plus an ISO 4217 currency code
//! (`String`); no floating point is used anywhere, not even in intermediate
//! computations (products are taken in `i128`). The crate does no I/O.

pub mod period;
pub mod reconcile;
pub mod split;
pub mod verify;

pub use period::{Period, PeriodLength, period_of};
pub use reconcile::{Counts, LedgerEntry, Line, LineOutcome, Record, Report, reconcile};
pub use split::{BPS_TOTAL, Shares, Split, SplitError, split};
pub use verify::{Difference, Scope, Verification, verify};
