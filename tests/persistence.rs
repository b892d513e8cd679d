//! RDB snapshots: the file format against real Redis dumps, round trips, corrupt files, and the
//! server's SAVE / BGSAVE / LASTSAVE / INFO persistence / startup load / final save.
//!
//! The fixtures in tests/fixtures were written by a real redis-server 7.0.15 from the data in
//! tests/fixtures/make-fixtures.sh, so the loader is checked even where no redis-server is
//! installed. Where one is, respd's own dump is also loaded into it and compared key by key.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{RawConn, RedisServer, TestServer};
use respd::persistence::rdb::{self, WriteOptions};
use respd::store::{Dict, Keyspace, Value, ZSet};

/// A comparable picture of a value: its type and a canonical rendering.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, u64)>),
    /// Entries, then the metadata and groups rendered as text.
    Stream(Vec<(Vec<u8>, Vec<Vec<u8>>)>, String),
}

type Picture = BTreeMap<(usize, Vec<u8>), (Shape, Option<u64>)>;

fn shape(v: &Value) -> Shape {
    match v {
        Value::Int(n) => Shape::Str(n.to_string().into_bytes()),
        Value::Str(s) => Shape::Str(s.to_vec()),
        Value::List(l) => Shape::List(l.iter().cloned().collect()),
        Value::Set(s) => {
            let mut m: Vec<Vec<u8>> = s.keys().cloned().collect();
            m.sort();
            Shape::Set(m)
        }
        Value::Hash(h) => {
            let mut p: Vec<(Vec<u8>, Vec<u8>)> =
                h.iter().map(|(f, v)| (f.clone(), v.clone())).collect();
            p.sort();
            Shape::Hash(p)
        }
        Value::ZSet(z) => Shape::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect()),
        Value::Stream(s) => {
            use respd::store::StreamId;
            let entries = s
                .range(StreamId::MIN, StreamId::MAX, false)
                .map(|(id, f)| (id.to_bytes(), f.clone()))
                .collect();
            let meta = format!(
                "{:?} {:?} {:?} {} {:?}",
                s.last_id, s.first_id, s.max_deleted_entry_id, s.entries_added, s.groups
            );
            Shape::Stream(entries, meta)
        }
    }
}

fn picture(ks: &Keyspace) -> Picture {
    let mut out = BTreeMap::new();
    for (i, db) in ks.dbs().iter().enumerate() {
        for (k, e) in db.iter() {
            out.insert((i, k.to_vec()), (shape(&e.value), e.expire_at()));
        }
    }
    out
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).expect("fixture")
}

/// A time before every TTL in the fixtures, so the test does not depend on today's date.
const FIXTURE_NOW: u64 = 1_700_000_000_000;

fn load(bytes: &[u8]) -> Result<Keyspace, rdb::LoadError> {
    let mut ks = Keyspace::new(16);
    rdb::load(bytes, &mut ks, FIXTURE_NOW, true).map(|_| ks)
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn strs<I: IntoIterator<Item = String>>(it: I) -> Vec<Vec<u8>> {
    it.into_iter().map(|s| s.into_bytes()).collect()
}

#[test]
fn loads_a_dump_written_by_redis_7_0() {
    let ks = load(&fixture("redis-7.0.15-all-types.rdb")).expect("fixture loads");
    let p = picture(&ks);
    let get = |db: usize, key: &[u8]| {
        p.get(&(db, key.to_vec()))
            .cloned()
            .unwrap_or_else(|| panic!("missing {:?}", String::from_utf8_lossy(key)))
    };
    assert_eq!(p.len(), 25);
    assert_eq!(get(0, b"str"), (Shape::Str(b("hello")), None));
    assert_eq!(get(0, b"int"), (Shape::Str(b("12345")), None));
    assert_eq!(get(0, b"bigint"), (Shape::Str(b("123456789012345")), None));
    assert_eq!(get(0, b"neg"), (Shape::Str(b("-42")), None));
    assert_eq!(get(0, b"long"), (Shape::Str(vec![b'x'; 300]), None));
    assert_eq!(
        get(0, b"lzfstr"),
        (Shape::Str(b("abcabcabc").repeat(50)), None)
    );
    assert_eq!(get(0, b"ttlkey"), (Shape::Str(b("v")), Some(4102444800000)));
    assert_eq!(
        get(0, b"bin\x00key\xff"),
        (Shape::Str(b"bin\x01\x00val".to_vec()), None)
    );
    let list = strs(["a", "b", "c", "1", "2", "300000", "-5"].map(String::from));
    assert_eq!(get(0, b"list"), (Shape::List(list), Some(4102444800123)));
    assert_eq!(
        get(0, b"biglist").0,
        Shape::List(strs((1..=700).map(|i| i.to_string())))
    );
    let mut intset = strs(["1", "2", "3", "-100", "70000", "5000000000"].map(String::from));
    intset.sort();
    assert_eq!(get(0, b"intset").0, Shape::Set(intset));
    let mut bigset = strs((1..=600).map(|i| i.to_string()));
    bigset.sort();
    assert_eq!(get(0, b"bigset").0, Shape::Set(bigset));
    assert_eq!(
        get(0, b"set").0,
        Shape::Set(strs(["1", "a", "b", "c"].map(String::from)))
    );
    assert_eq!(
        get(0, b"hash").0,
        Shape::Hash(vec![
            (b("f1"), b("v1")),
            (b("f2"), b("2")),
            (b("f3"), vec![b'y'; 100])
        ])
    );
    assert_eq!(
        get(0, b"smallhash").0,
        Shape::Hash(vec![(b("a"), b("1")), (b("b"), b("2"))])
    );
    let Shape::Hash(big) = get(0, b"bighash").0 else {
        panic!("bighash is not a hash")
    };
    assert_eq!(big.len(), 600);
    assert!(big.contains(&(b("f600"), b("v600"))));
    let zset: Vec<(Vec<u8>, u64)> = [
        ("e", f64::NEG_INFINITY),
        ("c", -3.0),
        ("a", 1.0),
        ("b", 2.5),
        ("d", f64::INFINITY),
    ]
    .iter()
    .map(|(m, s)| (b(m), s.to_bits()))
    .collect();
    assert_eq!(get(0, b"zset").0, Shape::ZSet(zset));
    let bigz: Vec<(Vec<u8>, u64)> = (1..=200)
        .map(|i| (format!("m{i}").into_bytes(), (i as f64 + 0.5).to_bits()))
        .collect();
    assert_eq!(get(0, b"bigzset").0, Shape::ZSet(bigz));
    for d in [1usize, 5, 15] {
        assert_eq!(
            get(d, format!("k{d}").as_bytes()).0,
            Shape::Str(format!("v{d}").into_bytes())
        );
        assert_eq!(
            get(d, format!("l{d}").as_bytes()).0,
            Shape::List(vec![b("x")])
        );
    }
}

#[test]
fn expired_keys_are_skipped_at_load() {
    let mut ks = Keyspace::new(16);
    let stats = rdb::load(
        &fixture("redis-7.0.15-all-types.rdb"),
        &mut ks,
        4102444800050,
        true,
    )
    .unwrap();
    assert_eq!((stats.keys_loaded, stats.keys_expired), (24, 1));
    assert!(ks.db(0).iter().all(|(k, _)| k != b"ttlkey"));
}

#[test]
fn a_stream_written_by_redis_loads() {
    let ks = load(&fixture("redis-7.0.15-stream.rdb")).expect("loaded");
    let entry = ks.db(0).peek(b"mystream", 0).expect("mystream");
    let Value::Stream(s) = &entry.value else {
        panic!("mystream is not a stream: {:?}", entry.value);
    };
    assert_eq!(s.len(), 1);
    assert_eq!(s.entries_added, 1);
    let (id, fields) = s
        .range(
            respd::store::StreamId::MIN,
            respd::store::StreamId::MAX,
            false,
        )
        .next()
        .expect("one entry");
    assert_eq!(id, s.last_id);
    assert_eq!(fields, vec![b"f".to_vec(), b"v".to_vec()]);
}

#[test]
fn an_unsupported_type_fails_the_load_naming_key_and_type() {
    // The stream fixture with its type byte turned into a module's (RDB_TYPE_MODULE_2).
    let mut rdb = fixture("redis-7.0.15-stream.rdb");
    let at = rdb
        .windows(10)
        .position(|w| w[0] == 19 && &w[1..] == b"\x08mystream")
        .expect("the stream's type byte");
    rdb[at] = 7;
    let err = load(&rdb).expect_err("refused");
    assert!(err.message.contains("'mystream'"), "{err}");
    assert!(err.message.contains("module"), "{err}");
    assert!(err.offset > 9, "{err}");
}

#[test]
fn truncated_corrupt_and_wrong_version_files_are_refused_with_an_offset() {
    let good = fixture("redis-7.0.15-all-types.rdb");
    for cut in [
        0,
        5,
        9,
        20,
        100,
        good.len() / 2,
        good.len() - 9,
        good.len() - 1,
    ] {
        let err = load(&good[..cut])
            .err()
            .unwrap_or_else(|| panic!("truncated at {cut} loaded"));
        assert!(err.offset <= cut, "cut {cut}: {err}");
    }
    // One flipped bit inside a value: either the structure or the checksum catches it.
    let mut flipped = good.clone();
    let at = good.len() - 40;
    flipped[at] ^= 0x10;
    let err = load(&flipped).expect_err("corruption detected");
    assert!(err.to_string().contains("offset"), "{err}");
    let mut crc = good.clone();
    let n = crc.len();
    crc[n - 1] ^= 1;
    let err = load(&crc).expect_err("checksum mismatch");
    assert!(err.message.contains("checksum"), "{err}");
    assert_eq!(err.offset, n - 8);
    let mut v11 = good.clone();
    v11[5..9].copy_from_slice(b"0011");
    let err = load(&v11).expect_err("version 11 refused");
    assert!(
        err.message.contains("Can't handle RDB format version 0011"),
        "{err}"
    );
    assert_eq!(err.offset, 5);
    let err = load(b"NOTREDIS0010").err().unwrap();
    assert!(err.message.contains("Wrong signature"), "{err}");
}

/// A keyspace holding every type, small and big values, binary keys, TTLs, all 16 databases.
fn sample_keyspace(now: u64) -> Keyspace {
    let mut ks = Keyspace::new(16);
    for i in 0..16usize {
        let db = ks.db_mut(i);
        db.set(
            format!("db{i}").as_bytes(),
            Value::from_bytes(format!("value in {i}").into_bytes()),
            now,
        );
        db.set_with_expire(
            b"ttl",
            Value::Int(i as i64),
            Some(now + 1_000_000 + i as u64),
            now,
        );
    }
    let db = ks.db_mut(0);
    for n in [
        0i64,
        1,
        -1,
        127,
        -128,
        128,
        32767,
        -32768,
        65536,
        i32::MAX as i64,
        i32::MIN as i64,
        i64::MAX,
        i64::MIN,
    ] {
        db.set(format!("int:{n}").as_bytes(), Value::Int(n), now);
    }
    db.set(b"empty", Value::Str(Vec::new().into()), now);
    db.set(
        b"\x00\xff\r\nbinary key",
        Value::Str((0..=255u8).collect::<Vec<u8>>().into()),
        now,
    );
    db.set(
        b"compressible",
        Value::Str(b"0123456789".repeat(10_000).into()),
        now,
    );
    let noise: Vec<u8> = (0..100_000u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect();
    db.set(b"noise", Value::Str(noise.into()), now);
    db.set(
        b"list:small",
        Value::List(VecDeque::from(vec![b("a"), b("12"), Vec::new()])),
        now,
    );
    db.set(
        b"list:big",
        Value::List(
            (0..5000)
                .map(|i| format!("element {i}").into_bytes())
                .collect(),
        ),
        now,
    );
    let set = |members: Vec<Vec<u8>>| {
        Value::Set(Box::new(respd::store::Set::from_members(
            members.into_iter().map(|m| (m, ())).collect::<Dict<_, _>>(),
        )))
    };
    db.set(
        b"set:ints",
        set(vec![b("1"), b("-5"), b("70000"), b("9000000000")]),
        now,
    );
    db.set(
        b"set:bigints",
        set((0..1000).map(|i| i.to_string().into_bytes()).collect()),
        now,
    );
    db.set(
        b"set:mixed",
        set(vec![b("a"), b("1"), b"\x00".to_vec()]),
        now,
    );
    let mut h = respd::store::Hash::default();
    h.insert(b("field"), b("value"));
    h.insert(b("n"), b("42"));
    h.insert(b"\x00bin".to_vec(), vec![7u8; 1000]);
    db.set_with_expire(b"hash", Value::Hash(Box::new(h)), Some(now + 5_000), now);
    let big = respd::store::Hash::from_pairs(
        (0..2000).map(|i| (format!("f{i}").into_bytes(), format!("v{i}").into_bytes())),
    );
    db.set(b"hash:big", Value::Hash(Box::new(big)), now);
    let mut z = ZSet::new();
    for (m, s) in [
        ("a", 1.0),
        ("b", -2.5),
        ("c", f64::INFINITY),
        ("d", f64::NEG_INFINITY),
        ("e", 0.1 + 0.2),
        ("f", 1e-300),
    ] {
        z.insert(m.as_bytes(), s);
    }
    db.set(b"zset", Value::ZSet(Box::new(z)), now);
    let mut z = ZSet::new();
    for i in 0..3000 {
        z.insert(format!("member{i}").as_bytes(), i as f64 / 7.0);
    }
    db.set(b"zset:big", Value::ZSet(Box::new(z)), now);
    ks
}

#[test]
fn round_trip_every_type_with_and_without_compression() {
    let now = respd::util::now_ms();
    let ks = sample_keyspace(now);
    for compression in [true, false] {
        for checksum in [true, false] {
            let bytes = rdb::write_live_keyspace(
                Vec::new(),
                WriteOptions {
                    compression,
                    checksum,
                },
                &[],
                &ks,
                now,
                0,
            )
            .unwrap();
            let mut back = Keyspace::new(16);
            rdb::load(&bytes, &mut back, now, true).unwrap();
            assert_eq!(
                picture(&back),
                picture(&ks),
                "compression {compression} checksum {checksum}"
            );
        }
    }
    let small = rdb::write_live_keyspace(
        Vec::new(),
        WriteOptions {
            compression: true,
            checksum: true,
        },
        &[],
        &ks,
        now,
        0,
    )
    .unwrap();
    let big = rdb::write_live_keyspace(
        Vec::new(),
        WriteOptions {
            compression: false,
            checksum: true,
        },
        &[],
        &ks,
        now,
        0,
    )
    .unwrap();
    assert!(
        small.len() + 90_000 < big.len(),
        "LZF saved too little: {} vs {}",
        small.len(),
        big.len()
    );
}

/// Reads a key back from a Redis-protocol server as a [`Shape`].
fn shape_over_wire(conn: &mut RawConn, key: &[u8]) -> Shape {
    let ty = conn.cmd(&[b"TYPE", key]);
    let items = |reply: Vec<u8>| -> Vec<Vec<u8>> {
        let text = reply;
        let mut out = Vec::new();
        let mut i = text.iter().position(|&c| c == b'\n').unwrap() + 1;
        while i < text.len() {
            let end = i + text[i..].iter().position(|&c| c == b'\r').unwrap();
            let n: usize = std::str::from_utf8(&text[i + 1..end])
                .unwrap()
                .parse()
                .unwrap();
            out.push(text[end + 2..end + 2 + n].to_vec());
            i = end + 2 + n + 2;
        }
        out
    };
    match ty.as_slice() {
        b"+string\r\n" => {
            Shape::Str(items([b"*1\r\n".to_vec(), conn.cmd(&[b"GET", key])].concat()).remove(0))
        }
        b"+list\r\n" => Shape::List(items(conn.cmd(&[b"LRANGE", key, b"0", b"-1"]))),
        b"+set\r\n" => {
            let mut m = items(conn.cmd(&[b"SMEMBERS", key]));
            m.sort();
            Shape::Set(m)
        }
        b"+hash\r\n" => {
            let flat = items(conn.cmd(&[b"HGETALL", key]));
            let mut p: Vec<(Vec<u8>, Vec<u8>)> = flat
                .chunks(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            p.sort();
            Shape::Hash(p)
        }
        b"+zset\r\n" => {
            let flat = items(conn.cmd(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]));
            Shape::ZSet(
                flat.chunks(2)
                    .map(|c| {
                        let s = respd::util::parse_f64(&c[1]).unwrap();
                        (c[0].clone(), s.to_bits())
                    })
                    .collect(),
            )
        }
        other => panic!("unexpected TYPE reply {:?}", String::from_utf8_lossy(other)),
    }
}

fn int_reply(r: &[u8]) -> i64 {
    std::str::from_utf8(&r[1..r.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("respd-rdb-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn dump(&self) -> PathBuf {
        self.0.join("dump.rdb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn real_redis_loads_respd_dumps_and_check_rdb_accepts_them() {
    if !RedisServer::available() {
        common::skip_note("redis-server not installed: respd's dump not checked against it");
        return;
    }
    let dir = TempDir::new("to-redis");
    let now = respd::util::now_ms();
    let ks = sample_keyspace(now);
    let bytes = rdb::write_live_keyspace(
        Vec::new(),
        WriteOptions {
            compression: true,
            checksum: true,
        },
        &[],
        &ks,
        now,
        0,
    )
    .unwrap();
    std::fs::write(dir.dump(), &bytes).unwrap();
    if let Ok(out) = Command::new("redis-check-rdb").arg(dir.dump()).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("RDB looks OK"),
            "redis-check-rdb refused the dump:\n{text}"
        );
    }
    let redis =
        RedisServer::start_with(&["--dir", dir.0.to_str().unwrap(), "--dbfilename", "dump.rdb"])
            .expect("redis-server starts");
    let mut conn = redis.conn();
    let expected = picture(&ks);
    let mut seen = 0;
    for ((db, key), (shape, expire)) in &expected {
        conn.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        assert_eq!(
            &shape_over_wire(&mut conn, key),
            shape,
            "db {db} key {:?}",
            String::from_utf8_lossy(key)
        );
        let at = int_reply(&conn.cmd(&[b"PEXPIRETIME", key]));
        assert_eq!(
            at,
            expire.map_or(-1, |t| t as i64),
            "TTL of {:?}",
            String::from_utf8_lossy(key)
        );
        seen += 1;
    }
    let mut total = 0;
    for db in 0..16 {
        conn.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        total += int_reply(&conn.cmd(&[b"DBSIZE"]));
    }
    assert_eq!(total as usize, seen);

    // And back: Redis saves what it loaded (in its own compact encodings); respd reads it.
    assert_eq!(conn.cmd(&[b"SAVE"]), b"+OK\r\n");
    let again = std::fs::read(dir.dump()).unwrap();
    let mut back = Keyspace::new(16);
    rdb::load(&again, &mut back, now, true).unwrap();
    assert_eq!(picture(&back), expected);
}

#[test]
fn save_bgsave_lastsave_and_info() {
    let dir = TempDir::new("server");
    let path = dir.0.to_str().unwrap().to_string();
    let server = TestServer::with_config(|c| {
        c.dir = path.clone();
        c.save = vec![(3600, 1)];
    });
    let mut conn = server.conn();
    let info = |conn: &mut RawConn, field: &str| -> String {
        let text = String::from_utf8(conn.cmd(&[b"INFO", b"persistence"])).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap()
            .to_string()
    };
    assert_eq!(conn.cmd(&[b"SET", b"a", b"1"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"RPUSH", b"l", b"x", b"y"]), b":2\r\n");
    assert_eq!(conn.cmd(&[b"GET", b"a"]), b"$1\r\n1\r\n");
    assert_eq!(info(&mut conn, "rdb_changes_since_last_save"), "2");
    assert_eq!(conn.cmd(&[b"SAVE"]), b"+OK\r\n");
    assert_eq!(info(&mut conn, "rdb_changes_since_last_save"), "0");
    let lastsave = int_reply(&conn.cmd(&[b"LASTSAVE"]));
    assert!((lastsave - (respd::util::now_ms() / 1000) as i64).abs() <= 2);
    assert!(!dir
        .0
        .join(format!("temp-{}.rdb", std::process::id()))
        .exists());
    assert_eq!(
        picture(&load(&std::fs::read(dir.dump()).unwrap()).unwrap()).len(),
        2
    );

    assert_eq!(conn.cmd(&[b"SET", b"b", b"2"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"BGSAVE"]), b"+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info(&mut conn, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info(&mut conn, "rdb_last_bgsave_status"), "ok");
    assert_eq!(
        picture(&load(&std::fs::read(dir.dump()).unwrap()).unwrap()).len(),
        3
    );
    assert_eq!(conn.cmd(&[b"BGSAVE", b"NOW"]), b"-ERR syntax error\r\n");
    assert_eq!(conn.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(
        conn.cmd(&[b"SAVE"]),
        b"-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(conn.cmd(&[b"DISCARD"]), b"+OK\r\n");

    // A failing background save: writes get MISCONF until a save works again.
    std::fs::remove_dir_all(&dir.0).unwrap();
    assert_eq!(conn.cmd(&[b"BGSAVE"]), b"+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info(&mut conn, "rdb_last_bgsave_status") != "err" {
        assert!(Instant::now() < deadline, "BGSAVE did not fail");
        std::thread::sleep(Duration::from_millis(10));
    }
    let misconf = [b"-".as_slice(), respd::persistence::MISCONF_ERROR, b"\r\n"].concat();
    assert_eq!(conn.cmd(&[b"SET", b"c", b"3"]), misconf);
    assert_eq!(conn.cmd(&[b"PING"]), misconf);
    assert_eq!(conn.cmd(&[b"GET", b"a"]), b"$1\r\n1\r\n");
    assert_eq!(conn.cmd(&[b"SAVE"]), b"-ERR\r\n");
    std::fs::create_dir_all(&dir.0).unwrap();
    assert_eq!(conn.cmd(&[b"SAVE"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SET", b"c", b"3"]), b"+OK\r\n");
}

/// Redis's flushAllDataAndResetRDB(): with save points, FLUSHALL saves the empty dataset at
/// once (so a restart cannot bring the keys back) and the dirty counter is 0 afterwards;
/// without save points nothing is written and the flush counts as a change.
#[test]
fn flushall_with_save_points_saves_and_resets_the_dirty_counter() {
    let dir = TempDir::new("flushall");
    let path = dir.0.to_str().unwrap().to_string();
    let server = TestServer::with_config(|c| {
        c.dir = path.clone();
        c.save = vec![(3600, 1)];
    });
    let mut conn = server.conn();
    let changes = |conn: &mut RawConn| -> String {
        let text = String::from_utf8(conn.cmd(&[b"INFO", b"persistence"])).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(conn.cmd(&[b"SET", b"a", b"1"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SAVE"]), b"+OK\r\n");
    assert_eq!(
        picture(&load(&std::fs::read(dir.dump()).unwrap()).unwrap()).len(),
        1
    );
    assert_eq!(conn.cmd(&[b"SET", b"b", b"2"]), b"+OK\r\n");
    assert_eq!(changes(&mut conn), "1");
    assert_eq!(conn.cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    assert_eq!(changes(&mut conn), "0");
    assert_eq!(
        picture(&load(&std::fs::read(dir.dump()).unwrap()).unwrap()).len(),
        0
    );

    assert_eq!(conn.cmd(&[b"CONFIG", b"SET", b"save", b""]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SET", b"c", b"3"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    assert_eq!(changes(&mut conn), "2");
}

fn spawn_respd(dir: &Path, port: u16) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_respd"))
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--bind",
            "127.0.0.1",
            // respd's default is in-memory only; these are Redis's default save points.
            "--save",
            "3600 1 300 100 60 10000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start respd")
}

fn connect_when_up(port: u16) -> RawConn {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return RawConn::connect(addr);
        }
        assert!(Instant::now() < deadline, "respd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_saves_and_the_next_start_loads_it() {
    let dir = TempDir::new("restart");
    let port = common::free_port();
    let mut child = spawn_respd(&dir.0, port);
    let mut conn = connect_when_up(port);
    assert_eq!(conn.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(
        conn.cmd(&[b"SET", b"t", b"v", b"PX", b"100000000"]),
        b"+OK\r\n"
    );
    assert_eq!(conn.cmd(&[b"ZADD", b"z", b"1.5", b"m"]), b":1\r\n");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(dir.dump().exists(), "no dump written at SIGTERM");

    let port = common::free_port();
    let mut child = spawn_respd(&dir.0, port);
    let mut conn = connect_when_up(port);
    assert_eq!(conn.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(conn.cmd(&[b"ZSCORE", b"z", b"m"]), b"$3\r\n1.5\r\n");
    assert!(int_reply(&conn.cmd(&[b"PTTL", b"t"])) > 99_000_000);
    // SHUTDOWN NOSAVE leaves the file as it was.
    assert_eq!(conn.cmd(&[b"SET", b"k", b"changed"]), b"+OK\r\n");
    let before = std::fs::read(dir.dump()).unwrap();
    conn.send(b"SHUTDOWN NOSAVE\r\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read(dir.dump()).unwrap(), before);
}

#[test]
fn a_corrupt_dump_stops_the_start_and_is_left_alone() {
    let dir = TempDir::new("corrupt");
    let mut bytes = fixture("redis-7.0.15-all-types.rdb");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(dir.dump(), &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_respd"))
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            dir.0.to_str().unwrap(),
            // --bind takes several values: it comes last.
            "--bind",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // The refusal is logged, and the log is standard output.
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("dump.rdb"), "{log}");
    assert!(log.contains("offset"), "{log}");
    assert_eq!(std::fs::read(dir.dump()).unwrap(), bytes);
}

/// A `kill -9` in the middle of a save never damages the previous dump: saves go to a temp
/// file that is renamed over the dump only once complete.
#[test]
fn a_kill_during_bgsave_or_save_leaves_the_previous_dump_intact() {
    let dir = TempDir::new("kill-during-save");
    let port = common::free_port();
    let mut child = spawn_respd(&dir.0, port);
    let mut conn = connect_when_up(port);
    assert_eq!(conn.cmd(&[b"SET", b"generation", b"1"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&[b"SAVE"]), b"+OK\r\n");
    let good = std::fs::read(dir.dump()).unwrap();
    // Enough data that a save takes a while, then kill while it runs.
    let value = vec![b'v'; 1000];
    let mut batch = Vec::new();
    for i in 0..50_000 {
        batch.extend(common::encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            &value,
        ]));
    }
    conn.send(&batch);
    for _ in 0..50_000 {
        assert_eq!(conn.reply().unwrap(), b"+OK\r\n");
    }
    assert_eq!(conn.cmd(&[b"SET", b"generation", b"2"]), b"+OK\r\n");
    for save in [&b"BGSAVE"[..], b"SAVE"] {
        conn.send(&common::encode(&[save]));
        std::thread::sleep(Duration::from_millis(20));
        child.kill().unwrap();
        child.wait().unwrap();
        // Either the old dump, byte for byte, or (if the save won the race) a complete new
        // one; never a torn file. Both must load.
        let now = std::fs::read(dir.dump()).unwrap();
        let restarted_port = common::free_port();
        child = spawn_respd(&dir.0, restarted_port);
        conn = connect_when_up(restarted_port);
        let generation = conn.cmd(&[b"GET", b"generation"]);
        if now == good {
            assert_eq!(generation, b"$1\r\n1\r\n");
        } else {
            assert_eq!(generation, b"$1\r\n2\r\n", "a new dump must be complete");
            assert_eq!(conn.cmd(&[b"DBSIZE"]), b":50001\r\n");
        }
        // Put the bigger dataset back for the next round.
        conn.send(&batch);
        for _ in 0..50_000 {
            assert_eq!(conn.reply().unwrap(), b"+OK\r\n");
        }
        assert_eq!(conn.cmd(&[b"SET", b"generation", b"2"]), b"+OK\r\n");
    }
    let _ = child.kill();
    let _ = child.wait();
}
