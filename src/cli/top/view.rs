//! Drawing `liaison top`: header, subjects table, lag and subscriptions tables, footer. Pure: the same
//! state always draws the same frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use crate::api as pb;

use super::format::{count, rate, timestamp};
use super::state::{SortKey, TopState, subject_label};

/// Most rows of the lag and subscriptions tables before the subjects table gets the rest.
const MAX_BOTTOM_ROWS: u16 = 8;
/// Width of the active subscriptions table.
const ACTIVE_WIDTH: u16 = 40;

/// The subjects table's numeric columns: header, width, and the sort key they belong to.
const SUBJECT_COLUMNS: [(&str, u16, Option<SortKey>); 8] = [
    ("pub/s", 8, Some(SortKey::Rate)),
    ("del/s", 8, Some(SortKey::Rate)),
    ("published", 9, Some(SortKey::Published)),
    ("delivered", 9, Some(SortKey::Delivered)),
    ("denied", 7, Some(SortKey::Denied)),
    ("withheld", 8, Some(SortKey::Withheld)),
    ("redelivered", 11, None),
    ("dead-lettered", 13, None),
];

/// Draws the whole screen.
pub fn render(frame: &mut Frame, state: &TopState) {
    let bottom_rows = state
        .snapshot
        .as_ref()
        .map(|snapshot| snapshot.lag.len().max(snapshot.active_subscriptions.len()))
        .unwrap_or(0)
        .clamp(1, usize::from(MAX_BOTTOM_ROWS)) as u16;
    let [header, subjects, bottom, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(4),
        Constraint::Length(bottom_rows + 3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [lag, active] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(ACTIVE_WIDTH)]).areas(bottom);
    render_header(frame, header, state);
    render_subjects(frame, subjects, state);
    render_lag(frame, lag, state);
    render_active(frame, active, state);
    render_footer(frame, footer, state);
}

fn render_header(frame: &mut Frame, area: Rect, state: &TopState) {
    let party = if state.party.is_empty() { "all" } else { state.party.as_str() };
    let taken_at = state.snapshot.as_ref().and_then(|snapshot| snapshot.taken_at.as_ref());
    let mut title = vec![
        Span::from(" liaison top ").bold(),
        Span::from(format!(" {}  party: {party}  ", state.gateway)),
        Span::from(taken_at.map(timestamp).unwrap_or_else(|| "-".to_string())),
        Span::from(format!("  every {}", humantime::format_duration(state.interval))),
    ];
    if state.paused {
        title.extend([Span::from("  "), Span::from(" PAUSED ").black().on_yellow().bold()]);
    }
    let totals = state.snapshot.as_ref().and_then(|snapshot| snapshot.totals.clone()).unwrap_or_default();
    let rates = state.total_rates();
    let mut totals = vec![
        Span::from(" pub ").bold(),
        Span::from(format!("{}/s ({})", rate(rates.published), count(totals.published_messages))),
        Span::from("  del ").bold(),
        Span::from(format!("{}/s ({})", rate(rates.delivered), count(totals.delivered_messages))),
        Span::from("  denied ").bold(),
        Span::styled(count(totals.denied), alert(totals.denied, Color::Red)),
        Span::from("  withheld ").bold(),
        Span::styled(count(totals.withheld), alert(totals.withheld, Color::Yellow)),
        Span::from("  dead-lettered ").bold(),
        Span::styled(count(totals.dead_lettered), alert(totals.dead_lettered, Color::Magenta)),
        Span::from("  subscriptions ").bold(),
        Span::from(count(state.active_total())),
    ];
    let missed = state.speed_of_service_missed();
    if !missed.is_empty() {
        totals.push(Span::from("  late ").bold());
        totals.push(Span::styled(missed, Style::new().fg(Color::Red)));
    }
    frame.render_widget(Paragraph::new(vec![Line::from(title), Line::from(totals)]), area);
}

fn render_subjects(frame: &mut Frame, area: Rect, state: &TopState) {
    let arrow = if state.descending() { "▼" } else { "▲" };
    let subjects = state.sorted_subjects();
    let title = match &state.snapshot {
        Some(_) => format!(" Subjects ({}) · sort: {} {arrow} ", subjects.len(), state.sort.name()),
        None => " Subjects ".to_string(),
    };
    let block = Block::bordered().title(title);
    if state.snapshot.is_none() {
        frame.render_widget(Paragraph::new(" waiting for the first snapshot…").block(block), area);
        return;
    }
    let sorted = |key: Option<SortKey>| {
        let style = Style::new().bold();
        if key == Some(state.sort) { style.underlined() } else { style }
    };
    let subject_header = if state.sort == SortKey::Subject { "subject".underlined() } else { "subject".into() };
    let header = Row::new(
        std::iter::once(Cell::from(subject_header))
            .chain(SUBJECT_COLUMNS.iter().map(|(name, _, key)| right(name.to_string()).style(sorted(*key)))),
    )
    .bold();
    let rows = subjects.into_iter().map(subject_row);
    let widths = std::iter::once(Constraint::Fill(1))
        .chain(SUBJECT_COLUMNS.iter().map(|(_, width, _)| Constraint::Length(*width)));
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn subject_row(subject: &pb::SubjectTraffic) -> Row<'static> {
    let totals = subject.totals.clone().unwrap_or_default();
    let rates = subject.rates.unwrap_or_default();
    Row::new([
        Cell::from(subject_label(subject)),
        right(rate(rates.published_messages)),
        right(rate(rates.delivered_messages)),
        right(count(totals.published_messages)),
        right(count(totals.delivered_messages)),
        right(count(totals.denied)).style(alert(totals.denied, Color::Red)),
        right(count(totals.withheld)).style(alert(totals.withheld, Color::Yellow)),
        right(count(totals.redelivered)),
        right(count(totals.dead_lettered)).style(alert(totals.dead_lettered, Color::Magenta)),
    ])
}

fn render_lag(frame: &mut Frame, area: Rect, state: &TopState) {
    let lag = state.snapshot.as_ref().map(|snapshot| snapshot.lag.as_slice()).unwrap_or_default();
    let block = Block::bordered().title(format!(" Lag ({}) ", lag.len()));
    let header = Row::new([
        Cell::from("subscription"),
        Cell::from("party"),
        right("pending".to_string()),
        right("ack pending".to_string()),
        right("redelivered".to_string()),
    ])
    .bold();
    let rows = lag.iter().map(|lag| {
        Row::new([
            Cell::from(lag.subscription_id.clone()),
            Cell::from(lag.party.clone()),
            right(count(lag.pending)),
            right(count(lag.ack_pending)),
            right(count(lag.redelivered)).style(alert(lag.redelivered, Color::Yellow)),
        ])
    });
    let widths = [
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(11),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn render_active(frame: &mut Frame, area: Rect, state: &TopState) {
    let active = state.snapshot.as_ref().map(|snapshot| snapshot.active_subscriptions.as_slice()).unwrap_or_default();
    let block = Block::bordered().title(format!(" Subscriptions ({}) ", count(state.active_total())));
    let header = Row::new([Cell::from("party"), right("open".to_string())]).bold();
    let mut active: Vec<&pb::ActiveSubscriptions> = active.iter().collect();
    active.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.party.cmp(&b.party)));
    let rows =
        active.into_iter().map(|active| Row::new([Cell::from(active.party.clone()), right(count(active.count))]));
    let widths = [Constraint::Fill(1), Constraint::Length(8)];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn render_footer(frame: &mut Frame, area: Rect, state: &TopState) {
    let key = |key: &str| Span::from(format!(" {key} ")).black().on_cyan();
    let mut spans = match &state.filter_input {
        Some(input) => vec![
            Span::from(" party filter: ").bold(),
            Span::from(format!("{input}_")),
            Span::from("  "),
            key("Enter"),
            Span::from(" apply (empty clears)  "),
            key("Esc"),
            Span::from(" cancel"),
        ],
        None => {
            let pause = if state.paused { " resume  " } else { " pause  " };
            vec![
                Span::from(" "),
                key("s"),
                Span::from(" sort  "),
                key("r"),
                Span::from(" reverse  "),
                key("p"),
                Span::from(pause),
                key("f"),
                Span::from(" filter  "),
                key("q"),
                Span::from(" quit"),
            ]
        }
    };
    for error in [&state.filter_error, &state.error].into_iter().flatten() {
        spans.extend([Span::from("  "), Span::from(error.clone()).red().bold()]);
    }
    frame.render_widget(Line::from(spans), area);
}

/// A right-aligned cell.
fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

/// Coloured and bold when the count is not zero.
fn alert(value: u64, color: Color) -> Style {
    if value == 0 { Style::new() } else { Style::new().fg(color).add_modifier(Modifier::BOLD) }
}
