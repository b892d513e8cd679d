//! Lifecycle tests: connection limits, shutdown, and the `respd` binary's command line and
//! signal handling.
//!
//! Counterpart of the parts of Redis `tests/unit/introspection.tcl` and
//! `tests/integration/shutdown.tcl` that apply. In-process servers check `maxclients` and
//! shutdown (dropping a `ServerHandle` stops the server); the binary itself
//! (`CARGO_BIN_EXE_respd`) is run for `--version`, `--help`, config errors and SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{encode, show, RawConn, RedisServer, TestServer};

const MAX_CLIENTS_ERROR: &[u8] = b"-ERR max number of clients reached\r\n";

#[test]
fn maxclients_plus_one_gets_the_error_and_a_close() {
    let respd = TestServer::with_config(|c| c.maxclients = 2);
    let redis = RedisServer::start_with(&["--maxclients", "2"]);
    if redis.is_none() {
        common::skip_note("maxclients_plus_one_gets_the_error_and_a_close: respd only");
    }
    let mut addrs = vec![("respd", respd.addr())];
    addrs.extend(redis.as_ref().map(|r| ("redis", r.addr())));
    for (name, addr) in addrs {
        let mut first = RawConn::connect(addr);
        let mut second = RawConn::connect(addr);
        assert_eq!(first.cmd(&[b"PING"]), b"+PONG\r\n", "{name}");
        assert_eq!(second.cmd(&[b"PING"]), b"+PONG\r\n", "{name}");
        let mut third = RawConn::connect(addr);
        let reply = third
            .reply()
            .unwrap_or_else(|e| panic!("{name}: no error: {e}"));
        assert_eq!(show(&reply), show(MAX_CLIENTS_ERROR), "{name}");
        assert!(
            third.is_closed_within(Duration::from_secs(5)),
            "{name}: rejected connection left open"
        );
        // The two accepted clients are unaffected, and a freed slot can be taken again.
        assert_eq!(first.cmd(&[b"PING"]), b"+PONG\r\n", "{name}");
        drop(second);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut again = RawConn::connect(addr);
            again.send(&encode(&[b"PING"]));
            match again.reply() {
                Ok(r) if r == b"+PONG\r\n" => break,
                Ok(r) if r == MAX_CLIENTS_ERROR && Instant::now() < deadline => {
                    // The server has not noticed the close yet.
                    thread::sleep(Duration::from_millis(20));
                }
                other => panic!("{name}: after a client left: {other:?}"),
            }
        }
    }
    assert!(
        respd
            .handle()
            .shared()
            .stats
            .rejected_connections
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[test]
fn shutdown_is_prompt_with_idle_clients_connected() {
    let server = TestServer::start();
    let mut clients: Vec<RawConn> = (0..5).map(|_| server.conn()).collect();
    for c in &mut clients {
        assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    server.wait_for_clients(5, Duration::from_secs(5));
    let took = server.shutdown();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    for c in &mut clients {
        assert!(
            c.is_closed_within(Duration::from_secs(2)),
            "client not closed"
        );
    }
}

#[test]
fn shutdown_is_prompt_with_a_client_blocked_mid_command() {
    let server = TestServer::start();
    let mut half = server.conn();
    // Half a SET: the worker is blocked reading the rest of the value.
    half.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly-a-few-bytes");
    // A client that never reads, with replies queued on the server.
    let mut lazy = server.conn();
    lazy.send(&encode(&[b"ECHO", &[b'x'; 1000]]).repeat(20_000));
    server.wait_for_clients(2, Duration::from_secs(5));
    thread::sleep(Duration::from_millis(200));
    let took = server.shutdown();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(half.is_closed_within(Duration::from_secs(2)));
}

#[test]
fn new_connections_are_refused_after_shutdown() {
    let server = TestServer::start();
    let addr = server.addr();
    server.shutdown();
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Err(_) => {}
        Ok(s) => {
            // Accepted by the kernel backlog at most; nobody must answer.
            let mut c = RawConn::connect(addr);
            drop(s);
            c.send(b"PING\r\n");
            assert!(c.reply().is_err(), "a stopped server answered");
        }
    }
}

// ---- the binary ----

fn respd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_respd"))
}

/// Runs the binary to completion (it must finish within 10 s) and returns its output.
fn run(args: &[&str]) -> Output {
    let child = respd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run respd");
    let mut guard = KillOnDrop(Some(child));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let child = guard.0.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            return guard.0.take().unwrap().wait_with_output().unwrap();
        }
        assert!(Instant::now() < deadline, "respd {args:?} did not exit");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The child's log lines, as they come, collected on a thread (respd logs to standard output,
/// as Redis does, when no logfile is set).
fn log_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel::<String>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Kills (by its process id) a child the test started, if it is still running.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_flag_prints_the_version() {
    let out = run(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version printed {stdout:?}"
    );
}

#[test]
fn help_flag_lists_the_directives() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    for directive in [
        "--port",
        "--bind",
        "--maxclients",
        "--proto-max-bulk-len",
        "--client-output-buffer-limit",
    ] {
        assert!(
            stdout.contains(directive),
            "--help does not mention {directive}"
        );
    }
    assert!(stdout.to_lowercase().contains("directive"), "{stdout}");
}

/// A config file in the temp directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("respd-test-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn bad_config_file_line_exits_1_and_names_the_line() {
    let file = TempFile::new(
        "bad-directive.conf",
        "# a comment\nport 0\nno-such-directive yes\n",
    );
    let out = run(&[file.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3"),
        "the error does not name line 3: {stderr}"
    );
    assert!(stderr.contains("no-such-directive yes"), "{stderr}");
    assert!(
        stderr.contains("Bad directive or wrong number of arguments"),
        "{stderr}"
    );

    let file = TempFile::new("bad-value.conf", "port 0\n\nmaxclients many\n");
    let out = run(&[file.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("maxclients many"), "{stderr}");
}

#[test]
fn missing_config_file_exits_1() {
    let out = run(&["/nonexistent/respd-test.conf"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("/nonexistent/respd-test.conf"));
}

#[test]
fn unknown_command_line_directive_exits_1() {
    // redis-server exits 1 for an unknown --option ("Bad directive or wrong number of
    // arguments"); a usage error must not be mistaken for success, nor use another code.
    let out = run(&["--no-such-directive", "1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("no-such-directive"), "{out:?}");
}

#[test]
fn bad_command_line_value_exits_1() {
    let out = run(&["--maxclients", "many"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("maxclients"), "{out:?}");
}

#[test]
fn sigterm_shuts_down_cleanly_with_a_client_connected() {
    let port = common::free_port();
    // With Redis's default save points SIGTERM writes dump.rdb into the working directory:
    // give the server a directory of its own (tests/persistence.rs checks that file).
    let workdir = std::env::temp_dir().join(format!("respd-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let child = respd()
        .current_dir(&workdir)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start respd");
    let pid = child.id();
    let mut guard = KillOnDrop(Some(child));
    // Log lines go to standard output (as Redis's); collect them on a thread, line by line.
    let lines = log_lines(guard.0.as_mut().unwrap().stdout.take().unwrap());
    let mut log = Vec::new();
    let wait_for = |log: &mut Vec<String>, needle: &str, limit: Duration| {
        let deadline = Instant::now() + limit;
        while !log.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) => log.push(l),
                Err(_) => panic!("no log line containing {needle:?}; log so far: {log:#?}"),
            }
        }
    };
    wait_for(
        &mut log,
        "Ready to accept connections",
        Duration::from_secs(10),
    );

    let mut client = RawConn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(client.cmd(&[b"PING"]), b"+PONG\r\n");

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let exit = loop {
        if let Some(s) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "respd still running 5 s after SIGTERM"
        );
        thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(exit.code(), Some(0), "exit status after SIGTERM");
    wait_for(&mut log, "SIGTERM", Duration::from_secs(2));
    wait_for(&mut log, "ready to exit", Duration::from_secs(2));
    assert!(client.is_closed_within(Duration::from_secs(2)));
    let _ = std::fs::remove_dir_all(&workdir);
}

/// Directives on the command line split like redis-server's: each `--name` takes the words up
/// to the next `--name`, so a multi-word value (`--bind a b`) and an empty one (`--save ""`)
/// may come anywhere, and `--name=value` works too.
#[test]
fn command_line_directives_take_the_words_up_to_the_next_option() {
    let port = common::free_port();
    let child = respd()
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--port",
            &port.to_string(),
            "--hz=20",
            "--loglevel",
            "warning",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start respd");
    let _guard = KillOnDrop(Some(child));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            break common::RawConn::connect(addr);
        }
        assert!(Instant::now() < deadline, "respd did not start");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"save"]),
        b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    );
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"hz"]),
        b"*2\r\n$2\r\nhz\r\n$2\r\n20\r\n"
    );
    assert_eq!(
        conn.cmd(&[b"CONFIG", b"GET", b"bind"]),
        b"*2\r\n$4\r\nbind\r\n$9\r\n127.0.0.1\r\n"
    );
}

/// `--bind "127.0.0.1 -::1"`: one argument holding several values means what the config file
/// line `bind 127.0.0.1 -::1` means, as with redis-server (its loader splits the one argument
/// of a multi-word directive again). A single word holding name and value (`"--hz 20"`) works
/// too. Checked against redis-server given the same arguments.
#[test]
fn a_single_argument_may_hold_several_values() {
    let port = common::free_port();
    let args = [
        "--bind",
        "127.0.0.1 -::1",
        "--client-output-buffer-limit",
        "normal 10mb 5mb 2",
        "--hz 20",
        "--save",
        "",
    ];
    let child = respd()
        .args(["--port", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start respd");
    let mut guard = KillOnDrop(Some(child));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if let Some(status) = guard.0.as_mut().unwrap().try_wait().unwrap() {
            let out = guard.0.take().unwrap().wait_with_output().unwrap();
            panic!(
                "respd exited with {status}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "respd did not start");
        thread::sleep(Duration::from_millis(20));
    }
    let mut servers = vec![("respd", RawConn::connect(addr))];
    let redis = RedisServer::start_with(&args);
    match &redis {
        Some(r) => servers.push(("redis", r.conn())),
        None => common::skip_note("a_single_argument_may_hold_several_values: respd only"),
    }
    for (name, mut conn) in servers {
        assert_eq!(
            show(&conn.cmd(&[b"CONFIG", b"GET", b"bind"])),
            show(b"*2\r\n$4\r\nbind\r\n$14\r\n127.0.0.1 -::1\r\n"),
            "{name}"
        );
        let limits =
            b"normal 10485760 5242880 2 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        let mut expected = format!(
            "*2\r\n$26\r\nclient-output-buffer-limit\r\n${}\r\n",
            limits.len()
        )
        .into_bytes();
        expected.extend_from_slice(limits);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(
            show(&conn.cmd(&[b"CONFIG", b"GET", b"client-output-buffer-limit"])),
            show(&expected),
            "{name}"
        );
        assert_eq!(
            show(&conn.cmd(&[b"CONFIG", b"GET", b"hz"])),
            show(b"*2\r\n$2\r\nhz\r\n$2\r\n20\r\n"),
            "{name}"
        );
    }
}

/// `timeout` closes idle clients but not subscribers or clients blocked in BLPOP, as Redis's
/// clientsCronHandleTimeout: the job pushed after the timeout still reaches the blocked
/// client, and the message published after it still reaches the subscriber.
#[test]
fn timeout_spares_subscribers_and_blocked_clients() {
    let server = TestServer::with_config(|c| c.timeout = 1);
    let mut blocked = server.conn();
    blocked.send(&encode(&[b"BLPOP", b"jobs", b"0"]));
    let mut subscriber = server.conn();
    assert_eq!(
        subscriber.cmd(&[b"SUBSCRIBE", b"news"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    let mut resp3_subscriber = server.conn();
    resp3_subscriber.cmd(&[b"HELLO", b"3"]);
    assert_eq!(
        resp3_subscriber.cmd(&[b"PSUBSCRIBE", b"ne*"]),
        b">3\r\n$10\r\npsubscribe\r\n$3\r\nne*\r\n:1\r\n"
    );
    let mut idle = server.conn();
    assert_eq!(idle.cmd(&[b"PING"]), b"+PONG\r\n");
    // The idle client, whose last command came after the others', is closed first...
    assert!(
        idle.is_closed_within(Duration::from_secs(15)),
        "an idle client outlived `timeout 1`"
    );
    // ...and a few more cron rounds pass.
    thread::sleep(Duration::from_millis(600));
    let mut other = server.conn();
    assert_eq!(other.cmd(&[b"LPUSH", b"jobs", b"work"]), b":1\r\n");
    assert_eq!(
        show(&blocked.reply().expect("the blocked client was closed")),
        show(b"*2\r\n$4\r\njobs\r\n$4\r\nwork\r\n")
    );
    assert_eq!(other.cmd(&[b"PUBLISH", b"news", b"hi"]), b":2\r\n");
    assert_eq!(
        show(&subscriber.reply().expect("the subscriber was closed")),
        show(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n")
    );
    assert_eq!(
        show(
            &resp3_subscriber
                .reply()
                .expect("the RESP3 subscriber was closed")
        ),
        show(b">4\r\n$8\r\npmessage\r\n$3\r\nne*\r\n$4\r\nnews\r\n$2\r\nhi\r\n")
    );
}

/// True if this process runs as root (`id -u` says 0).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// With `ulimit -n 128`, respd cannot hold 10000 clients: it lowers maxclients to what fits
/// and logs why, as Redis's adjustOpenFilesLimit. Then 200 clients each get an answer, a
/// PONG or the max clients error, instead of sitting unaccepted while the accept loop fails
/// with "Too many open files" (and logs it every few milliseconds).
#[test]
fn a_low_open_files_limit_lowers_maxclients_and_every_client_gets_an_answer() {
    // root could raise the limit again; drop that privilege (CAP_SYS_RESOURCE) for respd.
    let mut wrapper: Vec<String> = Vec::new();
    if running_as_root() {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("SKIPPED: a_low_open_files_limit...: running as root without setpriv(1), which is needed to keep respd from raising its limit");
            return;
        }
        wrapper.extend(
            [
                "setpriv",
                "--inh-caps=-sys_resource",
                "--bounding-set=-sys_resource",
            ]
            .map(String::from),
        );
    }
    let port = common::free_port();
    let child = Command::new("sh")
        .args(["-c", "ulimit -n 128 && exec \"$@\"", "sh"])
        .args(&wrapper)
        .arg(env!("CARGO_BIN_EXE_respd"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start respd under sh");
    let mut guard = KillOnDrop(Some(child));
    let lines = log_lines(guard.0.as_mut().unwrap().stdout.take().unwrap());
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log
        .iter()
        .any(|l: &String| l.contains("Ready to accept connections"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => log.push(l),
            Err(_) => panic!("respd did not start; log: {log:#?}"),
        }
    }
    // (128 - 32 reserved) / 3 descriptors per client.
    let expected_maxclients =
        (128 - respd::server::MIN_RESERVED_FDS) / respd::server::FDS_PER_CLIENT;
    assert!(
        log.iter().any(|l| l.contains(&format!(
            "Current maximum open files is 128. maxclients has been reduced to {expected_maxclients} to compensate for low ulimit."
        ))),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains(
            "You requested maxclients of 10000 requiring at least 30032 max file descriptors."
        )),
        "{log:#?}"
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut admin = RawConn::connect(addr);
    let value = expected_maxclients.to_string();
    assert_eq!(
        show(&admin.cmd(&[b"CONFIG", b"GET", b"maxclients"])),
        show(format!("*2\r\n$10\r\nmaxclients\r\n${}\r\n{value}\r\n", value.len()).as_bytes())
    );

    let mut clients: Vec<RawConn> = (0..200).map(|_| RawConn::connect(addr)).collect();
    for c in &mut clients {
        let _ = c.try_send(&encode(&[b"PING"]));
    }
    // Every client must answer within the overall deadline; a silent one fails the test.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut pongs, mut refused) = (0, 0);
    for (i, c) in clients.iter_mut().enumerate() {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        c.stream().set_read_timeout(Some(left)).unwrap();
        match c.reply() {
            Ok(r) if r == b"+PONG\r\n" => pongs += 1,
            Ok(r) if r == MAX_CLIENTS_ERROR => refused += 1,
            other => panic!("client {i}: {other:?} ({pongs} PONGs, {refused} refusals so far)"),
        }
    }
    assert_eq!(pongs + refused, 200);
    assert!(
        pongs >= 1 && refused >= 1,
        "{pongs} PONGs, {refused} refusals"
    );
    // The admin connection still works.
    assert_eq!(admin.cmd(&[b"PING"]), b"+PONG\r\n");
    drop(clients);
    thread::sleep(Duration::from_millis(200));
    while let Ok(l) = lines.try_recv() {
        log.push(l);
    }
    let accept_errors = log
        .iter()
        .filter(|l| l.contains("Accepting client connection"))
        .count();
    assert!(
        accept_errors <= 5,
        "{accept_errors} accept errors logged: {log:#?}"
    );
}
