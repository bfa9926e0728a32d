//! One shell command line: what it is for (setup, a kind of check, or
//! neither) and its read-only form (linters and formatters in check mode).

use super::CheckKind;

/// The ecosystem a setup command installs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eco {
    Python,
    Node,
    Other,
}

/// What a command line does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Role {
    Setup(Eco),
    Check(CheckKind),
    /// Runs pre-commit; its hooks are read from `.pre-commit-config.yaml`.
    PreCommit,
    /// Needs root or changes the machine (`sudo`, `apt-get`).
    Privileged,
    /// Builds, prints, moves around: nothing verify needs.
    Other,
}

/// Wrappers that run the real program: `python -m`, `uv run`, `npx`, …
const RUNNERS: &[&[&str]] = &[
    &["python", "-m"],
    &["python3", "-m"],
    &["uv", "run"],
    &["poetry", "run"],
    &["pdm", "run"],
    &["hatch", "run"],
    &["pipenv", "run"],
    &["npx"],
    &["pnpm", "exec"],
    &["pnpm", "dlx"],
    &["yarn", "exec"],
    &["bunx"],
];

/// The words of `command` after leading `VAR=value` assignments and
/// runner wrappers: the program and its arguments.
pub(super) fn program(command: &str) -> Vec<&str> {
    let mut words: Vec<&str> = command.split_whitespace().collect();
    while words.first().is_some_and(|w| is_assignment(w)) {
        words.remove(0);
    }
    while let Some(runner) = RUNNERS
        .iter()
        .find(|r| words.len() > r.len() && words[..r.len()] == r[..])
    {
        words.drain(..runner.len());
        while words.first().is_some_and(|w| w.starts_with('-')) {
            words.remove(0);
        }
    }
    words
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The name of the program a command runs (`ruff`, `pytest`, `npm`).
pub(super) fn program_name(command: &str) -> Option<String> {
    let words = program(command);
    let first = words.first()?;
    Some(first.rsplit('/').next().unwrap_or(first).to_string())
}

/// What a script or Makefile target called `name` is for.
pub(super) fn kind_of_name(name: &str) -> Option<CheckKind> {
    let n = name.to_ascii_lowercase();
    let parts: Vec<&str> = n.split([':', '-', '_', '.']).collect();
    let any = |words: &[&str]| parts.iter().any(|p| words.contains(p));
    if n.contains("typecheck")
        || n.contains("type-check")
        || any(&["types", "typing", "tsc", "mypy", "pyright"])
    {
        Some(CheckKind::Typecheck)
    } else if n.contains("lint")
        || n == "check"
        || n.starts_with("check:")
        || n == "style"
        || (any(&["format", "fmt"]) && any(&["check"]))
    {
        Some(CheckKind::Lint)
    } else if any(&["test", "tests", "spec", "ci", "unit", "integration", "e2e"]) {
        Some(CheckKind::Test)
    } else {
        None
    }
}

/// Make targets: `check` runs the test suite (GNU's convention).
fn make_target_kind(target: &str) -> Option<CheckKind> {
    match target {
        "check" | "ci" | "test" | "tests" => Some(CheckKind::Test),
        t => kind_of_name(t),
    }
}

/// What `command` (one simple command, no `&&`) is for.
pub(super) fn classify(command: &str) -> Role {
    let raw: Vec<&str> = command.split_whitespace().collect();
    if raw
        .first()
        .is_some_and(|w| matches!(*w, "sudo" | "apt-get" | "apt" | "brew" | "choco"))
    {
        return Role::Privileged;
    }
    let words = program(command);
    let Some(first) = words.first() else {
        return Role::Other;
    };
    let prog = first.rsplit('/').next().unwrap_or(first);
    let arg = |i: usize| words.get(i).copied().unwrap_or("");
    match prog {
        "pip" | "pip3" if arg(1) == "install" => Role::Setup(Eco::Python),
        "uv" if matches!(arg(1), "sync" | "pip") => Role::Setup(Eco::Python),
        "poetry" | "pdm" | "pipenv" if matches!(arg(1), "install" | "sync") => {
            Role::Setup(Eco::Python)
        }
        "npm" if matches!(arg(1), "ci" | "install" | "i") => Role::Setup(Eco::Node),
        "pnpm" if matches!(arg(1), "install" | "i") => Role::Setup(Eco::Node),
        "yarn" if words.len() == 1 || arg(1) == "install" || arg(1).starts_with("--") => {
            Role::Setup(Eco::Node)
        }
        "corepack" => Role::Setup(Eco::Node),
        "go" if arg(1) == "mod" && arg(2) == "download" => Role::Setup(Eco::Other),
        "pytest" | "py.test" | "unittest" | "tox" | "nox" | "jest" | "vitest" | "mocha"
        | "ctest" | "ava" | "tap" => Role::Check(CheckKind::Test),
        "node" if words.contains(&"--test") => Role::Check(CheckKind::Test),
        "ruff" | "flake8" | "pylint" | "black" | "isort" | "eslint" | "prettier" | "biome"
        | "gofmt" | "golangci-lint" | "staticcheck" | "clang-format" | "clang-tidy"
        | "cppcheck" | "shellcheck" | "stylelint" | "markdownlint" => Role::Check(CheckKind::Lint),
        "mypy" | "pyright" | "tsc" | "vue-tsc" => Role::Check(CheckKind::Typecheck),
        "pre-commit" | "prek" if arg(1) == "run" => Role::PreCommit,
        "go" => match arg(1) {
            "test" => Role::Check(CheckKind::Test),
            "vet" => Role::Check(CheckKind::Lint),
            _ => Role::Other,
        },
        "cargo" => match arg(1) {
            "test" | "nextest" => Role::Check(CheckKind::Test),
            "clippy" | "fmt" => Role::Check(CheckKind::Lint),
            _ => Role::Other,
        },
        "make" => {
            let target = words[1..]
                .iter()
                .find(|w| !w.starts_with('-') && !w.contains('='));
            target
                .and_then(|t| make_target_kind(t))
                .map_or(Role::Other, Role::Check)
        }
        "npm" | "pnpm" | "yarn" | "bun" => {
            let script = match arg(1) {
                "run" | "run-script" => arg(2),
                "test" | "t" => "test",
                other => other,
            };
            if script.starts_with("format") && !script.contains("check") {
                return Role::Other;
            }
            kind_of_name(script).map_or(Role::Other, Role::Check)
        }
        _ => Role::Other,
    }
}

/// The read-only form of a check: fixers and formatters in check mode,
/// `go test` verbose (for counts), `cargo test` past the first failure.
pub(super) fn check_mode(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let prog_words = program(command);
    let Some(first) = prog_words.first() else {
        return command.to_string();
    };
    let prog = first.rsplit('/').next().unwrap_or(first);
    let arg = |i: usize| prog_words.get(i).copied().unwrap_or("");
    let has = |flag: &str| words.contains(&flag);
    // Where the program's words start in the full command.
    let offset = words.len() - prog_words.len();
    let without = |drop: &[&str]| -> Vec<String> {
        words
            .iter()
            .filter(|w| !drop.contains(w))
            .map(|w| w.to_string())
            .collect()
    };
    let insert_after = |mut ws: Vec<String>, at: usize, flag: &str| -> String {
        let at = at.min(ws.len());
        ws.insert(at, flag.to_string());
        ws.join(" ")
    };
    match prog {
        "ruff" if arg(1) == "format" => {
            if has("--check") || has("--diff") {
                command.to_string()
            } else {
                insert_after(without(&[]), offset + 2, "--check")
            }
        }
        "ruff" => {
            let ws = without(&["--fix", "--unsafe-fixes", "--fix-only"]);
            if has("--no-fix") {
                ws.join(" ")
            } else if arg(1) == "check" {
                insert_after(ws, offset + 2, "--no-fix")
            } else {
                insert_after(ws, offset + 1, "check --no-fix")
            }
        }
        "black" if !has("--check") && !has("--diff") => {
            insert_after(without(&[]), offset + 1, "--check")
        }
        "isort" if !has("--check") && !has("--check-only") && !has("-c") => {
            insert_after(without(&[]), offset + 1, "--check-only")
        }
        "eslint" | "stylelint" | "markdownlint" => without(&["--fix"]).join(" "),
        "biome" => without(&["--write", "--apply", "--fix"]).join(" "),
        "prettier" => {
            let ws = without(&["--write", "-w"]);
            if ["--check", "-c", "--list-different", "-l"]
                .iter()
                .any(|f| has(f))
            {
                ws.join(" ")
            } else {
                insert_after(ws, offset + 1, "--check")
            }
        }
        "clang-format" => {
            let ws = without(&["-i"]);
            if has("--dry-run") || has("-n") {
                ws.join(" ")
            } else {
                insert_after(ws, offset + 1, "--dry-run --Werror")
            }
        }
        "gofmt" => {
            let rest: Vec<&str> = words[offset + 1..]
                .iter()
                .copied()
                .filter(|w| !matches!(*w, "-w" | "-l" | "-d" | "-s"))
                .collect();
            let paths = if rest.is_empty() {
                ".".to_string()
            } else {
                rest.join(" ")
            };
            format!("out=$(gofmt -l {paths}); [ -z \"$out\" ] || {{ echo \"$out\"; exit 1; }}")
        }
        "cargo" if arg(1) == "fmt" && !has("--check") => {
            let ws = without(&[]);
            match ws.iter().position(|w| w == "--") {
                Some(at) => insert_after(ws, at, "--check"),
                None => format!("{} --check", ws.join(" ")),
            }
        }
        "cargo" if arg(1) == "clippy" => without(&["--fix", "--allow-dirty"]).join(" "),
        "cargo" if arg(1) == "test" && !has("--no-fail-fast") => {
            let ws = without(&[]);
            match ws.iter().position(|w| w == "--") {
                Some(at) => insert_after(ws, at, "--no-fail-fast"),
                None => format!("{} --no-fail-fast", ws.join(" ")),
            }
        }
        "go" if arg(1) == "test" && !has("-v") && !has("-json") => {
            insert_after(without(&[]), offset + 2, "-v")
        }
        "npm" | "pnpm" | "yarn" if has("--fix") => without(&["--fix"]).join(" "),
        _ => command.to_string(),
    }
}

/// Shell keywords and builtins that are never a check or setup step.
pub(super) fn is_shell_noise(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    matches!(
        first,
        "if" | "then"
            | "else"
            | "elif"
            | "fi"
            | "for"
            | "do"
            | "done"
            | "while"
            | "case"
            | "esac"
            | "echo"
            | "printf"
            | "export"
            | "set"
            | "mkdir"
            | "source"
            | "."
            | "}"
            | "{"
            | "ls"
            | "cat"
            | "rm"
            | "cp"
            | "mv"
            | "touch"
            | "chmod"
            | "git"
            | "curl"
            | "wget"
            | "exit"
            | "true"
            | "false"
            | "["
            | "[["
            | "test"
            | "which"
            | "command"
    ) || first.ends_with(')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixers_run_in_check_mode() {
        let cases = [
            ("ruff check .", "ruff check --no-fix ."),
            ("ruff check --fix src", "ruff check --no-fix src"),
            ("ruff .", "ruff check --no-fix ."),
            ("python -m ruff check .", "python -m ruff check --no-fix ."),
            ("ruff format .", "ruff format --check ."),
            ("ruff format --check .", "ruff format --check ."),
            ("black src tests", "black --check src tests"),
            ("isort .", "isort --check-only ."),
            ("npx eslint . --fix", "npx eslint ."),
            ("prettier --write .", "prettier --check ."),
            ("npx prettier -l src", "npx prettier -l src"),
            ("cargo fmt --all", "cargo fmt --all --check"),
            (
                "cargo fmt -- --config x=y",
                "cargo fmt --check -- --config x=y",
            ),
            (
                "cargo test --workspace",
                "cargo test --workspace --no-fail-fast",
            ),
            ("go test -race ./...", "go test -v -race ./..."),
            ("go test -json ./...", "go test -json ./..."),
            (
                "gofmt -w .",
                "out=$(gofmt -l .); [ -z \"$out\" ] || { echo \"$out\"; exit 1; }",
            ),
            ("npm run lint -- --fix", "npm run lint --"),
            ("pytest -q", "pytest -q"),
        ];
        for (given, want) in cases {
            assert_eq!(check_mode(given), want, "{given}");
        }
    }

    #[test]
    fn commands_are_classified() {
        let cases = [
            ("pip install -e .[test]", Role::Setup(Eco::Python)),
            (
                "python -m pip install -r requirements-mypy.txt",
                Role::Setup(Eco::Python),
            ),
            ("npm ci", Role::Setup(Eco::Node)),
            ("pnpm install --frozen-lockfile", Role::Setup(Eco::Node)),
            ("yarn --immutable", Role::Setup(Eco::Node)),
            ("python -m pytest -q tests", Role::Check(CheckKind::Test)),
            ("COVERAGE=1 pytest", Role::Check(CheckKind::Test)),
            ("uv run mypy", Role::Check(CheckKind::Typecheck)),
            ("npm run check:lint", Role::Check(CheckKind::Lint)),
            ("pnpm run lint:js", Role::Check(CheckKind::Lint)),
            ("npm run typecheck", Role::Check(CheckKind::Typecheck)),
            ("npm run test:unit", Role::Check(CheckKind::Test)),
            ("npm test", Role::Check(CheckKind::Test)),
            ("npm run build", Role::Other),
            ("npm run format", Role::Other),
            ("make check", Role::Check(CheckKind::Test)),
            ("make -j2 lint", Role::Check(CheckKind::Lint)),
            ("make", Role::Other),
            ("go test ./...", Role::Check(CheckKind::Test)),
            ("go build ./...", Role::Other),
            ("cargo clippy -- -D warnings", Role::Check(CheckKind::Lint)),
            ("pre-commit run --all-files", Role::PreCommit),
            ("sudo apt-get install -y libfoo", Role::Privileged),
            ("tox -e py", Role::Check(CheckKind::Test)),
        ];
        for (given, want) in cases {
            assert_eq!(classify(given), want, "{given}");
        }
    }
}
