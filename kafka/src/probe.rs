//! Asks a broker which Kafka APIs it implements (an `ApiVersions` request),
//! so a processor can refuse `exactly_once` on a broker without transactions
//! before it does anything else.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Kafka API keys the runtime cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKey {
    /// `InitProducerId` (22): idempotent and transactional producers.
    InitProducerId = 22,
    /// `AddPartitionsToTxn` (24).
    AddPartitionsToTxn = 24,
    /// `AddOffsetsToTxn` (25).
    AddOffsetsToTxn = 25,
    /// `EndTxn` (26): commit or abort a transaction.
    EndTxn = 26,
    /// `TxnOffsetCommit` (28): offsets inside a transaction.
    TxnOffsetCommit = 28,
}

impl ApiKey {
    /// Every API a transactional producer needs.
    pub const TRANSACTIONS: [ApiKey; 5] = [
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
    ];

    /// The protocol name of the API.
    pub fn name(self) -> &'static str {
        match self {
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
            ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
            ApiKey::EndTxn => "EndTxn",
            ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        }
    }
}

/// Errors of the probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No bootstrap broker answered.
    #[error("no broker in {bootstrap} answered an ApiVersions request: {reason}")]
    Unreachable {
        /// The bootstrap list tried.
        bootstrap: String,
        /// The last failure.
        reason: String,
    },
    /// The broker answered something that is not an ApiVersions response.
    #[error("broker {broker} sent a malformed ApiVersions response: {reason}")]
    Malformed {
        /// The broker asked.
        broker: String,
        /// What was wrong.
        reason: String,
    },
}

/// One advertised API: `(api_key, min_version, max_version)`.
pub type ApiRange = (i16, i16, i16);

/// The APIs one broker advertised.
#[derive(Debug, Clone)]
pub struct BrokerApis {
    /// The broker that answered (`host:port`).
    pub broker: String,
    /// `(api_key, min_version, max_version)` as advertised.
    pub apis: Vec<ApiRange>,
}

impl BrokerApis {
    /// Whether the broker advertises `api`.
    pub fn supports(&self, api: ApiKey) -> bool {
        self.apis.iter().any(|(k, _, _)| *k == api as i16)
    }

    /// The transaction APIs the broker does not advertise.
    pub fn missing_transaction_apis(&self) -> Vec<ApiKey> {
        ApiKey::TRANSACTIONS
            .into_iter()
            .filter(|api| !self.supports(*api))
            .collect()
    }
}

const API_VERSIONS: i16 = 18;
const UNSUPPORTED_VERSION: i16 = 35;

/// Asks the first reachable broker of `bootstrap` for its API versions.
pub fn probe_apis(bootstrap: &str, timeout: Duration) -> Result<BrokerApis, ProbeError> {
    let mut last = String::from("empty bootstrap list");
    for broker in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        match ask(broker, timeout) {
            Ok(Ok(apis)) => {
                return Ok(BrokerApis {
                    broker: broker.to_owned(),
                    apis,
                });
            }
            Ok(Err(reason)) => {
                return Err(ProbeError::Malformed {
                    broker: broker.to_owned(),
                    reason,
                });
            }
            Err(e) => last = format!("{broker}: {e}"),
        }
    }
    Err(ProbeError::Unreachable {
        bootstrap: bootstrap.to_owned(),
        reason: last,
    })
}

/// One ApiVersions v0 round trip: the outer error is I/O, the inner a bad answer.
fn ask(broker: &str, timeout: Duration) -> std::io::Result<Result<Vec<ApiRange>, String>> {
    let addr = broker
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("address did not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let client_id = b"moneta-probe";
    let mut request = Vec::new();
    request.extend_from_slice(&API_VERSIONS.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes()); // version 0
    request.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    request.extend_from_slice(client_id);
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&request);
    stream.write_all(&frame)?;

    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(6..=1 << 20).contains(&size) {
        return Ok(Err(format!("response size {size}")));
    }
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body)?;
    Ok(parse_v0(&body))
}

/// Parses an ApiVersions v0 response body (after the size prefix).
fn parse_v0(body: &[u8]) -> Result<Vec<ApiRange>, String> {
    let mut cursor = Cursor { body, at: 0 };
    let _correlation = cursor.i32()?;
    let error = cursor.i16()?;
    if error != 0 && error != UNSUPPORTED_VERSION {
        return Err(format!("error code {error}"));
    }
    let count = cursor.i32()?;
    if count < 0 {
        return Err(format!("api count {count}"));
    }
    (0..count)
        .map(|_| Ok((cursor.i16()?, cursor.i16()?, cursor.i16()?)))
        .collect()
}

struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self
            .body
            .get(self.at..self.at + N)
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        self.at += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, String> {
        self.take::<2>().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, String> {
        self.take::<4>().map(i32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_v0_response_and_reports_missing_transaction_apis() {
        let mut body = Vec::new();
        body.extend_from_slice(&7i32.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        for (k, min, max) in [(0i16, 0i16, 9i16), (22, 0, 4)] {
            body.extend_from_slice(&k.to_be_bytes());
            body.extend_from_slice(&min.to_be_bytes());
            body.extend_from_slice(&max.to_be_bytes());
        }
        let apis = BrokerApis {
            broker: "b:1".into(),
            apis: parse_v0(&body).expect("parses"),
        };
        assert!(apis.supports(ApiKey::InitProducerId));
        assert_eq!(apis.missing_transaction_apis().len(), 4);
        assert!(apis.missing_transaction_apis().contains(&ApiKey::EndTxn));
    }

    #[test]
    fn rejects_a_truncated_response() {
        let mut body = Vec::new();
        body.extend_from_slice(&7i32.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&3i32.to_be_bytes());
        assert!(parse_v0(&body).is_err());
    }
}
