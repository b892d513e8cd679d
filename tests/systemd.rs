//! systemd integration, tested against the real `respd` binary: the test plays the service
//! manager.
//!
//! It owns a Unix datagram socket, hands its path to respd in `$NOTIFY_SOCKET` (as systemd
//! does for `Type=notify`), and reads what respd reports: `EXTEND_TIMEOUT_USEC` while loading,
//! `READY=1` only once the port answers, `WATCHDOG=1` pings when `$WATCHDOG_USEC` is set,
//! `STOPPING=1` with `STATUS=Saving final snapshot` on SIGTERM. Socket activation is tested by
//! passing listening sockets as fds 3 and 4 through `sh`'s redirections (std's `Command`
//! can pass a socket as standard input or output without `unsafe`; the shell moves them).
//! See src/systemd.rs for the protocol.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::RawConn;

/// A socket standing in for systemd's notify socket, removed when dropped.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn new(name: &str) -> NotifySocket {
        let path = std::env::temp_dir().join(format!("respd-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).unwrap();
        NotifySocket { socket, path }
    }

    /// The next message, or None if none arrives within `wait`.
    fn next(&self, wait: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 1024];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Reads messages until one contains `needle`; returns those read before it, and it.
    fn wait_for(&self, needle: &str, limit: Duration) -> (Vec<String>, String) {
        let deadline = Instant::now() + limit;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left.max(Duration::from_millis(1))) {
                Some(m) if m.contains(needle) => return (before, m),
                Some(m) => before.push(m),
                None => panic!("no {needle:?} from respd; got {before:?}"),
            }
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Kills (by its process id) a child the test started, if it is still running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A working directory of the test's own, so a final save lands there.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("respd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "respd did not exit");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn supervised_systemd_without_notify_socket_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_respd"))
        .args([
            "--supervised",
            "systemd",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
        ])
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The refusal is logged, and the log is standard output.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOTIFY_SOCKET"), "{stdout}");
}

#[test]
fn ready_watchdog_and_stopping_are_reported() {
    let notify = NotifySocket::new("notify");
    let dir = workdir("notify");
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_respd"))
        .current_dir(&dir)
        .args(["--supervised", "systemd", "--port", &port.to_string()])
        .args(["--hz", "50", "--bind", "127.0.0.1"])
        // Redis's default save points (respd's own default is in-memory only), so that
        // SIGTERM saves and reports it.
        .args(["--save", "3600 1 300 100 60 10000"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = KillOnDrop(child);

    let (before, ready) = notify.wait_for("READY=1", Duration::from_secs(10));
    // READY=1 means "serving": the port must answer the moment it arrives.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(RawConn::connect(addr).cmd(&[b"PING"]), b"+PONG\r\n");
    assert!(
        ready.contains("STATUS=Ready to accept connections"),
        "{ready}"
    );
    assert!(
        before.iter().any(|m| m.contains("EXTEND_TIMEOUT_USEC=")),
        "the start timeout is extended while loading: {before:?}"
    );
    assert!(!before.iter().any(|m| m.contains("WATCHDOG=1")));

    // WATCHDOG_USEC=200000: a ping about every 100 ms.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        let (_, m) = notify.wait_for("WATCHDOG=1", Duration::from_secs(5));
        assert_eq!(m, "WATCHDOG=1");
        pings += 1;
    }
    assert!(started.elapsed() < Duration::from_secs(3));

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Save points are on, so SIGTERM saves first.
    let (_, stopping) = notify.wait_for("STOPPING=1", Duration::from_secs(10));
    assert!(
        stopping.contains("STATUS=Saving final snapshot"),
        "{stopping}"
    );
    assert_eq!(
        wait_exit(&mut child.0, Duration::from_secs(10)).code(),
        Some(0)
    );
    assert!(dir.join("dump.rdb").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn supervised_auto_notifies_when_there_is_a_notify_socket() {
    let notify = NotifySocket::new("auto");
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_respd"))
        .args(["--supervised", "auto", "--port", &port.to_string()])
        .args(["--save=", "--bind", "127.0.0.1"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    notify.wait_for("READY=1", Duration::from_secs(10));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(RawConn::connect(addr).cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn supervised_no_sends_nothing_even_with_a_notify_socket() {
    let notify = NotifySocket::new("silent");
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_respd"))
        .args(["--supervised", "no", "--port", &port.to_string()])
        .args(["--save=", "--bind", "127.0.0.1"])
        .env("NOTIFY_SOCKET", &notify.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "respd did not start");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(notify.next(Duration::from_millis(200)), None);
}

#[test]
fn socket_activation_uses_matching_sockets_and_closes_the_others() {
    let notify = NotifySocket::new("activation");
    let wanted = TcpListener::bind("127.0.0.1:0").unwrap();
    let unwanted = TcpListener::bind("127.0.0.1:0").unwrap();
    let wanted_addr = wanted.local_addr().unwrap();
    let unwanted_addr = unwanted.local_addr().unwrap();
    // The two listeners go in as standard input and output; the shell moves them to fds 3
    // and 4, sets LISTEN_PID to its own pid (which `exec` hands on to respd) and runs respd
    // with its standard output (the log) on the piped standard error.
    let script = r#"exec 3<&0 4>&1 0</dev/null 1>&2
LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" "$@""#;
    let mut command = Command::new("sh");
    command
        .args(["-c", script, env!("CARGO_BIN_EXE_respd")])
        .args(["--supervised", "systemd", "--save="])
        .args([
            "--port",
            &wanted_addr.port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .env("NOTIFY_SOCKET", &notify.path)
        .stdin(Stdio::from(OwnedFd::from(wanted)))
        .stdout(Stdio::from(OwnedFd::from(unwanted)))
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(command.spawn().unwrap());
    // The Command still holds the parent's copies of both sockets: close them, so only
    // respd's copies remain.
    drop(command);

    notify.wait_for("READY=1", Duration::from_secs(10));
    assert_eq!(
        RawConn::connect(wanted_addr).cmd(&[b"PING"]),
        b"+PONG\r\n",
        "the passed socket is served"
    );
    assert!(
        TcpStream::connect(unwanted_addr).is_err(),
        "the socket that matches no bind address was closed"
    );
    // The passed sockets stay for the life of the process: CONFIG SET refuses to move
    // them (systemd keeps its own copy listening), and accepts the value in force.
    let mut conn = RawConn::connect(wanted_addr);
    let other = common::free_port().to_string();
    assert_eq!(
        String::from_utf8_lossy(&conn.cmd(&[b"CONFIG", b"SET", b"port", other.as_bytes()])),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - can't change the sockets passed by systemd socket activation\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&conn.cmd(&[b"CONFIG", b"SET", b"bind", b"127.0.0.1 127.0.0.2"])),
        "-ERR CONFIG SET failed (possibly related to argument 'bind') - can't change the sockets passed by systemd socket activation\r\n"
    );
    let port = wanted_addr.port().to_string();
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"SET", b"port", port.as_bytes()]),
        b"+OK\r\n"
    );
    assert_eq!(RawConn::connect(wanted_addr).cmd(&[b"PING"]), b"+PONG\r\n");
    child.0.kill().unwrap();
    let out = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap());
    let log = String::from_utf8_lossy(&out.wait_with_output().unwrap().stderr).into_owned();
    assert!(
        log.contains(&format!(
            "Using the listening socket {wanted_addr} passed by systemd (fd 3)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "Closing the socket {unwanted_addr} passed by systemd (fd 4)"
        )),
        "{log}"
    );
}

#[test]
fn sighup_reloads_runtime_directives_and_reports_reloading() {
    let notify = NotifySocket::new("reload");
    let dir = workdir("reload");
    let conf = dir.join("respd.conf");
    std::fs::write(&conf, "hz 10\nmaxclients 100\ndatabases 16\n").unwrap();
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_respd"))
        .arg(&conf)
        .args([
            "--supervised",
            "systemd",
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        // The command line wins over the file, before and after a reload.
        .args(["--timeout", "7"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _child = KillOnDrop(child);
    notify.wait_for("READY=1", Duration::from_secs(10));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = RawConn::connect(addr);
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$3\r\n100\r\n"
    );

    std::fs::write(&conf, "hz 25\nmaxclients 200\ndatabases 32\ntimeout 99\n").unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (_, reloading) = notify.wait_for("RELOADING=1", Duration::from_secs(10));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    notify.wait_for("READY=1", Duration::from_secs(10));
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$3\r\n200\r\n"
    );
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"hz"]),
        b"*2\r\n$2\r\nhz\r\n$2\r\n25\r\n"
    );
    // Immutable: needs a restart.
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"databases"]),
        b"*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n"
    );
    // The command line still wins.
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"timeout"]),
        b"*2\r\n$7\r\ntimeout\r\n$1\r\n7\r\n"
    );
    // And the server is still serving.
    assert_eq!(conn.cmd(&[b"PING"]), b"+PONG\r\n");
}
