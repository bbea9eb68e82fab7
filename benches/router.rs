//! Benchmark of the routing decision (`Router::route`) on a large synthetic directory and policy.
//!
//! The workload is generated as TOML text from a fixed-seed LCG, so it is the same on every run, and loaded
//! through `Router::load` exactly as the gateway loads its files: 500 parties of every kind and 5,000 rules
//! with selectors of every sort and every limit. Four measurements, figures and targets in BENCHMARKS.md:
//!
//! - `named-1`: one named recipient that is delivered (target: at most 250 ns per recipient decision);
//! - `named-16`: sixteen named recipients, all delivered, in one call (divide by 16 for one decision);
//! - `fan-out-50`: route by policy, where the rules and topics of interest select about 50 recipients
//!   (target: at most 10 µs per call);
//! - `denied-no-route`: one named recipient that no rule reaches, for completeness.
//!
//! Run with `cargo bench --bench router`. Under `cargo test --all-targets` criterion runs each benchmark
//! once, so the setup's assertions, which keep the workload what this header says, are checked by the
//! suite.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use liaison::model::{
    Classification, DisseminationControl, Kind, Markings, PartyId, Precedence, RouteRequest, Tlp, Token,
};
use liaison::router::{DenialReason, Outcome, Router};

/// Parties in the synthetic directory.
const PARTIES: usize = 500;
/// Rules in the synthetic policy.
const RULES: usize = 5_000;
/// Named recipients in the batch measurement.
const BATCH: usize = 16;
/// The origin of the named-recipient measurements: a DHS component, with the rules of a typical origin.
const NAMED_ORIGIN: &str = "dhs-03";
/// The route-by-policy measurement: I&A publishing on this topic reaches about 50 parties.
const FAN_OUT_ORIGIN: &str = "ia";
const FAN_OUT_TOPIC: &str = "border-security";
/// How far the fan-out may drift from 50 recipients before the workload no longer measures the target.
const FAN_OUT_RANGE: std::ops::RangeInclusive<usize> = 45..=55;

/// Party kinds and how many parties of each: every kind of `PartyKind`, 500 in all.
const KINDS: [(&str, usize); 9] = [
    ("hub", 1),
    ("mission-center", 8),
    ("dhs-component", 16),
    ("host-agency", 30),
    ("liaison-home-agency", 15),
    ("hsi-unit", 12),
    ("fusion-center", 30),
    ("foreign-partner", 24),
    ("field-agency", 364),
];

/// Topics of interest and of rule limits.
const TOPICS: [&str; 40] = [
    "counter-terrorism",
    "foreign-fighters",
    "weapons-of-mass-destruction",
    "cyber-crime",
    "critical-infrastructure",
    "counter-intelligence",
    "counter-proliferation",
    "transnational-organized-crime",
    "money-laundering",
    "narcotics",
    "human-smuggling",
    "transnational-gangs",
    "border-security",
    "emergency-management",
    "identity-fraud",
    "aviation-security",
    "benefit-fraud",
    "maritime-security",
    "bulk-cash-smuggling",
    "ip-fraud",
    "cultural-property",
    "tips",
    "election-security",
    "domestic-terrorism",
    "school-safety",
    "firearms-trafficking",
    "fentanyl",
    "human-trafficking",
    "child-exploitation",
    "ransomware",
    "insider-threat",
    "public-health",
    "wildfire",
    "pandemic-response",
    "supply-chain",
    "space-security",
    "drones",
    "online-extremism",
    "sanctions-evasion",
    "export-control",
];

const TAGS: [&str; 8] =
    ["resident-lno-home", "border-region", "maritime", "tier-1", "cyber-partner", "ports-of-entry", "jttf", "hidta"];

const CLEARANCES: [&str; 4] = ["unclassified", "confidential", "secret", "top-secret"];
const MESSAGE_KINDS: [&str; 6] = ["report", "alert", "tip", "rfi", "rfi-response", "product"];
const PRECEDENCES: [&str; 4] = ["routine", "priority", "immediate", "flash"];

/// A 64-bit linear congruential generator (Knuth's MMIX constants): deterministic, no dependencies.
struct Lcg(u64);

impl Lcg {
    /// 31 random bits.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as u64) >> 31) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// `count` distinct items.
    fn distinct<'a>(&mut self, items: &[&'a str], count: usize) -> Vec<&'a str> {
        let mut chosen = Vec::with_capacity(count);
        while chosen.len() < count.min(items.len()) {
            let item = self.pick(items);
            if !chosen.contains(&item) {
                chosen.push(item);
            }
        }
        chosen
    }
}

/// A TOML array of strings.
fn array<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("\"{}\"", item.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

/// The synthetic directory as TOML, with the parties' ids, kinds and fusion centers for the policy.
struct SyntheticDirectory {
    text: String,
    ids: Vec<String>,
    fusion_centers: Vec<String>,
    foreign: Vec<String>,
}

fn directory(rng: &mut Lcg) -> SyntheticDirectory {
    let mut text = String::new();
    let mut ids = Vec::with_capacity(PARTIES);
    let mut fusion_centers = Vec::new();
    let mut foreign = Vec::new();
    for (kind, count) in KINDS {
        for number in 1..=count {
            let (id, nationality) = match kind {
                "hub" => ("ia".to_string(), "USA"),
                "mission-center" => (format!("ia-mc-{number:02}"), "USA"),
                "dhs-component" => (format!("dhs-{number:02}"), "USA"),
                "host-agency" => (format!("agency-{number:02}"), "USA"),
                "liaison-home-agency" => (format!("home-{number:02}"), "USA"),
                "hsi-unit" => (format!("hsi-{number:02}"), "USA"),
                "fusion-center" => (format!("fc-{number:02}"), "USA"),
                "foreign-partner" => {
                    let nationality = rng.pick(&["CAN", "CAN", "GBR", "GBR", "MEX"]);
                    let id = format!("fp-{}-{number:02}", nationality.to_lowercase());
                    (id, nationality)
                }
                _ => (format!("pd-{number:03}"), "USA"),
            };
            let clearance = match kind {
                "hub" | "mission-center" => "top-secret",
                "fusion-center" => "secret",
                "field-agency" => rng.pick(&CLEARANCES[..3]),
                "foreign-partner" => rng.pick(&CLEARANCES[1..3]),
                _ => rng.pick(&["secret", "top-secret", "top-secret"]),
            };
            let law_enforcement = match kind {
                "hub" | "mission-center" | "hsi-unit" | "fusion-center" => true,
                "field-agency" => rng.chance(95),
                "foreign-partner" => rng.chance(20),
                _ => rng.chance(50),
            };
            let topics = if kind == "hub" || rng.chance(3) {
                vec!["*"]
            } else {
                let count = 1 + rng.below(5);
                rng.distinct(&TOPICS, count)
            };
            writeln!(text, "[[party]]").unwrap();
            writeln!(text, "id = \"{id}\"").unwrap();
            writeln!(text, "name = \"Synthetic {kind} {number}\"").unwrap();
            writeln!(text, "kind = \"{kind}\"").unwrap();
            writeln!(text, "nationality = \"{nationality}\"").unwrap();
            writeln!(text, "clearance = \"{clearance}\"").unwrap();
            writeln!(text, "law-enforcement = {law_enforcement}").unwrap();
            writeln!(text, "topics = {}", array(&topics)).unwrap();
            if kind == "mission-center" {
                writeln!(text, "organisation = \"dhs-ia\"").unwrap();
            }
            if kind == "field-agency" {
                let center = &fusion_centers[rng.below(fusion_centers.len())];
                writeln!(text, "fusion-center = \"{center}\"").unwrap();
            }
            if rng.chance(35) {
                let count = 1 + rng.below(2);
                writeln!(text, "tags = {}", array(&rng.distinct(&TAGS, count))).unwrap();
            }
            text.push('\n');
            match kind {
                "fusion-center" => fusion_centers.push(id.clone()),
                "foreign-partner" => foreign.push(id.clone()),
                _ => {}
            }
            ids.push(id);
        }
    }
    assert_eq!(ids.len(), PARTIES);
    SyntheticDirectory { text, ids, fusion_centers, foreign }
}

/// One selector: mostly party ids, then `kind:`, `tag:`, `members:` and, rarely, `*`.
fn selector(rng: &mut Lcg, parties: &SyntheticDirectory) -> String {
    match rng.below(1000) {
        0..850 => parties.ids[rng.below(parties.ids.len())].clone(),
        850..910 => format!("kind:{}", KINDS[rng.below(KINDS.len())].0),
        910..950 => format!("tag:{}", rng.pick(&TAGS)),
        950..998 => {
            let center = &parties.fusion_centers[rng.below(parties.fusion_centers.len())];
            format!("members:{center}")
        }
        _ => "*".to_string(),
    }
}

/// Appends one rule.
fn rule(text: &mut String, name: &str, from: &[String], to: &[String], limits: &str) {
    writeln!(text, "[[rule]]").unwrap();
    writeln!(text, "name = \"{name}\"").unwrap();
    writeln!(text, "basis = \"Synthetic need-to-know basis for {name}\"").unwrap();
    writeln!(text, "from = {}", array(from)).unwrap();
    writeln!(text, "to = {}", array(to)).unwrap();
    text.push_str(limits);
    text.push('\n');
}

fn policy(rng: &mut Lcg, parties: &SyntheticDirectory) -> String {
    let mut text = String::new();
    // The liaison structure first, as in the shipped policy: the hub to and from every kind, foreign
    // partners only for released material, and each fusion center to and from its field agencies.
    let hub = ["ia".to_string()];
    for (kind, _) in &KINDS[1..] {
        let selector = [format!("kind:{kind}")];
        let limits = if *kind == "foreign-partner" { "release-required = true\n" } else { "" };
        rule(&mut text, &format!("ia-to-{kind}"), &hub, &selector, limits);
        rule(&mut text, &format!("{kind}-to-ia"), &selector, &hub, "");
    }
    for center in &parties.fusion_centers {
        let members = [format!("members:{center}")];
        let center = [center.clone()];
        let flo = format!("flo-reporting-{}", center[0]);
        rule(&mut text, &flo, &members, &center, "");
        let field = format!("{}-to-field", center[0]);
        rule(&mut text, &field, &center, &members, "");
    }
    // Then bilateral and group arrangements with limits of every sort.
    let structural = text.matches("[[rule]]").count();
    for number in structural..RULES {
        let from: Vec<String> = (0..1 + rng.below(3)).map(|_| selector(rng, parties)).collect();
        let mut to: Vec<String> = (0..1 + rng.below(4)).map(|_| selector(rng, parties)).collect();
        if rng.chance(3) {
            to.push(parties.foreign[rng.below(parties.foreign.len())].clone());
        }
        let mut limits = String::new();
        if rng.chance(30) {
            let count = 1 + rng.below(3);
            let kinds = rng.distinct(&MESSAGE_KINDS, count);
            writeln!(limits, "kinds = {}", array(&kinds)).unwrap();
        }
        // A rule that reaches everyone is always limited to a topic.
        if rng.chance(45) || to.iter().any(|selector| selector == "*") {
            let count = 1 + rng.below(4);
            writeln!(limits, "topics = {}", array(&rng.distinct(&TOPICS, count))).unwrap();
        }
        if rng.chance(25) {
            let level = rng.pick(&CLEARANCES);
            writeln!(limits, "max-classification = \"{level}\"").unwrap();
        }
        if rng.chance(10) {
            let count = 1 + rng.below(2);
            let precedences = rng.distinct(&PRECEDENCES, count);
            writeln!(limits, "precedences = {}", array(&precedences)).unwrap();
        }
        if rng.chance(3) {
            let relay = if rng.chance(70) { "ia".to_string() } else { format!("ia-mc-{:02}", 1 + rng.below(8)) };
            writeln!(limits, "relay = \"{relay}\"").unwrap();
        }
        if to.iter().any(|selector| selector.starts_with("fp-")) || rng.chance(2) {
            writeln!(limits, "release-required = true").unwrap();
        }
        let name = format!("arrangement-{number:04}");
        rule(&mut text, &name, &from, &to, &limits);
    }
    text
}

fn token(value: &str) -> PartyId {
    Token::parse(value).expect("bench tokens are valid")
}

fn request(origin: &str, recipients: Vec<PartyId>, topic: &str, markings: Markings) -> RouteRequest {
    RouteRequest {
        origin: token(origin),
        recipients,
        kind: Kind::Report,
        topic: token(topic),
        markings,
        precedence: Precedence::Priority,
    }
}

fn delivered(router: &Router, request: &RouteRequest) -> usize {
    let routing = router.route(request).expect("the origin is known");
    routing.outcomes.iter().filter(|outcome| matches!(outcome, Outcome::Deliver(_))).count()
}

/// The router and the requests to measure, checked to be what the header says.
struct Workload {
    router: Router,
    named_one: RouteRequest,
    named_batch: RouteRequest,
    fan_out: RouteRequest,
    fan_out_recipients: usize,
    denied: RouteRequest,
}

impl Workload {
    fn new() -> Workload {
        let mut rng = Lcg(0x5eed_11a1_5011);
        let parties = directory(&mut rng);
        let policy = policy(&mut rng, &parties);
        let router = Router::load(("directory.toml", &parties.text), ("policy.toml", &policy))
            .expect("the synthetic directory and policy load");
        assert_eq!(router.directory().len(), PARTIES);
        assert_eq!(router.policy().rules().len(), RULES);

        // Named recipients: SECRET//NOFORN reporting from a DHS component. Every party it can deliver
        // to, ordered by how far down the origin's rules the first rule that covers the edge is.
        let secret_noforn = Markings {
            classification: Classification::Secret,
            controls: vec![DisseminationControl::Noforn],
            ..Markings::unclassified()
        };
        let topic = "narcotics";
        let origin = router.directory().index_of(&token(NAMED_ORIGIN)).unwrap();
        let origin_rules = router.policy().rules_from(origin);
        let mut reachable = Vec::new();
        let mut unreachable = Vec::new();
        for id in &parties.ids {
            let single = request(NAMED_ORIGIN, vec![token(id)], topic, secret_noforn.clone());
            match &router.route(&single).unwrap().outcomes[0] {
                Outcome::Deliver(approval) => {
                    let position = origin_rules
                        .iter()
                        .position(|&rule| &*router.policy().rule(rule).name == approval.rule())
                        .expect("the rule applies to the origin");
                    reachable.push((position, token(id)));
                }
                Outcome::Deny(denial) if denial.reason == DenialReason::NoRoute => {
                    unreachable.push(token(id));
                }
                Outcome::Deny(_) | Outcome::Hold(_) => {}
            }
        }
        reachable.sort_by_key(|(position, _)| *position);
        assert!(reachable.len() >= 2 * BATCH, "{} reachable", reachable.len());
        let (position, median) = reachable[reachable.len() / 2].clone();
        let named_one = request(NAMED_ORIGIN, vec![median], topic, secret_noforn.clone());
        assert_eq!(delivered(&router, &named_one), 1);
        // The batch: spread evenly over that order, so it costs what a typical recipient costs.
        let batch = (0..BATCH).map(|k| reachable[(2 * k + 1) * reachable.len() / (2 * BATCH)].1.clone()).collect();
        let named_batch = request(NAMED_ORIGIN, batch, topic, secret_noforn.clone());
        assert_eq!(delivered(&router, &named_batch), BATCH);
        let denied = request(NAMED_ORIGIN, vec![unreachable[unreachable.len() / 2].clone()], topic, secret_noforn);
        match &router.route(&denied).unwrap().outcomes[..] {
            [Outcome::Deny(denial)] => assert_eq!(denial.reason, DenialReason::NoRoute),
            other => panic!("expected one NO_ROUTE denial, got {other:?}"),
        }

        // Route by policy: I&A's UNCLASSIFIED//FOUO TLP:GREEN alert, selected by rules and topics.
        let mut fan_out = request(
            FAN_OUT_ORIGIN,
            Vec::new(),
            FAN_OUT_TOPIC,
            Markings { controls: vec![DisseminationControl::Fouo], tlp: Some(Tlp::Green), ..Markings::unclassified() },
        );
        fan_out.kind = Kind::Alert;
        let fan_out_recipients = delivered(&router, &fan_out);
        assert!(
            FAN_OUT_RANGE.contains(&fan_out_recipients),
            "{FAN_OUT_ORIGIN} on {FAN_OUT_TOPIC} reaches {fan_out_recipients} recipients"
        );
        let fan_out_rules =
            router.policy().rules_from(router.directory().index_of(&token(FAN_OUT_ORIGIN)).unwrap()).len();
        let mut rules_per_origin: Vec<usize> =
            (0..PARTIES as u32).map(|party| router.policy().rules_from(party).len()).collect();
        rules_per_origin.sort_unstable();

        eprintln!(
            "workload: {PARTIES} parties, {RULES} rules ({} bytes of TOML), {}..{} rules per origin \
             (median {}); {NAMED_ORIGIN} has {} rules and reaches {} parties, the named recipient at \
             rule {position}; {FAN_OUT_ORIGIN} has {fan_out_rules} rules and reaches \
             {fan_out_recipients} parties on {FAN_OUT_TOPIC}",
            parties.text.len() + policy.len(),
            rules_per_origin[0],
            rules_per_origin[PARTIES - 1],
            rules_per_origin[PARTIES / 2],
            origin_rules.len(),
            reachable.len(),
        );
        Workload { router, named_one, named_batch, fan_out, fan_out_recipients, denied }
    }
}

fn bench(c: &mut Criterion) {
    let workload = Workload::new();
    let router = &workload.router;
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(1));
    group.bench_function("named-1", |b| b.iter(|| router.route(black_box(&workload.named_one))));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(format!("named-{BATCH}"), |b| b.iter(|| router.route(black_box(&workload.named_batch))));
    group.throughput(Throughput::Elements(workload.fan_out_recipients as u64));
    group.bench_function("fan-out-50", |b| b.iter(|| router.route(black_box(&workload.fan_out))));
    group.throughput(Throughput::Elements(1));
    group.bench_function("denied-no-route", |b| b.iter(|| router.route(black_box(&workload.denied))));
    group.finish();
}

criterion_group! {
    name = benches;
    // Modest times for a 2-core machine: about 25 s for the four measurements.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(60);
    targets = bench
}
criterion_main!(benches);
