//! `update_spec`: replaces sections of the task spec and ticks off plan items.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::common::{for_model, redacted};
use super::{parse_args, Tool, ToolContext, ToolError, ToolOutput};

/// `update_spec` as one role has it: research owns the acceptance
/// criteria; for code, `acceptance_criteria` is recorded as a proposal.
pub struct UpdateSpec {
    owns_criteria: bool,
}

impl UpdateSpec {
    /// Research (and `deckhand tool`): sets the acceptance criteria.
    pub fn research() -> Self {
        UpdateSpec {
            owns_criteria: true,
        }
    }

    /// Code: `acceptance_criteria` becomes a proposal verify sees.
    pub fn code() -> Self {
        UpdateSpec {
            owns_criteria: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    requirements: Option<Vec<String>>,
    acceptance_criteria: Option<Vec<String>>,
    plan: Option<Vec<String>>,
    decisions: Option<Vec<String>>,
    done: Option<Vec<usize>>,
}

fn section(description: &str) -> serde_json::Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

#[async_trait]
impl Tool for UpdateSpec {
    fn name(&self) -> &'static str {
        "update_spec"
    }

    fn description(&self) -> &'static str {
        "Update the task spec shared by all roles. Each list you give replaces that whole section (send the full list, not only new items); omitted sections stay. `done` ticks off plan items by number. Returns the updated spec."
    }

    fn input_schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "requirements": section("Complete list of requirements, each one testable, e.g. `WHEN … THE SYSTEM SHALL …`."),
                "acceptance_criteria": section(if self.owns_criteria {
                    "Complete list of checks that decide whether the task is done (commands that must pass, behaviours to cover)."
                } else {
                    "A proposed complete list of acceptance criteria, when the current ones are wrong. Research owns the criteria: yours is recorded as a proposal that the verifier and the human reviewer see; you are still judged by the current criteria."
                }),
                "plan": section("Complete ordered list of plan steps, each naming the files it touches. Steps whose text is unchanged keep their done mark."),
                "decisions": section("Complete list of decisions a human reviewer should look at (assumptions, trade-offs)."),
                "done": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "description": "Numbers (1-based) of plan steps now finished; applied after `plan` if both are given."
                }
            },
            "required": [],
            "minProperties": 1,
            "additionalProperties": false
        })
    }

    async fn call(
        &self,
        ctx: &mut ToolContext<'_>,
        input: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let result = parse_args::<Args>(self.name(), input).and_then(|args| {
            if args.requirements.is_none()
                && args.acceptance_criteria.is_none()
                && args.plan.is_none()
                && args.decisions.is_none()
                && args.done.is_none()
            {
                return Err(for_model(
                    "nothing to update; give at least one of requirements, acceptance_criteria, plan, decisions, done",
                ));
            }
            // Work on a copy so a bad `done` leaves the spec as it was.
            let mut spec = ctx.spec.clone();
            if let Some(items) = args.requirements {
                spec.requirements = non_blank(items);
            }
            let mut note = "";
            if let Some(items) = args.acceptance_criteria {
                if self.owns_criteria {
                    spec.acceptance_criteria = non_blank(items);
                } else {
                    spec.proposed_criteria = non_blank(items);
                    note = "Your acceptance criteria were recorded as a proposal (research owns the criteria); you are still judged by the current ones, and the verifier sees your proposal.\n\n";
                }
            }
            if let Some(items) = args.decisions {
                spec.decisions = non_blank(items);
            }
            if let Some(items) = args.plan {
                spec.set_plan(non_blank(items));
            }
            if let Some(done) = args.done {
                spec.mark_done(&done)
                    .map_err(|e| for_model(format!("{e}; nothing was changed")))?;
            }
            *ctx.spec = spec;
            Ok(ToolOutput::Text(format!("{note}{}", ctx.spec.to_markdown())))
        });
        redacted(ctx, result)
    }
}

fn non_blank(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tools::testing::{Fixture, SECRET};

    #[tokio::test]
    async fn code_proposes_criteria_and_cannot_replace_them() {
        let mut f = Fixture::new();
        f.spec.acceptance_criteria = vec!["`npm test` passes".into()];
        let text = f
            .ok(
                &UpdateSpec::code(),
                json!({"acceptance_criteria": ["it compiles"], "decisions": ["kept the API"]}),
            )
            .await;
        assert!(text.contains("recorded as a proposal"), "{text}");
        assert_eq!(
            f.spec.acceptance_criteria,
            vec!["`npm test` passes".to_string()]
        );
        assert_eq!(f.spec.proposed_criteria, vec!["it compiles".to_string()]);
        assert_eq!(f.spec.decisions, vec!["kept the API".to_string()]);
        let md = f.spec.to_markdown();
        assert!(md.contains("## Proposed acceptance criteria"), "{md}");
        assert_eq!(crate::task::TaskSpec::parse(&md).unwrap(), f.spec);
    }

    #[tokio::test]
    async fn replaces_sections_and_marks_plan_items_done() {
        let mut f = Fixture::new();
        let md = f
            .ok(
                &UpdateSpec::research(),
                json!({
                    "requirements": ["THE SYSTEM SHALL answer 429", " "],
                    "acceptance_criteria": ["npm test passes"],
                    "plan": ["Add limiter", "Wire it"],
                    "decisions": ["in-memory window"],
                    "done": [1]
                }),
            )
            .await;
        assert!(md.contains("1. THE SYSTEM SHALL answer 429\n"), "{md}");
        assert!(
            md.contains("- [x] 1. Add limiter\n- [ ] 2. Wire it\n"),
            "{md}"
        );
        assert_eq!(f.spec.requirements, ["THE SYSTEM SHALL answer 429"]);
        assert_eq!(f.spec.acceptance_criteria, ["npm test passes"]);
        assert_eq!(f.spec.decisions, ["in-memory window"]);
        assert_eq!(md, f.spec.to_markdown());

        // Only `done`: the rest stays.
        f.ok(&UpdateSpec::research(), json!({"done": [2]})).await;
        assert!(f.spec.plan.iter().all(|p| p.done));
        assert_eq!(f.spec.requirements, ["THE SYSTEM SHALL answer 429"]);
    }

    #[tokio::test]
    async fn bad_plan_numbers_change_nothing() {
        let mut f = Fixture::new();
        let before = f.spec.clone();
        let err = f
            .err(
                &UpdateSpec::research(),
                json!({"plan": ["only step"], "done": [2]}),
            )
            .await;
        assert_eq!(
            err,
            "task spec: plan item 2 does not exist (the plan has 1 items); nothing was changed"
        );
        assert_eq!(f.spec, before);
        let err = f.err(&UpdateSpec::research(), json!({"done": [0]})).await;
        assert!(err.contains("plan item 0 does not exist"), "{err}");
    }

    #[tokio::test]
    async fn needs_at_least_one_field_and_known_fields() {
        let mut f = Fixture::new();
        let err = f.err(&UpdateSpec::research(), json!({})).await;
        assert!(err.starts_with("nothing to update"), "{err}");
        let err = f
            .err(&UpdateSpec::research(), json!({"requirement": ["x"]}))
            .await;
        assert!(
            err.starts_with("invalid arguments for update_spec"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_returned_spec_is_redacted() {
        let mut f = Fixture::new();
        let md = f
            .ok(
                &UpdateSpec::research(),
                json!({"decisions": [format!("token {SECRET}")]}),
            )
            .await;
        assert!(md.contains("- token ***"), "{md}");
    }
}
