//! CONFIG SET `port` and `bind` move the listening sockets while the server runs, as in
//! Redis 7.0 (`config.c` updatePort / applyBind): new connections go to the new sockets, the
//! old ones refuse, connections already open stay open; a socket that cannot be bound fails
//! the whole CONFIG SET with Redis's error and leaves every value as it was.
//!
//! Each check runs on respd and on a private redis-server (the shared one must not move),
//! and the replies are compared byte for byte.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};

use common::{free_port, on_respd_and_own_redis, RawConn};

/// A reply as text, for readable assertion messages.
fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

fn at(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn ping_on(addr: SocketAddr) -> Vec<u8> {
    RawConn::connect(addr).cmd(&[b"PING"])
}

fn refuses(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).is_err()
}

fn config_get(conn: &mut RawConn, name: &str) -> Vec<u8> {
    conn.cmd(&[b"CONFIG", b"GET", name.as_bytes()])
}

#[test]
fn config_set_port_moves_the_listener_and_keeps_open_connections() {
    on_respd_and_own_redis(
        "config_set_port_moves_the_listener_and_keeps_open_connections",
        |who, old| {
            let mut existing = RawConn::connect(old);
            let port = free_port();
            assert_eq!(
                text(&existing.cmd(&[b"CONFIG", b"SET", b"port", port.to_string().as_bytes()])),
                "+OK\r\n",
                "{who}"
            );
            let new = at([127, 0, 0, 1], port);
            assert_eq!(
                text(&ping_on(new)),
                "+PONG\r\n",
                "{who}: the new port serves"
            );
            assert!(refuses(old), "{who}: the old port {old} still accepts");
            assert_eq!(
                text(&existing.cmd(&[b"PING"])),
                "+PONG\r\n",
                "{who}: the open connection"
            );
            assert_eq!(
                text(&config_get(&mut existing, "port")),
                text(
                    format!(
                        "*2\r\n$4\r\nport\r\n${}\r\n{port}\r\n",
                        port.to_string().len()
                    )
                    .as_bytes()
                ),
                "{who}"
            );
            let info = existing.cmd(&[b"INFO", b"server"]);
            assert!(
                String::from_utf8_lossy(&info).contains(&format!("tcp_port:{port}\r\n")),
                "{who}: INFO tcp_port"
            );
        },
    );
}

#[test]
fn config_set_port_in_use_rolls_back_every_value() {
    // introspection.tcl "CONFIG SET rollback on apply error": a port something else listens
    // on passes the value check and fails when applied; every value of the same CONFIG SET
    // is restored, maxclients (whose apply succeeded before port's) included.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let names = [
        "maxmemory",
        "maxclients",
        "port",
        "client-query-buffer-limit",
        "timeout",
    ];
    let values = ["10000001", "77", busy_port.as_str(), "10m", "33"];
    on_respd_and_own_redis(
        "config_set_port_in_use_rolls_back_every_value",
        |who, addr| {
            let mut c = RawConn::connect(addr);
            let before: Vec<Vec<u8>> = names.iter().map(|n| config_get(&mut c, n)).collect();
            let mut argv: Vec<&[u8]> = vec![b"CONFIG", b"SET"];
            for (name, value) in names.iter().zip(values) {
                argv.push(name.as_bytes());
                argv.push(value.as_bytes());
            }
            assert_eq!(
            text(&c.cmd(&argv)),
            "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\r\n",
            "{who}"
        );
            for (name, was) in names.iter().zip(&before) {
                assert_eq!(text(&config_get(&mut c, name)), text(was), "{who}: {name}");
            }
            assert_eq!(
                text(&ping_on(addr)),
                "+PONG\r\n",
                "{who}: still served on {addr}"
            );
            assert_eq!(text(&c.cmd(&[b"PING"])), "+PONG\r\n", "{who}");
        },
    );
    drop(busy);
}

#[test]
fn config_set_bind_moves_the_listeners() {
    on_respd_and_own_redis("config_set_bind_moves_the_listeners", |who, old| {
        let mut existing = RawConn::connect(old);
        // A fixed port first: respd's test servers run on port 0 (any port).
        let port = free_port();
        let port_text = port.to_string();
        assert_eq!(
            text(&existing.cmd(&[b"CONFIG", b"SET", b"port", port_text.as_bytes()])),
            "+OK\r\n",
            "{who}"
        );
        let (one, two) = (at([127, 0, 0, 1], port), at([127, 0, 0, 2], port));
        // An address added; the one already listened on keeps working.
        assert_eq!(
            text(&existing.cmd(&[b"CONFIG", b"SET", b"bind", b"127.0.0.2 127.0.0.1"])),
            "+OK\r\n",
            "{who}"
        );
        assert_eq!(text(&ping_on(one)), "+PONG\r\n", "{who}");
        assert_eq!(text(&ping_on(two)), "+PONG\r\n", "{who}");
        assert_eq!(
            text(&config_get(&mut existing, "bind")),
            "*2\r\n$4\r\nbind\r\n$19\r\n127.0.0.2 127.0.0.1\r\n",
            "{who}"
        );
        // An address dropped: it refuses, the connection made through it stays. (Served
        // once first: a connection still in the backlog, not yet accepted, is reset when the
        // listening socket closes, in Redis as in respd.)
        let mut through_one = RawConn::connect(one);
        assert_eq!(text(&through_one.cmd(&[b"PING"])), "+PONG\r\n", "{who}");
        assert_eq!(
            text(&existing.cmd(&[b"CONFIG", b"SET", b"bind", b"127.0.0.2"])),
            "+OK\r\n",
            "{who}"
        );
        assert!(refuses(one), "{who}: {one} still accepts");
        assert_eq!(text(&ping_on(two)), "+PONG\r\n", "{who}");
        assert_eq!(text(&through_one.cmd(&[b"PING"])), "+PONG\r\n", "{who}");
        // An address this host does not have (TEST-NET-1): Redis's error, nothing changed.
        assert_eq!(
            text(&existing.cmd(&[b"CONFIG", b"SET", b"bind", b"192.0.2.1", b"timeout", b"44"])),
            "-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n",
            "{who}"
        );
        assert_eq!(
            text(&config_get(&mut existing, "bind")),
            "*2\r\n$4\r\nbind\r\n$9\r\n127.0.0.2\r\n",
            "{who}"
        );
        assert_eq!(
            text(&config_get(&mut existing, "timeout")),
            "*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n",
            "{who}"
        );
        assert_eq!(text(&ping_on(two)), "+PONG\r\n", "{who}");
        // Back where it started, so the harness can stop the server as usual.
        assert_eq!(
            text(&existing.cmd(&[
                b"CONFIG",
                b"SET",
                b"bind",
                b"127.0.0.1",
                b"port",
                old.port().to_string().as_bytes()
            ])),
            "+OK\r\n",
            "{who}"
        );
        assert_eq!(text(&ping_on(old)), "+PONG\r\n", "{who}");
    });
}
