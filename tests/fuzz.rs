//! Differential fuzzer: the same generated input goes to respd (its real binary) and to a live
//! redis-server 7.0, and everything observable is compared — reply bytes, whether the
//! connection was closed, whether respd died or panicked, whether it answered at all (a
//! per-case deadline), and its resident memory.
//!
//! Cases come from a seeded PRNG (tests/fuzz/gen.rs): valid commands on a six-key space with
//! absurd arguments, long pipelines, MULTI blocks, inline lines with quotes and odd
//! separators, damaged RESP frames, random bytes. Differences that are legitimate are
//! filtered by *rule* (tests/fuzz/rules.rs), never by sample; a command Redis has and respd
//! does not is counted as "unimplemented", not as a failure.
//!
//! Every case starts from the same state: `RESET` and `FLUSHALL` go first in the same write,
//! and an `ECHO` sentinel goes last, so the fuzzer knows when both servers are done without
//! waiting for silence. Connections are reused while they stay clean.
//!
//! On a difference the case is shrunk (pieces dropped, then bytes of raw pieces, while the same
//! difference persists) and printed as bytes to replay, with both replies. At the end the
//! counts per class are printed, and the test fails on any crash, panic, hang, memory overrun
//! or unexplained difference.
//!
//! It runs in the default `cargo test`, bounded: seeds 1, 2 and 3 for 75 s in all (about 4,400
//! cases with a debug build on a 2-core machine), so what CI sends is fixed by the seeds and
//! the pace of the machine; any finding fails the test. Longer runs and other seeds are a
//! matter of environment variables:
//!
//! ```sh
//! cargo test --test fuzz -- --nocapture                 # default seeds, ~75 s
//! FUZZ_SEED=7 FUZZ_SECONDS=600 cargo test --test fuzz -- --nocapture
//! FUZZ_SEED=7 FUZZ_CASE=1234 cargo test --test fuzz -- --nocapture   # replay one case
//! ```
//!
//! `FUZZ_SEED` takes one seed or a comma-separated list (default `1,2,3`), `FUZZ_SECONDS` the
//! total time (default 75), `FUZZ_CASES` a cap per seed, `FUZZ_REPORT=path` writes the distinct
//! findings as Markdown.

mod common;
#[path = "fuzz/gen.rs"]
mod gen;
#[path = "fuzz/rules.rs"]
mod rules;
#[path = "fuzz/servers.rs"]
mod servers;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{parse_reply, show, RedisServer};
use gen::{Case, Piece};
use rules::{agree, name, rule_for, Rule, Taint};
use servers::{Conn, Received, Respd};

/// How long respd may stay silent after Redis has answered before the case is a hang.
const HANG: Duration = Duration::from_secs(2);
/// How long to wait for Redis on a raw case that may leave a frame incomplete on purpose.
const RAW_WAIT: Duration = Duration::from_millis(150);
/// How much longer respd gets when Redis itself is still waiting for the rest of a frame
/// (both received the bytes at the same moment, so both have waited RAW_WAIT already).
const RAW_EXTRA: Duration = Duration::from_millis(50);
/// Memory bounds: respd's RSS must stay under this …
const RSS_LIMIT: u64 = 400 << 20;
/// … and under this many times Redis's, plus the slack below.
const RSS_FACTOR: u64 = 10;
const RSS_SLACK: u64 = 64 << 20;

const SENTINEL: &[u8] = b"fz-sentinel-9f3b";
fn sentinel_reply() -> Vec<u8> {
    format!(
        "${}\r\n{}\r\n",
        SENTINEL.len(),
        String::from_utf8_lossy(SENTINEL)
    )
    .into_bytes()
}

/// What kind of outcome a case had. The ones that fail the test come first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Crashed,
    Panicked,
    Hang,
    Rss,
    RespdClosed,
    RespdStayedOpen,
    ReplyDiffers,
    Unimplemented,
    /// The reference did not answer in time (a stalled or overloaded machine): nothing to
    /// compare, and not respd's doing.
    RedisStalled,
    Same,
}

impl Class {
    fn fails(self) -> bool {
        self < Class::Unimplemented
    }
    fn label(self) -> &'static str {
        match self {
            Class::Crashed => "respd crashed",
            Class::Panicked => "respd panicked",
            Class::Hang => "hang",
            Class::Rss => "RSS",
            Class::RespdClosed => "respd closed",
            Class::RespdStayedOpen => "respd stayed open",
            Class::ReplyDiffers => "reply differs",
            Class::Unimplemented => "unimplemented",
            Class::RedisStalled => "redis stalled",
            Class::Same => "same",
        }
    }
}

/// The outcome of one case.
#[derive(Clone, Debug)]
struct Outcome {
    class: Class,
    /// The command whose reply differs ("<stream>" for raw cases).
    command: String,
    respd: Vec<u8>,
    redis: Vec<u8>,
    note: String,
    /// Commands classified as unimplemented on the way.
    unimplemented: Vec<String>,
    /// Replies that differ but agree under a rule, by rule (`Dump`, `Unordered`, ...; `taint`
    /// for a key a random or unimplemented command changed).
    tolerated: BTreeMap<String, usize>,
    /// Index in the case's pieces of the command whose reply differs, when known.
    piece: Option<usize>,
}

impl Outcome {
    fn same() -> Outcome {
        Outcome {
            class: Class::Same,
            command: String::new(),
            respd: Vec::new(),
            redis: Vec::new(),
            note: String::new(),
            unimplemented: Vec::new(),
            tolerated: BTreeMap::new(),
            piece: None,
        }
    }

    /// Identity of a finding: class, command, and both replies with numbers and quoted text
    /// blurred (the same bug with other arguments is the same finding).
    fn signature(&self) -> String {
        format!(
            "{} | {} | {} | {}",
            self.class.label(),
            self.command,
            blur(&self.respd),
            blur(&self.redis)
        )
    }

    /// A looser identity used while shrinking, where arguments (and so echoed text) change.
    fn shrink_key(&self) -> String {
        let head = |b: &[u8]| blur(b).chars().take(14).collect::<String>();
        format!(
            "{} | {} | {} | {}",
            self.class.label(),
            self.command,
            head(&self.respd),
            head(&self.redis)
        )
    }
}

fn blur(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(90)]).into_owned();
    let mut out = String::new();
    let mut in_quote = false;
    for c in s.chars() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                out.push(c);
            }
            _ if in_quote => {}
            '0'..='9' => {
                if !out.ends_with('9') {
                    out.push('9')
                }
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Splits a reply stream into whole replies (a trailing partial one is dropped).
fn split_replies(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Ok(Some(p)) = parse_reply(buf, pos) {
        out.push(buf[pos..p.end].to_vec());
        pos = p.end;
    }
    out
}

/// Counts whole replies, or `None` when the bytes are not RESP.
fn count_replies(buf: &[u8]) -> Option<usize> {
    let mut n = 0;
    let mut pos = 0;
    loop {
        match parse_reply(buf, pos) {
            Ok(Some(p)) => {
                n += 1;
                pos = p.end;
            }
            Ok(None) => return Some(n),
            Err(_) => return None,
        }
    }
}

struct Fuzzer {
    respd: Respd,
    redis: RedisServer,
    respd_conn: Option<Conn>,
    redis_conn: Option<Conn>,
    /// Lowercase names (`geoadd`, `client|pause`) Redis has and respd does not.
    redis_only: BTreeSet<String>,
    /// Lowercase names respd's `COMMAND LIST` prints (for [`rules::command_meta_view`]).
    respd_names: BTreeSet<String>,
    rss_peak: (u64, u64),
}

fn command_list(conn: &mut Conn) -> BTreeSet<String> {
    let _ = conn.send(b"COMMAND LIST\r\n");
    let r = conn.read_until(
        &|b: &[u8]| count_replies(b).map_or(true, |n| n >= 1),
        Instant::now() + Duration::from_secs(5),
    );
    match rules::parse(&r.bytes) {
        Some(rules::Val::Agg(_, Some(items))) => items
            .into_iter()
            .filter_map(|v| match v {
                rules::Val::Bulk(_, Some(b)) => Some(String::from_utf8_lossy(&b).to_lowercase()),
                _ => None,
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

impl Fuzzer {
    fn new(redis: RedisServer) -> Fuzzer {
        let respd = Respd::start();
        let mut redis_names = command_list(&mut Conn::connect(redis.addr()).unwrap());
        let respd_names = command_list(&mut Conn::connect(respd.addr()).unwrap());
        redis_names.retain(|n| !respd_names.contains(n));
        Fuzzer {
            respd,
            redis,
            respd_conn: None,
            redis_conn: None,
            redis_only: redis_names,
            respd_names,
            rss_peak: (0, 0),
        }
    }

    /// True if `argv` is a command (or subcommand) Redis has and respd lacks, or a COMMAND
    /// INFO/DOCS/GETKEYS about one. Decided by name from both servers' `COMMAND LIST`, not by
    /// respd's reply: an "unknown command" error for RPUSH is a bug, not a gap.
    fn mentions_unimplemented(&self, argv: &[Vec<u8>]) -> bool {
        let lower = |a: &[u8]| String::from_utf8_lossy(a).to_lowercase();
        let Some(first) = argv.first() else {
            return false;
        };
        let cmd = lower(first);
        if self.redis_only.contains(&cmd) {
            return true;
        }
        if let Some(sub) = argv.get(1) {
            if self.redis_only.contains(&format!("{cmd}|{}", lower(sub))) {
                return true;
            }
        }
        cmd == "command"
            && argv
                .iter()
                .skip(2)
                .any(|a| self.redis_only.contains(&lower(a)))
    }

    fn restart_respd(&mut self) {
        self.respd_conn = None;
        self.respd = Respd::start();
    }

    /// Checks RSS of both servers; returns an outcome if respd is over its bounds.
    fn check_rss(&mut self) -> Option<Outcome> {
        let respd = common::rss_of(self.respd.pid())?;
        let redis = common::rss_of(self.redis.pid()).unwrap_or(0);
        self.rss_peak.0 = self.rss_peak.0.max(respd);
        self.rss_peak.1 = self.rss_peak.1.max(redis);
        if respd > RSS_LIMIT || respd > redis * RSS_FACTOR + RSS_SLACK {
            let mut o = Outcome::same();
            o.class = Class::Rss;
            o.command = "<rss>".into();
            o.note = format!("respd RSS {} MiB, redis {} MiB", respd >> 20, redis >> 20);
            return Some(o);
        }
        None
    }

    /// Runs one case on both servers and compares. `fresh` opens new connections first.
    fn run(&mut self, case: &Case, fresh: bool) -> Outcome {
        if self.respd.exited().is_some() {
            self.restart_respd();
        }
        if self.redis.has_exited() {
            panic!("redis-server died: the fuzzer cannot go on without its reference");
        }
        if fresh {
            self.respd_conn = None;
            self.redis_conn = None;
        }
        let structured = case.structured();
        let mut bytes = Vec::new();
        let mut commands: Vec<Vec<Vec<u8>>> =
            vec![vec![b"RESET".to_vec()], vec![b"FLUSHALL".to_vec()]];
        for c in &commands {
            bytes.extend(Piece::Cmd(c.clone()).bytes());
        }
        for p in &case.pieces {
            bytes.extend(p.bytes());
            if let Piece::Cmd(argv) = p {
                commands.push(argv.clone());
            }
        }
        let sentinel = vec![b"ECHO".to_vec(), SENTINEL.to_vec()];
        if structured {
            bytes.extend(Piece::Cmd(sentinel.clone()).bytes());
            commands.push(sentinel);
        } else {
            bytes.extend_from_slice(b"\r\nDISCARD\r\nECHO ");
            bytes.extend_from_slice(SENTINEL);
            bytes.extend_from_slice(b"\r\n");
        }
        let expected = commands.len();
        let sreply = sentinel_reply();
        let done = move |b: &[u8]| -> bool {
            if structured {
                count_replies(b).map_or(true, |n| n >= expected)
            } else {
                b.ends_with(&sreply) || count_replies(b).is_none()
            }
        };

        let stderr_mark = self.respd.stderr_len();
        if self.redis_conn.is_none() {
            self.redis_conn = Some(Conn::connect(self.redis.addr()).expect("connect to redis"));
        }
        let respd_connected = match &self.respd_conn {
            Some(_) => true,
            None => match Conn::connect(self.respd.addr()) {
                Ok(c) => {
                    self.respd_conn = Some(c);
                    true
                }
                Err(_) => false,
            },
        };
        let redis_conn = self.redis_conn.as_mut().unwrap();
        // A send can fail only once Redis has refused the input and closed (a line over the
        // inline limit, say): reading then sees the close.
        let _ = redis_conn.send(&bytes);
        let respd_sent = respd_connected && self.respd_conn.as_mut().unwrap().send(&bytes).is_ok();

        let t0 = Instant::now();
        let redis_wait = if structured {
            Duration::from_secs(10)
        } else {
            RAW_WAIT
        };
        let redis = redis_conn.read_until(&done, Instant::now() + redis_wait);
        let respd_wait = if redis.done || redis.closed {
            HANG
        } else {
            RAW_EXTRA
        };
        let respd = match (&mut self.respd_conn, respd_sent) {
            (Some(c), true) => c.read_until(&done, Instant::now() + respd_wait),
            _ => Received {
                closed: true,
                ..Received::default()
            },
        };

        if std::env::var_os("FUZZ_TRACE").is_some() && !redis.done && !redis.closed {
            eprintln!(
                "incomplete: {} {}",
                case.kind,
                show(&bytes[..bytes.len().min(300)])
            );
        }
        if std::env::var_os("FUZZ_TRACE_ALL").is_some() {
            eprintln!(
                "trace: {:?} {} pieces={} redis(done={} closed={} {}B) respd(done={} closed={} {}B) {:?}",
                t0.elapsed(), case.kind, case.pieces.len(), redis.done, redis.closed, redis.bytes.len(),
                respd.done, respd.closed, respd.bytes.len(),
                case.pieces.iter().filter_map(|p| match p { Piece::Cmd(a) => Some(name(a)), _ => None }).collect::<Vec<_>>()
            );
        }
        // A clean exchange keeps its connections; anything else starts over next time.
        let clean = |r: &Received| {
            r.done
                && !r.closed
                && count_replies(&r.bytes) == Some(expected_or(structured, expected, &r.bytes))
        };
        if !clean(&redis) || !clean(&respd) {
            self.respd_conn = None;
            self.redis_conn = None;
        }

        let mut outcome = if structured && !redis.done && !redis.closed {
            let mut o = Outcome::same();
            o.class = Class::RedisStalled;
            o.note = format!("redis sent {} bytes in {redis_wait:?}", redis.bytes.len());
            o
        } else if structured {
            self.compare_structured(&commands, &respd, &redis)
        } else {
            compare_stream(&respd, &redis)
        };

        // Death and panics outrank whatever the bytes say.
        // (A panicking connection thread closes its socket after printing the message, so a
        // short wait lets the stderr reader catch up before the verdict.)
        if (respd.closed && !redis.closed) || (!respd.done && redis.done) {
            std::thread::sleep(Duration::from_millis(30));
        }
        if let Some(status) = self.respd.exited() {
            let panics = self.respd.panics_since(stderr_mark);
            outcome = blame(outcome, Class::Crashed, &panics);
            outcome.note = format!("respd exited: {status}; {}", panics.join(" / "));
            self.restart_respd();
        } else {
            let panics = self.respd.panics_since(stderr_mark);
            if !panics.is_empty() {
                outcome = blame(outcome, Class::Panicked, &panics);
                outcome.note = panics.join(" / ");
            }
        }
        if outcome.class == Class::Hang {
            // A hung respd may be stuck for good: check it still answers, else restart it.
            if !Conn::connect(self.respd.addr()).is_ok_and(|mut c| {
                c.send(b"PING\r\n").is_ok()
                    && c.read_until(&|b: &[u8]| b.ends_with(b"\r\n"), Instant::now() + HANG)
                        .bytes
                        == b"+PONG\r\n"
            }) {
                outcome
                    .note
                    .push_str(" (respd no longer answers PING: restarted)");
                self.restart_respd();
            }
        }
        outcome
    }

    fn compare_structured(
        &self,
        commands: &[Vec<Vec<u8>>],
        respd: &Received,
        redis: &Received,
    ) -> Outcome {
        let a = split_replies(&respd.bytes);
        let b = split_replies(&redis.bytes);
        let mut out = Outcome::same();
        let mut taint = Taint::default();
        let mut in_multi = false;
        let mut queued: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut multi_unimplemented = false;
        let n = a.len().min(b.len());
        for i in 0..n {
            let argv = &commands[i];
            let cname = name(argv);
            let (ra, rb) = (&a[i], &b[i]);
            if in_multi
                && !matches!(
                    cname.as_str(),
                    "EXEC" | "DISCARD" | "MULTI" | "WATCH" | "RESET"
                )
            {
                if rb == b"+QUEUED\r\n" {
                    queued.push(argv.clone());
                }
                if ra == rb {
                    continue;
                }
                if self.mentions_unimplemented(argv) {
                    multi_unimplemented = true;
                    out.unimplemented.push(cname);
                    continue;
                }
                return at(differs(out, cname, ra, rb), i);
            }
            match cname.as_str() {
                "MULTI" if rb == b"+OK\r\n" => {
                    in_multi = true;
                    queued.clear();
                    multi_unimplemented = false;
                }
                "EXEC" | "DISCARD" if in_multi && !rb.starts_with(b"-ERR wrong number") => {
                    in_multi = false;
                    if cname == "EXEC" {
                        if let Some(o) = self.compare_exec(
                            &queued,
                            ra,
                            rb,
                            multi_unimplemented,
                            &mut taint,
                            &mut out,
                        ) {
                            return at(o, i);
                        }
                        continue;
                    }
                }
                _ => {}
            }
            if let Some(o) = self.compare_one(argv, ra, rb, &mut taint, &mut out) {
                return at(o, i);
            }
        }
        if a.len() < b.len() {
            let class = if respd.closed {
                Class::RespdClosed
            } else if !respd.done {
                Class::Hang
            } else {
                Class::ReplyDiffers
            };
            out.class = class;
            out.command = commands.get(a.len()).map(|c| name(c)).unwrap_or_default();
            out.respd = respd.bytes[respd.bytes.len().saturating_sub(200)..].to_vec();
            out.redis = b[a.len()].clone();
            out.note = format!("respd sent {} of {} replies", a.len(), b.len());
            return at(out, a.len());
        }
        if a.len() > b.len() {
            out.class = Class::ReplyDiffers;
            out.command = commands
                .get(b.len())
                .map(|c| name(c))
                .unwrap_or("<extra>".into());
            out.respd = a[b.len()].clone();
            out.note = format!("respd sent {} replies, redis {}", a.len(), b.len());
            return at(out, b.len());
        }
        if respd.closed != redis.closed {
            out.class = if respd.closed {
                Class::RespdClosed
            } else {
                Class::RespdStayedOpen
            };
            out.command = commands.last().map(|c| name(c)).unwrap_or_default();
            return out;
        }
        if !out.unimplemented.is_empty() {
            out.class = Class::Unimplemented;
        }
        out
    }

    /// Compares one reply pair; `Some` on an unexplained difference.
    fn compare_one(
        &self,
        argv: &[Vec<u8>],
        ra: &[u8],
        rb: &[u8],
        taint: &mut Taint,
        out: &mut Outcome,
    ) -> Option<Outcome> {
        let rule = rule_for(argv);
        let agreed = match rule {
            Rule::CommandMeta => {
                let sub = String::from_utf8_lossy(&argv[1]).to_string();
                rules::agree_command_meta(&sub, ra, rb, &self.respd_names)
            }
            _ => agree(rule, ra, rb),
        };
        if !agreed {
            if self.mentions_unimplemented(argv) {
                out.unimplemented.push(name(argv));
                taint.taint(argv);
            } else if taint.covers(argv) {
                *out.tolerated.entry("taint".into()).or_default() += 1;
            } else {
                return Some(differs(out.clone(), name(argv), ra, rb));
            }
        } else if rule != Rule::Exact && ra != rb {
            *out.tolerated.entry(format!("{rule:?}")).or_default() += 1;
            if rule == Rule::SortScores {
                // respd sorted (and maybe stored) where Redis refused: the keys now differ.
                taint.taint(argv);
            }
        }
        taint.after(argv, ra);
        None
    }

    fn compare_exec(
        &self,
        queued: &[Vec<Vec<u8>>],
        ra: &[u8],
        rb: &[u8],
        multi_unimplemented: bool,
        taint: &mut Taint,
        out: &mut Outcome,
    ) -> Option<Outcome> {
        if ra == rb {
            for q in queued {
                taint.after(q, b"");
            }
            return None;
        }
        if multi_unimplemented {
            out.unimplemented
                .push("EXEC (after an unimplemented command)".into());
            for q in queued {
                taint.taint(q);
            }
            return None;
        }
        let parts = |r: &[u8]| -> Option<Vec<Vec<u8>>> {
            let p = parse_reply(r, 0).ok()??;
            Some(p.elements?.iter().map(|&(s, e)| r[s..e].to_vec()).collect())
        };
        match (parts(ra), parts(rb)) {
            (Some(xa), Some(xb)) if xa.len() == xb.len() && xb.len() == queued.len() => {
                for ((q, ea), eb) in queued.iter().zip(&xa).zip(&xb) {
                    if let Some(mut o) = self.compare_one(q, ea, eb, taint, out) {
                        o.note = format!("inside EXEC; {}", o.note);
                        return Some(o);
                    }
                }
                None
            }
            _ => Some(differs(out.clone(), "EXEC".into(), ra, rb)),
        }
    }
}

fn expected_or(structured: bool, expected: usize, bytes: &[u8]) -> usize {
    if structured {
        expected
    } else {
        count_replies(bytes).unwrap_or(usize::MAX)
    }
}

/// A crash or panic is named after where it happened (`src/store/zset.rs:792`), not after the
/// reply it cut short: replies are flushed per batch, so the first missing one is often the
/// prefix's, and the same bug must keep one name while the case shrinks.
fn blame(mut o: Outcome, class: Class, panics: &[String]) -> Outcome {
    o.class = class;
    o.command = panics
        .iter()
        .find_map(|p| {
            let at = p.split("panicked at ").nth(1)?;
            let mut parts = at.split(':');
            Some(format!("{}:{}", parts.next()?, parts.next()?))
        })
        .unwrap_or_else(|| "<no panic message>".into());
    o.respd.clear();
    o.redis.clear();
    o
}

/// Records which piece a difference belongs to: command `i` of the exchange, after the two
/// commands of the prefix.
fn at(mut o: Outcome, i: usize) -> Outcome {
    o.piece = i.checked_sub(2);
    o
}

fn differs(mut out: Outcome, command: String, ra: &[u8], rb: &[u8]) -> Outcome {
    out.class = Class::ReplyDiffers;
    out.command = command;
    out.respd = ra.to_vec();
    out.redis = rb.to_vec();
    out
}

/// Raw cases: the reply streams must be identical, and so must the closing, with two
/// exceptions that the rules of structured cases also make:
///
/// - **HELLO's `id`.** In a byte stream the fuzzer does not know which command a reply
///   answers, but HELLO's reply is recognisable by its fixed shape (a map that starts with
///   `server`, `redis`, `version`): two such replies are compared with [`Rule::Hello`], all
///   but the connection id, which each server numbers its own way.
/// - **A full resynchronisation.** A damaged frame can spell `SYNC` or `PSYNC ...` on its own,
///   and when nothing is pending before it, both servers turn the connection into a replica
///   link: the replies before it are compared, and from the sync on nothing is, because Redis's
///   RDB payload carries its creation time, memory use and a random replication id, and what
///   follows is a replication stream, not replies. (Usually the `RESET` and `FLUSHALL` in the
///   same batch leave replies pending and both refuse the sync, which is compared as usual.)
fn compare_stream(respd: &Received, redis: &Received) -> Outcome {
    let mut out = Outcome::same();
    out.command = "<stream>".into();
    if let (Some(sa), Some(sb)) = (sync_start(&respd.bytes), sync_start(&redis.bytes)) {
        if stream_agrees(&respd.bytes[..sa], &redis.bytes[..sb], &mut out) {
            *out.tolerated.entry("Sync".into()).or_default() += 1;
            return out;
        }
    }
    if redis.done && !respd.done && !respd.closed {
        out.class = Class::Hang;
        out.respd = respd.bytes.clone();
        out.redis = redis.bytes.clone();
        return out;
    }
    if !stream_agrees(&respd.bytes, &redis.bytes, &mut out) {
        let a = split_replies(&respd.bytes);
        let b = split_replies(&redis.bytes);
        let i = a
            .iter()
            .zip(&b)
            .position(|(x, y)| !reply_agrees(x, y))
            .unwrap_or(a.len().min(b.len()));
        out.class = Class::ReplyDiffers;
        out.respd = a.get(i).cloned().unwrap_or_default();
        out.redis = b.get(i).cloned().unwrap_or_default();
        if out.respd.is_empty() && respd.closed && !redis.closed {
            out.class = Class::RespdClosed;
        }
        out.note = format!(
            "reply #{i} of the stream (respd closed: {}, redis closed: {})",
            respd.closed, redis.closed
        );
        return out;
    }
    if respd.closed != redis.closed {
        out.class = if respd.closed {
            Class::RespdClosed
        } else {
            Class::RespdStayedOpen
        };
        out.respd = respd.bytes[respd.bytes.len().saturating_sub(80)..].to_vec();
        out.redis = out.respd.clone();
    }
    out
}

/// True if two reply streams agree: identical, or the same replies once HELLO's are compared
/// without their ids (counted in `out.tolerated`). A trailing partial reply must be identical.
fn stream_agrees(respd: &[u8], redis: &[u8], out: &mut Outcome) -> bool {
    if respd == redis {
        return true;
    }
    let (a, b) = (split_replies(respd), split_replies(redis));
    let whole = |r: &[Vec<u8>]| r.iter().map(Vec::len).sum::<usize>();
    if a.len() != b.len() || respd[whole(&a)..] != redis[whole(&b)..] {
        return false;
    }
    if !a.iter().zip(&b).all(|(x, y)| reply_agrees(x, y)) {
        return false;
    }
    let tolerated = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    *out.tolerated.entry("Hello".into()).or_default() += tolerated;
    true
}

/// One reply of a byte stream: identical, or two HELLO replies equal but for the id.
fn reply_agrees(respd: &[u8], redis: &[u8]) -> bool {
    respd == redis || (is_hello_reply(redis) && agree(Rule::Hello, respd, redis))
}

/// True for the reply HELLO gives (RESP2 array or RESP3 map): `server`, `redis`, `version`,
/// ... in this order.
fn is_hello_reply(reply: &[u8]) -> bool {
    let server = rules::Val::Bulk(b'$', Some(b"server".to_vec()));
    let redis = rules::Val::Bulk(b'$', Some(b"redis".to_vec()));
    matches!(
        rules::parse(reply),
        Some(rules::Val::Agg(b'*' | b'%', Some(items)))
            if items.len() >= 4 && items[0] == server && items[1] == redis
    )
}

/// Where a server began a full resynchronisation in a reply stream, if it did: the offset of
/// the first reply that is `+FULLRESYNC`, a bare newline (the keepalive Redis sends while its
/// snapshot is being made; no reply starts with one) or a bulk holding an RDB file.
fn sync_start(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let rdb_bulk = rest.first() == Some(&b'$')
            && rest.iter().position(|&c| c == b'\r').is_some_and(|cr| {
                cr > 1
                    && rest[1..cr].iter().all(u8::is_ascii_digit)
                    && rest[cr..].starts_with(b"\r\nREDIS0")
            });
        if rest.starts_with(b"+FULLRESYNC ") || rest.first() == Some(&b'\n') || rdb_bulk {
            return Some(pos);
        }
        match parse_reply(buf, pos) {
            Ok(Some(p)) => pos = p.end,
            _ => return None,
        }
    }
}

/// Drops pieces, then bytes of raw pieces, while the difference keeps its shrink key.
fn shrink(f: &mut Fuzzer, case: &Case, first: &Outcome) -> (Case, Outcome) {
    let key = first.shrink_key();
    let started = Instant::now();
    let budget = if first.class == Class::Crashed {
        40
    } else {
        200
    };
    let mut runs = 0;
    let mut best = case.clone();
    let mut best_outcome = first.clone();
    let attempt = |f: &mut Fuzzer, candidate: &Case, runs: &mut usize| -> Option<Outcome> {
        *runs += 1;
        let o = f.run(candidate, true);
        (o.shrink_key() == key).then_some(o)
    };
    let within = |runs: usize| runs < budget && started.elapsed() < Duration::from_secs(8);
    // Pieces after the one whose reply differs cannot matter (replies come in order).
    if let Some(i) = first.piece.filter(|&i| i + 1 < best.pieces.len()) {
        let mut c = best.clone();
        c.pieces.truncate(i + 1);
        if let Some(o) = attempt(f, &c, &mut runs) {
            best = c;
            best_outcome = o;
        }
    }
    // Drop runs of pieces, halving the run length down to single pieces (delta debugging).
    let mut chunk = (best.pieces.len() / 2).max(1);
    loop {
        let mut start = 0;
        while start < best.pieces.len() && best.pieces.len() > 1 && within(runs) {
            let end = (start + chunk).min(best.pieces.len());
            let mut c = best.clone();
            c.pieces.drain(start..end);
            if c.pieces.is_empty() {
                start = end;
                continue;
            }
            match attempt(f, &c, &mut runs) {
                Some(o) => {
                    best = c;
                    best_outcome = o;
                }
                None => start = end,
            }
        }
        if chunk == 1 || !within(runs) {
            break;
        }
        chunk /= 2;
    }
    // Cut chunks out of raw pieces.
    for pi in 0..best.pieces.len() {
        let Piece::Raw(_) = &best.pieces[pi] else {
            continue;
        };
        let mut chunk = match &best.pieces[pi] {
            Piece::Raw(b) => (b.len() / 2).max(1),
            _ => 1,
        };
        while chunk >= 1 && within(runs) {
            let mut start = 0;
            while let Piece::Raw(b) = &best.pieces[pi] {
                if start + chunk > b.len() || !within(runs) || b.len() <= 1 {
                    break;
                }
                let mut nb = b.clone();
                nb.drain(start..start + chunk);
                let mut c = best.clone();
                c.pieces[pi] = Piece::Raw(nb);
                if let Some(o) = attempt(f, &c, &mut runs) {
                    best = c;
                    best_outcome = o;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    (best, best_outcome)
}

/// The case as something to replay: the bytes, and for commands the words too.
fn describe(case: &Case) -> String {
    let mut s = String::new();
    let mut bytes = Vec::new();
    for p in &case.pieces {
        bytes.extend(p.bytes());
        match p {
            Piece::Cmd(argv) => {
                let words: Vec<String> = argv
                    .iter()
                    .map(|a| match a.len() {
                        0..=200 => show(a),
                        n => format!("{}…({n} bytes)", show(&a[..40])),
                    })
                    .collect();
                let _ = writeln!(s, "    {}", words.join(" "));
            }
            Piece::Raw(b) => {
                let _ = writeln!(s, "    raw {}", show(b));
            }
        }
    }
    let _ = writeln!(s, "    bytes: {}", show(&bytes[..bytes.len().min(2000)]));
    if !case.structured() {
        let _ = writeln!(
            s,
            "    then:  \"\\r\\nDISCARD\\r\\nECHO {}\\r\\n\" (the sentinel)",
            String::from_utf8_lossy(SENTINEL)
        );
    }
    s
}

struct Finding {
    seed: u64,
    index: u64,
    kind: &'static str,
    outcome: Outcome,
    repro: String,
    count: usize,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn differential_fuzz() {
    let Some(redis) = RedisServer::start_with(&servers::FUZZ_MAXCLIENTS) else {
        common::skip_note("differential_fuzz: the fuzzer needs a reference server");
        return;
    };
    let seeds: Vec<u64> = std::env::var("FUZZ_SEED")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    let total = Duration::from_secs(env_u64("FUZZ_SECONDS").unwrap_or(75));
    let per_seed_cap = env_u64("FUZZ_CASES").unwrap_or(u64::MAX);
    let only_case = env_u64("FUZZ_CASE");
    let mut f = Fuzzer::new(redis);
    println!(
        "fuzz: seeds {seeds:?}, {} s; respd pid {}, redis pid {}; {} commands Redis has and respd lacks",
        total.as_secs(),
        f.respd.pid(),
        f.redis.pid(),
        f.redis_only.len()
    );

    let started = Instant::now();
    let mut counts: BTreeMap<Class, usize> = BTreeMap::new();
    let mut unimplemented: BTreeMap<String, usize> = BTreeMap::new();
    let mut tolerated: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&'static str, (usize, Duration)> = BTreeMap::new();
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    let mut sent = 0u64;
    let mut shrink_time = Duration::ZERO;

    for (si, &seed) in seeds.iter().enumerate() {
        let seed_deadline = started + total * (si as u32 + 1) / seeds.len() as u32;
        let indices: Box<dyn Iterator<Item = u64>> = match only_case {
            Some(i) => Box::new(std::iter::once(i)),
            None => Box::new(0..per_seed_cap),
        };
        for index in indices {
            if only_case.is_none() && Instant::now() >= seed_deadline {
                break;
            }
            let case = gen::case(seed, index);
            let t = Instant::now();
            let mut outcome = f.run(&case, case.needs_fresh_connection());
            sent += 1;
            let k = by_kind.entry(case.kind).or_default();
            k.0 += 1;
            k.1 += t.elapsed();
            if sent % 100 == 0 {
                if let Some(o) = f.check_rss() {
                    outcome = o;
                }
            }
            for (rule, n) in &outcome.tolerated {
                *tolerated.entry(rule.clone()).or_default() += n;
            }
            for u in &outcome.unimplemented {
                *unimplemented.entry(u.clone()).or_default() += 1;
            }
            *counts.entry(outcome.class).or_default() += 1;
            if outcome.class == Class::RedisStalled {
                println!("note: redis did not answer seed={seed} case={index} in time; skipped");
            }
            if matches!(
                outcome.class,
                Class::Same | Class::Unimplemented | Class::RedisStalled
            ) {
                continue;
            }
            let sig = outcome.signature();
            if let Some(known) = findings.get_mut(&sig) {
                known.count += 1;
                continue;
            }
            let t = Instant::now();
            let (small, small_outcome) = if outcome.class == Class::Rss {
                (case.clone(), outcome.clone())
            } else {
                shrink(&mut f, &case, &outcome)
            };
            shrink_time += t.elapsed();
            let o = &small_outcome;
            let repro = describe(&small);
            println!(
                "\nFINDING [{}] seed={seed} case={index} kind={} command={}\n  replay: FUZZ_SEED={seed} FUZZ_CASE={index} cargo test --test fuzz -- --nocapture\n  minimal case (fresh connection, after FLUSHALL):\n{repro}  respd: {}\n  redis: {}\n  {}",
                o.class.label(),
                case.kind,
                o.command,
                show(&o.respd[..o.respd.len().min(600)]),
                show(&o.redis[..o.redis.len().min(600)]),
                o.note
            );
            findings.insert(
                sig,
                Finding {
                    seed,
                    index,
                    kind: case.kind,
                    outcome: small_outcome,
                    repro,
                    count: 1,
                },
            );
        }
    }
    if let Some(o) = f.check_rss() {
        *counts.entry(Class::Rss).or_default() += 1;
        println!("FINDING [RSS] at the end: {}", o.note);
    }

    let elapsed = started.elapsed();
    let fuzz_time = elapsed.saturating_sub(shrink_time).as_secs_f64().max(0.001);
    println!("\n==== fuzz summary ====");
    println!(
        "cases sent: {sent} in {:.1} s ({:.0} cases/s excluding {:.1} s of shrinking)",
        elapsed.as_secs_f64(),
        sent as f64 / fuzz_time,
        shrink_time.as_secs_f64()
    );
    for (kind, (n, t)) in &by_kind {
        println!(
            "  {kind:<13} {n:>7} cases, {:.2} ms each",
            t.as_secs_f64() * 1000.0 / *n as f64
        );
    }
    for (class, n) in &counts {
        println!("  {:<18} {n}", class.label());
    }
    println!(
        "  tolerated by rule: {} replies {tolerated:?}",
        tolerated.values().sum::<usize>()
    );
    println!("  unimplemented commands seen: {unimplemented:?}");
    println!(
        "  peak RSS: respd {} MiB, redis {} MiB",
        f.rss_peak.0 >> 20,
        f.rss_peak.1 >> 20
    );
    println!("distinct findings: {}", findings.len());
    for (sig, fd) in &findings {
        println!("  {:>5}x  {sig}", fd.count);
    }
    if let Ok(path) = std::env::var("FUZZ_REPORT") {
        let mut md = String::new();
        for (sig, fd) in &findings {
            let o = &fd.outcome;
            let _ = writeln!(
                md,
                "### {} — {}\n\n{}x; seed {} case {} ({})\n\n```\n{}  respd: {}\n  redis: {}\n  {}\n```\n",
                o.class.label(),
                o.command,
                fd.count,
                fd.seed,
                fd.index,
                fd.kind,
                fd.repro,
                show(&o.respd[..o.respd.len().min(600)]),
                show(&o.redis[..o.redis.len().min(600)]),
                o.note
            );
            let _ = sig;
        }
        std::fs::write(&path, md).expect("write FUZZ_REPORT");
    }
    let failing: usize = counts
        .iter()
        .filter(|(c, _)| c.fails())
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        failing,
        0,
        "the fuzzer found {failing} failing cases ({} distinct); see FINDING lines above",
        findings.len()
    );
}

#[cfg(test)]
mod stream_rules {
    use super::*;

    fn received(bytes: &[u8]) -> Received {
        Received {
            bytes: bytes.to_vec(),
            closed: false,
            done: true,
        }
    }

    fn hello(id: u32) -> Vec<u8> {
        format!(
            "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn hello_in_a_stream_is_compared_without_its_id() {
        let (a, b) = (
            [b"+OK\r\n".to_vec(), hello(7)].concat(),
            [b"+OK\r\n".to_vec(), hello(9)].concat(),
        );
        let o = compare_stream(&received(&a), &received(&b));
        assert_eq!(o.class, Class::Same);
        assert_eq!(o.tolerated.get("Hello"), Some(&1));
        // Anything else in it still counts.
        let c = [
            b"+OK\r\n".to_vec(),
            hello(7).replace_bytes(b"7.0.15", b"7.0.14"),
        ]
        .concat();
        assert_eq!(
            compare_stream(&received(&c), &received(&b)).class,
            Class::ReplyDiffers
        );
        let d = [b"+NO\r\n".to_vec(), hello(9)].concat();
        assert_eq!(
            compare_stream(&received(&d), &received(&b)).class,
            Class::ReplyDiffers
        );
    }

    #[test]
    fn a_full_sync_ends_the_comparison_of_a_stream() {
        let redis = b"+OK\r\n+FULLRESYNC 0123 14\r\n$9\r\nREDIS0010xyz";
        let respd = b"+OK\r\n+FULLRESYNC 4567 0\r\n$5\r\nREDIS0010";
        assert_eq!(sync_start(redis), Some(5));
        assert_eq!(sync_start(b"+OK\r\n\n\n$3\r\nREDIS"), Some(5));
        assert_eq!(sync_start(b"+OK\r\n$5\r\nREDIS\r\n"), None);
        let o = compare_stream(&received(respd), &received(redis));
        assert_eq!(o.class, Class::Same);
        // The replies before the sync are still compared.
        let respd = b"+NO\r\n+FULLRESYNC 4567 0\r\n$5\r\nREDIS0010";
        assert_eq!(
            compare_stream(&received(respd), &received(redis)).class,
            Class::ReplyDiffers
        );
    }

    trait ReplaceBytes {
        fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }
    impl ReplaceBytes for Vec<u8> {
        fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }
}
