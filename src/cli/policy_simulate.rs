//! `liaison policy simulate`: replays the decisions recorded over a window through a draft policy on a
//! gateway (`SimulatePolicy`) and prints every change per edge as a table, JSON lines or CSV. A progress
//! bar on stderr (on a terminal) follows how far through the window the gateway has read.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::api as pb;
use crate::router::DEFAULT_DIRECTORY;

/// How `simulate` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SimulateFormat {
    Table,
    Jsonl,
    Csv,
}

/// `liaison policy simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub client: super::client::ClientArgs,
    /// The draft policy file.
    #[arg(long)]
    pub policy: PathBuf,
    /// The draft directory file [default: the embedded directory].
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// Replay the decisions of this long ago until now (or --until).
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// Replay the decisions before this time (RFC 3339) [default: now].
    #[arg(long, value_parser = super::output::parse_time)]
    pub until: Option<time::OffsetDateTime>,
    /// Only decisions where this party is the origin or the recipient.
    #[arg(long)]
    pub party: Option<String>,
    /// Example message ids per change (at most 16).
    #[arg(long, default_value_t = 3)]
    pub examples: u32,
    #[arg(long, value_enum, default_value = "table")]
    pub format: SimulateFormat,
}

/// One change as printed (JSON lines, CSV).
#[derive(Debug, serde::Serialize)]
struct Row {
    origin: String,
    recipient: String,
    before: String,
    before_by: String,
    after: String,
    after_by: String,
    count: u64,
    examples: String,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let read = |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    let directory = match &args.directory {
        Some(path) => read(path)?,
        None => DEFAULT_DIRECTORY.to_string(),
    };
    let now = time::OffsetDateTime::now_utc();
    let since = now - args.since;
    let request = pb::SimulatePolicyRequest {
        policy: read(&args.policy)?,
        directory,
        since: Some(super::output::timestamp(since)),
        until: args.until.map(super::output::timestamp),
        party: args.party.clone().unwrap_or_default(),
        examples: args.examples,
    };
    let mut stream = super::client::operator(&args.client).await?.simulate_policy(request).await?.into_inner();
    let bar = Bar::new(since, args.until.unwrap_or(now));
    let (mut changes, mut summary) = (Vec::new(), None);
    while let Some(answer) = stream.message().await? {
        match answer.item {
            Some(pb::simulate_policy_response::Item::Progress(progress)) => bar.update(&progress),
            Some(pb::simulate_policy_response::Item::Change(change)) => changes.push(change),
            Some(pb::simulate_policy_response::Item::Summary(last)) => summary = Some(last),
            None => {}
        }
    }
    bar.finish();
    let summary = summary.context("the gateway ended the simulation without a summary")?;
    print(args.format, &changes, &summary)
}

fn print(format: SimulateFormat, changes: &[pb::SimulatedChange], summary: &pb::SimulateSummary) -> anyhow::Result<()> {
    let line = format!(
        "draft {} against policy {} in force: {} decisions replayed, {} would change, {} skipped (not recorded with \
         kind and topic){}",
        summary.draft_version,
        summary.current_version,
        summary.decisions,
        summary.changed,
        summary.skipped,
        match summary.overflow {
            0 => String::new(),
            overflow => format!(", {overflow} changes past the gateway's cap of distinct changes not listed"),
        }
    );
    let rows = changes.iter().map(|change| Row {
        origin: change.origin.clone(),
        recipient: change.recipient.clone(),
        before: change.before.to_lowercase(),
        before_by: change.before_by.clone(),
        after: change.after.to_lowercase(),
        after_by: change.after_by.clone(),
        count: change.count,
        examples: change.examples.join(" "),
    });
    let format = match format {
        SimulateFormat::Table => {
            print!("{}", table(&rows.collect::<Vec<_>>()));
            println!("{line}");
            return Ok(());
        }
        SimulateFormat::Jsonl => super::output::Format::Json,
        SimulateFormat::Csv => super::output::Format::Csv,
    };
    let mut out = super::output::Rows::new(format);
    for row in rows {
        out.write(&row)?;
    }
    out.finish()?;
    eprintln!("{line}");
    Ok(())
}

/// The changes as an aligned table, one line per edge and change.
fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                format!("{} -> {}", row.origin, row.recipient),
                format!("{} -> {}", row.before, row.after),
                row.before_by.clone(),
                row.after_by.clone(),
                row.count.to_string(),
                row.examples.clone(),
            ]
        })
        .collect();
    let header = ["EDGE", "CHANGE", "BEFORE", "AFTER", "COUNT", "EXAMPLES"].map(String::from);
    let mut widths = header.clone().map(|cell| cell.len());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let padded: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out += padded.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// How far through the window the gateway has read, on stderr when it is a terminal.
struct Bar(Option<ProgressBar>, time::OffsetDateTime);

impl Bar {
    fn new(since: time::OffsetDateTime, until: time::OffsetDateTime) -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new((until - since).whole_seconds().max(1) as u64);
            let style = ProgressStyle::with_template("{bar:40} {percent:>3}% of the window [{elapsed_precise}] {msg}");
            bar.set_style(style.unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar
        });
        Bar(bar, since)
    }

    fn update(&self, progress: &pb::SimulateProgress) {
        let Some(bar) = &self.0 else { return };
        let at = progress.at.as_ref().map_or(0, |at| at.seconds - self.1.unix_timestamp());
        bar.set_position(at.max(0) as u64);
        bar.set_message(format!("{} records read, {} decisions replayed", progress.records_read, progress.decisions));
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_its_columns() {
        let row = |recipient: &str, count| Row {
            origin: "cbp".into(),
            recipient: recipient.into(),
            before: "delivered".into(),
            before_by: "r".into(),
            after: "denied".into(),
            after_by: "NO_ROUTE".into(),
            count,
            examples: "m1 m2".into(),
        };
        let text = table(&[row("ice", 2), row("hsi-tfcu", 10)]);
        assert_eq!(
            text,
            "EDGE             CHANGE               BEFORE  AFTER     COUNT  EXAMPLES\n\
             cbp -> ice       delivered -> denied  r       NO_ROUTE  2      m1 m2\n\
             cbp -> hsi-tfcu  delivered -> denied  r       NO_ROUTE  10     m1 m2\n"
        );
    }
}
