//! The `deckhand` binary's edge: reads the environment once, sets up
//! logging, runs the command, and turns errors into exit code 1 with a clear
//! message. Logs and errors pass through the redactor like all other output.

use std::io::Write;

use clap::Parser;
use deckhand::cli::{self, exit, Cli};
use deckhand::config::EnvSnapshot;
use deckhand::sandbox::Redactor;

/// stderr, with secrets masked in every log line.
struct RedactingStderr(Redactor);

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(self.0.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() {
    harden_process();
    let cli = Cli::parse();
    let env = EnvSnapshot::from_process();
    let redactor = cli::process_redactor(&env);
    let log_redactor = redactor.clone();
    tracing_subscriber::fmt()
        .with_writer(move || RedactingStderr(log_redactor.clone()))
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DECKHAND_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    if let Err(e) = deckhand::git::isolate_config() {
        eprintln!("error: {e}");
        std::process::exit(exit::ERROR);
    }
    let runtime = match runtime_builder(env.get(ASYNC_THREADS)).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(exit::ERROR);
        }
    };
    let code = match runtime.block_on(cli::main(cli, env)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&format!("{e:#}")));
            exit::ERROR
        }
    };
    // Do not wait for blocking reads (a terminal prompt) to finish.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// How many threads run async work: `1` runs everything on the main
/// thread (a current-thread runtime: blocking there stops every timer,
/// pipe and progress update, which is how tests prove git work is off it);
/// `N` runs N workers; unset or invalid, tokio's default.
const ASYNC_THREADS: &str = "DECKHAND_ASYNC_THREADS";

fn runtime_builder(threads: Option<&str>) -> tokio::runtime::Builder {
    match threads.and_then(|t| t.trim().parse::<usize>().ok()) {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) if n > 1 => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
}

/// No core dumps and no `/proc/<pid>/environ` or `mem` for processes of the
/// same user (the agent's commands locally): the model key and the token
/// live in this process.
fn harden_process() {
    // SAFETY: PR_SET_DUMPABLE takes plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        eprintln!(
            "warning: could not make deckhand non-dumpable: {}",
            std::io::Error::last_os_error()
        );
    }
}
