//! The slow log: the commands that took longer than `slowlog-log-slower-than` microseconds,
//! newest first, at most `slowlog-max-len` of them.
//!
//! Counterpart of Redis `slowlog.c` and `slowlogPushCurrentCommand` (`server.c`).
//!
//! [`crate::cmd::run_command`] already measures each command for INFO commandstats; it hands
//! that duration to [`SlowLog::push_if_needed`]. Commands flagged `skip_slowlog` (EXEC, whose
//! queued commands are logged one by one) are not logged, nor is the append-only file's
//! replay at start. A command that blocks is kept aside ([`Deferred`]) and logged by its
//! connection when a write serves it. The threshold lives in an atomic, so a command under
//! it costs one load; the list is locked only to add an entry.
//!
//! An entry keeps what Redis keeps: an id that grows by one per entry (SLOWLOG RESET does not
//! restart it), the unix time, the duration, the arguments (at most 32, the last replaced by
//! `... (N more arguments)` when there were more; each at most 128 bytes followed by
//! `... (N more bytes)`), with redacted arguments as `(redacted)`, and the client's address
//! and name.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::protocol::Argv;

/// Arguments kept per entry (Redis `SLOWLOG_ENTRY_MAX_ARGC`).
const MAX_ARGC: usize = 32;
/// Bytes kept per argument (Redis `SLOWLOG_ENTRY_MAX_STRING`).
const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Unique, increasing.
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time: u64,
    /// How long the command ran, in microseconds.
    pub duration_us: u64,
    /// The arguments, shortened as described in the module docs.
    pub argv: Vec<Vec<u8>>,
    /// The client's `ip:port`.
    pub peer: String,
    /// The client's name (CLIENT SETNAME), empty for none.
    pub name: Vec<u8>,
}

/// A command left blocked: what the slow log will get if a write serves it (Redis logs a
/// blocked command in `updateStatsOnUnblock` when a write serves it; in 7.0 a timeout logs
/// nothing, and CLIENT UNBLOCK an entry without arguments, see [`SlowLog::push_released`]).
/// The duration is the first run's.
///
/// The blocked client's own connection logs it when it wakes up, not the writer: after a
/// write inside MULTI/EXEC it always comes after the write's entry, as in Redis, but after a
/// lone write the two connections may add their entries in either order.
#[derive(Debug, Clone)]
pub struct Deferred {
    /// The arguments as called.
    pub argv: Argv,
    /// The positions shown as `(redacted)`.
    pub redacted: Vec<usize>,
    /// How long the command ran before blocking, in microseconds.
    pub duration_us: u64,
}

/// The slow log and its settings.
#[derive(Debug)]
pub struct SlowLog {
    /// `slowlog-log-slower-than`; negative turns logging off.
    slower_than_us: AtomicI64,
    /// `slowlog-max-len`.
    max_len: AtomicU64,
    next_id: AtomicU64,
    /// Newest first.
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            slower_than_us: AtomicI64::new(10_000),
            max_len: AtomicU64::new(128),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    /// Follows `slowlog-log-slower-than` and `slowlog-max-len` (called at start and on every
    /// configuration change). As in Redis, a shorter length trims the log at the next entry.
    pub(crate) fn configure(&self, config: &crate::config::Config) {
        let number = |name: &str| config.kept.get(name).and_then(|v| v.parse::<i64>().ok());
        if let Some(v) = number("slowlog-log-slower-than") {
            self.slower_than_us.store(v, Ordering::Relaxed);
        }
        if let Some(v) = number("slowlog-max-len") {
            self.max_len.store(v.max(0) as u64, Ordering::Relaxed);
        }
    }

    /// Logs a command that ran `duration_us` if that reaches the threshold (Redis
    /// `slowlogPushEntryIfNeeded`), then trims the log to `slowlog-max-len`.
    pub(crate) fn push_if_needed(
        &self,
        client: &crate::client::Client,
        argv: &Argv,
        redacted: &[usize],
        duration_us: u64,
    ) {
        if self.reaches_threshold(duration_us) {
            let argv = shortened(argv, redacted);
            self.push(
                client.handle.addr.to_string(),
                client.name.clone(),
                argv,
                duration_us,
            );
        }
    }

    /// Logs the client CLIENT UNBLOCK released, as Redis 7.0.15 does: with no arguments at all,
    /// because its `updateStatsOnUnblock` runs after `unblockClient` has already reset the
    /// client's arguments. The duration is 0 (Redis uses the first run's).
    pub(crate) fn push_released(&self, handle: &crate::client::ClientHandle) {
        if self.reaches_threshold(0) {
            let name = handle.snapshot.lock().name.clone();
            self.push(handle.addr.to_string(), name, Vec::new(), 0);
        }
    }

    fn reaches_threshold(&self, duration_us: u64) -> bool {
        let threshold = self.slower_than_us.load(Ordering::Relaxed);
        threshold >= 0 && duration_us as i128 >= threshold as i128
    }

    /// Adds an entry, then trims the log to `slowlog-max-len`.
    fn push(&self, peer: String, name: Vec<u8>, argv: Vec<Vec<u8>>, duration_us: u64) {
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: crate::util::now_ms() / 1000,
            duration_us,
            argv,
            peer,
            name,
        };
        let max_len = self.max_len.load(Ordering::Relaxed) as usize;
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True when the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry (SLOWLOG RESET); ids go on growing.
    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

/// The arguments as an entry keeps them (Redis `slowlogCreateEntry`).
fn shortened(argv: &Argv, redacted: &[usize]) -> Vec<Vec<u8>> {
    let kept = argv.len().min(MAX_ARGC);
    (0..kept)
        .map(|j| {
            if kept != argv.len() && j == kept - 1 {
                return format!("... ({} more arguments)", argv.len() - kept + 1).into_bytes();
            }
            let arg: &[u8] = if redacted.contains(&j) {
                crate::monitor::REDACTED
            } else {
                &argv[j]
            };
            if arg.len() > MAX_STRING {
                let mut s = arg[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - MAX_STRING).as_bytes(),
                );
                s
            } else {
                arg.to_vec()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_shortened_as_redis_does() {
        let args: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let argv = Argv::from_args(args.iter().map(|s| s.as_str()));
        let kept = shortened(&argv, &[]);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], b"30");
        assert_eq!(kept[31], b"... (9 more arguments)");
        let long = "x".repeat(130);
        let argv = Argv::from_args(["set", "k", long.as_str()]);
        let kept = shortened(&argv, &[2]);
        assert_eq!(kept[2], b"(redacted)");
        let kept = shortened(&argv, &[]);
        assert_eq!(
            kept[2],
            format!("{}... (2 more bytes)", "x".repeat(128)).into_bytes()
        );
    }
}
