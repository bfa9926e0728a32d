//! Analysis of one repository, no model: direct or transitive use and the version in use, the test command, and the risk that follows.

use chrono::{DateTime, Utc};

use super::discover::{base_name, Candidate, Wanted};
use super::lockfiles;
use super::plan::{DependencyKind, PlannedRepo};
use super::risk::{self, Facts};
use super::CampaignError;
use crate::workspace::detect::{self, CheckKind};

/// How a repository uses the package, or `None` when it does not.
pub fn dependency(c: &Candidate, wanted: &Wanted) -> Option<(DependencyKind, Option<String>)> {
    let file = |name: &str| -> Vec<&str> {
        c.files
            .iter()
            .filter(|(path, _)| base_name(path) == name)
            .map(|(_, text)| text.as_str())
            .collect()
    };
    for dep in &wanted.deps {
        let locked = lockfiles::lockfiles_for(&dep.file)
            .into_iter()
            .find_map(|lock| {
                file(lock)
                    .into_iter()
                    .find_map(|text| lockfiles::locked_version(lock, text, &dep.term))
            });
        let direct = file(&dep.file)
            .into_iter()
            .find(|text| dep.regex.is_match(text));
        if let Some(text) = direct {
            let declared = lockfiles::declared_version(&dep.file, text, &dep.term);
            return Some((DependencyKind::Direct, locked.or(declared)));
        }
        if locked.is_some() {
            return Some((DependencyKind::Transitive, locked));
        }
    }
    None
}

/// The repository's test command: detected on its checkout, or on the
/// manifests read from GitHub (written to a scratch directory).
pub fn test_command(c: &Candidate) -> Result<Option<String>, CampaignError> {
    let env = match &c.path {
        Some(dir) => detect::detect(dir),
        None => {
            let scratch =
                tempfile::tempdir().map_err(CampaignError::io("create a scratch directory"))?;
            for (path, text) in &c.files {
                // Root files only: what detection reads first.
                if path.contains('/') {
                    continue;
                }
                std::fs::write(scratch.path().join(path), text)
                    .map_err(CampaignError::io(format!("write scratch {path}")))?;
            }
            detect::detect(scratch.path())
        }
    };
    let command = env
        .checks_of(CheckKind::Test)
        .next()
        .map(|check| check.command.clone());
    Ok(command)
}

/// The planned repository (order and wave still unset), or `None` when it
/// does not use the package.
pub fn analyze(
    c: &Candidate,
    wanted: &Wanted,
    now: DateTime<Utc>,
) -> Result<Option<PlannedRepo>, CampaignError> {
    let Some((kind, version)) = dependency(c, wanted) else {
        return Ok(None);
    };
    let test_command = test_command(c)?;
    let mut call_sites = c.call_sites.clone();
    for api in &wanted.apis {
        call_sites.entry(api.name.clone()).or_insert(0);
    }
    let (score, reasons) = risk::score(
        &Facts {
            dependency: kind,
            call_sites: &call_sites,
            has_tests: test_command.is_some(),
            size_kb: c.size_kb,
            pushed_at: c.pushed_at,
        },
        now,
    );
    Ok(Some(PlannedRepo {
        repository: c.repository.clone(),
        path: c.path.as_ref().map(|p| p.display().to_string()),
        dependency: kind,
        version,
        call_sites,
        test_command,
        size_kb: c.size_kb,
        pushed_at: c.pushed_at,
        risk: score,
        reasons,
        order: 0,
        wave: 0,
    }))
}
