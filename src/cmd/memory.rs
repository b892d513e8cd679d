//! The MEMORY container: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP.
//!
//! Counterpart of Redis `memoryCommand`, `getMemoryOverheadData` and `getMemoryDoctorReport`
//! (`src/object.c`), checked against Redis 7.0.15. The byte counts come from
//! [`crate::store::memory`], which computes them from respd's own structures; see that module
//! for the model and for why they are estimates.
//!
//! # MEMORY STATS: which figures are real
//! respd runs on the system allocator, so it has no allocator counters. As a Redis built
//! without jemalloc does (`cronUpdateMemoryStats`), the allocator figures are derived from the
//! two it does have, and the ratios follow from those:
//! - `total.allocated` is INFO's `used_memory`: every key and value as
//!   [`crate::store::memory`] counts them, plus the clients' query and reply buffers;
//!   `peak.allocated` is the highest such figure computed so far (by INFO or MEMORY).
//! - `startup.allocated` is 0: respd does not measure itself at start.
//! - `clients.normal` is the clients' buffers; `db.N` the database dicts' nodes and buckets
//!   (`overhead.hashtable.slot-to-keys` is 0: there is no cluster mode).
//! - `replication.backlog`, `clients.slaves`, `cluster.links`, `aof.buffer`, `lua.caches`
//!   and `functions.caches` are 0: respd has none of those.
//! - `allocator.allocated` is `total.allocated`; `allocator.active` and `allocator.resident`
//!   are the process RSS (`/proc/self/statm`), so `allocator-rss` and `rss-overhead` are
//!   1 and 0 bytes, and `allocator-fragmentation` equals `fragmentation` (RSS / allocated).
//!
//! MALLOC-STATS answers what Redis answers when it is built without jemalloc; PURGE has
//! nothing to purge and answers OK, as Redis does then.

use super::connection::reply_help;
use super::{CmdError, CmdResult, CommandSpec, ConnFn, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::store::{Db, Keyspace};
use crate::util::{eq_ci, parse_i64};

/// Redis `OBJ_COMPUTE_SIZE_DEF_SAMPLES`: elements MEMORY USAGE measures by default.
const DEFAULT_SAMPLES: usize = 5;

/// Below this many bytes in use, MEMORY DOCTOR declines to diagnose (Redis: 5 MB).
const DOCTOR_MIN_BYTES: u64 = 5 * 1024 * 1024;

const fn memory_sub(name: &'static str, arity: i32, flags: Flags, handler: Handler) -> CommandSpec {
    CommandSpec::new(name, arity, flags, KeySpec::NONE, Group::Server, handler)
}

const fn conn_sub(name: &'static str, f: ConnFn) -> CommandSpec {
    memory_sub(name, 2, Flags::NONE, Handler::Conn(f))
}

/// MEMORY's subcommands, with Redis 7.0's arity, flags and key positions.
#[rustfmt::skip]
static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    memory_sub("doctor", 2, Flags::NONE, Handler::KeyspaceRead(memory_doctor)),
    memory_sub("help", 2, Flags::LOADING.union(Flags::STALE), Handler::Conn(memory_help)),
    conn_sub("malloc-stats", memory_malloc_stats),
    conn_sub("purge", memory_purge),
    memory_sub("stats", 2, Flags::NONE, Handler::KeyspaceRead(memory_stats)),
    CommandSpec::new("usage", -3, Flags::READONLY, KeySpec::new(2, 2, 1), Group::Server, Handler::Read(memory_usage)),
];

/// The MEMORY row of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new("memory", -2, Flags::NONE, KeySpec::NONE, Group::Server, Handler::Container).with_subcommands(MEMORY_SUBCOMMANDS)];

/// ```text
/// MEMORY USAGE key [SAMPLES count]
/// ```
/// Integer: the bytes the key and its value take (see [`crate::store::memory`]); null for a
/// missing key. Aggregates are measured on `count` elements (default 5, 0 for all) and
/// extrapolated. Errors: `Syntax` for an unknown option, a SAMPLES without its count or a
/// negative count; `NotInteger` for a count that is not a number. Options are checked before
/// the key is looked up, as in Redis 7.0.15.
pub(crate) fn memory_usage(_ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < argv.len() {
        if eq_ci(&argv[j], "samples") && j + 1 < argv.len() {
            let n = parse_i64(&argv[j + 1]).ok_or(CmdError::NotInteger)?;
            samples = match n {
                n if n < 0 => return Err(CmdError::Syntax),
                0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Not a keyspace read in Redis's sense: no hit/miss is counted, no access time refreshed.
    match db.memory_usage(&argv[2], samples) {
        Some(bytes) => reply.int(bytes as i64),
        None => reply.null(),
    }
    Ok(())
}

/// The figures MEMORY STATS, MEMORY DOCTOR and INFO's memory section share (Redis
/// `struct redisMemOverhead`). See the module docs for what each one holds in respd.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryOverhead {
    /// `used_memory`: data plus client buffers.
    pub total: u64,
    /// Highest `total` seen.
    pub peak: u64,
    /// Clients' query and reply buffers.
    pub clients_normal: u64,
    /// Per non-empty database: (index, main dict overhead, expires dict overhead, keys).
    pub dbs: Vec<(usize, u64, u64, u64)>,
    /// Everything that is not the dataset: clients and the database dicts.
    pub overhead_total: u64,
    /// Keys in all databases.
    pub keys: u64,
    /// `total - overhead_total`.
    pub dataset: u64,
    /// Process resident set size.
    pub rss: u64,
}

impl MemoryOverhead {
    /// Gathers the figures (Redis `getMemoryOverheadData`). O(number of elements stored):
    /// respd adds memory up when asked instead of keeping a running count.
    pub(crate) fn gather(ctx: &Ctx, ks: &Keyspace) -> MemoryOverhead {
        let shared = ctx.shared;
        let clients = clients_bytes(shared);
        let mut m = MemoryOverhead {
            clients_normal: clients,
            overhead_total: clients,
            rss: super::introspection::rss_bytes(),
            ..MemoryOverhead::default()
        };
        let mut data = 0u64;
        for (i, db) in ks.dbs().iter().enumerate() {
            data += db.approx_bytes() as u64;
            if db.is_empty() {
                continue;
            }
            let main = db.main_table_overhead() as u64;
            let expires = db.expires_table_overhead() as u64;
            m.dbs.push((i, main, expires, db.len() as u64));
            m.overhead_total += main + expires;
            m.keys += db.len() as u64;
        }
        m.total = data + clients;
        m.dataset = m.total.saturating_sub(m.overhead_total);
        m.peak = shared.stats.note_memory_use(m.total);
        m
    }
}

/// The clients' query and reply buffers: the part of `used_memory` that is not the dataset.
pub(crate) fn clients_bytes(shared: &crate::shared::Shared) -> u64 {
    shared
        .clients
        .all()
        .iter()
        .map(|c| c.snapshot.lock().total_mem as u64)
        .sum()
}

/// Redis replies these ratios from C `float`s, so their digits are a float's; respd computes
/// them the same way to print the same kind of number.
fn ratio(part: u64, whole: u64) -> f64 {
    (part as f32 / whole as f32) as f64
}

/// ```text
/// MEMORY STATS
/// ```
/// A map of Redis's 27 fields plus one `db.N` map per non-empty database, in Redis's order.
/// See the module docs for which values are real and which are derived or zero.
pub(crate) fn memory_stats(
    ctx: &mut Ctx,
    ks: &Keyspace,
    _argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let m = MemoryOverhead::gather(ctx, ks);
    let startup = 0u64;
    let net_usage = if m.total > startup {
        m.total - startup
    } else {
        1
    };
    let double =
        |reply: &mut Reply, d: f64| reply.double_text(crate::util::format_f64(d).as_bytes());
    reply.map(27 + m.dbs.len());
    let ints_before_dbs: [(&str, u64); 10] = [
        ("peak.allocated", m.peak),
        ("total.allocated", m.total),
        ("startup.allocated", startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", m.clients_normal),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ];
    for (name, value) in ints_before_dbs {
        reply.bulk(name.as_bytes());
        reply.int(value as i64);
    }
    for &(i, main, expires, _) in &m.dbs {
        reply.bulk(format!("db.{i}").as_bytes());
        reply.map(3);
        reply.bulk(b"overhead.hashtable.main");
        reply.int(main as i64);
        reply.bulk(b"overhead.hashtable.expires");
        reply.int(expires as i64);
        reply.bulk(b"overhead.hashtable.slot-to-keys");
        reply.int(0);
    }
    let per_key = net_usage.checked_div(m.keys).unwrap_or(0);
    for (name, value) in [
        ("overhead.total", m.overhead_total),
        ("keys.count", m.keys),
        ("keys.bytes-per-key", per_key),
        ("dataset.bytes", m.dataset),
    ] {
        reply.bulk(name.as_bytes());
        reply.int(value as i64);
    }
    reply.bulk(b"dataset.percentage");
    double(reply, (m.dataset as f32 * 100.0 / net_usage as f32) as f64);
    reply.bulk(b"peak.percentage");
    double(
        reply,
        (m.total as f32 * 100.0 / m.peak.max(1) as f32) as f64,
    );
    // No allocator counters: derived as Redis derives them without jemalloc.
    let (allocated, active, resident) = (m.total, m.rss, m.rss);
    for (name, value) in [
        ("allocator.allocated", allocated),
        ("allocator.active", active),
        ("allocator.resident", resident),
    ] {
        reply.bulk(name.as_bytes());
        reply.int(value as i64);
    }
    let pairs: [(&str, &str, u64, u64); 4] = [
        (
            "allocator-fragmentation.ratio",
            "allocator-fragmentation.bytes",
            active,
            allocated,
        ),
        (
            "allocator-rss.ratio",
            "allocator-rss.bytes",
            resident,
            active,
        ),
        ("rss-overhead.ratio", "rss-overhead.bytes", m.rss, resident),
        ("fragmentation", "fragmentation.bytes", m.rss, m.total),
    ];
    for (ratio_name, bytes_name, part, whole) in pairs {
        reply.bulk(ratio_name.as_bytes());
        double(reply, ratio(part, whole));
        reply.bulk(bytes_name.as_bytes());
        // Redis subtracts unsigned values and replies them as signed: a negative difference
        // comes out negative, as here.
        reply.int(part as i64 - whole as i64);
    }
    Ok(())
}

/// ```text
/// MEMORY DOCTOR
/// ```
/// Verbatim text: Redis's report. Below 5 MB in use, the "empty instance" text; otherwise the
/// "no issues" text unless one of the checks respd can make finds something: a peak above
/// 150% of current use, RSS over 1.4 times (and 10 MB more than) what is allocated, or
/// clients' buffers above 200 KB each on average. (The allocator-internal checks cannot
/// trigger: those figures are derived; there are no replicas and no scripts.)
pub(crate) fn memory_doctor(
    ctx: &mut Ctx,
    ks: &Keyspace,
    _argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    let m = MemoryOverhead::gather(ctx, ks);
    let clients = ctx.shared.clients.all().len().max(1) as u64;
    let report = doctor_report(&m, clients);
    reply.verbatim(report.as_bytes());
    Ok(())
}

/// The text of MEMORY DOCTOR for these figures (Redis `getMemoryDoctorReport`).
fn doctor_report(m: &MemoryOverhead, clients: u64) -> String {
    if m.total < DOCTOR_MIN_BYTES {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string();
    }
    let big_peak = m.peak as f32 / m.total as f32 > 1.5;
    let high_frag = ratio(m.rss, m.total) > 1.4 && m.rss.saturating_sub(m.total) > 10 << 20;
    let big_client_buf = m.clients_normal / clients > 1024 * 200;
    if !big_peak && !high_frag && !big_client_buf {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    if big_peak {
        s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    if high_frag {
        s.push_str(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"libc\".\n\n");
    }
    if big_client_buf {
        s.push_str(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n");
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// ```text
/// MEMORY MALLOC-STATS
/// ```
/// Bulk string: what Redis built without jemalloc answers.
pub(crate) fn memory_malloc_stats(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.bulk(b"Stats not supported for the current allocator");
    Ok(())
}

/// ```text
/// MEMORY PURGE
/// ```
/// `+OK`: there is no jemalloc arena to purge (Redis answers OK then too).
pub(crate) fn memory_purge(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.ok();
    Ok(())
}

/// ```text
/// MEMORY HELP
/// ```
/// An array of simple strings, Redis 7.0.15's text.
pub(crate) fn memory_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(total: u64, peak: u64, rss: u64, clients_normal: u64) -> MemoryOverhead {
        MemoryOverhead {
            total,
            peak,
            rss,
            clients_normal,
            ..MemoryOverhead::default()
        }
    }

    #[test]
    fn doctor_texts_follow_redis() {
        let mb = 1024 * 1024;
        assert!(
            doctor_report(&figures(mb, mb, mb, 0), 1).starts_with("Hi Sam, this instance is empty")
        );
        assert!(doctor_report(&figures(50 * mb, 50 * mb, 50 * mb, 0), 1)
            .starts_with("Hi Sam, I can't find any memory issue"));
        let peak = doctor_report(&figures(50 * mb, 100 * mb, 50 * mb, 0), 1);
        assert!(peak.starts_with("Sam, I detected a few issues"));
        assert!(peak.contains(" * Peak memory:"));
        assert!(peak.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"));
    }
}
