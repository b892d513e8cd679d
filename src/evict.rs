//! `maxmemory`: evicting keys when the dataset grows past the limit, and refusing writes
//! when nothing can be evicted.
//!
//! Counterpart of Redis `evict.c` (`performEvictions`, `evictionPoolPopulate`,
//! `getMaxmemoryState`) and of the maxmemory check in `server.c` `processCommand`, checked
//! against Redis 7.0.15.
//!
//! # When
//! Before a command runs, [`crate::cmd::dispatch`] calls [`perform_evictions`] when that
//! command would be refused on OOM: a command flagged `denyoom`, an EXEC whose transaction
//! queued one, or (inside MULTI) any command but EXEC, DISCARD, QUIT and RESET, since queueing
//! itself takes memory. If memory is still over the limit afterwards, the command gets
//! `-OOM command not allowed when used memory > 'maxmemory'.` (an EXEC gets it as its
//! EXECABORT reason; a refused command inside MULTI dooms the transaction). Commands run by
//! EXEC are not checked again, as in Redis, where they do not go through `processCommand`.
//!
//! Redis runs `performEvictions` before *every* command. respd skips it for commands that
//! cannot be refused (GET, DEL...), because its used memory is not an allocator counter but a
//! walk over every key ([`crate::store::memory`]), O(keys), taken under the keyspace write
//! lock: paying that on each read would serialise all readers. A dataset over the limit is
//! thus trimmed by the next write rather than the next read; what a write finds is the same.
//! One exception, as in Redis: a CONFIG SET while a limit is set (lowering `maxmemory`,
//! changing the policy) evicts right after that command ([`after_config_change`]), where Redis
//! starts its eviction timer (`updateMaxmemory` → `startEvictionTimeProc`).
//!
//! # What "used memory" is
//! INFO's `used_memory`: every key and value as [`crate::store::memory`] counts them, plus the
//! clients' query and reply buffers (`getMaxmemoryState` likewise counts client buffers,
//! replicas' output buffers excepted; respd's replicas are not clients of that table). Each
//! eviction subtracts the bytes the evicted key took (`MEMORY USAGE` measured on every
//! element), which is what Redis's `delta` of `zmalloc_used_memory()` around the deletion
//! measures.
//!
//! Measuring the dataset walks every key, so it is not done on every write: a
//! [`DatasetGauge`](crate::shared::DatasetGauge) keeps the last measurement and adds each checked command's argument bytes
//! to it. Only when that estimate goes over the limit is the dataset measured again, and then
//! at most once per ten times the previous measurement's duration, so the walk never takes
//! more than about a tenth of the time however large the dataset. Between two measurements a
//! burst of writes may go past the limit by what it writes in that interval (with 1,000,000
//! small keys, a measurement of some tens of ms, so a few hundred ms of writes); Redis's own
//! check, made before each command, similarly lets a command finish past the limit. A
//! configuration change measures at the next check whatever the estimate says.
//!
//! # Which key
//! - `allkeys-random` / `volatile-random`: a random key of the next database in turn (a
//!   round-robin over the databases, Redis's `next_db`), among all keys or those with a TTL.
//! - `*-lru`, `*-lfu`, `volatile-ttl`: the approximated algorithm of Redis. Every database
//!   with candidate keys gives `maxmemory-samples` neighbouring keys; each gets a score (idle
//!   seconds; 255 minus the decayed LFU counter; for TTL, how soon it expires, sooner being
//!   better), and enters an *eviction pool* of the 16 best candidates seen, kept sorted. The
//!   best pool entry still present is evicted. Unlike Redis's pool, which lives as long as the
//!   server, this one lives for one check: a later check samples afresh.
//!
//! `volatile-*` never considers a key without a TTL; `noeviction` evicts nothing. When there
//! is no candidate left the check fails and the command is refused.
//!
//! # What an eviction does
//! As `performEvictions`: the key is deleted (WATCHers see it modified), the `evicted`
//! keyspace event (class `e`) is published, the deletion is propagated to the AOF and the
//! replicas as `DEL key` (`UNLINK key` under `lazyfree-lazy-eviction yes`), and INFO's
//! `evicted_keys` counts it.
//!
//! `maxmemory-eviction-tenacity` bounds how long Redis evicts in one go before finishing in a
//! timer (`evictionTimeProc`); respd has no such timer and always finishes in the command,
//! so the directive is accepted and kept but changes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::Config;
use crate::shared::Shared;
use crate::store::{Db, Entry, Key, Keyspace};

/// Redis `EVPOOL_SIZE`: candidates the eviction pool keeps.
pub(crate) const POOL_SIZE: usize = 16;

/// `maxmemory-policy` (Redis `MAXMEMORY_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Evict nothing: refuse the command.
    NoEviction,
    /// Least recently used among all keys.
    AllkeysLru,
    /// Least frequently used among all keys.
    AllkeysLfu,
    /// Any key.
    AllkeysRandom,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// Any key with a TTL.
    VolatileRandom,
    /// The key with a TTL that expires soonest.
    VolatileTtl,
}

impl Policy {
    /// The policy called `name` as CONFIG GET shows it (`allkeys-lru`...); `noeviction` for
    /// anything else.
    pub(crate) fn from_name(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    /// True when only keys with a TTL may go (Redis `MAXMEMORY_FLAG_ALLKEYS` unset).
    fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// A key's eviction score under this pool policy: higher goes first (Redis's `idle` in
    /// `evictionPoolPopulate`).
    fn score(self, entry: &Entry, now_ms: u64) -> u64 {
        match self {
            Policy::AllkeysLfu | Policy::VolatileLfu => {
                255 - u64::from(entry.access_counter(now_ms).min(255))
            }
            Policy::VolatileTtl => u64::MAX - entry.expire_at().unwrap_or(u64::MAX),
            _ => entry.idle_seconds(now_ms),
        }
    }
}

/// The eviction settings in force, read from the configuration for one check.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `maxmemory` in bytes; 0 means no limit.
    pub maxmemory: u64,
    /// `maxmemory-policy`.
    pub policy: Policy,
    /// `maxmemory-samples`: keys sampled per database for a pool policy.
    pub samples: usize,
    /// `lazyfree-lazy-eviction`: evictions propagate as UNLINK rather than DEL.
    pub lazy: bool,
}

impl Settings {
    /// The settings `config` holds.
    pub(crate) fn from_config(config: &Config) -> Settings {
        let kept = |name: &str| config.kept.get(name).map(String::as_str).unwrap_or("");
        Settings {
            maxmemory: config.kept_u64("maxmemory"),
            policy: Policy::from_name(kept("maxmemory-policy")),
            samples: usize::try_from(config.kept_u64("maxmemory-samples"))
                .unwrap_or(usize::MAX)
                .max(1),
            lazy: kept("lazyfree-lazy-eviction") == "yes",
        }
    }
}

/// Samples of every database taken for one eviction before giving up on sampling.
const SAMPLE_ATTEMPTS: usize = 16;

/// The database the random policies take their next key from (Redis's static `next_db`).
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// One key chosen for eviction.
struct Victim {
    db: usize,
    key: Key,
}

/// Brings used memory under `maxmemory` by evicting keys, if a limit is set. Returns false
/// when memory is still over the limit and nothing more can be evicted (Redis `EVICT_FAIL`):
/// the caller then refuses the command. Takes the keyspace write lock for the whole check.
///
/// `written` is what the command about to run may add (its arguments' bytes): the dataset is
/// measured in full only when the last measurement plus everything written since could be
/// over the limit, and at most once per ten times the last measurement's cost (see
/// [`DatasetGauge`](crate::shared::DatasetGauge)).
pub(crate) fn perform_evictions(shared: &Shared, now_ms: u64, written: u64) -> bool {
    let settings = Settings::from_config(&shared.config.read());
    if settings.maxmemory == 0 {
        return true;
    }
    // mirrors performEvictions(): a replica ignores maxmemory (replica-ignore-maxmemory);
    // its master evicts, and the DELs arrive in the stream.
    if shared.replica_role.following()
        && shared
            .config
            .read()
            .kept
            .get("replica-ignore-maxmemory")
            .map_or(true, |v| v == "yes")
    {
        return true;
    }
    let clients = crate::cmd::memory::clients_bytes(shared);
    let mut keyspace = shared.store.write();
    let mut gauge = shared.dataset_gauge.lock();
    gauge.pending = gauge.pending.saturating_add(written);
    let estimate = gauge.measured + gauge.pending + clients;
    if !gauge.stale && !gauge.over_limit && estimate <= settings.maxmemory {
        // Under the limit as far as the estimate can tell.
        return true;
    }
    let rested = gauge.cost_us < 1000
        || gauge.measured_at.map_or(true, |at| {
            at.elapsed().as_micros() as u64 >= gauge.cost_us * 10
        });
    if !gauge.stale && !rested {
        // Measured too recently to measure again: the last measurement's verdict stands.
        // A burst of writes can then overshoot the limit by what it writes in that time,
        // as Redis's own check, made before each command, lets a command finish past it.
        return !gauge.over_limit;
    }
    let measuring = std::time::Instant::now();
    let dataset: u64 = keyspace
        .dbs()
        .iter()
        .map(|db| db.approx_bytes() as u64)
        .sum();
    gauge.cost_us = measuring.elapsed().as_micros() as u64;
    gauge.measured_at = Some(measuring);
    gauge.pending = 0;
    gauge.stale = false;
    let mut used = dataset + clients;
    let mut evicted = 0u64;
    let mut under = true;
    // The latency monitor's `eviction-cycle` (the whole run, when there was something to
    // evict) and `eviction-del` (each deletion), as Redis measures them.
    let cycle_started = (used > settings.maxmemory).then(std::time::Instant::now);
    while used > settings.maxmemory {
        let Some(victim) = choose(&keyspace, settings, now_ms) else {
            under = false;
            break;
        };
        let db = keyspace.db_mut(victim.db);
        let freed = db.memory_usage(&victim.key, usize::MAX).unwrap_or(0) as u64;
        let deletion_started = std::time::Instant::now();
        db.remove(&victim.key);
        // mirrors performEvictions(): the event, then the propagated deletion.
        db.notify(crate::notify::EVICTED, "evicted", &victim.key);
        let deletion_ms = deletion_started.elapsed().as_millis() as u64;
        shared.latency.record("eviction-del", deletion_ms);
        let command: &[u8] = if settings.lazy { b"UNLINK" } else { b"DEL" };
        crate::persistence::aof::feed_served(
            shared,
            victim.db,
            &[vec![command.to_vec(), victim.key]],
        );
        used = used.saturating_sub(freed);
        evicted += 1;
    }
    gauge.measured = used.saturating_sub(clients);
    gauge.over_limit = !under;
    drop(gauge);
    drop(keyspace);
    if let Some(started) = cycle_started {
        let cycle_ms = started.elapsed().as_millis() as u64;
        shared.latency.record("eviction-cycle", cycle_ms);
    }
    if evicted > 0 {
        shared
            .stats
            .evicted_keys
            .fetch_add(evicted, Ordering::Relaxed);
    }
    under
}

/// Evicts once the configuration has changed under a `maxmemory` (CONFIG SET): Redis's
/// `updateMaxmemory` starts `evictionTimeProc`, which evicts right after the command rather
/// than waiting for the next write. Called by the dispatcher after each command, with no
/// lock held; costs one atomic load when nothing is pending.
pub(crate) fn after_config_change(shared: &Shared, now_ms: u64) {
    if shared.eviction_pending.load(Ordering::Acquire)
        && shared.eviction_pending.swap(false, Ordering::AcqRel)
    {
        perform_evictions(shared, now_ms, 0);
        crate::cmd::publish_keyspace_events(shared, now_ms);
    }
}

/// The next key to evict under `settings.policy`, or None if there is none.
fn choose(keyspace: &Keyspace, settings: Settings, now_ms: u64) -> Option<Victim> {
    let volatile = settings.policy.volatile_only();
    let candidates = |db: &Db| {
        if volatile {
            db.expires_len()
        } else {
            db.len()
        }
    };
    match settings.policy {
        Policy::NoEviction => None,
        Policy::AllkeysRandom | Policy::VolatileRandom => {
            let count = keyspace.db_count();
            for _ in 0..count {
                let index = NEXT_DB.fetch_add(1, Ordering::Relaxed) % count;
                let db = keyspace.db(index);
                if candidates(db) == 0 {
                    continue;
                }
                if let Some(key) = db.random_key_for_eviction(volatile) {
                    return Some(Victim {
                        db: index,
                        key: key.to_vec(),
                    });
                }
            }
            None
        }
        policy => {
            // mirrors performEvictions(): fill the pool from every database, then take its
            // best entry. The pool holds (score, db, key), sorted by ascending score.
            let mut pool: Vec<(u64, usize, Key)> = Vec::with_capacity(POOL_SIZE + 1);
            // A sample of a sparse table may come back empty (it gives up after many empty
            // buckets); Redis then samples again for as long as there are keys. respd tries
            // a bounded number of times, then takes any candidate.
            for _attempt in 0..SAMPLE_ATTEMPTS {
                let mut total = 0;
                for (index, db) in keyspace.dbs().iter().enumerate() {
                    if candidates(db) == 0 {
                        continue;
                    }
                    total += candidates(db);
                    for (key, entry) in db.sample_for_eviction(settings.samples, volatile) {
                        let score = policy.score(entry, now_ms);
                        pool_insert(&mut pool, (score, index, key.to_vec()));
                    }
                }
                if total == 0 {
                    return None;
                }
                if let Some((_, db, key)) = pool.pop() {
                    return Some(Victim { db, key });
                }
            }
            keyspace.dbs().iter().enumerate().find_map(|(index, db)| {
                let key = db.random_key_for_eviction(volatile)?;
                Some(Victim {
                    db: index,
                    key: key.to_vec(),
                })
            })
        }
    }
}

/// Adds a candidate to the pool unless the pool is full of better ones (Redis
/// `evictionPoolPopulate`: a full pool drops its worst entry to make room).
fn pool_insert(pool: &mut Vec<(u64, usize, Key)>, candidate: (u64, usize, Key)) {
    if pool.len() == POOL_SIZE && candidate.0 <= pool[0].0 {
        return;
    }
    let at = pool.partition_point(|entry| entry.0 < candidate.0);
    pool.insert(at, candidate);
    if pool.len() > POOL_SIZE {
        pool.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_the_sixteen_best_in_order() {
        let mut pool = Vec::new();
        for score in [
            5u64, 1, 30, 7, 2, 9, 11, 3, 8, 20, 4, 6, 10, 12, 13, 14, 15, 16, 0,
        ] {
            pool_insert(&mut pool, (score, 0, score.to_string().into_bytes()));
        }
        assert_eq!(pool.len(), POOL_SIZE);
        let scores: Vec<u64> = pool.iter().map(|e| e.0).collect();
        let mut sorted = scores.clone();
        sorted.sort_unstable();
        assert_eq!(scores, sorted);
        assert_eq!(scores.last(), Some(&30));
        assert!(!scores.contains(&0) && !scores.contains(&1));
    }

    #[test]
    fn policies_are_named_as_config_get_shows_them() {
        assert_eq!(Policy::from_name("volatile-ttl"), Policy::VolatileTtl);
        assert_eq!(Policy::from_name("noeviction"), Policy::NoEviction);
        assert!(Policy::VolatileLfu.volatile_only());
        assert!(!Policy::AllkeysLru.volatile_only());
    }

    #[test]
    fn volatile_ttl_prefers_the_key_that_expires_first() {
        let mut db = Db::new();
        db.set_with_expire(b"soon", crate::store::Value::Int(1), Some(1_000), 0);
        db.set_with_expire(b"late", crate::store::Value::Int(1), Some(9_000), 0);
        let soon = db.peek(b"soon", 0).unwrap();
        let late = db.peek(b"late", 0).unwrap();
        assert!(Policy::VolatileTtl.score(soon, 0) > Policy::VolatileTtl.score(late, 0));
    }
}
