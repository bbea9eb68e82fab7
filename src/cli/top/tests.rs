//! Tests of `liaison top`: the rendered screen, sorting, keys and number formatting.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use crate::api as pb;

use super::format::{count, rate};
use super::state::{Action, SortKey, TopState, on_key, subject_label};
use super::view::render;

const WIDTH: u16 = 120;

fn subject(recipient: &str, origin: &str, topic: &str, rates: (f64, f64), counts: [u64; 6]) -> pb::SubjectTraffic {
    let [published, delivered, denied, withheld, redelivered, dead_lettered] = counts;
    pb::SubjectTraffic {
        subject: format!("liaison.feed.{recipient}.{origin}.report.{topic}"),
        recipient: recipient.to_string(),
        origin: origin.to_string(),
        kind: pb::Kind::Report as i32,
        topic: topic.to_string(),
        totals: Some(pb::TrafficCounts {
            published_messages: published,
            delivered_messages: delivered,
            denied,
            withheld,
            redelivered,
            dead_lettered,
            ..Default::default()
        }),
        rates: Some(pb::TrafficRates {
            published_messages: rates.0,
            delivered_messages: rates.1,
            ..Default::default()
        }),
    }
}

fn lag(subscription_id: &str, party: &str, pending: u64, ack_pending: u64, redelivered: u64) -> pb::SubscriptionLag {
    pb::SubscriptionLag {
        subscription_id: subscription_id.to_string(),
        party: party.to_string(),
        pending,
        ack_pending,
        redelivered,
    }
}

/// Three subjects (one with a denial and a dead letter, one with a withheld delivery), two consumers.
fn snapshot() -> pb::WatchTrafficResponse {
    pb::WatchTrafficResponse {
        taken_at: Some(prost_types::Timestamp { seconds: 1_750_000_000, nanos: 0 }),
        interval_seconds: 1.0,
        subjects: vec![
            subject("can", "usa", "cyber", (0.5, 0.0), [42, 40, 3, 0, 0, 1]),
            subject("gbr", "usa", "cyber", (12_345.0, 12_000.0), [1_234_567, 1_200_000, 0, 0, 15, 0]),
            subject("aus", "nzl", "maritime", (150.0, 149.0), [99_960, 99_000, 0, 2, 1_500, 0]),
        ],
        active_subscriptions: vec![
            pb::ActiveSubscriptions { party: "aus".to_string(), count: 1 },
            pb::ActiveSubscriptions { party: "gbr".to_string(), count: 3 },
        ],
        lag: vec![lag("gbr-analysts", "gbr", 2_500, 100, 4), lag("aus-ops", "aus", 0, 7, 0)],
        speed_of_service_missed: Vec::new(),
        totals: Some(pb::TrafficCounts {
            published_messages: 1_334_569,
            delivered_messages: 1_299_040,
            denied: 3,
            withheld: 2,
            redelivered: 1_515,
            dead_lettered: 1,
            ..Default::default()
        }),
    }
}

fn state() -> TopState {
    TopState::new("https://gw.example:7400".to_string(), Duration::from_secs(1), String::new())
}

fn screen(state: &TopState) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, 30)).unwrap();
    terminal.draw(|frame| render(frame, state)).unwrap();
    terminal
}

fn lines(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    buffer
        .content
        .chunks(usize::from(buffer.area.width))
        .map(|row| row.iter().map(|cell| cell.symbol()).collect())
        .collect()
}

/// A line without a right border, padded to the screen's width.
fn padded(line: &str) -> String {
    format!("{line:<width$}", width = usize::from(WIDTH))
}

fn press(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_keys(state: &mut TopState, text: &str) {
    for c in text.chars() {
        assert_eq!(on_key(state, press(KeyCode::Char(c))), Action::None);
    }
}

fn labels(state: &TopState) -> Vec<String> {
    state.sorted_subjects().into_iter().map(|subject| subject.recipient.clone()).collect()
}

#[test]
fn renders_snapshot_as_expected_layout() {
    let mut state = state();
    state.receive(snapshot());
    let terminal = screen(&state);

    let blank = format!("│{}│", " ".repeat(usize::from(WIDTH) - 2));
    let mut expected = vec![
        padded(" liaison top  https://gw.example:7400  party: all  2025-06-15 15:06:40Z  every 1s"),
        padded(" pub 12.5k/s (1.3M)  del 12.1k/s (1.3M)  denied 3  withheld 2  dead-lettered 1  subscriptions 4"),
        "┌ Subjects (3) · sort: rate ▼ ─────────────────────────────────────────────────────────────────────────────────────────┐".to_string(),
        "│subject                                  pub/s    del/s published delivered  denied withheld redelivered dead-lettered│".to_string(),
        "│gbr/usa/report/cyber                     12.3k    12.0k      1.2M      1.2M       0        0          15             0│".to_string(),
        "│aus/nzl/report/maritime                    150      149      100k     99.0k       0        2        1.5k             0│".to_string(),
        "│can/usa/report/cyber                       0.5        0        42        40       3        0           0             1│".to_string(),
    ];
    expected.extend(std::iter::repeat_n(blank, 16));
    expected.extend([
        "└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘".to_string(),
        "┌ Lag (2) ─────────────────────────────────────────────────────────────────────┐┌ Subscriptions (4) ───────────────────┐".to_string(),
        "│subscription                  party            pending ack pending redelivered││party                             open│".to_string(),
        "│gbr-analysts                  gbr                 2.5k         100           4││gbr                                  3│".to_string(),
        "│aus-ops                       aus                    0           7           0││aus                                  1│".to_string(),
        "└──────────────────────────────────────────────────────────────────────────────┘└──────────────────────────────────────┘".to_string(),
        padded("  s  sort   r  reverse   p  pause   f  filter   q  quit"),
    ]);
    assert_eq!(lines(&terminal), expected);

    let buffer = terminal.backend().buffer();
    // can's denied count (3) is red and bold, its dead-lettered count (1) magenta.
    let denied = &buffer[(83, 6)];
    assert_eq!((denied.symbol(), denied.fg), ("3", Color::Red));
    assert!(denied.modifier.contains(Modifier::BOLD));
    assert_eq!((buffer[(118, 6)].symbol(), buffer[(118, 6)].fg), ("1", Color::Magenta));
    // aus's withheld count (2) is yellow.
    assert_eq!((buffer[(92, 5)].symbol(), buffer[(92, 5)].fg), ("2", Color::Yellow));
    // A zero denial count is not highlighted.
    assert_eq!((buffer[(83, 4)].symbol(), buffer[(83, 4)].fg), ("0", Color::Reset));
    assert!(!buffer[(83, 4)].modifier.contains(Modifier::BOLD));
    // The sort column's header is underlined; the others are not.
    assert!(buffer[(42, 3)].modifier.contains(Modifier::UNDERLINED), "pub/s");
    assert!(!buffer[(57, 3)].modifier.contains(Modifier::UNDERLINED), "published");
}

#[test]
fn renders_paused_waiting_filter_prompt_and_error() {
    let mut state = TopState::new("http://gw:7400".to_string(), Duration::from_millis(500), "gbr".to_string());
    state.paused = true;
    state.filter_input = Some("au".to_string());
    state.error = Some("Unavailable: gone; retrying in 2s".to_string());
    let terminal = screen(&state);
    let lines = lines(&terminal);

    assert_eq!(lines[0], padded(" liaison top  http://gw:7400  party: gbr  -  every 500ms   PAUSED"));
    assert_eq!(lines[1], padded(" pub 0/s (0)  del 0/s (0)  denied 0  withheld 0  dead-lettered 0  subscriptions 0"));
    assert_eq!(lines[3], format!("│{:<width$}│", " waiting for the first snapshot…", width = usize::from(WIDTH) - 2));
    assert_eq!(
        lines[29],
        padded(" party filter: au_   Enter  apply (empty clears)   Esc  cancel  Unavailable: gone; retrying in 2s")
    );
    let buffer = terminal.backend().buffer();
    let paused = &buffer[(u16::try_from(lines[0].find("PAUSED").unwrap()).unwrap(), 0)];
    assert_eq!(paused.bg, Color::Yellow);
    let error = &buffer[(u16::try_from(lines[29].chars().position(|c| c == 'U').unwrap()).unwrap(), 29)];
    assert_eq!(error.fg, Color::Red);
}

/// Subjects whose orders differ for every key: alpha < bravo < charlie by name.
fn sort_fixture() -> TopState {
    let mut state = state();
    state.receive(pb::WatchTrafficResponse {
        subjects: vec![
            // key:                         rate        published, delivered, denied, withheld
            subject("charlie", "usa", "t", (2.0, 0.0), [200, 300, 9, 0, 0, 0]),
            subject("alpha", "usa", "t", (0.5, 0.5), [300, 200, 0, 1, 0, 0]),
            subject("bravo", "usa", "t", (1.0, 2.0), [100, 100, 2, 5, 0, 0]),
        ],
        ..Default::default()
    });
    state
}

#[test]
fn sorts_by_each_key_and_reverses() {
    let mut state = sort_fixture();
    let expected = [
        (SortKey::Rate, ["bravo", "charlie", "alpha"]),
        (SortKey::Published, ["alpha", "charlie", "bravo"]),
        (SortKey::Delivered, ["charlie", "alpha", "bravo"]),
        (SortKey::Denied, ["charlie", "bravo", "alpha"]),
        (SortKey::Withheld, ["bravo", "alpha", "charlie"]),
        (SortKey::Subject, ["alpha", "bravo", "charlie"]),
    ];
    for (key, order) in expected {
        state.sort = key;
        state.reverse = false;
        assert_eq!(labels(&state), order, "{key:?}");
        state.reverse = true;
        let reversed: Vec<&str> = order.into_iter().rev().collect();
        assert_eq!(labels(&state), reversed, "{key:?} reversed");
    }
}

#[test]
fn ties_sort_by_name_whichever_direction() {
    let mut state = state();
    state.receive(pb::WatchTrafficResponse {
        subjects: vec![
            subject("delta", "usa", "t", (1.0, 0.0), [5, 5, 1, 0, 0, 0]),
            subject("bravo", "usa", "t", (1.0, 0.0), [5, 5, 1, 0, 0, 0]),
            subject("charlie", "usa", "t", (3.0, 0.0), [9, 9, 9, 0, 0, 0]),
        ],
        ..Default::default()
    });
    state.sort = SortKey::Denied;
    assert_eq!(labels(&state), ["charlie", "bravo", "delta"]);
    state.reverse = true;
    assert_eq!(labels(&state), ["bravo", "delta", "charlie"]);
}

#[test]
fn subject_label_names_the_labels_or_falls_back_to_the_subject() {
    let labelled = subject("gbr", "usa", "cyber", (0.0, 0.0), [0; 6]);
    assert_eq!(subject_label(&labelled), "gbr/usa/report/cyber");
    let rfi_response = pb::SubjectTraffic { kind: pb::Kind::RfiResponse as i32, ..labelled };
    assert_eq!(subject_label(&rfi_response), "gbr/usa/rfi-response/cyber");
    let bare = pb::SubjectTraffic { subject: "liaison.feed.x".to_string(), ..Default::default() };
    assert_eq!(subject_label(&bare), "liaison.feed.x");
}

#[test]
fn s_cycles_every_sort_key_and_r_reverses() {
    let mut state = sort_fixture();
    let mut seen = vec![state.sort];
    for _ in 1..SortKey::ALL.len() {
        assert_eq!(on_key(&mut state, press(KeyCode::Char('s'))), Action::None);
        seen.push(state.sort);
    }
    assert_eq!(seen, SortKey::ALL);
    on_key(&mut state, press(KeyCode::Char('s')));
    assert_eq!(state.sort, SortKey::Rate, "wraps around");

    assert!(state.descending());
    on_key(&mut state, press(KeyCode::Char('r')));
    assert!(state.reverse && !state.descending());
    assert_eq!(labels(&state), ["alpha", "charlie", "bravo"]);
    on_key(&mut state, press(KeyCode::Char('r')));
    assert!(!state.reverse);
}

#[test]
fn p_pauses_on_the_last_snapshot_and_resumes_on_the_newest() {
    let mut state = state();
    let first = snapshot();
    state.receive(first.clone());
    on_key(&mut state, press(KeyCode::Char('p')));
    assert!(state.paused);

    let mut newer = snapshot();
    newer.subjects.truncate(1);
    state.receive(newer.clone());
    assert_eq!(state.snapshot.as_ref(), Some(&first), "paused: the screen keeps the last snapshot");
    assert_eq!(state.held.as_ref(), Some(&newer));

    on_key(&mut state, press(KeyCode::Char('p')));
    assert!(!state.paused);
    assert_eq!(state.snapshot.as_ref(), Some(&newer), "resumed: the newest snapshot shows at once");
    assert_eq!(state.held, None);
    state.receive(first.clone());
    assert_eq!(state.snapshot.as_ref(), Some(&first));
}

#[test]
fn filter_input_edits_then_enter_applies() {
    let mut state = state();
    state.receive(snapshot());
    assert_eq!(on_key(&mut state, press(KeyCode::Char('f'))), Action::None);
    assert_eq!(state.filter_input.as_deref(), Some(""));

    // Keys that mean something elsewhere are text here.
    type_keys(&mut state, "gbqs");
    on_key(&mut state, press(KeyCode::Backspace));
    on_key(&mut state, press(KeyCode::Backspace));
    type_keys(&mut state, "r");
    on_key(&mut state, press(KeyCode::Char(' ')));
    assert_eq!(state.filter_input.as_deref(), Some("gbr"));
    assert_eq!((state.sort, state.paused), (SortKey::Rate, false));

    assert_eq!(on_key(&mut state, press(KeyCode::Enter)), Action::Filter("gbr".to_string()));
    assert_eq!(state.filter_input, None);
    assert_eq!(state.party, "", "the party changes once the stream is reopened");
    state.filter_applied("gbr".to_string());
    assert_eq!(state.party, "gbr");
    assert_eq!(state.snapshot, None, "the old snapshot was for another filter");
}

#[test]
fn filter_esc_cancels_and_empty_clears() {
    let mut state = state();
    state.filter_applied("gbr".to_string());
    on_key(&mut state, press(KeyCode::Char('f')));
    type_keys(&mut state, "aus");
    assert_eq!(on_key(&mut state, press(KeyCode::Esc)), Action::None, "Esc closes the input, not top");
    assert_eq!(state.filter_input, None);
    assert_eq!(state.party, "gbr");

    on_key(&mut state, press(KeyCode::Char('f')));
    assert_eq!(on_key(&mut state, press(KeyCode::Enter)), Action::Filter(String::new()));
}

#[test]
fn a_refused_filter_stays_on_screen_until_a_key_while_stream_errors_clear_on_a_snapshot() {
    let mut state = state();
    state.filter_error = Some("filter \"BAD\": InvalidArgument".to_string());
    state.error = Some("Unavailable: gone".to_string());
    state.receive(snapshot());
    assert_eq!(state.error, None);
    assert!(lines(&screen(&state))[29].contains("filter \"BAD\": InvalidArgument"));
    on_key(&mut state, press(KeyCode::Char('s')));
    assert_eq!(state.filter_error, None);
    assert!(!lines(&screen(&state))[29].contains("BAD"));
}

#[test]
fn q_esc_and_ctrl_c_quit() {
    let mut state = state();
    assert_eq!(on_key(&mut state, press(KeyCode::Char('q'))), Action::Quit);
    assert_eq!(on_key(&mut state, press(KeyCode::Esc)), Action::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(on_key(&mut state, ctrl_c), Action::Quit);
    // Ctrl-C quits from the filter input too; q there is just a letter.
    on_key(&mut state, press(KeyCode::Char('f')));
    assert_eq!(on_key(&mut state, press(KeyCode::Char('q'))), Action::None);
    assert_eq!(on_key(&mut state, ctrl_c), Action::Quit);
    // Key releases (reported on some terminals) do nothing.
    let mut state = self::state();
    let release = KeyEvent::new_with_kind(KeyCode::Char('q'), KeyModifiers::NONE, KeyEventKind::Release);
    assert_eq!(on_key(&mut state, release), Action::None);
    assert_eq!(on_key(&mut state, press(KeyCode::Char('x'))), Action::None);
}

#[test]
fn formats_counts_and_rates_short() {
    let counts: Vec<String> =
        [0, 999, 1_000, 12_345, 99_960, 123_456, 999_400, 999_600, 1_234_567, 7_000_000_000].map(count).into();
    assert_eq!(counts, ["0", "999", "1.0k", "12.3k", "100k", "123k", "999k", "1.0M", "1.2M", "7.0G"]);
    let rates: Vec<String> =
        [0.0, -1.0, f64::NAN, 0.04, 0.5, 9.96, 42.4, 999.4, 999.6, 12_345.0, 1_500_000.0].map(rate).into();
    assert_eq!(rates, ["0", "0", "0", "0.0", "0.5", "10", "42", "999", "1.0k", "12.3k", "1.5M"]);
}

#[test]
fn speed_of_service_misses_show_in_the_header_by_precedence_highest_first() {
    let mut state = TopState::new("http://gw:7400".to_string(), Duration::from_secs(1), String::new());
    let miss = |recipient: &str, precedence: pb::Precedence, missed: u64| pb::SpeedOfServiceMisses {
        recipient: recipient.to_string(),
        precedence: precedence as i32,
        missed,
    };
    let mut quiet = pb::WatchTrafficResponse::default();
    state.snapshot = Some(quiet.clone());
    assert!(!lines(&screen(&state))[1].contains("late"), "no misses, nothing shown");
    quiet.speed_of_service_missed = vec![
        miss("gbr", pb::Precedence::Routine, 40),
        miss("aus", pb::Precedence::Flash, 1),
        miss("gbr", pb::Precedence::Flash, 1),
    ];
    state.snapshot = Some(quiet);
    let header = lines(&screen(&state))[1].clone();
    assert!(header.trim_end().ends_with("subscriptions 0  late flash 2 · routine 40"), "{header}");
}
