//! The panic hook of `liaison serve`: every panic is logged (message and location, through `tracing`, so
//! it reaches the JSON log and the collector like any other error) and counted for `liaison_panics_total`.
//!
//! No input is meant to reach a panic; the hook is how one that does is seen rather than lost with the
//! connection task it ended. The previous hook (the standard one prints to stderr) still runs after it.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static PANICS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// Installs the hook once per process; later calls do nothing.
pub fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            let location = info.location().map(|at| format!("{}:{}", at.file(), at.line())).unwrap_or_default();
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            let thread = std::thread::current();
            tracing::error!(panic = message, %location, thread = thread.name().unwrap_or("-"), "panic");
            previous(info);
        }));
    });
}

/// Panics seen since the hook was installed.
pub fn count() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_counted_and_the_process_goes_on() {
        install();
        install();
        let before = count();
        let outcome = std::thread::spawn(|| panic!("deliberate, from a test")).join();
        assert!(outcome.is_err(), "the thread panicked");
        // Other tests in this process may panic too (should_panic tests): at least ours was counted.
        assert!(count() > before, "panic counted: before {before}, after {}", count());
    }
}
