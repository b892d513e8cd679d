//! What both end-to-end benchmarks share: the two servers under test and a minimal RESP reply
//! counter.
//!
//! Each bench compares respd, started in-process on `127.0.0.1:0`, with a real `redis-server`
//! started as a child process on a free loopback port, in the same run and on the same machine.
//! Numbers from two different sessions are not comparable on a shared machine; numbers taken
//! side by side, in alternating rounds, are.
//!
//! The clients are plain `std::net::TcpStream`s on purpose: a client library would add its own
//! buffering and parsing costs to both sides, and the point is to measure the servers. Replies
//! are split with the tests' own RESP reader (`tests/common/resp.rs`, included below), and
//! [`ReplyCounter`] only counts them.
//!
//! This file lives in `benches/common/` so Cargo does not take it for a bench target; each
//! bench includes it with `mod common;`.

#![allow(dead_code)] // each bench uses a different part of this module

use std::env;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../../tests/common/resp.rs"]
pub mod resp;
#[allow(unused_imports)] // design_floor sends its own bytes
pub use resp::encode_command;
use resp::{parse_reply, Parsed};

/// The loopback ports this project's benches may use for `redis-server`, unless
/// `RESPD_BENCH_REDIS_PORTS=lo-hi` names another range (for machines where those are taken).
const REDIS_PORTS: std::ops::Range<u16> = 27600..27700;

fn redis_ports() -> std::ops::Range<u16> {
    let Ok(range) = env::var("RESPD_BENCH_REDIS_PORTS") else {
        return REDIS_PORTS;
    };
    let parsed = range.split_once('-').and_then(|(lo, hi)| {
        Some((
            lo.trim().parse::<u16>().ok()?,
            hi.trim().parse::<u16>().ok()?,
        ))
    });
    match parsed {
        Some((lo, hi)) if lo <= hi => lo..hi.saturating_add(1),
        _ => {
            eprintln!("ignoring RESPD_BENCH_REDIS_PORTS={range:?}: expected lo-hi");
            REDIS_PORTS
        }
    }
}

/// A server to benchmark: its name in the output and its address.
pub struct Target {
    /// "respd" or "redis".
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// respd running in this process, with its default configuration, on an ephemeral port.
pub fn start_respd() -> io::Result<(respd::ServerHandle, Target)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let handle = respd::server::start(vec![listener], respd::Config::default())?;
    let addr = handle.local_addr();
    Ok((
        handle,
        Target {
            name: "respd",
            addr,
        },
    ))
}

/// A `redis-server` child process. Dropping it stops the process (by its pid).
pub struct RedisServer {
    child: Child,
    /// Its address, for the clients.
    pub target: Target,
    /// `redis-server --version`, for the report header.
    pub version: String,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGTERM first, so redis-server exits the way it normally does; SIGKILL if that fails.
        let pid = self.child.id().to_string();
        let terminated = Command::new("kill")
            .arg(&pid)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !terminated {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The `redis-server` to compare against: `$REDIS_SERVER` if set, else the first one on `PATH`.
pub fn find_redis_server() -> Option<PathBuf> {
    if let Some(path) = env::var_os("REDIS_SERVER") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

/// Starts `redis-server` on a free port of [`REDIS_PORTS`], persistence off, and waits until
/// it answers PING. `Err` says why there is nothing to compare against.
pub fn start_redis() -> Result<RedisServer, String> {
    let binary = find_redis_server().ok_or_else(|| {
        "redis-server was not found (not on PATH, and REDIS_SERVER is not set)".to_string()
    })?;
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown version".into());
    let ports = redis_ports();
    let port = free_port(ports.clone()).ok_or_else(|| {
        format!(
            "no free port in {}-{} for redis-server",
            ports.start,
            ports.end - 1
        )
    })?;
    let child = spawn_redis(&binary, port).map_err(|e| format!("cannot run {binary:?}: {e}"))?;
    let mut server = RedisServer {
        child,
        target: Target {
            name: "redis",
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        },
        version,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if ping(server.target.addr).is_ok() {
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("redis-server exited at start ({status})"));
        }
        if Instant::now() > deadline {
            return Err("redis-server did not answer PING within 5 s".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_redis(binary: &Path, port: u16) -> io::Result<Child> {
    Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn free_port(ports: std::ops::Range<u16>) -> Option<u16> {
    ports.into_iter().find(|&p| {
        TcpListener::bind(("127.0.0.1", p)).is_ok() && TcpStream::connect(("127.0.0.1", p)).is_err()
    })
}

fn ping(addr: SocketAddr) -> io::Result<()> {
    let mut conn = connect(addr)?;
    io::Write::write_all(&mut conn, b"PING\r\n")?;
    let mut counter = ReplyCounter::default();
    counter.read_replies(&mut conn, 1)
}

/// A client connection as benchmark clients use it: Nagle off (replies must not wait for an
/// ACK), and a read timeout so a server that stops answering fails the bench instead of
/// hanging it.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let conn = TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(conn)
}

/// Counts complete replies in a byte stream, remembering the first error reply.
///
/// Understands the RESP2 reply shapes the benches provoke: `+simple`, `-error`, `:integer`,
/// `$bulk` (including the `$-1` nil) and `*array` of those (LRANGE; `*-1` too). Anything else
/// is reported as an I/O error, so a server answering in a shape no bench asks for fails the
/// run instead of being miscounted.
#[derive(Default)]
pub struct ReplyCounter {
    buf: Vec<u8>,
    /// Complete top-level replies seen so far.
    pub replies: usize,
    /// Error replies among them (or inside their arrays).
    pub errors: usize,
    /// The first error reply's text, without `-` and CRLF.
    pub first_error: Option<String>,
    /// Nil replies (`$-1` or `*-1`) at the top level: RPOP on an empty list, GET of a
    /// missing key.
    pub nils: usize,
    /// Elements of all top-level arrays, added up (LRANGE 0 99 should add 100 per reply).
    pub array_elements: usize,
}

impl ReplyCounter {
    /// Reads from `conn` until `n` more replies are complete.
    pub fn read_replies(&mut self, conn: &mut TcpStream, n: usize) -> io::Result<()> {
        let goal = self.replies + n;
        let mut chunk = [0u8; 64 * 1024];
        while self.replies < goal {
            let got = conn.read(&mut chunk)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "server closed the connection after {} replies",
                        self.replies
                    ),
                ));
            }
            self.buf.extend_from_slice(&chunk[..got]);
            let used = self.consume()?;
            self.buf.drain(..used);
        }
        if self.replies > goal {
            return Err(io::Error::other("more replies than commands sent"));
        }
        Ok(())
    }

    /// Counts every complete reply in the buffer; returns how many bytes they took.
    fn consume(&mut self) -> io::Result<usize> {
        let mut pos = 0;
        while let Some(reply) = parse_reply(&self.buf, pos).map_err(io::Error::other)? {
            self.count(pos, &reply, true)?;
            self.replies += 1;
            pos = reply.end;
        }
        Ok(pos)
    }

    /// Counts the complete reply `reply` found at `pos`: errors anywhere, nils and array
    /// sizes at the top level. A shape no bench asks for is an error.
    fn count(&mut self, pos: usize, reply: &Parsed, top: bool) -> io::Result<()> {
        let header = &self.buf[pos..reply.header_end - 2];
        match header[0] {
            b'+' | b':' => {}
            b'-' => {
                self.errors += 1;
                if self.first_error.is_none() {
                    let text = String::from_utf8_lossy(&header[1..]).into_owned();
                    self.first_error = Some(text);
                }
            }
            b'$' | b'*' if header == b"$-1" || header == b"*-1" => {
                self.nils += usize::from(top);
            }
            b'$' => {}
            b'*' => {
                let elements = reply.elements.as_deref().unwrap_or_default();
                if top {
                    self.array_elements += elements.len();
                }
                for &(start, _) in elements {
                    let element = parse_reply(&self.buf, start)
                        .map_err(io::Error::other)?
                        .expect("an element of a complete reply is complete");
                    self.count(start, &element, false)?;
                }
            }
            _ => {
                return Err(io::Error::other(format!(
                    "unexpected reply: {:?}",
                    String::from_utf8_lossy(header)
                )))
            }
        }
        Ok(())
    }
}

/// The median of some measurements (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One line describing the machine, for the top of a results file.
pub fn machine_line() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("host {host}, {cpus} cpus ({model})")
}

/// [`start_redis`], printing which Redis the run compares with, or saying loudly why there is
/// none ([`no_redis_note`]).
pub fn start_redis_or_say_why() -> Option<RedisServer> {
    match start_redis() {
        Ok(r) => {
            println!("comparing with {} on {}", r.version, r.target.addr);
            Some(r)
        }
        Err(why) => {
            no_redis_note(&why);
            None
        }
    }
}

/// A setting from the environment, or `default` when it is unset (or unparsable, which is
/// reported).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("ignoring {name}={v:?}: not a valid value");
            default
        }),
        Err(_) => default,
    }
}

/// Says loudly that there is no Redis to compare with, so nobody mistakes a respd-only run
/// for a comparison.
pub fn no_redis_note(why: &str) {
    let bar = "!".repeat(78);
    println!("\n{bar}\n!!! NO REDIS TO COMPARE WITH: {why}.");
    println!("!!! Measuring respd only. Install redis-server or set REDIS_SERVER=/path.\n{bar}\n");
}
