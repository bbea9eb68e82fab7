//! `liaison provision`: create or update the Liaison streams and KV buckets with the provisioning NATS
//! identity and exit, for deployments that keep that identity off the gateway hosts (a gateway without
//! one only checks that the streams exist). Takes the flags of `liaison serve`, so the streams get the
//! same settings; with no `--nats-url` it provisions the embedded server last started in `--data-dir`.

use anyhow::Context;

use crate::bus::{Bus, NatsAuth};
use crate::config::{ServeArgs, ServeConfig};
use crate::embedded::{identities, recorded_url};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args).map_err(anyhow::Error::msg)?;
    let url = match &config.nats_url {
        Some(url) => url.clone(),
        None => recorded_url(&config.data_dir).with_context(|| {
            format!("no --nats-url, and no embedded server was started in {}", config.data_dir.display())
        })?,
    };
    let mut bus_config = config.bus_config(&url);
    let embedded_seed = identities::provisioning_seed(&config.data_dir);
    bus_config.provision = match bus_config.provision.take() {
        Some(auth) => Some(auth),
        None if config.nats_url.is_none() && embedded_seed.exists() => Some(NatsAuth::Nkey(embedded_seed)),
        None => anyhow::bail!(
            "no provisioning credential: give --nats-provision-nkey, --nats-provision-creds or --nats-provision-user"
        ),
    };
    let provisioned = Bus::provision(&bus_config).await?;
    println!(
        "streams and buckets ready on {url}: {} replica(s){}",
        provisioned.replicas,
        provisioned.cluster.map(|cluster| format!(", cluster {cluster}")).unwrap_or_default()
    );
    Ok(())
}
