//! Policy tests: a TOML file of cases beside the policy, each a message's routing metadata and the outcome
//! expected per recipient, run offline through a [`Router`].
//!
//! ```toml
//! [[case]]
//! name = "CBP reporting reaches I&A, not the FBI"
//! origin = "cbp"
//! recipients = ["ia", "fbi"]          # optional: empty routes by policy
//! kind = "report"                     # optional, default report
//! topic = "money-laundering"
//! markings = "SECRET//REL TO USA, GBR" # optional banner, default UNCLASSIFIED
//! tlp = "amber"                       # optional: clear, green, amber, amber+strict, red
//! precedence = "routine"              # optional, default routine
//! expect.ia = "delivered by host-reporting-to-ia"
//! expect.fbi = "denied NO_ROUTE"
//! ```
//!
//! An expectation is `delivered [by RULE]`, `held [by RULE]`, `denied [REASON]` or `not reached` (route by
//! policy: the party is not among the recipients). With route by policy every party reached must be
//! expected. A failure reads `file:line: case: expected ... got ...`, at the expectation's line.

use std::collections::BTreeMap;
use std::fmt;

use rustc_hash::FxHashSet;
use serde::Deserialize;
use toml::Spanned;

use crate::model::{Kind, Markings, PartyId, Precedence, RouteRequest, Tlp, Token};
use crate::router::{DenialReason, Outcome, Router};

/// Most cases one file may hold.
pub const MAX_CASES: usize = 10_000;
/// Largest test file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// The denial reasons that are marking checks: what the shipped tests must each exercise.
pub const MARKING_CHECKS: [DenialReason; 7] = [
    DenialReason::Classification,
    DenialReason::Noforn,
    DenialReason::NotReleasable,
    DenialReason::Les,
    DenialReason::Tlp,
    DenialReason::Access,
    DenialReason::Orcon,
];

/// A parsed test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub file: String,
    pub cases: Vec<Case>,
}

/// One case: a message and what each recipient should get.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub request: RouteRequest,
    pub expect: Vec<Expectation>,
}

/// What one recipient should get, at its line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub recipient: PartyId,
    pub line: usize,
    pub want: Expected,
}

/// An expected outcome; `None` accepts any rule or reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Delivered(Option<String>),
    Held(Option<String>),
    Denied(Option<DenialReason>),
    NotReached,
}

/// What a recipient got, as the runner compares and prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Delivered(String),
    Held(String),
    Denied(DenialReason),
    NotReached,
    /// The router refused the whole message.
    Refused(String),
}

/// A case that did not come out as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub file: String,
    pub line: usize,
    pub case: String,
    pub recipient: PartyId,
    pub want: Expected,
    pub got: Got,
}

/// The result of running a file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub cases: usize,
    pub checks: usize,
    pub failures: Vec<Failure>,
    /// Rules some passing check delivered or held by.
    pub rules_covered: FxHashSet<String>,
    /// Denial reasons some passing check expected.
    pub reasons_covered: FxHashSet<DenialReason>,
}

/// A test file that cannot be read as cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct CaseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "case")]
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Spanned<String>,
    origin: Spanned<String>,
    #[serde(default)]
    recipients: Vec<Spanned<String>>,
    kind: Option<Spanned<String>>,
    topic: Spanned<String>,
    markings: Option<Spanned<String>>,
    tlp: Option<Spanned<String>>,
    precedence: Option<Spanned<String>>,
    expect: BTreeMap<String, Spanned<String>>,
}

/// Parses a test file; `file` names it in errors and failures.
pub fn parse(file: &str, text: &str) -> Result<TestFile, CaseError> {
    let line_of = |offset: usize| text.get(..offset).map_or(1, |before| before.matches('\n').count() + 1);
    let error = |offset: usize, message: String| CaseError { file: file.to_string(), line: line_of(offset), message };
    if text.len() > MAX_FILE_BYTES {
        return Err(error(0, format!("a test file has at most {MAX_FILE_BYTES} bytes")));
    }
    let raw: RawFile = toml::from_str(text)
        .map_err(|problem| error(problem.span().map_or(0, |span| span.start), problem.message().to_string()))?;
    if raw.cases.len() > MAX_CASES {
        return Err(error(0, format!("a test file has at most {MAX_CASES} cases, got {}", raw.cases.len())));
    }
    let mut cases = Vec::with_capacity(raw.cases.len());
    for raw_case in raw.cases {
        cases.push(case(&raw_case, &error, &line_of)?);
    }
    Ok(TestFile { file: file.to_string(), cases })
}

fn case(
    raw: &RawCase,
    error: &impl Fn(usize, String) -> CaseError,
    line_of: &impl Fn(usize) -> usize,
) -> Result<Case, CaseError> {
    let name = raw.name.get_ref().clone();
    let at = |spanned: &Spanned<String>, field: &str, message: String| {
        error(spanned.span().start, format!("{name}: {field}: {message}"))
    };
    let token = |spanned: &Spanned<String>, field: &str| {
        Token::parse(spanned.get_ref()).map_err(|problem| at(spanned, field, problem.to_string()))
    };
    let origin = token(&raw.origin, "origin")?;
    let recipients = raw.recipients.iter().map(|recipient| token(recipient, "recipients")).collect::<Result<_, _>>()?;
    let kind = match &raw.kind {
        None => Kind::Report,
        Some(kind) => Kind::from_token(kind.get_ref())
            .filter(|kind| *kind != Kind::Notice)
            .ok_or_else(|| at(kind, "kind", "one of report, alert, tip, rfi, rfi-response, product".into()))?,
    };
    let mut markings = match &raw.markings {
        None => Markings::unclassified(),
        Some(banner) => {
            Markings::from_banner(banner.get_ref()).map_err(|problem| at(banner, "markings", problem.to_string()))?
        }
    };
    if let Some(tlp) = &raw.tlp {
        markings.tlp = Some(
            Tlp::from_name(tlp.get_ref())
                .ok_or_else(|| at(tlp, "tlp", "one of clear, green, amber, amber+strict, red".into()))?,
        );
    }
    let precedence = match &raw.precedence {
        None => Precedence::Routine,
        Some(precedence) => Precedence::from_name(precedence.get_ref())
            .ok_or_else(|| at(precedence, "precedence", "one of routine, priority, immediate, flash".into()))?,
    };
    let topic = token(&raw.topic, "topic")?;
    let mut expect = Vec::with_capacity(raw.expect.len());
    for (recipient, want) in &raw.expect {
        let field = format!("expect.{recipient}");
        let recipient = Token::parse(recipient).map_err(|problem| at(want, &field, problem.to_string()))?;
        let parsed = expected(want.get_ref()).ok_or_else(|| {
            let message = "delivered [by RULE], held [by RULE], denied [REASON] or not reached";
            at(want, &field, message.into())
        })?;
        expect.push(Expectation { recipient, line: line_of(want.span().start), want: parsed });
    }
    let request = RouteRequest { origin, recipients, kind, topic, markings, precedence };
    Ok(Case { name, line: line_of(raw.name.span().start), request, expect })
}

/// Reads an expectation: `delivered [by RULE]`, `held [by RULE]`, `denied [REASON]`, `not reached`.
pub fn expected(text: &str) -> Option<Expected> {
    let words: Vec<&str> = text.split_whitespace().collect();
    Some(match words.as_slice() {
        ["delivered"] => Expected::Delivered(None),
        ["delivered", "by", rule] => Expected::Delivered(Some(rule.to_string())),
        ["held"] => Expected::Held(None),
        ["held", "by", rule] => Expected::Held(Some(rule.to_string())),
        ["denied"] => Expected::Denied(None),
        ["denied", reason] => {
            let code = reason.trim_start_matches("DENIAL_REASON_").to_ascii_uppercase();
            Expected::Denied(Some(*DenialReason::ALL.iter().find(|candidate| candidate.code() == code)?))
        }
        ["not", "reached"] => Expected::NotReached,
        _ => return None,
    })
}

/// Runs every case of `tests` through `router`.
pub fn run(tests: &TestFile, router: &Router) -> Report {
    let mut report = Report { cases: tests.cases.len(), ..Report::default() };
    for case in &tests.cases {
        run_case(&tests.file, case, router, &mut report);
    }
    // In file order (a case's expectations are checked in recipient order).
    report.failures.sort_by_key(|failure| failure.line);
    report
}

fn run_case(file: &str, case: &Case, router: &Router, report: &mut Report) {
    let failure = |recipient: &PartyId, line: usize, want: Expected, got: Got| Failure {
        file: file.to_string(),
        line,
        case: case.name.clone(),
        recipient: recipient.clone(),
        want,
        got,
    };
    let outcomes = match router.route(&case.request) {
        Ok(routing) => routing.outcomes,
        Err(error) => {
            let recipient = case.expect.first().map_or_else(|| case.request.origin.clone(), |e| e.recipient.clone());
            let want = case.expect.first().map_or(Expected::NotReached, |expectation| expectation.want.clone());
            report.checks += 1;
            report.failures.push(failure(&recipient, case.line, want, Got::Refused(error.to_string())));
            return;
        }
    };
    for expectation in &case.expect {
        report.checks += 1;
        let got =
            outcomes.iter().find(|outcome| *outcome.recipient() == expectation.recipient).map_or(Got::NotReached, got);
        if expectation.want.matches(&got) {
            match &got {
                Got::Delivered(rule) | Got::Held(rule) => drop(report.rules_covered.insert(rule.clone())),
                Got::Denied(reason) => drop(report.reasons_covered.insert(*reason)),
                Got::NotReached | Got::Refused(_) => {}
            }
        } else {
            report.failures.push(failure(&expectation.recipient, expectation.line, expectation.want.clone(), got));
        }
    }
    // Routed by policy: a party reached that the case does not expect is a failure too.
    if case.request.recipients.is_empty() {
        for outcome in &outcomes {
            if !case.expect.iter().any(|expectation| expectation.recipient == *outcome.recipient()) {
                report.failures.push(failure(outcome.recipient(), case.line, Expected::NotReached, got(outcome)));
            }
        }
    }
}

fn got(outcome: &Outcome) -> Got {
    match outcome {
        Outcome::Deliver(approval) => Got::Delivered(approval.rule().to_string()),
        Outcome::Hold(hold) => Got::Held(hold.rule.to_string()),
        Outcome::Deny(denial) => Got::Denied(denial.reason),
    }
}

// === impl Report ===

impl Report {
    /// The rules of `router`'s policy no passing check delivered or held by.
    pub fn rules_not_covered(&self, router: &Router) -> Vec<String> {
        let names = router.policy().rules().iter().map(|rule| rule.name.to_string());
        names.filter(|name| !self.rules_covered.contains(name)).collect()
    }

    /// The marking checks no passing check expected a denial by.
    pub fn marking_checks_not_covered(&self) -> Vec<DenialReason> {
        MARKING_CHECKS.into_iter().filter(|reason| !self.reasons_covered.contains(reason)).collect()
    }
}

// === impl Expected ===

impl Expected {
    fn matches(&self, got: &Got) -> bool {
        match (self, got) {
            (Expected::Delivered(rule), Got::Delivered(by)) | (Expected::Held(rule), Got::Held(by)) => {
                rule.as_ref().is_none_or(|rule| rule == by)
            }
            (Expected::Denied(reason), Got::Denied(by)) => reason.is_none_or(|reason| reason == *by),
            (Expected::NotReached, Got::NotReached) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Delivered(None) => write!(f, "delivered"),
            Expected::Delivered(Some(rule)) => write!(f, "delivered by {rule}"),
            Expected::Held(None) => write!(f, "held"),
            Expected::Held(Some(rule)) => write!(f, "held by {rule}"),
            Expected::Denied(None) => write!(f, "denied"),
            Expected::Denied(Some(reason)) => write!(f, "denied {}", reason.code()),
            Expected::NotReached => write!(f, "not reached"),
        }
    }
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::Delivered(rule) => write!(f, "delivered by {rule}"),
            Got::Held(rule) => write!(f, "held by {rule}"),
            Got::Denied(reason) => write!(f, "denied {}", reason.code()),
            Got::NotReached => write!(f, "not reached"),
            Got::Refused(why) => write!(f, "the message refused: {why}"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (file, line, case, recipient) = (&self.file, self.line, &self.case, &self.recipient);
        write!(f, "{file}:{line}: {case}: expected {recipient} {} got {recipient} {}", self.want, self.got)
    }
}

#[cfg(test)]
mod tests;
