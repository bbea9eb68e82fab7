//! `liaison bench --report DIR`: a report's figures as SVG bar charts, `throughput.svg` and `latency.svg`.
//!
//! The charts are read from the report's JSON (the `--json` output), not from [`super::Report`], so a
//! report saved by an earlier run renders the same way (`--from FILE`); a figure an older report lacks
//! (p90) is drawn as "n/a". The SVG is written by hand: two kinds of grouped bar chart do not need a
//! plotting crate (plotters would bring a font stack and a dozen crates for it), and text output this
//! small is deterministic and testable. [`bar_panel`] draws one chart; the rest chooses what goes in it.

use std::fmt::Write;

use serde::Deserialize;

/// The two charts of one report.
#[derive(Debug)]
pub struct Charts {
    pub throughput: String,
    pub latency: String,
}

/// The figures the charts show, as the report's JSON has them.
#[derive(Debug, Deserialize)]
pub struct ChartInput {
    #[serde(default)]
    environment: Environment,
    throughput: Vec<ThroughputRow>,
    #[serde(default)]
    unary: Vec<UnaryRow>,
    latency: LatencyFigures,
    fanout: FanoutFigures,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Environment {
    cores: usize,
    nats_server: String,
    liaison: String,
    build: String,
    date: String,
}

#[derive(Debug, Deserialize)]
struct ThroughputRow {
    payload_bytes: usize,
    raw_delivered_per_s: f64,
    gateway_delivered_per_s: f64,
    gateway_published_per_s: f64,
}

#[derive(Debug, Deserialize)]
struct UnaryRow {
    payload_bytes: usize,
    clients: usize,
    published_per_s: f64,
}

#[derive(Debug, Deserialize)]
struct LatencyFigures {
    payload_bytes: usize,
    offered_per_s: u32,
    raw: Percentiles,
    gateway: Percentiles,
}

#[derive(Debug, Deserialize)]
struct FanoutFigures {
    subscribers: usize,
    payload_bytes: usize,
    published_per_s: u32,
    raw: Percentiles,
    gateway: Percentiles,
}

#[derive(Debug, Deserialize)]
struct Percentiles {
    p50_ms: f64,
    /// Reports written before p90 was measured have none.
    p90_ms: Option<f64>,
    p99_ms: f64,
    p999_ms: f64,
}

/// One grouped bar chart: a bar per series in each group, `None` where a figure is missing.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<String>,
    /// Group label and one value per series.
    pub groups: Vec<(String, Vec<Option<f64>>)>,
    /// How a value is written on its bar.
    pub format: fn(f64) -> String,
}

/// Series names, shared by both charts.
pub const RAW: &str = "raw JetStream";
pub const GATEWAY: &str = "gateway";

const WIDTH: f64 = 800.0;
const PANEL_HEIGHT: f64 = 380.0;
const HEADER: f64 = 64.0;
const MARGIN_LEFT: f64 = 90.0;
const MARGIN_RIGHT: f64 = 24.0;
const PANEL_TOP: f64 = 64.0;
const PANEL_BOTTOM: f64 = 64.0;
const COLOURS: [&str; 6] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"];

// === impl ChartInput ===

impl ChartInput {
    /// Reads the figures out of a report's JSON, naming the first field missing.
    pub fn from_json(report: serde_json::Value) -> Result<ChartInput, serde_json::Error> {
        serde_json::from_value(report)
    }

    pub fn charts(&self) -> Charts {
        Charts { throughput: self.throughput_svg(), latency: self.latency_svg() }
    }

    /// Delivered per second raw and through the gateway by payload; then, when unary Publish ran,
    /// PublishStream's publish rate beside unary Publish with each client count.
    pub fn throughput_svg(&self) -> String {
        let delivered = Panel {
            title: "Delivered msg/s, publish and consume concurrently".into(),
            x_label: "payload".into(),
            y_label: "messages per second".into(),
            series: vec![RAW.into(), format!("{GATEWAY} (PublishStream + Subscribe)")],
            groups: self
                .throughput
                .iter()
                .map(|row| {
                    (bytes(row.payload_bytes), vec![Some(row.raw_delivered_per_s), Some(row.gateway_delivered_per_s)])
                })
                .collect(),
            format: rate,
        };
        let mut panels = vec![delivered];
        if !self.unary.is_empty() {
            panels.push(self.unary_panel());
        }
        document("Liaison bench: throughput, gateway vs raw NATS", &self.environment.line(), &panels)
    }

    fn unary_panel(&self) -> Panel {
        let mut clients: Vec<usize> = Vec::new();
        for row in &self.unary {
            if !clients.contains(&row.clients) {
                clients.push(row.clients);
            }
        }
        let mut series = vec!["PublishStream".to_string()];
        let plural = |count: usize| if count == 1 { "" } else { "s" };
        series.extend(clients.iter().map(|&count| format!("unary Publish, {count} client{}", plural(count))));
        let groups = self
            .throughput
            .iter()
            .map(|row| {
                let unary = clients.iter().map(|&count| {
                    self.unary
                        .iter()
                        .find(|unary| unary.payload_bytes == row.payload_bytes && unary.clients == count)
                        .map(|unary| unary.published_per_s)
                });
                (bytes(row.payload_bytes), std::iter::once(Some(row.gateway_published_per_s)).chain(unary).collect())
            })
            .collect();
        Panel {
            title: "Published msg/s through the gateway: PublishStream vs unary Publish".into(),
            x_label: "payload".into(),
            y_label: "messages per second".into(),
            series,
            groups,
            format: rate,
        }
    }

    /// Latency percentiles raw and through the gateway at the latency phase's rate, then the fan-out's.
    pub fn latency_svg(&self) -> String {
        let latency = &self.latency;
        let fanout = &self.fanout;
        let percentiles = Panel {
            title: format!(
                "Publish-to-delivery latency at {} msg/s, {}",
                latency.offered_per_s,
                bytes(latency.payload_bytes)
            ),
            x_label: "percentile".into(),
            y_label: "milliseconds".into(),
            series: vec![RAW.into(), GATEWAY.into()],
            groups: [
                ("p50", latency.raw.p50_ms.into(), latency.gateway.p50_ms.into()),
                ("p90", latency.raw.p90_ms, latency.gateway.p90_ms),
                ("p99", latency.raw.p99_ms.into(), latency.gateway.p99_ms.into()),
                ("p99.9", latency.raw.p999_ms.into(), latency.gateway.p999_ms.into()),
            ]
            .into_iter()
            .map(|(name, raw, gateway)| (name.to_string(), vec![raw, gateway]))
            .collect(),
            format: millis,
        };
        let fanout_panel = Panel {
            title: format!(
                "Fan-out latency: 1 publisher at {} msg/s to {} subscriptions, {}",
                fanout.published_per_s,
                fanout.subscribers,
                bytes(fanout.payload_bytes)
            ),
            x_label: "percentile".into(),
            y_label: "milliseconds".into(),
            series: vec![RAW.into(), GATEWAY.into()],
            groups: vec![
                ("p50".into(), vec![Some(fanout.raw.p50_ms), Some(fanout.gateway.p50_ms)]),
                ("p99".into(), vec![Some(fanout.raw.p99_ms), Some(fanout.gateway.p99_ms)]),
            ],
            format: millis,
        };
        document("Liaison bench: latency, gateway vs raw NATS", &self.environment.line(), &[percentiles, fanout_panel])
    }
}

// === impl Environment ===

impl Environment {
    fn line(&self) -> String {
        format!(
            "{} cores, nats-server {}, liaison {} {} build, {}",
            self.cores, self.nats_server, self.liaison, self.build, self.date
        )
    }
}

/// A whole SVG document: a title and a line under it, then the panels one below the other.
pub fn document(title: &str, subtitle: &str, panels: &[Panel]) -> String {
    let height = HEADER + PANEL_HEIGHT * panels.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} \
         {height}\" font-family=\"sans-serif\" role=\"img\">\n<title>{title}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{x}\" y=\"26\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">{title}</text>\n\
         <text x=\"{x}\" y=\"46\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">{subtitle}</text>\n",
        title = escape(title),
        subtitle = escape(subtitle),
        x = WIDTH / 2.0,
    );
    for (index, panel) in panels.iter().enumerate() {
        svg.push_str(&bar_panel(panel, HEADER + PANEL_HEIGHT * index as f64));
    }
    svg.push_str("</svg>\n");
    svg
}

/// One panel at vertical offset `top`: title, legend, axes with gridlines and labels, and a bar with its
/// value per series and group (`class="bar"`, named by `data-series` and `data-group`).
pub fn bar_panel(panel: &Panel, top: f64) -> String {
    let mut svg = format!("<g class=\"panel\" transform=\"translate(0 {top})\">\n");
    let (plot_left, plot_right) = (MARGIN_LEFT, WIDTH - MARGIN_RIGHT);
    let (plot_top, plot_bottom) = (PANEL_TOP, PANEL_HEIGHT - PANEL_BOTTOM);
    let _ = writeln!(
        svg,
        "<text x=\"{x}\" y=\"18\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
        escape(&panel.title),
        x = WIDTH / 2.0
    );
    legend(&mut svg, &panel.series, plot_left);
    let largest = panel.groups.iter().flat_map(|(_, values)| values.iter().flatten()).fold(0.0_f64, |a, &b| a.max(b));
    let (axis_top, step) = axis(largest);
    let y = |value: f64| plot_bottom - (value / axis_top).clamp(0.0, 1.0) * (plot_bottom - plot_top);
    let mut tick = 0.0;
    while tick <= axis_top * (1.0 + 1e-9) {
        let _ = writeln!(
            svg,
            "<line x1=\"{plot_left}\" x2=\"{plot_right}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{label_x}\" y=\"{label_y:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            escape(&tick_label(&(panel.format)(tick))),
            at = y(tick),
            label_x = plot_left - 6.0,
            label_y = y(tick) + 4.0,
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{plot_left}\" x2=\"{plot_left}\" y1=\"{plot_top}\" y2=\"{plot_bottom}\" stroke=\"#333\"/>\
         <line x1=\"{plot_left}\" x2=\"{plot_right}\" y1=\"{plot_bottom}\" y2=\"{plot_bottom}\" stroke=\"#333\"/>\n\
         <text x=\"{x}\" y=\"{x_label_y}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"18\" y=\"{y_mid}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 18 {y_mid})\">{}</text>",
        escape(&panel.x_label),
        escape(&panel.y_label),
        x = (plot_left + plot_right) / 2.0,
        x_label_y = PANEL_HEIGHT - 16.0,
        y_mid = (plot_top + plot_bottom) / 2.0,
    );
    bars(&mut svg, panel, (plot_left, plot_right, plot_bottom), y);
    svg.push_str("</g>\n");
    svg
}

fn legend(svg: &mut String, series: &[String], left: f64) {
    let mut x = left;
    for (index, name) in series.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"32\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{text_x}\" y=\"42\" font-size=\"11\">{}</text>",
            COLOURS[index % COLOURS.len()],
            escape(name),
            text_x = x + 16.0,
        );
        // Roughly the text's width at 11 px, so entries do not overlap.
        x += 28.0 + name.chars().count() as f64 * 6.2;
    }
}

fn bars(svg: &mut String, panel: &Panel, (left, right, bottom): (f64, f64, f64), y: impl Fn(f64) -> f64) {
    let group_width = (right - left) / panel.groups.len().max(1) as f64;
    let bar_width = (group_width * 0.8 / panel.series.len().max(1) as f64).min(90.0);
    for (group_index, (group, values)) in panel.groups.iter().enumerate() {
        let centre = left + group_width * (group_index as f64 + 0.5);
        let first = centre - bar_width * values.len() as f64 / 2.0;
        let _ = writeln!(
            svg,
            "<text x=\"{centre:.1}\" y=\"{label_y}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            escape(group),
            label_y = bottom + 18.0
        );
        for (series_index, value) in values.iter().enumerate() {
            let x = first + bar_width * series_index as f64;
            let name = panel.series.get(series_index).map(String::as_str).unwrap_or("");
            let mid = x + bar_width / 2.0;
            let Some(value) = value else {
                let _ = writeln!(
                    svg,
                    "<text class=\"missing\" x=\"{mid:.1}\" y=\"{at:.1}\" font-size=\"10\" text-anchor=\"middle\">n/a</text>",
                    at = bottom - 4.0
                );
                continue;
            };
            let text = (panel.format)(*value);
            let _ = writeln!(
                svg,
                "<rect class=\"bar\" data-series=\"{series}\" data-group=\"{group}\" x=\"{x:.1}\" y=\"{top:.1}\" \
                 width=\"{width:.1}\" height=\"{height:.1}\" fill=\"{colour}\"><title>{series}, {group}: {text}</title></rect>\
                 <text class=\"value\" x=\"{mid:.1}\" y=\"{label_y:.1}\" font-size=\"10\" text-anchor=\"middle\">{text}</text>",
                series = escape(name),
                group = escape(group),
                top = y(*value),
                width = bar_width - 2.0,
                height = bottom - y(*value),
                colour = COLOURS[series_index % COLOURS.len()],
                text = escape(&text),
                label_y = y(*value) - 4.0,
            );
        }
    }
}

/// The axis' top and gridline step for values up to `largest`: a 1, 2, 2.5 or 5 step times a power of
/// ten, about five lines, with room above the largest bar for its label.
pub fn axis(largest: f64) -> (f64, f64) {
    if !largest.is_finite() || largest <= 0.0 {
        return (1.0, 0.25);
    }
    let rough = largest / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|&s| s >= rough).unwrap_or(rough);
    let mut top = (largest / step).ceil() * step;
    if top < largest * 1.08 {
        top += step;
    }
    (top, step)
}

/// A gridline's value without the trailing zeros a bar's value keeps: `2.50` is `2.5`, `5.00` is `5`.
fn tick_label(text: &str) -> String {
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text.to_string(),
    }
}

fn bytes(size: usize) -> String {
    format!("{size} B")
}

/// Messages per second: whole numbers with thousands separators (one decimal below 100).
pub fn rate(value: f64) -> String {
    if value.abs() < 100.0 && value.fract() != 0.0 {
        return format!("{value:.1}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 { format!("-{grouped}") } else { grouped }
}

/// Milliseconds: two decimals below 10, one below 100, none above.
pub fn millis(value: f64) -> String {
    match value.abs() {
        v if v < 10.0 => format!("{value:.2}"),
        v if v < 100.0 => format!("{value:.1}"),
        _ => format!("{value:.0}"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
