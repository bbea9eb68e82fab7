//! Benchmark of traffic accounting on the hot path: what one message costs the gateway in counting.
//!
//! A message that is published to one recipient and delivered once is counted twice: `published` when
//! JetStream stores the copy, `delivered` when a subscriber receives it. Each is a map lookup by subject
//! plus relaxed atomic adds. The map holds 10,000 flows (the bound), so lookups are not flattered by a
//! tiny table. Compare the figure with the gateway's CPU per message from `liaison bench` (BENCHMARKS.md):
//! the target is that accounting costs under 5 % of throughput.
//!
//! Run with `cargo bench --bench traffic`. Under `cargo test --all-targets` each benchmark runs once.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use liaison::model::{Kind, PartyId, Topic};
use liaison::traffic::{DEFAULT_MAX_FLOWS, FlowLabels, Traffic};

fn labels(topic: usize) -> Option<FlowLabels> {
    Some(FlowLabels {
        recipient: PartyId::parse("ia").unwrap(),
        origin: PartyId::parse("cbp").unwrap(),
        kind: Kind::Report,
        topic: Topic::parse(&format!("topic-{topic}")).unwrap(),
    })
}

fn subject(topic: usize) -> String {
    format!("liaison.feed.ia.cbp.report.topic-{topic}")
}

fn traffic(c: &mut Criterion) {
    let traffic = Arc::new(Traffic::default());
    let subjects: Vec<String> = (0..DEFAULT_MAX_FLOWS).map(subject).collect();
    for (topic, subject) in subjects.iter().enumerate() {
        traffic.flow(subject, || labels(topic)).published(1);
    }
    assert_eq!(traffic.flow_count(), DEFAULT_MAX_FLOWS, "the map is full, as on a busy gateway");

    let mut group = c.benchmark_group("traffic");
    let mut next = 0;
    group.bench_function("publish-and-deliver", |b| {
        b.iter(|| {
            next = (next + 7919) % subjects.len();
            let subject = black_box(subjects[next].as_str());
            traffic.flow(subject, || labels(next)).published(1024);
            traffic.flow(subject, || labels(next)).delivered(1024, 1);
        })
    });
    // Two threads counting on the same flow: the worst case for the shared counters' cache lines.
    group.bench_function("publish-and-deliver-contended", |b| {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = {
            let (traffic, stop, subject) = (traffic.clone(), stop.clone(), subjects[0].clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    traffic.flow(&subject, || labels(0)).published(1024);
                }
            })
        };
        b.iter(|| {
            let subject = black_box(subjects[0].as_str());
            traffic.flow(subject, || labels(0)).published(1024);
            traffic.flow(subject, || labels(0)).delivered(1024, 1);
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        other.join().unwrap();
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = traffic
}
criterion_main!(benches);
