//! Outbound webhooks in the [Standard Webhooks](https://www.standardwebhooks.com)
//! format.
//!
//! - [`standard`]: `webhook-id` / `webhook-timestamp` / `webhook-signature`
//!   headers, `v1a` (ed25519, Moneta's key ring) and `v1` (HMAC-SHA256,
//!   per-endpoint `whsec_` secret) signatures, deterministic message ids.
//! - [`schedule`]: the retry schedule (exponential, capped, deterministic
//!   jitter) and `Retry-After` parsing.
//! - [`breaker`]: per-endpoint circuit breakers.
//! - [`ssrf`]: refuses endpoints that resolve to internal addresses.
//! - [`deliver`]: one pooled HTTP client that sends a single attempt to a
//!   vetted, pinned address and classifies the outcome.
//!
//! Secrets (HMAC secrets, signing keys) never appear in `Debug`/`Display`
//! output or error messages.

pub mod breaker;
pub mod deliver;
pub mod schedule;
pub mod ssrf;
pub mod standard;
pub mod worker;

pub use breaker::{BreakerState, Breakers, CircuitBreaker};
pub use deliver::{AttemptOutcome, AttemptResult, Deliverer, DelivererConfig, DelivererError};
pub use schedule::{RetrySchedule, ScheduleError, retry_after};
pub use ssrf::{ResolvedTarget, SsrfError, SsrfPolicy, is_forbidden};
pub use standard::{HmacSecret, HmacSecretError, WebhookMessage, headers, webhook_id};
pub use worker::{WebhookMetrics, WebhooksConfig, Worker};
