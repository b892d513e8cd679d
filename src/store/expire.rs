//! The active expiry cycle: a background thread that deletes expired keys nobody reads.
//!
//! Counterpart of Redis `expire.c` (`activeExpireCycle`).
//!
//! Lazy expiry (see [`crate::store`]) only removes a key when someone touches it, so a
//! million keys written with a TTL and never read again would stay in memory forever. Redis
//! fixes this with an adaptive sampler, and respd does the same:
//!
//! - ten times a second (`hz 10`), for every database, pick 20 random keys among those with a
//!   TTL and delete the expired ones;
//! - if more than a quarter of the sample had expired, the database probably holds many more,
//!   so sample again at once;
//! - stop after a time budget (25 ms per run, i.e. at most a quarter of the CPU), so the cycle
//!   never starves clients.
//!
//! Each sample takes the write lock on its own and releases it, so clients get the lock
//! between samples and a large expiry wave never blocks them for long.

use std::time::{Duration, Instant};

use super::Store;
use crate::util::Clock;

/// Keys sampled per step (Redis `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub(crate) const KEYS_PER_LOOP: usize = 20;
/// Keep sampling a database while more than this percentage of a sample expired.
pub(crate) const ACCEPTABLE_STALE_PERCENT: usize = 25;
/// Time budget of one run.
pub(crate) const CYCLE_BUDGET: Duration = Duration::from_millis(25);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CycleOutcome {
    /// Keys deleted.
    pub expired: usize,
    /// Time spent holding the keyspace lock, i.e. keeping clients waiting: the latency
    /// monitor's `expire-cycle` event. Time spent waiting for the lock is not counted (in
    /// Redis the cycle never overlaps a command, so it has no such wait).
    pub busy: Duration,
    /// The longest single deletion (a large value takes long to free): the latency
    /// monitor's `expire-del` event. Redis samples every deletion, and keeps the worst of
    /// each second, so the worst of a pass is what it would keep.
    pub slowest_delete: Duration,
}

/// Runs one active expiry pass over every database; `clock` says what time it is (the
/// server's, see [`crate::shared::Shared::clock`]).
pub(crate) fn run_cycle(store: &Store, clock: &Clock, budget: Duration) -> CycleOutcome {
    let start = Instant::now();
    let db_count = store.db_count();
    let mut outcome = CycleOutcome::default();
    for db_index in 0..db_count {
        loop {
            let (sampled, expired) = {
                let mut keyspace = store.write();
                let locked = Instant::now();
                let db = keyspace.db_mut(db_index);
                if db.expires_len() == 0 {
                    break;
                }
                let (sampled, expired, slowest) = db.expire_sample(KEYS_PER_LOOP, clock.now_ms());
                outcome.busy += locked.elapsed();
                outcome.slowest_delete = outcome.slowest_delete.max(slowest);
                (sampled, expired)
            };
            outcome.expired += expired;
            if sampled == 0 || expired * 100 <= sampled * ACCEPTABLE_STALE_PERCENT {
                break;
            }
            if start.elapsed() >= budget {
                return outcome;
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;

    #[test]
    fn the_cycle_reclaims_keys_nobody_reads() {
        let store = Store::new(2);
        let clock = Clock::manual(1_000_000);
        let now = clock.now_ms();
        {
            let mut ks = store.write();
            for i in 0..10_000u32 {
                let key = format!("k{i}");
                ks.db_mut(1)
                    .set_with_expire(key.as_bytes(), Value::Int(1), Some(now - 1), now);
            }
            ks.db_mut(1).set(b"keep", Value::Int(1), now);
        }
        let mut rounds = 0;
        while store.read().db(1).len() > 1 {
            run_cycle(&store, &clock, Duration::from_secs(1));
            rounds += 1;
            assert!(rounds < 1000, "the cycle does not converge");
        }
        let ks = store.read();
        assert_eq!(ks.db(1).len(), 1);
        assert_eq!(ks.db(1).expires_len(), 0);
        assert_eq!(ks.db(1).expired_count, 10_000);
    }
}
