//! Assembling a gateway from its configuration: embedded NATS (if no URL), bus, router, keys, the gRPC
//! server, the admin HTTP port and the consumer-lag poller.
//!
//! `run` takes its listener and shutdown future as arguments, so tests bind port 0 and stop it at will.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::bus::{Bus, ChainKeeping, CheckpointSigner, NatsAuth, PolicyBucket};
use crate::config::{PolicySource, ServeConfig, Transport};
use crate::embedded::{EmbeddedNats, EmbeddedOptions};
use crate::grpc::{self, Gateway, ServerTls};
use crate::identity::{LEEWAY, Revocations, SigningKey, Verifier, trusted_keys};
use crate::metrics;
use crate::policy_store::{PolicyDocument, PolicyFiles, PolicyStore};
use crate::router::Router;

/// Runs a gateway on `listener` until `shutdown` completes, then drains and stops.
pub async fn run(config: ServeConfig, listener: TcpListener, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    crate::telemetry::panics::install();
    let signing_key = Arc::new(match &config.signing_key {
        Some(path) => SigningKey::load_file(path)?,
        None => SigningKey::load_or_create(&config.data_dir)?,
    });
    let verifier = Verifier::new(&[&signing_key])?
        .trust_keys(&trusted_keys(&config.data_dir)?)?
        .with_max_ttl(config.max_token_ttl)
        .with_retired_key_grace(config.retired_key_grace);

    let embedded = match &config.nats_url {
        Some(_) => None,
        None => Some(
            EmbeddedNats::start(EmbeddedOptions {
                binary: config.nats_server_bin.clone(),
                data_dir: config.data_dir.clone(),
                port: config.embedded_nats_port,
                sync: config.embedded_nats_sync,
                max_payload: config.limits.max_payload(),
            })
            .await?,
        ),
    };
    let url = match (&config.nats_url, &embedded) {
        (Some(url), _) => url.clone(),
        (None, Some(embedded)) => embedded.url().to_string(),
        (None, None) => unreachable!("embedded server started when no URL is configured"),
    };
    let mut bus_config = config.bus_config(&url);
    if let Some(embedded) = &embedded {
        // The embedded server accepts only its own identities, whatever credentials were configured.
        let identities = embedded.identities();
        bus_config.auth = NatsAuth::Nkey(identities.runtime_seed.clone());
        bus_config.provision = Some(NatsAuth::Nkey(identities.provisioning_seed.clone()));
        bus_config.tls = Default::default();
    }
    let result = async {
        let bus = Bus::connect(&bus_config).await.context("connecting to NATS")?;
        let (policy, bucket) = match config.policy_source {
            PolicySource::File => (Arc::new(PolicyStore::load(config.policy_files.clone())?), None),
            PolicySource::Kv => {
                let bucket = bus.policy_bucket().await?;
                let (router, revision) = shared_policy(&bucket, &config.policy_files).await?;
                (Arc::new(PolicyStore::shared(router, revision)), Some(bucket))
            }
        };
        let key = signing_key.clone();
        let signer = CheckpointSigner {
            kid: signing_key.kid().to_string(),
            sign: Arc::new(move |message: &[u8]| key.sign(message)),
            interval: config.audit_checkpoint_interval,
        };
        let audit = bus
            .audit_log(&audit_chain(&config.data_dir)?, Some(signer), chain_keeping(&config)?)
            .await
            .context("opening the audit chain")?;
        let audit_finished = audit.finished();
        let gateway =
            Gateway::new(policy.clone(), bus, audit, config.limits.clone()).with_policy_bucket(bucket.clone());
        let admin_listener = metrics::bind(config.admin_listen).await?;
        let stop_watching = tokio_util::sync::CancellationToken::new();
        let watcher = match bucket {
            None => policy.clone().watch(stop_watching.clone()),
            Some(bucket) => tokio::spawn(watch_shared_policy(bucket, policy.clone(), stop_watching.clone())),
        };
        let (revocations, revocations_follower) = follow_revocations(&gateway, &config, stop_watching.clone()).await?;
        let verifier = verifier.with_revocations(revocations);
        let admin =
            tokio::spawn(metrics::serve(admin_listener, gateway.clone(), verifier.clone(), stop_watching.clone()));
        let lag = tokio::spawn(poll_lag(gateway.clone(), stop_watching.clone()));
        let hold = config.limits.disclosure_hold;
        let holds = tokio::spawn(sweep_holds(gateway.clone(), hold, stop_watching.clone()));
        let speed = tokio::spawn(speed_of_service(gateway.clone(), stop_watching.clone()));
        let due = config.limits.rfi_due;
        let shortest = [due.flash, due.immediate, due.priority, due.routine].into_iter().min().unwrap_or_default();
        let rfis = tokio::spawn(sweep_rfis(gateway.clone(), shortest, stop_watching.clone()));
        tracing::info!(listen = %listener.local_addr()?, nats = %url, "gateway serving");
        let tls = server_tls(&config)?;
        let served = grpc::serve(gateway, verifier, listener, tls, shutdown, config.shutdown_grace).await;
        stop_watching.cancel();
        let _ = tokio::join!(watcher, admin, lag, holds, speed, rfis, revocations_follower);
        // The chain's length is kept as the writer finishes: wait for it, a little.
        if tokio::time::timeout(AUDIT_FINISH, audit_finished).await.is_err() {
            tracing::warn!("the audit writer did not finish in time; the data directory keeps the length it had");
        }
        served
    }
    .await;
    if let Some(embedded) = embedded {
        embedded.stop().await;
    }
    result
}

/// The shared policy in force, after filling an empty bucket from the files (or embedded defaults).
async fn shared_policy(bucket: &PolicyBucket, files: &PolicyFiles) -> anyhow::Result<(Router, u64)> {
    if bucket.current().await?.is_none() {
        let (directory, policy) = files.texts()?;
        let document = PolicyDocument {
            directory,
            policy,
            applied_by: "seed".into(),
            applied_at: time::OffsetDateTime::now_utc(),
            comment: "the first gateway's files".into(),
            restores: None,
        };
        document.compile()?;
        if bucket.seed(&document).await? {
            tracing::info!("the policy bucket was empty: seeded it from this gateway's directory and policy");
        }
    }
    let current = bucket.current().await?.context("the policy bucket is empty after seeding")?;
    let router = current
        .document
        .compile()
        .with_context(|| format!("revision {} of the shared policy does not compile", current.revision))?;
    tracing::info!(revision = current.revision, version = router.version(), "shared routing policy loaded");
    Ok((router, current.revision))
}

/// Puts every new revision of the shared policy in force as it is stored, until `stop`. A revision that
/// does not compile (it cannot be applied through a gateway, which validates first) is logged and skipped.
async fn watch_shared_policy(
    bucket: PolicyBucket,
    policy: Arc<PolicyStore>,
    stop: tokio_util::sync::CancellationToken,
) {
    use futures::StreamExt;
    loop {
        let watched = async {
            let mut revisions = bucket.watch().await?;
            while let Some(revision) = revisions.next().await {
                let revision = revision?;
                match revision.document.compile() {
                    Ok(router) => policy.install(router, revision.revision),
                    Err(error) => {
                        tracing::error!(revision = revision.revision, %error, "shared policy revision refused; keeping the policy in force")
                    }
                }
            }
            Ok::<(), crate::bus::BusError>(())
        };
        tokio::select! {
            () = stop.cancelled() => return,
            result = watched => if let Err(error) = result {
                tracing::warn!(%error, "watching the shared policy failed; watching again");
            },
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
}

/// Reads every token revocation before the gateway serves, then follows new ones until `stop`. Fails
/// closed: a gateway that cannot read the revocations does not start, so it never accepts a revoked token.
async fn follow_revocations(
    gateway: &Gateway,
    config: &ServeConfig,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<(Revocations, tokio::task::JoinHandle<()>)> {
    let revocations = Revocations::default();
    let bucket = gateway.bus().revocation_bucket().await.context("opening the token revocations")?;
    let revision = bucket
        .load(&revocations)
        .await
        .context("reading the token revocations; the gateway does not accept tokens without them")?;
    tracing::info!(revoked = revocations.len(), "token revocations loaded");
    let horizon = config.max_token_ttl + std::time::Duration::from_secs(LEEWAY);
    let follower = tokio::spawn(bucket.follow(revocations.clone(), revision, horizon, stop));
    Ok((revocations, follower))
}

/// This gateway's audit chain name, kept in its data directory so a restart continues the same chain.
fn audit_chain(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("audit-chain");
    if let Ok(chain) = std::fs::read_to_string(&path) {
        let chain = chain.trim().to_string();
        crate::model::Token::parse(&chain).with_context(|| format!("{}: not a valid chain name", path.display()))?;
        return Ok(chain);
    }
    let chain = format!("gw-{}", ulid::Ulid::new().to_string().to_lowercase());
    std::fs::create_dir_all(data_dir)?;
    crate::files::write_whole(&path, format!("{chain}\n").as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(chain)
}

/// How the audit chain is kept track of in the data directory, and who accepts a loss.
fn chain_keeping(config: &ServeConfig) -> anyhow::Result<ChainKeeping> {
    let data_dir = config.data_dir.clone();
    let persist = Arc::new(move |known: &crate::audit::continuity::KnownChain| {
        if let Err(error) = crate::audit::continuity::save(&data_dir, known) {
            tracing::warn!(%error, "the audit chain's length could not be written to the data directory");
        }
    });
    let accept_loss_by = config.accept_audit_loss.then(|| {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid()));
        format!("operator {user} (liaison serve --accept-audit-loss, pid {})", std::process::id())
    });
    Ok(ChainKeeping { known: crate::audit::continuity::load(&config.data_dir)?, accept_loss_by, persist })
}

/// How long shutdown waits for the audit writer to finish.
const AUDIT_FINISH: std::time::Duration = std::time::Duration::from_secs(5);

/// How often consumer lag and the audit stream's size are read from JetStream for metrics, WatchTraffic and
/// readiness.
const LAG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads every consumer's lag into the traffic accounting, and the audit stream's size, until `stop`.
async fn poll_lag(gateway: Gateway, stop: tokio_util::sync::CancellationToken) {
    every(LAG_INTERVAL, &stop, || async {
        match gateway.bus().consumer_lag().await {
            Ok(lag) => gateway.traffic().set_lag(lag),
            Err(error) => tracing::debug!(%error, "could not read consumer lag"),
        }
        if let Err(error) = gateway.audit().observe_capacity(&gateway.bus()).await {
            tracing::debug!(%error, "could not read the audit stream's size");
        }
    })
    .await
}

/// How often the copies held for disclosure review are counted and those past their time ended.
/// At most: a quarter of the hold when that is shorter, so a hold ends at most a quarter late.
const HOLD_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends the holds past their time (each with a notice to the originator) and counts the rest, every
/// [`HOLD_SWEEP_INTERVAL`]. Every gateway sweeps; an item ends once (removal by revision).
async fn sweep_holds(gateway: Gateway, hold: std::time::Duration, stop: tokio_util::sync::CancellationToken) {
    let interval = (hold / 4).clamp(std::time::Duration::from_secs(1), HOLD_SWEEP_INTERVAL);
    every(interval, &stop, || async {
        match gateway.sweep_held().await {
            Ok((waiting, oldest)) => gateway.traffic().set_held(waiting as u64, oldest),
            Err(error) => tracing::warn!(%error, "could not sweep the copies held for disclosure review"),
        }
    })
    .await
}

/// Runs `tick` every `interval` (a late tick waits, it is not made up) until `stop`.
async fn every<F: Future<Output = ()>>(
    interval: std::time::Duration,
    stop: &tokio_util::sync::CancellationToken,
    mut tick: impl FnMut() -> F,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        tick().await;
    }
}

/// Writes speed-of-service marks and judges the copies whose objective has passed, every
/// [`grpc::speed_sweep_interval`], until `stop`. Lanes never judged start with the copies stored after
/// this gateway started.
async fn speed_of_service(gateway: Gateway, stop: tokio_util::sync::CancellationToken) {
    let marks = gateway.write_speed_marks(stop.clone());
    let sweeps = async {
        let first_after = loop {
            match gateway.bus().feed_last_sequence().await {
                Ok(sequence) => break sequence,
                Err(error) => tracing::warn!(%error, "speed of service: cannot read the feed stream yet"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        };
        every(grpc::speed_sweep_interval(&gateway.limits().speed_of_service), &stop, || async {
            if let Err(error) = gateway.sweep_speed_of_service(first_after).await {
                tracing::warn!(%error, "could not judge speed of service");
            }
        })
        .await
    };
    tokio::join!(marks, sweeps);
}

/// How often the RFIs are looked at for any past due; at most a quarter of the shortest due time.
const RFI_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Expires the RFIs past due (each with a notice to both parties), every [`RFI_SWEEP_INTERVAL`] or a
/// quarter of `shortest` (the shortest due time) if that is less. Every gateway sweeps; an RFI expires once
/// (the write by revision is the claim).
async fn sweep_rfis(gateway: Gateway, shortest: std::time::Duration, stop: tokio_util::sync::CancellationToken) {
    let interval = (shortest / 4).clamp(std::time::Duration::from_millis(250), RFI_SWEEP_INTERVAL);
    every(interval, &stop, || async {
        if let Err(error) = gateway.sweep_rfis().await {
            tracing::warn!(%error, "could not sweep the RFIs for overdue ones");
        }
    })
    .await
}

/// Reads (or, with no certificate configured, creates) the TLS material for the gRPC port.
fn server_tls(config: &ServeConfig) -> anyhow::Result<Option<ServerTls>> {
    let settings = match &config.transport {
        Transport::Insecure => {
            tracing::warn!(listen = %config.listen, "serving plaintext gRPC (--insecure): tokens and messages are not encrypted");
            return Ok(None);
        }
        Transport::Tls(settings) => settings,
    };
    let (cert, key) = match &settings.identity {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => {
            let files = crate::tls::ensure_local(&config.data_dir, &[config.listen.ip().to_string()])?;
            (files.cert, files.key)
        }
    };
    let read =
        |path: &std::path::Path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    Ok(Some(ServerTls {
        cert_pem: read(&cert)?,
        key_pem: read(&key)?,
        client_ca_pem: settings.client_ca.as_deref().map(read).transpose()?,
        client_parties: settings.client_parties.clone(),
    }))
}
