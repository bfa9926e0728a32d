//! Fixture repositories whose own CI says how to verify them: workflow
//! `run:` steps that differ from what detection would guess.

use std::path::{Path, PathBuf};

use super::repos::commit_tree;

pub const LINT_JS: &str = r#"'use strict';
// The project's own linter: `var` is not allowed.
const fs = require('node:fs');
let failed = false;
for (const name of fs.readdirSync('src')) {
  const lines = fs.readFileSync(`src/${name}`, 'utf8').split('\n');
  lines.forEach((text, i) => {
    const col = text.indexOf('var ');
    if (col >= 0) {
      console.log(`src/${name}:${i + 1}:${col + 1}: error no-var: Unexpected var, use let or const`);
      failed = true;
    }
  });
}
process.exit(failed ? 1 : 0);
"#;

pub const CI_YML: &str = r#"name: CI
on:
  push:
    branches: [main]
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        node: [18, 20]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: ${{ matrix.node }}
      - run: npm run test:ci
      - run: npm run check:lint
      - run: golangci-lint run ./tools/...
      - run: npx mocha --grep ${{ matrix.node }}
"#;

/// `billing`: a dependency-free Node library whose CI runs `test:ci` and
/// `check:lint` (not `npm test`), plus a linter that is not installed;
/// its Makefile has a `lint` target no CI runs.
pub fn node_ci_library(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("billing"),
        &[
            (
                "package.json",
                "{\n  \"name\": \"billing\",\n  \"private\": true,\n  \"scripts\": {\n    \"test\": \"node --test --test-reporter=dot\",\n    \"test:ci\": \"node --test test/\",\n    \"check:lint\": \"node tools/lint.js\",\n    \"fix\": \"node tools/fix.js\"\n  }\n}\n",
            ),
            (
                "src/total.js",
                "'use strict';\n\nfunction total(items) {\n  let sum = 0;\n  for (const item of items) {\n    sum += item.price * item.qty;\n  }\n  return sum;\n}\n\nmodule.exports = { total };\n",
            ),
            (
                "test/total.test.js",
                "'use strict';\n\nconst test = require('node:test');\nconst assert = require('node:assert');\nconst { total } = require('../src/total');\n\ntest('sums price times quantity', () => {\n  assert.strictEqual(total([{ price: 2, qty: 3 }, { price: 1, qty: 1 }]), 7);\n});\n",
            ),
            ("tools/lint.js", LINT_JS),
            (
                "tools/fix.js",
                "'use strict';\nconst fs = require('node:fs');\nconst f = 'src/total.js';\nfs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/var /g, 'let '));\n",
            ),
            ("Makefile", "lint:\n\tnode tools/lint.js\n"),
            (".github/workflows/ci.yml", CI_YML),
            (".gitignore", "node_modules/\n"),
        ],
    )
}
