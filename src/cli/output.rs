//! How list commands print: one JSON object per line, or CSV with a header row; and times as RFC 3339.

use std::io::Stdout;

/// The output format a list command was asked for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Prints rows to stdout in the chosen format.
pub struct Rows {
    csv: Option<csv::Writer<Stdout>>,
}

impl Rows {
    pub fn new(format: Format) -> Rows {
        Rows { csv: matches!(format, Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout())) }
    }

    pub fn write(&mut self, row: &impl serde::Serialize) -> anyhow::Result<()> {
        match &mut self.csv {
            Some(writer) => writer.serialize(row)?,
            None => println!("{}", serde_json::to_string(row)?),
        }
        Ok(())
    }

    /// Flushes what is buffered; call once after the last row.
    pub fn finish(self) -> anyhow::Result<()> {
        if let Some(mut writer) = self.csv {
            writer.flush()?;
        }
        Ok(())
    }
}

/// A protobuf time as RFC 3339 (whole seconds), or empty when unset or out of range.
pub fn rfc3339(at: Option<prost_types::Timestamp>) -> String {
    at.and_then(|at| time::OffsetDateTime::from_unix_timestamp(at.seconds).ok())
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time given on the command line.
pub fn parse_time(value: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|error| error.to_string())
}

/// A time as a protobuf timestamp.
pub fn timestamp(time: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.unix_timestamp(), nanos: time.nanosecond() as i32 }
}
