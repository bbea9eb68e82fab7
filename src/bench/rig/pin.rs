//! `liaison bench --pin`: nats-server on one CPU and the gateway on another, so that each side's cost is
//! the use of one core and the scaling picture (which process saturates first) can be read.
//!
//! Pinning is done with `taskset` (util-linux) as a prefix of the command that starts each process, so a
//! process is confined before it starts: the gateway's tokio runtime and nats-server's Go runtime size
//! their worker pools from the CPUs they are allowed, and a process pinned after it started keeps the
//! pool it sized for every CPU (nats-server 2.15 keeps GOMAXPROCS 2 on one CPU). The bench's own
//! publishers and subscribers are not pinned: they float over every CPU this process may use.

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// The CPUs of a pinned run: the first two this process may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuPlan {
    pub nats: usize,
    pub gateway: usize,
}

/// The plan on this machine, or why `--pin` cannot run here.
pub fn plan() -> anyhow::Result<CpuPlan> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| anyhow::anyhow!("--pin reads the CPUs this process may use from /proc: {error}"))?;
    let allowed = allowed_list(&status).and_then(parse_cpu_list);
    let plan = choose(allowed.as_deref().unwrap_or_default()).map_err(anyhow::Error::msg)?;
    match std::process::Command::new("taskset").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(plan),
        Ok(output) => {
            anyhow::bail!("--pin needs taskset (util-linux); `taskset --version` failed with {}", output.status)
        }
        Err(error) => anyhow::bail!("--pin needs taskset (util-linux, `apt-get install util-linux`) on PATH: {error}"),
    }
}

/// nats-server on the first allowed CPU, the gateway on the second.
pub fn choose(allowed: &[usize]) -> Result<CpuPlan, String> {
    let refusal = "--pin puts nats-server and the gateway on a CPU each and needs at least 2; this process may use";
    match allowed {
        [nats, gateway, ..] => Ok(CpuPlan { nats: *nats, gateway: *gateway }),
        [cpu] => Err(format!("{refusal} only CPU {cpu}")),
        [] => Err(format!("{refusal} none that /proc reports")),
    }
}

/// The `Cpus_allowed_list:` value of a /proc/PID/status text, e.g. `0-1`.
pub fn allowed_list(status: &str) -> Option<&str> {
    status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).map(str::trim)
}

/// A kernel CPU list (`0-3,8,10-11`) as CPU numbers; `None` if it is not one.
pub fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
                if last < first || last - first > 4096 {
                    return None;
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// The CPUs process `pid` may use, as the kernel lists them.
pub fn allowed_cpus(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    allowed_list(&status).map(str::to_string)
}

/// `program`, run on `cpu` alone when given (`taskset -c CPU program ...`: taskset execs it, so the
/// child's pid is the program's).
pub fn command(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A script in `dir` that runs `binary` on `cpu` alone: the embedded server (`EmbeddedOptions::binary`)
/// starts its binary itself, so the pinned one is started through this.
pub fn wrapper(dir: &Path, binary: &Path, cpu: usize) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("nats-server-pinned");
    std::fs::write(&path, wrapper_script(binary, cpu))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

fn wrapper_script(binary: &Path, cpu: usize) -> String {
    let quoted = binary.display().to_string().replace('\'', r"'\''");
    format!("#!/bin/sh\n# Written by liaison bench --pin.\nexec taskset -c {cpu} '{quoted}' \"$@\"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_as_the_kernel_writes_them() {
        for (list, cpus) in [("0-1", vec![0, 1]), ("0", vec![0]), ("0-2,5,7-8", vec![0, 1, 2, 5, 7, 8]), ("", vec![])] {
            assert_eq!(parse_cpu_list(list), Some(cpus), "{list:?}");
        }
        for bad in ["a", "1-0", "0-", "0-99999"] {
            assert_eq!(parse_cpu_list(bad), None, "{bad:?}");
        }
        let status = "Name:\tliaison\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed:\t1\n";
        assert_eq!(allowed_list(status), Some("0-1"));
        assert_eq!(allowed_list("Name:\tx\n"), None);
    }

    #[test]
    fn nats_server_and_the_gateway_get_the_first_two_allowed_cpus_or_pin_is_refused() {
        assert_eq!(choose(&[0, 1]), Ok(CpuPlan { nats: 0, gateway: 1 }));
        assert_eq!(choose(&[2, 5, 7]), Ok(CpuPlan { nats: 2, gateway: 5 }));
        let refusal = choose(&[3]).unwrap_err();
        assert!(refusal.contains("at least 2") && refusal.contains("only CPU 3"), "{refusal}");
        assert!(choose(&[]).unwrap_err().contains("none"));
    }

    #[test]
    fn the_wrapper_execs_the_binary_under_taskset_with_its_arguments() {
        let script = wrapper_script(Path::new("/opt/it's/nats-server"), 0);
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
        assert!(script.ends_with("exec taskset -c 0 '/opt/it'\\''s/nats-server' \"$@\"\n"), "{script}");
        let dir = tempfile::tempdir().unwrap();
        let cpu = allowed_cpus(std::process::id()).and_then(|list| parse_cpu_list(&list)).unwrap()[0];
        let path = wrapper(dir.path(), Path::new("/bin/sh"), cpu).unwrap();
        let output =
            std::process::Command::new(&path).args(["-c", "grep Cpus_allowed_list /proc/self/status"]).output();
        let output = String::from_utf8(output.unwrap().stdout).unwrap();
        assert_eq!(allowed_list(&output), Some(cpu.to_string().as_str()), "run on CPU {cpu} alone: {output}");
    }
}
