//! Differential tests: every `tests/cases/**/*.case` file is replayed against a fresh in-process
//! respd and each reply is compared, byte for byte, with the `.expected` recording made from
//! real Redis 7.0.
//!
//! The case format is the one `tests/diffcase.py` documents (one command per line, split like
//! redis-cli input; `!sort`, `!raw "..."`, `!close`, `!sleep MS`, `!reconnect`); this runner
//! implements the same directives and the same line handling, and splits lines with respd's
//! own `split_args`, which is a port of Redis's `sdssplitargs`, as the Python port is.
//!
//! Two checks run per case:
//!
//! 1. **respd against the recording.** A mismatch is a respd bug (or a command not written yet).
//! 2. **real Redis against the recording**, when `redis-server` is installed. A mismatch means
//!    the recording is stale (the case file changed, or it was recorded from another Redis
//!    version): re-record it with `tests/record-replies.sh`. Without `redis-server` this check
//!    is skipped with a loud `SKIPPED:` line.
//!
//! Groups (directories under `tests/cases`) run in parallel, each case on its own server.
//! Every failure of every group is collected and reported at the end, so one run shows the
//! whole picture. `CASES=strings` (a substring of the path) runs a subset.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{encode, show, RawConn, RedisServer, TestServer};
use respd::protocol::Argv;

/// How long `!close` waits for the server to close the connection. Closing is immediate when
/// it happens at all, so only cases expecting `<open>` pay this wait.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Mismatches shown per case; after a desync every later reply differs, which is noise.
const SHOWN_PER_CASE: usize = 8;

/// One step of a case file.
#[derive(Debug, Clone)]
enum Step {
    /// `!sort`: sort the next reply's elements.
    Sort,
    /// `!sleep MS`.
    Sleep(u64),
    /// `!reconnect`.
    Reconnect,
    /// `!close`: the server must have closed the connection.
    Close,
    /// `!raw "..."`: send these bytes, read one reply.
    Raw(Vec<u8>),
    /// A command: send it as a multibulk, read one reply.
    Command(Vec<Vec<u8>>),
}

/// A step with where it came from.
#[derive(Debug, Clone)]
struct Line {
    number: usize,
    text: String,
    step: Step,
}

/// Parses a case file exactly as tests/diffcase.py does: split on `\n`, strip ASCII
/// whitespace, skip blank lines and `#` comments.
fn parse_case(bytes: &[u8]) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = raw.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let number = i + 1;
        let text = String::from_utf8_lossy(line).into_owned();
        let split = |s: &[u8]| -> Result<Vec<Vec<u8>>, String> {
            let mut argv = Argv::new();
            respd::protocol::parse::split_args(s, &mut argv)
                .map_err(|_| format!("line {number}: unbalanced quotes: {text}"))?;
            Ok(argv.iter().map(<[u8]>::to_vec).collect())
        };
        let step = if line == b"!sort" {
            Step::Sort
        } else if line.starts_with(b"!sleep") {
            let ms = text
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("line {number}: !sleep needs milliseconds: {text}"))?;
            Step::Sleep(ms)
        } else if line == b"!reconnect" {
            Step::Reconnect
        } else if line == b"!close" {
            Step::Close
        } else if let Some(rest) = line.strip_prefix(b"!raw ") {
            let mut parts = split(rest)?;
            if parts.is_empty() {
                return Err(format!("line {number}: !raw needs bytes: {text}"));
            }
            Step::Raw(parts.swap_remove(0))
        } else {
            Step::Command(split(line)?)
        };
        lines.push(Line { number, text, step });
    }
    Ok(lines)
}

/// The markers tests/diffcase.py writes in place of a reply.
const CLOSED: &[u8] = b"<closed>";
const OPEN: &[u8] = b"<open>";

/// Splits a recording into replies (RESP replies and the `<closed>` / `<open>` markers).
fn split_expected(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if let Some(marker) = [CLOSED, OPEN].into_iter().find(|m| bytes.starts_with(m)) {
            out.push(marker.to_vec());
            bytes = &bytes[marker.len()..];
            continue;
        }
        match common::parse_reply(bytes, 0)? {
            Some(p) => {
                out.push(bytes[..p.end].to_vec());
                bytes = &bytes[p.end..];
            }
            None => return Err(format!("truncated reply at the end: {}", show(bytes))),
        }
    }
    Ok(out)
}

/// Reads one reply the way tests/diffcase.py records it: a closed connection is `<closed>`.
/// A timeout is `<timeout>`, which never matches a recording: a server that stays silent is
/// wrong whatever the recording says.
fn read_reply(conn: &mut RawConn, sort: bool) -> Vec<u8> {
    match conn.reply_sorted(sort) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => CLOSED.to_vec(),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            b"<timeout>".to_vec()
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => format!("<bad reply: {e}>").into(),
        Err(_) => CLOSED.to_vec(), // reset by the server
    }
}

/// Runs a parsed case against the server at `addr`; returns one reply per replying step.
fn run_case(addr: std::net::SocketAddr, lines: &[Line]) -> Vec<(usize, Vec<u8>)> {
    let mut conn = RawConn::connect(addr);
    let mut sort = false;
    let mut results = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let bytes = match &line.step {
            Step::Sort => {
                sort = true;
                continue;
            }
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            Step::Reconnect => {
                conn = RawConn::connect(addr);
                continue;
            }
            Step::Close => {
                let closed = conn.is_closed_within(CLOSE_WAIT);
                results.push((index, if closed { CLOSED } else { OPEN }.to_vec()));
                continue;
            }
            Step::Raw(bytes) => bytes.clone(),
            Step::Command(args) => {
                let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                encode(&args)
            }
        };
        let reply = match conn.try_send(&bytes) {
            Ok(()) => read_reply(&mut conn, sort),
            Err(_) => CLOSED.to_vec(),
        };
        results.push((index, reply));
        sort = false;
    }
    results
}

/// Empties real Redis before a case, on a connection of its own (not recorded), as
/// tests/diffcase.py does.
fn flushall(redis: &RedisServer) {
    let mut conn = redis.conn();
    let reply = conn.cmd(&[b"FLUSHALL"]);
    assert_eq!(reply, b"+OK\r\n", "FLUSHALL on real Redis");
}

/// Compares live replies with the recording; appends a readable report of every difference.
fn compare(
    path: &Path,
    lines: &[Line],
    expected: &[Vec<u8>],
    actual: &[(usize, Vec<u8>)],
    who: &str,
    report: &mut String,
) -> bool {
    let mut shown = 0;
    let mut differences = 0;
    for i in 0..expected.len().max(actual.len()) {
        let want = expected.get(i);
        let got = actual.get(i);
        if want.map(Vec::as_slice) == got.map(|(_, r)| r.as_slice()) {
            continue;
        }
        differences += 1;
        if shown == SHOWN_PER_CASE {
            continue;
        }
        shown += 1;
        let (line_no, text) = match got {
            Some((index, _)) => (lines[*index].number, lines[*index].text.as_str()),
            None => (
                0,
                "<no such step: the recording has more replies than the case>",
            ),
        };
        let _ = writeln!(
            report,
            "  {}:{line_no}: {text}\n      expected: {}\n      {who:<8}: {}",
            path.display(),
            want.map_or("<missing from the recording>".into(), |w| show(w)),
            got.map_or("<no reply>".into(), |(_, r)| show(r)),
        );
    }
    if differences > shown {
        let _ = writeln!(
            report,
            "  {}: ... and {} more difference(s)",
            path.display(),
            differences - shown
        );
    }
    differences == 0
}

/// The outcome of one group.
#[derive(Default)]
struct GroupResult {
    cases: usize,
    failed_respd: Vec<String>,
    stale: Vec<String>,
    report: String,
}

fn run_group(files: &[PathBuf], with_redis: bool) -> GroupResult {
    let redis = if with_redis {
        RedisServer::start()
    } else {
        None
    };
    let mut result = GroupResult::default();
    for path in files {
        result.cases += 1;
        let name = path.display().to_string();
        let lines = match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| parse_case(&b))
        {
            Ok(l) => l,
            Err(e) => {
                let _ = writeln!(result.report, "  {name}: cannot parse the case: {e}");
                result.failed_respd.push(name);
                continue;
            }
        };
        let expected_path = path.with_extension("expected");
        let expected = match std::fs::read(&expected_path) {
            Ok(b) => match split_expected(&b) {
                Ok(e) => e,
                Err(e) => {
                    let _ = writeln!(
                        result.report,
                        "  {}: unreadable recording: {e}",
                        expected_path.display()
                    );
                    result.failed_respd.push(name);
                    continue;
                }
            },
            Err(_) => {
                let _ = writeln!(
                    result.report,
                    "  {name}: no recording {}: record it with tests/record-replies.sh {name}",
                    expected_path.display()
                );
                result.failed_respd.push(name);
                continue;
            }
        };

        // A fresh respd for every case, so no case depends on another.
        let server = TestServer::start();
        let actual = run_case(server.addr(), &lines);
        drop(server);
        if !compare(
            path,
            &lines,
            &expected,
            &actual,
            "respd",
            &mut result.report,
        ) {
            result.failed_respd.push(name.clone());
        }

        if let Some(redis) = &redis {
            flushall(redis);
            let live = run_case(redis.addr(), &lines);
            let mut stale_report = String::new();
            if !compare(path, &lines, &expected, &live, "redis", &mut stale_report) {
                let _ = writeln!(
                    result.report,
                    "  {name}: recorded replies are stale (real Redis now answers differently); \
                     re-record with tests/record-replies.sh {name}\n{stale_report}"
                );
                result.stale.push(name);
            }
        }
    }
    result
}

/// Every case file, grouped by its directory under tests/cases.
fn case_files() -> BTreeMap<String, Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let filter = std::env::var("CASES").unwrap_or_default();
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "case") {
                let relative = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
                if !relative.to_string_lossy().contains(&filter) {
                    continue;
                }
                let group = dir
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                groups
                    .entry(if group.is_empty() { ".".into() } else { group })
                    .or_default()
                    .push(relative.to_path_buf());
            }
        }
    }
    for files in groups.values_mut() {
        files.sort();
    }
    groups
}

#[test]
fn case_files_match_recorded_redis_replies() {
    // Relative paths in reports: run from the crate root.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let groups = case_files();
    assert!(
        !groups.is_empty(),
        "no case files found under tests/cases (CASES filter: {:?})",
        std::env::var("CASES").unwrap_or_default()
    );
    let with_redis = RedisServer::available();
    if !with_redis {
        common::skip_note("the recordings are not checked against live Redis");
    }

    let results: Vec<(String, GroupResult)> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|(group, files)| {
                let handle = scope.spawn(move || run_group(files, with_redis));
                (group.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(group, h)| (group, h.join().expect("group runner panicked")))
            .collect()
    });

    let mut summary = String::new();
    let mut details = String::new();
    let mut failing = 0;
    for (group, r) in &results {
        let _ = writeln!(
            summary,
            "group {group:<14} {:>3} case(s): {:>3} fail against the recording, {:>3} stale recording(s){}",
            r.cases,
            r.failed_respd.len(),
            r.stale.len(),
            if with_redis { "" } else { " (not checked: no redis-server)" }
        );
        if !r.failed_respd.is_empty() || !r.stale.is_empty() {
            failing += 1;
            let _ = writeln!(details, "=== group {group} ===\n{}", r.report);
        }
    }
    eprintln!("{summary}");
    assert!(
        failing == 0,
        "{failing} group(s) have failing cases\n{summary}\n{details}"
    );
}

#[test]
fn case_parser_follows_diffcase_py() {
    let lines = parse_case(
        b"# comment\n\n  SET k \"a b\"  \r\n!sort\n!raw \"PING\\r\\n\"\n!sleep 5\n!reconnect\n!close\n",
    )
    .unwrap();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0].number, 3);
    match &lines[0].step {
        Step::Command(args) => assert_eq!(args, &[b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(lines[1].step, Step::Sort));
    match &lines[2].step {
        Step::Raw(bytes) => assert_eq!(bytes, b"PING\r\n"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(lines[3].step, Step::Sleep(5)));
    assert!(matches!(lines[4].step, Step::Reconnect));
    assert!(matches!(lines[5].step, Step::Close));
    assert!(parse_case(b"SET \"unbalanced\n").is_err());
}

#[test]
fn recordings_split_into_replies_and_markers() {
    let replies =
        split_expected(b"+OK\r\n$3\r\nabc\r\n*2\r\n:1\r\n$-1\r\n<closed><open>-ERR x\r\n").unwrap();
    assert_eq!(
        replies,
        vec![
            b"+OK\r\n".to_vec(),
            b"$3\r\nabc\r\n".to_vec(),
            b"*2\r\n:1\r\n$-1\r\n".to_vec(),
            b"<closed>".to_vec(),
            b"<open>".to_vec(),
            b"-ERR x\r\n".to_vec(),
        ]
    );
    assert!(split_expected(b"$5\r\nab").is_err());
}
