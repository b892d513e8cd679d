//! Starting the way Redis's own test suite starts a server: `respd CONFIG-FILE` with the
//! suite's default.conf (tests/fixtures/redis-suite-default.conf) plus its per-server lines.
//!
//! The suite (tests/support/server.tcl) redirects the server's standard output to a file and
//! waits for ` PID: <pid>` in it (the start banner, printed because of `always-show-logo
//! yes`), then for "Ready to accept"; it retries on another port when it reads "Failed
//! listening on port". `pidfile` and `logfile` behave as Redis's.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A scratch directory removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("respd-suite-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fixture with the suite's own additions, as create_server_config_file writes them
/// (the dict replaces a directive's line in place; our pidfile replaces /var/run/redis.pid).
fn suite_config(dir: &Path, port: u16, extra: &[(&str, String)]) -> PathBuf {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/redis-suite-default.conf"
    ))
    .unwrap();
    let mut text = String::new();
    let mut overrides: Vec<(&str, String)> = vec![
        ("port", port.to_string()),
        ("dir", dir.display().to_string()),
        ("pidfile", dir.join("respd.pid").display().to_string()),
    ];
    overrides.extend(extra.iter().cloned());
    for line in fixture.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        match overrides.iter().position(|(n, _)| *n == name) {
            Some(i) => {
                let (n, v) = overrides.remove(i);
                text.push_str(&format!("{n} {v}\n"));
            }
            None => text.push_str(&format!("{line}\n")),
        }
    }
    for (n, v) in overrides {
        text.push_str(&format!("{n} {v}\n"));
    }
    text.push_str(&format!("unixsocket {}\n", dir.join("socket").display()));
    let file = dir.join("redis.conf");
    std::fs::write(&file, text).unwrap();
    file
}

/// Starts `respd CONFIG-FILE` with standard output into `dir/stdout`, as the suite does.
fn spawn(dir: &Path, config: &Path) -> KillOnDrop {
    let stdout = std::fs::File::create(dir.join("stdout")).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_respd"))
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start respd");
    KillOnDrop(Some(child))
}

/// Waits (10 s at most) until `file` contains `needle`; returns the file's text.
fn wait_for(file: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never contained {needle:?}:\n{text}",
            file.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm_and_wait(guard: &mut KillOnDrop) {
    let child = guard.0.as_mut().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "respd did not exit after SIGTERM"
        );
        thread::sleep(Duration::from_millis(20));
    }
    guard.0 = None;
}

#[test]
fn starts_with_the_suite_s_default_conf_and_shows_its_pid() {
    let dir = TempDir::new("default");
    let port = common::free_port();
    let config = suite_config(&dir.0, port, &[]);
    let mut guard = spawn(&dir.0, &config);
    let pid = guard.0.as_ref().unwrap().id();
    let log = wait_for(&dir.0.join("stdout"), "Ready to accept connections");
    // The suite's regexp is " PID: $pid", and its port check reads "Port: ".
    assert!(log.contains(&format!(" PID: {pid}\n")), "{log}");
    assert!(log.contains(&format!("Port: {port}")), "{log}");
    // The directives respd ignores and a user may rely on are warned about; the suite's
    // `notify-keyspace-events KEA` is acted on, so it is not.
    assert!(log.contains("'unixsocket "), "{log}");
    assert!(!log.contains("'notify-keyspace-events"), "{log}");
    let pidfile = dir.0.join("respd.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    let mut c = common::RawConn::connect(([127, 0, 0, 1], port).into());
    assert_eq!(
        common::show(&c.cmd(&[b"CONFIG", b"GET", b"notify-keyspace-events"])),
        common::show(b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n")
    );
    sigterm_and_wait(&mut guard);
    assert!(!pidfile.exists(), "the pid file outlived the server");
}

#[test]
fn logfile_receives_the_log_and_the_banner() {
    let dir = TempDir::new("logfile");
    let port = common::free_port();
    let logfile = dir.0.join("respd.log");
    let config = suite_config(&dir.0, port, &[("logfile", logfile.display().to_string())]);
    let mut guard = spawn(&dir.0, &config);
    let pid = guard.0.as_ref().unwrap().id();
    let log = wait_for(&logfile, "Ready to accept connections");
    assert!(log.contains(&format!(" PID: {pid}\n")), "{log}");
    sigterm_and_wait(&mut guard);
    let stdout = std::fs::read_to_string(dir.0.join("stdout")).unwrap();
    assert!(
        !stdout.contains("Ready to accept"),
        "the log went to standard output too: {stdout}"
    );
}

#[test]
fn without_always_show_logo_the_start_says_running_mode() {
    let dir = TempDir::new("nologo");
    let port = common::free_port();
    let config = suite_config(&dir.0, port, &[("always-show-logo", "no".into())]);
    let _guard = spawn(&dir.0, &config);
    let log = wait_for(&dir.0.join("stdout"), "Ready to accept connections");
    assert!(
        log.contains(&format!("Running mode=standalone, port={port}.")),
        "{log}"
    );
    assert!(!log.contains(" PID: "), "{log}");
}

#[test]
fn a_busy_port_logs_failed_listening() {
    let dir = TempDir::new("busy");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = suite_config(&dir.0, port, &[]);
    let mut guard = spawn(&dir.0, &config);
    let log = wait_for(&dir.0.join("stdout"), "Failed listening on port");
    assert!(
        log.contains(&format!("Failed listening on port {port} (TCP), aborting.")),
        "{log}"
    );
    let status = guard.0.take().unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!dir.0.join("respd.pid").exists());
}
