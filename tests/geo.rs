//! Geo commands where the case files cannot reach: RESP3 replies (a case file cannot switch
//! protocols, since HELLO's reply names the connection id) and the keyspace events of the geo
//! writes. The replies of RESP2 and every error path are in `tests/cases/geo/`.
//!
//! Every check runs against respd and, when `redis-server` is installed, against Redis 7.0
//! too, so the pinned bytes are Redis's.

mod common;

use std::net::SocketAddr;

use common::{show, RawConn, RedisServer, TestServer};

/// Sends one command line and returns the reply bytes.
fn call(c: &mut RawConn, line: &str) -> Vec<u8> {
    c.words(line)
}

fn assert_reply(c: &mut RawConn, server: &str, line: &str, expected: &[u8]) {
    let got = call(c, line);
    assert_eq!(show(&got), show(expected), "{server}: {line}");
}

#[test]
fn resp3_coordinates_are_doubles_and_missing_members_null() {
    common::on_respd_and_redis("resp3 geo replies", |server, addr| {
        let mut c = RawConn::connect(addr);
        call(&mut c, "HELLO 3");
        call(&mut c, "DEL geo3:sicily geo3:nokey");
        assert_reply(
            &mut c,
            server,
            "GEOADD geo3:sicily 13.361389 38.115556 Palermo 0 0 zero -0.0001 -0.0001 neg",
            b":3\r\n",
        );
        assert_reply(
            &mut c,
            server,
            "GEOPOS geo3:sicily Palermo nosuch zero neg",
            b"*4\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n\
              *2\r\n,0.00000268220901489\r\n,0.00000126736058093\r\n\
              *2\r\n,-0.00009924173355103\r\n,-0.00010012148579364\r\n",
        );
        assert_reply(&mut c, server, "GEOPOS geo3:nokey a", b"*1\r\n_\r\n");
        assert_reply(
            &mut c,
            server,
            "GEOHASH geo3:sicily Palermo nosuch",
            b"*2\r\n$11\r\nsqc8b49rny0\r\n_\r\n",
        );
        assert_reply(
            &mut c,
            server,
            "GEODIST geo3:sicily Palermo nosuch",
            b"_\r\n",
        );
        assert_reply(&mut c, server, "GEODIST geo3:nokey a b", b"_\r\n");
        // Distances stay bulk strings with four decimals; hashes are integers.
        assert_reply(
            &mut c,
            server,
            "GEOSEARCH geo3:sicily FROMLONLAT 0 0 BYRADIUS 100 km ASC WITHCOORD WITHDIST WITHHASH",
            b"*2\r\n*4\r\n$4\r\nzero\r\n$6\r\n0.0003\r\n:3377699720527872\r\n\
              *2\r\n,0.00000268220901489\r\n,0.00000126736058093\r\n\
              *4\r\n$3\r\nneg\r\n$6\r\n0.0157\r\n:1125899906841058\r\n\
              *2\r\n,-0.00009924173355103\r\n,-0.00010012148579364\r\n",
        );
        assert_reply(
            &mut c,
            server,
            "GEORADIUS geo3:nokey 0 0 1 km WITHCOORD",
            b"*0\r\n",
        );
        call(&mut c, "DEL geo3:sicily");
    });
}

/// The keyspace events a few geo writes raise, in order, on the server at `addr`.
fn events_of_geo_writes(addr: SocketAddr) -> Vec<String> {
    let mut c = RawConn::connect(addr);
    call(&mut c, "FLUSHALL");
    call(&mut c, "CONFIG SET notify-keyspace-events KEA");
    let mut sub = RawConn::connect(addr);
    call(&mut sub, "PSUBSCRIBE __keyevent@0__:*");
    for line in [
        "GEOADD k 1 1 a 2 2 b",
        "GEOADD k 1 1 a",
        "GEORADIUS k 1 1 1000 km",
        "GEORADIUS k 1 1 1000 km STORE d",
        "GEORADIUS k 50 50 1 m STORE d",
        "GEORADIUS k 50 50 1 m STORE d",
        "GEOSEARCHSTORE d3 k FROMMEMBER a BYRADIUS 1000 km STOREDIST",
        "GEOSEARCHSTORE d3 nokey FROMMEMBER a BYRADIUS 1 m",
        "SET end 1",
    ] {
        call(&mut c, line);
    }
    call(&mut c, "CONFIG SET notify-keyspace-events \"\"");
    let mut events = Vec::new();
    loop {
        let message = sub.reply().expect("a keyspace event");
        let text = String::from_utf8_lossy(&message).into_owned();
        // `pmessage pattern channel key`: keep "event key".
        let parts: Vec<&str> = text.split("\r\n").collect();
        let event = parts[6].trim_start_matches("__keyevent@0__:").to_string();
        let key = parts[8].to_string();
        if event == "set" {
            break;
        }
        events.push(format!("{event} {key}"));
    }
    events
}

#[test]
fn geo_writes_raise_redis_keyspace_events() {
    let respd = TestServer::start();
    let ours = events_of_geo_writes(respd.addr());
    assert_eq!(
        ours,
        [
            "zadd k",
            "georadiusstore d",
            "del d",
            "geosearchstore d3",
            "del d3"
        ]
    );
    // CONFIG SET would disturb tests sharing a Redis: use a private one.
    match RedisServer::start() {
        Some(redis) => assert_eq!(events_of_geo_writes(redis.addr()), ours),
        None => common::skip_note("geo keyspace events checked against respd only"),
    }
}
