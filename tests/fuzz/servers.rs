//! The two servers the fuzzer talks to, and the byte exchange with each.
//!
//! respd runs as its real binary (`CARGO_BIN_EXE_respd`), not in-process: a panic that aborts
//! or a thread that dies must be *seen* — as process death, or as a "panicked" line on its
//! standard error, which a reader thread collects.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{free_port, ping};

/// `maxclients` for both servers. Each lowers the default 10000 to what its open files limit
/// allows, and respd may need up to three descriptors per client where Redis counts one
/// (see respd's `server::FDS_PER_CLIENT`), so under a hard limit below about 30,000 the two
/// would report different defaults. That is the file-descriptor budget, tested in
/// tests/lifecycle.rs, not a command difference: the fuzzer gives both the same value.
pub const FUZZ_MAXCLIENTS: [&str; 2] = ["--maxclients", "1000"];

/// A respd process on a loopback port, killed when dropped.
pub struct Respd {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

impl Respd {
    /// Starts the binary with the settings the reference Redis gets (no persistence,
    /// loopback), and waits until it answers PING.
    pub fn start() -> Respd {
        let dir = std::env::temp_dir().join(format!("respd-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory for respd");
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new(env!("CARGO_BIN_EXE_respd"))
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(FUZZ_MAXCLIENTS)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run respd");
            // Both streams are watched: Rust's panic message goes to standard error, respd's
            // log (and its bug report) to standard output when no logfile is set.
            let stderr = Arc::new(Mutex::new(Vec::new()));
            let out = child.stdout.take().unwrap();
            let err = child.stderr.take().unwrap();
            for pipe in [Box::new(out) as Box<dyn Read + Send>, Box::new(err)] {
                let lines = stderr.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        lines.lock().unwrap().push(line);
                    }
                });
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken meanwhile, most likely: try another
                }
                if ping(port) {
                    return Respd {
                        child,
                        port,
                        stderr,
                        dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("respd did not start answering PING");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(description)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Number of stderr lines so far.
    pub fn stderr_len(&self) -> usize {
        self.stderr.lock().unwrap().len()
    }

    /// Stderr lines from `from` on that report a panic, with the line after each (the
    /// message follows "panicked at" on its own line in recent Rust).
    pub fn panics_since(&self, from: usize) -> Vec<String> {
        let lines = self.stderr.lock().unwrap();
        let mut out = Vec::new();
        for i in from..lines.len() {
            if lines[i].contains("panicked") {
                let next = lines.get(i + 1).cloned().unwrap_or_default();
                out.push(format!("{} | {}", lines[i], next));
            }
        }
        out
    }
}

impl Drop for Respd {
    fn drop(&mut self) {
        let _ = self.child.kill(); // this child's pid only
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What came back from one server for one case.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub bytes: Vec<u8>,
    /// The server closed the connection (EOF or reset).
    pub closed: bool,
    /// The done condition was met.
    pub done: bool,
}

/// A raw connection with deadline-bounded reads.
pub struct Conn {
    stream: TcpStream,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        // The fuzzer writes a whole case before it reads, so the replies pile up in this
        // socket meanwhile. When a server then refuses the input and closes with some of it
        // still unread, its kernel aborts the connection (RST) and throws away the replies it
        // had not transmitted yet, the refusal among them: with the default receive window
        // (about 64 KB) that happens after a 64 KB ECHO, on both servers, at random. A window
        // larger than any case's replies before a refusal keeps every reply in flight. (The
        // kernel caps the size at net.core.rmem_max; 208 KB, the usual cap, is enough.)
        rustix::net::sockopt::set_socket_recv_buffer_size(&stream, 4 << 20)?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(Conn { stream })
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until `done(bytes so far)`, the server closes, or `deadline` passes.
    pub fn read_until(&mut self, done: &dyn Fn(&[u8]) -> bool, deadline: Instant) -> Received {
        let mut got = Received::default();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if done(&got.bytes) {
                got.done = true;
                return got;
            }
            let now = Instant::now();
            if now >= deadline {
                return got;
            }
            let _ = self
                .stream
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))));
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    got.closed = true;
                    got.done = done(&got.bytes);
                    return got;
                }
                Ok(n) => got.bytes.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    got.closed = true;
                    return got;
                }
            }
        }
    }
}
