//! The pipelining experiment from Redis's pipelining document, redone against respd and Redis.
//!
//! The document times 10,000 PINGs sent one at a time (each waits for its reply: one round
//! trip per command) against the same 10,000 PINGs sent in one go with the replies read
//! afterwards, and finds pipelining about five times faster over loopback. This bench repeats
//! that experiment for respd (in-process, default config) and, when `redis-server` is on
//! `PATH` or named by `$REDIS_SERVER`, for a real Redis started on a free port of 27600-27699.
//!
//! ```text
//! cargo bench --bench pipeline_seed
//! ```
//!
//! Environment: `RESPD_BENCH_ROUNDS` (default 5) rounds; `REDIS_SERVER` path to redis-server.
//!
//! Each round measures both modes on both servers, and the order alternates from round to
//! round (respd first, then Redis first; one-by-one first, then pipelined first), so a slow
//! spell on a shared machine hits both sides alike. The report gives medians over the rounds.
//!
//! What to expect: the one-by-one loop costs a full round trip per command, which on loopback
//! is mostly two context switches and two system calls on each side; the pipelined batch pays
//! that once, and the server answers all 10,000 PINGs from one read of its query buffer with a
//! handful of sends. The speedup is therefore the ratio "round trip" : "cost of one command".

mod common;

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

use common::{connect, encode_command, median, ReplyCounter, Target};

/// Commands per measurement, as in the document.
const COUNT: usize = 10_000;

/// One round's two timings for one server, in seconds.
struct Round {
    one_by_one: f64,
    pipelined: f64,
}

/// 10,000 PINGs, each sent only after the previous reply was read.
fn one_by_one(conn: &mut TcpStream, ping: &[u8]) -> io::Result<f64> {
    let mut counter = ReplyCounter::default();
    let start = Instant::now();
    for _ in 0..COUNT {
        conn.write_all(ping)?;
        counter.read_replies(conn, 1)?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    check(&counter)?;
    Ok(elapsed)
}

/// 10,000 PINGs written at once (140,000 bytes), then 10,000 replies read.
///
/// Writing everything before reading anything is safe here only because both servers keep
/// reading while replies queue up (a server that blocked in `write` would deadlock with this
/// client once both socket buffers filled); the 70,000 bytes of replies also fit the client's
/// receive buffer.
fn pipelined(conn: &mut TcpStream, batch: &[u8]) -> io::Result<f64> {
    let mut counter = ReplyCounter::default();
    let start = Instant::now();
    conn.write_all(batch)?;
    counter.read_replies(conn, COUNT)?;
    let elapsed = start.elapsed().as_secs_f64();
    check(&counter)?;
    Ok(elapsed)
}

fn check(counter: &ReplyCounter) -> io::Result<()> {
    match &counter.first_error {
        Some(e) => Err(io::Error::other(format!("error reply: {e}"))),
        None => Ok(()),
    }
}

fn main() -> io::Result<()> {
    let rounds = common::env_or("RESPD_BENCH_ROUNDS", 5usize).max(1);

    println!("pipeline_seed: {COUNT} PINGs one by one vs. pipelined; median of {rounds} alternating rounds");
    println!("{}", common::machine_line());

    let (_respd, respd_target) = common::start_respd()?;
    let redis = common::start_redis_or_say_why();
    let mut targets: Vec<&Target> = vec![&respd_target];
    if let Some(r) = &redis {
        targets.push(&r.target);
    }

    let mut ping = Vec::new();
    encode_command(&mut ping, &[b"PING"]);
    let batch = ping.repeat(COUNT);

    // One connection per server for the whole run, warmed up with one untimed pass of each
    // mode (thread start, first page faults, socket buffer growth).
    let mut conns = Vec::new();
    for t in &targets {
        let mut conn = connect(t.addr)?;
        one_by_one(&mut conn, &ping)?;
        pipelined(&mut conn, &batch)?;
        conns.push(conn);
    }

    let mut results: Vec<Vec<Round>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &i in &order {
            let conn = &mut conns[i];
            let (one, pipe) = if round % 2 == 0 {
                let one = one_by_one(conn, &ping)?;
                (one, pipelined(conn, &batch)?)
            } else {
                let pipe = pipelined(conn, &batch)?;
                (one_by_one(conn, &ping)?, pipe)
            };
            results[i].push(Round {
                one_by_one: one,
                pipelined: pipe,
            });
        }
    }

    println!();
    println!(
        "{:<6} {:>13} {:>13} {:>15} {:>17} {:>8}",
        "server", "one-by-one", "pipelined", "µs/round trip", "µs/cmd pipelined", "speedup"
    );
    let mut speedups = Vec::new();
    for (t, rounds) in targets.iter().zip(&results) {
        let one = median(&rounds.iter().map(|r| r.one_by_one).collect::<Vec<_>>());
        let pipe = median(&rounds.iter().map(|r| r.pipelined).collect::<Vec<_>>());
        // The median of per-round ratios, so each ratio compares two timings taken together.
        let speedup = median(
            &rounds
                .iter()
                .map(|r| r.one_by_one / r.pipelined)
                .collect::<Vec<_>>(),
        );
        println!(
            "{:<6} {:>11.1}ms {:>11.1}ms {:>15.2} {:>17.3} {:>7.1}x",
            t.name,
            one * 1e3,
            pipe * 1e3,
            one * 1e6 / COUNT as f64,
            pipe * 1e6 / COUNT as f64,
            speedup
        );
        speedups.push((one, pipe, speedup));
    }
    if let [(r_one, r_pipe, r_speed), (d_one, d_pipe, d_speed)] = speedups[..] {
        println!();
        println!(
            "speedup ratio respd/redis: {:.2} (respd {r_speed:.1}x vs redis {d_speed:.1}x)",
            r_speed / d_speed
        );
        println!(
            "time ratio respd/redis: one-by-one {:.2}, pipelined {:.2} (below 1 = respd faster)",
            r_one / d_one,
            r_pipe / d_pipe
        );
    }
    println!("(the document's Ruby client over loopback on a Mac: 1.185 s vs 0.251 s, about 5x)");
    Ok(())
}
