//! `report_verdict`: verify's judgement of each acceptance criterion, kept for the orchestrator.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{for_model, redacted};
use super::{
    parse_args, rule_criterion, CriterionVerdict, Tool, ToolContext, ToolError, ToolOutput,
};
use crate::memory::rules::Rule;
use crate::task::spec::one_line;

pub struct ReportVerdict;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    criteria: Vec<CriterionVerdict>,
}

/// A verdict entry's name, with a team rule named by its id or text
/// written the one way: `rule <id>: <text>`.
fn canonical(given: &str, rules: &[Rule]) -> String {
    for rule in rules {
        let label = rule_criterion(rule);
        let by_id = given == rule.id
            || given
                .strip_prefix("rule ")
                .unwrap_or(given)
                .split([':', ' '])
                .next()
                .is_some_and(|id| id == rule.id);
        if given == label || by_id || given == one_line(&rule.text) {
            return label;
        }
    }
    given.to_string()
}

#[async_trait]
impl Tool for ReportVerdict {
    fn name(&self) -> &'static str {
        "report_verdict"
    }

    fn description(&self) -> &'static str {
        "Record your verdict on every acceptance criterion of the task spec: met or not, with concrete evidence (command and its result, file:line). Call it once at the end; a later call replaces the earlier verdict."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "criteria": {
                    "type": "array",
                    "description": "One entry per acceptance criterion, in the spec's order, then one per team rule given to you (`rule <id>: <text>`).",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "criterion": {"type": "string", "description": "The criterion, as written in the spec."},
                            "met": {"type": "boolean", "description": "Whether the change satisfies it."},
                            "evidence": {"type": "string", "description": "What shows it: a command and its outcome, a file:line, a test name. For an unmet criterion, what is wrong and where."}
                        },
                        "required": ["criterion", "met", "evidence"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["criteria"],
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = parse_args::<Args>(self.name(), input).and_then(|args| {
            if args.criteria.is_empty() {
                return Err(for_model(
                    "criteria is empty; give one entry per acceptance criterion",
                ));
            }
            for (i, c) in args.criteria.iter().enumerate() {
                if c.criterion.trim().is_empty() {
                    return Err(for_model(format!("criteria[{i}]: `criterion` is empty")));
                }
                if c.evidence.trim().is_empty() {
                    return Err(for_model(format!(
                        "criteria[{i}] (`{}`): `evidence` is empty; say what shows the verdict",
                        c.criterion
                    )));
                }
            }
            // Exactly the spec's criteria, then each team rule that applies,
            // each once, matched by name (a rule by `rule <id>: <text>`,
            // its id or its text).
            let mut wanted: Vec<String> = ctx.spec.acceptance_criteria.iter().map(|c| one_line(c)).collect();
            wanted.extend(ctx.team.judged.iter().map(rule_criterion));
            let given: Vec<String> = args
                .criteria
                .iter()
                .map(|c| canonical(&one_line(&c.criterion), &ctx.team.judged))
                .collect();
            let mut problems = Vec::new();
            for (i, g) in given.iter().enumerate() {
                if !wanted.contains(g) {
                    problems.push(format!("criteria[{i}] `{g}` is not an acceptance criterion of the spec"));
                } else if given[..i].contains(g) {
                    problems.push(format!("criteria[{i}] `{g}` is judged twice"));
                }
            }
            for w in &wanted {
                if !given.contains(w) {
                    problems.push(format!("`{w}` has no entry"));
                }
            }
            if !problems.is_empty() {
                let list: Vec<String> = wanted.iter().map(|w| format!("- {w}")).collect();
                return Err(for_model(format!(
                    "the verdict must judge exactly the acceptance criteria of the spec, then each team rule, each once, by their exact text: {}.\nThe entries are:\n{}",
                    problems.join("; "),
                    list.join("\n")
                )));
            }
            let met = args.criteria.iter().filter(|c| c.met).count();
            let total = args.criteria.len();
            let criteria = args
                .criteria
                .into_iter()
                .zip(given)
                .map(|(c, name)| {
                    // A rule's entry is kept under its full label.
                    if name == one_line(&c.criterion) {
                        c
                    } else {
                        CriterionVerdict { criterion: name, ..c }
                    }
                })
                .collect();
            *ctx.verdict = Some(criteria);
            Ok(ToolOutput::Text(format!(
                "verdict recorded: {met} of {total} criteria met"
            )))
        });
        redacted(ctx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::Fixture;

    #[tokio::test]
    async fn every_criterion_of_the_spec_needs_a_verdict() {
        let mut f = Fixture::new();
        f.spec.acceptance_criteria = vec!["`npm test` passes".into(), "tests cover resets".into()];
        let err = f
            .err(
                &ReportVerdict,
                serde_json::json!({"criteria": [{"criterion": "`npm test` passes", "met": true, "evidence": "5 passed"}]}),
            )
            .await;
        assert!(err.contains("- tests cover resets"), "{err}");
        assert!(f.verdict.is_none());
    }

    #[tokio::test]
    async fn stores_the_verdict_and_counts_met_criteria() {
        let mut f = Fixture::new();
        f.spec.acceptance_criteria = vec!["tests pass".into(), "docs".into()];
        let text = f
            .ok(
                &ReportVerdict,
                json!({"criteria": [
                    {"criterion": "tests pass", "met": true, "evidence": "npm test: 12 passed"},
                    {"criterion": "docs", "met": false, "evidence": "README.md:3 unchanged"}
                ]}),
            )
            .await;
        assert_eq!(text, "verdict recorded: 1 of 2 criteria met");
        assert_eq!(
            f.verdict,
            Some(vec![
                CriterionVerdict {
                    criterion: "tests pass".into(),
                    met: true,
                    evidence: "npm test: 12 passed".into()
                },
                CriterionVerdict {
                    criterion: "docs".into(),
                    met: false,
                    evidence: "README.md:3 unchanged".into()
                },
            ])
        );
    }

    #[tokio::test]
    async fn criteria_are_matched_by_name_not_counted() {
        let mut f = Fixture::new();
        f.spec.acceptance_criteria = vec!["`npm test` passes".into(), "tests cover resets".into()];
        let entry = |c: &str| json!({"criterion": c, "met": true, "evidence": "seen"});
        let err = f
            .err(
                &ReportVerdict,
                json!({"criteria": [entry("`npm test` passes"), entry("the code is nice")]}),
            )
            .await;
        assert!(
            err.contains("`the code is nice` is not an acceptance criterion"),
            "{err}"
        );
        assert!(err.contains("`tests cover resets` has no entry"), "{err}");
        let err = f
            .err(
                &ReportVerdict,
                json!({"criteria": [entry("`npm test` passes"), entry("`npm test`  passes")]}),
            )
            .await;
        assert!(err.contains("judged twice"), "{err}");
        assert!(f.verdict.is_none());
        f.ok(
            &ReportVerdict,
            json!({"criteria": [entry("tests cover   resets"), entry("`npm test` passes")]}),
        )
        .await;
        assert!(f.verdict.is_some());
    }

    #[tokio::test]
    async fn refuses_empty_lists_criteria_and_evidence() {
        let mut f = Fixture::new();
        let err = f.err(&ReportVerdict, json!({"criteria": []})).await;
        assert!(err.contains("criteria is empty"), "{err}");
        let err = f
            .err(
                &ReportVerdict,
                json!({"criteria": [{"criterion": " ", "met": true, "evidence": "x"}]}),
            )
            .await;
        assert_eq!(err, "criteria[0]: `criterion` is empty");
        let err = f
            .err(
                &ReportVerdict,
                json!({"criteria": [{"criterion": "a", "met": true, "evidence": ""}]}),
            )
            .await;
        assert!(
            err.starts_with("criteria[0] (`a`): `evidence` is empty"),
            "{err}"
        );
        let err = f
            .err(&ReportVerdict, json!({"criteria": [{"criterion": "a"}]}))
            .await;
        assert!(
            err.starts_with("invalid arguments for report_verdict"),
            "{err}"
        );
        assert_eq!(f.verdict, None);
    }

    #[tokio::test]
    async fn team_rules_are_judged_after_the_criteria() {
        use crate::memory::rules::{RuleAuthor, Scope, Status};
        let mut f = Fixture::new();
        f.spec.acceptance_criteria = vec!["tests pass".into()];
        f.team.judged = vec![Rule {
            id: "r-0000000a".into(),
            scope: Scope::Org,
            status: Status::Active,
            source: "local:dh-1".into(),
            author: RuleAuthor {
                login: "me".into(),
                permission: "owner".into(),
            },
            created: chrono::Utc::now(),
            evidence: None,
            replaces: None,
            text: "Return errors as { error, code }.".into(),
        }];
        let entry = |c: &str, met: bool| json!({"criterion": c, "met": met, "evidence": "seen"});
        let err = f
            .err(
                &ReportVerdict,
                json!({"criteria": [entry("tests pass", true)]}),
            )
            .await;
        assert!(
            err.contains("`rule r-0000000a: Return errors as { error, code }.` has no entry"),
            "{err}"
        );
        f.ok(
            &ReportVerdict,
            json!({"criteria": [entry("tests pass", true), entry("rule r-0000000a", false)]}),
        )
        .await;
        assert_eq!(
            f.verdict,
            Some(vec![
                CriterionVerdict {
                    criterion: "tests pass".into(),
                    met: true,
                    evidence: "seen".into()
                },
                CriterionVerdict {
                    criterion: "rule r-0000000a: Return errors as { error, code }.".into(),
                    met: false,
                    evidence: "seen".into()
                },
            ])
        );
    }
}
