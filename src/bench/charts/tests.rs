//! Unit tests of the SVG charts: a bar per series and group with its value, missing figures as n/a, and
//! documents that are well-formed XML.

use super::*;

fn percentiles(p50: f64, p90: Option<f64>, p99: f64, p999: f64) -> serde_json::Value {
    let mut value = serde_json::json!({ "count": 1000, "p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": 40.0 });
    if let Some(p90) = p90 {
        value["p90_ms"] = p90.into();
    }
    value
}

/// A report as `liaison bench --json` writes it, cut to what the charts read (plus a field they do not).
fn report(with_p90: bool) -> serde_json::Value {
    let p90 = |value: f64| with_p90.then_some(value);
    serde_json::json!({
        "environment": { "cores": 2, "nats_server": "2.15.1", "liaison": "0.1.0", "build": "release",
                         "date": "2026-12-01T10:00:00Z", "command": "liaison bench" },
        "throughput": [
            { "payload_bytes": 256, "raw_published_per_s": 20000.0, "raw_delivered_per_s": 19876.4,
              "gateway_published_per_s": 15000.0, "gateway_delivered_per_s": 14321.0, "ratio": 0.72 },
            { "payload_bytes": 1024, "raw_published_per_s": 18000.0, "raw_delivered_per_s": 17654.0,
              "gateway_published_per_s": 13000.0, "gateway_delivered_per_s": 12345.0, "ratio": 0.7 },
        ],
        "unary": [
            { "payload_bytes": 256, "clients": 1, "published_per_s": 812.0, "ratio_to_stream": 0.05 },
            { "payload_bytes": 256, "clients": 16, "published_per_s": 6543.0, "ratio_to_stream": 0.4 },
            { "payload_bytes": 1024, "clients": 1, "published_per_s": 790.0, "ratio_to_stream": 0.05 },
        ],
        "latency": { "payload_bytes": 1024, "offered_per_s": 2000,
                     "raw": percentiles(1.23, p90(1.87), 3.45, 7.5), "gateway": percentiles(2.61, p90(3.9), 5.43, 12.5) },
        "fanout": { "subscribers": 1000, "payload_bytes": 1024, "published_per_s": 5,
                    "raw": percentiles(4.2, None, 9.9, 20.0), "gateway": percentiles(6.6, None, 14.2, 30.0) },
    })
}

fn charts(with_p90: bool) -> Charts {
    ChartInput::from_json(report(with_p90)).expect("the report parses").charts()
}

/// The `data-series` of every bar, in order.
fn bar_series(svg: &str) -> Vec<String> {
    svg.split("<rect class=\"bar\" data-series=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

/// Tags open and close in order, entities are known, and there is one root `<svg>`.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;"].iter().any(|e| entity.starts_with(e)), "bad entity: {entity}");
        }
        let end = rest[start..].find('>').expect("tag closes") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name.trim()), "closing </{name}>");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap());
        }
        if open.is_empty() {
            assert!(rest[end + 1..].trim().is_empty(), "content after the root element");
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
}

#[test]
fn the_throughput_chart_has_a_bar_per_series_and_payload_with_its_value() {
    let svg = charts(true).throughput;
    assert_well_formed(&svg);
    let series = bar_series(&svg);
    let gateway = "gateway (PublishStream + Subscribe)";
    // Delivered: raw and gateway for 256 and 1024 B; then PublishStream and unary with 1 and 16 clients.
    assert_eq!(series[..4], [RAW, gateway, RAW, gateway]);
    let published = ["PublishStream", "unary Publish, 1 client", "unary Publish, 16 clients"];
    assert_eq!(series[4..], [published[0], published[1], published[2], published[0], published[1]]);
    for value in ["19,876", "14,321", "17,654", "12,345", "15,000", "812", "6,543", "13,000", "790"] {
        assert!(svg.contains(&format!(">{value}</text>")), "{value} missing:\n{svg}");
    }
    assert_eq!(svg.matches(">n/a</text>").count(), 1, "no 16-client run at 1024 B");
    for text in ["Delivered msg/s", "messages per second", "payload", "256 B", "1024 B", "2 cores, nats-server 2.15.1"]
    {
        assert!(svg.contains(text), "{text} missing");
    }
}

#[test]
fn without_unary_rows_the_throughput_chart_is_one_panel() {
    let mut report = report(true);
    report["unary"] = serde_json::json!([]);
    let svg = ChartInput::from_json(report).unwrap().throughput_svg();
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<g class=\"panel\"").count(), 1);
    assert_eq!(bar_series(&svg).len(), 4);
}

#[test]
fn the_latency_chart_has_each_percentile_raw_and_through_the_gateway_and_the_fanout() {
    let svg = charts(true).latency;
    assert_well_formed(&svg);
    let series = bar_series(&svg);
    assert_eq!(series.len(), 4 * 2 + 2 * 2, "{series:?}");
    assert!(series.chunks(2).all(|pair| pair == [RAW, GATEWAY]), "{series:?}");
    for value in ["1.23", "1.87", "3.45", "7.50", "2.61", "3.90", "5.43", "12.5", "4.20", "9.90", "6.60", "14.2"] {
        assert!(svg.contains(&format!(">{value}</text>")), "{value} missing:\n{svg}");
    }
    for group in ["p50", "p90", "p99", "p99.9"] {
        assert!(svg.contains(&format!("data-group=\"{group}\"")), "{group}");
    }
    assert!(svg.contains("latency at 2000 msg/s, 1024 B") && svg.contains("to 1000 subscriptions"));
    assert!(svg.contains("milliseconds") && svg.contains("percentile"));
}

#[test]
fn a_report_from_before_p90_shows_it_as_missing() {
    let svg = charts(false).latency;
    assert_well_formed(&svg);
    assert_eq!(bar_series(&svg).len(), 3 * 2 + 2 * 2);
    assert_eq!(svg.matches(">n/a</text>").count(), 2, "raw and gateway p90");
}

#[test]
fn a_report_without_a_figure_the_charts_need_names_it() {
    let mut report = report(true);
    report.as_object_mut().unwrap().remove("fanout");
    let error = ChartInput::from_json(report).unwrap_err().to_string();
    assert!(error.contains("missing field `fanout`"), "{error}");
}

#[test]
fn text_is_escaped() {
    let panel = Panel {
        title: "a <b> & \"c\"".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: vec!["s<1>".into()],
        groups: vec![("g&h".into(), vec![Some(1.0)])],
        format: millis,
    };
    let svg = document("t & t", "s & s", &[panel]);
    assert_well_formed(&svg);
    assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;") && svg.contains("data-series=\"s&lt;1&gt;\""));
}

#[test]
fn axes_end_on_a_round_step_above_the_largest_value() {
    for (largest, top, step) in
        [(0.0, 1.0, 0.25), (19876.4, 25000.0, 5000.0), (3.45, 4.0, 1.0), (12.5, 15.0, 2.5), (100.0, 120.0, 20.0)]
    {
        assert_eq!(axis(largest), (top, step), "largest {largest}");
    }
    assert_eq!(axis(f64::NAN), (1.0, 0.25));
}

#[test]
fn values_are_written_as_the_table_writes_them() {
    for (value, text) in [(0.0, "0"), (12.5, "12.5"), (812.0, "812"), (19876.4, "19,876"), (1234567.0, "1,234,567")] {
        assert_eq!(rate(value), text);
    }
    for (value, text) in [(1.234, "1.23"), (12.34, "12.3"), (123.4, "123")] {
        assert_eq!(millis(value), text);
    }
    for (text, tick) in [("2.50", "2.5"), ("5.00", "5"), ("0.00", "0"), ("12.5", "12.5"), ("20,000", "20,000")] {
        assert_eq!(tick_label(text), tick);
    }
}
