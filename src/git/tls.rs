//! libgit2's TLS set-up made lazy: the system's CA bundle is read at the first network operation, not at start-up.
//!
//! libgit2 creates its OpenSSL context when it is first used and loads the
//! CA bundle into it there (`SSL_CTX_set_default_verify_paths`), which costs
//! tens of milliseconds on every run, also on runs that only read local
//! repositories. [`init_lazily`] lets that first set-up read an empty file
//! instead, and [`load_certs`] hands libgit2 the bundle once, before the first
//! clone, fetch or push.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

/// An empty file OpenSSL can read at start-up in place of the CA bundle.
const EMPTY_FILE: &str = "/dev/null";
const CERT_FILE: &str = "SSL_CERT_FILE";
const CERT_DIR: &str = "SSL_CERT_DIR";

/// Where the CA bundle is, as git2 itself would have found it.
#[derive(Debug)]
struct Certs {
    file: Option<PathBuf>,
}

static CERTS: OnceLock<Certs> = OnceLock::new();

/// Initialises libgit2 without reading the CA bundle. Call it at start-up,
/// before any other thread exists and before any other libgit2 call: it sets
/// `SSL_CERT_FILE` for the length of the initialisation, then leaves the
/// environment as git2's own initialisation would have (the probed bundle
/// and directory). Without this call libgit2 reads the bundle at its
/// initialisation, as usual, and [`load_certs`] does nothing.
pub fn init_lazily() {
    if CERTS.get().is_some() || !std::path::Path::new(EMPTY_FILE).exists() {
        return;
    }
    // What git2's initialisation would set: the environment's values when
    // they exist, else the first bundle and directory found on the system.
    let probe = openssl_probe::probe();
    let before = std::env::var_os(CERT_FILE);
    std::env::set_var(CERT_FILE, EMPTY_FILE);
    // git2's options initialise libgit2 (and its OpenSSL context) once;
    // SAFETY: called at start-up, before any other thread uses libgit2, and
    // the value read changes nothing.
    let init = unsafe { git2::opts::get_mwindow_size() };
    restore(
        CERT_FILE,
        probe.cert_file.as_ref().map(Into::into).or(before),
    );
    if let Some(dir) = &probe.cert_dir {
        std::env::set_var(CERT_DIR, dir);
    }
    tracing::debug!(ok = init.is_ok(), certs = ?probe.cert_file, "libgit2 initialised; CA bundle deferred");
    let _ = CERTS.set(Certs {
        file: probe.cert_file,
    });
}

fn restore(name: &str, value: Option<OsString>) {
    match value {
        Some(v) => std::env::set_var(name, v),
        None => std::env::remove_var(name),
    }
}

/// Hands libgit2 the CA bundle deferred by [`init_lazily`], once; every
/// clone, fetch and push calls it before it connects. A failure is logged:
/// the connection then fails certificate checks with a clear error.
pub fn load_certs() {
    static LOADED: Once = Once::new();
    let Some(certs) = CERTS.get() else {
        return;
    };
    LOADED.call_once(|| {
        let started = std::time::Instant::now();
        // The directory (`SSL_CERT_DIR`) is searched lazily by OpenSSL and
        // was set at initialisation; only the bundle was deferred.
        if let Some(file) = &certs.file {
            // SAFETY: libgit2 adds the file to its OpenSSL context under
            // OpenSSL's own store lock; every caller that connects waits here
            // until it is in, so no handshake runs without it.
            if let Err(e) = unsafe { git2::opts::set_ssl_cert_file(file) } {
                tracing::warn!(file = %file.display(), error = %e, "CA bundle not loaded");
            }
        }
        tracing::debug!(ms = started.elapsed().as_millis(), "CA certificates loaded");
    });
}
