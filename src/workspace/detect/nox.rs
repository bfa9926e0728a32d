//! `noxfile.py`, read without running it: the `@nox.session` functions,
//! their `session.install(...)` and `session.run(...)` calls with literal
//! arguments, and `nox.options.sessions`. Anything dynamic is left out
//! with a note.

use super::sessions::{Runner, Session};

/// One Python string literal at the start of `s`: its value and length.
fn string_literal(s: &str) -> Option<(String, usize)> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            value.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some((value, i + 1));
        } else {
            value.push(c);
        }
    }
    None
}

/// The text between the parenthesis at the start of `s` and its match.
fn call_args(s: &str) -> Option<&str> {
    let mut depth = 0;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with(['"', '\'']) {
            i += string_literal(rest).map_or(1, |(_, n)| n);
            continue;
        }
        match rest.chars().next()? {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[1..i]);
                }
            }
            _ => {}
        }
        i += rest.chars().next()?.len_utf8();
    }
    None
}

/// Splits arguments at top-level commas.
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    let mut i = 0;
    while i < args.len() {
        let rest = &args[i..];
        if rest.starts_with(['"', '\'']) {
            let n = string_literal(rest).map_or(rest.len(), |(_, n)| n);
            current.push_str(&rest[..n]);
            i += n;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current).trim().to_string());
                i += 1;
                continue;
            }
            _ => {}
        }
        current.push(c);
        i += c.len_utf8();
    }
    out.push(current.trim().to_string());
    out.retain(|a| !a.is_empty());
    out
}

/// The literal positional arguments of a call; `Err` names the first
/// argument that is not a literal. `*session.posargs` is dropped, keyword
/// arguments (`external=True`, `env=…`) are ignored.
fn literal_args(args: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for a in split_args(args) {
        if a.starts_with("*session.posargs") {
            continue;
        }
        if a.split_once('=').is_some_and(|(k, _)| {
            k.trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        }) {
            continue;
        }
        match string_literal(&a) {
            Some((value, n)) if n == a.len() => out.push(value),
            _ => return Err(a),
        }
    }
    Ok(out)
}

/// Shell-quotes one word when it needs it.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%[]".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The session's name (`name=` in the decorator, else the function's) and
/// whether it runs by default.
fn decorator_name(decorator: &str) -> (Option<String>, bool) {
    let args = decorator
        .find('(')
        .and_then(|i| call_args(&decorator[i..]))
        .unwrap_or("");
    let mut name = None;
    let mut default = true;
    for a in split_args(args) {
        if let Some((k, v)) = a.split_once('=') {
            match k.trim() {
                "name" => name = string_literal(v.trim()).map(|(s, _)| s),
                "default" => default = v.trim() != "False",
                _ => {}
            }
        }
    }
    (name, default)
}

pub(super) fn parse(text: &str) -> Runner {
    let lines: Vec<&str> = text.lines().collect();
    let mut sessions = Vec::new();
    let mut defaults = Vec::new();
    let mut explicit: Option<Vec<String>> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.trim().strip_prefix("nox.options.sessions") {
            let value = rest.trim_start().trim_start_matches('=').trim();
            let list = value
                .find('[')
                .and_then(|at| call_args(&value[at..]))
                .and_then(|a| literal_args(a).ok());
            explicit = list;
        }
        if !line.starts_with("@nox.session") {
            i += 1;
            continue;
        }
        // The decorator may span lines; the `def` follows it.
        let mut decorator = String::from(line);
        i += 1;
        while i < lines.len() && !lines[i].starts_with("def ") {
            decorator.push_str(lines[i].trim());
            i += 1;
        }
        let Some(def) = lines.get(i) else { break };
        let function = def
            .trim_start_matches("def ")
            .split('(')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let (named, default) = decorator_name(&decorator);
        let name = named.unwrap_or_else(|| function.clone());
        let source = format!("noxfile.py session {name}");
        // The body: indented lines until the next top-level line.
        let start = i + 1;
        let mut end = start;
        while end < lines.len() {
            let l = lines[end];
            if !l.trim().is_empty() && !l.starts_with([' ', '\t']) && !l.starts_with('#') {
                break;
            }
            end += 1;
        }
        let body = lines[start..end].join("\n");
        let indent = lines[start..end]
            .iter()
            .find(|l| !l.trim().is_empty())
            .map_or(4, |l| l.len() - l.trim_start().len());
        let mut session = Session {
            name: name.clone(),
            source: source.clone(),
            install: Vec::new(),
            commands: Vec::new(),
            notes: Vec::new(),
        };
        for (at, _) in body.match_indices("session.") {
            let call = &body[at + "session.".len()..];
            let method = call.split('(').next().unwrap_or("");
            if !matches!(method, "run" | "install") {
                continue;
            }
            let Some(args) = call_args(&call[method.len()..]) else {
                continue;
            };
            let line_start = body[..at].rfind('\n').map_or(0, |n| n + 1);
            let depth = body[line_start..at].len() - body[line_start..at].trim_start().len();
            let shown = format!("session.{method}({args})");
            if depth > indent {
                session.notes.push(format!(
                    "{source}: `{shown}` left out: it runs only under a condition"
                ));
                continue;
            }
            match literal_args(args) {
                Ok(words) if method == "run" && !words.is_empty() => {
                    let words: Vec<String> = words.iter().map(|w| shell_word(w)).collect();
                    session.commands.push(words.join(" "));
                }
                Ok(words) => {
                    let mut it = words.into_iter();
                    while let Some(w) = it.next() {
                        if matches!(w.as_str(), "-e" | "-r" | "-c" | "--editable") {
                            let next = it.next().unwrap_or_default();
                            session.install.push(format!("{w} {next}"));
                        } else {
                            session.install.push(w);
                        }
                    }
                }
                Err(arg) => session.notes.push(format!(
                    "{source}: `{shown}` left out: `{arg}` is not a literal"
                )),
            }
        }
        if default {
            defaults.push(name);
        }
        sessions.push(session);
        i = end;
    }
    Runner {
        sessions,
        default: explicit.unwrap_or(defaults),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOXFILE: &str = r#"
import nox

nox.options.sessions = ["tests", "lint"]
PYTHONS = ["3.11", "3.12"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[test]", "pytest-cov")
    session.run(
        "pytest",
        "--cov=acme",
        *session.posargs,
        env={"PYTHONWARNINGS": "error"},
    )
    if session.interactive:
        session.run("coverage", "html")


@nox.session(name="lint", reuse_venv=True)
def lint_code(session):
    session.install("ruff==0.4.4")
    session.run("ruff", "check", "src", external=True)
    session.run("ruff", "format", "--check", "src")


@nox.session(default=False)
def docs(session):
    session.run("sphinx-build", "docs", f"{session.cache_dir}/html")
"#;

    #[test]
    fn sessions_and_their_literal_calls() {
        assert_eq!(
            parse(NOXFILE),
            Runner {
                sessions: vec![
                    Session {
                        name: "tests".into(),
                        source: "noxfile.py session tests".into(),
                        install: vec!["-e .[test]".into(), "pytest-cov".into()],
                        commands: vec!["pytest --cov=acme".into()],
                        notes: vec![
                            "noxfile.py session tests: `session.run(\"coverage\", \"html\")` left out: it runs only under a condition".into()
                        ],
                    },
                    Session {
                        name: "lint".into(),
                        source: "noxfile.py session lint".into(),
                        install: vec!["ruff==0.4.4".into()],
                        commands: vec![
                            "ruff check src".into(),
                            "ruff format --check src".into()
                        ],
                        notes: vec![],
                    },
                    Session {
                        name: "docs".into(),
                        source: "noxfile.py session docs".into(),
                        install: vec![],
                        commands: vec![],
                        notes: vec![
                            "noxfile.py session docs: `session.run(\"sphinx-build\", \"docs\", f\"{session.cache_dir}/html\")` left out: `f\"{session.cache_dir}/html\"` is not a literal".into()
                        ],
                    },
                ],
                default: vec!["tests".into(), "lint".into()],
            }
        );
        let no_options = NOXFILE.replace("nox.options.sessions = [\"tests\", \"lint\"]\n", "");
        assert_eq!(parse(&no_options).default, vec!["tests", "lint"]);
    }
}
