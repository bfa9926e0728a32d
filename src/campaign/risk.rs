//! Risk without a model: a score with its reasons from the dependency, call sites, tests, size and activity; low risk first, in waves.

use chrono::{DateTime, Utc};

use super::plan::{DependencyKind, PlannedRepo};

/// What the score is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<'a> {
    pub dependency: DependencyKind,
    pub call_sites: &'a std::collections::BTreeMap<String, usize>,
    pub has_tests: bool,
    pub size_kb: u64,
    pub pushed_at: Option<DateTime<Utc>>,
}

/// A score (higher is riskier) and why.
pub fn score(f: &Facts<'_>, now: DateTime<Utc>) -> (u32, Vec<String>) {
    let mut score = 0u32;
    let mut reasons = Vec::new();
    let sites: usize = f.call_sites.values().sum();
    if sites > 0 {
        let named: Vec<String> = f
            .call_sites
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(api, n)| format!("{api}×{n}"))
            .collect();
        score += (sites as u32 * 10).min(40);
        reasons.push(format!("calls affected APIs ({})", named.join(", ")));
    }
    if !f.has_tests {
        score += 30;
        reasons.push("no test command".to_string());
    }
    if f.dependency == DependencyKind::Transitive {
        score += 5;
        reasons.push("transitive only (needs an override or a parent upgrade)".to_string());
    }
    let mb = f.size_kb / 1024;
    if mb >= 100 {
        score += 15;
        reasons.push(format!("large ({mb} MB)"));
    } else if mb >= 10 {
        score += 5;
        reasons.push(format!("medium size ({mb} MB)"));
    }
    if let Some(pushed) = f.pushed_at {
        let days = (now - pushed).num_days();
        if days <= 7 {
            score += 10;
            reasons.push(format!("busy (pushed {days} day(s) ago)"));
        } else if days > 365 {
            score += 10;
            reasons.push(format!("dormant (last push {days} days ago)"));
        }
    }
    if reasons.is_empty() {
        reasons.push("tested, no affected call sites".to_string());
    }
    (score, reasons)
}

/// Orders low risk first (then by name) and numbers orders and waves.
pub fn order_in_waves(repos: &mut [PlannedRepo], wave_size: usize) {
    repos.sort_by(|a, b| {
        a.risk
            .cmp(&b.risk)
            .then_with(|| a.repository.cmp(&b.repository))
    });
    let wave_size = wave_size.max(1);
    for (i, r) in repos.iter_mut().enumerate() {
        r.order = i + 1;
        r.wave = i / wave_size + 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn scores_name_their_reasons() {
        let now = Utc::now();
        let sites: BTreeMap<String, usize> = [("_.chain".to_string(), 2)].into();
        let none = BTreeMap::new();
        let risky = Facts {
            dependency: DependencyKind::Direct,
            call_sites: &sites,
            has_tests: false,
            size_kb: 200 * 1024,
            pushed_at: Some(now - chrono::Duration::days(1)),
        };
        assert_eq!(
            score(&risky, now),
            (
                20 + 30 + 15 + 10,
                vec![
                    "calls affected APIs (_.chain×2)".to_string(),
                    "no test command".to_string(),
                    "large (200 MB)".to_string(),
                    "busy (pushed 1 day(s) ago)".to_string(),
                ]
            )
        );
        let calm = Facts {
            dependency: DependencyKind::Direct,
            call_sites: &none,
            has_tests: true,
            size_kb: 10,
            pushed_at: Some(now - chrono::Duration::days(30)),
        };
        assert_eq!(
            score(&calm, now),
            (0, vec!["tested, no affected call sites".to_string()])
        );
    }
}
