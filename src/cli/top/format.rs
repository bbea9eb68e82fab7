//! Numbers and times as `liaison top` prints them: short, so columns stay narrow and aligned.

/// A count: exact below a thousand, then `12.3k`, `456k`, `1.2M`, `7.0G` ...
pub fn count(value: u64) -> String {
    if value < 1000 { value.to_string() } else { scaled(value as f64) }
}

/// A per-second rate without the unit: `0`, `0.5`, `42`, `12.3k` ...
pub fn rate(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        "0".to_string()
    } else if value < 9.95 {
        format!("{value:.1}")
    } else if value < 999.5 {
        format!("{value:.0}")
    } else {
        scaled(value)
    }
}

/// At least a thousand, with a unit: three significant figures at most.
fn scaled(value: f64) -> String {
    let mut value = value;
    let mut unit = "";
    for next in ["k", "M", "G", "T", "P", "E"] {
        value /= 1000.0;
        unit = next;
        // Below what would round up to 1000 of this unit.
        if value < 999.5 {
            break;
        }
    }
    if value < 99.95 { format!("{value:.1}{unit}") } else { format!("{value:.0}{unit}") }
}

/// A snapshot time in UTC, to the second: `2025-06-15 15:06:40Z`.
pub fn timestamp(timestamp: &prost_types::Timestamp) -> String {
    match time::OffsetDateTime::from_unix_timestamp(timestamp.seconds) {
        Ok(time) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            time.year(),
            u8::from(time.month()),
            time.day(),
            time.hour(),
            time.minute(),
            time.second()
        ),
        Err(_) => "-".to_string(),
    }
}
