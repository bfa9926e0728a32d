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

/// A C library whose CI runs `make lint` (the compiler's warnings as
/// errors) and `make test` (a runner that prints only
/// `FAILED: name (at line N)`).
pub fn c_make_library(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("calc"),
        &[
            ("src/calc.h", "int add(int a, int b);\nint scale(int x, int k);\n"),
            (
                "src/calc.c",
                "#include \"calc.h\"\n\nint add(int a, int b) {\n    return a + b;\n}\n\nint scale(int x, int k) {\n    return x * k;\n}\n",
            ),
            (
                "tests/test_calc.c",
                "#include <stdio.h>\n#include \"../src/calc.h\"\n\nstatic int failures = 0;\n#define CHECK(cond) do { if (!(cond)) { printf(\"FAILED: %s (at line %d)\\n\", __func__, __LINE__); failures++; return; } } while (0)\n\nstatic void test_add(void) {\n    CHECK(add(2, 3) == 5);\n}\n\nstatic void test_scale(void) {\n    CHECK(scale(4, 3) == 12);\n}\n\nint main(void) {\n    test_add();\n    test_scale();\n    if (failures) {\n        printf(\"%d test(s) failed\\n\", failures);\n        return 1;\n    }\n    printf(\"all tests passed\\n\");\n    return 0;\n}\n",
            ),
            (
                "Makefile",
                "CC ?= cc\nCFLAGS ?= -O0 -g\n\n.PHONY: test lint clean\n\nbuild/test_calc: src/calc.c src/calc.h tests/test_calc.c\n\t@mkdir -p build\n\t$(CC) $(CFLAGS) -o $@ src/calc.c tests/test_calc.c\n\ntest: build/test_calc\n\t./build/test_calc\n\nlint:\n\t$(CC) -fsyntax-only -Wall -Wextra -Werror src/calc.c\n\nclean:\n\trm -rf build\n",
            ),
            (
                ".github/workflows/ci.yml",
                "name: CI\non: [push, pull_request]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make lint\n      - run: make test\n",
            ),
            (".gitignore", "build/\n"),
        ],
    )
}

/// A stand-in for jest (not installed from the registry in tests: that
/// takes longer than a test should): runs `test/*.test.js` with `test` and
/// `expect(x).toBe(y)`, and prints failures exactly as jest does.
pub const JEST_STANDIN: &str = r#"#!/usr/bin/env node
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = process.cwd();
let passed = 0, failed = 0;
const report = [];
for (const name of fs.readdirSync('test').filter((n) => n.endsWith('.test.js')).sort()) {
  const file = path.join(root, 'test', name);
  const rel = `test/${name}`;
  const tests = [];
  global.test = (title, fn) => tests.push({ title, fn });
  global.expect = (received) => ({
    toBe(expected) {
      if (Object.is(received, expected)) return;
      const e = new Error('toBe');
      e.received = received; e.expected = expected;
      throw e;
    },
  });
  delete require.cache[file];
  require(file);
  let fileFailed = false;
  for (const t of tests) {
    try { t.fn(); passed++; } catch (e) {
      failed++; fileFailed = true;
      const frame = e.stack.split('\n').find((l) => l.includes(file)) || '';
      const [, line, col] = frame.match(/:(\d+):(\d+)\)?$/) || [];
      const src = fs.readFileSync(file, 'utf8').split('\n');
      const n = Number(line);
      const frameLines = [n - 1, n, n + 1].filter((i) => i >= 1 && i <= src.length).map((i) =>
        `    ${i === n ? '>' : ' '} ${String(i).padStart(2)} | ${src[i - 1]}` +
        (i === n ? `\n         | ${' '.repeat(Number(col) - 1)}^` : ''));
      report.push(`  ● ${t.title}\n\n    expect(received).toBe(expected) // Object.is equality\n\n    Expected: ${e.expected}\n    Received: ${e.received}\n\n${frameLines.join('\n')}\n\n      at Object.toBe (${rel}:${line}:${col})\n`);
    }
  }
  console.error(`${fileFailed ? 'FAIL' : 'PASS'} ${rel}`);
}
for (const r of report) console.error(r);
console.error(`Tests:       ${failed ? `${failed} failed, ` : ''}${passed} passed, ${passed + failed} total`);
process.exit(failed ? 1 : 0);
"#;

/// A stand-in for eslint: `no-var`, printed in eslint's stylish format.
pub const ESLINT_STANDIN: &str = r#"#!/usr/bin/env node
'use strict';
const fs = require('node:fs');
const path = require('node:path');
let problems = 0;
for (const dir of process.argv.slice(2)) {
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.resolve(dir, name);
    const hits = [];
    fs.readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
      const col = text.indexOf('var ');
      if (col >= 0) hits.push(`  ${i + 1}:${col + 1}  error  Unexpected var, use let or const instead  no-var`);
    });
    if (hits.length) { console.log(`\n${file}\n${hits.join('\n')}`); problems += hits.length; }
  }
}
if (problems) console.log(`\n✖ ${problems} problem${problems > 1 ? 's' : ''} (${problems} error${problems > 1 ? 's' : ''}, 0 warnings)\n`);
process.exit(problems ? 1 : 0);
"#;

/// `cart`: a jest project whose lint script is `check:lint`, and whose CI
/// runs `npm test` and `npm run check:lint`. jest and eslint are the
/// stand-ins above, put in `node_modules/.bin` (ignored) after the commit.
pub fn jest_project(parent: &Path) -> PathBuf {
    let repo = commit_tree(
        &parent.join("cart"),
        &[
            (
                "package.json",
                "{\n  \"name\": \"cart\",\n  \"private\": true,\n  \"scripts\": {\n    \"test\": \"jest\",\n    \"check:lint\": \"eslint src\",\n    \"check\": \"npm test && npm run check:lint\"\n  }\n}\n",
            ),
            (
                "src/total.js",
                "'use strict';\n\nfunction total(items) {\n  let sum = 0;\n  for (const item of items) {\n    sum += item.price * item.qty;\n  }\n  return sum;\n}\n\nmodule.exports = { total };\n",
            ),
            (
                "test/total.test.js",
                "'use strict';\n\nconst { total } = require('../src/total');\n\ntest('sums price times quantity', () => {\n  expect(total([{ price: 2, qty: 3 }, { price: 1, qty: 1 }])).toBe(7);\n});\n\ntest('an empty cart costs nothing', () => {\n  expect(total([])).toBe(0);\n});\n",
            ),
            (
                ".github/workflows/ci.yml",
                "name: CI\non:\n  pull_request:\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: npm test\n      - run: npm run check:lint\n",
            ),
            (".gitignore", "node_modules/\n"),
        ],
    );
    let bin = repo.join("node_modules/.bin");
    std::fs::create_dir_all(&bin).expect("node_modules/.bin");
    for (name, text) in [("jest", JEST_STANDIN), ("eslint", ESLINT_STANDIN)] {
        let path = bin.join(name);
        std::fs::write(&path, text).expect("stand-in written");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("stand-in executable");
    }
    repo
}

/// `inventory`: a src-layout Python package whose test dependencies are a
/// `[dependency-groups]` group and whose mypy checks only the files
/// `[tool.mypy] files` names; its CI runs `python -m pytest -q` and `mypy`.
/// (`scripts/` has a type error mypy must not see.)
pub fn python_src_layout(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("inventory"),
        &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"inventory\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\n[dependency-groups]\ntest = [\"pytest>=7\"]\ndev = [{include-group = \"test\"}]\n\n[tool.setuptools.packages.find]\nwhere = [\"src\"]\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n\n[tool.mypy]\nfiles = [\"src/inventory\"]\nstrict = true\n",
            ),
            ("src/inventory/__init__.py", ""),
            (
                "src/inventory/stock.py",
                "def restock(levels: dict[str, int], item: str, amount: int) -> int:\n    levels[item] = levels.get(item, 0) + amount\n    return levels[item]\n",
            ),
            (
                "tests/test_stock.py",
                "from inventory.stock import restock\n\n\ndef test_restock_adds_to_the_level() -> None:\n    levels = {\"bolt\": 2}\n    assert restock(levels, \"bolt\", 3) == 5\n",
            ),
            ("scripts/scratch.py", "x: int = \"not checked by the project\"\n"),
            (
                ".github/workflows/ci.yml",
                "name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n      - run: python -m pytest -q\n      - run: mypy\n",
            ),
            (".gitignore", "__pycache__/\n*.egg-info/\n.mypy_cache/\n.pytest_cache/\n"),
        ],
    )
}

/// `units`: a src-layout package whose ruff config fixes on its own
/// (`fix = true`), whose CI installs a pinned ruff from a requirements
/// file and runs `ruff check .`, `ruff format --check .` and unittest.
pub fn ruff_fix_project(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("units"),
        &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"units\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\n\n[tool.setuptools.packages.find]\nwhere = [\"src\"]\n\n[tool.ruff]\nfix = true\nline-length = 100\n\n[tool.ruff.lint]\nselect = [\"E\", \"F\", \"I\"]\n",
            ),
            ("requirements-dev.txt", "ruff==0.6.9\n"),
            ("src/units/__init__.py", ""),
            (
                "src/units/convert.py",
                "KM_PER_MILE = 1.609344\n\n\ndef miles_to_km(miles: float) -> float:\n    return round(miles * KM_PER_MILE, 3)\n",
            ),
            (
                "tests/test_convert.py",
                "import unittest\n\nfrom units.convert import miles_to_km\n\n\nclass MilesToKm(unittest.TestCase):\n    def test_one_mile(self) -> None:\n        self.assertEqual(miles_to_km(1), 1.609)\n\n    def test_zero(self) -> None:\n        self.assertEqual(miles_to_km(0), 0)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n",
            ),
            (
                ".github/workflows/ci.yml",
                "name: CI\non:\n  push:\n  pull_request:\njobs:\n  check:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n        with:\n          python-version: \"3.12\"\n      - run: pip install -e . -r requirements-dev.txt\n      - run: ruff check .\n      - run: ruff format --check .\n      - run: python -m unittest discover -s tests -v\n",
            ),
            (".gitignore", "__pycache__/\n*.egg-info/\n.ruff_cache/\n"),
        ],
    )
}

/// `ledger`: a Go module (standard library only, so it builds with no
/// module download) whose CI runs `go vet ./...` and `go test ./...`
/// (without `-v`) and checks formatting with `gofmt`.
pub fn go_module(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("ledger"),
        &[
            ("go.mod", "module example.com/ledger\n\ngo 1.19\n"),
            (
                "ledger.go",
                "// Package ledger keeps account balances in cents.\npackage ledger\n\nimport \"fmt\"\n\n// Balance sums the entries.\nfunc Balance(entries []int64) int64 {\n\tvar sum int64\n\tfor _, e := range entries {\n\t\tsum += e\n\t}\n\treturn sum\n}\n\n// Format shows cents as a currency amount.\nfunc Format(cents int64) string {\n\treturn fmt.Sprintf(\"%d.%02d\", cents/100, cents%100)\n}\n",
            ),
            (
                "ledger_test.go",
                "package ledger\n\nimport \"testing\"\n\nfunc TestBalance(t *testing.T) {\n\tif got := Balance([]int64{150, -50, 25}); got != 125 {\n\t\tt.Errorf(\"Balance = %d, want 125\", got)\n\t}\n}\n\nfunc TestFormat(t *testing.T) {\n\tif got := Format(1234); got != \"12.34\" {\n\t\tt.Errorf(\"Format = %q, want %q\", got, \"12.34\")\n\t}\n}\n",
            ),
            (
                ".github/workflows/ci.yml",
                "name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-go@v5\n        with:\n          go-version-file: go.mod\n      - run: go vet ./...\n      - run: go test ./...\n",
            ),
        ],
    )
}

/// `prices`: an ES-module library tested with vitest and installed with
/// pnpm from its lockfile (`tests/data/pnpm-vitest-lock.yaml`); its CI runs
/// `pnpm install --frozen-lockfile`, `pnpm run lint` and `pnpm test`.
pub fn pnpm_vitest_library(parent: &Path) -> PathBuf {
    commit_tree(
        &parent.join("prices"),
        &[
            (
                "package.json",
                "{\n  \"name\": \"prices\",\n  \"private\": true,\n  \"type\": \"module\",\n  \"packageManager\": \"pnpm@9.12.0\",\n  \"scripts\": {\n    \"test\": \"vitest run\",\n    \"lint\": \"node tools/lint.cjs\"\n  },\n  \"devDependencies\": {\n    \"vitest\": \"2\"\n  }\n}\n",
            ),
            ("pnpm-lock.yaml", include_str!("../data/pnpm-vitest-lock.yaml")),
            (
                "src/total.js",
                "export function total(items) {\n  let sum = 0;\n  for (const item of items) {\n    sum += item.price * item.qty;\n  }\n  return sum;\n}\n",
            ),
            (
                "test/total.test.js",
                "import { describe, expect, it } from 'vitest';\nimport { total } from '../src/total.js';\n\ndescribe('total', () => {\n  it('sums price times quantity', () => {\n    expect(total([{ price: 2, qty: 3 }, { price: 1, qty: 1 }])).toBe(7);\n  });\n\n  it('costs nothing when empty', () => {\n    expect(total([])).toBe(0);\n  });\n});\n",
            ),
            ("tools/lint.cjs", LINT_JS),
            (
                ".github/workflows/ci.yml",
                "name: CI\non:\n  push:\n    branches: [main]\n  pull_request:\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: pnpm/action-setup@v4\n      - uses: actions/setup-node@v4\n        with:\n          node-version: 20\n          cache: pnpm\n      - run: pnpm install --frozen-lockfile\n      - run: pnpm run lint\n      - run: pnpm test\n",
            ),
            (".gitignore", "node_modules/\n"),
        ],
    )
}
