//! Encoding records: the RESP form of a command as the AOF and replicas get it, and the
//! rewriting of relative expiries and random pops into what a replay repeats exactly.

use super::*;

pub(super) fn push_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(b'*');
    push_i64(out, args.len() as i64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_i64(out, arg.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

pub(super) fn push_select(out: &mut Vec<u8>, db: usize) {
    let n = db.to_string();
    push_command(out, [&b"SELECT"[..], n.as_bytes()].into_iter());
}

/// How a command is logged.
pub(super) enum Record<'a> {
    AsIs,
    Rewritten(Vec<Cow<'a, [u8]>>),
    Skip,
}

fn ms_arg(ms: i64) -> Cow<'static, [u8]> {
    Cow::Owned(ms.to_string().into_bytes())
}

/// The absolute deadline in ms for a relative or absolute expiry argument. `unit_ms` is 1000
/// for seconds; `relative` adds `now`. `None` if it does not parse or overflows (the handler
/// accepted it, so this does not happen; the command is then logged as is).
fn absolute(arg: &[u8], unit_ms: i64, relative: bool, now: u64) -> Option<i64> {
    let n = parse_i64(arg)?.checked_mul(unit_ms)?;
    if relative {
        n.checked_add(now as i64)
    } else {
        Some(n)
    }
}

/// The bulk strings of a reply (a bulk, or an array or set of bulks): what SPOP popped.
fn reply_bulks(mut reply: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    if matches!(reply.first(), Some(b'*' | b'~')) {
        match memchr::memchr(b'\n', reply) {
            Some(nl) => reply = &reply[nl + 1..],
            None => return out,
        }
    }
    while reply.first() == Some(&b'$') {
        let Some(nl) = memchr::memchr(b'\n', reply) else {
            break;
        };
        let Some(len) = std::str::from_utf8(&reply[1..nl - 1])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        else {
            break; // $-1: nothing popped
        };
        let start = nl + 1;
        if start + len + 2 > reply.len() {
            break;
        }
        out.push(&reply[start..start + len]);
        reply = &reply[start + len + 2..];
    }
    out
}

/// The key and the number of elements of an `[key, [elements]]` reply (LMPOP, ZMPOP).
fn reply_key_and_count(reply: &[u8]) -> Option<(Vec<u8>, i64)> {
    let key = reply_bulks(reply).into_iter().next()?.to_vec();
    // Skip `*2\r\n$<len>\r\n<key>\r\n`, then read the inner array's length.
    let nl = memchr::memchr(b'\n', reply)?;
    let rest = &reply[nl + 1..];
    let nl = memchr::memchr(b'\n', rest)?;
    let rest = rest.get(nl + 1 + key.len() + 2..)?;
    if !matches!(rest.first(), Some(b'*')) {
        return None;
    }
    let nl = memchr::memchr(b'\r', rest)?;
    let count = std::str::from_utf8(&rest[1..nl]).ok()?.parse().ok()?;
    Some((key, count))
}

/// Rewrites relative expiries as absolute ones (see the module docs for the list), and
/// SPOP (random) as the SREM of what it popped, read from its `reply`.
pub(super) fn translate<'a>(argv: &'a Argv, reply: &'a [u8], now: u64) -> Record<'a> {
    let name = &argv[0];
    // A command that changed nothing is not propagated (Redis propagates only when
    // `server.dirty` moved): a removal or an expiry that answers 0, a pop that found nothing,
    // a blocking command that blocked (its reply comes later, with its own record).
    let nothing = reply.is_empty()
        || reply == b":0\r\n"
        || reply.starts_with(b"$-1")
        || reply.starts_with(b"*-1")
        || reply.starts_with(b"_");
    let k = |s: &str| eq_ci(name, s);
    if nothing
        && ([
            "del", "unlink", "hdel", "srem", "zrem", "lrem", "persist", "expire", "pexpire",
        ]
        .iter()
        .chain(&[
            "expireat",
            "pexpireat",
            "getdel",
            "getex",
            "setnx",
            "hsetnx",
            "msetnx",
        ])
        .chain(&[
            "blpop",
            "brpop",
            "blmove",
            "brpoplpush",
            "bzpopmin",
            "bzpopmax",
        ])
        .chain(&[
            "lmpop", "blmpop", "zmpop", "bzmpop", "lpop", "rpop", "zpopmin",
        ])
        .chain(&[
            "zpopmax",
            "lmove",
            "rpoplpush",
            "smove",
            "sadd",
            "lpushx",
            "rpushx",
            "pfadd",
        ])
        .any(|c| k(c)))
    {
        return Record::Skip;
    }
    // SET NX/XX that did not set (without GET, its reply is then null).
    if k("set") && nothing && !argv.iter().skip(3).any(|a| eq_ci(a, "get")) {
        return Record::Skip;
    }
    // mirrors incrbyfloatCommand(): the result is propagated, not the increment, so a
    // replica cannot round differently.
    if k("incrbyfloat") {
        if let Some(value) = reply_bulks(reply).first() {
            return Record::Rewritten(vec![
                Cow::Borrowed(b"SET"),
                Cow::Borrowed(&argv[1]),
                Cow::Owned(value.to_vec()),
                Cow::Borrowed(b"KEEPTTL"),
            ]);
        }
    }
    if k("getdel") {
        return Record::Rewritten(vec![Cow::Borrowed(b"DEL"), Cow::Borrowed(&argv[1])]);
    }
    if k("getset") {
        let mut out: Vec<Cow<[u8]>> = (0..argv.len()).map(|i| Cow::Borrowed(&argv[i])).collect();
        out[0] = Cow::Borrowed(b"SET");
        return Record::Rewritten(out);
    }
    // Served at once, blocking commands are propagated as their non-blocking form
    // (Redis `blockingPopGenericCommand`, `blmpopGenericCommand`, `bzpopGenericCommand`).
    if k("blpop") || k("brpop") || k("bzpopmin") || k("bzpopmax") {
        let popped = reply_bulks(reply);
        if let Some(key) = popped.first() {
            let cmd: &[u8] = match name.to_ascii_lowercase().as_slice() {
                b"blpop" => b"LPOP",
                b"brpop" => b"RPOP",
                b"bzpopmin" => b"ZPOPMIN",
                _ => b"ZPOPMAX",
            };
            return Record::Rewritten(vec![Cow::Borrowed(cmd), Cow::Owned(key.to_vec())]);
        }
        return Record::Skip;
    }
    if k("blmove") {
        let mut out: Vec<Cow<[u8]>> = (0..5).map(|i| Cow::Borrowed(&argv[i])).collect();
        out[0] = Cow::Borrowed(b"LMOVE");
        return Record::Rewritten(out);
    }
    if k("brpoplpush") {
        return Record::Rewritten(vec![
            Cow::Borrowed(b"RPOPLPUSH"),
            Cow::Borrowed(&argv[1]),
            Cow::Borrowed(&argv[2]),
        ]);
    }
    if k("lmpop") || k("blmpop") || k("zmpop") || k("bzmpop") {
        // [B]LMPOP [timeout] numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]: propagated as
        // LPOP/RPOP/ZPOPMIN/ZPOPMAX key <popped>, the key and the count read from the reply
        // `[key, [elements]]`.
        let first = if k("blmpop") || k("bzmpop") { 2 } else { 1 };
        let numkeys = parse_i64(&argv[first]).unwrap_or(0).max(0) as usize;
        let side = argv
            .get(first + 1 + numkeys)
            .map(|a| a.to_ascii_lowercase());
        let cmd: &[u8] = match side.as_deref() {
            Some(b"left") => b"LPOP",
            Some(b"right") => b"RPOP",
            Some(b"min") => b"ZPOPMIN",
            _ => b"ZPOPMAX",
        };
        if let Some((key, count)) = reply_key_and_count(reply) {
            return Record::Rewritten(vec![Cow::Borrowed(cmd), Cow::Owned(key), ms_arg(count)]);
        }
        return Record::Skip;
    }
    if eq_ci(name, "spop") {
        let popped = reply_bulks(reply);
        if popped.is_empty() {
            return Record::Skip;
        }
        let mut out = vec![Cow::Borrowed(&b"SREM"[..]), Cow::Borrowed(&argv[1])];
        out.extend(popped.into_iter().map(Cow::Borrowed));
        return Record::Rewritten(out);
    }
    let arg = |i: usize| Cow::Borrowed(&argv[i]);
    if eq_ci(name, "set") {
        let mut out: Vec<Cow<[u8]>> = Vec::with_capacity(argv.len());
        let mut changed = false;
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            let unit = if i >= 3 && i + 1 < argv.len() {
                if eq_ci(a, "ex") {
                    Some((1000, true))
                } else if eq_ci(a, "px") {
                    Some((1, true))
                } else if eq_ci(a, "exat") {
                    Some((1000, false))
                } else if eq_ci(a, "pxat") {
                    Some((1, false))
                } else {
                    None
                }
            } else {
                None
            };
            match unit.and_then(|(u, rel)| absolute(&argv[i + 1], u, rel, now)) {
                Some(ms) => {
                    out.push(Cow::Borrowed(b"PXAT"));
                    out.push(ms_arg(ms));
                    changed = true;
                    i += 2;
                }
                None => {
                    out.push(arg(i));
                    i += 1;
                }
            }
        }
        return if changed {
            // mirrors setGenericCommand(): with an expiry the whole command is propagated as
            // `SET key value PXAT ms`, whatever other options it had (NX, XX, GET).
            let at = out.iter().position(|a| a.as_ref() == b"PXAT").unwrap_or(3);
            Record::Rewritten(vec![
                arg(0),
                arg(1),
                arg(2),
                Cow::Borrowed(b"PXAT"),
                out[at + 1].clone(),
            ])
        } else {
            Record::AsIs
        };
    }
    let setex = if eq_ci(name, "setex") {
        Some(1000)
    } else if eq_ci(name, "psetex") {
        Some(1)
    } else {
        None
    };
    if let (Some(unit), 4) = (setex, argv.len()) {
        if let Some(ms) = absolute(&argv[2], unit, true, now) {
            return Record::Rewritten(vec![
                Cow::Borrowed(b"SET"),
                arg(1),
                arg(3),
                Cow::Borrowed(b"PXAT"),
                ms_arg(ms),
            ]);
        }
        return Record::AsIs;
    }
    let expire = if eq_ci(name, "expire") {
        Some((1000, true))
    } else if eq_ci(name, "pexpire") {
        Some((1, true))
    } else if eq_ci(name, "expireat") {
        Some((1000, false))
    } else if eq_ci(name, "pexpireat") {
        Some((1, false))
    } else {
        None
    };
    if let Some((unit, rel)) = expire {
        if let Some(ms) = absolute(&argv[2], unit, rel, now) {
            // mirrors expireGenericCommand(): a deadline already past deleted the key.
            if ms <= now as i64 {
                return Record::Rewritten(vec![Cow::Borrowed(b"DEL"), arg(1)]);
            }
            if eq_ci(name, "pexpireat") {
                return Record::AsIs;
            }
            let mut out = vec![Cow::Borrowed(&b"PEXPIREAT"[..]), arg(1), ms_arg(ms)];
            out.extend((3..argv.len()).map(arg));
            return Record::Rewritten(out);
        }
        return Record::AsIs;
    }
    // RESTORE with a relative TTL is logged with the deadline and ABSTTL (Redis
    // `restoreCommand` rewrites its argv the same way).
    if eq_ci(name, "restore") && argv.len() >= 4 {
        let absttl = argv.iter().skip(4).any(|a| eq_ci(a, "absttl"));
        if let (false, Some(ttl @ 1..)) = (absttl, parse_i64(&argv[2])) {
            if let Some(ms) = ttl.checked_add(now as i64) {
                let mut out: Vec<Cow<[u8]>> = (0..argv.len()).map(arg).collect();
                out[2] = ms_arg(ms);
                out.push(Cow::Borrowed(b"ABSTTL"));
                return Record::Rewritten(out);
            }
        }
        return Record::AsIs;
    }
    if eq_ci(name, "getex") {
        if argv.len() == 2 {
            return Record::Skip;
        }
        if argv.len() == 3 && eq_ci(&argv[2], "persist") {
            return Record::Rewritten(vec![Cow::Borrowed(b"PERSIST"), arg(1)]);
        }
        if argv.len() == 4 {
            let unit = match &argv[2] {
                a if eq_ci(a, "ex") => Some((1000, true)),
                a if eq_ci(a, "px") => Some((1, true)),
                a if eq_ci(a, "exat") => Some((1000, false)),
                a if eq_ci(a, "pxat") => Some((1, false)),
                _ => None,
            };
            if let Some(ms) = unit.and_then(|(u, rel)| absolute(&argv[3], u, rel, now)) {
                // mirrors getexCommand(): a deadline already past deleted the key.
                if ms <= now as i64 {
                    return Record::Rewritten(vec![Cow::Borrowed(b"DEL"), arg(1)]);
                }
                return Record::Rewritten(vec![Cow::Borrowed(b"PEXPIREAT"), arg(1), ms_arg(ms)]);
            }
        }
        return Record::AsIs;
    }
    Record::AsIs
}
