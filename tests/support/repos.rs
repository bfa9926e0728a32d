//! Fixture repositories built in temp dirs: a Node service (`node --test`,
//! no npm packages), a Python package (unittest) and a Rust crate, each a
//! real git repository with one commit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs git in `dir` with a fixed identity; panics with git's stderr.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Fixture",
            "-c",
            "user.email=fixture@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `files` (path, content) under `dir`, then `git init` and commits.
pub fn commit_tree(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create fixture dir");
    for (path, content) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&full, content).expect("write fixture file");
    }
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "Initial commit"]);
    dir.to_path_buf()
}

pub const NODE_APP: &str = r#"'use strict';

const users = new Map([['alice', 'wonderland']]);

function handle(method, path, body) {
  if (method === 'POST' && path === '/api/login') {
    const ok = users.get(body.user) === body.password;
    return { status: ok ? 200 : 401, body: { ok } };
  }
  return { status: 404, body: { error: 'not found' } };
}

module.exports = { handle };
"#;

pub const NODE_TEST: &str = r#"'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { handle } = require('../src/app');

test('login succeeds with the right password', () => {
  assert.strictEqual(handle('POST', '/api/login', { user: 'alice', password: 'wonderland' }).status, 200);
});

test('login fails with a wrong password', () => {
  assert.strictEqual(handle('POST', '/api/login', { user: 'alice', password: 'nope' }).status, 401);
});
"#;

/// `user-service`: a dependency-free Node service tested with `node --test`.
pub fn node_service(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("user-service"),
        &[
            (
                "package.json",
                "{\n  \"name\": \"user-service\",\n  \"version\": \"1.0.0\",\n  \"private\": true,\n  \"scripts\": {\n    \"test\": \"node --test\"\n  }\n}\n",
            ),
            ("src/app.js", NODE_APP),
            ("test/app.test.js", NODE_TEST),
            ("README.md", "# user-service\n\nLogin API.\n"),
            (".gitignore", "node_modules/\n"),
        ],
    )
}

/// `mathlib`: a Python package tested with unittest.
pub fn python_package(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("mathlib"),
        &[
            ("pyproject.toml", "[project]\nname = \"mathlib\"\nversion = \"0.1.0\"\n"),
            ("mathlib/__init__.py", "def add(a, b):\n    return a + b\n"),
            ("tests/__init__.py", ""),
            (
                "tests/test_add.py",
                "import unittest\n\nfrom mathlib import add\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n\nif __name__ == '__main__':\n    unittest.main()\n",
            ),
        ],
    )
}

/// `tally`: a Rust library crate with one unit test.
pub fn rust_crate(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("tally"),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"tally\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
            ),
            (
                "src/lib.rs",
                "pub fn total(xs: &[u32]) -> u32 {\n    xs.iter().sum()\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn sums() {\n        assert_eq!(super::total(&[1, 2, 3]), 6);\n    }\n}\n",
            ),
            (".gitignore", "target/\n"),
        ],
    )
}

/// Every file under `dir` (except .git) with its content, for "untouched"
/// assertions.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                out.push((rel, std::fs::read(&path).expect("read file")));
            }
        }
    }
    out.sort();
    out
}
