//! Throughput of PING, SET, GET, INCR and of the list, set, hash and sorted-set commands of
//! redis-benchmark's default tests (LPUSH, RPOP, SADD, HSET, ZADD, LRANGE_100) at pipeline
//! depths 1, 16 and 1000, respd vs. Redis, plus a micro-benchmark of the keyspace lock.
//!
//! ```text
//! cargo bench --bench throughput
//! RESPD_BENCH_ROUNDS=6 RESPD_BENCH_SCALE=2 cargo bench --bench throughput
//! RESPD_BENCH_COMMANDS=zadd,lrange_100 RESPD_BENCH_DEPTHS=16 cargo bench --bench throughput
//! ```
//!
//! Environment variables (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RESPD_BENCH_ROUNDS` | 3 | rounds per scenario and server; the report shows medians |
//! | `RESPD_BENCH_SCALE` | 1.0 | multiplies every request count (0.1 for a smoke run) |
//! | `RESPD_BENCH_CLIENTS` | 50 | client connections, one thread each |
//! | `RESPD_BENCH_COMMANDS` | `all` | which commands to measure: `all` or a list of ping, set, get, incr, lpush, rpop, sadd, hset, zadd, lrange_100 |
//! | `RESPD_BENCH_DEEP_COMMANDS` | ping,set,get,incr | which of them also run at depths above 16 (`all` for every one) |
//! | `RESPD_BENCH_DEPTHS` | 1,16,1000 | pipeline depths to measure |
//! | `RESPD_BENCH_KEYSPACE` | 100000 | random keys and members below this, like `redis-benchmark -r`; 0 for one fixed key per client |
//! | `REDIS_SERVER` | `redis-server` on `PATH` | the Redis to compare against |
//!
//! At the defaults the whole run takes two to three minutes on a busy 2-core machine (a round
//! is 40-60 s there, which is why the default is 3 rounds rather than more). Commands run in
//! a fixed order whatever order they are listed in: GET after SET, RPOP after LPUSH.
//!
//! # What is measured
//! For each scenario (command × depth) every client thread repeatedly writes `depth` commands
//! in one `write` and then reads until it has `depth` replies, like `redis-benchmark -P depth`.
//! Throughput is all replies of all clients divided by the wall time from a common start
//! barrier to the last reply. Depth 1 costs a round trip per command, so it gets fewer
//! requests to keep its share of the run time reasonable.
//!
//! The commands are those of redis-benchmark's default tests, with its keys: `SET
//! key:__rand_int__ xxx`, `LPUSH mylist xxx`, `SADD myset element:__rand_int__`, `HSET myhash
//! element:__rand_int__ xxx`, `ZADD myzset __rand_int__ element:__rand_int__` and so on, where
//! every `__rand_int__` becomes a fresh 12-digit number below `RESPD_BENCH_KEYSPACE` for every
//! command sent, so the set, hash and sorted set grow to tens of thousands of members as they
//! would under `redis-benchmark -r 100000`. RPOP takes as many requests as the LPUSH just
//! before it, on the same list, so it pops real items (a nil reply is reported). LRANGE_100
//! reads `LRANGE mylist100 0 99` from a list filled with exactly 100 3-byte values before the
//! scenario, and every reply is checked to hold 100 elements; it sends a quarter of the
//! requests of the others, since each reply is about 30 times the size of a GET's.
//!
//! respd runs in this process (default config, `127.0.0.1:0`); Redis runs as a child process
//! on a free port of 27600-27699 with persistence off. Both are measured in the same run, in
//! alternating order (A B, then B A, ...), so drift on a shared machine hits both alike. Note
//! that the client threads share the CPUs with the server under test in both cases; on a small
//! machine that caps every figure, which is why only ratios measured side by side mean much.
//!
//! A scenario whose replies include an error (say INCR before the server implements it) is
//! reported as failed with the error text, and left out of the geometric means. The report
//! ends with geometric means of the respd/redis ratios: over all scenarios, per depth, and for
//! the string commands apart from the list/set/hash/zset ones.
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

/// Requests per scenario at depth 1, 16 and anything deeper, before `RESPD_BENCH_SCALE` and
/// the command's own [`Bench::cost`].
fn base_requests(depth: usize) -> f64 {
    match depth {
        1 => 20_000.0,
        2..=16 => 320_000.0,
        _ => 2_000_000.0,
    }
}

/// Where a random number goes in a command template, as in redis-benchmark: each occurrence
/// is replaced by a 12-digit, zero-padded number below the keyspace size, fresh for every
/// command sent.
const RAND: &str = "__rand_int__";

/// Digits a [`RAND`] placeholder expands to.
const RAND_DIGITS: usize = 12;

/// One command the bench can measure.
struct Bench {
    /// Its name in `RESPD_BENCH_COMMANDS` and in the report.
    name: &'static str,
    /// The command, with [`RAND`] where redis-benchmark `-r` puts a random number.
    template: &'static [&'static str],
    /// Requests relative to the other commands: LRANGE_100 moves about 30 times the bytes
    /// of a GET per reply, so it gets fewer requests to keep the run time in bounds.
    cost: f64,
    /// Whether it runs at depths above 16 when `RESPD_BENCH_DEEP_COMMANDS` is not set.
    deep_by_default: bool,
}

/// Every command the bench knows, in the order it runs them. The keys and members are those
/// of redis-benchmark's default tests. Order matters: GET follows SET so it finds keys, and
/// RPOP follows LPUSH (same request count, same list) so it pops real items.
const BENCHES: &[Bench] = &[
    Bench {
        name: "ping",
        template: &["PING"],
        cost: 1.0,
        deep_by_default: true,
    },
    Bench {
        name: "set",
        // A 3-byte value, redis-benchmark's default size.
        template: &["SET", "key:__rand_int__", "xxx"],
        cost: 1.0,
        deep_by_default: true,
    },
    Bench {
        name: "get",
        template: &["GET", "key:__rand_int__"],
        cost: 1.0,
        deep_by_default: true,
    },
    Bench {
        name: "incr",
        template: &["INCR", "counter:__rand_int__"],
        cost: 1.0,
        deep_by_default: true,
    },
    Bench {
        name: "lpush",
        template: &["LPUSH", "mylist", "xxx"],
        cost: 1.0,
        deep_by_default: false,
    },
    Bench {
        name: "rpop",
        template: &["RPOP", "mylist"],
        cost: 1.0,
        deep_by_default: false,
    },
    Bench {
        name: "sadd",
        template: &["SADD", "myset", "element:__rand_int__"],
        cost: 1.0,
        deep_by_default: false,
    },
    Bench {
        name: "hset",
        template: &["HSET", "myhash", "element:__rand_int__", "xxx"],
        cost: 1.0,
        deep_by_default: false,
    },
    Bench {
        // redis-benchmark -r randomizes the score as well as the member.
        name: "zadd",
        template: &["ZADD", "myzset", "__rand_int__", "element:__rand_int__"],
        cost: 1.0,
        deep_by_default: false,
    },
    Bench {
        // The list is filled with 100 3-byte values before the scenario; see `prepare`.
        name: "lrange_100",
        template: &["LRANGE", "mylist100", "0", "99"],
        cost: 0.25,
        deep_by_default: false,
    },
];

fn bench(name: &str) -> &'static Bench {
    BENCHES
        .iter()
        .find(|b| b.name == name)
        .expect("names are checked in Settings::from_env")
}

struct Settings {
    rounds: usize,
    scale: f64,
    clients: usize,
    keyspace: u64,
    commands: Vec<String>,
    deep_commands: Vec<String>,
    depths: Vec<usize>,
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A command list from the environment, `all` expanded, checked against [`BENCHES`] and put
/// in their order whatever order it was given in (RPOP must come after LPUSH).
fn command_list(name: &str, default: &[&str]) -> Vec<String> {
    let given = env_list(name, &default.join(","));
    let all = given.iter().any(|c| c == "all");
    for c in &given {
        assert!(
            c == "all" || BENCHES.iter().any(|b| b.name == c),
            "{name}: unknown command {c:?} (all, {})",
            BENCHES
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    BENCHES
        .iter()
        .filter(|b| all || given.iter().any(|c| c == b.name))
        .map(|b| b.name.to_string())
        .collect()
}

impl Settings {
    fn from_env() -> Settings {
        let every: Vec<&str> = BENCHES.iter().map(|b| b.name).collect();
        let deep: Vec<&str> = BENCHES
            .iter()
            .filter(|b| b.deep_by_default)
            .map(|b| b.name)
            .collect();
        let commands = command_list("RESPD_BENCH_COMMANDS", &every);
        if commands.iter().any(|c| c == "rpop") && !commands.iter().any(|c| c == "lpush") {
            eprintln!("note: rpop without lpush pops an empty list (nil replies)");
        }
        Settings {
            rounds: common::env_or("RESPD_BENCH_ROUNDS", 3usize).max(1),
            scale: common::env_or("RESPD_BENCH_SCALE", 1.0f64).max(0.0001),
            clients: common::env_or("RESPD_BENCH_CLIENTS", 50usize).max(1),
            keyspace: common::env_or("RESPD_BENCH_KEYSPACE", 100_000u64),
            commands,
            deep_commands: command_list("RESPD_BENCH_DEEP_COMMANDS", &deep),
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

    /// Requests for one scenario (all clients together).
    fn requests(&self, command: &str, depth: usize) -> usize {
        (base_requests(depth) * self.scale * bench(command).cost) as usize
    }
}

/// A pipelined batch of `depth` copies of one command, with the places of its random
/// numbers, so each batch can be refreshed in place without encoding it again.
struct Batch {
    bytes: Vec<u8>,
    /// Offsets of every [`RAND_DIGITS`]-digit field in `bytes`.
    rand_at: Vec<usize>,
}

impl Batch {
    /// Encodes `depth` copies of `template`. Placeholders start out as `fill`, which with
    /// random keys off is the client number: each client then keeps to its own key.
    fn new(template: &[&str], depth: usize, fill: u64) -> Batch {
        let fill = format!("{fill:0RAND_DIGITS$}");
        let mut one = format!("*{}\r\n", template.len()).into_bytes();
        let mut rand_in_one = Vec::new();
        for arg in template {
            let pieces: Vec<&str> = arg.split(RAND).collect();
            let placeholders = pieces.len() - 1;
            let len = arg.len() - placeholders * RAND.len() + placeholders * RAND_DIGITS;
            one.extend_from_slice(format!("${len}\r\n").as_bytes());
            for (i, piece) in pieces.iter().enumerate() {
                if i > 0 {
                    rand_in_one.push(one.len());
                    one.extend_from_slice(fill.as_bytes());
                }
                one.extend_from_slice(piece.as_bytes());
            }
            one.extend_from_slice(b"\r\n");
        }
        let one_len = one.len();
        Batch {
            rand_at: (0..depth)
                .flat_map(|d| rand_in_one.iter().map(move |o| d * one_len + o))
                .collect(),
            bytes: one.repeat(depth),
        }
    }

    /// Writes a fresh random number below `keyspace` into every placeholder, as redis-benchmark
    /// does before each send.
    fn refresh(&mut self, rng: &mut XorShift, keyspace: u64) {
        for &at in &self.rand_at {
            let mut n = rng.next() % keyspace;
            for digit in self.bytes[at..at + RAND_DIGITS].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
    }
}

/// A tiny xorshift generator: random enough to spread keys, and cheap enough not to slow the
/// client threads down. Seeded per client and scenario, so both servers see the same keys.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // splitmix64 of the seed: neighbouring seeds give unrelated streams, never 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Brings the server to the state a scenario expects, before its clock starts.
fn prepare(addr: SocketAddr, command: &str) -> io::Result<()> {
    if command != "lrange_100" {
        return Ok(());
    }
    // A fresh list of exactly 100 3-byte values, so every LRANGE 0 99 returns 100 elements.
    let mut conn = connect(addr)?;
    let mut setup = Vec::new();
    encode_command(&mut setup, &[b"DEL", b"mylist100"]);
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"mylist100"];
    rpush.extend(vec![&b"xxx"[..]; 100]);
    encode_command(&mut setup, &rpush);
    conn.write_all(&setup)?;
    let mut counter = ReplyCounter::default();
    counter.read_replies(&mut conn, 2)?;
    match counter.first_error {
        Some(e) => Err(io::Error::other(format!("filling mylist100: {e}"))),
        None => Ok(()),
    }
}

/// What one scenario on one server gave: operations per second, plus nil replies seen.
struct Outcome {
    ops: f64,
    nils: usize,
}

/// Runs one scenario against one server. Returns its [`Outcome`], or why it failed.
fn run_scenario(
    addr: SocketAddr,
    command: &str,
    depth: usize,
    total: usize,
    settings: &Settings,
    seed: u64,
) -> Result<Outcome, String> {
    let clients = settings.clients;
    let keyspace = settings.keyspace;
    let template = bench(command).template;
    prepare(addr, command).map_err(|e| format!("setup: {e}"))?;
    let batches_per_client = total.div_ceil(clients * depth).max(1);
    let start_line = Barrier::new(clients + 1);
    let outcome = thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let start_line = &start_line;
                s.spawn(move || -> Result<usize, String> {
                    // Connect and prepare before the barrier, so only the traffic is timed.
                    // Every thread reaches the barrier even on failure: the others wait there.
                    let prepared = connect(addr);
                    let mut batch = Batch::new(template, depth, c as u64);
                    let mut rng = XorShift::new(seed ^ (c as u64) << 32);
                    start_line.wait();
                    let mut conn = prepared.map_err(|e| format!("setup: {e}"))?;
                    let mut counter = ReplyCounter::default();
                    for _ in 0..batches_per_client {
                        if keyspace > 0 {
                            batch.refresh(&mut rng, keyspace);
                        }
                        conn.write_all(&batch.bytes).map_err(|e| e.to_string())?;
                        counter
                            .read_replies(&mut conn, depth)
                            .map_err(|e| e.to_string())?;
                        if let Some(e) = &counter.first_error {
                            // Keep going would only repeat the error: stop this client.
                            return Err(format!("error reply: {e}"));
                        }
                    }
                    if command == "lrange_100" && counter.array_elements != 100 * counter.replies {
                        return Err(format!(
                            "LRANGE replies held {} elements, not 100 each",
                            counter.array_elements as f64 / counter.replies as f64
                        ));
                    }
                    Ok(counter.nils)
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        let mut failure = None;
        let mut nils = 0;
        for w in workers {
            match w.join() {
                Ok(Ok(n)) => nils += n,
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => failure = failure.or(Some("client thread panicked".to_string())),
            }
        }
        (started.elapsed().as_secs_f64(), failure, nils)
    });
    match outcome {
        (_, Some(e), _) => Err(e),
        (secs, None, nils) => Ok(Outcome {
            ops: (batches_per_client * clients * depth) as f64 / secs,
            nils,
        }),
    }
}

/// A scenario's results for one server: ops/s per round, or the failure that ended it.
#[derive(Default)]
struct Series {
    ops: Vec<f64>,
    nils: usize,
    failed: Option<String>,
}

/// The geometric mean of some ratios, `None` when there are none.
fn geomean(ratios: &[f64]) -> Option<f64> {
    (!ratios.is_empty())
        .then(|| (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp())
}

/// The commands the first version of this bench measured; the others are "types".
const STRING_COMMANDS: &[&str] = &["ping", "set", "get", "incr"];

fn main() -> io::Result<()> {
    let settings = Settings::from_env();
    println!(
        "throughput: {} clients, depths {:?}, {} rounds (alternating), scale {}, keyspace {}",
        settings.clients,
        settings.depths,
        settings.rounds,
        settings.scale,
        if settings.keyspace > 0 {
            format!(
                "{} (random keys, like redis-benchmark -r)",
                settings.keyspace
            )
        } else {
            "off (one key per client)".to_string()
        }
    );
    println!(
        "commands {:?}; above depth 16 only {:?}",
        settings.commands, settings.deep_commands
    );
    println!(
        "requests per scenario: {} (lrange_100: a quarter of that)",
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
    let redis = common::start_redis_or_say_why();
    let mut targets: Vec<&Target> = vec![&respd_target];
    if let Some(r) = &redis {
        targets.push(&r.target);
    }

    // Depth outermost: the reader sees each depth's rows together.
    let scenarios: Vec<(String, usize)> = settings
        .depths
        .iter()
        .flat_map(|&d| {
            let settings = &settings;
            settings
                .commands
                .iter()
                .filter(move |c| d <= 16 || settings.deep_commands.contains(c))
                .map(move |c| (c.clone(), d))
        })
        .collect();
    let mut series: Vec<Vec<Series>> = scenarios
        .iter()
        .map(|_| targets.iter().map(|_| Series::default()).collect())
        .collect();

    let run_started = Instant::now();
    for round in 0..settings.rounds {
        for (s, (command, depth)) in scenarios.iter().enumerate() {
            let total = settings.requests(command, *depth);
            // The same seed for both servers: they get the same keys in the same order.
            let seed = ((round as u64) << 16) | s as u64;
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if (round + s) % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let entry = &mut series[s][i];
                if entry.failed.is_some() {
                    continue; // it failed once; it will fail again
                }
                match run_scenario(targets[i].addr, command, *depth, total, &settings, seed) {
                    Ok(outcome) => {
                        entry.ops.push(outcome.ops);
                        entry.nils += outcome.nils;
                    }
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
        "{:<10} {:>5} {:>14} {:>7} {:>14} {:>7} {:>12}",
        "cmd", "depth", "respd ops/s", "spread", "redis ops/s", "spread", "respd/redis"
    );
    // (ratio, depth, is one of the original string commands) for the geometric means.
    let mut ratios: Vec<(f64, usize, bool)> = Vec::new();
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
                ratios.push((a / b, *depth, STRING_COMMANDS.contains(&command.as_str())));
                format!("{:.2}", a / b)
            }
            _ => "n/a".to_string(),
        };
        if *depth == 16 && matches!(command.as_str(), "set" | "get" | "incr") {
            if let Some(m) = medians[0] {
                respd_depth16_ops.push(m);
            }
        }
        println!("{command:<10} {depth:>5} {} {ratio:>12}", cells.join(" "));
    }
    for ((command, depth), per_target) in scenarios.iter().zip(&series) {
        for (t, entry) in targets.iter().zip(per_target) {
            if let Some(e) = &entry.failed {
                println!("  {} {command} -P {depth} failed: {e}", t.name);
            }
            // RPOP runs after as many LPUSHes, so a nil means an item went missing.
            if command == "rpop" && entry.failed.is_none() && entry.nils > 0 {
                println!(
                    "  {} rpop -P {depth}: {} nil replies (the list ran empty)",
                    t.name, entry.nils
                );
            }
        }
    }
    let mut groups: Vec<(String, Vec<f64>)> =
        vec![("all".to_string(), ratios.iter().map(|r| r.0).collect())];
    for &depth in &settings.depths {
        groups.push((
            format!("depth {depth}"),
            ratios
                .iter()
                .filter(|r| r.1 == depth)
                .map(|r| r.0)
                .collect(),
        ));
    }
    groups.push((
        "ping/set/get/incr".to_string(),
        ratios.iter().filter(|r| r.2).map(|r| r.0).collect(),
    ));
    groups.push((
        "list/set/hash/zset".to_string(),
        ratios.iter().filter(|r| !r.2).map(|r| r.0).collect(),
    ));
    for (name, values) in &groups {
        if let Some(g) = geomean(values) {
            println!(
                "geometric mean respd/redis, {name:<18} ({:>2} scenarios): {g:.2}",
                values.len()
            );
        }
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
