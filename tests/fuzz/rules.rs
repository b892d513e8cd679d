//! The comparison rules of the differential fuzzer: which replies may legitimately differ
//! between respd and Redis, and how to compare them then.
//!
//! Rules are chosen by *command*, never by sample, so a real difference cannot hide behind a
//! rule written for one reply:
//!
//! - **SCAN** with a cursor other than 0: by type only (cursors are opaque);
//! - **random** replies (SRANDMEMBER, SPOP, RANDOMKEY, HRANDFIELD, ZRANDMEMBER): same type and
//!   the same number of elements;
//! - **unordered** replies (SMEMBERS, HKEYS, HVALS, KEYS, SINTER, SUNION, SDIFF, PUBSUB
//!   CHANNELS, SORT ... BY nosort): the same multiset; HGETALL and CONFIG GET as a multiset of
//!   pairs; SCAN-like replies as a multiset once both cursors say 0, otherwise by shape;
//! - **SORT ... BY** a pattern without `*` (no sorting) or with ALPHA (ties unordered): a
//!   multiset, or with LIMIT a count;
//! - **volatile** replies (INFO, TIME, LASTSAVE, CLIENT LIST/INFO/ID, OBJECT IDLETIME/FREQ/REFCOUNT,
//!   COMMAND/COMMAND COUNT/LIST/DOCS without a name, which list commands respd does not have):
//!   the same reply type only;
//! - **clocks** (TTL, PTTL, EXPIRETIME, PEXPIRETIME): integers within a second;
//! - **HELLO**: everything but the connection id;
//! - **DUMP**: two payloads that restore to the same value (see [`same_dumped_value`]);
//! - **numeric SORT**: Redis's "One or more scores can't be converted into double" where respd
//!   sorts, because Redis reads a stale `errno` (see [`SORT_STALE_ERRNO`]);
//! - **COMMAND INFO / COMMAND DOCS** naming commands: exact, once a container's subcommands
//!   that respd does not implement are removed from Redis's reply (see
//!   [`command_meta_view`]).
//!
//! Two more rules work across a case: a key that SPOP changed at random, or that a command
//! respd does not implement wrote to, is *tainted*, and later replies about it (or about the
//! whole key space) are compared by type only.

use std::collections::BTreeSet;

pub use crate::common::{parse, Val};

/// How two replies to the same command are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Exact,
    /// Same reply type only.
    Volatile,
    /// Same type, same number of elements.
    Random,
    /// The same multiset of elements.
    Unordered,
    /// The same multiset of (field, value) pairs.
    UnorderedPairs,
    /// SCAN-like `[cursor, elements]`; `true` when the elements are pairs.
    Scan(bool),
    /// Integers within this distance.
    Clock(i64),
    /// HELLO: all but the `id` field.
    Hello,
    /// COMMAND INFO / COMMAND DOCS with names: compared through [`command_meta_view`], which
    /// needs respd's COMMAND LIST, so the caller does it ([`agree_command_meta`]).
    CommandMeta,
    /// DUMP: payloads that decode to the same value ([`same_dumped_value`]).
    Dump,
    /// A numeric SORT / SORT_RO: exact, except that Redis may refuse it with
    /// [`SORT_STALE_ERRNO`] where respd answers.
    SortScores,
}

/// Redis's reply to a numeric SORT when a score is not a double, and also, wrongly, when
/// nothing is wrong with the scores. sortCommandGeneric() (sort.c) calls `strtod` and then
/// tests `errno == ERANGE` without setting `errno` to 0 first; `strtod` leaves `errno` alone
/// when it succeeds, so an ERANGE left by any earlier overflowing conversion in Redis's main
/// thread (`ZCOUNT k 1e400 +inf`, on any connection, any time before, until some other call
/// happens to overwrite `errno`) makes every later numeric SORT of a string-encoded value
/// fail. Which call last set `errno` is hidden process state, not something the input
/// decides, so when Redis gives this error and respd sorts, the replies are not compared,
/// and a STORE destination is tainted (respd wrote it, Redis did not). respd deliberately
/// does not copy the bug (src/cmd/sort.rs); its own refusals of scores that really are not
/// doubles are checked against Redis by tests/cases/sort/*.case, and when both servers
/// refuse, the errors are compared as usual.
pub const SORT_STALE_ERRNO: &[u8] = b"-ERR One or more scores can't be converted into double\r\n";

fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

/// The command's name for reports: `ZADD`, or `CLIENT LIST` for a container.
pub fn name(argv: &[Vec<u8>]) -> String {
    let first = argv.first().map(|a| upper(a)).unwrap_or_default();
    let containers = [
        "CLIENT", "OBJECT", "COMMAND", "CONFIG", "PUBSUB", "MEMORY", "XINFO", "SLOWLOG",
    ];
    if containers.contains(&first.as_str()) && argv.len() > 1 {
        let sub = upper(&argv[1]);
        if sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && sub.len() < 20 {
            return format!("{first} {sub}");
        }
        return format!("{first} <junk>");
    }
    if first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && first.len() < 20 {
        first
    } else {
        "<junk>".to_string()
    }
}

/// The rule for one command.
pub fn rule_for(argv: &[Vec<u8>]) -> Rule {
    let has = |word: &str| {
        argv.iter()
            .skip(1)
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    match name(argv).as_str() {
        "SRANDMEMBER" | "SPOP" | "RANDOMKEY" | "HRANDFIELD" | "ZRANDMEMBER" => Rule::Random,
        "SMEMBERS" | "HKEYS" | "HVALS" | "KEYS" | "SINTER" | "SUNION" | "SDIFF"
        | "PUBSUB CHANNELS" => Rule::Unordered,
        // SORT's order is undefined in two cases, both from Redis's sort.c: a BY pattern
        // without '*' (`nosort` or any other) means "don't sort", so a set comes out in its
        // own order; and under ALPHA with BY, sortCompare() returns 0 for ties (missing or
        // equal weights), leaving them in whatever order the unstable sort chose. Then the
        // elements are compared as a multiset, or only counted when LIMIT picks among them.
        "SORT" | "SORT_RO" if sort_order_undefined(argv) && has("limit") => Rule::Random,
        "SORT" | "SORT_RO" if sort_order_undefined(argv) => Rule::Unordered,
        // Only a numeric sort converts scores (with ALPHA, or BY without '*', it does not).
        "SORT" | "SORT_RO" if !has("alpha") => Rule::SortScores,
        "HGETALL" | "CONFIG GET" => Rule::UnorderedPairs,
        // A cursor other than 0 is opaque (Redis's encodes a hash-table position, respd's is
        // its own): where it leads is the implementation's business.
        "SCAN" if argv.get(1).is_some_and(|c| c != b"0") => Rule::Volatile,
        "SSCAN" | "HSCAN" | "ZSCAN" if argv.get(2).is_some_and(|c| c != b"0") => Rule::Volatile,
        "SCAN" | "SSCAN" => Rule::Scan(false),
        "HSCAN" | "ZSCAN" => Rule::Scan(true),
        "INFO" | "TIME" | "LASTSAVE" | "CLIENT LIST" | "CLIENT INFO" | "CLIENT ID"
        | "OBJECT IDLETIME" | "OBJECT FREQ" | "COMMAND" | "COMMAND COUNT" | "COMMAND LIST"
        | "MEMORY USAGE" => Rule::Volatile,
        // Reference counts show Redis's memory sharing (shared integers, the argv a MULTI
        // queue still holds), not a behaviour a client can rely on.
        "OBJECT REFCOUNT" => Rule::Volatile,
        // What the slow log holds depends on how long each server took (10 ms by default),
        // which is the machine's business, not the input's.
        "SLOWLOG GET" | "SLOWLOG LEN" => Rule::Volatile,
        "COMMAND DOCS" | "COMMAND INFO" if argv.len() == 2 => Rule::Volatile,
        "COMMAND DOCS" | "COMMAND INFO" => Rule::CommandMeta,
        "TTL" | "EXPIRETIME" => Rule::Clock(1),
        "PTTL" | "PEXPIRETIME" => Rule::Clock(1000),
        "HELLO" => Rule::Hello,
        "DUMP" => Rule::Dump,
        // An id made from the clock (`*`, `<ms>-*`) is each server's own, and so is anything
        // that shows idle or delivery times.
        "XADD" if auto_stream_id(argv) => Rule::Volatile,
        "XINFO STREAM" | "XINFO GROUPS" | "XINFO CONSUMERS" => Rule::Volatile,
        "XPENDING" if argv.len() > 3 => Rule::Volatile,
        "XCLAIM" | "XAUTOCLAIM" => Rule::Volatile,
        _ => Rule::Exact,
    }
}

/// True if an XADD lets the server pick (part of) the entry id from its clock.
fn auto_stream_id(argv: &[Vec<u8>]) -> bool {
    argv.iter()
        .skip(2)
        .any(|a| a.as_slice() == b"*" || a.ends_with(b"-*"))
}

fn sort_order_undefined(argv: &[Vec<u8>]) -> bool {
    let by = argv
        .iter()
        .position(|a| a.eq_ignore_ascii_case(b"by"))
        .and_then(|i| argv.get(i + 1));
    let alpha = argv.iter().any(|a| a.eq_ignore_ascii_case(b"alpha"));
    match by {
        Some(pattern) => !pattern.contains(&b'*') || alpha,
        None => false,
    }
}

/// Blocking commands (kept out of inline cases, where a block would stall the byte stream).
pub fn is_blocking(argv: &[Vec<u8>]) -> bool {
    name(argv).starts_with('B') && !name(argv).starts_with("BIT")
}

/// Commands whose reply depends on the whole key space, not on their key arguments.
fn keyspace_wide(argv: &[Vec<u8>]) -> bool {
    let n = name(argv);
    matches!(
        n.as_str(),
        "DBSIZE" | "KEYS" | "SCAN" | "RANDOMKEY" | "SWAPDB" | "INFO" | "SORT" | "SORT_RO"
    )
}

/// True if the two replies agree under `rule`.
pub fn agree(rule: Rule, respd: &[u8], redis: &[u8]) -> bool {
    if respd == redis {
        return true;
    }
    if rule == Rule::SortScores && redis == SORT_STALE_ERRNO && respd.first() != Some(&b'-') {
        return true;
    }
    let (Some(a), Some(b)) = (parse(respd), parse(redis)) else {
        return false;
    };
    agree_val(rule, &a, &b)
}

fn agree_val(rule: Rule, a: &Val, b: &Val) -> bool {
    if a == b {
        return true;
    }
    if a.kind() != b.kind() {
        return false;
    }
    // Errors are never normalised: their text is part of the contract.
    if a.kind() == b'-' || a.kind() == b'!' {
        return false;
    }
    match rule {
        Rule::Exact | Rule::CommandMeta | Rule::SortScores => false,
        Rule::Volatile => true,
        Rule::Random => match (a, b) {
            (Val::Agg(_, Some(x)), Val::Agg(_, Some(y))) => x.len() == y.len(),
            (Val::Agg(..), _) => false,
            _ => true,
        },
        Rule::Unordered => sorted(a, 1) == sorted(b, 1),
        Rule::UnorderedPairs => sorted(a, 2) == sorted(b, 2),
        Rule::Scan(pairs) => match (a, b) {
            (Val::Agg(_, Some(x)), Val::Agg(_, Some(y))) if x.len() == 2 && y.len() == 2 => {
                let zero = Val::Bulk(b'$', Some(b"0".to_vec()));
                if x[0] == zero && y[0] == zero {
                    let group = if pairs { 2 } else { 1 };
                    sorted(&x[1], group) == sorted(&y[1], group)
                } else {
                    // Cursors are the implementation's business; compare the shape.
                    x[1].kind() == y[1].kind()
                }
            }
            _ => false,
        },
        Rule::Clock(tolerance) => match (a, b) {
            (Val::Line(b':', x), Val::Line(b':', y)) => {
                let num = |v: &[u8]| std::str::from_utf8(v).ok()?.parse::<i64>().ok();
                match (num(x), num(y)) {
                    (Some(x), Some(y)) if x < 0 || y < 0 => x == y,
                    (Some(x), Some(y)) => (x - y).abs() <= tolerance,
                    _ => false,
                }
            }
            _ => false,
        },
        Rule::Hello => without_id(a) == without_id(b),
        Rule::Dump => match (a, b) {
            (Val::Bulk(_, Some(x)), Val::Bulk(_, Some(y))) => same_dumped_value(x, y),
            _ => false,
        },
    }
}

/// True if two DUMP payloads are valid (version and CRC64 checked by respd's RESTORE code)
/// and restore to the same value: same type, same elements, in order where the type has one.
///
/// Why DUMP is not compared byte for byte: the payload is Redis's *internal* encoding of the
/// value, and the same value has several. Redis's bytes depend on history respd does not keep
/// (a list's listpack node layout after LPUSH, LINSERT or LREM; a hash or sorted set stays a
/// hash table once converted, even when it shrinks) and on Redis's LZF compressor, whose hash
/// table is deliberately left uninitialised (`INIT_HTAB 0` in lzfP.h), so the compressed bytes
/// may vary with what was compressed before. respd writes the encodings Redis writes for
/// lists built by RPUSH (byte-equal, tests/dump.rs) and the plain table types for hashes and
/// sorted sets; what a client can rely on, and what tests/dump.rs checks both ways, is that
/// either server restores either payload to the same value.
pub fn same_dumped_value(respd: &[u8], redis: &[u8]) -> bool {
    match (dumped_value(respd), dumped_value(redis)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A DUMP payload's value in a comparable form, or `None` if respd's RESTORE refuses it.
fn dumped_value(payload: &[u8]) -> Option<String> {
    use respd::store::Value;
    let value = respd::persistence::rdb::restore_payload(payload).ok()?;
    Some(match value {
        Value::Int(n) => format!("string {:?}", n.to_string().into_bytes()),
        Value::Str(s) => format!("string {:?}", s.to_vec()),
        Value::List(l) => format!("list {l:?}"),
        Value::Hash(h) => {
            let mut pairs: Vec<_> = h.iter().map(|(f, v)| (f.clone(), v.clone())).collect();
            pairs.sort();
            format!("hash {pairs:?}")
        }
        Value::Set(s) => {
            let mut members: Vec<_> = s.keys().cloned().collect();
            members.sort();
            format!("set {members:?}")
        }
        Value::ZSet(z) => {
            let items: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect();
            format!("zset {items:?}")
        }
        Value::Stream(s) => {
            use respd::store::StreamId;
            let entries: Vec<_> = s.range(StreamId::MIN, StreamId::MAX, false).collect();
            let groups: Vec<_> = s
                .groups
                .iter()
                .map(|(name, g)| {
                    // Not the delivery and seen times: they are each server's clock.
                    let consumers: Vec<_> = g.consumers.iter().map(|(c, v)| (c, &v.pel)).collect();
                    let pel: Vec<_> = (g.pel.iter())
                        .map(|(id, p)| (id, &p.consumer, p.delivery_count))
                        .collect();
                    (name, g.last_id, g.entries_read, pel, consumers)
                })
                .collect();
            format!(
                "stream {entries:?} last {:?} first {:?} deleted {:?} added {} groups {groups:?}",
                s.last_id, s.first_id, s.max_deleted_entry_id, s.entries_added
            )
        }
    })
}

/// True if respd's and Redis's replies to a COMMAND INFO or COMMAND DOCS (`sub`: "INFO" or
/// "DOCS") agree once both go through [`command_meta_view`].
pub fn agree_command_meta(
    sub: &str,
    respd: &[u8],
    redis: &[u8],
    respd_names: &BTreeSet<String>,
) -> bool {
    if respd == redis {
        return true;
    }
    match (parse(respd), parse(redis)) {
        (Some(a), Some(b)) => {
            command_meta_view(sub, &a, respd_names) == command_meta_view(sub, &b, respd_names)
        }
        _ => false,
    }
}

/// A COMMAND INFO or COMMAND DOCS reply (`sub`: "INFO" or "DOCS") with two differences that
/// are by design taken out, and nothing else:
///
/// - **A container's subcommand list may lack the subcommands respd does not implement.**
///   respd lists only the subcommands it has (CLIENT without CLIENT PAUSE, say), so that a
///   client never sees one that answers "unknown subcommand". So the subcommands whose full
///   name (`client|pause`) is not in `respd_names`, respd's COMMAND LIST, are removed.
///   A subcommand respd has but leaves out of the list is still a difference.
/// - **Subcommands come in no defined order.** Redis lists them in the order of its
///   subcommand dict, which depends on a hash seed drawn at startup, so two Redis processes
///   disagree with each other; they are sorted by name here.
pub fn command_meta_view(sub: &str, v: &Val, respd_names: &BTreeSet<String>) -> Val {
    let name_of = |v: &Val| match v {
        Val::Bulk(_, Some(b)) => String::from_utf8_lossy(b).to_lowercase(),
        _ => String::new(),
    };
    let Val::Agg(t, Some(items)) = v else {
        return v.clone();
    };
    let mut items = items.clone();
    if sub.eq_ignore_ascii_case("INFO") {
        // An array of entries; an entry's 10th element is the array of its subcommands'
        // entries, each named by its first element.
        for entry in items.iter_mut() {
            if let Val::Agg(_, Some(fields)) = entry {
                if let Some(Val::Agg(_, Some(subs))) = fields.get_mut(9) {
                    subs.retain(|s| match s {
                        Val::Agg(_, Some(f)) => {
                            f.first().is_some_and(|n| respd_names.contains(&name_of(n)))
                        }
                        _ => true,
                    });
                    subs.sort();
                }
            }
        }
    } else {
        // A map of name to docs (flattened); a doc map's "subcommands" value is again a map of
        // name to docs.
        for doc in items.iter_mut().skip(1).step_by(2) {
            if let Val::Agg(_, Some(fields)) = doc {
                for i in (0..fields.len().saturating_sub(1)).step_by(2) {
                    if name_of(&fields[i]) != "subcommands" {
                        continue;
                    }
                    if let Val::Agg(_, Some(subs)) = &mut fields[i + 1] {
                        let mut pairs: Vec<(Val, Val)> = subs
                            .chunks(2)
                            .filter(|p| p.len() == 2 && respd_names.contains(&name_of(&p[0])))
                            .map(|p| (p[0].clone(), p[1].clone()))
                            .collect();
                        pairs.sort();
                        *subs = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
                    }
                }
            }
        }
    }
    Val::Agg(*t, Some(items))
}

fn sorted(v: &Val, group: usize) -> Option<Vec<Vec<Val>>> {
    match v {
        Val::Agg(_, Some(items)) => {
            if items.len() % group != 0 {
                return None;
            }
            let mut chunks: Vec<Vec<Val>> = items.chunks(group).map(|c| c.to_vec()).collect();
            chunks.sort();
            Some(chunks)
        }
        _ => None,
    }
}

fn without_id(v: &Val) -> Val {
    match v {
        Val::Agg(t, Some(items)) => {
            let mut items = items.clone();
            for i in 0..items.len().saturating_sub(1) {
                if items[i] == Val::Bulk(b'$', Some(b"id".to_vec())) {
                    items[i + 1] = Val::Line(b':', b"0".to_vec());
                }
            }
            Val::Agg(*t, Some(items))
        }
        other => other.clone(),
    }
}

/// Keys whose contents differ between the servers for a legitimate reason.
#[derive(Default, Clone)]
pub struct Taint {
    keys: BTreeSet<Vec<u8>>,
    /// Some key has differed: key-space-wide replies (DBSIZE, KEYS, ...) may differ too.
    any: bool,
}

impl Taint {
    /// True if `argv`'s reply may legitimately differ because of earlier tainting.
    pub fn covers(&self, argv: &[Vec<u8>]) -> bool {
        (self.any && keyspace_wide(argv)) || argv.iter().skip(1).any(|a| self.keys.contains(a))
    }

    /// Marks every key argument of `argv` as tainted.
    pub fn taint(&mut self, argv: &[Vec<u8>]) {
        for a in argv.iter().skip(1) {
            if crate::gen::is_key(a) {
                self.keys.insert(a.clone());
                self.any = true;
            }
        }
        if keyspace_wide(argv) {
            self.any = true;
        }
    }

    /// Updates the taint after `argv` ran: FLUSHALL/FLUSHDB clear it; SPOP taints its key; a
    /// command that touched a tainted key taints its other keys (a destination, say).
    pub fn after(&mut self, argv: &[Vec<u8>], respd_reply: &[u8]) {
        let n = name(argv);
        if n == "FLUSHALL" || n == "FLUSHDB" {
            *self = Taint::default();
            return;
        }
        let clock_write = matches!(n.as_str(), "XADD" | "XCLAIM" | "XAUTOCLAIM" | "XREADGROUP");
        let random_write = (n == "SPOP" || clock_write) && respd_reply.first() != Some(&b'-');
        let random_store = n == "SORT" && matches!(rule_for(argv), Rule::Unordered | Rule::Random);
        if random_write || random_store || self.covers(argv) {
            self.taint(argv);
        }
    }
}
