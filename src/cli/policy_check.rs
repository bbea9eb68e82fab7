//! `liaison policy test` and `liaison policy diff`: offline checks of a policy change. They read the files
//! and print what `policy_check` finds; a failing test or an unreadable file exits non-zero.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::policy_check::{cases, diff};
use crate::policy_store::PolicyFiles;

/// Runs the test cases in `tests` against the policy and directory (the embedded ones where not given),
/// printing each failure as `file:line: case: expected ... got ...`; an error if any fails.
pub fn test(tests: &Path, policy: Option<PathBuf>, directory: Option<PathBuf>) -> anyhow::Result<()> {
    let router = PolicyFiles { directory, policy }.load()?;
    let text = std::fs::read_to_string(tests).with_context(|| format!("reading {}", tests.display()))?;
    let parsed = cases::parse(&tests.display().to_string(), &text)?;
    let report = cases::run(&parsed, &router);
    for failure in &report.failures {
        println!("{failure}");
    }
    let rules = report.rules_not_covered(&router);
    let checks: Vec<&str> = report.marking_checks_not_covered().iter().map(|reason| reason.code()).collect();
    if rules.is_empty() && checks.is_empty() {
        println!("coverage: every rule and every marking check");
    } else {
        println!("not covered: rules [{}], marking checks [{}]", rules.join(", "), checks.join(", "));
    }
    let summary = format!("{} cases, {} checks, {} failed", report.cases, report.checks, report.failures.len());
    anyhow::ensure!(report.failures.is_empty(), "{summary}");
    println!("{summary}");
    Ok(())
}

/// One side of a diff: a policy directory (its `policy.toml` and `directory.toml`), or a policy file with
/// its directory file (the embedded directory by default).
pub fn files(path: &Path, directory: Option<PathBuf>) -> PolicyFiles {
    match path.is_dir() {
        true => PolicyFiles { directory: Some(path.join("directory.toml")), policy: Some(path.join("policy.toml")) },
        false => PolicyFiles { directory, policy: Some(path.to_path_buf()) },
    }
}

/// Prints what changes from `old` to `new`.
pub fn diff(old: &PolicyFiles, new: &PolicyFiles) -> anyhow::Result<()> {
    let (old_router, new_router) = (old.load()?, new.load()?);
    let ((old_directory, old_policy), (new_directory, new_policy)) = (old.texts()?, new.texts()?);
    let old = diff::Side { directory: &old_directory, policy: &old_policy, router: &old_router };
    let new = diff::Side { directory: &new_directory, policy: &new_policy, router: &new_router };
    print!("{}", diff::diff(&old, &new));
    Ok(())
}
