//! Shared test infrastructure: an in-process respd, a raw RESP connection, and a real
//! `redis-server` to compare against.
//!
//! Every integration test file (`tests/*.rs`) includes this module with `mod common;`. It
//! offers the two styles of test the style guide asks for:
//!
//! - **raw bytes over a real socket**: [`TestServer::raw`] sends exactly the bytes given and
//!   returns exactly the bytes of one reply, so a test can pin `b"-ERR Protocol error: ...\r\n"`
//!   down to the last byte, and [`RawConn`] keeps a connection open across several exchanges
//!   and can tell whether the server closed it;
//! - **a real client library**: [`TestServer::client`] returns a blocking `redis::Connection`,
//!   which is what applications actually use (it also pipelines `CLIENT SETINFO` on connect,
//!   a good check that unknown commands never close the connection).
//!
//! [`RedisServer`] starts the real Redis 7.0 the project imitates, so that tests can send it
//! the same bytes and compare. When `redis-server` is not installed, [`RedisServer::start`]
//! returns `None` and the caller prints a loud `SKIPPED:` line rather than passing silently.
//!
//! The reply reader ([`parse_reply`], [`RespReader`]) is deliberately independent of respd's
//! own code: a test that decoded replies with the server's writer would check nothing.
//!
//! Everything here talks to 127.0.0.1 only, and every wait is bounded by a timeout.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use respd::{Config, ServerHandle};

mod resp;
pub use resp::*;

/// How long a test waits for a reply before calling the server stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// An in-process respd on `127.0.0.1:<ephemeral port>`, stopped when dropped.
pub struct TestServer {
    handle: Option<ServerHandle>,
    addr: SocketAddr,
}

impl TestServer {
    /// Starts a server with the default configuration.
    pub fn start() -> TestServer {
        TestServer::with_config(|_| {})
    }

    /// Starts a server after letting `edit` change the default configuration, e.g.
    /// `TestServer::with_config(|c| c.maxclients = 2)`.
    pub fn with_config(edit: impl FnOnce(&mut Config)) -> TestServer {
        // Tests only ever listen on loopback; `port` is informational, the listener is ours.
        // No save points, as the reference redis-server is started with `--save ''`: a test
        // server must not write dump files into the working directory behind a test's back.
        let mut config = Config {
            bind: vec!["127.0.0.1".into()],
            port: 0,
            save: Vec::new(),
            ..Config::default()
        };
        edit(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let handle = respd::server::start(vec![listener], config).expect("start respd");
        let addr = handle.local_addr();
        TestServer {
            handle: Some(handle),
            addr,
        }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's handle (for `shared()`: the client registry, stats, config).
    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server running")
    }

    /// Stops the server now and returns how long the shutdown took.
    pub fn shutdown(mut self) -> Duration {
        let started = Instant::now();
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
        started.elapsed()
    }

    /// A new raw connection.
    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.addr)
    }

    /// Sends `bytes` on a new connection and returns the one complete reply that comes back.
    /// Panics if the server closes the connection or stays silent for [`REPLY_TIMEOUT`].
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut conn = self.conn();
        conn.send(bytes);
        conn.reply().unwrap_or_else(|e| {
            panic!(
                "no reply to {:?} from {}: {e}",
                show(bytes.get(..200).unwrap_or(bytes)),
                self.addr
            )
        })
    }

    /// A blocking connection of the `redis` client crate.
    pub fn client(&self) -> redis::Connection {
        client_for(self.addr)
    }

    /// Waits until exactly `n` clients are registered, or panics after `timeout`.
    pub fn wait_for_clients(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.handle().shared().clients.len();
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} connected clients, still {now} after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A `redis` crate connection to any server, with read and write timeouts so a hung server
/// fails the test instead of hanging it.
pub fn client_for(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("client url");
    let con = client
        .get_connection_with_timeout(REPLY_TIMEOUT)
        .expect("connect with the redis crate");
    con.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    con.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
    con
}

/// One raw connection: send bytes, read whole replies, check for a close.
pub struct RawConn {
    reader: RespReader<TcpStream>,
}

impl RawConn {
    /// Connects to `addr` with [`REPLY_TIMEOUT`] read and write timeouts.
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
        let _ = stream.set_nodelay(true);
        RawConn {
            reader: RespReader::new(stream),
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes all of `bytes`; panics on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).expect("send to server");
    }

    /// Writes all of `bytes`.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.reader.get_ref();
        s.write_all(bytes)?;
        s.flush()
    }

    /// Sends one command as a RESP multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        self.reply().expect("reply to command")
    }

    /// Sends one command written as space-separated words (`"SET k v"`); returns the reply.
    pub fn words(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.cmd(&args)
    }

    /// Reads one complete reply (its exact bytes).
    pub fn reply(&mut self) -> io::Result<Vec<u8>> {
        self.reader.reply()
    }

    /// Reads one reply; with `sort`, an aggregate reply has its elements sorted bytewise.
    pub fn reply_sorted(&mut self, sort: bool) -> io::Result<Vec<u8>> {
        self.reader.reply_sorted(sort)
    }

    /// Reads until `n` bytes have arrived or the connection ends; returns what arrived.
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        self.reader.read_bytes(n)
    }

    /// True if the server has closed the connection (EOF or reset) within `wait`. Data that
    /// arrives instead means "open"; it is kept for the next [`RawConn::reply`].
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        self.reader.is_closed_within(wait)
    }

    /// Asserts that nothing arrives for `wait` and the connection stays open.
    pub fn expect_silence(&mut self, wait: Duration) {
        assert!(
            !self.reader.is_closed_within(wait),
            "the server closed the connection"
        );
        assert!(
            self.reader.buffered().is_empty(),
            "unexpected bytes from the server: {}",
            show(self.reader.buffered())
        );
    }
}

/// Resident memory of this process in bytes (`VmRSS` in /proc/self/status), if readable.
pub fn rss_bytes() -> Option<u64> {
    vm_rss("/proc/self/status")
}

/// Resident memory of process `pid` in bytes (`VmRSS` in /proc/<pid>/status), if readable.
pub fn rss_of(pid: u32) -> Option<u64> {
    vm_rss(&format!("/proc/{pid}/status"))
}

fn vm_rss(status_file: &str) -> Option<u64> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Ports handed out to real servers. `RESPD_TEST_PORTS=lo-hi` confines them to a range
/// (shared machines); otherwise the kernel picks a free ephemeral port.
static NEXT_PORT_OFFSET: AtomicU16 = AtomicU16::new(0);

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    if let Ok(range) = std::env::var("RESPD_TEST_PORTS") {
        let (lo, hi) = range
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
            .expect("RESPD_TEST_PORTS must look like 27500-27599");
        let span = hi - lo + 1;
        for _ in 0..span {
            let port = lo + NEXT_PORT_OFFSET.fetch_add(1, Ordering::Relaxed) % span;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
        panic!("no free port in RESPD_TEST_PORTS={range}");
    }
    // Not port 0: the kernel hands out the same ephemeral ports to everyone, so a port it
    // gave us and we released may go to any other socket (respd's own loopback pairs, a
    // client) before the server we start binds it. Ports below Linux's ephemeral range
    // (32768 and up) are never handed out that way; start at a per-process offset so that
    // test binaries running one after another do not retry the same ports.
    const LO: u16 = 21000;
    const SPAN: u16 = 11000;
    let start = (std::process::id() % SPAN as u32) as u16;
    for _ in 0..SPAN {
        let port =
            LO + (start.wrapping_add(NEXT_PORT_OFFSET.fetch_add(1, Ordering::Relaxed))) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LO} and {}", LO + SPAN - 1)
}

/// A real `redis-server` (7.0 is the reference) on a free loopback port, killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    /// The server's working directory, removed on drop: a redis-server writes files there
    /// (a replica's dump.rdb), which must not land in the checkout.
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// The binary: `$REDIS_SERVER`, or `redis-server` on the `PATH`.
    fn binary() -> Option<String> {
        if let Ok(path) = std::env::var("REDIS_SERVER") {
            return std::path::Path::new(&path).is_file().then_some(path);
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// True if a `redis-server` binary is there to start.
    pub fn available() -> bool {
        RedisServer::binary().is_some()
    }

    /// Starts one with persistence off and waits until it answers PING. `None` if there is no
    /// `redis-server` binary; the caller must then print a `SKIPPED:` line (see [`skip_note`]).
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// Like [`RedisServer::start`], with extra `--directive value` arguments.
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let binary = RedisServer::binary()?;
        for _attempt in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("respd-test-redis-{port}"));
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let mut child = Command::new(&binary)
                .current_dir(&dir)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: most likely the port was taken meanwhile; try another
                }
                if ping(port) {
                    return Some(RedisServer { child, port, dir });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("{binary} did not start answering PING");
    }

    /// A default-configured server shared by the tests running at the same time: it starts on
    /// first use and is killed when the last test using it drops its `Arc`, so no process
    /// outlives the test binary. Tests must leave it as they found it (no CONFIG SET).
    pub fn shared() -> Option<Arc<RedisServer>> {
        static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = slot.upgrade() {
            return Some(running);
        }
        let started = Arc::new(RedisServer::start()?);
        *slot = Arc::downgrade(&started);
        Some(started)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A new raw connection to it.
    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.addr())
    }

    /// Its process id (for [`rss_of`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True if the process has exited (it is reaped then).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

/// True if a server on 127.0.0.1:`port` answers `PING` with `+PONG` within half a second.
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    // A server started with a password answers -NOAUTH: it is up all the same.
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Child::kill signals exactly this process id.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Prints the loud line a test prints when it cannot compare with real Redis. It is written
/// straight to standard error, past the test harness's output capture (which only catches
/// `print!`/`eprint!`), so it shows even when the test passes.
pub fn skip_note(what: &str) {
    let _ = writeln!(
        io::stderr(),
        "SKIPPED: redis-server not found (install redis-server 7.0 or set REDIS_SERVER=/path): {what}"
    );
}

/// `keyspace_hits` and `keyspace_misses` from `INFO stats`.
pub fn keyspace_hits_and_misses(c: &mut RawConn) -> (u64, u64) {
    let info = String::from_utf8_lossy(&c.words("INFO stats")).into_owned();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in INFO"))
    };
    (field("keyspace_hits:"), field("keyspace_misses:"))
}

/// Runs `check` against a fresh in-process respd, then against the shared redis-server when
/// there is one (saying so loudly when there is not). `check` gets `"respd"` or `"redis"`, for
/// its assertion messages, and the server's address.
///
/// The shared redis-server must be left as found; a check that changes the configuration
/// uses [`on_respd_and_own_redis`] or [`on_respd_and_redis_with`].
pub fn on_respd_and_redis(test: &str, check: impl Fn(&str, SocketAddr)) {
    let respd = TestServer::start();
    check("respd", respd.addr());
    match RedisServer::shared() {
        Some(redis) => check("redis", redis.addr()),
        None => skip_note(&format!("{test}: checked against respd only")),
    }
}

/// [`on_respd_and_redis`] with a fresh redis-server of the check's own, stopped afterwards.
pub fn on_respd_and_own_redis(test: &str, check: impl Fn(&str, SocketAddr)) {
    on_respd_and_redis_with(test, |_| {}, &[], check);
}

/// Runs `check` on a fresh respd whose configuration `respd_config` edited, then on a fresh
/// redis-server started with the `redis_args` directives (`--name value`), when there is one.
/// Returns what `check` returned for each (Redis's is `None` without a redis-server, and the
/// test's name has then been printed in a `SKIPPED:` line).
pub fn on_respd_and_redis_with<T>(
    test: &str,
    respd_config: impl FnOnce(&mut Config),
    redis_args: &[&str],
    check: impl Fn(&str, SocketAddr) -> T,
) -> (T, Option<T>) {
    let respd = TestServer::with_config(respd_config);
    let ours = check("respd", respd.addr());
    let theirs = match RedisServer::start_with(redis_args) {
        Some(redis) => Some(check("redis", redis.addr())),
        None => {
            skip_note(&format!("{test}: checked against respd only"));
            None
        }
    };
    (ours, theirs)
}

/// Sends `cmd` on respd's connection and, when there is one, on Redis's; the two replies
/// must be equal. Returns respd's.
pub fn same_reply(ours: &mut RawConn, theirs: &mut Option<RawConn>, cmd: &[&[u8]]) -> Vec<u8> {
    let mine = ours.cmd(cmd);
    if let Some(redis) = theirs.as_mut() {
        let reference = redis.cmd(cmd);
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&reference),
            "{:?}",
            cmd.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }
    mine
}
