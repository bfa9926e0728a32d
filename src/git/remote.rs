//! The hosted repository over HTTP(S) with a token: clone, fetch one branch, and push one branch fast-forward only.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    Cred, CredentialType, ErrorClass, ErrorCode, FetchOptions, Oid, ProxyOptions, PushOptions,
    RemoteCallbacks, Repository,
};

use super::{ctx, GitError, LocalRepo};

/// HTTP Basic user name GitHub expects with an installation or `GITHUB_TOKEN` token.
const TOKEN_USER: &str = "x-access-token";
/// Retries after the first attempt of a network operation that failed transiently.
const MAX_RETRIES: u32 = 3;
/// Backoff unit: the n-th retry waits n times this.
const BACKOFF: Duration = Duration::from_millis(400);
/// Where `fetch_branch` and `clone_with_reference` keep the remote's branches.
const TRACKING_PREFIX: &str = "refs/remotes/origin/";
/// Temporary refs holding the objects borrowed from a local checkout.
const SEED_PREFIX: &str = "refs/deckhand-seed/";

/// A hosted repository and the token that opens it. The token is only ever
/// handed to git2's credentials callback: never in a URL, config or error.
#[derive(Clone)]
pub struct Remote {
    /// `{GITHUB_SERVER_URL}/{owner}/{repo}.git`.
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &redact_url(&self.url))
            .field("token", &"***")
            .finish()
    }
}

/// A network attempt's failure: worth retrying, or final.
enum Failure {
    Net(git2::Error),
    Final(GitError),
}

impl From<git2::Error> for Failure {
    fn from(e: git2::Error) -> Failure {
        Failure::Net(e)
    }
}

impl Remote {
    /// Callbacks that answer the first credentials request with the token
    /// and refuse any further one (a refused token would otherwise loop).
    /// The token goes only to this remote's own URL: never to one that
    /// configuration (`insteadOf`, a changed remote) led git to instead.
    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut offered = false;
        callbacks.credentials(move |url, _user, allowed| {
            if !self.is_own_url(url) {
                tracing::warn!(asked = %redact_url(url), expected = %self.shown_url(), "credentials refused to a URL that is not the remote's");
                return Err(auth_error(&format!(
                    "{} asked for the token, but the remote is {}; the token is only sent to the remote",
                    redact_url(url),
                    self.shown_url()
                )));
            }
            if self.token.is_empty() {
                return Err(auth_error("no token was given"));
            }
            if offered {
                return Err(auth_error("the server refused the token"));
            }
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return Err(auth_error(
                    "the server does not accept a user name and token",
                ));
            }
            offered = true;
            Cred::userpass_plaintext(TOKEN_USER, &self.token)
        });
        callbacks
    }

    fn proxy(&self) -> ProxyOptions<'_> {
        let mut proxy = ProxyOptions::new();
        proxy.auto();
        proxy
    }

    fn fetch_options(&self) -> FetchOptions<'_> {
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(self.callbacks());
        opts.proxy_options(self.proxy());
        opts
    }

    /// Whether `url` is exactly this remote's URL (credentials aside).
    fn is_own_url(&self, url: &str) -> bool {
        redact_url(url).trim_end_matches('/') == redact_url(&self.url).trim_end_matches('/')
    }

    /// The URL as errors and logs may show it.
    fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    /// A git2 error's message with the token blanked out, should any layer echo it.
    fn redact(&self, message: &str) -> String {
        if self.token.is_empty() {
            message.to_string()
        } else {
            message.replace(&self.token, "***")
        }
    }

    fn network_error(&self, context: &str, e: &git2::Error) -> GitError {
        let message = self.redact(e.message());
        if e.code() == ErrorCode::Auth || http_status(e.message()) == Some(401) {
            GitError::Auth {
                url: self.shown_url(),
                message,
            }
        } else {
            GitError::Network {
                context: context.to_string(),
                url: self.shown_url(),
                message,
            }
        }
    }

    /// Runs `op`, retrying transient network failures with a short backoff.
    fn retrying<T>(
        &self,
        context: &str,
        mut op: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, GitError> {
        let mut retries = 0;
        loop {
            match op() {
                Ok(value) => return Ok(value),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Net(e)) if retries < MAX_RETRIES && is_transient(&e) => {
                    retries += 1;
                    tracing::warn!(
                        url = %self.shown_url(),
                        error = %self.redact(e.message()),
                        retry = retries,
                        "{context}: transient failure, retrying"
                    );
                    std::thread::sleep(BACKOFF * retries);
                }
                Err(Failure::Net(e)) => return Err(self.network_error(context, &e)),
            }
        }
    }
}

fn auth_error(message: &str) -> git2::Error {
    git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, message)
}

/// The HTTP status libgit2 reports in "unexpected http status code: 503".
fn http_status(message: &str) -> Option<u16> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("status code")? + "status code".len()..];
    let digits: String = rest
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Network trouble and server errors (5xx) are worth another try; anything
/// the server answered deliberately (auth, 404, rejections) is not.
fn is_transient(e: &git2::Error) -> bool {
    if matches!(
        e.code(),
        ErrorCode::Auth | ErrorCode::NotFastForward | ErrorCode::Certificate | ErrorCode::User
    ) {
        return false;
    }
    match http_status(e.message()) {
        Some(status) => status >= 500 || status == 429,
        None => matches!(
            e.class(),
            ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssl | ErrorClass::Http
        ),
    }
}

/// `url` without any `user:password@` part.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// `host/owner/repo` in lower case, whatever the URL's form (https with or
/// without `.git`, credentials, `git@host:owner/repo`).
fn repo_key(url: &str) -> String {
    let url = redact_url(url.trim());
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        None => match url.split_once('@') {
            Some((_, rest)) => rest.replacen(':', "/", 1),
            None => url.clone(),
        },
    };
    rest.trim_end_matches('/')
        .trim_end_matches(".git")
        .to_ascii_lowercase()
}

/// A push status from the server that means the branch is not where we
/// thought (someone else pushed, or created it first).
fn means_branch_moved(status: &str) -> bool {
    let status = status.to_ascii_lowercase();
    [
        "non-fast-forward",
        "fetch first",
        "lock",
        "already exists",
        "stale info",
        "failed to update ref",
    ]
    .iter()
    .any(|s| status.contains(s))
}

/// Clones `remote` into `dest` (a new or empty directory), checking out
/// `branch` or the remote's default branch.
pub fn clone(remote: &Remote, dest: &Path, branch: Option<&str>) -> Result<LocalRepo, GitError> {
    remote.retrying("clone", || {
        let mut builder = RepoBuilder::new();
        builder.fetch_options(remote.fetch_options());
        if let Some(branch) = branch {
            builder.branch(branch);
        }
        builder.clone(&remote.url, dest)?;
        Ok(())
    })?;
    tracing::info!(url = %remote.shown_url(), dest = %dest.display(), "cloned");
    LocalRepo::open(dest)
}

/// Clone using a local checkout (e.g. `$GITHUB_WORKSPACE` after
/// actions/checkout) as a fast source when it is a full clone of the same
/// repository: its objects are copied, then only what is missing comes from
/// the remote. Falls back to the network clone otherwise (or when seeding
/// fails). The result's `origin` is the real remote URL and it holds no
/// reference to the local checkout.
pub fn clone_with_reference(
    remote: &Remote,
    dest: &Path,
    local: Option<&Path>,
) -> Result<LocalRepo, GitError> {
    if let Some(local) = local {
        let existed = dest.exists();
        match clone_seeded(remote, dest, local) {
            Ok(Some(repo)) => return Ok(repo),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(local = %local.display(), error = %e, "seeding the clone from the local checkout failed; cloning from the remote");
                // Seeding only starts in a missing or empty `dest`: restore that.
                let io = |source| GitError::Io {
                    context: format!("remove the partial clone in {}", dest.display()),
                    source,
                };
                if !existed {
                    if dest.exists() {
                        std::fs::remove_dir_all(dest).map_err(io)?;
                    }
                } else {
                    for entry in std::fs::read_dir(dest).map_err(io)? {
                        let path = entry.map_err(io)?.path();
                        if path.is_dir() {
                            std::fs::remove_dir_all(&path).map_err(io)?;
                        } else {
                            std::fs::remove_file(&path).map_err(io)?;
                        }
                    }
                }
            }
        }
    }
    clone(remote, dest, None)
}

/// The seeded clone, or `None` when `local` is not usable as a source.
fn clone_seeded(remote: &Remote, dest: &Path, local: &Path) -> Result<Option<LocalRepo>, GitError> {
    let Ok(source) = Repository::open(local) else {
        tracing::debug!(local = %local.display(), "not a git repository; no local seed");
        return Ok(None);
    };
    if source.is_shallow() {
        tracing::info!(local = %local.display(), "the local checkout is shallow; cloning from the remote");
        return Ok(None);
    }
    let origin = source
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().map(str::to_string));
    if origin.as_deref().map(repo_key) != Some(repo_key(&remote.url)) {
        tracing::info!(local = %local.display(), "the local checkout is not a clone of {}; cloning from the remote", remote.shown_url());
        return Ok(None);
    }
    drop(source);
    if dest.exists()
        && std::fs::read_dir(dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Ok(None); // the network clone reports the non-empty destination
    }

    let repo = Repository::init(dest).map_err(ctx(format!("init {}", dest.display())))?;
    let local_url = local.to_string_lossy().into_owned();
    repo.remote_anonymous(&local_url)
        .and_then(|mut r| {
            r.fetch(
                &[
                    format!("+refs/heads/*:{SEED_PREFIX}heads/*"),
                    format!("+refs/remotes/origin/*:{SEED_PREFIX}origin/*"),
                ],
                None,
                None,
            )
        })
        .map_err(ctx(format!("copy objects from {}", local.display())))?;

    let mut origin = repo
        .remote("origin", &remote.url)
        .map_err(ctx("add remote origin"))?;
    let default_branch = remote.retrying("fetch", || {
        origin.fetch(
            &[format!("+refs/heads/*:{TRACKING_PREFIX}*")],
            Some(&mut remote.fetch_options()),
            None,
        )?;
        Ok(origin
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().map(str::to_string)))
    })?;
    drop(origin);

    let seeds: Vec<String> = repo
        .references_glob(&format!("{SEED_PREFIX}*"))
        .map_err(ctx("list seed refs"))?
        .filter_map(|r| r.ok().and_then(|r| r.name().map(str::to_string)))
        .collect();
    for name in seeds {
        repo.find_reference(&name)
            .and_then(|mut r| r.delete())
            .map_err(ctx(format!("delete {name}")))?;
    }

    if let Some(head) = default_branch {
        let short = head.trim_start_matches("refs/heads/").to_string();
        let tracking = format!("{TRACKING_PREFIX}{short}");
        let commit = repo
            .find_reference(&tracking)
            .and_then(|r| r.peel_to_commit())
            .map_err(ctx(format!("find {tracking}")))?;
        let mut local_branch = repo
            .branch(&short, &commit, true)
            .map_err(ctx(format!("create branch {short}")))?;
        local_branch
            .set_upstream(Some(&format!("origin/{short}")))
            .map_err(ctx(format!("track origin/{short}")))?;
        repo.reference_symbolic(
            &format!("{TRACKING_PREFIX}HEAD"),
            &tracking,
            true,
            "clone: origin HEAD",
        )
        .map_err(ctx("set origin/HEAD"))?;
        repo.set_head(&head)
            .map_err(ctx(format!("set HEAD to {head}")))?;
        repo.checkout_head(Some(CheckoutBuilder::new().force()))
            .map_err(ctx(format!("check out {short}")))?;
    }
    tracing::info!(url = %remote.shown_url(), local = %local.display(), dest = %dest.display(), "cloned, seeded from the local checkout");
    LocalRepo::open(dest).map(Some)
}

/// Fetches `branch` from `remote`; creates or moves the local branch of that
/// name (and `refs/remotes/origin/<branch>`) to it and returns its commit.
/// `None` when the remote has no such branch. When the branch is checked
/// out in the repository's main working tree, the tree is updated too
/// (refusing to overwrite local changes).
pub fn fetch_branch(
    repo: &LocalRepo,
    remote: &Remote,
    branch: &str,
) -> Result<Option<String>, GitError> {
    let raw = repo.raw();
    let head = format!("refs/heads/{branch}");
    let tracking = format!("{TRACKING_PREFIX}{branch}");
    let spec = format!("+{head}:{tracking}");
    // The tracking ref is what the fetch found: it is removed first, so a
    // branch the remote no longer has (or a remote with no refs at all)
    // leaves none. git2's listing of the remote's heads is not used: for a
    // remote without any reference it builds a slice from a null pointer.
    let tip: Option<Oid> = remote.retrying(&format!("fetch {branch}"), || {
        remove_ref(raw, &tracking).map_err(Failure::Final)?;
        let mut anonymous = raw.remote_anonymous(&remote.url)?;
        anonymous.fetch(&[&spec], Some(&mut remote.fetch_options()), None)?;
        match raw.find_reference(&tracking) {
            Ok(r) => Ok(r.target()),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(Failure::Final(ctx(format!("read {tracking}"))(e))),
        }
    })?;
    let Some(tip) = tip else {
        tracing::debug!(branch, url = %remote.shown_url(), "the remote has no such branch");
        return Ok(None);
    };
    let checked_out = !raw.is_bare()
        && raw
            .head()
            .ok()
            .and_then(|h| h.name().map(|n| n == head))
            .unwrap_or(false);
    if checked_out {
        let commit = raw
            .find_commit(tip)
            .map_err(ctx(format!("find fetched {branch}")))?;
        raw.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().safe()))
            .map_err(ctx(format!("check out fetched {branch}")))?;
    }
    raw.reference(&head, tip, true, "fetch")
        .map_err(ctx(format!("update branch {branch}")))?;
    tracing::debug!(branch, sha = %tip, "fetched");
    Ok(Some(tip.to_string()))
}

/// Deletes `name` when it exists.
fn remove_ref(raw: &Repository, name: &str) -> Result<(), GitError> {
    match raw.find_reference(name) {
        Ok(mut r) => r.delete().map_err(ctx(format!("delete {name}"))),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
        Err(e) => Err(ctx(format!("read {name}"))(e)),
    }
}

/// Pushes local `branch` to the remote branch of the same name,
/// fast-forward only (`refs/heads/B:refs/heads/B`, never forced). A
/// rejection because the remote branch moved is [`GitError::RemoteBranchMoved`].
pub fn push_branch(repo: &LocalRepo, remote: &Remote, branch: &str) -> Result<(), GitError> {
    let raw = repo.raw();
    let refname = format!("refs/heads/{branch}");
    raw.find_reference(&refname)
        .map_err(ctx(format!("find branch {branch}")))?;
    let spec = format!("{refname}:{refname}");
    remote.retrying(&format!("push {branch}"), || {
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let mut callbacks = remote.callbacks();
        callbacks.push_update_reference(|name, status| {
            if let Some(status) = status {
                tracing::debug!(name, status, "push rejected");
                *rejected.borrow_mut() = Some(status.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(callbacks);
        opts.proxy_options(remote.proxy());
        let mut anonymous = raw.remote_anonymous(&remote.url)?;
        let pushed = anonymous.push(&[&spec], Some(&mut opts));
        drop(opts);
        match pushed {
            Err(e) if e.code() == ErrorCode::NotFastForward => {
                return Err(Failure::Final(GitError::RemoteBranchMoved {
                    branch: branch.to_string(),
                    reason: remote.redact(e.message()),
                }))
            }
            Err(e) => return Err(Failure::Net(e)),
            Ok(()) => {}
        }
        match rejected.into_inner() {
            None => Ok(()),
            Some(reason) if means_branch_moved(&reason) => {
                Err(Failure::Final(GitError::RemoteBranchMoved {
                    branch: branch.to_string(),
                    reason: remote.redact(&reason),
                }))
            }
            Some(reason) => Err(Failure::Final(GitError::PushRejected {
                branch: branch.to_string(),
                reason: remote.redact(&reason),
            })),
        }
    })?;
    tracing::info!(branch, url = %remote.shown_url(), "pushed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_the_same_repository_match() {
        let key = repo_key("https://github.com/Acme/app.git");
        assert_eq!(repo_key("https://github.com/acme/app"), key);
        assert_eq!(
            repo_key("https://x-access-token:T@github.com/acme/app/"),
            key
        );
        assert_eq!(repo_key("git@github.com:acme/app.git"), key);
        assert_ne!(repo_key("https://github.com/acme/other.git"), key);
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            redact_url("https://user:secret@host/o/r.git"),
            "https://host/o/r.git"
        );
        let remote = Remote {
            url: "http://h/o/r.git".into(),
            token: "secret".into(),
        };
        assert!(!format!("{remote:?}").contains("secret"));
        assert_eq!(remote.redact("bad secret here"), "bad *** here");
    }

    #[test]
    fn transient_failures_are_told_apart() {
        let http = |msg: &str| git2::Error::new(ErrorCode::GenericError, ErrorClass::Http, msg);
        assert!(is_transient(&http("unexpected http status code: 503")));
        assert!(!is_transient(&http("unexpected http status code: 404")));
        assert!(is_transient(&git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Net,
            "failed to connect"
        )));
        assert!(!is_transient(&auth_error("refused")));
        assert!(means_branch_moved("failed to lock"));
        assert!(!means_branch_moved("pre-receive hook declined"));
    }
}
