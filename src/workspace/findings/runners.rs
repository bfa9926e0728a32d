//! Parsers for the runners whose failures need more than `file:line`:
//! vitest (`❯ file:line:col`), jest (the assertion, not the code frame),
//! ruff's full format, `go test -json`, and C test runners that print only
//! `FAILED: name (at line N)`.

use std::sync::LazyLock;

use regex::Regex;

use super::{number, regex, Raw, Resolver, TestCounts};

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| regex($pattern));
    };
}

re!(
    VITEST_FRAME,
    r"^\s*❯\s+(?:\S+\s+)?\(?([^\s()]+?):(\d+):(\d+)\)?\s*$"
);
re!(VITEST_FAIL, r"^\s*FAIL\s+(\S+)\s+>\s+(.+?)\s*$");
re!(JEST_HEADER, r"^\s*● (.+?)\s*$");
re!(CODE_FRAME, r"^\s*(?:>\s*)?\d+\s*\||^\s*\|\s*\^");
re!(AT_LINE, r"^\s*at\s");
re!(RUFF_CODE, r"^([A-Z]+[0-9]+)\s+(?:\[\*\]\s+)?(.+)$");
re!(RUFF_ARROW, r"^\s*--> ([^\s:]+):(\d+):(\d+)$");
re!(
    AT_LINE_FAIL,
    r"(?i)\bfail(?:ed|ure)?\b[:\s]+(?:test\s+)?'?([A-Za-z_][\w.:]*)'?.*?\bat line (\d+)"
);
re!(
    NAME_FAIL_AT_LINE,
    r"^\s*([A-Za-z_]\w*)\b.*?\bFAIL(?:ED)?\b.*?\bat line (\d+)"
);

/// Whether a path looks like a test file.
pub(super) fn is_test_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.contains("test") && !path.contains("node_modules")
        || name.contains(".spec.")
        || name.starts_with("test_")
        || name.ends_with("_test.go")
}

/// vitest: each failure's error line, then `❯ file:line:col` frames; the
/// frame in a test file is the assertion, an earlier one in the repository
/// is where it threw.
pub(super) fn vitest(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut test: Option<String> = None;
    let mut message: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(c) = VITEST_FAIL.captures(line) {
            test = Some(c[2].to_string());
            message = None;
        } else if VITEST_FRAME.is_match(line) {
            let mut frames = Vec::new();
            let start = i;
            while i < lines.len()
                && (VITEST_FRAME.is_match(lines[i])
                    || CODE_FRAME.is_match(lines[i])
                    || lines[i].trim().is_empty()
                        && i + 1 < lines.len()
                        && VITEST_FRAME.is_match(lines[i + 1]))
            {
                if let Some(c) = VITEST_FRAME.captures(lines[i]) {
                    if let Some(rel) = resolver.resolve(&c[1]) {
                        frames.push((i, rel, number(&c[2]), number(&c[3])));
                    }
                }
                i += 1;
            }
            if let Some(raw) = place(
                frames,
                message.clone().or_else(|| nearest_text(lines, start)),
                test.as_deref(),
            ) {
                out.push(raw);
            }
            continue;
        } else if message.is_none() && test.is_some() && is_error_line(line) {
            message = Some(line.trim().to_string());
        }
        i += 1;
    }
    out
}

fn is_error_line(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty()
        && (t.contains("Error") || t.starts_with("expected") || t.starts_with("Expected"))
        && !t.starts_with('❯')
}

fn nearest_text(lines: &[&str], start: usize) -> Option<String> {
    lines[start.saturating_sub(10)..start]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| is_error_line(l))
        .map(str::to_string)
}

/// The finding for a stack of in-repository frames (paths relative): the test file's frame
/// (the assertion), naming the first frame when the error came from there.
pub(super) fn place(
    frames: Vec<(usize, String, Option<u32>, Option<u32>)>,
    message: Option<String>,
    test: Option<&str>,
) -> Option<Raw> {
    let first = frames.first()?.clone();
    let chosen = frames
        .iter()
        .find(|f| is_test_file(&f.1))
        .cloned()
        .unwrap_or_else(|| first.clone());
    let mut message = message.unwrap_or_else(|| "test failed".to_string());
    if let Some(t) = test {
        message = format!("{t}: {message}");
    }
    if chosen != first {
        if let Some(l) = first.2 {
            message.push_str(&format!(" (thrown at {}:{l})", first.1));
        }
    }
    Some(Raw {
        at: chosen.0,
        path: chosen.1,
        line: chosen.2?,
        column: chosen.3,
        message,
        test: None,
    })
}

/// jest: under `● suite › test`, the assertion message (`expect(…)`,
/// `Expected: …`, `Received: …`) up to the code frame, then the `at`
/// frames.
pub(super) fn jest(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(c) = JEST_HEADER.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let test = c[1].to_string();
        i += 1;
        let mut message = Vec::new();
        while i < lines.len()
            && !CODE_FRAME.is_match(lines[i])
            && !AT_LINE.is_match(lines[i])
            && !JEST_HEADER.is_match(lines[i])
        {
            let t = lines[i].trim();
            if !t.is_empty() {
                message.push(t.to_string());
            }
            i += 1;
        }
        let mut frames = Vec::new();
        while i < lines.len() && !JEST_HEADER.is_match(lines[i]) {
            if let Some(c) = super::AT_FRAME.captures(lines[i]) {
                if let Some(rel) = resolver.resolve(&c[1]) {
                    frames.push((i, rel, number(&c[2]), number(&c[3])));
                }
            } else if !frames.is_empty() && !lines[i].trim().is_empty() {
                break;
            }
            i += 1;
        }
        let text = (!message.is_empty()).then(|| message.join(" "));
        if let Some(raw) = place(frames, text, Some(&test)) {
            out.push(raw);
        }
    }
    out
}

/// ruff's full output: `F401 [*] message` then ` --> file:line:col`.
pub(super) fn ruff_full(lines: &[&str]) -> Vec<Raw> {
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(c) = RUFF_ARROW.captures(line) else {
            continue;
        };
        let Some(header) = at.checked_sub(1).and_then(|j| RUFF_CODE.captures(lines[j])) else {
            continue;
        };
        if let Some(l) = number(&c[2]) {
            out.push(Raw {
                at,
                path: c[1].to_string(),
                line: l,
                column: number(&c[3]),
                message: format!("{} {}", &header[1], &header[2]),
                test: None,
            });
        }
    }
    out
}

/// C test runners: `FAILED: test_name (at line 87)`, tied to the file that
/// defines `test_name`, with that line's source.
pub(super) fn at_line(lines: &[&str], resolver: &mut Resolver) -> Vec<Raw> {
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(c) = AT_LINE_FAIL
            .captures(line)
            .or_else(|| NAME_FAIL_AT_LINE.captures(line))
        else {
            continue;
        };
        let name = c[1].rsplit([':', '.']).next().unwrap_or(&c[1]).to_string();
        let Some(n) = number(&c[2]) else { continue };
        let Some((path, source)) = resolver.defining(&name, n) else {
            continue;
        };
        let mut message = line.trim().to_string();
        if !source.is_empty() {
            message.push_str(&format!(": {source}"));
        }
        out.push(Raw {
            at,
            path,
            line: n,
            column: None,
            message,
            test: None,
        });
    }
    out
}

/// `go test -json` events back to the text `go test -v` prints; `None`
/// when the output is not that.
pub(super) fn go_json_text(lines: &[&str]) -> Option<String> {
    let mut text = String::new();
    let mut any = false;
    for line in lines {
        if !line.starts_with('{') {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v.get("Action").is_none() {
            continue;
        }
        any = true;
        if let Some(o) = v.get("Output").and_then(|o| o.as_str()) {
            text.push_str(o);
        }
    }
    any.then_some(text)
}

/// `go test -v` counts, `None` without `=== RUN` lines: a non-verbose run
/// prints only the failures, so its counts would lie.
pub(super) fn go_verbose(lines: &[&str]) -> Option<TestCounts> {
    if !lines.iter().any(|l| l.starts_with("=== RUN")) {
        return None;
    }
    let mut counts = TestCounts::default();
    for line in lines {
        let t = line.trim_start();
        if t.starts_with("--- PASS:") {
            counts.passed += 1;
        } else if t.starts_with("--- FAIL:") {
            counts.failed += 1;
        } else if t.starts_with("--- SKIP:") {
            counts.skipped += 1;
        }
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::super::{parse_findings, parse_test_counts, Finding};
    use crate::workspace::testing::temp_repo;

    fn finding(file: &str, line: u32, column: Option<u32>, message: &str) -> Finding {
        Finding {
            file: file.into(),
            line,
            column,
            message: message.into(),
        }
    }

    // vitest 1.x default reporter, one failing assertion and one error
    // thrown in the library.
    const VITEST: &str = "
 ❯ src/sum.test.ts (2 tests | 2 failed) 4ms
   ❯ src/sum.test.ts > sum > adds
     → expected 3 to be 4 // Object.is equality

⎯⎯⎯⎯⎯⎯⎯ Failed Tests 2 ⎯⎯⎯⎯⎯⎯⎯

 FAIL  src/sum.test.ts > sum > adds
AssertionError: expected 3 to be 4 // Object.is equality

- Expected
+ Received

- 4
+ 3

 ❯ src/sum.test.ts:6:22
      4| describe('sum', () => {
      5|   it('adds', () => {
      6|     expect(sum(1, 2)).toBe(4);
       |                      ^
      7|   });

⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯[1/2]⎯

 FAIL  src/sum.test.ts > sum > divides
TypeError: Cannot divide by zero
 ❯ divide src/sum.ts:5:11
      3| export function divide(a: number, b: number) {
      4|   if (b === 0) {
      5|     throw new TypeError('Cannot divide by zero');
       |           ^
 ❯ src/sum.test.ts:9:12

 Test Files  1 failed (1)
      Tests  2 failed (2)
";

    // jest 29.
    const JEST: &str = "
 FAIL  src/sum.test.js
  sum
    ✕ adds (3 ms)

  ● sum › adds

    expect(received).toBe(expected) // Object.is equality

    Expected: 4
    Received: 3

      66 | describe('sum', () => {
      67 |   test('adds', () => {
    > 68 |     expect(sum(1, 2)).toBe(4);
         |                       ^
      69 |   });

      at Object.toBe (src/sum.test.js:68:23)

Tests:       1 failed, 3 passed, 4 total
";

    #[test]
    fn vitest_and_jest_name_the_assertion_and_where_it_threw() {
        let dir = temp_repo(&[
            ("src/sum.ts", ""),
            ("src/sum.test.ts", ""),
            ("src/sum.test.js", ""),
        ]);
        assert_eq!(
            parse_findings(VITEST, dir.path()),
            vec![
                finding(
                    "src/sum.test.ts",
                    6,
                    Some(22),
                    "sum > adds: AssertionError: expected 3 to be 4 // Object.is equality"
                ),
                finding(
                    "src/sum.test.ts",
                    9,
                    Some(12),
                    "sum > divides: TypeError: Cannot divide by zero (thrown at src/sum.ts:5)"
                ),
            ]
        );
        assert_eq!(
            parse_findings(JEST, dir.path()),
            vec![finding(
                "src/sum.test.js",
                68,
                Some(23),
                "sum › adds: expect(received).toBe(expected) // Object.is equality Expected: 4 Received: 3"
            )]
        );
        let counts = parse_test_counts(JEST).unwrap();
        assert_eq!((counts.passed, counts.failed), (3, 1));
    }

    #[test]
    fn ruff_full_format() {
        let out = "F401 [*] `os` imported but unused\n --> src/calc/__init__.py:1:8\n  |\n1 | import os\n  |        ^^\nhelp: Remove unused import: `os`\n\nFound 1 error.\n";
        let dir = temp_repo(&[("src/calc/__init__.py", "")]);
        assert_eq!(
            parse_findings(out, dir.path()),
            vec![finding(
                "src/calc/__init__.py",
                1,
                Some(8),
                "F401 `os` imported but unused"
            )]
        );
    }

    #[test]
    fn a_c_runner_that_prints_only_the_line() {
        let mut source = String::from("#include \"check.h\"\n");
        for i in 3..87 {
            source.push_str(&format!("/* {i} */\n"));
        }
        source.push_str("    CHECK(parse_header(buf) == 3);\n");
        let text = format!("static void test_parse_header(void) {{\n{source}}}\n");
        let dir = temp_repo(&[
            ("tests/test_parser.c", &text),
            ("src/parser.c", "int parse_header(char *b);\n"),
        ]);
        let out = "cc -o tests/run tests/test_parser.c\n./tests/run\nPASS: test_tokenize\nFAILED: test_parse_header (at line 87)\n1 of 2 tests failed\nmake: *** [Makefile:12: test] Error 1\n";
        assert_eq!(
            parse_findings(out, dir.path()),
            vec![finding(
                "tests/test_parser.c",
                87,
                None,
                "FAILED: test_parse_header (at line 87): CHECK(parse_header(buf) == 3);"
            )]
        );
    }

    #[test]
    fn go_counts_need_verbose_or_json() {
        // `go test ./...` without -v: only failures are printed.
        let quiet = "--- FAIL: TestAdd (0.00s)\n    calc_test.go:9: Add(1, 2) = 4, want 3\nFAIL\nFAIL\texample.com/calc\t0.002s\nok  \texample.com/calc/parse\t0.003s\n";
        assert_eq!(parse_test_counts(quiet), None);
        let json = concat!(
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"run\",\"Package\":\"example.com/calc\",\"Test\":\"TestAdd\"}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"output\",\"Package\":\"example.com/calc\",\"Test\":\"TestAdd\",\"Output\":\"=== RUN   TestAdd\\n\"}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"output\",\"Package\":\"example.com/calc\",\"Test\":\"TestAdd\",\"Output\":\"    calc_test.go:9: Add(1, 2) = 4, want 3\\n\"}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"output\",\"Package\":\"example.com/calc\",\"Test\":\"TestAdd\",\"Output\":\"--- FAIL: TestAdd (0.00s)\\n\"}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"fail\",\"Package\":\"example.com/calc\",\"Test\":\"TestAdd\",\"Elapsed\":0}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"output\",\"Package\":\"example.com/calc\",\"Test\":\"TestSub\",\"Output\":\"=== RUN   TestSub\\n\"}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"output\",\"Package\":\"example.com/calc\",\"Test\":\"TestSub\",\"Output\":\"--- PASS: TestSub (0.00s)\\n\"}\n",
            "{\"Time\":\"2024-05-01T10:00:00Z\",\"Action\":\"fail\",\"Package\":\"example.com/calc\",\"Elapsed\":0.002}\n",
        );
        let counts = parse_test_counts(json).unwrap();
        assert_eq!((counts.passed, counts.failed, counts.skipped), (1, 1, 0));
        let dir = temp_repo(&[("calc/calc_test.go", "")]);
        assert_eq!(
            parse_findings(json, dir.path()),
            vec![finding(
                "calc/calc_test.go",
                9,
                None,
                "Add(1, 2) = 4, want 3"
            )]
        );
    }

    #[test]
    fn pytest_says_the_assertion_once() {
        let out = "    def test_add():\n>       assert_equal(add(1, 2), 4)\nE       AssertionError: 3 != 4\n\ntests/test_calc.py:5: AssertionError\n=========================== short test summary info ============================\nFAILED tests/test_calc.py::test_add - AssertionError: 3 != 4\n============================== 1 failed in 0.03s ===============================\n";
        let dir = temp_repo(&[("tests/test_calc.py", "")]);
        assert_eq!(
            parse_findings(out, dir.path()),
            vec![finding(
                "tests/test_calc.py",
                5,
                None,
                "AssertionError: 3 != 4"
            )]
        );
    }
}
