//! Progress on stderr (one line per step) and, with `--json`, one JSON
//! event per line on stdout. Everything passes through the redactor.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::llm::Usage;
use crate::sandbox::Redactor;

/// One thing that happened, as written with `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    TaskStarted {
        task_id: String,
        repo: String,
        branch: String,
        task: String,
        provider: String,
        model: String,
    },
    RoleStarted {
        role: String,
        attempt: u32,
    },
    ModelReply {
        role: String,
        usage: Usage,
        tool_calls: usize,
    },
    ToolCall {
        role: String,
        tool: String,
        input: serde_json::Value,
        ok: bool,
        summary: String,
    },
    CommandRun {
        purpose: String,
        command: String,
        exit_code: Option<i32>,
        timed_out: bool,
        duration_ms: u128,
        passed: Option<u32>,
        failed: Option<u32>,
    },
    VerifyResult {
        attempt: u32,
        passed: bool,
        checks: Vec<CheckSummary>,
        criteria_met: Option<(usize, usize)>,
    },
    Question {
        question: String,
    },
    PlanUpdated {
        plan: Vec<crate::task::PlanItem>,
    },
    Committed {
        commit: String,
        message: String,
    },
    TaskFinished {
        task_id: String,
        status: String,
        exit_code: i32,
        branch: String,
        pr_path: String,
        stop_reason: Option<String>,
        usage: Usage,
        cost_usd: Option<f64>,
    },
}

/// One check's outcome inside [`Event::VerifyResult`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckSummary {
    pub kind: String,
    pub command: String,
    pub passed: bool,
    pub exit_code: Option<i32>,
}

/// Writes progress and events. Cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

/// Sees every event (with or without `--json`): the action's live
/// progress comment listens here.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

struct Inner {
    json: bool,
    observer: Option<Observer>,
    redactor: Redactor,
    stdout: Mutex<Box<dyn Write + Send>>,
    stderr: Mutex<Box<dyn Write + Send>>,
}

impl Reporter {
    pub fn new(json: bool, redactor: Redactor) -> Self {
        Self::with_writers(
            json,
            redactor,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
    }

    /// A reporter on stdout/stderr that also tells `observer` of every event.
    pub fn with_observer(json: bool, redactor: Redactor, observer: Observer) -> Self {
        let mut reporter = Self::new(json, redactor);
        if let Some(inner) = Arc::get_mut(&mut reporter.inner) {
            inner.observer = Some(observer);
        }
        reporter
    }

    pub fn with_writers(
        json: bool,
        redactor: Redactor,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Self {
        Reporter {
            inner: Arc::new(Inner {
                json,
                observer: None,
                redactor,
                stdout: Mutex::new(stdout),
                stderr: Mutex::new(stderr),
            }),
        }
    }

    pub fn json(&self) -> bool {
        self.inner.json
    }

    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// A progress line on stderr.
    pub fn progress(&self, line: &str) {
        let line = self.inner.redactor.redact(line);
        if let Ok(mut err) = self.inner.stderr.lock() {
            let _ = writeln!(err, "{line}");
            let _ = err.flush();
        }
    }

    /// A JSON event on stdout (only with `--json`).
    pub fn event(&self, event: Event) {
        if let Some(observer) = &self.inner.observer {
            observer(&event);
        }
        if !self.inner.json {
            return;
        }
        // String values are masked one by one: a one-character secret
        // must not break the line's JSON.
        let Ok(text) = self.inner.redactor.to_json(&event) else {
            return;
        };
        if let Ok(mut out) = self.inner.stdout.lock() {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    /// The result on stdout (only without `--json`).
    pub fn result(&self, text: &str) {
        if self.inner.json {
            return;
        }
        self.stdout_line(text);
    }

    fn stdout_line(&self, text: &str) {
        let text = self.inner.redactor.redact(text);
        if let Ok(mut out) = self.inner.stdout.lock() {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

/// `2.1 s`, `350 ms`, `3 min 4 s`.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_events_on_stdout_are_redacted_and_progress_goes_to_stderr() {
        let (out, err) = (Buf::default(), Buf::default());
        let r = Reporter::with_writers(
            true,
            Redactor::new(["topsecret"]),
            Box::new(out.clone()),
            Box::new(err.clone()),
        );
        r.progress("🔄 using topsecret");
        r.event(Event::Question {
            question: "is topsecret ok?".into(),
        });
        r.result("not shown with --json");
        let out = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let err = String::from_utf8(err.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "{\"event\":\"question\",\"question\":\"is *** ok?\"}\n"
        );
        assert_eq!(err, "🔄 using ***\n");
    }

    #[test]
    fn durations_read_naturally() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_millis(350)), "350 ms");
        assert_eq!(human_duration(Duration::from_millis(2100)), "2.1 s");
        assert_eq!(human_duration(Duration::from_secs(184)), "3 min 4 s");
    }
}
