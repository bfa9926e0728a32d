//! The workflows a campaign dispatches in its config repository: the campaign workflow again (a resume, a retry tick) and the rule workflow for one sibling pull request (feedback shared, a re-apply tick).

use super::matrix::MAX_JOBS;
use super::plan::Plan;
use crate::github::{GitHub, GitHubError, RepoRef};

/// The campaign workflow the README ships.
pub const CAMPAIGN_WORKFLOW: &str = "deckhand-campaign.yml";
/// The workflow that applies a team rule to one sibling pull request
/// (inputs `repository`, `pull_request`, `deckhand_rule`).
pub const RULE_WORKFLOW: &str = "deckhand-dispatch.yml";

type Inputs = serde_json::Map<String, serde_json::Value>;

fn inputs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Inputs {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect()
}

/// The campaign workflow's inputs that plan `plan` again (the same campaign
/// id) and run batch `batch` of its matrix.
pub fn campaign_inputs(plan: &Plan, batch: usize) -> Inputs {
    let mut pairs = vec![("task", plan.task.clone())];
    if let Some(m) = plan.matches.first() {
        pairs.push(("match", m.clone()));
    }
    match (plan.target.split_once(':'), &plan.dispatch.repos) {
        (Some(("org", org)), _) => pairs.push(("org", org.to_string())),
        (_, Some(file)) => pairs.push(("repos", file.clone())),
        _ => {}
    }
    if let Some(topic) = &plan.dispatch.topic {
        pairs.push(("topic", topic.clone()));
    }
    // The workflow's default is the first batch.
    if batch > 0 {
        pairs.push(("batch", batch.to_string()));
    }
    inputs(pairs)
}

/// The batch of the matrix that runs `repository`.
pub fn batch_of(plan: &Plan, repository: &str) -> Option<usize> {
    plan.repositories
        .iter()
        .position(|r| r.repository == repository)
        .map(|i| i / MAX_JOBS)
}

/// The rule workflow's inputs for rule `rule` on pull request `pr` of `repository`.
pub fn rule_inputs(repository: &str, pr: u64, rule: &str) -> Inputs {
    inputs([
        ("repository", repository.to_string()),
        ("pull_request", pr.to_string()),
        ("deckhand_rule", rule.to_string()),
    ])
}

/// Dispatches [`CAMPAIGN_WORKFLOW`] in `home` (on its default branch) for batch `batch` of `plan`.
pub async fn campaign(
    gh: &GitHub,
    home: &RepoRef,
    plan: &Plan,
    batch: usize,
) -> Result<(), GitHubError> {
    let git_ref = gh.repository(home).await?.default_branch;
    gh.dispatch_workflow(
        home,
        CAMPAIGN_WORKFLOW,
        &git_ref,
        &campaign_inputs(plan, batch),
    )
    .await
}

/// Dispatches [`RULE_WORKFLOW`] in `home` at `git_ref` for rule `rule` on `repository`#`pr`.
pub async fn rule(
    gh: &GitHub,
    home: &RepoRef,
    git_ref: &str,
    repository: &str,
    pr: u64,
    rule: &str,
) -> Result<(), GitHubError> {
    gh.dispatch_workflow(
        home,
        RULE_WORKFLOW,
        git_ref,
        &rule_inputs(repository, pr, rule),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::plan::test_plan;

    #[test]
    fn campaign_inputs_plan_the_same_campaign_again() {
        let mut plan = test_plan(300, 5);
        plan.task = "Upgrade lodash".into();
        plan.target = "org:acme".into();
        plan.matches = vec![r#"package.json:"lodash""#.into()];
        plan.dispatch.topic = Some("node".into());
        let expect = |batch: Option<&str>| {
            let mut v = serde_json::json!({
                "task": "Upgrade lodash",
                "match": r#"package.json:"lodash""#,
                "org": "acme",
                "topic": "node",
            });
            if let Some(b) = batch {
                v["batch"] = b.into();
            }
            v
        };
        assert_eq!(
            serde_json::Value::Object(campaign_inputs(&plan, 0)),
            expect(None)
        );
        assert_eq!(
            serde_json::Value::Object(campaign_inputs(&plan, 1)),
            expect(Some("1"))
        );
        assert_eq!(batch_of(&plan, "o/r0"), Some(0));
        assert_eq!(batch_of(&plan, "o/r299"), Some(1));
        assert_eq!(batch_of(&plan, "o/elsewhere"), None);
    }

    #[test]
    fn repos_file_campaigns_name_the_file() {
        let mut plan = test_plan(2, 5);
        plan.target = "repos:repos.txt".into();
        plan.dispatch.repos = Some("repos.txt".into());
        plan.matches.clear();
        let got = serde_json::Value::Object(campaign_inputs(&plan, 0));
        assert_eq!(
            got,
            serde_json::json!({"task": plan.task, "repos": "repos.txt"})
        );
        assert_eq!(
            serde_json::Value::Object(rule_inputs("acme/one", 7, "r-1")),
            serde_json::json!({"repository": "acme/one", "pull_request": "7", "deckhand_rule": "r-1"})
        );
    }
}
