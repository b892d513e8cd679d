//! Throughput of PING, SET, GET and INCR at pipeline depths 1, 16 and 1000, respd vs. Redis,
//! plus a micro-benchmark of the keyspace lock.
//!
//! ```text
//! cargo bench --bench throughput
//! RESPD_BENCH_ROUNDS=6 RESPD_BENCH_SCALE=2 cargo bench --bench throughput
//! ```
//!
//! Environment variables (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RESPD_BENCH_ROUNDS` | 4 | rounds per scenario and server; the report shows medians |
//! | `RESPD_BENCH_SCALE` | 1.0 | multiplies every request count (0.1 for a smoke run) |
//! | `RESPD_BENCH_CLIENTS` | 50 | client connections, one thread each |
//! | `RESPD_BENCH_COMMANDS` | ping,set,get,incr | which commands to measure |
//! | `RESPD_BENCH_DEPTHS` | 1,16,1000 | pipeline depths to measure |
//! | `REDIS_SERVER` | `redis-server` on `PATH` | the Redis to compare against |
//!
//! At the defaults the whole run takes about a minute on a 2-core machine.
//!
//! # What is measured
//! For each scenario (command × depth) every client thread repeatedly writes `depth` commands
//! in one `write` and then reads until it has `depth` replies, like `redis-benchmark -P depth`.
//! Throughput is all replies of all clients divided by the wall time from a common start
//! barrier to the last reply. Depth 1 costs a round trip per command, so it gets fewer
//! requests to keep its share of the run time reasonable.
//!
//! respd runs in this process (default config, `127.0.0.1:0`); Redis runs as a child process
//! on a free port of 27600-27699 with persistence off. Both are measured in the same run, in
//! alternating order (A B, then B A, ...), so drift on a shared machine hits both alike. Note
//! that the client threads share the CPUs with the server under test in both cases; on a small
//! machine that caps every figure, which is why only ratios measured side by side mean much.
//!
//! A scenario whose replies include an error (say INCR before the server implements it) is
//! reported as failed with the error text, and left out of the geometric mean.
//!
//! # The lock question
//! The last section answers a design question without changing the server: would taking the
//! keyspace lock once per pipelined batch, instead of once per command as
//! `respd::cmd::dispatch` does, matter? It times 16 GETs on a `respd::store::Store` with 16
//! lock acquisitions against the same 16 GETs under one acquisition, for the read and the
//! write lock, and puts the difference next to what a command costs end to end.

mod common;

use std::hint::black_box;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use common::{connect, encode_command, median, ReplyCounter, Target};
use respd::store::{Store, Value};

/// Requests per scenario at depth 1, 16 and anything deeper, before `RESPD_BENCH_SCALE`.
fn base_requests(depth: usize) -> f64 {
    match depth {
        1 => 20_000.0,
        2..=16 => 320_000.0,
        _ => 2_000_000.0,
    }
}

struct Settings {
    rounds: usize,
    scale: f64,
    clients: usize,
    commands: Vec<String>,
    depths: Vec<usize>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("ignoring {name}={v:?}: not a valid value");
            default
        }),
        Err(_) => default,
    }
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Settings {
    fn from_env() -> Settings {
        let commands = env_list("RESPD_BENCH_COMMANDS", "ping,set,get,incr");
        for c in &commands {
            assert!(
                matches!(c.as_str(), "ping" | "set" | "get" | "incr"),
                "RESPD_BENCH_COMMANDS: unknown command {c:?} (ping, set, get, incr)"
            );
        }
        Settings {
            rounds: env_or("RESPD_BENCH_ROUNDS", 4usize).max(1),
            scale: env_or("RESPD_BENCH_SCALE", 1.0f64).max(0.0001),
            clients: env_or("RESPD_BENCH_CLIENTS", 50usize).max(1),
            commands,
            depths: env_list("RESPD_BENCH_DEPTHS", "1,16,1000")
                .iter()
                .map(|d| {
                    d.parse()
                        .expect("RESPD_BENCH_DEPTHS: numbers, comma separated")
                })
                .filter(|&d| d > 0)
                .collect(),
        }
    }
}

/// One pipelined batch for client `client`: `depth` copies of the command.
fn batch(command: &str, client: usize, depth: usize) -> Vec<u8> {
    let key = format!("key:{client:02}");
    let counter = format!("counter:{client:02}");
    let mut one = Vec::new();
    match command {
        "ping" => encode_command(&mut one, &[b"PING"]),
        // A 3-byte value, redis-benchmark's default size.
        "set" => encode_command(&mut one, &[b"SET", key.as_bytes(), b"xxx"]),
        "get" => encode_command(&mut one, &[b"GET", key.as_bytes()]),
        "incr" => encode_command(&mut one, &[b"INCR", counter.as_bytes()]),
        _ => unreachable!("checked in Settings::from_env"),
    }
    one.repeat(depth)
}

/// Runs one scenario against one server. Returns operations per second, or why it failed.
fn run_scenario(
    addr: SocketAddr,
    command: &str,
    depth: usize,
    total: usize,
    clients: usize,
) -> Result<f64, String> {
    let batches_per_client = total.div_ceil(clients * depth).max(1);
    let start_line = Barrier::new(clients + 1);
    let outcome = thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let start_line = &start_line;
                s.spawn(move || -> Result<(), String> {
                    // Connect and prepare before the barrier, so only the traffic is timed.
                    // Every thread reaches the barrier even on failure: the others wait there.
                    let prepared = (|| -> io::Result<_> {
                        let mut conn = connect(addr)?;
                        let mut setup = Vec::new();
                        encode_command(
                            &mut setup,
                            &[b"SET", format!("key:{c:02}").as_bytes(), b"xxx"],
                        );
                        conn.write_all(&setup)?;
                        ReplyCounter::default().read_replies(&mut conn, 1)?;
                        Ok(conn)
                    })();
                    let payload = batch(command, c, depth);
                    start_line.wait();
                    let mut conn = prepared.map_err(|e| format!("setup: {e}"))?;
                    let mut counter = ReplyCounter::default();
                    for _ in 0..batches_per_client {
                        conn.write_all(&payload).map_err(|e| e.to_string())?;
                        counter
                            .read_replies(&mut conn, depth)
                            .map_err(|e| e.to_string())?;
                        if let Some(e) = &counter.first_error {
                            // Keep going would only repeat the error: stop this client.
                            return Err(format!("error reply: {e}"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        let mut failure = None;
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => failure = failure.or(Some("client thread panicked".to_string())),
            }
        }
        (started.elapsed().as_secs_f64(), failure)
    });
    match outcome {
        (_, Some(e)) => Err(e),
        (secs, None) => Ok((batches_per_client * clients * depth) as f64 / secs),
    }
}

/// A scenario's results for one server: ops/s per round, or the failure that ended it.
#[derive(Default)]
struct Series {
    ops: Vec<f64>,
    failed: Option<String>,
}

fn main() -> io::Result<()> {
    let settings = Settings::from_env();
    println!(
        "throughput: {} clients, depths {:?}, commands {:?}, {} rounds (alternating), scale {}",
        settings.clients, settings.depths, settings.commands, settings.rounds, settings.scale
    );
    println!(
        "requests per scenario: {}",
        settings
            .depths
            .iter()
            .map(|&d| format!(
                "{} at depth {d}",
                (base_requests(d) * settings.scale) as usize
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("{}", common::machine_line());

    let (respd_handle, respd_target) = common::start_respd()?;
    let redis = match common::start_redis() {
        Ok(r) => {
            println!("comparing with {} on {}", r.version, r.target.addr);
            Some(r)
        }
        Err(why) => {
            common::no_redis_note(&why);
            None
        }
    };
    let mut targets: Vec<&Target> = vec![&respd_target];
    if let Some(r) = &redis {
        targets.push(&r.target);
    }

    // Depth outermost: the reader sees each depth's rows together.
    let scenarios: Vec<(String, usize)> = settings
        .depths
        .iter()
        .flat_map(|&d| settings.commands.iter().map(move |c| (c.clone(), d)))
        .collect();
    let mut series: Vec<Vec<Series>> = scenarios
        .iter()
        .map(|_| targets.iter().map(|_| Series::default()).collect())
        .collect();

    let run_started = Instant::now();
    for round in 0..settings.rounds {
        for (s, (command, depth)) in scenarios.iter().enumerate() {
            let total = (base_requests(*depth) * settings.scale) as usize;
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if (round + s) % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let entry = &mut series[s][i];
                if entry.failed.is_some() {
                    continue; // it failed once; it will fail again
                }
                match run_scenario(targets[i].addr, command, *depth, total, settings.clients) {
                    Ok(ops) => entry.ops.push(ops),
                    Err(e) => entry.failed = Some(e),
                }
            }
        }
        eprintln!(
            "  round {}/{} done ({:.0} s)",
            round + 1,
            settings.rounds,
            run_started.elapsed().as_secs_f64()
        );
    }

    println!();
    println!(
        "{:<6} {:>5} {:>14} {:>7} {:>14} {:>7} {:>12}",
        "cmd", "depth", "respd ops/s", "spread", "redis ops/s", "spread", "respd/redis"
    );
    let mut ratios = Vec::new();
    let mut respd_depth16_ops = Vec::new();
    for ((command, depth), per_target) in scenarios.iter().zip(&series) {
        let mut cells = Vec::new();
        let mut medians = Vec::new();
        for entry in per_target {
            match &entry.failed {
                Some(_) => {
                    cells.push(format!("{:>14} {:>7}", "FAILED", ""));
                    medians.push(None);
                }
                None => {
                    let m = median(&entry.ops);
                    let lo = entry.ops.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = entry.ops.iter().copied().fold(0.0, f64::max);
                    // Spread: (max - min) / median, a quick sign of how noisy the rounds were.
                    cells.push(format!("{:>14.0} {:>6.0}%", m, (hi - lo) / m * 100.0));
                    medians.push(Some(m));
                }
            }
        }
        if targets.len() == 1 {
            cells.push(format!("{:>14} {:>7}", "-", ""));
        }
        let ratio = match medians[..] {
            [Some(a), Some(b)] => {
                ratios.push(a / b);
                format!("{:.2}", a / b)
            }
            _ => "n/a".to_string(),
        };
        if *depth == 16 && command != "ping" {
            if let Some(m) = medians[0] {
                respd_depth16_ops.push(m);
            }
        }
        println!("{command:<6} {depth:>5} {} {ratio:>12}", cells.join(" "));
    }
    for ((command, depth), per_target) in scenarios.iter().zip(&series) {
        for (t, entry) in targets.iter().zip(per_target) {
            if let Some(e) = &entry.failed {
                println!("  {} {command} -P {depth} failed: {e}", t.name);
            }
        }
    }
    if !ratios.is_empty() {
        let geomean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        println!(
            "geometric mean respd/redis over {} scenarios: {geomean:.2}",
            ratios.len()
        );
    }
    println!("(ran in {:.0} s)", run_started.elapsed().as_secs_f64());
    drop(redis);
    respd_handle.shutdown();

    lock_granularity(settings.scale, &respd_depth16_ops);
    Ok(())
}

/// Commands in one simulated pipelined batch.
const BATCH: usize = 16;

/// Times GET on a `Store` with one lock acquisition per command and per batch of 16.
fn lock_granularity(scale: f64, respd_depth16_ops: &[f64]) {
    let store = Store::new(respd::store::DEFAULT_DATABASES);
    let now = respd::util::now_ms();
    let keys: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| format!("key:{i:02}").into_bytes())
        .collect();
    {
        let mut keyspace = store.write();
        for key in &keys {
            keyspace.db_mut(0).set(key, Value::from_slice(b"xxx"), now);
        }
    }
    let batches = ((200_000.0 * scale) as usize).max(1000);

    // Each closure returns the total value length seen, so the GETs cannot be optimised away.
    let read_per_command = || {
        let mut n = 0;
        for key in &keys {
            let keyspace = store.read();
            n += value_len(keyspace.db(0).get_value(key, now));
        }
        n
    };
    let read_per_batch = || {
        let keyspace = store.read();
        keys.iter()
            .map(|key| value_len(keyspace.db(0).get_value(key, now)))
            .sum::<usize>()
    };
    let write_per_command = || {
        let mut n = 0;
        for key in &keys {
            let mut keyspace = store.write();
            n += value_len(keyspace.db_mut(0).get_value_mut(key, now).map(|v| &*v));
        }
        n
    };
    let write_per_batch = || {
        let mut keyspace = store.write();
        let db = keyspace.db_mut(0);
        keys.iter()
            .map(|key| value_len(db.get_value_mut(key, now).map(|v| &*v)))
            .sum::<usize>()
    };

    let time = |f: &dyn Fn() -> usize| -> f64 {
        let mut rounds = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            for _ in 0..batches {
                black_box(f());
            }
            rounds.push(start.elapsed().as_secs_f64() * 1e9 / (batches * BATCH) as f64);
        }
        median(&rounds)
    };
    // Warm-up: fault in the table and settle the CPU clock.
    time(&read_per_batch);

    println!();
    println!(
        "lock granularity: {BATCH} GETs on respd::store::Store, uncontended, one thread; ns per command"
    );
    println!(
        "{:<11} {:>16} {:>14} {:>16}",
        "lock", "lock per command", "lock per batch", "saved per command"
    );
    let mut saved = Vec::new();
    for (name, per_cmd, per_batch) in [
        ("read", time(&read_per_command), time(&read_per_batch)),
        ("write", time(&write_per_command), time(&write_per_batch)),
    ] {
        println!(
            "{name:<11} {per_cmd:>16.1} {per_batch:>14.1} {:>16.1}",
            per_cmd - per_batch
        );
        saved.push(per_cmd - per_batch);
    }
    if !respd_depth16_ops.is_empty() {
        // At saturation, 1 / throughput is the machine's total time per command (server,
        // kernel and the benchmark's own clients), which is what the lock saving competes with.
        let ns_per_cmd = 1e9 / median(respd_depth16_ops);
        let best = saved.iter().copied().fold(0.0, f64::max);
        println!(
            "end to end, respd spends about {ns_per_cmd:.0} ns per command at depth 16 (SET, GET, INCR: those that ran); \
             locking once per batch would save at most {best:.1} ns of it ({:.1}%)",
            best / ns_per_cmd * 100.0
        );
    }
}

fn value_len(value: Option<&Value>) -> usize {
    match value {
        Some(Value::Str(s)) => s.len(),
        Some(Value::Int(_)) => 8,
        _ => 0,
    }
}
