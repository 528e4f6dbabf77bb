//! Admission control: past saturation the edge refuses at once instead of
//! letting requests queue and time out.
//!
//! - A global bound on submissions inside the edge (`ingest.max_in_flight`):
//!   past it, `503 overloaded` before the body is read or a signature
//!   checked, the cheapest possible refusal.
//! - A token bucket per partner (`ingest.rate_per_s`, `ingest.burst`, or the
//!   partner's own limit in the registry), spent only after authentication
//!   so nobody else's requests spend a partner's budget: past it,
//!   `429 rate_limited`. Buckets are per edge instance.
//!
//! - The pipeline's lag (`ingest.max_pipeline_lag`, see [`crate::pipeline`]):
//!   while a stage has more than that many records left to process, `503
//!   overloaded` before the body is read, so accepted contracts keep a
//!   bounded latency instead of queueing without end.
//!
//! Every submission answered after authentication carries the IETF
//! `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers-11); refusals carry `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moneta_domain::RateLimit;
use moneta_problem::Problem;
use prometheus::{IntCounterVec, Opts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::IngestConfig;
use crate::pipeline::PipelineWatch;

/// The policy's name in `RateLimit-Policy` and `RateLimit`.
const POLICY: &str = "partner";

/// Why a request was refused, as the `reason` label of the refusal counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `ingest.max_in_flight` submissions were already inside the edge.
    Overloaded,
    /// The partner's token bucket was empty.
    RateLimited,
    /// The producer's queue to the broker was full.
    QueueFull,
    /// A stage of the pipeline was over `ingest.max_pipeline_lag`.
    PipelineBehind,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Overloaded => "overloaded",
            Refusal::RateLimited => "rate_limited",
            Refusal::QueueFull => "queue_full",
            Refusal::PipelineBehind => "pipeline_behind",
        }
    }
}

/// A partner's bucket: tokens left when last looked at.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The edge's admission control.
pub struct Admission {
    in_flight: Arc<Semaphore>,
    default: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
    refused: IntCounterVec,
    pipeline: Option<PipelineWatch>,
}

/// The state of a partner's bucket after a request, for its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The limit applied.
    pub limit: RateLimit,
    /// Whole tokens left.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
    /// When refused: seconds until a request would be admitted.
    pub retry_after_s: Option<u64>,
}

impl Admission {
    /// Admission control with `config`'s bounds; the refusal counter is
    /// registered by [`Admission::register`].
    pub fn new(config: &IngestConfig) -> Result<Self, prometheus::Error> {
        let refused = IntCounterVec::new(
            Opts::new(
                "moneta_ingest_refused_total",
                "Submissions the edge refused early, by reason and partner (empty before authentication).",
            ),
            &["reason", "partner"],
        )?;
        Ok(Self {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            default: RateLimit {
                rate_per_s: config.rate_per_s,
                burst: config.burst,
            },
            buckets: Mutex::new(HashMap::new()),
            refused,
            pipeline: None,
        })
    }

    /// Registers the refusal counter in `registry`.
    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.refused.clone()))
    }

    /// Counts a refusal.
    pub fn count(&self, refusal: Refusal, partner: &str) {
        self.refused
            .with_label_values(&[refusal.label(), partner])
            .inc();
    }

    /// A place for one more submission inside the edge, held until dropped;
    /// `503 overloaded` (with `Retry-After`) at once when there is none.
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, Problem> {
        self.in_flight.clone().try_acquire_owned().map_err(|_| {
            self.count(Refusal::Overloaded, "");
            overloaded("the edge is at its bound of submissions in progress")
        })
    }

    /// Refuses new submissions while `watch` finds a stage behind.
    pub fn watch(&mut self, watch: PipelineWatch) {
        self.pipeline = Some(watch);
    }

    /// `503 overloaded` (counted) while a watched stage is behind.
    pub fn pipeline_keeps_up(&self) -> Result<(), Problem> {
        let Some(behind) = self.pipeline.as_ref().and_then(PipelineWatch::behind) else {
            return Ok(());
        };
        self.count(Refusal::PipelineBehind, "");
        Err(overloaded(&format!(
            "the pipeline is behind ({} has {} records to process)",
            behind.stage, behind.lag
        )))
    }

    /// Spends one of `partner`'s tokens (its own `limit`, else the
    /// default) at `now`; the quota says whether it was admitted.
    pub fn take(&self, partner: &str, limit: Option<RateLimit>, now: Instant) -> Quota {
        let limit = limit.unwrap_or(self.default);
        let (rate, burst) = (
            f64::from(limit.rate_per_s.max(1)),
            f64::from(limit.burst.max(1)),
        );
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(partner.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        let admitted = bucket.tokens >= 1.0;
        if admitted {
            bucket.tokens -= 1.0;
        }
        let tokens = bucket.tokens;
        drop(buckets);
        if !admitted {
            self.count(Refusal::RateLimited, partner);
        }
        Quota {
            limit,
            remaining: tokens.floor() as u64,
            reset_s: ((burst - tokens) / rate).ceil() as u64,
            retry_after_s: (!admitted).then(|| (((1.0 - tokens) / rate).ceil() as u64).max(1)),
        }
    }
}

impl Quota {
    /// Whether the request may proceed.
    pub fn admitted(&self) -> bool {
        self.retry_after_s.is_none()
    }

    /// Adds `RateLimit-Policy` and `RateLimit` (and `Retry-After` when
    /// refused) to `response`.
    pub fn apply(&self, response: &mut Response) {
        let (rate, burst) = (
            u64::from(self.limit.rate_per_s.max(1)),
            u64::from(self.limit.burst.max(1)),
        );
        // A bucket of `burst` refilled in `window` seconds: `q` per `w`.
        let window = burst.div_ceil(rate).max(1);
        let headers = response.headers_mut();
        let mut set = |name: HeaderName, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set(
            HeaderName::from_static("ratelimit-policy"),
            format!("\"{POLICY}\";q={burst};w={window}"),
        );
        set(
            HeaderName::from_static("ratelimit"),
            format!("\"{POLICY}\";r={};t={}", self.remaining, self.reset_s),
        );
        if let Some(after) = self.retry_after_s {
            set(header::RETRY_AFTER, after.to_string());
        }
    }

    /// The `429 rate_limited` answer, with its headers.
    pub fn refusal(&self) -> Response {
        let mut response = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            format!(
                "over your rate limit of {} submissions a second (bursts of {}); retry after Retry-After",
                self.limit.rate_per_s, self.limit.burst
            ),
        )
        .into_response();
        self.apply(&mut response);
        response
    }
}

/// `503 overloaded`: the edge or the pipeline behind it is saturated.
pub fn overloaded(detail: &str) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "Overloaded",
        format!("{detail}; retry after Retry-After (with the same Idempotency-Key)"),
    )
}

/// Adds `Retry-After: 1` to a 503 that has none.
pub fn retry_after_on_503(response: &mut Response) {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn admission(rate_per_s: u32, burst: u32, max_in_flight: usize) -> Admission {
        Admission::new(&IngestConfig {
            rate_per_s,
            burst,
            max_in_flight,
            ..IngestConfig::default()
        })
        .expect("admission")
    }

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let admission = admission(2, 3, 10);
        let start = Instant::now();
        for left in [2, 1, 0] {
            let quota = admission.take("p", None, start);
            assert!(quota.admitted());
            assert_eq!(quota.remaining, left);
        }
        let refused = admission.take("p", None, start);
        assert_eq!(refused.retry_after_s, Some(1));
        assert!(
            admission.take("q", None, start).admitted(),
            "another partner has a bucket of its own"
        );
        let later = start + Duration::from_millis(500);
        assert!(
            admission.take("p", None, later).admitted(),
            "2/s: one token in 0.5 s"
        );
        assert!(!admission.take("p", None, later).admitted());
        let own = RateLimit {
            rate_per_s: 100,
            burst: 100,
        };
        assert!(
            !admission.take("p", Some(own), later).admitted(),
            "a new limit does not refill the bucket"
        );
        let much_later = later + Duration::from_secs(10);
        assert_eq!(admission.take("p", Some(own), much_later).remaining, 99);
    }

    #[test]
    fn headers_follow_the_draft() {
        let admission = admission(10, 20, 10);
        let now = Instant::now();
        let mut response = Response::new(axum::body::Body::empty());
        admission.take("p", None, now).apply(&mut response);
        let header = |name: &str| response.headers()[name].to_str().expect("ascii").to_owned();
        assert_eq!(header("ratelimit-policy"), "\"partner\";q=20;w=2");
        assert_eq!(header("ratelimit"), "\"partner\";r=19;t=1");
        assert!(response.headers().get("retry-after").is_none());
    }

    #[tokio::test]
    async fn past_the_in_flight_bound_a_503_at_once() {
        let admission = admission(10, 20, 2);
        let (one, _two) = (admission.enter().expect("1"), admission.enter().expect("2"));
        let refused = admission.enter().expect_err("full");
        assert_eq!((refused.status, refused.code), (503, "overloaded"));
        drop(one);
        assert!(
            admission.enter().is_ok(),
            "a finished submission frees its place"
        );
    }
}
