//! The live routing policy: the directory and policy files (or the embedded defaults), or the shared
//! [`PolicyDocument`] in NATS KV, compiled into a [`Router`] and swapped atomically when the files change,
//! on SIGHUP, or when a new revision is stored in the bucket (`app` runs that watch).
//!
//! A bad file is refused with `file:line: field: message` and the policy in force stays. Readers take one
//! `Arc<Router>` per message, so a message is decided wholly under one version even mid-reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY, LoadError, Router};

/// Where the directory and policy come from; `None` means the embedded default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFiles {
    pub directory: Option<PathBuf>,
    pub policy: Option<PathBuf>,
}

/// A directory and a policy stored together as one revision of the shared policy (NATS KV).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyDocument {
    pub directory: String,
    pub policy: String,
    /// Who stored it: the token subject, or `seed` for the gateway that filled an empty bucket.
    pub applied_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: time::OffsetDateTime,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Set when this revision restores an earlier one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<u64>,
}

/// The router in force, replaceable at run time.
pub struct PolicyStore {
    current: ArcSwap<Router>,
    files: PolicyFiles,
}

// === impl PolicyFiles ===

impl PolicyFiles {
    /// Reads and compiles both files.
    pub fn load(&self) -> Result<Router, LoadError> {
        let directory = read(self.directory.as_deref(), "<embedded directory>", DEFAULT_DIRECTORY)?;
        let policy = read(self.policy.as_deref(), "<embedded policy>", DEFAULT_POLICY)?;
        Router::load((&directory.0, &directory.1), (&policy.0, &policy.1))
    }

    /// Both texts as they are now (the embedded defaults where no file is set).
    pub fn texts(&self) -> Result<(String, String), LoadError> {
        let directory = read(self.directory.as_deref(), "<embedded directory>", DEFAULT_DIRECTORY)?;
        let policy = read(self.policy.as_deref(), "<embedded policy>", DEFAULT_POLICY)?;
        Ok((directory.1, policy.1))
    }

    fn paths(&self) -> Vec<&Path> {
        [self.directory.as_deref(), self.policy.as_deref()].into_iter().flatten().collect()
    }
}

fn read(path: Option<&Path>, embedded_name: &str, embedded: &str) -> Result<(String, String), LoadError> {
    match path {
        None => Ok((embedded_name.to_string(), embedded.to_string())),
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|error| LoadError {
                file: name.clone(),
                line: None,
                field: "file".to_string(),
                message: error.to_string(),
            })?;
            Ok((name, text))
        }
    }
}

// === impl PolicyDocument ===

impl PolicyDocument {
    /// Compiles the document; errors name `directory` or `policy` with line and field.
    pub fn compile(&self) -> Result<Router, LoadError> {
        Router::load(("directory", &self.directory), ("policy", &self.policy))
    }
}

// === impl PolicyStore ===

impl PolicyStore {
    /// Loads the files; fails if they are invalid.
    pub fn load(files: PolicyFiles) -> Result<PolicyStore, LoadError> {
        let router = files.load()?;
        tracing::info!(
            version = router.version(),
            parties = router.directory().len(),
            rules = router.policy().rules().len(),
            "routing policy loaded"
        );
        Ok(PolicyStore { current: ArcSwap::from_pointee(router), files })
    }

    /// A store for the shared policy, starting from one revision; new ones come through [`PolicyStore::install`].
    pub fn shared(router: Router, revision: u64) -> PolicyStore {
        tracing::debug!(revision, "policy store follows the shared policy");
        PolicyStore::fixed(router)
    }

    /// A store holding a given router (tests, benchmarks); reloads read the embedded defaults.
    pub fn fixed(router: Router) -> PolicyStore {
        PolicyStore { current: ArcSwap::from_pointee(router), files: PolicyFiles::default() }
    }

    /// The router in force. Hold it for the whole of one message.
    pub fn current(&self) -> Arc<Router> {
        self.current.load_full()
    }

    /// Puts `router` in force (a new revision of the shared policy).
    pub fn install(&self, router: Router, revision: u64) {
        let previous = self.current();
        if router.version() != previous.version() {
            tracing::info!(from = previous.version(), to = router.version(), revision, "routing policy replaced");
        }
        self.current.store(Arc::new(router));
    }

    /// Re-reads the files and swaps the router if they are valid; on error the old one stays.
    pub fn reload(&self) -> Result<Arc<Router>, LoadError> {
        match self.files.load() {
            Ok(router) => {
                let previous = self.current();
                if router.version() != previous.version() {
                    tracing::info!(from = previous.version(), to = router.version(), "routing policy reloaded");
                }
                self.current.store(Arc::new(router));
                Ok(self.current())
            }
            Err(error) => {
                tracing::error!(%error, version = self.current().version(), "policy reload refused; keeping the policy in force");
                Err(error)
            }
        }
    }

    /// Reloads when a policy file changes and on SIGHUP, until `shutdown`.
    pub fn watch(self: Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let (changed, mut changes) = mpsc::channel::<()>(1);
            let _watcher = self.file_watcher(changed);
            let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGHUP; policy reloads on file changes only");
                    None
                }
            };
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    Some(()) = changes.recv() => {
                        // Editors write in several steps: let them finish, then reload once.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        while changes.try_recv().is_ok() {}
                    }
                    Some(()) = async { match hangup.as_mut() { Some(signal) => signal.recv().await, None => std::future::pending().await } } => {
                        tracing::info!("SIGHUP: reloading the routing policy");
                    }
                }
                let _ = self.reload();
            }
        })
    }

    /// Watches the directories holding the files (editors often replace a file rather than write it).
    fn file_watcher(&self, changed: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
        let paths: Vec<PathBuf> = self.files.paths().into_iter().map(absolute).collect();
        if paths.is_empty() {
            return None;
        }
        let watched = paths.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            if event.paths.iter().any(|path| watched.iter().any(|file| path == file)) {
                let _ = changed.try_send(());
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::warn!(%error, "cannot watch policy files; reload with SIGHUP");
                return None;
            }
        };
        for path in &paths {
            let parent = path.parent().unwrap_or(Path::new("/"));
            if let Err(error) = watcher.watch(parent, RecursiveMode::NonRecursive) {
                tracing::warn!(%error, path = %parent.display(), "cannot watch; reload with SIGHUP");
            }
        }
        Some(watcher)
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
