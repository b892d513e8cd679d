//! The clock keys expire by: the wall clock, or a hand-moved one for tests.
//!
//! Every TTL is a Unix time in milliseconds, and whatever asks "has this key expired?"
//! (commands, the active expiry cycle, eviction, snapshots) asks the server's one [`Clock`].
//! A running server reads the wall clock; a test builds a [`Clock::manual`] one and moves it
//! with [`Clock::advance`], so that "the key is gone a second later" takes no second and
//! cannot race with a slow machine (see [`crate::harness`]).
//!
//! What measures durations (latency, the slow log, timeouts of blocking commands) keeps using
//! `std::time::Instant`: those are about how long the server took, not about keys.
//!
//! Reading the clock costs one branch over reading the wall clock directly, as dispatch did
//! before: the manual clock is an `Option` that is `None` in every server.

use std::sync::atomic::{AtomicU64, Ordering};

/// Milliseconds since the Unix epoch, as keys and their TTLs see them.
#[derive(Debug, Default)]
pub struct Clock {
    /// `Some` for a test clock: the time it shows, moved only by hand.
    manual: Option<AtomicU64>,
}

impl Clock {
    /// The wall clock ([`super::now_ms`]): what a server runs on.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that shows `start_ms` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start_ms: u64) -> Clock {
        Clock {
            manual: Some(AtomicU64::new(start_ms)),
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        match &self.manual {
            None => super::now_ms(),
            Some(shown) => shown.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    /// True for a clock moved by hand.
    pub(crate) fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    #[cfg(test)]
    /// Moves a manual clock `ms` milliseconds forward.
    ///
    /// # Panics
    /// On the wall clock, which nothing may move: a test that means to move time must have
    /// built its server with a manual clock.
    pub(crate) fn advance(&self, ms: u64) {
        self.shown().fetch_add(ms, Ordering::Relaxed);
    }

    /// Sets a manual clock to `ms` (panics on the wall clock, as [`Clock::advance`]).
    pub fn set(&self, ms: u64) {
        self.shown().store(ms, Ordering::Relaxed);
    }

    fn shown(&self) -> &AtomicU64 {
        self.manual
            .as_ref()
            .expect("only a manual clock can be moved")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(250);
        assert_eq!(clock.now_ms(), 1_250);
        clock.set(5);
        assert_eq!(clock.now_ms(), 5);
    }

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let clock = Clock::system();
        let before = super::super::now_ms();
        let read = clock.now_ms();
        assert!(read >= before && read <= super::super::now_ms());
        assert!(!clock.is_manual());
    }
}
