//! The wave gate: a wave starts only while the failure rate of the finished repositories stays under `rollout.halt_failure_rate`.

use super::plan::Plan;
use super::status::Record;

/// Why a campaign stopped starting waves.
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    /// The first wave not started.
    pub wave: usize,
    pub failed: usize,
    pub finished: usize,
    pub rate: f64,
    pub threshold: f64,
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "halted before wave {}: {} of {} finished repositories failed ({:.0}% ≥ {:.0}%)",
            self.wave,
            self.failed,
            self.finished,
            self.rate * 100.0,
            self.threshold * 100.0
        )
    }
}

/// Whether `wave` may start given the records so far (the first wave always may).
pub fn gate(plan: &Plan, records: &[Record], wave: usize) -> Result<(), Halt> {
    if wave <= 1 {
        return Ok(());
    }
    let earlier = |r: &&Record| plan.repo(&r.repository).is_some_and(|p| p.wave < wave);
    let failed = records
        .iter()
        .filter(earlier)
        .filter(|r| r.state.is_failure())
        .count();
    let finished = failed
        + records
            .iter()
            .filter(earlier)
            .filter(|r| r.state.is_success())
            .count();
    if finished == 0 {
        return Ok(());
    }
    let rate = failed as f64 / finished as f64;
    if rate < plan.halt_failure_rate {
        Ok(())
    } else {
        Err(Halt {
            wave,
            failed,
            finished,
            rate,
            threshold: plan.halt_failure_rate,
        })
    }
}

/// The first wave that may not start, if any (what the dashboard shows).
pub fn halted(plan: &Plan, records: &[Record]) -> Option<Halt> {
    (2..=plan.waves()).find_map(|w| {
        // A wave that already has started work is past its gate.
        let started = records.iter().any(|r| {
            plan.repo(&r.repository).is_some_and(|p| p.wave == w)
                && r.state != super::status::State::Queued
        });
        if started {
            return None;
        }
        gate(plan, records, w).err()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::status::State;

    fn plan(n: usize) -> Plan {
        crate::campaign::plan::test_plan(n, 2)
    }

    #[test]
    fn a_wave_waits_while_failures_reach_the_threshold() {
        let p = plan(4);
        let ok = [
            Record::new("o/r0", State::PrOpen, 1),
            Record::new("o/r1", State::Merged, 1),
        ];
        assert_eq!(gate(&p, &ok, 2), Ok(()));
        assert_eq!(halted(&p, &ok), None);
        let bad = [
            Record::new("o/r0", State::PrOpen, 1),
            Record::new("o/r1", State::NeedsReview, 1),
        ];
        let halt = Halt {
            wave: 2,
            failed: 1,
            finished: 2,
            rate: 0.5,
            threshold: 0.3,
        };
        assert_eq!(gate(&p, &bad, 2), Err(halt.clone()));
        assert_eq!(halted(&p, &bad), Some(halt));
        assert_eq!(gate(&p, &bad, 1), Ok(()));
    }
}
