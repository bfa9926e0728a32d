//! The wave gate: a wave starts only while the failure rate of the finished repositories stays under `rollout.halt_failure_rate`.

use super::control::Control;
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

/// Whether `wave` may start given the records so far (the first wave
/// always may, and so does a wave `/deckhand resume` lifted). Failures are
/// counted from the last resumed wave on.
pub fn gate(plan: &Plan, records: &[Record], control: &Control, wave: usize) -> Result<(), Halt> {
    let from = control.counted_from(wave);
    if wave <= 1 || from == wave {
        return Ok(());
    }
    let earlier = |r: &&Record| {
        plan.repo(&r.repository)
            .is_some_and(|p| p.wave < wave && p.wave >= from)
    };
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

/// What a job of `wave` that waits for its turn finds.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Open,
    Halted(Halt),
    /// Repositories of an earlier wave (the first with any) still queued or running.
    Waiting {
        wave: usize,
        pending: usize,
    },
}

/// Strict wave order: `wave` is decided only once every earlier wave is
/// (each of its repositories past queued and running), each earlier wave's
/// own gate having opened.
pub fn decide(plan: &Plan, records: &[Record], control: &Control, wave: usize) -> Decision {
    use super::status::State;
    for w in 1..=wave {
        if w > 1 {
            if let Err(h) = gate(plan, records, control, w) {
                return Decision::Halted(h);
            }
        }
        if w == wave {
            break;
        }
        let pending = plan
            .repositories
            .iter()
            .filter(|p| p.wave == w)
            .filter(|p| {
                records
                    .iter()
                    .find(|r| r.repository == p.repository)
                    .is_none_or(|r| matches!(r.state, State::Queued | State::Running))
            })
            .count();
        if pending > 0 {
            return Decision::Waiting { wave: w, pending };
        }
    }
    Decision::Open
}

/// The first wave that may not start, if any (what the dashboard shows).
pub fn halted(plan: &Plan, records: &[Record], control: &Control) -> Option<Halt> {
    (2..=plan.waves()).find_map(|w| {
        // A wave that already has started work is past its gate.
        let started = records.iter().any(|r| {
            plan.repo(&r.repository).is_some_and(|p| p.wave == w)
                && r.state != super::status::State::Queued
        });
        if started {
            return None;
        }
        gate(plan, records, control, w).err()
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
        let p = plan(6);
        let none = Control::default();
        let ok = [
            Record::new("o/r0", State::PrOpen, 1),
            Record::new("o/r1", State::Merged, 1),
        ];
        assert_eq!(gate(&p, &ok, &none, 2), Ok(()));
        assert_eq!(halted(&p, &ok, &none), None);
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
        assert_eq!(gate(&p, &bad, &none, 2), Err(halt.clone()));
        assert_eq!(halted(&p, &bad, &none), Some(halt));
        assert_eq!(gate(&p, &bad, &none, 1), Ok(()));
        // Resumed at wave 2: it starts, and wave 3 counts from wave 2 on.
        let resumed = Control {
            resumed: vec![2],
            ..Control::default()
        };
        assert_eq!(gate(&p, &bad, &resumed, 2), Ok(()));
        assert_eq!(halted(&p, &bad, &resumed), None);
        let mut later = bad.to_vec();
        later.push(Record::new("o/r2", State::PrOpen, 2));
        assert_eq!(gate(&p, &later, &resumed, 3), Ok(()));
        later.push(Record::new("o/r3", State::Failed, 2));
        assert_eq!(
            gate(&p, &later, &resumed, 3),
            Err(Halt {
                wave: 3,
                failed: 1,
                finished: 2,
                rate: 0.5,
                threshold: 0.3
            })
        );
    }
}
