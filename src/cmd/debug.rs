//! DEBUG: the subcommands respd has, PANIC, SLEEP, DIGEST, DIGEST-VALUE, POPULATE,
//! SET-ACTIVE-EXPIRE and CONFIG-REWRITE-FORCE-ALL.
//!
//! Counterpart of Redis `src/debug.c` (`debugCommand`). Redis's DEBUG has dozens of
//! subcommands for its test suite; respd implements PANIC, which exists to check what a
//! panic inside a command does to the dataset and the AOF (see "When a command panics" in
//! [`super`]), CONFIG-REWRITE-FORCE-ALL, which the suite uses to check that a config file
//! holding every directive reads back, SLEEP, which the suite uses to make a server stop
//! answering for a while (MIGRATE's timeout test), DIGEST and DIGEST-VALUE, which the suite
//! uses to compare a master's dataset with its replica's, POPULATE and SET-ACTIVE-EXPIRE, with
//! which it fills a dataset and holds expiry back, and HELP. Like every DEBUG in Redis 7.0 it is refused unless
//! `enable-debug-command` allows the client (the dispatcher checks the `PROTECTED` flag).

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::util::eq_ci;

/// The DEBUG row of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::PROTECTED), KeySpec::NONE, Group::Server, Handler::Conn(debug))];

/// ```text
/// DEBUG PANIC
/// DEBUG CONFIG-REWRITE-FORCE-ALL
/// DEBUG SLEEP seconds
/// DEBUG HELP
/// ```
/// SLEEP blocks the whole server for `seconds` (a decimal number read as C's `strtod` reads
/// it: junk after the number is ignored, no number at all is 0) and then replies `+OK`. Redis
/// sleeps in its only thread; respd holds the keyspace write lock, so every command that
/// reads or writes keys waits (PING and the like, which touch no key, still answer).
/// PANIC never replies: it panics inside the command, which logs a bug report and exits the
/// process with status 1. CONFIG-REWRITE-FORCE-ALL is CONFIG REWRITE writing every directive,
/// defaults included: `+OK`, or `ERR CONFIG-REWRITE-FORCE-ALL failed: <strerror>`. HELP lists
/// the subcommands (Redis's HELP lists neither test aid). Errors: Redis's "unknown subcommand or
/// wrong number of arguments" for anything else.
/// Checked against Redis 7.0.15 (`serverPanic("DEBUG PANIC called at Unix time ...")`).
pub fn debug(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sub = &argv[1];
    if argv.len() == 2 && eq_ci(sub, "config-rewrite-force-all") {
        let config = ctx.shared.config.read().clone();
        // Without a config file Redis passes a NULL path to fopen(), which fails with EFAULT.
        let outcome = if config.config_file.is_empty() {
            Err(std::io::Error::from_raw_os_error(14))
        } else {
            crate::config_rewrite::rewrite_config(&config, true)
        };
        if let Err(e) = outcome {
            return Err(CmdError::owned(format!(
                "ERR CONFIG-REWRITE-FORCE-ALL failed: {}",
                crate::sys::strerror(&e)
            )));
        }
        reply.ok();
        return Ok(());
    }
    if argv.len() == 2 && eq_ci(sub, "panic") {
        panic!(
            "DEBUG PANIC called at Unix time {}",
            crate::util::now_ms() / 1000
        );
    }
    if argv.len() == 3 && eq_ci(sub, "sleep") {
        let seconds = strtod_prefix(&argv[2]);
        // Redis converts to whole microseconds and nanosleep()s; a negative time fails at once.
        let micros = (seconds * 1e6) as i64;
        let _everyone_waits = ctx.shared.store.write();
        if micros > 0 {
            std::thread::sleep(std::time::Duration::from_micros(micros as u64));
        }
        reply.ok();
        return Ok(());
    }
    if (3..=5).contains(&argv.len()) && eq_ci(sub, "populate") {
        return populate(ctx, argv, reply);
    }
    if argv.len() == 3 && eq_ci(sub, "set-active-expire") {
        // Redis reads the flag with atoi(): anything but a number is 0.
        let on = crate::util::parse_i64(&argv[2]).is_some_and(|n| n != 0);
        (ctx.shared.active_expire_enabled).store(on, std::sync::atomic::Ordering::Relaxed);
        reply.ok();
        return Ok(());
    }
    if argv.len() == 2 && eq_ci(sub, "digest") {
        let ks = ctx.shared.store.read();
        reply.simple(&hex(&dataset_digest(&ks)));
        return Ok(());
    }
    if eq_ci(sub, "digest-value") {
        let ks = ctx.shared.store.read();
        let db = &ks.dbs()[ctx.client.db];
        reply.array(argv.len() - 2);
        for key in argv.iter().skip(2) {
            // mirrors debugCommand(): logically expired keys count too; a missing key is
            // twenty zero bytes.
            let mut digest = [0u8; 20];
            if let Some((_, entry)) = db.iter().find(|(k, _)| *k == key) {
                value_digest(&mut digest, entry);
            }
            reply.simple(&hex(&digest));
        }
        return Ok(());
    }
    if argv.len() == 2 && eq_ci(sub, "help") {
        super::connection::reply_help(
            reply,
            "DEBUG",
            &[
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "PANIC",
                "    Crash the server simulating a panic.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
        return Ok(());
    }
    // Redis `addReplySubcommandSyntaxError`, as PUBSUB's handler words it too.
    Err(CmdError::SubcommandSyntax)
}

/// DEBUG POPULATE count [prefix] [size]: `count` string keys `<prefix>:<n>` (prefix `key`)
/// holding `value:<n>`, or `size` bytes starting with it and padded with zero bytes; keys
/// that exist are left alone. Not propagated, as in Redis (DEBUG is no write command).
fn populate(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    // Redis 7.0.15 answers "must be positive" for a count that is no integer too.
    let positive = |arg: &[u8]| match crate::util::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::NotPositive),
    };
    let count = positive(&argv[2])?;
    let size = if argv.len() == 5 {
        positive(&argv[4])? as usize
    } else {
        0
    };
    let prefix: &[u8] = if argv.len() == 3 { b"key" } else { &argv[3] };
    let now = ctx.shared.clock.now_ms();
    let mut ks = ctx.shared.store.write();
    let db = ks.db_mut(ctx.client.db);
    for n in 0..count {
        let mut key = prefix.to_vec();
        key.push(b':');
        key.extend_from_slice(n.to_string().as_bytes());
        if db.get_mut(&key, now).is_some() {
            continue;
        }
        let mut value = format!("value:{n}").into_bytes();
        if size > 0 {
            value.resize(size, 0);
        }
        let value = crate::store::Value::Str(crate::store::SmallBytes::from_slice(&value));
        db.set(&key, value, now);
    }
    reply.ok();
    Ok(())
}

/// The dataset's digest, Redis's `computeDatasetDigest`: per key, the key and its value
/// mixed in order-sensitive steps, the keys of a database combined by XOR (their order in
/// the table does not matter), each non-empty database introduced by its index. Equal
/// datasets give equal digests on respd and Redis alike, whatever their encodings.
fn dataset_digest(ks: &crate::store::Keyspace) -> [u8; 20] {
    let mut total = [0u8; 20];
    for (index, db) in ks.dbs().iter().enumerate() {
        let mut keys = db.iter().peekable();
        if keys.peek().is_none() {
            continue;
        }
        mix(&mut total, &(index as u32).to_be_bytes());
        for (key, entry) in keys {
            let mut digest = [0u8; 20];
            mix(&mut digest, key);
            value_digest(&mut digest, entry);
            xor(&mut total, &digest);
        }
    }
    total
}

/// One value's part of the digest (Redis `xorObjectDigest`): its type number, its
/// contents (lists and streams in order, sets, hashes and sorted sets as an XOR of their
/// elements), and a mark if it has a TTL.
fn value_digest(digest: &mut [u8; 20], entry: &crate::store::Entry) {
    use crate::store::Value;
    // Redis's OBJ_STRING, OBJ_LIST, OBJ_SET, OBJ_ZSET, OBJ_HASH, OBJ_STREAM.
    let type_number: u32 = match &entry.value {
        Value::Int(_) | Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    };
    mix(digest, &type_number.to_be_bytes());
    match &entry.value {
        Value::Int(n) => mix(digest, n.to_string().as_bytes()),
        Value::Str(s) => mix(digest, s),
        Value::List(list) => list.iter().for_each(|e| mix(digest, e)),
        Value::Set(set) => set.keys().for_each(|m| xor(digest, m)),
        Value::ZSet(z) => {
            for (member, score) in z.range_by_rank(0, z.len().saturating_sub(1), false) {
                let mut element = [0u8; 20];
                mix(&mut element, member);
                mix(&mut element, crate::util::format_f64(score).as_bytes());
                xor(digest, &element);
            }
        }
        Value::Hash(h) => {
            for (field, value) in h.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, field);
                mix(&mut element, value);
                xor(digest, &element);
            }
        }
        Value::Stream(s) => {
            use crate::store::stream::StreamId;
            for (id, fields) in s.range(StreamId::MIN, StreamId::MAX, false) {
                mix(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                fields.iter().for_each(|f| mix(digest, f));
            }
        }
    }
    if entry.expire_at().is_some() {
        xor(digest, b"!!expire!!");
    }
}

fn sha1(data: &[u8]) -> [u8; 20] {
    crate::script::sha1::sha1(data)
}

/// `digest ^= SHA1(data)` (Redis `xorDigest`): the order of such steps does not count.
fn xor(digest: &mut [u8; 20], data: &[u8]) {
    let hash = sha1(data);
    digest.iter_mut().zip(hash).for_each(|(d, x)| *d ^= x);
}

/// `digest = SHA1(digest ^ SHA1(data))` (Redis `mixDigest`): the order of the steps counts.
fn mix(digest: &mut [u8; 20], data: &[u8]) {
    xor(digest, data);
    *digest = sha1(digest);
}

fn hex(digest: &[u8; 20]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// C `strtod` without its error reporting: the number at the start of `arg` after leading
/// blanks, ignoring what follows; 0 when there is none.
fn strtod_prefix(arg: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    (1..=text.len())
        .rev()
        .filter(|&end| text.is_char_boundary(end))
        .find_map(|end| text[..end].parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::strtod_prefix;

    #[test]
    fn strtod_prefix_reads_the_leading_number() {
        assert_eq!(strtod_prefix(b"0.25"), 0.25);
        assert_eq!(strtod_prefix(b" 2abc"), 2.0);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b"-1"), -1.0);
    }
}
