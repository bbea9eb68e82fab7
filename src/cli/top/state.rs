//! What `liaison top` shows and how keys change it: the last snapshot, the sort, pause and the party
//! filter being typed. No I/O, so every key can be tested without a terminal or a gateway.

use std::cmp::Ordering;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::api as pb;

/// Longest party token the filter input accepts.
const MAX_FILTER_LEN: usize = 64;

/// The column the subjects table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Published plus delivered messages per second.
    #[default]
    Rate,
    Published,
    Delivered,
    Denied,
    Withheld,
    /// The subject's name, alphabetically.
    Subject,
}

/// What the I/O loop should do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Leave `liaison top`.
    Quit,
    /// Reopen the traffic stream for this party (empty for every party).
    Filter(String),
}

/// Everything the view draws.
#[derive(Debug, Clone)]
pub struct TopState {
    /// The gateway URL, for the header.
    pub gateway: String,
    /// The interval asked of the gateway.
    pub interval: Duration,
    /// The party filter the stream was opened with; empty for every party.
    pub party: String,
    /// The snapshot on screen.
    pub snapshot: Option<pb::WatchTrafficResponse>,
    /// The newest snapshot received while paused, shown when unpaused.
    pub held: Option<pb::WatchTrafficResponse>,
    pub sort: SortKey,
    /// Sort the other way round.
    pub reverse: bool,
    pub paused: bool,
    /// The party filter being typed, while the input is open.
    pub filter_input: Option<String>,
    /// The last problem with the stream, shown in the footer until the next snapshot.
    pub error: Option<String>,
    /// Why the last filter was not applied, shown in the footer until the next key.
    pub filter_error: Option<String>,
}

/// Per-second rates summed over every subject of a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TotalRates {
    pub published: f64,
    pub delivered: f64,
}

// === impl SortKey ===

impl SortKey {
    pub const ALL: [SortKey; 6] =
        [SortKey::Rate, SortKey::Published, SortKey::Delivered, SortKey::Denied, SortKey::Withheld, SortKey::Subject];

    /// The key after this one, wrapping around.
    pub fn next(self) -> SortKey {
        let index = SortKey::ALL.iter().position(|key| *key == self).unwrap_or(0);
        SortKey::ALL[(index + 1) % SortKey::ALL.len()]
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Rate => "rate",
            SortKey::Published => "published",
            SortKey::Delivered => "delivered",
            SortKey::Denied => "denied",
            SortKey::Withheld => "withheld",
            SortKey::Subject => "subject",
        }
    }

    /// Numbers sort biggest first, names alphabetically.
    fn descending(self) -> bool {
        self != SortKey::Subject
    }

    /// Compares two subjects in this key's natural direction.
    fn compare(self, a: &pb::SubjectTraffic, b: &pb::SubjectTraffic) -> Ordering {
        let total = |subject: &pb::SubjectTraffic, field: fn(&pb::TrafficCounts) -> u64| {
            subject.totals.as_ref().map(field).unwrap_or(0)
        };
        let numbers = |field: fn(&pb::TrafficCounts) -> u64| total(b, field).cmp(&total(a, field));
        match self {
            SortKey::Rate => rate(b).total_cmp(&rate(a)),
            SortKey::Published => numbers(|counts| counts.published_messages),
            SortKey::Delivered => numbers(|counts| counts.delivered_messages),
            SortKey::Denied => numbers(|counts| counts.denied),
            SortKey::Withheld => numbers(|counts| counts.withheld),
            SortKey::Subject => subject_label(a).cmp(&subject_label(b)),
        }
    }
}

fn rate(subject: &pb::SubjectTraffic) -> f64 {
    subject.rates.as_ref().map(|rates| rates.published_messages + rates.delivered_messages).unwrap_or(0.0)
}

/// `recipient/origin/kind/topic`, or the raw subject when the gateway sent no labels.
pub fn subject_label(subject: &pb::SubjectTraffic) -> String {
    if subject.recipient.is_empty() {
        return subject.subject.clone();
    }
    format!("{}/{}/{}/{}", subject.recipient, subject.origin, kind_token(subject.kind), subject.topic)
}

/// The subject token of a protobuf kind (`report`, `rfi-response` ...).
fn kind_token(kind: i32) -> String {
    match pb::Kind::try_from(kind) {
        Ok(kind) => kind.as_str_name().trim_start_matches("KIND_").to_ascii_lowercase().replace('_', "-"),
        Err(_) => kind.to_string(),
    }
}

// === impl TopState ===

impl TopState {
    pub fn new(gateway: String, interval: Duration, party: String) -> TopState {
        TopState {
            gateway,
            interval,
            party,
            snapshot: None,
            held: None,
            sort: SortKey::default(),
            reverse: false,
            paused: false,
            filter_input: None,
            error: None,
            filter_error: None,
        }
    }

    /// Takes a snapshot from the gateway: shown now, or held while paused.
    pub fn receive(&mut self, snapshot: pb::WatchTrafficResponse) {
        if self.paused {
            self.held = Some(snapshot);
        } else {
            self.snapshot = Some(snapshot);
        }
        self.error = None;
    }

    /// The stream was reopened for `party`: what is on screen belongs to the old filter.
    pub fn filter_applied(&mut self, party: String) {
        self.party = party;
        self.snapshot = None;
        self.held = None;
        self.error = None;
        self.filter_error = None;
    }

    /// The subjects of the snapshot on screen, in the order chosen; ties by name.
    pub fn sorted_subjects(&self) -> Vec<&pb::SubjectTraffic> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let mut subjects: Vec<&pb::SubjectTraffic> = snapshot.subjects.iter().collect();
        subjects.sort_by(|a, b| {
            let order = self.sort.compare(a, b);
            let order = if self.reverse { order.reverse() } else { order };
            order.then_with(|| subject_label(a).cmp(&subject_label(b)))
        });
        subjects
    }

    /// True when the table's order is biggest (or last) first.
    pub fn descending(&self) -> bool {
        self.sort.descending() != self.reverse
    }

    /// Rates summed over the subjects of the snapshot on screen.
    pub fn total_rates(&self) -> TotalRates {
        let subjects = self.snapshot.iter().flat_map(|snapshot| &snapshot.subjects);
        subjects.filter_map(|subject| subject.rates.as_ref()).fold(TotalRates::default(), |sum, rates| TotalRates {
            published: sum.published + rates.published_messages,
            delivered: sum.delivered + rates.delivered_messages,
        })
    }

    /// Open subscriptions over every party of the snapshot on screen.
    pub fn active_total(&self) -> u64 {
        self.snapshot.iter().flat_map(|snapshot| &snapshot.active_subscriptions).map(|active| active.count).sum()
    }

    /// Speed-of-service misses by precedence, highest first, as `flash 2 · routine 40` (empty for none).
    pub fn speed_of_service_missed(&self) -> String {
        let mut by_precedence = [0u64; 4];
        for miss in self.snapshot.iter().flat_map(|snapshot| &snapshot.speed_of_service_missed) {
            let precedence = pb::Precedence::try_from(miss.precedence).unwrap_or_default();
            by_precedence[lane_of(precedence)] += miss.missed;
        }
        let names = ["flash", "immediate", "priority", "routine"];
        let parts: Vec<String> = names
            .iter()
            .zip(by_precedence)
            .filter(|(_, missed)| *missed > 0)
            .map(|(name, missed)| format!("{name} {missed}"))
            .collect();
        parts.join(" · ")
    }

    fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if !self.paused
            && let Some(held) = self.held.take()
        {
            self.snapshot = Some(held);
        }
    }
}

/// Applies one key to the state and says what the I/O loop must do.
///
/// While the filter input is open, printable keys edit it, Enter applies it (empty clears the filter)
/// and Esc cancels; otherwise `s` cycles the sort, `r` reverses it, `p` pauses, `f` opens the input and
/// `q` or Esc quits. Ctrl-C always quits. Any key dismisses a filter error.
pub fn on_key(state: &mut TopState, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    state.filter_error = None;
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    if control && matches!(key.code, KeyCode::Char('c' | 'C')) {
        return Action::Quit;
    }
    if let Some(input) = &mut state.filter_input {
        match key.code {
            KeyCode::Enter => {
                let party = input.trim().to_string();
                state.filter_input = None;
                return Action::Filter(party);
            }
            KeyCode::Esc => state.filter_input = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c)
                if !control && !c.is_whitespace() && !c.is_control() && input.chars().count() < MAX_FILTER_LEN =>
            {
                input.push(c);
            }
            _ => {}
        }
        return Action::None;
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
        KeyCode::Char('s') => state.sort = state.sort.next(),
        KeyCode::Char('r') => state.reverse = !state.reverse,
        KeyCode::Char('p') => state.toggle_pause(),
        KeyCode::Char('f') => state.filter_input = Some(String::new()),
        _ => {}
    }
    Action::None
}

/// The slot of a precedence in the highest-first order `liaison top` shows.
fn lane_of(precedence: pb::Precedence) -> usize {
    match precedence {
        pb::Precedence::Flash => 0,
        pb::Precedence::Immediate => 1,
        pb::Precedence::Priority => 2,
        pb::Precedence::Routine | pb::Precedence::Unspecified => 3,
    }
}
