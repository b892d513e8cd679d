//! GEOSEARCH over a geo set of 1,000,000 members, respd vs. Redis side by side: how fast each
//! loads the set with GEOADD, and how many searches per second each answers for several
//! radii, a box, and a COUNT (the partial sort).
//!
//! ```text
//! cargo bench --bench geo
//! RESPD_BENCH_GEO_MEMBERS=200000 RESPD_BENCH_SCALE=0.2 cargo bench --bench geo   # smoke run
//! ```
//!
//! Environment variables (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RESPD_BENCH_GEO_MEMBERS` | 1000000 | members of the geo set |
//! | `RESPD_BENCH_ROUNDS` | 3 | rounds per scenario and server; the report shows medians |
//! | `RESPD_BENCH_SCALE` | 1.0 | multiplies every request count |
//! | `RESPD_BENCH_CLIENTS` | 4 | client connections, one thread each |
//! | `RESPD_BENCH_DEPTH` | 1 | commands per write (pipeline depth) |
//! | `RESPD_BENCH_REDIS_PORTS` | 27600-27699 | where `redis-server` may listen |
//! | `REDIS_SERVER` | `redis-server` on `PATH` | the Redis to compare against |
//!
//! # What is measured
//! Both servers get the same members: points spread evenly (a fixed pseudo-random sequence)
//! over 40 degrees of longitude by 25 of latitude, about 0.12 points per square kilometre, so
//! a 10 km radius holds some 40 points and a 100 km one some 4,000. The load is timed from
//! one connection sending GEOADDs of 500 members, 20 per write.
//!
//! Before timing, a sample of searches (with WITHDIST, WITHHASH, WITHCOORD, ASC, COUNT) is
//! sent to both servers and their replies compared byte for byte, so the bench also checks
//! that respd finds the same points as Redis at this scale.
//!
//! Each scenario then has every client thread send its searches around pseudo-random centres
//! inside the populated area, `depth` per write, and read the replies; throughput is all
//! replies over the wall time from a common start to the last reply. Rounds alternate the
//! servers (A B, then B A) so drift on a shared machine hits both alike; as in the other
//! benches, only the ratios of one run mean much.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use common::resp::RespReader;
use common::{connect, encode_command, env_or, median, ReplyCounter, Target};

/// The populated area: west, south, east, north (degrees).
const AREA: [f64; 4] = [-10.0, 35.0, 30.0, 60.0];
const KEY: &[u8] = b"geo:bench";
const BATCH: usize = 500;
const BATCHES_PER_WRITE: usize = 20;

/// splitmix64: the same points on both servers, every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    /// A point of the populated area, with six decimals as a client would send it.
    fn point(&mut self) -> (String, String) {
        let lon = self.uniform(AREA[0], AREA[2]);
        let lat = self.uniform(AREA[1], AREA[3]);
        (format!("{lon:.6}"), format!("{lat:.6}"))
    }
}

/// One search scenario.
struct Scenario {
    name: &'static str,
    /// The arguments after `GEOSEARCH key FROMLONLAT lon lat`.
    shape: &'static [&'static str],
    /// Searches per client at scale 1.
    requests: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "BYRADIUS 1 km",
        shape: &["BYRADIUS", "1", "km"],
        requests: 20_000,
    },
    Scenario {
        name: "BYRADIUS 10 km",
        shape: &["BYRADIUS", "10", "km"],
        requests: 10_000,
    },
    Scenario {
        name: "BYRADIUS 10 km WITHDIST ASC",
        shape: &["BYRADIUS", "10", "km", "WITHDIST", "ASC"],
        requests: 10_000,
    },
    Scenario {
        name: "BYRADIUS 100 km COUNT 10",
        shape: &["BYRADIUS", "100", "km", "COUNT", "10"],
        requests: 1_000,
    },
    Scenario {
        name: "BYRADIUS 100 km",
        shape: &["BYRADIUS", "100", "km"],
        requests: 500,
    },
    Scenario {
        name: "BYBOX 20 x 20 km",
        shape: &["BYBOX", "20", "20", "km"],
        requests: 10_000,
    },
];

/// Fills the geo set; returns members added per second.
fn load(addr: SocketAddr, members: usize) -> f64 {
    let mut conn = connect(addr).expect("connect");
    let mut counter = ReplyCounter::default();
    send(&mut conn, &mut counter, &[&b"DEL"[..], KEY]);
    let mut rng = Rng(7);
    let started = Instant::now();
    let mut next = 0;
    while next < members {
        let mut out = Vec::new();
        let mut commands = 0;
        while commands < BATCHES_PER_WRITE && next < members {
            let n = BATCH.min(members - next);
            let triples: Vec<(String, String, String)> = (next..next + n)
                .map(|i| {
                    let (lon, lat) = rng.point();
                    (lon, lat, format!("m{i}"))
                })
                .collect();
            let mut args: Vec<&[u8]> = vec![b"GEOADD", KEY];
            for (lon, lat, member) in &triples {
                args.extend([lon.as_bytes(), lat.as_bytes(), member.as_bytes()]);
            }
            encode_command(&mut out, &args);
            next += n;
            commands += 1;
        }
        conn.write_all(&out).expect("write");
        counter.read_replies(&mut conn, commands).expect("replies");
    }
    assert_eq!(
        counter.errors, 0,
        "GEOADD failed: {:?}",
        counter.first_error
    );
    members as f64 / started.elapsed().as_secs_f64()
}

fn send(conn: &mut TcpStream, counter: &mut ReplyCounter, args: &[&[u8]]) {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    conn.write_all(&out).expect("write");
    counter.read_replies(conn, 1).expect("reply");
}

/// Sends one command and returns its reply's bytes.
fn call(conn: &mut TcpStream, args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    conn.write_all(&out).expect("write");
    let mut reader = RespReader::new(conn);
    let reply = reader.reply().expect("read a reply");
    assert!(reader.buffered().is_empty(), "one reply expected");
    reply
}

/// Searches with every option on both servers; returns how many replies were identical, and
/// the first that was not.
fn compare_samples(a: SocketAddr, b: SocketAddr) -> (usize, usize, Option<String>) {
    let mut ca = connect(a).expect("connect");
    let mut cb = connect(b).expect("connect");
    let mut rng = Rng(99);
    let shapes: &[&[&str]] = &[
        &[
            "BYRADIUS",
            "25",
            "km",
            "WITHDIST",
            "WITHHASH",
            "WITHCOORD",
            "ASC",
        ],
        &["BYRADIUS", "150", "km", "COUNT", "50", "WITHDIST"],
        &["BYRADIUS", "150", "km", "COUNT", "50", "DESC", "WITHDIST"],
        &["BYBOX", "60", "30", "km", "WITHDIST", "WITHCOORD"],
        &["BYRADIUS", "40", "mi"],
        &["BYRADIUS", "2000", "km", "COUNT", "5", "ANY"],
    ];
    let (mut same, mut total, mut first_diff) = (0, 0, None);
    for i in 0..60 {
        let (lon, lat) = rng.point();
        let shape = shapes[i % shapes.len()];
        let mut args: Vec<&[u8]> = vec![
            b"GEOSEARCH",
            KEY,
            b"FROMLONLAT",
            lon.as_bytes(),
            lat.as_bytes(),
        ];
        args.extend(shape.iter().map(|s| s.as_bytes()));
        total += 1;
        if call(&mut ca, &args) == call(&mut cb, &args) {
            same += 1;
        } else if first_diff.is_none() {
            first_diff = Some(format!(
                "GEOSEARCH {} FROMLONLAT {lon} {lat} {}",
                "geo:bench",
                shape.join(" ")
            ));
        }
    }
    (same, total, first_diff)
}

/// One timed run of a scenario; returns searches per second.
fn run(addr: SocketAddr, scenario: &Scenario, clients: usize, depth: usize, scale: f64) -> f64 {
    let per_client = ((scenario.requests as f64 * scale) as usize).max(depth);
    let start_line = Barrier::new(clients + 1);
    let started = thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let start_line = &start_line;
                s.spawn(move || {
                    let mut conn = connect(addr).expect("connect");
                    let mut counter = ReplyCounter::default();
                    let mut rng = Rng(1000 + c as u64);
                    // Every write prepared before the start, so the clock measures the server.
                    let writes: Vec<Vec<u8>> = (0..per_client / depth)
                        .map(|_| {
                            let mut out = Vec::new();
                            for _ in 0..depth {
                                let (lon, lat) = rng.point();
                                let mut args: Vec<&[u8]> = vec![
                                    b"GEOSEARCH",
                                    KEY,
                                    b"FROMLONLAT",
                                    lon.as_bytes(),
                                    lat.as_bytes(),
                                ];
                                args.extend(scenario.shape.iter().map(|s| s.as_bytes()));
                                encode_command(&mut out, &args);
                            }
                            out
                        })
                        .collect();
                    start_line.wait();
                    for w in &writes {
                        conn.write_all(w).expect("write");
                        counter.read_replies(&mut conn, depth).expect("replies");
                    }
                    assert_eq!(counter.errors, 0, "{:?}", counter.first_error);
                    counter.replies
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        let replies: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        (started.elapsed(), replies)
    });
    let (elapsed, replies) = started;
    replies as f64 / elapsed.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` passes nothing and should
    // not spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("geo bench: run with `cargo bench --bench geo`");
        return;
    }
    let members: usize = env_or("RESPD_BENCH_GEO_MEMBERS", 1_000_000);
    let rounds: usize = env_or("RESPD_BENCH_ROUNDS", 3);
    let scale: f64 = env_or("RESPD_BENCH_SCALE", 1.0);
    let clients: usize = env_or("RESPD_BENCH_CLIENTS", 4);
    let depth: usize = env_or::<usize>("RESPD_BENCH_DEPTH", 1).max(1);

    println!("geo bench: {}", common::machine_line());
    println!("{members} members, {clients} clients, depth {depth}, {rounds} rounds, scale {scale}");
    let (_respd_handle, respd) = common::start_respd().expect("start respd");
    let redis = common::start_redis_or_say_why();
    let mut targets: Vec<&Target> = vec![&respd];
    if let Some(r) = &redis {
        targets.push(&r.target);
    }

    println!("\nload (GEOADD, {BATCH} members per command, {BATCHES_PER_WRITE} per write):");
    let mut load_rates = Vec::new();
    for t in &targets {
        let rate = load(t.addr, members);
        println!("  {:<6} {:>12.0} members/s", t.name, rate);
        load_rates.push(rate);
    }
    let mut ratios = Vec::new();
    if load_rates.len() == 2 {
        println!("  ratio respd/redis {:.2}", load_rates[0] / load_rates[1]);
        let (same, total, diff) = compare_samples(targets[0].addr, targets[1].addr);
        println!("\nsample searches with identical replies: {same}/{total}");
        if let Some(d) = diff {
            println!("  first difference: {d}");
        }
    }

    println!(
        "\n{:<30} {:>14} {:>14} {:>8}",
        "GEOSEARCH FROMLONLAT ...", "respd q/s", "redis q/s", "ratio"
    );
    for scenario in SCENARIOS {
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        for round in 0..rounds {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..targets.len()).collect()
            } else {
                (0..targets.len()).rev().collect()
            };
            for i in order {
                results[i].push(run(targets[i].addr, scenario, clients, depth, scale));
            }
        }
        let medians: Vec<f64> = results.iter().map(|r| median(r)).collect();
        match medians.as_slice() {
            [ours, theirs] => {
                let ratio = ours / theirs;
                ratios.push(ratio);
                println!(
                    "{:<30} {:>14.0} {:>14.0} {:>8.2}",
                    scenario.name, ours, theirs, ratio
                );
            }
            [ours] => println!(
                "{:<30} {:>14.0} {:>14} {:>8}",
                scenario.name, ours, "-", "-"
            ),
            _ => unreachable!(),
        }
    }
    if !ratios.is_empty() {
        let geo_mean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        println!("\ngeometric mean of the search ratios respd/redis: {geo_mean:.2}");
    }
}
