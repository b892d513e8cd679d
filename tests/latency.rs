//! The latency monitor with real samples: `latency-monitor-threshold` and commands slowed
//! down with DEBUG SLEEP, then LATENCY LATEST / HISTORY / GRAPH / DOCTOR / RESET and LATENCY
//! HISTOGRAM, on respd and on a live redis-server started the same way.
//!
//! The figures depend on time, so the replies are compared as shapes: every run of digits is
//! replaced by `N` before comparing respd's reply with Redis's, and the numbers themselves are
//! only checked from below (a command that slept 100 ms took at least 100 ms).

mod common;

use std::net::SocketAddr;

use common::{client_for, on_respd_and_redis_with, RawConn};
use respd::config::ProtectedAction;

/// Every run of ASCII digits replaced by `N`.
fn shape(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// Runs `check` on a respd and on a redis-server, both with DEBUG enabled; returns what
/// `check` returned for each (Redis's is `None` when there is no redis-server).
fn on_both<T>(test: &str, check: impl Fn(&str, SocketAddr) -> T) -> (T, Option<T>) {
    let debug_on = |c: &mut respd::Config| c.enable_debug_command = ProtectedAction::Yes;
    on_respd_and_redis_with(test, debug_on, &["--enable-debug-command", "yes"], check)
}

/// The latest sample of every event: (name, time, latency, max).
fn latest(addr: SocketAddr) -> Vec<(String, i64, i64, i64)> {
    let mut c = client_for(addr);
    redis::cmd("LATENCY").arg("LATEST").query(&mut c).unwrap()
}

#[test]
fn a_slow_command_becomes_a_sample_above_the_threshold_only() {
    let (ours, theirs) = on_both("latency samples", |who, addr| {
        let mut conn = RawConn::connect(addr);
        // Off by default: nothing is recorded, however slow.
        assert_eq!(conn.words("DEBUG SLEEP 0.06"), b"+OK\r\n", "{who}");
        assert!(latest(addr).is_empty(), "{who}: monitor off");

        assert_eq!(
            conn.words("CONFIG SET latency-monitor-threshold 50"),
            b"+OK\r\n"
        );
        assert_eq!(conn.words("DEBUG SLEEP 0.1"), b"+OK\r\n", "{who}");
        let events = latest(addr);
        assert_eq!(events.len(), 1, "{who}: {events:?}");
        let (name, time, latency, max) = events[0].clone();
        assert_eq!(name, "command", "{who}: DEBUG is not a fast command");
        assert!(time > 1_600_000_000, "{who}: unix seconds, got {time}");
        assert!(latency >= 100 && max >= latency, "{who}: {events:?}");

        let mut c = client_for(addr);
        let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
            .arg("HISTORY")
            .arg("command")
            .query(&mut c)
            .unwrap();
        assert_eq!(history, [(time, latency)], "{who}");
        // Names are matched exactly by HISTORY, in any case by RESET.
        let upper: Vec<(i64, i64)> = redis::cmd("LATENCY")
            .arg("HISTORY")
            .arg("COMMAND")
            .query(&mut c)
            .unwrap();
        assert!(upper.is_empty(), "{who}");

        let graph = conn.words("LATENCY GRAPH command");
        let doctor = conn.words("LATENCY DOCTOR");
        let doctor_text = String::from_utf8_lossy(&doctor).into_owned();
        assert!(
            doctor_text.contains(&format!(
                "1. command: 1 latency spikes (average {latency}ms, mean deviation 0ms, period "
            )),
            "{who}: {doctor_text}"
        );
        let mut resp3 = RawConn::connect(addr);
        resp3.words("HELLO 3");
        let doctor3 = resp3.words("LATENCY DOCTOR");
        assert!(doctor3.starts_with(b"="), "{who}: verbatim in RESP3");
        assert!(
            show_has(&doctor3, b"\r\ntxt:Dave, I have observed"),
            "{who}"
        );

        assert_eq!(conn.words("LATENCY RESET nosuch"), b":0\r\n", "{who}");
        assert_eq!(conn.words("LATENCY RESET COMMAND"), b":1\r\n", "{who}");
        assert!(latest(addr).is_empty(), "{who}");
        assert_eq!(
            conn.words("CONFIG SET latency-monitor-threshold 0"),
            b"+OK\r\n"
        );
        (shape(&graph), shape(&doctor))
    });
    let (graph, doctor) = &ours;
    // One sample: a flat line at the bottom, then its age written downwards ("0s").
    assert!(
        graph.starts_with(&format!(
            "$N\r\ncommand - high N ms, low N ms (all time high N ms)\n{}\n \n \n \n_\n \nN\ns\n",
            "-".repeat(80)
        )),
        "{graph}"
    );
    assert!(doctor.contains("I have a few advices for you:"), "{doctor}");
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "respd, then redis");
    }
}

fn show_has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Redis's histogram bounds in microseconds (see `cumulative_histogram` in src/cmd/stats.rs).
const BOUNDS: [i64; 21] = [
    1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
    270532, 541065, 1082130,
];

#[test]
fn latency_histogram_counts_calls_at_redis_bounds() {
    let (ours, theirs) = on_both("latency histogram", |who, addr| {
        // One connection throughout: a connection's counters are published after its
        // replies are sent, so another connection could ask too early.
        let mut c = client_for(addr);
        for line in [
            "CONFIG RESETSTAT",
            "SET a b",
            "SET c d",
            "CLIENT ID",
            "DEBUG SLEEP 0.01",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            let _: redis::Value = redis::cmd(args[0]).arg(&args[1..]).query(&mut c).unwrap();
        }
        type Histogram = Vec<(String, (String, i64, String, Vec<(i64, i64)>))>;
        let histogram: Histogram = redis::cmd("LATENCY")
            .arg("HISTOGRAM")
            .arg("set")
            .arg("client")
            .arg("debug")
            .arg("nosuch")
            .query(&mut c)
            .unwrap();
        let names: Vec<&str> = histogram.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["set", "client|id", "debug"], "{who}");
        for (name, (calls_word, calls, usec_word, points)) in &histogram {
            assert_eq!(
                (calls_word.as_str(), usec_word.as_str()),
                ("calls", "histogram_usec")
            );
            assert!(!points.is_empty(), "{who} {name}");
            assert_eq!(points.last().unwrap().1, *calls, "{who} {name}: cumulative");
            for pair in points.windows(2) {
                assert!(
                    pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1,
                    "{who} {name}"
                );
            }
            for (bound, _) in points {
                assert!(BOUNDS.contains(bound), "{who} {name}: {bound}");
            }
        }
        assert_eq!(histogram[0].1 .1, 2, "{who}: two SETs");
        let debug = &histogram[2].1 .3;
        assert!(debug[0].0 >= 16908, "{who}: slept 10 ms: {debug:?}");

        // All of them: CONFIG RESETSTAT is there too, and `latency|histogram` once called.
        let all: Histogram = redis::cmd("LATENCY")
            .arg("HISTOGRAM")
            .query(&mut c)
            .unwrap();
        let mut all_names: Vec<String> = all.into_iter().map(|(n, _)| n).collect();
        all_names.sort();
        assert_eq!(
            all_names,
            [
                "client|id",
                "config|resetstat",
                "debug",
                "latency|histogram",
                "set"
            ],
            "{who}"
        );

        let mut resp3 = RawConn::connect(addr);
        resp3.words("HELLO 3");
        shape(&resp3.words("LATENCY HISTOGRAM client|id"))
    });
    assert_eq!(
        ours,
        "%N\r\n$N\r\nclient|id\r\n%N\r\n$N\r\ncalls\r\n:N\r\n$N\r\nhistogram_usec\r\n%N\r\n:N\r\n:N\r\n"
    );
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "respd, then redis");
    }
}

/// A large set expiring: the active expiry's pass and its deletion are events, whatever the
/// commands did (both servers, so the event names are Redis's).
#[test]
fn the_active_expiry_of_a_large_key_is_an_event() {
    let (ours, theirs) = on_both("expire-cycle", |who, addr| {
        let mut c = client_for(addr);
        // 200,000 members take milliseconds to free on any machine.
        for chunk in 0..200 {
            let members: Vec<u32> = (chunk * 1000..(chunk + 1) * 1000).collect();
            let _: i64 = redis::cmd("SADD")
                .arg("big")
                .arg(members)
                .query(&mut c)
                .unwrap();
        }
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("latency-monitor-threshold")
            .arg(1)
            .query(&mut c)
            .unwrap();
        let _: i64 = redis::cmd("PEXPIRE")
            .arg("big")
            .arg(1)
            .query(&mut c)
            .unwrap();
        // DBSIZE counts the key until the active expiry deletes it (nothing reads it).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
            if size == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{who}: never expired");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut names: Vec<String> = latest(addr)
            .into_iter()
            .map(|(name, ..)| name)
            .filter(|name| name.starts_with("expire-"))
            .collect();
        names.sort();
        names
    });
    assert_eq!(ours, ["expire-cycle", "expire-del"]);
    if let Some(theirs) = theirs {
        assert_eq!(ours, theirs, "respd, then redis");
    }
}
