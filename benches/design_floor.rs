//! The floor of the design: how fast can *any* blocking thread-per-connection server answer
//! `redis-benchmark`, next to Redis's event loop, on this machine?
//!
//! ```text
//! cargo bench --bench design_floor
//! RESPD_FLOOR_ROUNDS=9 RESPD_FLOOR_REQUESTS=100000 cargo bench --bench design_floor
//! ```
//!
//! Three servers answer `redis-benchmark -t ping_mbulk -c 50` at pipeline depths 1 and 16, in
//! alternating rounds, in the same run:
//!
//! - **floor**: the smallest server of respd's shape, written out below in thirty lines. One
//!   thread per connection, a blocking `read`, one `+PONG` per complete 14-byte PING, one
//!   `write` per read. No parser, no command table, no keyspace, no lock, no bookkeeping:
//!   whatever it costs, every server built this way pays too.
//! - **respd**, in this process, default configuration.
//! - **redis**: `redis-server` 7.0, a single-threaded event loop.
//!
//! The report gives `floor/redis` (what the design can reach at best here), `respd/redis`, and
//! `respd/floor` (what respd's own code costs on top of the design).
//!
//! # Why this exists
//! The project's speed targets compare respd with Redis under `redis-benchmark`, whose one
//! client thread multiplexes 50 connections with epoll. On a two-core machine that client
//! takes one core, and every request it sends to a blocking server wakes the thread that owns
//! the connection: a scheduler round trip on the server side, and the cost of the wake-up
//! (often an inter-processor interrupt, expensive in a virtual machine) on the client side.
//! Redis's event loop, busy with other clients, is rarely asleep when a request arrives, so it
//! rarely needs waking. Those wake-ups are a property of the design, not of respd's code, and
//! this bench measures them: if `floor/redis` is 0.8, no blocking thread-per-connection server
//! reaches 0.9 of Redis on this machine with this client, however little it does.
//!
//! Deep pipelines amortize the wake-up over many commands (at depth 100 respd is well ahead of
//! Redis, see `cargo bench --bench throughput`), which is why only depths 1 and 16 are here.
//!
//! Needs `redis-benchmark` (Debian package `redis-tools`) and, for the Redis column,
//! `redis-server`; without them it says so loudly and measures what it can.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;

/// `*1\r\n$4\r\nPING\r\n`: what `redis-benchmark -t ping_mbulk` sends, always 14 bytes.
const PING_FRAME_LEN: usize = 14;

/// Starts the floor server on an ephemeral loopback port; its threads live as long as the
/// process (the bench exits when done).
fn start_floor_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || serve_pings(stream));
        }
    });
    Ok(addr)
}

/// The whole floor server, per connection: read (blocking), answer every complete PING,
/// write the answers at once, read again.
fn serve_pings(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut input = vec![0u8; 16 * 1024];
    let mut partial = 0usize;
    let mut output = Vec::new();
    loop {
        let n = match stream.read(&mut input) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        partial += n;
        output.clear();
        while partial >= PING_FRAME_LEN {
            partial -= PING_FRAME_LEN;
            output.extend_from_slice(b"+PONG\r\n");
        }
        if stream.write_all(&output).is_err() {
            return;
        }
    }
}

/// One `redis-benchmark` run; requests per second, or None if it failed.
fn redis_benchmark(addr: SocketAddr, depth: usize, requests: usize) -> Option<f64> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(["-q", "--csv", "-t", "ping_mbulk", "-c", "50"])
        .args(["-n", &requests.to_string(), "-P", &depth.to_string()])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    // --csv: a header line, then "PING_MBULK","<rps>",...
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.starts_with("\"PING_MBULK\""))?;
    line.split(',').nth(1)?.trim_matches('"').parse().ok()
}

fn main() -> io::Result<()> {
    let rounds = common::env_or("RESPD_FLOOR_ROUNDS", 5usize).max(1);
    let requests = common::env_or("RESPD_FLOOR_REQUESTS", 60_000usize).max(1);
    println!(
        "design_floor: redis-benchmark -t ping_mbulk -c 50, depths 1 and 16, {rounds} rounds (alternating)"
    );
    println!("{}", common::machine_line());
    if Command::new("redis-benchmark")
        .arg("--version")
        .output()
        .is_err()
    {
        let bar = "!".repeat(78);
        println!("\n{bar}\n!!! redis-benchmark not found (apt-get install redis-tools): nothing measured.\n{bar}");
        return Ok(());
    }

    let floor = common::Target {
        name: "floor",
        addr: start_floor_server()?,
    };
    let (_respd_handle, respd) = common::start_respd()?;
    let redis = common::start_redis_or_say_why();
    let mut targets = vec![&floor, &respd];
    if let Some(r) = &redis {
        targets.push(&r.target);
    }

    println!();
    println!(
        "{:>5} {:>12} {:>12} {:>12} {:>11} {:>11} {:>11}",
        "depth", "floor rps", "respd rps", "redis rps", "floor/redis", "respd/redis", "respd/floor"
    );
    for depth in [1usize, 16] {
        // Deeper pipelines get more requests, for runs of similar length.
        let n = if depth == 1 { requests } else { requests * 10 };
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        for round in 0..rounds {
            // Rotate the order every round, so drift on a shared machine hits all alike.
            for i in 0..targets.len() {
                let t = (i + round) % targets.len();
                if let Some(rps) = redis_benchmark(targets[t].addr, depth, n) {
                    results[t].push(rps);
                } else {
                    println!(
                        "  {} depth {depth}: redis-benchmark failed",
                        targets[t].name
                    );
                }
            }
        }
        let medians: Vec<f64> = results.iter().map(|r| common::median(r)).collect();
        let ratio = |a: f64, b: Option<&f64>| match b {
            Some(b) if *b > 0.0 && a > 0.0 => format!("{:.2}", a / b),
            _ => "n/a".to_string(),
        };
        println!(
            "{:>5} {:>12.0} {:>12.0} {:>12} {:>11} {:>11} {:>11}",
            depth,
            medians[0],
            medians[1],
            medians
                .get(2)
                .map_or("n/a".to_string(), |m| format!("{m:.0}")),
            ratio(medians[0], medians.get(2)),
            ratio(medians[1], medians.get(2)),
            ratio(medians[1], Some(&medians[0])),
        );
    }
    println!();
    println!("floor/redis is about the most a blocking thread-per-connection server reaches here;");
    println!("respd/floor is what respd's parser, dispatch, locking and bookkeeping cost on top.");
    Ok(())
}
