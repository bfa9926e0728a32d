//! Environment detection: which setup, test, lint and type-check commands a
//! repository uses. (Minimal version; replaced by the detect branch.)

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Test,
    Lint,
    Typecheck,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Test => "test",
            CheckKind::Lint => "lint",
            CheckKind::Typecheck => "typecheck",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    pub command: String,
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub setup: Vec<String>,
    pub checks: Vec<Check>,
    pub detected: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub setup: Option<String>,
    pub test: Option<String>,
    pub lint: Option<String>,
    pub typecheck: Option<String>,
}

pub fn detect(root: &Path) -> Environment {
    let mut env = Environment::default();
    if root.join("package.json").is_file() {
        env.checks.push(Check {
            kind: CheckKind::Test,
            command: "npm test".into(),
            source: "package.json scripts.test".into(),
        });
    }
    env
}

impl Environment {
    pub fn with_overrides(mut self, o: &Overrides) -> Environment {
        if let Some(t) = &o.test {
            self.checks.retain(|c| c.kind != CheckKind::Test);
            if !t.is_empty() {
                self.checks.push(Check {
                    kind: CheckKind::Test,
                    command: t.clone(),
                    source: "config".into(),
                });
            }
        }
        self
    }
}
