//! Matrix output for GitHub Actions: batches of at most 256 jobs for `strategy.matrix` via `fromJSON`, written to `$GITHUB_OUTPUT` within its 1 MB limit.

use serde::Serialize;

use super::plan::Plan;
use super::CampaignError;

/// GitHub runs at most this many jobs per matrix.
pub const MAX_JOBS: usize = 256;
/// A job's outputs may hold at most this many bytes in all.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// One matrix entry: what a job needs to run one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub repository: String,
    pub wave: usize,
    pub order: usize,
}

/// `{"include": [...]}` for one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    pub include: Vec<Entry>,
}

/// The plan's repositories, in order, in batches of at most 256.
pub fn batches(plan: &Plan) -> Vec<Batch> {
    let entries: Vec<Entry> = plan
        .repositories
        .iter()
        .map(|r| Entry {
            repository: r.repository.clone(),
            wave: r.wave,
            order: r.order,
        })
        .collect();
    entries
        .chunks(MAX_JOBS)
        .map(|c| Batch {
            include: c.to_vec(),
        })
        .collect()
}

/// The `name=value` outputs: `campaign_id`, `matrix` (batch `index`),
/// `batch`, `batches` (how many), `total`, and `batch_<n>` for every
/// batch. Fails when they would pass the 1 MB output limit.
pub fn outputs(plan: &Plan, index: usize) -> Result<Vec<(String, String)>, CampaignError> {
    let all = batches(plan);
    let to_json =
        |b: &Batch| serde_json::to_string(b).map_err(|e| CampaignError::format("matrix JSON", e));
    let empty = Batch {
        include: Vec::new(),
    };
    let current = all.get(index).unwrap_or(&empty);
    let mut out = vec![
        ("campaign_id".to_string(), plan.campaign_id.clone()),
        ("matrix".to_string(), to_json(current)?),
        ("batch".to_string(), index.to_string()),
        ("batches".to_string(), all.len().to_string()),
        ("total".to_string(), plan.repositories.len().to_string()),
    ];
    for (i, b) in all.iter().enumerate() {
        out.push((format!("batch_{i}"), to_json(b)?));
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
    if size > MAX_OUTPUT_BYTES {
        return Err(CampaignError::Invalid(format!(
            "the matrix outputs would take {size} bytes, over GitHub's 1 MB limit for a job's outputs"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(n: usize) -> Plan {
        crate::campaign::plan::test_plan(n, 5)
    }

    #[test]
    fn splits_at_256_and_names_every_batch() {
        let p = plan(300);
        let b = batches(&p);
        assert_eq!(
            b.iter().map(|b| b.include.len()).collect::<Vec<_>>(),
            vec![256, 44]
        );
        let out = outputs(&p, 1).unwrap();
        let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "campaign_id",
                "matrix",
                "batch",
                "batches",
                "total",
                "batch_0",
                "batch_1"
            ]
        );
        assert_eq!(out[1].1, out[6].1);
    }
}
