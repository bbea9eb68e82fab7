//! Benchmark of the gateway's audit records: what one group commit of 64 records costs from the records'
//! making to the entry's sealed JSON, made the way the gateway made them before (owned records, every field
//! copied, queued to the writer and serialised there) and the way it makes them now (borrowed records
//! encoded where they are made, the writer joining the runs). Both seal the same bytes.
//!
//! - `owned`: per record an [`AuditRecord`] with every field owned, the records collected and sealed;
//! - `encoded`: per record a borrowed [`AuditRecord`] pushed into [`EncodedRecords`], the runs sealed.
//!
//! The old path also freed each record on the writer's thread, which this single-threaded benchmark does
//! not: its figure for `owned` is a lower bound. Run with `cargo bench --bench audit`; figures in
//! BENCHMARKS.md. Under `cargo test --all-targets` criterion runs each once, and the setup's assertion
//! (both paths seal identical entries) is checked by the suite.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use liaison::audit::{AuditRecord, ChainHead, EncodedRecords, MessageRef, SealedEntry};

/// Records in one group commit: 64 concurrent publishes of one recipient each.
const RECORDS: usize = 64;
const AT: &str = "2026-12-03T20:00:00Z";

/// What the records are about: one message id per publish, as the publish path has them.
struct Publishes {
    ids: Vec<String>,
    subject: String,
    banner: String,
}

impl Publishes {
    fn new() -> Publishes {
        Publishes {
            ids: (0..RECORDS).map(|i| format!("01KBM7Z3Q4WJ8X2N5V6R{i:06}")).collect(),
            subject: "liaison.feed.ia.cbp.report.border-security.routine".into(),
            banner: "SECRET//NOFORN".into(),
        }
    }

    fn record<'a>(&'a self, id: &'a str) -> AuditRecord<'a> {
        let message = MessageRef { message_id: id, origin: "cbp", policy_version: "policy-v42" };
        AuditRecord::approved(&message, "ia", "cbp-to-hub", "border threat reporting", &self.subject)
            .criminal_intelligence(true)
            .under_markings(&self.banner)
    }

    fn owned(&self, head: &mut ChainHead) -> SealedEntry {
        let records: Vec<AuditRecord<'static>> = self.ids.iter().map(|id| self.record(id).into_owned()).collect();
        let sealed = head.seal_encoded(AT, &[EncodedRecords::from(&records[..])]);
        drop(records);
        sealed
    }

    fn encoded(&self, head: &mut ChainHead) -> SealedEntry {
        // Each publish encodes its own run; the writer joins them.
        let runs: Vec<EncodedRecords> = self.ids.iter().map(|id| EncodedRecords::from(self.record(id))).collect();
        head.seal_encoded(AT, &runs)
    }
}

fn audit(c: &mut Criterion) {
    let publishes = Publishes::new();
    let (owned, encoded) =
        (publishes.owned(&mut ChainHead::new("gw-a")), publishes.encoded(&mut ChainHead::new("gw-a")));
    assert_eq!(owned, encoded, "both paths seal the same entry");
    let mut group = c.benchmark_group("audit-group-commit-64");
    group.throughput(Throughput::Elements(RECORDS as u64));
    let mut head = ChainHead::new("gw-a");
    group.bench_function("owned", |b| b.iter(|| black_box(publishes.owned(&mut head))));
    let mut head = ChainHead::new("gw-a");
    group.bench_function("encoded", |b| b.iter(|| black_box(publishes.encoded(&mut head))));
    group.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
