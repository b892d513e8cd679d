//! CONFIG SET's protections: the directives that choose where files are written
//! (`dir`, `dbfilename`) are protected, as in Redis 7.0, and only `enable-protected-configs`
//! (settable at start only) lets clients change them.
//!
//! Counterpart of the protected-config cases of Redis `tests/unit/introspection.tcl`. Without
//! the protection, anyone who reaches the port could `CONFIG SET dir /root/.ssh`,
//! `CONFIG SET dbfilename authorized_keys`, store a key holding their public key, and `SAVE`.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::{encode, on_respd_and_redis, show, RawConn, TestServer};
use respd::config::ProtectedAction;

fn protected_error(name: &str) -> Vec<u8> {
    format!(
        "-ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config\r\n"
    )
    .into_bytes()
}

fn config_get(conn: &mut RawConn, name: &str) -> Vec<u8> {
    conn.cmd(&[b"CONFIG", b"GET", name.as_bytes()])
}

#[test]
fn dir_and_dbfilename_are_protected_by_default() {
    let tmp = std::env::temp_dir();
    let tmp = tmp.to_str().unwrap();
    on_respd_and_redis(
        "dir_and_dbfilename_are_protected_by_default",
        |name, addr| {
            let mut c = RawConn::connect(addr);
            let before = config_get(&mut c, "dir");
            assert_eq!(
                show(&c.cmd(&[b"CONFIG", b"SET", b"dir", tmp.as_bytes()])),
                show(&protected_error("dir")),
                "{name}"
            );
            assert_eq!(
                show(&c.cmd(&[b"CONFIG", b"SET", b"dbfilename", b"authorized_keys"])),
                show(&protected_error("dbfilename")),
                "{name}"
            );
            assert_eq!(show(&config_get(&mut c, "dir")), show(&before), "{name}");
            assert_eq!(
                show(&config_get(&mut c, "dbfilename")),
                show(b"*2\r\n$10\r\ndbfilename\r\n$8\r\ndump.rdb\r\n"),
                "{name}"
            );
            // Several pairs are all or nothing: the refused one leaves the others unchanged.
            let timeout_before = config_get(&mut c, "timeout");
            assert_eq!(
                show(&c.cmd(&[
                    b"CONFIG",
                    b"SET",
                    b"timeout",
                    b"77",
                    b"dbfilename",
                    b"x.rdb"
                ])),
                show(&protected_error("dbfilename")),
                "{name}"
            );
            assert_eq!(
                show(&config_get(&mut c, "timeout")),
                show(&timeout_before),
                "{name}"
            );
            // The switches themselves are fixed at start.
            for switch in [
                "enable-protected-configs",
                "enable-debug-command",
                "enable-module-command",
            ] {
                assert_eq!(
                    show(&config_get(&mut c, switch)),
                    show(format!("*2\r\n${}\r\n{switch}\r\n$2\r\nno\r\n", switch.len()).as_bytes()),
                    "{name}"
                );
                assert_eq!(
                show(&c.cmd(&[b"CONFIG", b"SET", switch.as_bytes(), b"yes"])),
                show(
                    format!(
                        "-ERR CONFIG SET failed (possibly related to argument '{switch}') - can't set immutable config\r\n"
                    )
                    .as_bytes()
                ),
                "{name}"
            );
            }
        },
    );
}

#[test]
fn enable_protected_configs_yes_allows_them() {
    let dir = std::env::temp_dir().join(format!("respd-protected-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::with_config(|c| c.enable_protected_configs = ProtectedAction::Yes);
    let mut c = server.conn();
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"dir",
            dir.to_str().unwrap().as_bytes(),
            b"dbfilename",
            b"mine.rdb"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(
        config_get(&mut c, "dbfilename"),
        b"*2\r\n$10\r\ndbfilename\r\n$8\r\nmine.rdb\r\n"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends one command over a TCP connection to `server` whose local end is bound to `from`
/// first, so the server sees that peer address, and returns the one-line reply.
fn command_from(from: IpAddr, server: SocketAddr, args: &[&[u8]]) -> Vec<u8> {
    use rustix::net::{AddressFamily, SocketType};
    use std::io::{Read, Write};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    rustix::net::bind(&fd, &SocketAddr::new(from, 0)).unwrap();
    rustix::net::connect(&fd, &server).unwrap();
    let mut stream = std::net::TcpStream::from(fd);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&encode(args)).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-reply");
        reply.push(byte[0]);
    }
    reply
}

#[test]
fn enable_protected_configs_local_allows_loopback_peers_only() {
    // protected-mode off: with it on (the default) and no password, Redis and respd turn a
    // client from 127.0.0.2 away before it can send anything.
    let server = TestServer::with_config(|c| {
        c.enable_protected_configs = ProtectedAction::Local;
        c.kept.insert("protected-mode", "no".into());
    });
    let mut local = server.conn();
    assert_eq!(
        local.cmd(&[b"CONFIG", b"SET", b"dbfilename", b"local.rdb"]),
        b"+OK\r\n"
    );
    // 127.0.0.2 is loopback too, but Redis's islocalClient accepts exactly 127.0.0.1 and ::1.
    let other = command_from(
        IpAddr::from([127, 0, 0, 2]),
        server.addr(),
        &[b"CONFIG", b"SET", b"dbfilename", b"other.rdb"],
    );
    assert_eq!(show(&other), show(&protected_error("dbfilename")));
    assert_eq!(
        config_get(&mut local, "dbfilename"),
        b"*2\r\n$10\r\ndbfilename\r\n$9\r\nlocal.rdb\r\n"
    );
}

#[test]
fn the_switches_parse_as_redis_does() {
    let mut config = respd::config::Config::default();
    config
        .apply_text(
            "enable-protected-configs yes\nenable-debug-command LOCAL\nenable-module-command no\n",
            "test.conf",
        )
        .unwrap();
    assert_eq!(config.enable_protected_configs, ProtectedAction::Yes);
    assert_eq!(config.enable_debug_command, ProtectedAction::Local);
    assert_eq!(config.enable_module_command, ProtectedAction::No);
    let err = config
        .apply_text("enable-protected-configs maybe\n", "test.conf")
        .unwrap_err();
    assert_eq!(
        err.reason,
        "argument(s) must be one of the following: no, yes, local"
    );
}

#[test]
fn the_debug_command_refusal_is_redis_text() {
    assert_eq!(
        respd::config::protected_command_error("DEBUG"),
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    );
    let local = IpAddr::from([127, 0, 0, 1]);
    let v6 = "::1".parse::<IpAddr>().unwrap();
    let remote = IpAddr::from([10, 0, 0, 1]);
    assert!(ProtectedAction::Local.allows(local) && ProtectedAction::Local.allows(v6));
    assert!(!ProtectedAction::Local.allows(remote));
    assert!(!ProtectedAction::Local.allows("::ffff:127.0.0.1".parse().unwrap()));
    assert!(ProtectedAction::Yes.allows(remote) && !ProtectedAction::No.allows(local));
}

/// CONFIG SET maxclients beyond what the open files limit can be raised to fails as Redis's
/// updateMaxclients does, and leaves maxclients as it was. (The number suggested depends on
/// the machine's limits, so only the text before it is compared.)
#[test]
fn maxclients_beyond_the_open_files_limit_is_refused() {
    let server = TestServer::start();
    let mut c = server.conn();
    let before = config_get(&mut c, "maxclients");
    let reply = String::from_utf8(c.cmd(&[b"CONFIG", b"SET", b"maxclients", b"400000"])).unwrap();
    assert!(
        reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with "),
        "{reply:?}"
    );
    assert_eq!(config_get(&mut c, "maxclients"), before);
}

/// The value CONFIG GET shows for `name`, as text.
fn config_value(conn: &mut RawConn, name: &str) -> String {
    let reply = String::from_utf8(config_get(conn, name)).unwrap();
    // *2 $len name $len value
    reply.split("\r\n").nth(4).unwrap_or_default().to_string()
}

#[test]
fn config_set_takes_every_directive_at_its_own_value() {
    // introspection.tcl "CONFIG sanity" sets every directive CONFIG GET * lists (but a few
    // it skips) to the value it already has, and expects +OK for each: port and bind too,
    // which then keep their sockets.
    on_respd_and_redis(
        "config_set_takes_every_directive_at_its_own_value",
        |who, addr| {
            let mut c = RawConn::connect(addr);
            for name in ["port", "bind"] {
                let value = config_value(&mut c, name);
                assert_eq!(
                    show(&c.cmd(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()])),
                    show(b"+OK\r\n"),
                    "{who}: CONFIG SET {name} {value}"
                );
                assert_eq!(config_value(&mut c, name), value, "{who}");
            }
        },
    );
    // A malformed port is refused with the parse error, as in Redis (moving to another
    // port is tested in tests/listen.rs).
    on_respd_and_redis("config_set_port_parse_error", |who, addr| {
        let mut c = RawConn::connect(addr);
        assert_eq!(
            show(&c.cmd(&[b"CONFIG", b"SET", b"port", b"abc"])),
            show(b"-ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer\r\n"),
            "{who}"
        );
    });
    let respd = TestServer::start();
    let mut c = respd.conn();
    // thread-stack-size (respd only) applies to threads started afterwards.
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"thread-stack-size", b"512kb"]),
        b"+OK\r\n"
    );
    assert_eq!(config_value(&mut c, "thread-stack-size"), "524288");
    let mut later = respd.conn();
    assert_eq!(later.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// DEBUG SLEEP (allowed by enable-debug-command): replies +OK after at least the time given,
/// and reads its number as C's strtod (junk after it ignored, none at all is 0). Only lower
/// bounds on time are checked.
#[test]
fn debug_sleep_stops_key_commands_for_the_time_given() {
    let server = TestServer::with_config(|c| c.enable_debug_command = ProtectedAction::Yes);
    let mut conn = server.conn();
    assert_eq!(conn.cmd(&[b"DEBUG", b"SLEEP", b"0"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"DEBUG", b"SLEEP", b"abc"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"DEBUG", b"SLEEP", b"-1"]), b"+OK\r\n");
    let started = std::time::Instant::now();
    assert_eq!(conn.cmd(&[b"DEBUG", b"SLEEP", b"0.2xyz"]), b"+OK\r\n");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}
