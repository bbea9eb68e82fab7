//! `liaison seek`: move a durable subscription of your party to the beginning, a stream sequence or a
//! time; its next session starts there.

use super::output::{parse_time, timestamp};
use crate::api as pb;

#[derive(Debug, clap::Args)]
pub struct SeekArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// The durable subscription's name (as given to `liaison subscribe --durable`).
    durable: String,
    /// Where to: `beginning`, `seq:N` or `time:RFC3339`.
    #[arg(long, value_parser = parse_target)]
    to: pb::seek_request::Target,
}

fn parse_target(value: &str) -> Result<pb::seek_request::Target, String> {
    use pb::seek_request::Target;
    match value.split_once(':') {
        _ if value == "beginning" => Ok(Target::Beginning(())),
        Some(("seq", sequence)) => sequence.parse().map(Target::Sequence).map_err(|_| "seq:N needs a number".into()),
        Some(("time", time)) => Ok(Target::Time(timestamp(parse_time(time)?))),
        _ => Err("one of beginning, seq:N, time:RFC3339".to_string()),
    }
}

pub async fn run(args: SeekArgs) -> anyhow::Result<()> {
    let mut client = super::client::connect(&args.client).await?;
    let request = pb::SeekRequest { durable_name: args.durable, target: Some(args.to) };
    let response = client.seek(request).await?.into_inner();
    println!("{} moved: {} messages pending", response.subscription_id, response.pending);
    Ok(())
}
