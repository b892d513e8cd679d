//! Introspection commands: INFO and the COMMAND container.
//!
//! Counterpart of Redis `server.c` (infoCommand / genRedisInfoString, commandCommand and its
//! subcommands). Both belong to Redis's "server" group; they live apart from
//! [`super::server`] because they only describe the server, and because COMMAND is the
//! clearest demonstration of the table-driven design: every reply below is computed from the
//! [`CommandSpec`] rows, so a command added to a group file shows up in COMMAND, COMMAND INFO,
//! COMMAND DOCS and COMMAND LIST with nothing else to update.
//!
//! # Where COMMAND's data comes from
//! Redis generates its command table from `src/commands/*.json`; respd keeps two halves:
//! - the [`CommandSpec`] rows (name, arity, flags, first/last/step, group, handler), which
//!   drive dispatch, and
//! - [`super::command_docs::COMMAND_DOCS`], generated from those same JSON files by
//!   `tools/gen-command-docs.py`: summary, since, complexity, doc flags, history, the
//!   arguments tree, key specs, tips and the ACL categories Redis declares by hand.
//!
//! COMMAND INFO prints flags and arity from the row and the rest from the generated data;
//! COMMAND DOCS prints the generated data. A unit test checks that the two halves agree
//! (arity, flags, group, first/last/step) for every command, so they cannot drift.
//!
//! One difference is by design: a container lists only the subcommands respd implements
//! (CLIENT without CLIENT PAUSE, ...), so a client never sees a subcommand that would answer
//! "unknown subcommand".

use std::fmt::Write as _;

use super::command_docs::COMMAND_DOCS;
use super::connection::{reply_help, REDIS_VERSION};
use super::{
    all_commands, full_name, lookup, lookup_subcommand, CmdError, CmdResult, CommandSpec, Ctx,
    Flags, Group, Handler, KeySpec,
};
use crate::protocol::{Argv, Reply};
use crate::store::Keyspace;
use crate::util::eq_ci;

const COMMAND_FLAGS: Flags = Flags::LOADING.union(Flags::STALE);

const fn command_sub(name: &'static str, arity: i32, f: super::ConnFn) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        COMMAND_FLAGS,
        KeySpec::NONE,
        Group::Server,
        Handler::Conn(f),
    )
}

#[rustfmt::skip]
static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    command_sub("count", 2, command_count),
    command_sub("info", -2, command_info),
    command_sub("docs", -2, command_docs),
    command_sub("list", -2, command_list),
    command_sub("getkeys", -4, command_getkeys),
    command_sub("help", 2, command_help),
];

/// The introspection rows of the command table (Redis files them under "server").
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, Flags::LOADING.union(Flags::STALE), KeySpec::NONE, Group::Server, Handler::KeyspaceRead(info)),
    CommandSpec::new("command", -1, COMMAND_FLAGS, KeySpec::NONE, Group::Server, Handler::Conn(command)).with_subcommands(COMMAND_SUBCOMMANDS),
];

// ---------------------------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------------------------

/// INFO's sections in the order Redis prints them, with the header each one gets.
const SECTIONS: &[(&str, &str)] = &[
    ("server", "Server"),
    ("clients", "Clients"),
    ("memory", "Memory"),
    ("persistence", "Persistence"),
    ("stats", "Stats"),
    ("replication", "Replication"),
    ("cpu", "CPU"),
    ("modules", "Modules"),
    ("commandstats", "Commandstats"),
    ("errorstats", "Errorstats"),
    ("latencystats", "Latencystats"),
    ("cluster", "Cluster"),
    ("keyspace", "Keyspace"),
];

/// The sections `INFO` and `INFO default` print.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// ```text
/// INFO [section [section ...]]
/// ```
/// Verbatim text (a bulk string in RESP2): the requested sections, each a `# Header` line
/// followed by `field:value` lines, all ending in CRLF, sections separated by an empty line.
/// Sections are printed in Redis's fixed order whatever the order asked; `default` (or no
/// argument) picks the usual ones, `all` and `everything` every section; unknown names are
/// ignored. Never an error.
///
/// Every field of Redis 7.0 is there; those respd has no counterpart for (replication,
/// scripting, allocator internals) read 0. The modules section prints only its header.
/// commandstats, errorstats and latencystats come from [`super::stats`].
pub fn info(ctx: &mut Ctx, ks: &Keyspace, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut wanted: Vec<&str> = Vec::new();
    let mut want = |name: &str| {
        if let Some((n, _)) = SECTIONS.iter().find(|(n, _)| *n == name) {
            if !wanted.contains(n) {
                wanted.push(n);
            }
        }
    };
    if argv.len() == 1 {
        DEFAULT_SECTIONS.iter().for_each(|s| want(s));
    }
    for arg in argv.iter().skip(1) {
        let arg = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match arg.as_str() {
            "default" => DEFAULT_SECTIONS.iter().for_each(|s| want(s)),
            "all" | "everything" => SECTIONS.iter().for_each(|(s, _)| want(s)),
            other => want(other),
        }
    }
    let mut out = String::new();
    for (name, header) in SECTIONS {
        if !wanted.contains(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {header}\r\n");
        let fields = info_section(ctx, ks, name);
        for (key, value) in fields {
            let _ = write!(out, "{key}:{value}\r\n");
        }
    }
    reply.verbatim(out.as_bytes());
    Ok(())
}

/// Redis's `bytesToHuman`: `1023B`, `1.00K`, `12.50M`, ...
pub(crate) fn bytes_to_human(n: u64) -> String {
    const UNITS: &[char] = &['K', 'M', 'G', 'T', 'P'];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    for unit in UNITS {
        if value < 1024.0 {
            return format!("{value:.2}{unit}");
        }
        value /= 1024.0;
    }
    format!("{:.2}P", value * 1024.0)
}

/// Reads a whole file under /proc, or an empty string where there is none (not Linux).
fn proc_file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Resident set size from `/proc/self/statm` (second field, in pages). The page size is taken
/// to be 4 KiB: std has no portable way to ask, and that is the size on every common Linux.
pub fn rss_bytes() -> u64 {
    proc_file("/proc/self/statm")
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// (user, system) CPU seconds of the whole process (see [`stat_cpu_seconds`]).
fn cpu_seconds() -> (f64, f64) {
    stat_cpu_seconds("/proc/self/stat")
}

/// (user, system) CPU seconds of the calling thread.
fn thread_cpu_seconds() -> (f64, f64) {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// (user, system) CPU seconds from a `/proc/.../stat` file, fields 14 and 15, in clock ticks of
/// 1/100 s (`USER_HZ`, fixed at 100 for user space on Linux).
fn stat_cpu_seconds(path: &str) -> (f64, f64) {
    let stat = proc_file(path);
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// Total memory of the machine from `/proc/meminfo`.
fn total_system_memory() -> u64 {
    proc_file("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// `Linux 6.1.0 x86_64`, as Redis prints `uname -s -r -m`.
fn os_name() -> String {
    let release = proc_file("/proc/sys/kernel/osrelease");
    let system = match std::env::consts::OS {
        "linux" => "Linux",
        other => other,
    };
    format!("{system} {} {}", release.trim(), std::env::consts::ARCH)
}

type Fields = Vec<(String, String)>;

/// The fields of one section, in Redis's order.
fn info_section(ctx: &Ctx, ks: &Keyspace, section: &str) -> Fields {
    let shared = ctx.shared;
    let stats = &shared.stats;
    // The caller's own commands earlier in this batch are not published yet; count them, as
    // Redis would have by now.
    let mut totals = shared.totals();
    totals.commands += ctx.client.stats.commands.saturating_sub(1);
    totals.hits += ctx.client.stats.hits;
    totals.misses += ctx.client.stats.misses;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let uptime = shared.started.elapsed().as_secs();
    let mut f: Fields = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_string(), v));
    match section {
        "server" => {
            let config = shared.config.read();
            put("redis_version", REDIS_VERSION.into());
            put("redis_git_sha1", "00000000".into());
            put("redis_git_dirty", "0".into());
            put("redis_build_id", "0".into());
            put("redis_mode", "standalone".into());
            put("os", os_name());
            put("arch_bits", (usize::BITS).to_string());
            put("monotonic_clock", "POSIX clock_gettime".into());
            // One blocking thread per connection; `poll` only while replies are queued.
            put("multiplexing_api", "poll".into());
            put("atomicvar_api", "c11-builtin".into());
            put("gcc_version", "0.0.0".into());
            put("process_id", std::process::id().to_string());
            put("process_supervised", "no".into());
            put("run_id", shared.run_id.clone());
            put("tcp_port", shared.port().to_string());
            put("server_time_usec", (ctx.now_ms * 1000).to_string());
            put("uptime_in_seconds", uptime.to_string());
            put("uptime_in_days", (uptime / 86400).to_string());
            put("hz", config.hz.to_string());
            put("configured_hz", config.hz.to_string());
            put(
                "lru_clock",
                (crate::store::lru_clock(ctx.now_ms) & 0xFF_FFFF).to_string(),
            );
            put(
                "executable",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            put("config_file", config.config_file.clone());
            put("io_threads_active", "0".into());
        }
        "clients" => {
            let clients = shared.clients.all();
            let (mut max_in, mut max_out) = (0, 0);
            for c in &clients {
                let snap = c.snapshot.lock();
                max_in = max_in.max(snap.query_buffer_len);
                max_out = max_out.max(snap.output_bytes);
            }
            put("connected_clients", clients.len().to_string());
            put("cluster_connections", "0".into());
            put("maxclients", shared.config.read().maxclients.to_string());
            put("client_recent_max_input_buffer", max_in.to_string());
            put("client_recent_max_output_buffer", max_out.to_string());
            let blocked = shared
                .clients
                .all()
                .iter()
                .filter(|c| {
                    c.blocked_on.lock().is_some()
                        || c.is_postponed.load(std::sync::atomic::Ordering::Relaxed)
                })
                .count();
            put("blocked_clients", blocked.to_string());
            put(
                "tracking_clients",
                shared.tracking.info(shared).0.to_string(),
            );
            put("clients_in_timeout_table", "0".into());
        }
        "memory" => {
            // Estimates: respd runs on the system allocator, which cannot report what it
            // holds; see crate::cmd::memory for how each figure is made (MEMORY STATS shows
            // the same ones). No scripting, functions, replication or cluster: those are 0.
            let m = super::memory::MemoryOverhead::gather(ctx, ks);
            let (used, peak, rss, dataset) = (m.total, m.peak, m.rss, m.dataset);
            let total = total_system_memory();
            let percent = |part: u64, whole: u64| {
                format!("{:.2}%", part as f64 * 100.0 / whole.max(1) as f64)
            };
            let ratio = |part: u64, whole: u64| format!("{:.2}", part as f64 / whole.max(1) as f64);
            let diff = |part: u64, whole: u64| (part as i64 - whole as i64).to_string();
            // As Redis derives them without jemalloc (cronUpdateMemoryStats).
            let (allocated, active, resident) = (used, rss, rss);
            put("used_memory", used.to_string());
            put("used_memory_human", bytes_to_human(used));
            put("used_memory_rss", rss.to_string());
            put("used_memory_rss_human", bytes_to_human(rss));
            put("used_memory_peak", peak.to_string());
            put("used_memory_peak_human", bytes_to_human(peak));
            put("used_memory_peak_perc", percent(used, peak));
            put("used_memory_overhead", m.overhead_total.to_string());
            put("used_memory_startup", "0".into());
            put("used_memory_dataset", dataset.to_string());
            put("used_memory_dataset_perc", percent(dataset, used));
            put("allocator_allocated", allocated.to_string());
            put("allocator_active", active.to_string());
            put("allocator_resident", resident.to_string());
            put("total_system_memory", total.to_string());
            put("total_system_memory_human", bytes_to_human(total));
            // One interpreter serves EVAL and functions (see crate::script): its memory is
            // reported as EVAL's, functions' VM as none.
            let s = ctx.shared.scripting.info();
            let scripts_memory = (s.scripts_bytes + s.functions_bytes) as u64;
            for (k, v) in [
                ("used_memory_lua", s.vm_bytes.to_string()),
                ("used_memory_vm_eval", s.vm_bytes.to_string()),
                ("used_memory_lua_human", bytes_to_human(s.vm_bytes as u64)),
                ("used_memory_scripts_eval", s.scripts_bytes.to_string()),
                ("number_of_cached_scripts", s.scripts.to_string()),
                ("number_of_functions", s.functions.to_string()),
                ("number_of_libraries", s.libraries.to_string()),
                ("used_memory_vm_functions", "0".into()),
                ("used_memory_vm_total", s.vm_bytes.to_string()),
                (
                    "used_memory_vm_total_human",
                    bytes_to_human(s.vm_bytes as u64),
                ),
                ("used_memory_functions", s.functions_bytes.to_string()),
                ("used_memory_scripts", scripts_memory.to_string()),
                ("used_memory_scripts_human", bytes_to_human(scripts_memory)),
            ] {
                put(k, v);
            }
            let (maxmemory, policy) = {
                let config = ctx.shared.config.read();
                let policy = config.kept.get("maxmemory-policy").cloned();
                (config.kept_u64("maxmemory"), policy.unwrap_or_default())
            };
            put("maxmemory", maxmemory.to_string());
            put("maxmemory_human", bytes_to_human(maxmemory));
            put("maxmemory_policy", policy);
            put("allocator_frag_ratio", ratio(active, allocated));
            put("allocator_frag_bytes", diff(active, allocated));
            put("allocator_rss_ratio", ratio(resident, active));
            put("allocator_rss_bytes", diff(resident, active));
            put("rss_overhead_ratio", ratio(rss, resident));
            put("rss_overhead_bytes", diff(rss, resident));
            put("mem_fragmentation_ratio", ratio(rss, used));
            put("mem_fragmentation_bytes", diff(rss, used));
            put("mem_not_counted_for_evict", "0".into());
            put("mem_replication_backlog", "0".into());
            put("mem_total_replication_buffers", "0".into());
            put("mem_clients_slaves", "0".into());
            put("mem_clients_normal", m.clients_normal.to_string());
            put("mem_cluster_links", "0".into());
            put("mem_aof_buffer", "0".into());
            put("mem_allocator", "libc".into());
            put("active_defrag_running", "0".into());
            put("lazyfree_pending_objects", "0".into());
            put("lazyfreed_objects", "0".into());
        }
        "persistence" => {
            // Snapshots report their real state; there is no AOF and no fork (cow) in respd.
            let zero = [
                "loading",
                "async_loading",
                "current_cow_peak",
                "current_cow_size",
            ];
            for k in zero {
                put(k, "0".into());
            }
            put("current_cow_size_age", "0".into());
            put("current_fork_perc", "0.00".into());
            put("current_save_keys_processed", "0".into());
            put("current_save_keys_total", "0".into());
            crate::persistence::info_fields(shared, &mut put);
            crate::persistence::aof::info_fields(shared, &mut put);
        }
        "stats" => {
            let expired: u64 = ks.dbs().iter().map(|db| db.expired_count).sum();
            put(
                "total_connections_received",
                load(&stats.total_connections_received).to_string(),
            );
            put("total_commands_processed", totals.commands.to_string());
            put(
                "instantaneous_ops_per_sec",
                stats.instantaneous_ops_per_sec().to_string(),
            );
            put("total_net_input_bytes", totals.net_in.to_string());
            put("total_net_output_bytes", totals.net_out.to_string());
            put("total_net_repl_input_bytes", "0".into());
            put("total_net_repl_output_bytes", "0".into());
            put("instantaneous_input_kbps", "0.00".into());
            put("instantaneous_output_kbps", "0.00".into());
            put("instantaneous_input_repl_kbps", "0.00".into());
            put("instantaneous_output_repl_kbps", "0.00".into());
            put(
                "rejected_connections",
                load(&stats.rejected_connections).to_string(),
            );
            let syncs = &ctx.shared.replication.sync_counts;
            put("sync_full", load(&syncs[0]).to_string());
            put("sync_partial_ok", load(&syncs[1]).to_string());
            put("sync_partial_err", load(&syncs[2]).to_string());
            put("expired_keys", expired.to_string());
            put("expired_stale_perc", "0.00".into());
            put("expired_time_cap_reached_count", "0".into());
            put("expire_cycle_cpu_milliseconds", "0".into());
            put("evicted_keys", load(&stats.evicted_keys).to_string());
            put(
                "evicted_clients",
                load(&stats.client_output_limit_disconnects).to_string(),
            );
            put("total_eviction_exceeded_time", "0".into());
            put("current_eviction_exceeded_time", "0".into());
            put("keyspace_hits", totals.hits.to_string());
            put("keyspace_misses", totals.misses.to_string());
            put(
                "pubsub_channels",
                ctx.shared.pubsub.numchannels().to_string(),
            );
            put("pubsub_patterns", ctx.shared.pubsub.numpat().to_string());
            put("pubsubshard_channels", "0".into());
            put("latest_fork_usec", "0".into());
            put("total_forks", "0".into());
            // Connections idle in MIGRATE's cache (one in use by a running MIGRATE is out
            // of the cache meanwhile, so not counted; Redis counts it).
            put(
                "migrate_cached_sockets",
                ctx.shared.migrate_sockets.len().to_string(),
            );
            put("slave_expires_tracked_keys", "0".into());
            put("active_defrag_hits", "0".into());
            put("active_defrag_misses", "0".into());
            put("active_defrag_key_hits", "0".into());
            put("active_defrag_key_misses", "0".into());
            put("total_active_defrag_time", "0".into());
            put("current_active_defrag_time", "0".into());
            let (_, keys, items, prefixes) = shared.tracking.info(shared);
            put("tracking_total_keys", keys.to_string());
            put("tracking_total_items", items.to_string());
            put("tracking_total_prefixes", prefixes.to_string());
            put("unexpected_error_replies", "0".into());
            put(
                "total_error_replies",
                stats.commands.total_errors().to_string(),
            );
            put("dump_payload_sanitizations", "0".into());
            // respd reads and writes per batch, not per event-loop turn: these are counts of
            // batches received and replies sent, near enough to Redis's meaning.
            put("total_reads_processed", totals.reads.to_string());
            put("total_writes_processed", totals.writes.to_string());
            put("io_threaded_reads_processed", "0".into());
            put("io_threaded_writes_processed", "0".into());
            put("reply_buffer_shrinks", "0".into());
            put("reply_buffer_expands", "0".into());
        }
        "replication" => {
            crate::replication::info_fields(shared, &mut put);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            put("used_cpu_sys", format!("{sys:.6}"));
            put("used_cpu_user", format!("{user:.6}"));
            put("used_cpu_sys_children", "0.000000".into());
            put("used_cpu_user_children", "0.000000".into());
            // respd has no main thread; the thread serving this INFO stands in for it.
            let (user, sys) = thread_cpu_seconds();
            put("used_cpu_sys_main_thread", format!("{sys:.6}"));
            put("used_cpu_user_main_thread", format!("{user:.6}"));
        }
        "commandstats" => {
            for c in stats.commands.figures(&[]) {
                let per_call = c.usec as f64 / c.calls.max(1) as f64;
                put(
                    &format!("cmdstat_{}", c.name),
                    format!(
                        "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                        c.calls, c.usec, c.rejected, c.failed
                    ),
                );
            }
        }
        "errorstats" => {
            for (code, count) in stats.commands.error_counts() {
                put(&format!("errorstat_{code}"), format!("count={count}"));
            }
        }
        "latencystats" => {
            let labels = shared
                .config
                .read()
                .kept
                .get("latency-tracking-info-percentiles")
                .cloned()
                .unwrap_or_default();
            let labels: Vec<&str> = labels.split_whitespace().collect();
            let wanted: Vec<f64> = labels.iter().filter_map(|p| p.parse().ok()).collect();
            for c in stats.commands.figures(&wanted) {
                if let Some(values) = c.percentiles {
                    let text: Vec<String> = labels
                        .iter()
                        .zip(values)
                        .map(|(label, usec)| format!("p{label}={usec}.000"))
                        .collect();
                    put(
                        &format!("latency_percentiles_usec_{}", c.name),
                        text.join(","),
                    );
                }
            }
        }
        "cluster" => put("cluster_enabled", "0".into()),
        "keyspace" => {
            for (i, db) in ks.dbs().iter().enumerate() {
                if !db.is_empty() {
                    let counts =
                        format!("keys={},expires={},avg_ttl=0", db.len(), db.expires_len());
                    put(&format!("db{i}"), counts);
                }
            }
        }
        _ => {}
    }
    f
}

// ---------------------------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------------------------

/// ACL categories in the order Redis prints them (`ACLCommandCategories` in acl.c).
pub(crate) const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

// ---------------------------------------------------------------------------------------------
// The generated data's types (see tools/gen-command-docs.py and src/cmd/command_docs.rs)
// ---------------------------------------------------------------------------------------------

/// What Redis's `src/commands/<name>.json` says about one command or subcommand; the
/// fields COMMAND INFO and COMMAND DOCS print, with Redis's spelling of every flag. (The
/// group, arity, flags and key positions printed come from the command table; the generated
/// ones are read by the test that holds the table to Redis's descriptions.)
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct CommandDoc {
    /// Full name: `get`, `client|list`.
    pub name: &'static str,
    /// One-line summary.
    pub summary: Option<&'static str>,
    /// The Redis version that introduced it.
    pub since: Option<&'static str>,
    /// Group, as COMMAND DOCS prints it (`sorted-set`).
    pub group: &'static str,
    /// Time complexity.
    pub complexity: Option<&'static str>,
    /// `deprecated`, `syscmd`.
    pub doc_flags: &'static [&'static str],
    /// The version that deprecated it.
    pub deprecated_since: Option<&'static str>,
    /// What to use instead of a deprecated command.
    pub replaced_by: Option<&'static str>,
    /// (version, change) pairs.
    pub history: &'static [(&'static str, &'static str)],
    /// Arity, which the command table must repeat.
    pub arity: i32,
    /// Command flags as in the JSON (lowercase), plus `movablekeys` where Redis computes it
    /// (`populateCommandLegacyRangeSpec`); the command table must carry the same.
    pub flags: &'static [&'static str],
    /// The ACL categories Redis declares explicitly (the implicit ones come from the flags).
    pub acl_categories: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    /// Key specs.
    pub key_specs: &'static [KeySpecDoc],
    /// first/last/step as Redis derives them from the key specs; the command table must
    /// hold the same.
    pub legacy_keys: (i32, i32, i32),
    /// The arguments tree.
    pub arguments: &'static [Arg],
}

/// One key spec (Redis `keySpec`).
#[derive(Debug)]
pub(crate) struct KeySpecDoc {
    /// Free-text notes.
    pub notes: Option<&'static str>,
    /// `RO`, `access`, ... in Redis's order.
    pub flags: &'static [&'static str],
    /// Where the search for keys starts.
    pub begin_search: BeginSearch,
    /// How keys are found from there.
    pub find_keys: FindKeys,
}

/// A key spec's `begin_search`.
#[derive(Debug)]
pub(crate) enum BeginSearch {
    /// Cannot be described.
    Unknown,
    /// At this argument index.
    Index(i64),
    /// After this keyword, searched from `startfrom` (negative: from the end).
    Keyword(&'static str, i64),
}

/// A key spec's `find_keys`.
#[derive(Debug)]
pub(crate) enum FindKeys {
    /// Cannot be described.
    Unknown,
    /// A range of keys.
    Range {
        /// Last key, relative to the first (negative: from the end).
        lastkey: i64,
        /// Distance between keys.
        keystep: i64,
        /// Fraction of the remaining arguments (0: all).
        limit: i64,
    },
    /// A count of keys, then the keys.
    Keynum {
        /// Index of the count, relative to begin_search.
        keynumidx: i64,
        /// Index of the first key, relative to begin_search.
        firstkey: i64,
        /// Distance between keys.
        keystep: i64,
    },
}

/// One argument of a command (Redis `redisCommandArg`).
#[derive(Debug)]
pub struct Arg {
    /// Name, lowercase.
    pub name: &'static str,
    /// `string`, `integer`, `double`, `key`, `pattern`, `unix-time`, `pure-token`, `oneof`,
    /// `block`.
    pub kind: &'static str,
    /// The key spec this key argument belongs to, -1 for none.
    pub key_spec_index: i64,
    /// The token before it, uppercase.
    pub token: Option<&'static str>,
    /// Summary.
    pub summary: Option<&'static str>,
    /// The version that added it.
    pub since: Option<&'static str>,
    /// The version that deprecated it.
    pub deprecated_since: Option<&'static str>,
    /// `optional`, `multiple`, `multiple_token`.
    pub flags: &'static [&'static str],
    /// Sub-arguments of a `oneof` or `block`.
    pub arguments: &'static [Arg],
}

/// The generated data of `get` or `client|list`.
pub(crate) fn command_doc(full_name: &str) -> Option<&'static CommandDoc> {
    COMMAND_DOCS
        .binary_search_by(|d| d.name.cmp(full_name))
        .ok()
        .map(|i| &COMMAND_DOCS[i])
}

/// The generated data of a table row.
fn doc_of(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Option<&'static CommandDoc> {
    command_doc(&full_name(spec, parent))
}

/// The ACL categories of a command, as Redis computes them: the ones its JSON declares plus
/// the implicit ones from the flags (`setImplicitACLCategories`: `@write`, `@read`, `@admin` +
/// `@dangerous`, `@pubsub`, `@fast`, `@blocking`, and `@slow` when not `@fast`), in
/// `ACLCommandCategories` order.
pub(crate) fn acl_categories(
    spec: &CommandSpec,
    parent: Option<&CommandSpec>,
) -> Vec<&'static str> {
    let mut cats: Vec<&'static str> = doc_of(spec, parent)
        .map(|d| d.acl_categories.to_vec())
        .unwrap_or_default();
    let f = spec.flags;
    if f.contains(Flags::WRITE) {
        cats.push("write");
    }
    if f.contains(Flags::READONLY) && !cats.contains(&"scripting") {
        cats.push("read");
    }
    if f.contains(Flags::ADMIN) {
        cats.extend(["admin", "dangerous"]);
    }
    if f.contains(Flags::PUBSUB) {
        cats.push("pubsub");
    }
    if f.contains(Flags::FAST) {
        cats.push("fast");
    }
    if f.contains(Flags::BLOCKING) {
        cats.push("blocking");
    }
    if !cats.contains(&"fast") {
        cats.push("slow");
    }
    ACL_CATEGORIES
        .iter()
        .copied()
        .filter(|c| cats.contains(c))
        .collect()
}

/// Finds `get` or `client|list` (Redis `lookupCommandBySds`).
pub(super) fn lookup_full_name(
    name: &[u8],
) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    match name.iter().position(|&b| b == b'|') {
        None => lookup(name).map(|spec| (spec, None)),
        Some(bar) => {
            let parent = lookup(&name[..bar])?;
            lookup_subcommand(parent, &name[bar + 1..]).map(|sub| (sub, Some(parent)))
        }
    }
}

/// The command flags COMMAND INFO prints, in Redis's order (`addReplyFlagsForCommand`).
/// `may_replicate` and `protected` are hidden there on purpose, and so they are here.
const PRINTED_FLAGS: &[(Flags, &str)] = &[
    (Flags::WRITE, "write"),
    (Flags::READONLY, "readonly"),
    (Flags::DENYOOM, "denyoom"),
    (Flags::ADMIN, "admin"),
    (Flags::PUBSUB, "pubsub"),
    (Flags::NOSCRIPT, "noscript"),
    (Flags::BLOCKING, "blocking"),
    (Flags::LOADING, "loading"),
    (Flags::STALE, "stale"),
    (Flags::SKIP_MONITOR, "skip_monitor"),
    (Flags::SKIP_SLOWLOG, "skip_slowlog"),
    (Flags::FAST, "fast"),
    (Flags::NO_AUTH, "no_auth"),
    (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (Flags::NO_ASYNC_LOADING, "no_async_loading"),
    (Flags::NO_MULTI, "no_multi"),
    (Flags::MOVABLEKEYS, "movablekeys"),
    (Flags::ALLOW_BUSY, "allow_busy"),
];

/// Writes a set of simple strings (flags).
fn reply_flag_set(reply: &mut Reply, flags: &[&str]) {
    reply.set(flags.len());
    for flag in flags {
        reply.simple(flag);
    }
}

/// Writes a set of bulk strings (tips).
fn reply_bulk_set(reply: &mut Reply, items: &[&str]) {
    reply.set(items.len());
    for item in items {
        reply.bulk(item.as_bytes());
    }
}

/// Writes one COMMAND INFO entry: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specs, subcommands (Redis `addReplyCommandInfo`).
fn reply_command_info(reply: &mut Reply, spec: &CommandSpec, parent: Option<&CommandSpec>) {
    let doc = doc_of(spec, parent);
    reply.array(10);
    reply.bulk(full_name(spec, parent).as_bytes());
    reply.int(i64::from(spec.arity));
    let flags: Vec<&str> = PRINTED_FLAGS
        .iter()
        .filter(|(f, _)| spec.flags.contains(*f))
        .map(|(_, name)| *name)
        .collect();
    reply_flag_set(reply, &flags);
    reply.int(i64::from(spec.keys.first));
    reply.int(i64::from(spec.keys.last));
    reply.int(i64::from(spec.keys.step));
    let cats: Vec<String> = acl_categories(spec, parent)
        .iter()
        .map(|c| format!("@{c}"))
        .collect();
    reply_flag_set(reply, &cats.iter().map(String::as_str).collect::<Vec<_>>());
    reply_bulk_set(reply, doc.map_or(&[], |d| d.tips));
    reply_key_specs(reply, doc.map_or(&[], |d| d.key_specs));
    // Redis answers an empty set for a command without subcommands, an array otherwise
    // (addReplyCommandSubCommands).
    if spec.subcommands.is_empty() {
        reply.set(0);
    } else {
        reply.array(spec.subcommands.len());
    }
    for sub in spec.subcommands {
        reply_command_info(reply, sub, Some(spec));
    }
}

/// Writes the key specs (Redis `addReplyCommandKeySpecs`).
fn reply_key_specs(reply: &mut Reply, specs: &[KeySpecDoc]) {
    let pair_bulk = |reply: &mut Reply, key: &str, value: &str| {
        reply.bulk(key.as_bytes());
        reply.bulk(value.as_bytes());
    };
    let pair_int = |reply: &mut Reply, key: &str, value: i64| {
        reply.bulk(key.as_bytes());
        reply.int(value);
    };
    reply.set(specs.len());
    for ks in specs {
        reply.map(3 + usize::from(ks.notes.is_some()));
        if let Some(notes) = ks.notes {
            pair_bulk(reply, "notes", notes);
        }
        reply.bulk(b"flags");
        reply_flag_set(reply, ks.flags);
        reply.bulk(b"begin_search");
        reply.map(2);
        match ks.begin_search {
            BeginSearch::Unknown => {
                pair_bulk(reply, "type", "unknown");
                reply.bulk(b"spec");
                reply.map(0);
            }
            BeginSearch::Index(pos) => {
                pair_bulk(reply, "type", "index");
                reply.bulk(b"spec");
                reply.map(1);
                pair_int(reply, "index", pos);
            }
            BeginSearch::Keyword(keyword, startfrom) => {
                pair_bulk(reply, "type", "keyword");
                reply.bulk(b"spec");
                reply.map(2);
                pair_bulk(reply, "keyword", keyword);
                pair_int(reply, "startfrom", startfrom);
            }
        }
        reply.bulk(b"find_keys");
        reply.map(2);
        match ks.find_keys {
            FindKeys::Unknown => {
                pair_bulk(reply, "type", "unknown");
                reply.bulk(b"spec");
                reply.map(0);
            }
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                pair_bulk(reply, "type", "range");
                reply.bulk(b"spec");
                reply.map(3);
                pair_int(reply, "lastkey", lastkey);
                pair_int(reply, "keystep", keystep);
                pair_int(reply, "limit", limit);
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                pair_bulk(reply, "type", "keynum");
                reply.bulk(b"spec");
                reply.map(3);
                pair_int(reply, "keynumidx", keynumidx);
                pair_int(reply, "firstkey", firstkey);
                pair_int(reply, "keystep", keystep);
            }
        }
    }
}

/// ```text
/// COMMAND
/// ```
/// An array with the COMMAND INFO entry of every command.
pub fn command(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let all: Vec<_> = all_commands().collect();
    reply.array(all.len());
    for spec in all {
        reply_command_info(reply, spec, None);
    }
    Ok(())
}

/// ```text
/// COMMAND COUNT
/// ```
/// Integer: the number of commands (subcommands not counted).
pub(crate) fn command_count(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.int(all_commands().count() as i64);
    Ok(())
}

/// ```text
/// COMMAND INFO [command-name [command-name ...]]
/// ```
/// An array with one COMMAND INFO entry per name (`client|list` names a subcommand), null for
/// an unknown name; every command when no name is given.
pub(crate) fn command_info(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv, reply);
    }
    reply.array(argv.len() - 2);
    for name in argv.iter().skip(2) {
        match lookup_full_name(name) {
            Some((spec, parent)) => reply_command_info(reply, spec, parent),
            None => reply.null(),
        }
    }
    Ok(())
}

/// Writes one COMMAND DOCS value (Redis `addReplyCommandDocs`): summary, since, group,
/// complexity, doc_flags, deprecated_since, replaced_by, history, arguments, and for a
/// container its subcommands' docs; absent fields are left out.
fn reply_command_docs(reply: &mut Reply, spec: &CommandSpec, parent: Option<&CommandSpec>) {
    let doc = doc_of(spec, parent);
    let opt = |f: fn(&CommandDoc) -> Option<&'static str>| doc.and_then(f);
    let summary = opt(|d| d.summary);
    let since = opt(|d| d.since);
    let complexity = opt(|d| d.complexity);
    let deprecated_since = opt(|d| d.deprecated_since);
    let replaced_by = opt(|d| d.replaced_by);
    let doc_flags = doc.map_or(&[][..], |d| d.doc_flags);
    let history = doc.map_or(&[][..], |d| d.history);
    let arguments = doc.map_or(&[][..], |d| d.arguments);
    let has_subs = !spec.subcommands.is_empty();
    let len = 1
        + [summary, since, complexity, deprecated_since, replaced_by]
            .iter()
            .filter(|v| v.is_some())
            .count()
        + usize::from(!doc_flags.is_empty())
        + usize::from(!history.is_empty())
        + usize::from(!arguments.is_empty())
        + usize::from(has_subs);
    reply.map(len);
    let pair = |reply: &mut Reply, key: &str, value: Option<&str>| {
        if let Some(value) = value {
            reply.bulk(key.as_bytes());
            reply.bulk(value.as_bytes());
        }
    };
    pair(reply, "summary", summary);
    pair(reply, "since", since);
    pair(reply, "group", Some(spec.group.name()));
    pair(reply, "complexity", complexity);
    if !doc_flags.is_empty() {
        reply.bulk(b"doc_flags");
        reply_flag_set(reply, doc_flags);
    }
    pair(reply, "deprecated_since", deprecated_since);
    pair(reply, "replaced_by", replaced_by);
    if !history.is_empty() {
        reply.bulk(b"history");
        reply.set(history.len());
        for (version, change) in history {
            reply.array(2);
            reply.bulk(version.as_bytes());
            reply.bulk(change.as_bytes());
        }
    }
    if !arguments.is_empty() {
        reply.bulk(b"arguments");
        reply_arguments(reply, arguments);
    }
    if has_subs {
        reply.bulk(b"subcommands");
        reply.map(spec.subcommands.len());
        for sub in spec.subcommands {
            reply.bulk(full_name(sub, Some(spec)).as_bytes());
            reply_command_docs(reply, sub, Some(spec));
        }
    }
}

/// Writes an arguments tree (Redis `addReplyCommandArgList`).
fn reply_arguments(reply: &mut Reply, args: &[Arg]) {
    reply.array(args.len());
    for arg in args {
        let nested = matches!(arg.kind, "oneof" | "block");
        let len = 2
            + usize::from(arg.key_spec_index != -1)
            + [arg.token, arg.summary, arg.since, arg.deprecated_since]
                .iter()
                .filter(|v| v.is_some())
                .count()
            + usize::from(!arg.flags.is_empty())
            + usize::from(nested);
        reply.map(len);
        reply.bulk(b"name");
        reply.bulk(arg.name.as_bytes());
        reply.bulk(b"type");
        reply.bulk(arg.kind.as_bytes());
        if arg.key_spec_index != -1 {
            reply.bulk(b"key_spec_index");
            reply.int(arg.key_spec_index);
        }
        for (key, value) in [
            ("token", arg.token),
            ("summary", arg.summary),
            ("since", arg.since),
            ("deprecated_since", arg.deprecated_since),
        ] {
            if let Some(value) = value {
                reply.bulk(key.as_bytes());
                reply.bulk(value.as_bytes());
            }
        }
        if !arg.flags.is_empty() {
            reply.bulk(b"flags");
            reply_flag_set(reply, arg.flags);
        }
        if nested {
            reply.bulk(b"arguments");
            reply_arguments(reply, arg.arguments);
        }
    }
}

/// ```text
/// COMMAND DOCS [command-name [command-name ...]]
/// ```
/// A map of command name to its documentation map; unknown names are left out; every
/// command when no name is given.
pub(crate) fn command_docs(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut found = Vec::new();
    if argv.len() == 2 {
        found.extend(all_commands().map(|spec| (spec, None)));
    } else {
        found.extend(argv.iter().skip(2).filter_map(lookup_full_name));
    }
    reply.map(found.len());
    for (spec, parent) in found {
        reply.bulk(full_name(spec, parent).as_bytes());
        reply_command_docs(reply, spec, parent);
    }
    Ok(())
}

/// ```text
/// COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
/// ```
/// An array of command names, subcommands included (`client|list`). respd has no modules, so
/// FILTERBY MODULE matches nothing. PATTERN is a case-insensitive glob. Errors: `Syntax`.
pub fn command_list(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    enum Filter<'a> {
        None,
        Module,
        Category(String),
        Pattern(&'a [u8]),
    }
    let filter = match argv.len() {
        2 => Filter::None,
        5 if eq_ci(&argv[2], "filterby") => {
            if eq_ci(&argv[3], "module") {
                Filter::Module
            } else if eq_ci(&argv[3], "aclcat") {
                Filter::Category(String::from_utf8_lossy(&argv[4]).to_ascii_lowercase())
            } else if eq_ci(&argv[3], "pattern") {
                Filter::Pattern(&argv[4])
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let mut names = Vec::new();
    for spec in all_commands() {
        let rows =
            std::iter::once((spec, None)).chain(spec.subcommands.iter().map(|s| (s, Some(spec))));
        for (row, parent) in rows {
            let name = full_name(row, parent);
            let keep = match &filter {
                Filter::None => true,
                Filter::Module => false,
                Filter::Category(cat) => acl_categories(row, parent).contains(&cat.as_str()),
                Filter::Pattern(p) => crate::glob::matches(p, name.as_bytes(), true),
            };
            if keep {
                names.push(name);
            }
        }
    }
    reply.array(names.len());
    for name in names {
        reply.bulk(name.as_bytes());
    }
    Ok(())
}

/// COMMAND GETKEYS' answer to a command name it does not know.
const INVALID_COMMAND: CmdError = CmdError::msg("ERR Invalid command specified");

/// ```text
/// COMMAND GETKEYS command [arg [arg ...]]
/// ```
/// An array of the key arguments of the given command line: found with the command's
/// first/last/step, or, for the commands whose keys those cannot describe, as Redis finds them
/// (see [`variable_keys`]).
///
/// Errors: `ERR Invalid command specified`, `ERR The command has no key arguments`,
/// `ERR Invalid number of arguments specified for command`, `ERR Invalid arguments specified
/// for command` (no key found, such as a bad `numkeys`).
pub(crate) fn command_getkeys(_ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(mut spec) = lookup(&argv[2]) else {
        return Err(INVALID_COMMAND);
    };
    let mut parent = None;
    if !spec.subcommands.is_empty() {
        match argv.get(3).and_then(|sub| lookup_subcommand(spec, sub)) {
            Some(sub) => (parent, spec) = (Some(spec), sub),
            None => return Err(INVALID_COMMAND),
        }
    }
    let line: Vec<&[u8]> = argv.iter().skip(2).collect();
    let rule = variable_keys(spec.name);
    // mirrors commandGetKeys(): a command whose only key specs are `not_key` (the shard
    // channel of SPUBLISH) has no keys to report.
    if (spec.keys.first == 0 || !crate::acl::has_keys(spec, parent)) && rule.is_none() {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(line.len()) {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions = match rule {
        Some(rule) => rule.positions(&line),
        None => {
            let KeySpec { first, last, step } = spec.keys;
            let argc = line.len() as i32;
            let last = if last < 0 { argc + last } else { last };
            (first..=last.min(argc - 1))
                .step_by(step.max(1) as usize)
                .map(|i| i as usize)
                .collect()
        }
    };
    if positions.is_empty() {
        // mirrors commandGetKeys(): EVAL, FCALL and the like may run without keys.
        if spec.flags.contains(Flags::NO_MANDATORY_KEYS) {
            reply.array(0);
            return Ok(());
        }
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    reply.array(positions.len());
    for i in positions {
        reply.bulk(line[i]);
    }
    Ok(())
}

/// How Redis finds the keys of a command whose key positions depend on its arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
enum VariableKeys {
    /// `numkeys` at this index, then that many keys (ZUNION, ZINTERCARD, SINTERCARD, LMPOP,
    /// ZMPOP at 1; BLMPOP, BZMPOP at 2); with `store`, a destination key at index 1 comes
    /// first (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, numkeys at 2).
    NumKeys { at: usize, store: bool },
    /// SORT: the key, then the last `STORE` destination (`sortGetKeys`).
    Sort,
    /// GEORADIUS and GEORADIUSBYMEMBER: the key, then the argument after the first `STORE`
    /// and after the first `STOREDIST` found from `startfrom` on (their "keyword" key specs).
    GeoStore { startfrom: usize },
    /// XREAD and XREADGROUP: the first half of what follows `STREAMS`, searched from
    /// `startfrom` (their "keyword" key spec with `limit 2`), else `xreadGetKeys`.
    Streams { startfrom: usize },
}

/// The commands respd has whose keys first/last/step cannot describe. Redis 7.0 declares
/// them with "keynum" or "unknown" key specs plus a `getkeys_proc`; respd's table has only
/// first/last/step, so the rules live here.
fn variable_keys(name: &str) -> Option<VariableKeys> {
    use VariableKeys::*;
    Some(match name {
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            NumKeys {
                at: 1,
                store: false,
            }
        }
        "blmpop" | "bzmpop" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall"
        | "fcall_ro" => NumKeys {
            at: 2,
            store: false,
        },
        "zunionstore" | "zinterstore" | "zdiffstore" => NumKeys { at: 2, store: true },
        "sort" => Sort,
        "georadius" => GeoStore { startfrom: 6 },
        "georadiusbymember" => GeoStore { startfrom: 5 },
        "xread" => Streams { startfrom: 1 },
        "xreadgroup" => Streams { startfrom: 4 },
        _ => return None,
    })
}

impl VariableKeys {
    /// Indexes into `line` (the command name at 0) of its keys, in Redis's order; empty when
    /// Redis finds none.
    fn positions(self, line: &[&[u8]]) -> Vec<usize> {
        match self {
            VariableKeys::Sort => sort_keys(line),
            VariableKeys::GeoStore { startfrom } => {
                // Each keyword spec is searched on its own; like Redis's keyword search it
                // never looks at the last argument, so a key always follows.
                let found = |keyword: &str| {
                    (startfrom..line.len().saturating_sub(1))
                        .find(|&i| eq_ci(line[i], keyword))
                        .map(|i| i + 1)
                };
                std::iter::once(1)
                    .chain(found("store"))
                    .chain(found("storedist"))
                    .collect()
            }
            VariableKeys::Streams { startfrom } => streams_keys(line, startfrom),
            VariableKeys::NumKeys { at, store } => {
                numkeys_spec(line, at, store).unwrap_or_else(|| numkeys_fallback(line, at, store))
            }
        }
    }
}

/// XREAD / XREADGROUP keys as Redis finds them: the keyword spec first (`getKeysUsingKeySpecs`:
/// `STREAMS` searched from `startfrom`, never as the last argument; the keys are the first
/// half of the rest). A keyword never found means no keys; a spec that does not fit falls
/// back to `xreadGetKeys`, which walks the options up to `STREAMS` and wants an even,
/// non-zero number of arguments after it.
fn streams_keys(line: &[&[u8]], startfrom: usize) -> Vec<usize> {
    let argc = line.len();
    let Some(keyword) = (startfrom..argc.saturating_sub(1)).find(|&i| eq_ci(line[i], "streams"))
    else {
        return Vec::new();
    };
    let first = keyword + 1;
    let last = (first + (argc - first) / 2) as i64 - 1;
    if last < argc as i64 && last >= first as i64 {
        return (first..=last as usize).collect();
    }
    // xreadGetKeys()
    let mut i = 1;
    let mut streams = None;
    while i < argc {
        let arg = line[i];
        if eq_ci(arg, "block") || eq_ci(arg, "count") {
            i += 2;
        } else if eq_ci(arg, "group") {
            i += 3;
        } else if eq_ci(arg, "noack") {
            i += 1;
        } else if eq_ci(arg, "streams") {
            streams = Some(i);
            break;
        } else {
            break;
        }
    }
    let Some(streams) = streams else {
        return Vec::new();
    };
    let rest = argc - streams - 1;
    if rest == 0 || rest % 2 != 0 {
        return Vec::new();
    }
    (streams + 1..streams + 1 + rest / 2).collect()
}

/// The "keynum" key spec (`getKeysUsingKeySpecs`): `numkeys` must be a plain non-negative
/// integer, and the keys it announces must all be there; `None` otherwise. Redis takes the
/// count as a C `int`, so a count past 2^31 wraps, and the announced keys are then whatever
/// the wrapped count says.
fn numkeys_spec(line: &[&[u8]], at: usize, store: bool) -> Option<Vec<usize>> {
    let argc = line.len() as i32;
    let numkeys = crate::util::parse_i64(line.get(at)?).filter(|&n| n >= 0)?;
    let first = at as i32 + 1;
    let last = first.wrapping_add(numkeys as i32).wrapping_sub(1);
    if last >= argc || last < first || first >= argc {
        return None;
    }
    let dest = store.then_some(1);
    Some(
        dest.into_iter()
            .chain(first as usize..=last as usize)
            .collect(),
    )
}

/// When the key spec fails, Redis asks the command's `getkeys_proc` (`genericGetKeys`): the
/// count is read with C `atoi`, must be at least 1 and fit the arguments left, and a
/// destination comes after the sources.
fn numkeys_fallback(line: &[&[u8]], at: usize, store: bool) -> Vec<usize> {
    let num = c_atoi(line[at]) as i64;
    let first = at + 1;
    if num < 1 || num > (line.len() - first) as i64 {
        return Vec::new();
    }
    let dest = store.then_some(1);
    (first..first + num as usize).chain(dest).collect()
}

/// C `atoi` as glibc computes it: leading white space, a sign, digits up to the first
/// non-digit; the value saturates to a `long` (`strtol`) and is then cut to an `int`.
fn c_atoi(arg: &[u8]) -> i32 {
    let mut rest = arg;
    while let [b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if let [b'+' | b'-', tail @ ..] = rest {
        rest = tail;
    }
    let mut value: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = match value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        }) {
            Some(v) => v,
            None if negative => i64::MIN,
            None => i64::MAX,
        };
        if value == i64::MIN || value == i64::MAX {
            break;
        }
    }
    value as i32
}

/// SORT's keys as Redis's `sortGetKeys` finds them: the sorted key, then the argument after
/// the last `STORE`. Options are skipped with their arguments (LIMIT two, GET and BY one),
/// but the destination after STORE is itself read as a possible option next, as Redis does.
pub(crate) fn sort_keys(line: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < line.len() {
        let arg = line[i];
        if eq_ci(arg, "limit") {
            i += 2;
        } else if eq_ci(arg, "store") && i + 1 < line.len() {
            store = Some(i + 1);
        } else if eq_ci(arg, "get") || eq_ci(arg, "by") {
            i += 1;
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// ```text
/// COMMAND HELP
/// ```
/// An array of simple strings: Redis 7.0.15's text, word for word (GETKEYSANDFLAGS included,
/// which respd does not have).
pub(crate) fn command_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_follow_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1_164_560), "1.11M");
        assert_eq!(bytes_to_human(12_447_744), "11.87M");
        assert_eq!(bytes_to_human(25_276_063_744), "23.54G");
    }

    #[test]
    fn acl_categories_are_computed_like_redis() {
        let get = lookup(b"get").unwrap();
        assert_eq!(acl_categories(get, None), ["read", "string", "fast"]);
        let client = lookup(b"client").unwrap();
        assert_eq!(acl_categories(client, None), ["slow"]);
        let kill = lookup_subcommand(client, b"kill").unwrap();
        assert_eq!(
            acl_categories(kill, Some(client)),
            ["admin", "slow", "dangerous", "connection"]
        );
        // SORT's categories are declared by hand in Redis's sort.json.
        let sort = lookup(b"sort").unwrap();
        assert_eq!(
            acl_categories(sort, None),
            ["write", "set", "sortedset", "list", "slow", "dangerous"]
        );
    }

    /// The command flags of a row under the names Redis's JSON files use (the hidden ones
    /// included); respd's own flags (NO_QUEUE, SUBSCRIBED_OK) have no JSON name.
    fn json_flags(flags: Flags) -> Vec<&'static str> {
        let mut names: Vec<&str> = flags.names().collect();
        if flags.contains(Flags::PROTECTED) {
            names.push("protected");
        }
        names.sort_unstable();
        names
    }

    /// The command table and the generated data (tools/gen-command-docs.py) describe the same
    /// commands the same way: every row and subcommand row has generated data, and arity,
    /// flags, group and first/last/step agree. Regenerate command_docs.rs (see its header)
    /// when a row is added.
    #[test]
    fn command_table_agrees_with_generated_docs() {
        let mut problems = Vec::new();
        let mut rows = Vec::new();
        for spec in all_commands() {
            rows.push((spec, None));
            rows.extend(spec.subcommands.iter().map(|s| (s, Some(spec))));
        }
        for (spec, parent) in &rows {
            let name = full_name(spec, *parent);
            let Some(doc) = command_doc(&name) else {
                problems.push(format!(
                    "{name}: no generated data; regenerate command_docs.rs"
                ));
                continue;
            };
            if doc.arity != spec.arity {
                problems.push(format!(
                    "{name}: arity {} in the table, {} in Redis",
                    spec.arity, doc.arity
                ));
            }
            // Flags Redis has and respd does not model: sentinel-only and cluster ones.
            let mut redis: Vec<&str> = doc
                .flags
                .iter()
                .copied()
                .filter(|f| !matches!(*f, "sentinel" | "only_sentinel" | "touches_arbitrary_keys"))
                .collect();
            redis.sort_unstable();
            let ours = json_flags(spec.flags);
            if ours != redis {
                problems.push(format!(
                    "{name}: flags {ours:?} in the table, {redis:?} in Redis"
                ));
            }
            if doc.group != spec.group.name() {
                problems.push(format!(
                    "{name}: group {} in the table, {} in Redis",
                    spec.group.name(),
                    doc.group
                ));
            }
            let keys = (spec.keys.first, spec.keys.last, spec.keys.step);
            if keys != doc.legacy_keys {
                problems.push(format!(
                    "{name}: first/last/step {keys:?} in the table, {:?} in Redis",
                    doc.legacy_keys
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // And nothing generated for a command respd does not have.
        let names: Vec<String> = rows.iter().map(|(s, p)| full_name(s, *p)).collect();
        for doc in COMMAND_DOCS {
            assert!(
                names.iter().any(|n| n == doc.name),
                "{}: generated but not in the table",
                doc.name
            );
        }
        assert!(
            COMMAND_DOCS.windows(2).all(|w| w[0].name < w[1].name),
            "COMMAND_DOCS is not sorted"
        );
    }
}
