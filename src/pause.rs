//! CLIENT PAUSE: holding clients' commands back for a while, all of them or only the writes.
//!
//! Counterpart of Redis's `pauseClients`, `unpauseClients` and
//! `checkClientPauseTimeoutAndReturnIfPaused` (`networking.c`) and of the `BLOCKED_POSTPONE`
//! check in `processCommand`. An operator pauses writes (`CLIENT PAUSE 5000 WRITE`) to let a
//! replica catch up before a failover, or everything to stop traffic for a moment.
//!
//! # How a paused command waits
//! A command that must wait is not run and not answered: the dispatcher leaves it with the
//! client ([`crate::client::Client::postponed`]), the connection loop sends the replies of
//! the commands before it, registers with [`ClientPause::postpone`] and sleeps on its waker,
//! with the end of the pause as the timeout. When the pause ends (CLIENT UNPAUSE, or its time
//! is up) every postponed client is woken and sends its command through the dispatcher again,
//! from the top, as Redis re-processes a postponed client: it may be paused again by a newer
//! pause, and a command that became an error in the meantime answers the error.
//!
//! A thread per connection makes the waiting itself free of any event loop: a postponed
//! client is one parked thread, as a client blocked in BLPOP is.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::client::ClientHandle;

/// What a pause holds back (Redis `pause_type`), least restrictive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    /// No pause.
    Off = 0,
    /// Commands that write or may propagate (`CLIENT PAUSE ... WRITE`).
    Write = 1,
    /// Every command (`CLIENT PAUSE ...` or `... ALL`).
    All = 2,
}

impl PauseKind {
    fn from_code(code: u8) -> PauseKind {
        match code {
            1 => PauseKind::Write,
            2 => PauseKind::All,
            _ => PauseKind::Off,
        }
    }
}

/// The server's pause, and the clients waiting for it to end.
#[derive(Debug, Default)]
pub struct ClientPause {
    /// The current [`PauseKind`] as a number, read by every command without the mutex.
    kind: AtomicU8,
    /// When the pause ends, and who waits.
    state: Mutex<PauseState>,
}

#[derive(Debug, Default)]
struct PauseState {
    /// Unix ms at which the pause ends by itself.
    end_ms: u64,
    /// Clients with a postponed command, woken when the pause ends or changes.
    postponed: Vec<Arc<ClientHandle>>,
}

impl ClientPause {
    /// True if a pause may be in force (one atomic load): callers check this before reading
    /// the clock for [`ClientPause::kind`], so a server that is never paused pays no clock
    /// read per command.
    #[inline]
    pub(crate) fn may_be_active(&self) -> bool {
        self.kind.load(Ordering::Acquire) != PauseKind::Off as u8
    }

    /// The pause in force at `now_ms` (Redis `checkClientPauseTimeoutAndReturnIfPaused`):
    /// one atomic load when there is none; a pause whose time is up ends here.
    #[inline]
    pub fn kind(&self, now_ms: u64) -> PauseKind {
        if self.kind.load(Ordering::Acquire) == PauseKind::Off as u8 {
            return PauseKind::Off;
        }
        self.kind_slow(now_ms)
    }

    fn kind_slow(&self, now_ms: u64) -> PauseKind {
        let mut state = self.state.lock();
        let kind = PauseKind::from_code(self.kind.load(Ordering::Acquire));
        if kind != PauseKind::Off && state.end_ms < now_ms {
            self.end(&mut state);
            return PauseKind::Off;
        }
        kind
    }

    /// True while any pause is in force: keys are then not expired (Redis skips both the
    /// active and the lazy expiry during a pause, so that a paused server's dataset, and a
    /// replica's copy of it, stays as it was).
    pub(crate) fn is_paused(&self, now_ms: u64) -> bool {
        self.kind(now_ms) != PauseKind::Off
    }

    /// Pauses until `end_ms` (Redis `pauseClients`). A pause already in force keeps the later
    /// end and the more restrictive kind of the two.
    pub fn pause(&self, kind: PauseKind, end_ms: u64) {
        let mut state = self.state.lock();
        let current = PauseKind::from_code(self.kind.load(Ordering::Acquire));
        let kind = current.max(kind);
        state.end_ms = if current == PauseKind::Off {
            end_ms
        } else {
            state.end_ms.max(end_ms)
        };
        self.kind.store(kind as u8, Ordering::Release);
    }

    /// Ends the pause at once (CLIENT UNPAUSE) and wakes every postponed client.
    pub(crate) fn unpause(&self) {
        let mut state = self.state.lock();
        self.end(&mut state);
    }

    fn end(&self, state: &mut PauseState) {
        self.kind.store(PauseKind::Off as u8, Ordering::Release);
        state.end_ms = 0;
        for handle in state.postponed.drain(..) {
            handle.wake();
        }
    }

    /// Registers a client whose command waits for the pause to end, to be woken then.
    /// Returns the end of the pause (Unix ms), or `None` if it has already ended (the caller
    /// then runs its command at once).
    pub(crate) fn postpone(&self, handle: &Arc<ClientHandle>, now_ms: u64) -> Option<u64> {
        if self.kind(now_ms) == PauseKind::Off {
            return None;
        }
        let mut state = self.state.lock();
        if self.kind.load(Ordering::Acquire) == PauseKind::Off as u8 {
            return None;
        }
        if !state.postponed.iter().any(|h| Arc::ptr_eq(h, handle)) {
            state.postponed.push(handle.clone());
        }
        Some(state.end_ms)
    }

    /// Forgets a postponed client (it left, or its command ran).
    pub(crate) fn forget(&self, handle: &Arc<ClientHandle>) {
        let mut state = self.state.lock();
        state.postponed.retain(|h| !Arc::ptr_eq(h, handle));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_keeps_the_later_end_and_the_stricter_kind() {
        let pause = ClientPause::default();
        assert_eq!(pause.kind(0), PauseKind::Off);
        pause.pause(PauseKind::Write, 1_000);
        assert_eq!(pause.kind(500), PauseKind::Write);
        pause.pause(PauseKind::All, 800);
        assert_eq!(pause.kind(900), PauseKind::All, "the stricter kind wins");
        pause.pause(PauseKind::Write, 500);
        assert_eq!(pause.kind(999), PauseKind::All, "the later end wins");
        assert_eq!(pause.kind(1_001), PauseKind::Off, "time is up");
        pause.pause(PauseKind::Write, 2_000);
        pause.unpause();
        assert_eq!(pause.kind(1_500), PauseKind::Off);
    }
}
