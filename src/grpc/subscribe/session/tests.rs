//! What an open subscription costs while it waits.

/// What an idle subscription holds is mostly this future: 10,000 of them must fit in a few hundred
/// MiB with the NATS client's share. Today 1.6 KiB of session and 0.9 KiB of awaits; it was 4.4 KiB
/// before the async block (arguments kept twice) and more before the boxing.
#[test]
fn an_idle_sessions_future_stays_small() {
    fn future_size<A, B, C, F: std::future::Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }
    let size = future_size(super::Session::run);
    assert!(size <= 3 * 1024, "Session::run's future is {size} bytes");
    assert!(std::mem::size_of::<crate::grpc::server::Gateway>() <= 128, "Gateway is cloned into every call");
}
