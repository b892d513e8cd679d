//! Durability under faults, end to end with the real binary: a panic inside a command, and
//! a full disk under the AOF. The promise checked each time is the one Redis keeps: every
//! write that was acknowledged is there after `kill -9` and a restart, and the dataset never
//! holds half a transaction.
//!
//! The disk-full tests mount a 5 MB tmpfs, so they need root (CI runs as root); elsewhere
//! they print a line starting with `SKIPPED:` and return.

mod common;
#[path = "common/process.rs"]
mod process;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use common::RawConn;
use process::{
    info_field, kill9, respd_command_logging_to, start, start_command, KillOnDrop, TempDir,
};

/// Waits up to `limit` for the child to exit by itself.
fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends one command on a new connection; true only for a `+OK` reply. A refused
/// connection, a reset or a missing reply is "not acknowledged".
fn set_acknowledged(port: u16, key: &str, value: &str) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        return false;
    }
    let mut conn = RawConn::connect(addr);
    if conn
        .try_send(&common::encode(&[b"SET", key.as_bytes(), value.as_bytes()]))
        .is_err()
    {
        return false;
    }
    matches!(conn.reply(), Ok(r) if r == b"+OK\r\n")
}

fn bulk(value: &str) -> Vec<u8> {
    format!("${}\r\n{value}\r\n", value.len()).into_bytes()
}

/// Scenario: a command panics inside MULTI/EXEC while the AOF is on. Before, the queued
/// commands before the panic stayed applied, the AOF was left with a MULTI it never closed,
/// the server went on acknowledging writes, and the next start reverted that "incomplete
/// transaction" together with every write after it. Now the panic ends the process (the
/// dataset may be half-changed), and the restart has every acknowledged write and none of
/// the transaction.
#[test]
fn a_panic_inside_exec_costs_no_acknowledged_write() {
    let dir = TempDir::new("durability", "panic");
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--enable-debug-command",
        "yes",
    ];
    let (child, mut conn, port) = start(&dir.0, &args);
    let mut child = KillOnDrop(child);
    assert_eq!(conn.words("ZADD z 1 b 2 a"), b":2\r\n");
    assert_eq!(conn.words("SET before 0"), b"+OK\r\n");
    assert_eq!(conn.words("MULTI"), b"+OK\r\n");
    assert_eq!(conn.words("SET a 1"), b"+QUEUED\r\n");
    assert_eq!(conn.words("DEBUG PANIC"), b"+QUEUED\r\n");
    assert_eq!(conn.words("SET c 3"), b"+QUEUED\r\n");
    conn.send(&common::encode(&[b"EXEC"]));
    let exec = conn.reply();
    assert!(exec.is_err(), "EXEC answered {exec:?}");

    // Other clients keep writing: whatever is acknowledged must survive.
    let mut acknowledged = vec![("before", "0")];
    for (key, value) in [("d", "4"), ("e", "5")] {
        if set_acknowledged(port, key, value) {
            acknowledged.push((key, value));
        }
    }
    let status = exit_within(&mut child.0, Duration::from_secs(10));
    if status.is_none() {
        kill9(&mut child.0);
    }

    // The supervisor's restart.
    let (child, mut conn, _) = start(&dir.0, &args);
    let mut child = KillOnDrop(child);
    for (key, value) in &acknowledged {
        assert_eq!(
            conn.cmd(&[b"GET", key.as_bytes()]),
            bulk(value),
            "acknowledged write to {key} lost; log:\n{}",
            dir.log()
        );
    }
    assert_eq!(conn.words("ZCARD z"), b":2\r\n");
    // All or nothing: the transaction never completed, and was never acknowledged.
    assert_eq!(conn.words("GET a"), b"$-1\r\n", "half a transaction");
    assert_eq!(conn.words("GET c"), b"$-1\r\n", "half a transaction");
    // The restarted server works and keeps what it acknowledges.
    assert_eq!(conn.words("SET d 4"), b"+OK\r\n");
    kill9(&mut child.0);
    let (child, mut conn, _) = start(&dir.0, &args);
    let mut child = KillOnDrop(child);
    assert_eq!(conn.words("GET d"), bulk("4"));
    kill9(&mut child.0);

    // The policy: a panic inside a command is a bug report and an exit with status 1.
    let status = status.expect("the server went on serving after a panic inside a command");
    assert_eq!(status.code(), Some(1), "{status}");
    let log = dir.log();
    assert!(log.contains("=== RESPD BUG REPORT START"), "{log}");
    assert!(log.contains("DEBUG PANIC called at Unix time"), "{log}");
    assert!(
        log.contains("Command: 'debug' with 2 arguments, inside 'exec'"),
        "{log}"
    );
    assert!(log.contains("=== RESPD BUG REPORT END"), "{log}");
}

/// A tmpfs of 5 MB mounted on a fresh directory, unmounted on drop; respd runs on it with
/// its log file elsewhere (the log must not need the full disk).
struct SmallDisk {
    dir: TempDir,
    logs: TempDir,
    port: u16,
}

impl SmallDisk {
    /// The mounted disk, or `None` (having printed SKIPPED) when not root or mount fails.
    fn mount(test: &str) -> Option<SmallDisk> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            println!("SKIPPED: {test}: mounting a small tmpfs needs root");
            return None;
        }
        let dir = TempDir::new("durability", test);
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=5m", "tmpfs"])
            .arg(&dir.0)
            .status();
        match mounted {
            Ok(s) if s.success() => Some(SmallDisk {
                dir,
                logs: TempDir::new("durability", &format!("{test}-log")),
                port: common::free_port(),
            }),
            other => {
                println!("SKIPPED: {test}: mount -t tmpfs failed: {other:?}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    /// Starts respd with `dir` on this disk and connects once it listens.
    fn start(&self, args: &[&str]) -> (Child, RawConn) {
        let log = self.logs.0.join("respd.log");
        let command = respd_command_logging_to(self.path(), &log, self.port, args);
        start_command(command, self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.logs.0.join("respd.log")).unwrap_or_default()
    }

    /// Fills the disk with `dir/filler`, then gives back about `leave` bytes.
    fn fill_leaving(&self, leave: u64) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = File::create(&path).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut written = 0u64;
        for _ in 0..1000 {
            match file.write(&chunk) {
                Ok(n) if n > 0 => written += n as u64,
                _ => break,
            }
        }
        assert!(written > 0, "the tmpfs took nothing");
        drop(file);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(written.saturating_sub(leave)).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir.0).status();
    }
}

const MISCONF_ENOSPC: &[u8] =
    b"-MISCONF Errors writing to the AOF file: No space left on device\r\n";

/// Scenario: the AOF's disk fills up under `appendfsync everysec`. Before, every SET was
/// answered OK and most were missing after a restart. Now, as in Redis, the write that
/// fails is kept in memory and retried once a second, write commands (and PING) get
/// MISCONF meanwhile, reads go on, and once space is back writes are accepted again: after
/// `kill -9` and a restart every acknowledged write is there.
#[test]
fn a_full_disk_refuses_writes_and_loses_no_acknowledged_one() {
    let Some(disk) = SmallDisk::mount("disk-full") else {
        return;
    };
    let args = ["--appendonly", "yes", "--appendfsync", "everysec"];
    let (child, mut conn) = disk.start(&args);
    let mut child = KillOnDrop(child);
    let port = disk.port;
    // A transaction queued before the disk fills, with a write in it.
    let mut tx = RawConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(tx.words("MULTI"), b"+OK\r\n");
    assert_eq!(tx.words("SET tx 1"), b"+QUEUED\r\n");

    let filler = disk.fill_leaving(48 * 1024);
    let value = "v".repeat(100);
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..4000 {
        let key = format!("key:{i}");
        let reply = conn.cmd(&[b"SET", key.as_bytes(), value.as_bytes()]);
        if reply == b"+OK\r\n" {
            acknowledged.push(key);
        } else {
            assert_eq!(reply, MISCONF_ENOSPC, "SET {i}");
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "a full disk refused none of 4000 writes ({} acknowledged)",
        acknowledged.len()
    );
    assert!(!acknowledged.is_empty());
    println!(
        "full disk, appendfsync everysec: {} of 4000 SETs acknowledged, {refused} refused with MISCONF",
        acknowledged.len()
    );
    assert_eq!(info_field(&mut conn, "aof_last_write_status"), "err");
    assert_eq!(conn.words("PING"), MISCONF_ENOSPC);
    assert_eq!(conn.words("GET key:0"), bulk(&value), "reads go on");
    assert_eq!(
        tx.words("EXEC"),
        b"-EXECABORT Transaction discarded because of: MISCONF Errors writing to the AOF file: No space left on device\r\n"
    );
    assert_eq!(tx.words("MULTI"), b"+OK\r\n");
    assert_eq!(tx.words("GET key:0"), b"+QUEUED\r\n");
    assert_eq!(
        tx.words("EXEC"),
        [b"*1\r\n".as_slice(), &bulk(&value)].concat(),
        "a transaction of reads runs"
    );

    // Space comes back: the cron's retry writes what was kept, and writes work again.
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while conn.words("PING") != b"+PONG\r\n" {
        assert!(
            Instant::now() < deadline,
            "writes still refused with free space"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(info_field(&mut conn, "aof_last_write_status"), "ok");
    assert_eq!(conn.words("SET after 1"), b"+OK\r\n");
    let text = disk.log();
    assert!(
        text.contains("Error writing to the AOF file: No space left on device")
            || text.contains("Short write while writing to the AOF file"),
        "{text}"
    );
    assert!(text.contains("AOF write error looks solved"), "{text}");
    kill9(&mut child.0);

    let (child, mut conn) = disk.start(&args);
    let mut child = KillOnDrop(child);
    for key in &acknowledged {
        assert_eq!(
            conn.cmd(&[b"GET", key.as_bytes()]),
            bulk(&value),
            "acknowledged {key} lost ({} acknowledged, {refused} refused)",
            acknowledged.len()
        );
    }
    assert_eq!(conn.words("GET after"), bulk("1"));
    assert_eq!(conn.words("EXISTS tx"), b":0\r\n");
    // Nothing refused was applied either.
    assert_eq!(
        conn.words("DBSIZE"),
        format!(":{}\r\n", acknowledged.len() + 1).into_bytes()
    );
    kill9(&mut child.0);
}

/// With `appendfsync always` a failed AOF write stops the server (Redis 7.0.15 exits too:
/// the reply of the write would claim a durability that is not there); what it
/// acknowledged before is all on disk.
#[test]
fn a_full_disk_with_appendfsync_always_exits_keeping_every_acknowledged_write() {
    let Some(disk) = SmallDisk::mount("disk-full-always") else {
        return;
    };
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let (child, mut conn) = disk.start(&args);
    let mut child = KillOnDrop(child);
    let filler = disk.fill_leaving(48 * 1024);
    let value = "v".repeat(100);
    let mut acknowledged = 0;
    for i in 0..4000 {
        let key = format!("key:{i}");
        if conn
            .try_send(&common::encode(&[b"SET", key.as_bytes(), value.as_bytes()]))
            .is_err()
        {
            break;
        }
        match conn.reply() {
            Ok(r) if r == b"+OK\r\n" => acknowledged += 1,
            Ok(r) => panic!("SET {i}: {}", String::from_utf8_lossy(&r)),
            Err(_) => break,
        }
    }
    assert!(acknowledged > 0 && acknowledged < 4000, "{acknowledged}");
    let status = exit_within(&mut child.0, Duration::from_secs(10)).expect("respd did not exit");
    assert_eq!(status.code(), Some(1), "{status}");
    let text = disk.log();
    assert!(
        text.contains(
            "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
        ),
        "{text}"
    );
    std::fs::remove_file(filler).unwrap();
    let (child, mut conn) = disk.start(&args);
    let mut child = KillOnDrop(child);
    for i in 0..acknowledged {
        let key = format!("key:{i}");
        assert_eq!(conn.cmd(&[b"GET", key.as_bytes()]), bulk(&value), "{key}");
    }
    kill9(&mut child.0);
}
