//! The open-loop arrival schedule: every request has an intended send time
//! fixed before the run starts, whatever the server does. Latency is
//! measured from that intended time, so a slow server cannot slow the
//! generator down and hide its own delay (no coordinated omission).
//!
//! Each contract takes two requests: the publisher signs and submits it,
//! then, `cosign_delay` later, the MO co-signs it. Publishers submit at half
//! the phase's rate, so the two streams together arrive at the phase's rate.

use std::time::Duration;

use serde::Serialize;

/// A stretch of the run at one constant arrival rate.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Name in the results, e.g. `steady` or `1000/s`.
    pub label: String,
    /// Requests per second (both parties together).
    pub rate: f64,
    /// Length, seconds.
    pub seconds: f64,
}

/// Which party sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The publisher: signs first, creates the contract.
    Publisher,
    /// The MO: co-signs; its event completes the contract.
    Mo,
}

/// One request of the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Intended send time, from the run's start.
    pub at: Duration,
    /// Index of the phase `at` falls in (the last phase for a co-sign that
    /// spills past the end).
    pub phase: usize,
    /// Contract number, from 0.
    pub contract: u64,
    /// Who sends it.
    pub role: Role,
}

/// Every arrival of `phases`, in intended-time order.
pub fn arrivals(phases: &[Phase], cosign_delay: Duration) -> Vec<Arrival> {
    let mut publishers = Vec::new();
    let mut phase_start = 0.0_f64;
    let mut contract = 0u64;
    for (index, phase) in phases.iter().enumerate() {
        let per_second = phase.rate / 2.0;
        if per_second > 0.0 {
            let count = (per_second * phase.seconds).round() as u64;
            for k in 0..count {
                let at = phase_start + k as f64 / per_second;
                publishers.push(Arrival {
                    at: Duration::from_secs_f64(at),
                    phase: index,
                    contract,
                    role: Role::Publisher,
                });
                contract += 1;
            }
        }
        phase_start += phase.seconds;
    }
    let phase_of = |at: Duration| {
        let mut end = 0.0;
        for (index, phase) in phases.iter().enumerate() {
            end += phase.seconds;
            if at.as_secs_f64() < end {
                return index;
            }
        }
        phases.len().saturating_sub(1)
    };
    let mos: Vec<Arrival> = publishers
        .iter()
        .map(|p| {
            let at = p.at + cosign_delay;
            Arrival {
                at,
                phase: phase_of(at),
                contract: p.contract,
                role: Role::Mo,
            }
        })
        .collect();
    // Merge two sorted streams.
    let mut all = Vec::with_capacity(publishers.len() * 2);
    let (mut i, mut j) = (0, 0);
    while i < publishers.len() || j < mos.len() {
        let take_publisher = match (publishers.get(i), mos.get(j)) {
            (Some(p), Some(m)) => p.at <= m.at,
            (Some(_), None) => true,
            _ => false,
        };
        if take_publisher {
            all.push(publishers[i]);
            i += 1;
        } else {
            all.push(mos[j]);
            j += 1;
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(rate: f64, seconds: f64) -> Phase {
        Phase {
            label: format!("{rate}/s"),
            rate,
            seconds,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_complete() {
        let all = arrivals(&[phase(1000.0, 2.0)], Duration::from_millis(250));
        assert_eq!(all.len(), 2000);
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at), "sorted");
        let publishers: Vec<&Arrival> = all.iter().filter(|a| a.role == Role::Publisher).collect();
        assert_eq!(publishers.len(), 1000);
        // 500 contracts per second: one every 2 ms.
        assert_eq!(
            publishers[1].at - publishers[0].at,
            Duration::from_millis(2)
        );
        assert_eq!(publishers[999].at, Duration::from_millis(1998));
    }

    #[test]
    fn every_contract_is_cosigned_after_its_delay() {
        let delay = Duration::from_millis(100);
        let all = arrivals(&[phase(200.0, 1.0), phase(400.0, 1.0)], delay);
        assert_eq!(all.len(), 600);
        for contract in 0..300u64 {
            let of: Vec<&Arrival> = all.iter().filter(|a| a.contract == contract).collect();
            assert_eq!(of.len(), 2);
            assert_eq!(of[0].role, Role::Publisher);
            assert_eq!(of[1].role, Role::Mo);
            assert_eq!(of[1].at - of[0].at, delay);
        }
    }

    #[test]
    fn arrivals_fall_in_their_phase() {
        let all = arrivals(&[phase(100.0, 1.0), phase(300.0, 1.0)], Duration::ZERO);
        let in_phase = |p: usize| all.iter().filter(|a| a.phase == p).count();
        assert_eq!(in_phase(0), 100);
        assert_eq!(in_phase(1), 300);
        // A co-sign past the end belongs to the last phase.
        let spill = arrivals(&[phase(10.0, 1.0)], Duration::from_secs(5));
        assert!(spill.iter().all(|a| a.phase == 0));
    }
}
