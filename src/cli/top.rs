//! `liaison top`: a live terminal view of a gateway's traffic, in the spirit of `htop`, fed by
//! `OperatorService.WatchTraffic`.
//!
//! The state and its keys ([`state`]) and the drawing ([`view`]) are pure; this file is the I/O loop: a
//! thread reads terminal events, and one task selects between them and the gRPC stream, redrawing after
//! each.

mod format;
mod state;
mod view;

#[cfg(test)]
mod tests;

use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{self, Event};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Streaming;

use crate::api as pb;

use super::client::{self, ClientArgs, Operator};
use state::{Action, TopState, on_key};

/// How long opening the traffic stream may take before the view reports it and tries again.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before reopening a stream that failed.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How often the input thread checks that the view still wants events.
const INPUT_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Time between snapshots, 100ms to 60s.
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    interval: Duration,
    /// Only subjects where this party is the origin or the recipient, and its subscriptions.
    #[arg(long)]
    party: Option<String>,
}

fn parse_interval(value: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(value).map_err(|error| error.to_string())?;
    if interval < Duration::from_millis(100) || interval > Duration::from_secs(60) {
        return Err("must be between 100ms and 60s".to_string());
    }
    Ok(interval)
}

pub async fn run(args: TopArgs) -> anyhow::Result<()> {
    let mut operator = client::operator(&args.client).await?;
    let party = args.party.unwrap_or_default();
    // Opened before the terminal is taken over, so a bad token or party is an ordinary error message.
    let stream = watch(&mut operator, args.interval, &party).await?;
    let state = TopState::new(args.client.gateway.clone(), args.interval, party);

    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(error) => {
            ratatui::restore();
            return Err(error).context("taking over the terminal");
        }
    };
    let (events, input) = spawn_input();
    let result =
        Session { operator, stream: Some(stream), state, retry_at: Instant::now() }.run(&mut terminal, events).await;
    // The receiver is gone: the input thread stops within a poll, before the shell gets the terminal back.
    let _ = input.join();
    ratatui::restore();
    result
}

/// Opens the traffic stream.
async fn watch(
    operator: &mut Operator,
    interval: Duration,
    party: &str,
) -> anyhow::Result<Streaming<pb::WatchTrafficResponse>> {
    let request = pb::WatchTrafficRequest {
        interval_ms: u32::try_from(interval.as_millis()).unwrap_or(u32::MAX),
        party: party.to_string(),
    };
    let response = tokio::time::timeout(OPEN_TIMEOUT, operator.watch_traffic(request))
        .await
        .context("watch traffic: timed out")?
        .map_err(|status| anyhow::anyhow!("watch traffic: {:?}: {}", status.code(), status.message()))?;
    Ok(response.into_inner())
}

/// Terminal events from a thread of their own, since crossterm's reads block.
fn spawn_input() -> (mpsc::Receiver<std::io::Result<Event>>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(64);
    let thread = std::thread::spawn(move || {
        while !sender.is_closed() {
            let event = match event::poll(INPUT_POLL) {
                Ok(false) => continue,
                Ok(true) => event::read(),
                Err(error) => Err(error),
            };
            let failed = event.is_err();
            if sender.blocking_send(event).is_err() || failed {
                break;
            }
        }
    });
    (receiver, thread)
}

/// The running view: the client, its current stream and what is on screen.
struct Session {
    operator: Operator,
    /// None while waiting to reopen after an error.
    stream: Option<Streaming<pb::WatchTrafficResponse>>,
    state: TopState,
    /// When to reopen the stream, while it is None.
    retry_at: Instant,
}

impl Session {
    async fn run(
        mut self,
        terminal: &mut DefaultTerminal,
        mut events: mpsc::Receiver<std::io::Result<Event>>,
    ) -> anyhow::Result<()> {
        loop {
            terminal.draw(|frame| view::render(frame, &self.state)).context("drawing")?;
            tokio::select! {
                event = events.recv() => {
                    let event = event.context("terminal input closed")?.context("reading terminal input")?;
                    if let Event::Key(key) = event {
                        match on_key(&mut self.state, key) {
                            Action::Quit => return Ok(()),
                            Action::Filter(party) => self.refilter(party).await,
                            Action::None => {}
                        }
                    }
                }
                message = next(&mut self.stream) => match message {
                    Ok(Some(snapshot)) => self.state.receive(snapshot),
                    Ok(None) => self.lost("the gateway ended the stream".to_string()),
                    Err(status) => self.lost(format!("{:?}: {}", status.code(), status.message())),
                },
                () = tokio::time::sleep_until(self.retry_at), if self.stream.is_none() => {
                    let party = self.state.party.clone();
                    match watch(&mut self.operator, self.state.interval, &party).await {
                        Ok(stream) => self.stream = Some(stream),
                        Err(error) => self.lost(format!("{error:#}")),
                    }
                }
            }
        }
    }

    /// Reopens the stream for `party`; on failure the old stream and filter stay.
    async fn refilter(&mut self, party: String) {
        match watch(&mut self.operator, self.state.interval, &party).await {
            Ok(stream) => {
                self.stream = Some(stream);
                self.state.filter_applied(party);
            }
            Err(error) => self.state.filter_error = Some(format!("filter {party:?}: {error:#}")),
        }
    }

    /// The stream failed: say so, keep the last snapshot on screen and try again shortly.
    fn lost(&mut self, problem: String) {
        self.stream = None;
        self.retry_at = Instant::now() + RETRY_AFTER;
        self.state.error = Some(format!("{problem}; retrying in {}", humantime::format_duration(RETRY_AFTER)));
    }
}

/// The next snapshot, or never while there is no stream.
async fn next(
    stream: &mut Option<Streaming<pb::WatchTrafficResponse>>,
) -> Result<Option<pb::WatchTrafficResponse>, tonic::Status> {
    match stream {
        Some(stream) => stream.message().await,
        None => std::future::pending().await,
    }
}
