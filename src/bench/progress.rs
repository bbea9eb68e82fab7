//! Progress of a bench run on stderr: a spinner on a terminal, one line per phase otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress on stderr: a spinner on a terminal, one line per phase otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: std::time::Instant,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("template"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar, started: std::time::Instant::now() }
    }

    pub fn phase(&self, name: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(name.to_string()),
            None => eprintln!("[{:>5.1} s] {name}", self.started.elapsed().as_secs_f64()),
        }
    }

    pub fn update(&self, detail: &str) {
        if let Some(bar) = &self.bar {
            let message = bar.message();
            let phase = message.split(" — ").next().unwrap_or_default().to_string();
            bar.set_message(format!("{phase} — {detail}"));
        }
    }

    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("          {line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
