//! Unit tests of the nats-server lookup: candidates, the choice over probes, pip directories, versions.

use super::*;

fn probe_from(table: &[(&str, Probe)]) -> impl FnMut(&Path) -> Probe + use<> {
    let table: Vec<(PathBuf, Probe)> = table.iter().map(|(path, probe)| (PathBuf::from(path), probe.clone())).collect();
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
