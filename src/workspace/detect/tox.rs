//! tox's ini configuration (`tox.ini`, or `[tool.tox] legacy_tox_ini` in
//! `pyproject.toml`): each env's `deps`, `extras` and `commands`
//! (inherited from `[testenv]`), and the `envlist` that runs by default.
//! Substitutions other than the common ones leave a command out, with a
//! note.

use super::sessions::{Runner, Session};

/// The `key = value` pairs of one section, continuation lines joined with
/// newlines.
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let header = format!("[{name}]");
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && !line.starts_with([' ', '\t']) {
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().replace('-', "_"), v.trim().to_string()));
        }
    }
    Some(out)
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Items of a list value: one per line or comma.
fn items(value: &str) -> Vec<String> {
    value
        .lines()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `py{310,311}-lint` → `py310-lint`, `py311-lint` (one brace group).
fn expand(name: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (name.find('{'), name.find('}')) else {
        return vec![name.to_string()];
    };
    if close < open {
        return vec![name.to_string()];
    }
    name[open + 1..close]
        .split(',')
        .flat_map(|f| {
            expand(&format!(
                "{}{}{}",
                &name[..open],
                f.trim(),
                &name[close + 1..]
            ))
        })
        .collect()
}

/// The envlist, brace groups expanded; lists in braces across commas are
/// rejoined first (`py{310, 311}`).
fn envlist(value: &str) -> Vec<String> {
    let mut joined = String::new();
    let mut depth = 0;
    for c in value.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '\n' if depth > 0 => continue,
            _ => {}
        }
        joined.push(if c == '\n' { ',' } else { c });
    }
    let mut names = Vec::new();
    let mut current = String::new();
    depth = 0;
    for c in joined.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    names.push(current);
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .flat_map(expand)
        .collect()
}

/// A command with tox's common substitutions made, or why it is left out.
fn substitute(line: &str) -> Result<String, String> {
    if line.starts_with('-') {
        return Err("tox ignores its exit status".into());
    }
    if line
        .split_once(':')
        .is_some_and(|(f, _)| !f.is_empty() && !f.contains([' ', '/', '{']))
    {
        return Err("it runs only for some factors".into());
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err("an unbalanced `{`".into());
        };
        let inner = &rest[open + 1..open + close];
        match inner.split_once(':').map_or(inner, |(k, _)| k) {
            "posargs" => {
                if let Some((_, default)) = inner.split_once(':') {
                    out.push_str(default);
                }
            }
            "toxinidir" | "tox_root" => out.push('.'),
            "envpython" | "env_python" => out.push_str("python"),
            "envbindir" | "env_bin_dir" => {
                // `{envbindir}/pytest` → `pytest`.
                rest = rest[open + close + 1..].trim_start_matches('/');
                continue;
            }
            _ => return Err(format!("tox substitutes `{{{inner}}}`")),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn session(
    file: &str,
    name: &str,
    section_name: &str,
    own: &[(String, String)],
    base: &[(String, String)],
) -> Session {
    let value = |key: &str| get(own, key).or_else(|| get(base, key));
    let source = if section_name == "testenv" && name != "testenv" {
        format!("{file} [testenv] (env {name})")
    } else {
        format!("{file} [{section_name}]")
    };
    let mut notes = Vec::new();
    let mut install = Vec::new();
    for dep in value("deps")
        .map(|v| v.lines().map(str::trim))
        .into_iter()
        .flatten()
    {
        if dep == "{[testenv]deps}" {
            install.extend(
                get(base, "deps")
                    .into_iter()
                    .flat_map(|d| d.lines())
                    .map(|d| d.trim().to_string()),
            );
        } else if dep.contains('{') || dep.contains(':') && !dep.contains("://") {
            notes.push(format!(
                "{source}: dependency `{dep}` left out (a substitution or a factor)"
            ));
        } else if !dep.is_empty() {
            install.push(dep.to_string());
        }
    }
    // tox installs the project into the env unless told not to.
    let skip_install = value("skip_install").is_some_and(|v| v == "true")
        || value("package").is_some_and(|v| v == "skip");
    if !skip_install {
        install.push(match value("extras") {
            Some(extras) => format!("-e .[{}]", items(extras).join(",")),
            None => "-e .".to_string(),
        });
    }
    let cd = value("changedir")
        .and_then(|d| substitute(d).ok())
        .filter(|d| d != ".");
    let mut commands = Vec::new();
    for line in value("commands").map(str::lines).into_iter().flatten() {
        let line = line.trim().trim_end_matches('\\').trim();
        if line.is_empty() {
            continue;
        }
        match substitute(line) {
            Ok(c) if !c.is_empty() => commands.push(match &cd {
                Some(d) => format!("cd {d} && {c}"),
                None => c,
            }),
            Ok(_) => {}
            Err(why) => notes.push(format!("{source}: `{line}` left out: {why}")),
        }
    }
    Session {
        name: name.to_string(),
        source,
        install,
        commands,
        notes,
    }
}

/// Where tox reads its ini text from in `pyproject.toml`.
pub(super) const PYPROJECT_INI: &str = "pyproject.toml [tool.tox] legacy_tox_ini";

/// The ini text of `[tool.tox] legacy_tox_ini`, when `pyproject.toml`
/// has one (tox reads it only where there is no `tox.ini`).
pub(super) fn legacy_ini(pyproject: &str) -> Option<String> {
    let table: toml::Table = pyproject.parse().ok()?;
    let ini = table.get("tool")?.get("tox")?.get("legacy_tox_ini")?;
    ini.as_str().map(str::to_string)
}

/// The envs of ini text read from `file` (named in each env's source).
pub(super) fn parse(file: &str, text: &str) -> Runner {
    let base = section(text, "testenv").unwrap_or_default();
    let mut sessions = Vec::new();
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[testenv:")?.strip_suffix(']'))
        .map(str::to_string)
        .collect();
    for name in &names {
        let section_name = format!("testenv:{name}");
        let own = section(text, &section_name).unwrap_or_default();
        sessions.push(session(file, name, &section_name, &own, &base));
    }
    let tox = section(text, "tox").unwrap_or_default();
    let default = get(&tox, "envlist")
        .or_else(|| get(&tox, "env_list"))
        .map(envlist)
        .unwrap_or_default();
    for name in &default {
        if !sessions.iter().any(|s| &s.name == name) {
            sessions.push(session(file, name, "testenv", &[], &base));
        }
    }
    Runner { sessions, default }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOX_INI: &str = r#"
[tox]
envlist = py{310,311}, lint
isolated_build = true

[testenv]
description = run the tests
deps =
    pytest>=7
    -r requirements-test.txt
extras = test
commands =
    pytest {posargs:tests} --tb=short
    - coverage report
    py310: python -c "print(1)"

[testenv:lint]
skip_install = true
deps = ruff==0.4.4
commands = ruff check {toxinidir}/src
    {envbindir}/ruff format --check src

[testenv:docs]
changedir = docs
deps = sphinx
commands = sphinx-build -W -b html . {envtmpdir}/html
"#;

    #[test]
    fn envs_inherit_from_testenv_and_substitute_conservatively() {
        let runner = parse("tox.ini", TOX_INI);
        let py = Session {
            name: "py310".into(),
            source: "tox.ini [testenv] (env py310)".into(),
            install: vec![
                "pytest>=7".into(),
                "-r requirements-test.txt".into(),
                "-e .[test]".into(),
            ],
            commands: vec!["pytest tests --tb=short".into()],
            notes: vec![
                "tox.ini [testenv] (env py310): `- coverage report` left out: tox ignores its exit status".into(),
                "tox.ini [testenv] (env py310): `py310: python -c \"print(1)\"` left out: it runs only for some factors".into(),
            ],
        };
        assert_eq!(runner.default, vec!["py310", "py311", "lint"]);
        assert_eq!(
            runner.sessions,
            vec![
                Session {
                    name: "lint".into(),
                    source: "tox.ini [testenv:lint]".into(),
                    install: vec!["ruff==0.4.4".into()],
                    commands: vec![
                        "ruff check ./src".into(),
                        "ruff format --check src".into()
                    ],
                    notes: vec![],
                },
                Session {
                    name: "docs".into(),
                    source: "tox.ini [testenv:docs]".into(),
                    install: vec!["sphinx".into(), "-e .[test]".into()],
                    commands: vec![],
                    notes: vec!["tox.ini [testenv:docs]: `sphinx-build -W -b html . {envtmpdir}/html` left out: tox substitutes `{envtmpdir}`".into()],
                },
                py.clone(),
                Session {
                    name: "py311".into(),
                    source: "tox.ini [testenv] (env py311)".into(),
                    notes: py
                        .notes
                        .iter()
                        .map(|n| n.replace("py310)", "py311)"))
                        .collect(),
                    ..py.clone()
                },
            ]
        );
    }
}
