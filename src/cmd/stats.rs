//! Per-command and per-error counters: INFO `commandstats`, `errorstats` and `latencystats`.
//!
//! Counterpart of the `calls` / `microseconds` / `rejected_calls` / `failed_calls` fields and
//! the latency histogram of Redis's `struct redisCommand`, of `incrCommandStatsOnError`
//! (`server.c`) and of `afterErrorReply` / `incrementErrorCount` (`networking.c`).
//!
//! # Cost
//! Redis bumps these counters in place from its one thread. respd's workers run in parallel, so
//! shared counters bumped on every command would make every core fight over the same cache
//! lines (every GET of every client on `cmdstat_get`). Instead each client adds up its batch in
//! a [`CommandBatch`] (a short vector: a pipeline seldom uses more than a few distinct
//! commands) and publishes it once per batch, with the other per-batch counters
//! ([`crate::client::BatchStats`]). What is left on the path of every command is finding the
//! command's index (a binary search over the table's slices, no hashing), two clock reads, and
//! a few additions.
//!
//! A command is known by its position in the table: [`command_index`] numbers every row and
//! subcommand row once, in table order.
//!
//! # Latency
//! `latencystats` reports p50, p99 and p99.9 of each command's duration from a log-linear
//! histogram: exact below [`SUB_BUCKETS`] microseconds, then `SUB_BUCKETS / 2` equal steps per
//! power of two (Redis uses an HDR histogram with two significant digits). A percentile is
//! reported as the upper bound of its bucket, so it is at most 6.25% above the true value.
//!
//! LATENCY HISTOGRAM shows the same durations the way Redis prints its histograms: cumulative
//! counts at 21 fixed bounds from 1 µs to about a second ([`redis_histogram_bounds`]). Those
//! bounds do not fall on the edges of the buckets above, so each call is also counted at its
//! bound when it is recorded (one more small counter array per command).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::{all_commands, CommandSpec};

/// Redis's `ERROR_STATS_NUMBER`: distinct error codes tracked before errorstats stops adding
/// new ones.
const MAX_ERROR_CODES: usize = 128;

/// Durations below this are counted exactly; above, each power of two has half as many steps.
const SUB_BUCKETS: u64 = 32;
/// Buckets: the exact ones, then `SUB_BUCKETS / 2` for each power of two up to 2^63.
const HISTOGRAM_LEN: usize =
    (SUB_BUCKETS + (64 - SUB_BUCKETS.trailing_zeros() as u64) * (SUB_BUCKETS / 2)) as usize;

/// Bucket of a duration in microseconds: exact below [`SUB_BUCKETS`], then `SUB_BUCKETS / 2`
/// equal steps per power of two.
fn bucket_of(usec: u64) -> usize {
    if usec < SUB_BUCKETS {
        return usec as usize;
    }
    let power = 63 - u64::from(usec.leading_zeros()); // usec in [2^power, 2^(power+1))
    let shift = power + 1 - SUB_BUCKETS.trailing_zeros() as u64;
    let sub = (usec >> shift) - SUB_BUCKETS / 2; // 0..SUB_BUCKETS/2
    let index =
        SUB_BUCKETS + (power - SUB_BUCKETS.trailing_zeros() as u64) * (SUB_BUCKETS / 2) + sub;
    (index as usize).min(HISTOGRAM_LEN - 1)
}

/// The largest duration that falls in `bucket`.
fn bucket_upper(bucket: usize) -> u64 {
    let b = bucket as u64;
    if b < SUB_BUCKETS {
        return b;
    }
    let half = SUB_BUCKETS / 2;
    let power = (b - SUB_BUCKETS) / half + SUB_BUCKETS.trailing_zeros() as u64;
    let sub = (b - SUB_BUCKETS) % half + half;
    let shift = power + 1 - SUB_BUCKETS.trailing_zeros() as u64;
    let upper = ((u128::from(sub) + 1) << shift) - 1;
    u64::try_from(upper).unwrap_or(u64::MAX)
}

/// Every slice of table rows, with the index of its first row (see [`command_index`]).
struct Index {
    /// (address of the first row, number of rows, index of the first row), by address.
    slices: Vec<(usize, usize, usize)>,
    /// Rows in index order, with their parent.
    rows: Vec<(&'static CommandSpec, Option<&'static CommandSpec>)>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut slices = Vec::new();
        let mut rows = Vec::new();
        let mut add = |slice: &'static [CommandSpec],
                       parent: Option<&'static CommandSpec>,
                       rows: &mut Vec<_>| {
            if !slice.is_empty() {
                slices.push((slice.as_ptr() as usize, slice.len(), rows.len()));
                rows.extend(slice.iter().map(|s| (s, parent)));
            }
        };
        for group in super::groups() {
            add(group, None, &mut rows);
        }
        for spec in all_commands() {
            add(spec.subcommands, Some(spec), &mut rows);
        }
        slices.sort_unstable();
        Index { slices, rows }
    })
}

/// The position of a table row (command or subcommand) among all rows.
pub(crate) fn command_index(spec: &'static CommandSpec) -> usize {
    let addr = spec as *const CommandSpec as usize;
    let idx = index();
    let i = idx.slices.partition_point(|&(start, _, _)| start <= addr);
    let (start, len, first) = idx.slices[i - 1];
    let offset = (addr - start) / std::mem::size_of::<CommandSpec>();
    debug_assert!(
        offset < len,
        "{} is not a row of the command table",
        spec.name
    );
    first + offset
}

/// One command's counters.
#[derive(Debug)]
struct Counters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// Latency histograms, allocated on the command's first tracked call.
    latency: Mutex<Option<Box<Histograms>>>,
}

/// One command's durations, counted twice: in respd's fine buckets (INFO latencystats'
/// percentiles) and at Redis's coarser bounds (LATENCY HISTOGRAM), which the fine buckets
/// cannot give exactly since their edges fall elsewhere.
#[derive(Debug)]
struct Histograms {
    buckets: [u64; HISTOGRAM_LEN],
    /// Calls per [`redis_histogram_bounds`] slot: those that took more than the previous
    /// bound and at most this one.
    at_redis_bounds: [u64; REDIS_BOUNDS],
}

impl Counters {
    fn new() -> Counters {
        Counters {
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: Mutex::new(None),
        }
    }
}

/// The server-wide counters (in [`crate::shared::Stats`]).
#[derive(Debug, Default)]
pub struct CommandStats {
    counters: OnceLock<Vec<Counters>>,
    /// Error code → count, in the order INFO prints them.
    errors: Mutex<BTreeMap<Vec<u8>, u64>>,
    /// INFO `total_error_replies`.
    total_errors: AtomicU64,
    /// `latency-tracking no`: durations are not put in the histograms.
    latency_off: AtomicBool,
}

/// One command's figures, for INFO.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandFigures {
    /// `get` or `client|list`.
    pub name: String,
    /// Completed calls.
    pub calls: u64,
    /// Microseconds spent in them.
    pub usec: u64,
    /// Refused before running.
    pub rejected: u64,
    /// Ran and replied an error.
    pub failed: u64,
    /// The asked percentiles (`latency-tracking-info-percentiles`) in microseconds, when
    /// latency was tracked for at least one call.
    pub percentiles: Option<Vec<u64>>,
}

impl CommandStats {
    fn counters(&self) -> &[Counters] {
        self.counters
            .get_or_init(|| (0..index().rows.len()).map(|_| Counters::new()).collect())
    }

    /// Follows `latency-tracking` (called at start and on every configuration change).
    pub(crate) fn configure(&self, config: &crate::config::Config) {
        let off = config
            .kept
            .get("latency-tracking")
            .is_some_and(|v| v.eq_ignore_ascii_case("no"));
        self.latency_off.store(off, Ordering::Relaxed);
    }

    /// True unless `latency-tracking no`.
    pub(crate) fn tracks_latency(&self) -> bool {
        !self.latency_off.load(Ordering::Relaxed)
    }

    /// Adds one client's batch.
    pub fn publish(&self, batch: &mut CommandBatch, errors: &mut Vec<(Vec<u8>, u64)>) {
        let counters = self.counters();
        for entry in batch.entries.drain(..) {
            let c = &counters[entry.index];
            for (counter, n) in [
                (&c.calls, entry.calls),
                (&c.usec, entry.usec),
                (&c.rejected, entry.rejected),
                (&c.failed, entry.failed),
            ] {
                if n > 0 {
                    counter.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
        // Consecutive durations mostly belong to the same command: one lock per run of them.
        let mut runs = batch.durations.chunk_by(|a, b| a.0 == b.0);
        for run in &mut runs {
            let mut latency = counters[run[0].0 as usize].latency.lock();
            let histograms = latency.get_or_insert_with(|| {
                Box::new(Histograms {
                    buckets: [0; HISTOGRAM_LEN],
                    at_redis_bounds: [0; REDIS_BOUNDS],
                })
            });
            for &(_, bucket, slot) in run {
                histograms.buckets[bucket as usize] += 1;
                histograms.at_redis_bounds[slot as usize] += 1;
            }
        }
        batch.durations.clear();
        if errors.is_empty() {
            return;
        }
        let mut map = self.errors.lock();
        for (code, n) in errors.drain(..) {
            self.total_errors.fetch_add(n, Ordering::Relaxed);
            let room = map.len() < MAX_ERROR_CODES;
            match map.get_mut(&code) {
                Some(count) => *count += n,
                None if room => {
                    map.insert(code, n);
                }
                None => {}
            }
        }
    }

    /// Clears everything (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in self.counters() {
            for counter in [&c.calls, &c.usec, &c.rejected, &c.failed] {
                counter.store(0, Ordering::Relaxed);
            }
            *c.latency.lock() = None;
        }
        self.errors.lock().clear();
        self.total_errors.store(0, Ordering::Relaxed);
    }

    /// INFO `total_error_replies`.
    pub(crate) fn total_errors(&self) -> u64 {
        self.total_errors.load(Ordering::Relaxed)
    }

    /// INFO errorstats: (code, count), by code.
    pub(crate) fn error_counts(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(code, n)| (String::from_utf8_lossy(code).into_owned(), *n))
            .collect()
    }

    /// LATENCY HISTOGRAM for one command: the calls whose duration was tracked, and the
    /// cumulative count at each of [`redis_histogram_bounds`] that adds calls, or `None` if
    /// none was tracked since the last reset. The counts are exact: each call was counted at
    /// its Redis bound when it was recorded.
    pub fn cumulative_histogram(
        &self,
        spec: &'static CommandSpec,
    ) -> Option<(u64, Vec<(u64, u64)>)> {
        let counters = self.counters();
        let latency = counters[command_index(spec)].latency.lock();
        let histograms = latency.as_ref()?;
        let mut cumulative = 0;
        let mut points = Vec::new();
        for (bound, &n) in redis_histogram_bounds()
            .iter()
            .zip(&histograms.at_redis_bounds)
        {
            if n > 0 {
                cumulative += n;
                points.push((*bound, cumulative));
            }
        }
        Some((cumulative, points))
    }

    /// Figures of every command that was called, refused or failed at least once, in table
    /// order, with the given percentiles (0 to 100) of their durations.
    pub fn figures(&self, percentiles: &[f64]) -> Vec<CommandFigures> {
        let idx = index();
        let mut out = Vec::new();
        for (i, c) in self.counters().iter().enumerate() {
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let (calls, rejected, failed) = (load(&c.calls), load(&c.rejected), load(&c.failed));
            if calls == 0 && rejected == 0 && failed == 0 {
                continue;
            }
            let (spec, parent) = idx.rows[i];
            let percentiles = c.latency.lock().as_ref().map(|h| {
                let total: u64 = h.buckets.iter().sum();
                percentiles
                    .iter()
                    .map(|&p| percentile(h.buckets.as_slice(), total, p))
                    .collect()
            });
            out.push(CommandFigures {
                name: super::full_name(spec, parent),
                calls,
                usec: load(&c.usec),
                rejected,
                failed,
                percentiles,
            });
        }
        out
    }
}

/// The bucket bounds LATENCY HISTOGRAM reports, in microseconds (see
/// [`CommandStats::cumulative_histogram`]).
///
/// Redis keeps each command's durations in nanoseconds in an HDR histogram from 1 ns to 1 s
/// with two significant digits (256 sub-buckets: exact up to 255 ns, then 128 steps per
/// power of two), and reports it at every power of two from 1024 ns: the level `2^k` counts
/// the durations up to the end of the bucket that starts at `2^k`, printed in whole
/// microseconds. Redis measures whole microseconds, so the count at a bound `B` is exactly the
/// calls that took at most `B` µs. Durations above one second are counted at the last bound.
pub(crate) fn redis_histogram_bounds() -> [u64; REDIS_BOUNDS] {
    std::array::from_fn(|i| {
        let level = 1u64 << (i + 10);
        let width = level >> 7; // a bucket's width at 2^k, k >= 8
        (level + width - 1) / 1000
    })
}

/// How many bounds LATENCY HISTOGRAM has: the powers of two from 2^10 to 2^30 ns.
const REDIS_BOUNDS: usize = 21;

/// The [`redis_histogram_bounds`] slot of a duration: the first bound at or above it, the
/// last one for anything longer.
fn redis_slot(usec: u64) -> usize {
    static BOUNDS: OnceLock<[u64; REDIS_BOUNDS]> = OnceLock::new();
    let bounds = BOUNDS.get_or_init(redis_histogram_bounds);
    bounds.partition_point(|&b| b < usec).min(REDIS_BOUNDS - 1)
}

/// The upper bound of the bucket holding the `p`th percentile.
fn percentile(histogram: &[u64], total: u64, p: f64) -> u64 {
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (bucket, n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return bucket_upper(bucket);
        }
    }
    0
}

/// One command's counts within a batch.
#[derive(Debug, Default)]
struct BatchEntry {
    index: usize,
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
}

/// A client's per-command counts since its last publish (see the module docs).
#[derive(Debug, Default)]
pub struct CommandBatch {
    entries: Vec<BatchEntry>,
    /// (command index, histogram bucket, Redis bound slot) of each tracked call, in call
    /// order. Both vectors keep their capacity across batches, so a batch allocates nothing.
    durations: Vec<(u32, u32, u8)>,
}

impl CommandBatch {
    fn entry(&mut self, spec: &'static CommandSpec) -> &mut BatchEntry {
        let index = command_index(spec);
        // Most recent first: a pipeline tends to repeat its last command.
        match self.entries.iter().rposition(|e| e.index == index) {
            Some(i) => &mut self.entries[i],
            None => {
                self.entries.push(BatchEntry {
                    index,
                    ..BatchEntry::default()
                });
                self.entries.last_mut().unwrap()
            }
        }
    }

    /// Records a completed call; its duration goes to the latency histogram if `track`.
    pub fn called(&mut self, spec: &'static CommandSpec, usec: u64, failed: bool, track: bool) {
        let e = self.entry(spec);
        e.calls += 1;
        e.usec += usec;
        e.failed += u64::from(failed);
        if track {
            let index = e.index as u32;
            let bucket = bucket_of(usec) as u32;
            self.durations.push((index, bucket, redis_slot(usec) as u8));
        }
    }

    /// Records that a call counted when it blocked ended with an error when it was woken
    /// (XREADGROUP whose group was destroyed, BLMOVE to a key of the wrong type).
    pub(crate) fn failed_after_block(&mut self, spec: &'static CommandSpec) {
        self.entry(spec).failed += 1;
    }

    /// Records a call refused before it ran.
    pub fn rejected(&mut self, spec: &'static CommandSpec) {
        self.entry(spec).rejected += 1;
    }

    /// True when nothing is waiting to be published.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_bounds_are_those_redis_prints() {
        let bounds = redis_histogram_bounds();
        assert_eq!(&bounds[..8], &[1, 2, 4, 8, 16, 33, 66, 132]);
        assert_eq!(bounds[20], 1082130);
        // A bound counts the calls that took at most that long.
        assert_eq!(redis_slot(0), 0);
        assert_eq!(redis_slot(1), 0);
        assert_eq!(redis_slot(66), 6);
        assert_eq!(redis_slot(67), 7);
        assert_eq!(redis_slot(5_000_000), 20);
    }

    #[test]
    fn every_row_has_its_own_index() {
        let mut seen = std::collections::HashSet::new();
        for spec in all_commands() {
            assert!(seen.insert(command_index(spec)));
            for sub in spec.subcommands {
                assert!(seen.insert(command_index(sub)));
            }
        }
        assert_eq!(seen.len(), index().rows.len());
        let get = super::super::lookup(b"get").unwrap();
        assert_eq!(index().rows[command_index(get)].0.name, "get");
    }

    #[test]
    fn buckets_are_ordered_and_bound_their_values() {
        let mut last = 0;
        for usec in (0..100_000u64).chain([1 << 30, u64::MAX / 4]) {
            let b = bucket_of(usec);
            assert!(b >= last, "{usec}");
            last = b;
            assert!(
                bucket_upper(b) >= usec.min(bucket_upper(HISTOGRAM_LEN - 1)),
                "{usec}"
            );
            if usec < 1 << 30 {
                assert!(bucket_upper(b) as f64 <= usec as f64 * 1.07 + 1.0, "{usec}");
            }
        }
    }
}
