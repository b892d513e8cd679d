//! The latency monitor: the worst latency of each kind of event, second by second, for the
//! LATENCY command.
//!
//! Counterpart of Redis `latency.c` / `latency.h` and `sparkline.c`.
//!
//! An *event* is a named kind of work that can hold clients up: `command` (a command that is
//! not `fast`), `fast-command`, `expire-cycle` (a run of the active expiry, the time it held
//! the keyspace) and `expire-del` (its slowest deletion), `eviction-cycle` and `eviction-del` (making room under `maxmemory`), and the
//! append-only file's steps: `aof-write` with one of `aof-write-alone`,
//! `aof-write-pending-fsync` or `aof-write-active-child` (a rewrite running), `aof-fsync-always`
//! and `aof-rename` (a rewritten file taking the old one's place). respd never forks, so
//! Redis's `fork` event and the child-related `rdb-unlink-temp-file` do not occur; nor do the
//! events of features respd lacks (`active-defrag-cycle`, `module-acquire-GIL`), nor
//! `command-unblocking`; `expire-del` comes from the active expiry only, not from keys found
//! expired when a command reads them. Whoever does that work measures it in milliseconds
//! and calls
//! [`LatencyMonitor::record`]; a measure at or above `latency-monitor-threshold` becomes a
//! sample. The threshold is 0 by default, which turns the monitor off, so the cost of an
//! unmonitored event is one atomic load.
//!
//! Each event keeps, as Redis does:
//!
//! - the last [`SERIES_LEN`] samples in a circular buffer, at most one per second: a second
//!   sample in the same second replaces the first only if it is worse;
//! - the worst latency ever seen for it (`max`), until LATENCY RESET.
//!
//! An event's series is created by its first sample, so LATENCY LATEST lists only the events
//! that happened. Redis keeps them in a hash table; here they stay in the order they first
//! happened, which is one of the orders Redis may show.
//!
//! The two long texts are built here too: [`doctor_report`] (LATENCY DOCTOR, Redis
//! `createLatencyReport`, with its advice) and [`graph`] (LATENCY GRAPH, an ASCII sparkline).

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event (Redis `LATENCY_TS_LEN`).
pub(crate) const SERIES_LEN: usize = 160;

/// Columns of a LATENCY GRAPH before it wraps (Redis `LATENCY_GRAPH_COLS`).
const GRAPH_COLUMNS: usize = 80;
/// Text rows of a LATENCY GRAPH's sparkline.
const GRAPH_ROWS: usize = 4;

/// The worst latency seen in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix seconds; 0 marks a slot never written.
    pub time: i64,
    /// Milliseconds (Redis keeps 32 bits).
    pub latency_ms: u32,
}

/// One event's history (Redis `struct latencyTimeSeries`).
#[derive(Debug, Clone)]
pub struct Series {
    /// The slot the next new second goes to.
    next: usize,
    /// The worst latency since the series was created.
    pub max: u32,
    samples: [Sample; SERIES_LEN],
}

impl Series {
    fn new() -> Series {
        Series {
            next: 0,
            max: 0,
            samples: [Sample::default(); SERIES_LEN],
        }
    }

    /// Adds a sample taken at `now` (unix seconds) (Redis `latencyAddSample`).
    fn add(&mut self, now: i64, latency_ms: u32) {
        self.max = self.max.max(latency_ms);
        let previous = &mut self.samples[(self.next + SERIES_LEN - 1) % SERIES_LEN];
        if previous.time == now {
            previous.latency_ms = previous.latency_ms.max(latency_ms);
            return;
        }
        self.samples[self.next] = Sample {
            time: now,
            latency_ms,
        };
        self.next = (self.next + 1) % SERIES_LEN;
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..SERIES_LEN)
            .map(move |j| self.samples[(self.next + j) % SERIES_LEN])
            .filter(|s| s.time != 0)
    }

    /// The newest sample.
    pub fn latest(&self) -> Sample {
        self.samples[(self.next + SERIES_LEN - 1) % SERIES_LEN]
    }
}

/// The events and the threshold (in [`crate::shared::Shared`]).
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold` in milliseconds; 0 turns the monitor off.
    threshold_ms: AtomicU64,
    /// Each event's name and series, in the order they first happened.
    events: Mutex<Vec<(String, Series)>>,
}

impl LatencyMonitor {
    /// Follows `latency-monitor-threshold` (called at start and on every configuration
    /// change).
    pub(crate) fn configure(&self, config: &crate::config::Config) {
        self.threshold_ms.store(
            config.kept_u64("latency-monitor-threshold"),
            Ordering::Relaxed,
        );
    }

    /// `latency-monitor-threshold`: 0 when the monitor is off.
    pub(crate) fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    /// True when events are being recorded, i.e. worth timing (Redis `latencyStartMonitor`).
    pub(crate) fn is_on(&self) -> bool {
        self.threshold_ms() != 0
    }

    /// Keeps `latency_ms` as a sample of `event` if the monitor is on and it reaches the
    /// threshold (Redis `latencyAddSampleIfNeeded`).
    pub fn record(&self, event: &str, latency_ms: u64) {
        let threshold = self.threshold_ms();
        if threshold != 0 && latency_ms >= threshold {
            self.add_sample(event, latency_ms, crate::util::now_ms() as i64 / 1000);
        }
    }

    /// Adds a sample, creating the event's series on its first one.
    pub(crate) fn add_sample(&self, event: &str, latency_ms: u64, now: i64) {
        let latency_ms = latency_ms as u32; // truncated to 32 bits, as Redis stores it
        let mut events = self.events.lock();
        match events.iter_mut().find(|(name, _)| name == event) {
            Some((_, series)) => series.add(now, latency_ms),
            None => {
                let mut series = Series::new();
                series.add(now, latency_ms);
                events.push((event.to_string(), series));
            }
        }
    }

    /// Forgets the events named `event` (any case), or all of them for `None`; returns how
    /// many were forgotten (Redis `latencyResetEvent`).
    pub fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        events.retain(|(name, _)| event.is_some_and(|e| !name.as_bytes().eq_ignore_ascii_case(e)));
        before - events.len()
    }

    /// The series of `event` (exact name, as Redis looks it up).
    pub fn series(&self, event: &[u8]) -> Option<Series> {
        let events = self.events.lock();
        events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, series)| series.clone())
    }

    /// Every event with its series, in the order they first happened.
    pub fn events(&self) -> Vec<(String, Series)> {
        self.events.lock().clone()
    }
}

/// The figures LATENCY DOCTOR gives for one event (Redis `struct latencyStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SeriesStats {
    /// Samples kept.
    pub samples: u32,
    /// Their mean, truncated.
    pub avg: u32,
    /// Their mean absolute deviation from `avg`, truncated.
    pub mad: u32,
    /// Seconds from the oldest sample to now (at least 1 when there are samples).
    pub period: i64,
}

/// Mean, deviation and period of a series at `now` (Redis `analyzeLatencyForEvent`).
pub(crate) fn analyze(series: &Series, now: i64) -> SeriesStats {
    let mut stats = SeriesStats::default();
    let mut sum: u64 = 0;
    let mut oldest = 0;
    for s in series.samples() {
        stats.samples += 1;
        sum += u64::from(s.latency_ms);
        if oldest == 0 || s.time < oldest {
            oldest = s.time;
        }
    }
    if stats.samples == 0 {
        return stats;
    }
    stats.avg = (sum / u64::from(stats.samples)) as u32;
    stats.period = (now - oldest).max(1);
    let deviation: u64 = series
        .samples()
        .map(|s| (i64::from(stats.avg) - i64::from(s.latency_ms)).unsigned_abs())
        .sum();
    stats.mad = (deviation / u64::from(stats.samples)) as u32;
    stats
}

/// What LATENCY DOCTOR needs to know beyond the samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DoctorFacts {
    /// `latency-monitor-threshold`.
    pub threshold_ms: u64,
    /// `slowlog-log-slower-than` (negative: the slow log is off).
    pub slowlog_slower_than_us: i64,
    /// `hz`.
    pub hz: u32,
    /// `appendfsync always`.
    pub fsync_always: bool,
    /// Bytes of transparent huge pages the process uses (`AnonHugePages` in smaps).
    pub anon_huge_pages: u64,
    /// Unix seconds.
    pub now: i64,
}

/// The advice LATENCY DOCTOR can give, in the order it gives it.
#[derive(Debug, Default)]
struct Advice {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    local_disk: bool,
    ssd: bool,
    data_writeback: bool,
    disk_contention: bool,
    no_appendfsync: bool,
    relax_fsync_policy: bool,
    write_load_info: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    disable_thp: bool,
    /// How many pieces of advice were counted (Redis counts some twice; only zero matters).
    count: u32,
}

/// LATENCY DOCTOR's report (Redis `createLatencyReport`): one line per event, then advice.
/// respd never forks, so the `fork` event and its advice never appear.
pub(crate) fn doctor_report(events: &[(String, Series)], facts: &DoctorFacts) -> String {
    let mut report = String::new();
    if events.is_empty() && facts.threshold_ms == 0 {
        report.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
        return report;
    }
    let mut advice = Advice::default();
    for (number, (event, series)) in events.iter().enumerate() {
        if number == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let stats = analyze(series, facts.now);
        report.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            number + 1,
            event,
            stats.samples,
            stats.avg,
            stats.mad,
            stats.period as f64 / f64::from(stats.samples),
            series.max
        ));
        note_event_advice(event, facts, &mut advice);
        report.push('\n');
    }
    if facts.anon_huge_pages > 0 {
        advice.disable_thp = true;
        advice.count += 1;
    }
    if events.is_empty() && advice.count == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if !events.is_empty() && advice.count == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        write_advice(&mut report, &advice, facts);
    }
    report
}

/// The advice an event calls for.
fn note_event_advice(event: &str, facts: &DoctorFacts, advice: &mut Advice) {
    let is = |name: &str| event.eq_ignore_ascii_case(name);
    if is("command") {
        if facts.slowlog_slower_than_us < 0 {
            advice.slowlog_enabled = true;
            advice.count += 1;
        } else if facts.slowlog_slower_than_us / 1000 > facts.threshold_ms as i64 {
            advice.slowlog_tuning = true;
            advice.count += 1;
        }
        advice.slowlog_inspect = true;
        advice.large_objects = true;
        advice.count += 2;
    }
    if is("fast-command") {
        advice.scheduler = true;
        advice.count += 1;
    }
    if is("aof-write-pending-fsync") {
        advice.local_disk = true;
        advice.disk_contention = true;
        advice.ssd = true;
        advice.data_writeback = true;
        advice.count += 4;
    }
    if is("aof-write-active-child") {
        advice.no_appendfsync = true;
        advice.data_writeback = true;
        advice.ssd = true;
        advice.count += 3;
    }
    if is("aof-write-alone") {
        advice.local_disk = true;
        advice.data_writeback = true;
        advice.ssd = true;
        advice.count += 3;
    }
    if is("aof-fsync-always") {
        advice.relax_fsync_policy = true;
        advice.count += 1;
    }
    if is("aof-fstat") || is("rdb-unlink-temp-file") {
        advice.disk_contention = true;
        advice.local_disk = true;
        advice.count += 2;
    }
    if is("aof-rewrite-diff-write") || is("aof-rename") {
        advice.write_load_info = true;
        advice.data_writeback = true;
        advice.ssd = true;
        advice.local_disk = true;
        advice.count += 4;
    }
    if is("expire-cycle") {
        advice.hz = true;
        advice.large_objects = true;
        advice.count += 2;
    }
    if is("eviction-del") {
        advice.large_objects = true;
        advice.count += 1;
    }
    if is("eviction-cycle") {
        advice.mass_eviction = true;
        advice.count += 1;
    }
}

/// The advice section of the report, each piece once.
fn write_advice(report: &mut String, advice: &Advice, facts: &DoctorFacts) {
    report.push_str("\nI have a few advices for you:\n\n");
    let slowlog_hint = facts.threshold_ms.wrapping_mul(1000); // C arithmetic on 64 bits
    if advice.slowlog_enabled {
        report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {slowlog_hint}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
    }
    if advice.slowlog_tuning {
        report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {slowlog_hint}'.\n"));
    }
    if advice.slowlog_inspect {
        report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if advice.scheduler {
        report.push_str(concat!(
            "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n",
            "  1) Lower the system load.\n",
            "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n",
            "  3) Check if you have a \"noisy neighbour\" problem.\n",
            "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n",
            "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n",
        ));
    }
    if advice.local_disk {
        report.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
    }
    if advice.ssd {
        report.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
    }
    if advice.data_writeback {
        report.push_str("- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
    }
    if advice.disk_contention {
        report.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
    }
    if advice.no_appendfsync {
        report.push_str("- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
    }
    if advice.relax_fsync_policy && facts.fsync_always {
        report.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
    }
    if advice.write_load_info {
        report.push_str("- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
    }
    if advice.hz && facts.hz < 100 {
        report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
    }
    if advice.large_objects {
        report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if advice.mass_eviction {
        report.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
    }
    if advice.disable_thp {
        report.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    }
}

/// Bytes of `AnonHugePages` over every mapping of this process (Redis
/// `THPGetAnonHugePagesSize`); 0 when `/proc` cannot tell.
pub(crate) fn anon_huge_pages() -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    smaps
        .lines()
        .filter_map(|line| line.strip_prefix("AnonHugePages:"))
        .filter_map(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .sum()
}

/// LATENCY GRAPH's text for one event at `now` (Redis `latencyCommandGenSparkeline`): a
/// header with the highest and lowest sample, then a four-row sparkline of the samples, oldest
/// on the left, each labelled with how long ago it was taken (`12s`, `3m`, `2h`, `1d`) written
/// downwards.
pub fn graph(event: &str, series: &Series, now: i64) -> String {
    let samples: Vec<(f64, String)> = series
        .samples()
        .map(|s| {
            let elapsed = now - s.time;
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 3600 * 24 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / (3600 * 24))
            };
            (f64::from(s.latency_ms), label)
        })
        .collect();
    let high = series.samples().map(|s| s.latency_ms).max().unwrap_or(0);
    let low = series.samples().map(|s| s.latency_ms).min().unwrap_or(0);
    let mut out = format!(
        "{event} - high {high} ms, low {low} ms (all time high {} ms)\n",
        series.max
    );
    out.push_str(&"-".repeat(GRAPH_COLUMNS));
    out.push('\n');
    sparkline(&mut out, &samples, GRAPH_COLUMNS, GRAPH_ROWS);
    out
}

/// Renders `samples` as a filled sparkline `rows` characters high, `columns` samples per
/// block, blocks separated by an empty line (Redis `sparklineRender` with `SPARKLINE_FILL`).
fn sparkline(out: &mut String, samples: &[(f64, String)], columns: usize, rows: usize) {
    let min = samples.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = samples
        .iter()
        .map(|s| s.0)
        .fold(f64::NEG_INFINITY, f64::max);
    for (block, chunk) in samples.chunks(columns).enumerate() {
        if block != 0 {
            out.push('\n');
        }
        sparkline_block(out, chunk, min, max, rows);
    }
}

/// One block of a sparkline (Redis `sparklineRenderRange`). Each sample is a column: its
/// height is one of `3 * rows` steps between the lowest and the highest sample, drawn with
/// `_`, `o`, `#` in its top row and `|` below; one empty line, then the labels downwards.
fn sparkline_block(out: &mut String, samples: &[(f64, String)], min: f64, max: f64, rows: usize) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let steps = (FILL.len() * rows) as i64;
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let heights: Vec<i64> = samples
        .iter()
        .map(|(value, _)| {
            // Redis: `step = (int) (relval*steps)/relmax`, the cast before the division.
            let scaled = ((value - min) * steps as f64).trunc();
            ((scaled / range) as i64).clamp(0, steps - 1)
        })
        .collect();
    for row in 0..rows {
        let line: String = heights
            .iter()
            .map(|&step| {
                let index = step - ((rows - row - 1) * FILL.len()) as i64;
                match index {
                    i if i < 0 => ' ',
                    i if (i as usize) < FILL.len() => FILL[i as usize],
                    _ => '|',
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    // Every sample has a label here, so the labels always follow one empty line.
    out.push_str(&" ".repeat(samples.len()));
    out.push('\n');
    let longest = samples.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for index in 0..longest {
        let line: String = samples
            .iter()
            .map(|(_, label)| label.as_bytes().get(index).map_or(' ', |&b| b as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeping_the_worst() {
        let monitor = LatencyMonitor::default();
        monitor.add_sample("command", 300, 1000);
        monitor.add_sample("command", 200, 1000);
        monitor.add_sample("command", 400, 1000);
        monitor.add_sample("command", 250, 1001);
        let series = monitor.series(b"command").unwrap();
        let kept: Vec<_> = series.samples().map(|s| (s.time, s.latency_ms)).collect();
        assert_eq!(kept, [(1000, 400), (1001, 250)]);
        assert_eq!(series.max, 400);
        assert_eq!(series.latest().time, 1001);
    }

    #[test]
    fn the_buffer_keeps_the_last_160_seconds() {
        let monitor = LatencyMonitor::default();
        for t in 1..=200 {
            monitor.add_sample("e", t as u64, t);
        }
        let series = monitor.series(b"e").unwrap();
        let kept: Vec<_> = series.samples().map(|s| s.time).collect();
        assert_eq!(kept, (41..=200).collect::<Vec<_>>());
        assert_eq!(series.max, 200);
    }

    #[test]
    fn the_threshold_filters_and_zero_turns_off() {
        let monitor = LatencyMonitor::default();
        monitor.record("command", 1000);
        assert!(monitor.events().is_empty());
        monitor.threshold_ms.store(100, Ordering::Relaxed);
        monitor.record("command", 99);
        assert!(monitor.events().is_empty());
        monitor.record("command", 100);
        assert_eq!(monitor.events().len(), 1);
    }

    #[test]
    fn reset_counts_what_it_forgot_and_ignores_case() {
        let monitor = LatencyMonitor::default();
        monitor.add_sample("command", 1, 1);
        monitor.add_sample("fast-command", 1, 1);
        assert_eq!(monitor.reset(Some(b"COMMAND")), 1);
        assert_eq!(monitor.reset(Some(b"nope")), 0);
        assert_eq!(monitor.reset(None), 1);
    }

    #[test]
    fn analysis_matches_redis_arithmetic() {
        let mut series = Series::new();
        series.add(100, 300);
        series.add(101, 400);
        series.add(102, 501);
        let stats = analyze(&series, 110);
        assert_eq!(
            stats,
            SeriesStats {
                samples: 3,
                avg: 400,
                mad: 67,
                period: 10
            }
        );
    }

    fn facts(threshold_ms: u64, slowlog_slower_than_us: i64, anon_huge_pages: u64) -> DoctorFacts {
        DoctorFacts {
            threshold_ms,
            slowlog_slower_than_us,
            hz: 10,
            fsync_always: false,
            anon_huge_pages,
            now: 200,
        }
    }

    #[test]
    fn the_doctor_advises_from_the_events_seen() {
        let mut series = Series::new();
        series.add(100, 300);
        let events = vec![("command".to_string(), series)];
        let report = doctor_report(&events, &facts(100, -1, 0));
        assert!(report.starts_with("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 1 latency spikes (average 300ms, mean deviation 0ms, period 100.00 sec). Worst all time event 300ms.\n\nI have a few advices for you:\n\n- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than 100000'."), "{report}");
        let tuned = doctor_report(&events, &facts(5, 10_000, 0));
        assert!(
            tuned.contains("Please use 'CONFIG SET slowlog-log-slower-than 5000'.\n"),
            "{tuned}"
        );
        // No event, but huge pages: advice all the same.
        let thp = doctor_report(&[], &facts(5, 10_000, 4096));
        assert!(thp.starts_with("\nI have a few advices for you:\n\n- I detected a non zero amount of anonymous huge pages"), "{thp}");
        let quiet = doctor_report(&[], &facts(5, 10_000, 0));
        assert!(
            quiet.starts_with("Dave, no latency spike was observed"),
            "{quiet}"
        );
    }

    #[test]
    fn graph_of_three_samples() {
        let mut series = Series::new();
        series.add(100, 300);
        series.add(101, 400);
        series.add(102, 500);
        let text = graph("command", &series, 102);
        let expected = format!(
            "command - high 500 ms, low 300 ms (all time high 500 ms)\n{}\n  #\n _|\n ||\n_||\n   \n210\nsss\n",
            "-".repeat(80)
        );
        assert_eq!(text, expected);
    }
}
