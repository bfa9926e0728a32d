//! The dashboard: a campaign's records rendered as Markdown (a table, a Mermaid burndown of merged PRs, command checkboxes), and the ticks read back from it.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::control::Control;
use super::plan::Plan;
use super::status::{Record, State};
use super::waves::Halt;

/// A command a tick asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Command {
    Retry,
    Skip,
    Reapply,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Retry => "retry",
            Command::Skip => "skip",
            Command::Reapply => "reapply",
        }
    }

    fn parse(s: &str) -> Option<Command> {
        [Command::Retry, Command::Skip, Command::Reapply]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    fn label(self, repo: &str) -> String {
        match self {
            Command::Retry => format!("retry `{repo}`"),
            Command::Skip => format!("skip `{repo}`"),
            Command::Reapply => format!("re-apply the latest feedback to `{repo}`"),
        }
    }
}

/// Ticked commands, by repository.
pub type Ticks = BTreeSet<(Command, String)>;

/// The marker that makes an issue a campaign's dashboard.
pub fn marker(campaign: &str) -> String {
    format!("<!-- deckhand:campaign id={campaign} -->")
}

/// The ticked commands of a dashboard body.
pub fn ticks(body: &str) -> Ticks {
    let Ok(re) = Regex::new(r"(?m)^\s*[-*] \[[xX]\] .*<!-- deckhand:cmd (\w+) (\S+) -->\s*$")
    else {
        return Ticks::new();
    };
    re.captures_iter(body)
        .filter_map(|c| Some((Command::parse(&c[1])?, c[2].to_string())))
        .collect()
}

/// What the ticks did to one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Acted {
    pub record: Record,
    /// The commands that now need work beyond the record: a retry (the
    /// campaign workflow dispatched again) or a re-apply (the latest
    /// feedback's rules dispatched to the record's pull request).
    pub fired: Vec<Command>,
}

/// Applies ticks to the records: a tick acts once (remembered in
/// `applied`), an untick lets it act again later. Returns the records that
/// changed, with what they still ask for.
pub fn apply(plan: &Plan, records: &[Record], ticks: &Ticks, control: &Control) -> Vec<Acted> {
    let mut by_repo: BTreeMap<&str, Acted> = records
        .iter()
        .map(|r| {
            let acted = Acted {
                record: r.clone(),
                fired: Vec::new(),
            };
            (r.repository.as_str(), acted)
        })
        .collect();
    let mut changed = BTreeSet::new();
    for planned in &plan.repositories {
        let name = planned.repository.as_str();
        let acted = by_repo.entry(name).or_insert_with(|| Acted {
            record: Record::new(name, State::Queued, planned.wave),
            fired: Vec::new(),
        });
        let record = &mut acted.record;
        let mut notes = Vec::new();
        for cmd in [Command::Retry, Command::Skip, Command::Reapply] {
            let key = cmd.as_str().to_string();
            let ticked = ticks.contains(&(cmd, name.to_string()));
            let done = record.applied.contains(&key);
            if ticked && !done {
                record.applied.push(key);
                let note = match cmd {
                    Command::Retry => {
                        record.state = State::Queued;
                        acted.fired.push(cmd);
                        "retry requested on the dashboard".to_string()
                    }
                    Command::Skip => {
                        record.state = State::Skipped;
                        "skipped on the dashboard".to_string()
                    }
                    Command::Reapply => match (control.latest_feedback(), record.pr_number) {
                        (None, _) => {
                            "nothing to re-apply: no feedback was shared in this campaign yet"
                                .to_string()
                        }
                        (Some(f), Some(_)) if record.state.has_open_pr() => {
                            acted.fired.push(cmd);
                            format!(
                                "re-applying the latest feedback: {} from {}",
                                code_list(&f.rules),
                                f.source
                            )
                        }
                        (Some(_), _) => "nothing to re-apply: no open pull request".to_string(),
                    },
                };
                notes.push(note);
                record.updated_at = chrono::Utc::now();
                changed.insert(name);
            } else if !ticked && done {
                record.applied.retain(|k| *k != key);
                changed.insert(name);
            }
        }
        if !notes.is_empty() {
            record.note = Some(notes.join("; "));
        }
    }
    by_repo
        .into_iter()
        .filter(|(name, _)| changed.contains(name))
        .map(|(_, a)| a)
        .collect()
}

/// `` `a`, `b` ``.
fn code_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dashboard's Markdown.
pub fn render(
    plan: &Plan,
    records: &[Record],
    ticks: &Ticks,
    halt: Option<&Halt>,
    control: &Control,
) -> String {
    let by_repo: BTreeMap<&str, &Record> =
        records.iter().map(|r| (r.repository.as_str(), r)).collect();
    let state_of = |name: &str| by_repo.get(name).map_or(State::Queued, |r| r.state);
    let count = |s: State| {
        plan.repositories
            .iter()
            .filter(|p| state_of(&p.repository) == s)
            .count()
    };
    let mut out = String::new();
    out.push_str(&marker(&plan.campaign_id));
    out.push_str(&format!("\n# Campaign `{}`\n\n", plan.campaign_id));
    for line in plan.task.lines() {
        out.push_str(&format!("> {line}\n"));
    }
    let tokens: u64 = records.iter().map(|r| r.tokens).sum();
    let cost: f64 = records.iter().map(|r| r.cost_usd).sum();
    out.push_str(&format!(
        "\n**{} repositories** · {} merged · {} PR open · {} failing checks · {} need review · {} running · {} queued · {} tokens · ${cost:.2}\n\n",
        plan.repositories.len(),
        count(State::Merged),
        count(State::PrOpen),
        count(State::ChecksFailing),
        count(State::NeedsReview),
        count(State::Running),
        count(State::Queued),
        tokens,
    ));
    match (&control.cancelled, halt) {
        (Some(c), _) => out.push_str(&format!(
            "**🛑 Cancelled** by @{} at {} — queued repositories will not start and running jobs were cancelled.\n\n",
            c.by,
            c.at.format("%Y-%m-%d %H:%M UTC")
        )),
        (None, Some(h)) => out.push_str(&format!(
            "**⛔ Halted** — {h}. Comment `/deckhand resume` to start the next wave anyway, tick *retry* on the failed repositories, or raise `rollout.halt_failure_rate`.\n\n"
        )),
        (None, None) => out.push_str(&format!(
            "**Rolling out** in waves of {} (halts at a failure rate of {:.0}%){}.\n\n",
            plan.wave_size,
            plan.halt_failure_rate * 100.0,
            match control.resumed.as_slice() {
                [] => String::new(),
                waves => format!(
                    "; resumed at wave {}",
                    waves
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        )),
    }
    out.push_str("| # | repository | wave | risk | dependency | status | PR | tests before → after | tokens | cost |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for p in &plan.repositories {
        let r = by_repo.get(p.repository.as_str());
        let state = state_of(&p.repository);
        let pr = r
            .and_then(|r| match (&r.pr_url, r.pr_number) {
                (Some(url), Some(n)) => Some(format!("[#{n}]({url})")),
                (Some(url), None) => Some(format!("[PR]({url})")),
                _ => r.branch.as_ref().map(|b| format!("`{b}`")),
            })
            .unwrap_or_default();
        let tests = |t: Option<bool>| match t {
            Some(true) => "✅",
            Some(false) => "❌",
            None => "–",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} {} | {} {} | {} | {} → {} | {} | {} |\n",
            p.order,
            cell(&p.repository),
            p.wave,
            p.risk,
            p.dependency.as_str(),
            p.version.as_deref().map(cell).unwrap_or_default(),
            state.emoji(),
            state.as_str(),
            pr,
            tests(r.and_then(|r| r.tests_before)),
            tests(r.and_then(|r| r.tests_after)),
            r.map_or(0, |r| r.tokens),
            r.map_or(String::new(), |r| format!("${:.2}", r.cost_usd)),
        ));
    }
    let updated: Vec<(&str, &Record)> = plan
        .repositories
        .iter()
        .filter_map(|p| {
            by_repo
                .get(p.repository.as_str())
                .map(|r| (p.repository.as_str(), *r))
        })
        .filter(|(_, r)| !r.rules.is_empty())
        .collect();
    if !updated.is_empty() {
        out.push_str("\n### Updated from sibling feedback\n\nTeam rules learned on one pull request and applied to the others:\n\n");
        for (repo, r) in updated {
            out.push_str(&format!("- {}: {}\n", cell(repo), code_list(&r.rules)));
        }
    }
    if let Some(f) = control.latest_feedback() {
        out.push_str(&format!(
            "\nLatest feedback: {} from {} ({}); tick *re-apply* to send it to a pull request again.\n",
            code_list(&f.rules),
            f.source,
            f.at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    let notes: Vec<(&str, &str)> = plan
        .repositories
        .iter()
        .filter_map(|p| {
            let r = by_repo.get(p.repository.as_str())?;
            Some((p.repository.as_str(), r.note.as_deref()?))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\n### Notes\n\n");
        for (repo, note) in notes {
            out.push_str(&format!("- {}: {}\n", cell(repo), cell(note)));
        }
    }
    out.push_str("\n### Merged over time\n\n");
    out.push_str(&burndown(plan.repositories.len(), records));
    out.push_str(
        "\n### Commands\n\nTick a box: the next render acts on it once and keeps the tick.\n\n",
    );
    for p in &plan.repositories {
        if matches!(state_of(&p.repository), State::Merged) {
            continue;
        }
        for cmd in [Command::Retry, Command::Skip, Command::Reapply] {
            let ticked = ticks.contains(&(cmd, p.repository.clone()));
            out.push_str(&format!(
                "- [{}] {} <!-- deckhand:cmd {} {} -->\n",
                if ticked { "x" } else { " " },
                cmd.label(&p.repository),
                cmd.as_str(),
                p.repository
            ));
        }
    }
    out
}

/// A Mermaid chart of the PRs still to merge, per day a PR merged.
pub fn burndown(total: usize, records: &[Record]) -> String {
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        if let (State::Merged, Some(at)) = (r.state, r.merged_at) {
            *per_day
                .entry(at.format("%Y-%m-%d").to_string())
                .or_default() += 1;
        }
    }
    let mut labels = vec!["\"start\"".to_string()];
    let mut left = vec![total];
    let mut remaining = total;
    for (day, n) in &per_day {
        remaining = remaining.saturating_sub(*n);
        labels.push(format!("\"{day}\""));
        left.push(remaining);
    }
    let values: Vec<String> = left.iter().map(usize::to_string).collect();
    format!(
        "```mermaid\nxychart-beta\n  title \"Pull requests left to merge\"\n  x-axis [{}]\n  y-axis \"left\" 0 --> {}\n  line [{}]\n```\n",
        labels.join(", "),
        total.max(1),
        values.join(", ")
    )
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::plan::{DependencyKind, PlannedRepo};

    fn plan() -> Plan {
        Plan {
            campaign_id: "cp-1".into(),
            task: "Upgrade lodash".into(),
            target: "org:o".into(),
            matches: vec![],
            apis: vec![],
            created_at: chrono::Utc::now(),
            api_calls: 0,
            wave_size: 5,
            halt_failure_rate: 0.3,
            per_hour: None,
            dispatch: Default::default(),
            repositories: ["o/a", "o/b"]
                .iter()
                .enumerate()
                .map(|(i, n)| PlannedRepo {
                    repository: n.to_string(),
                    path: None,
                    dependency: DependencyKind::Direct,
                    version: Some("4.17.21".into()),
                    call_sites: Default::default(),
                    test_command: None,
                    size_kb: 0,
                    pushed_at: None,
                    risk: 0,
                    reasons: vec![],
                    order: i + 1,
                    wave: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn ticks_survive_a_render_and_act_once() {
        let plan = plan();
        let body = render(&plan, &[], &Ticks::new(), None, &Control::default());
        assert!(ticks(&body).is_empty());
        let ticked = body.replace(
            "- [ ] skip `o/b` <!-- deckhand:cmd skip o/b -->",
            "- [x] skip `o/b` <!-- deckhand:cmd skip o/b -->",
        );
        let t = ticks(&ticked);
        assert_eq!(t, Ticks::from([(Command::Skip, "o/b".to_string())]));
        let none = Control::default();
        let acted = apply(&plan, &[], &t, &none);
        assert_eq!(acted.len(), 1);
        assert_eq!(acted[0].fired, vec![]);
        let changed = vec![acted[0].record.clone()];
        assert_eq!(
            (
                changed[0].repository.as_str(),
                changed[0].state,
                changed[0].applied.clone()
            ),
            ("o/b", State::Skipped, vec!["skip".to_string()])
        );
        // Acted on once: a second render with the same tick changes nothing.
        assert!(apply(&plan, &changed, &t, &none).is_empty());
        let again = render(&plan, &changed, &t, None, &Control::default());
        assert_eq!(ticks(&again), t);
        assert!(
            again.contains("| 2 | o/b | 1 | 0 | direct 4.17.21 | ⏭️ skipped |"),
            "{again}"
        );
    }

    #[test]
    fn a_reapply_tick_fires_only_with_feedback_and_an_open_pull_request() {
        use crate::campaign::control::Shared;
        let plan = plan();
        let t = Ticks::from([
            (Command::Reapply, "o/a".to_string()),
            (Command::Reapply, "o/b".to_string()),
            (Command::Retry, "o/b".to_string()),
        ]);
        let mut a = Record::new("o/a", State::PrOpen, 1);
        a.pr_number = Some(3);
        let b = Record::new("o/b", State::Failed, 1);
        let records = [a, b];
        let notes = |acted: &[Acted]| -> Vec<(String, Vec<Command>, Option<String>, State)> {
            acted
                .iter()
                .map(|x| {
                    (
                        x.record.repository.clone(),
                        x.fired.clone(),
                        x.record.note.clone(),
                        x.record.state,
                    )
                })
                .collect()
        };
        let no_feedback = "nothing to re-apply: no feedback was shared in this campaign yet";
        assert_eq!(
            notes(&apply(&plan, &records, &t, &Control::default())),
            vec![
                (
                    "o/a".into(),
                    vec![],
                    Some(no_feedback.into()),
                    State::PrOpen
                ),
                (
                    "o/b".into(),
                    vec![Command::Retry],
                    Some(format!("retry requested on the dashboard; {no_feedback}")),
                    State::Queued
                ),
            ]
        );
        let control = Control {
            feedback: vec![Shared {
                rules: vec!["r-1".into(), "r-2".into()],
                source: "o/c#9".into(),
                at: chrono::Utc::now(),
            }],
            ..Control::default()
        };
        assert_eq!(
            notes(&apply(&plan, &records, &t, &control)),
            vec![
                (
                    "o/a".into(),
                    vec![Command::Reapply],
                    Some("re-applying the latest feedback: `r-1`, `r-2` from o/c#9".into()),
                    State::PrOpen
                ),
                (
                    "o/b".into(),
                    vec![Command::Retry],
                    Some(
                        "retry requested on the dashboard; nothing to re-apply: no open pull request"
                            .into()
                    ),
                    State::Queued
                ),
            ]
        );
        let body = render(&plan, &records, &t, None, &control);
        assert!(
            body.contains("\nLatest feedback: `r-1`, `r-2` from o/c#9 ("),
            "{body}"
        );
    }

    #[test]
    fn burndown_counts_down_per_merge_day() {
        let day = |d: &str| {
            chrono::DateTime::parse_from_rfc3339(d)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let mut a = Record::new("o/a", State::Merged, 1);
        a.merged_at = Some(day("2026-01-02T10:00:00Z"));
        let mut b = Record::new("o/b", State::Merged, 1);
        b.merged_at = Some(day("2026-01-03T10:00:00Z"));
        let chart = burndown(3, &[a, b]);
        assert_eq!(
            chart,
            "```mermaid\nxychart-beta\n  title \"Pull requests left to merge\"\n  x-axis [\"start\", \"2026-01-02\", \"2026-01-03\"]\n  y-axis \"left\" 0 --> 3\n  line [3, 2, 1]\n```\n"
        );
    }
}
