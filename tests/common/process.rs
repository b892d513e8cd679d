//! The real respd binary as a child process, for tests that `kill -9` it and start it
//! again on the same directory (tests/aof.rs, tests/durability.rs). Included with
//! `#[path = "common/process.rs"] mod process;` next to `mod common;`, so only the test
//! files that spawn the binary compile it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, RawConn};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `respd-<prefix>-<pid>-<name>`, emptied first.
    pub fn new(prefix: &str, name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("respd-{prefix}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// The AOF's path with the default `appendfilename`.
    pub fn aof(&self) -> PathBuf {
        self.0.join("appendonly.aof")
    }

    /// What respd logged so far (`--logfile dir/respd.log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.0.join("respd.log")).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The command line: `--dir dir`, a log file in it, then `extra`.
pub fn respd_command(dir: &Path, port: u16, extra: &[&str]) -> Command {
    respd_command_logging_to(dir, &dir.join("respd.log"), port, extra)
}

/// [`respd_command`] with the log file somewhere else (when `dir` may be full).
pub fn respd_command_logging_to(dir: &Path, log: &Path, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_respd"));
    cmd.args([
        "--port",
        &port.to_string(),
        "--dir",
        dir.to_str().unwrap(),
        "--logfile",
        log.to_str().unwrap(),
    ])
    .args(extra)
    // --bind takes several values: it comes last.
    .args(["--bind", "127.0.0.1"])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// Spawns `command` (listening on `port`) and connects once it listens.
pub fn start_command(mut command: Command, port: u16) -> (Child, RawConn) {
    let mut child = command.spawn().expect("start respd");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("respd exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "respd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, RawConn::connect(addr))
}

/// Starts respd on `dir` and connects once it listens.
pub fn start(dir: &Path, extra: &[&str]) -> (Child, RawConn, u16) {
    let port = common::free_port();
    let (child, conn) = start_command(respd_command(dir, port, extra), port);
    (child, conn, port)
}

/// A child respd that is killed when dropped, so a failing assertion does not leave it
/// running (holding its port, its directory, a mount).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILL, then reap.
pub fn kill9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// One field of INFO persistence.
pub fn info_field(conn: &mut RawConn, name: &str) -> String {
    let info = conn.cmd(&[b"INFO", b"persistence"]);
    let text = String::from_utf8_lossy(&info).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}
