//! Case generation for the differential fuzzer: a seeded PRNG, a table of command templates,
//! and the generators for each kind of case (valid commands, pipelines, MULTI blocks, inline
//! lines, mutated frames, random bytes).
//!
//! (Values over 1 MB come from the `big` kind only.)
//!
//! Everything is a pure function of `(seed, case index)`, so any case can be regenerated from
//! the two numbers the fuzzer prints.
//!
//! Arguments are drawn from small pools on purpose: six keys make types collide (WRONGTYPE
//! paths), and the integer and float pools mix ordinary values with the edges Redis checks
//! (`LONG_MIN`, `2^63`, `-2147483649`, `nan`, `inf`, "3\0junk"). Some pools are bounded for the
//! *reference* server's sake: Redis itself would allocate gigabytes for `SETBIT k 4294967295 1`
//! or `SRANDMEMBER k -4611686018427387904` (both legal), so offsets just below the limits and
//! large negative random-member counts are never generated; out-of-range ones are.

/// xorshift64* with a splitmix64 seed scrambler: small, fast, and reproducible everywhere.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for case `index` of `seed`.
    pub fn for_case(seed: u64, index: u64) -> Rng {
        let mut z = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_add(0x2545_F491_4F6C_DD1D);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One unit of a case: a command (sent as a RESP multibulk) or raw bytes sent as they are.
#[derive(Clone, Debug)]
pub enum Piece {
    Cmd(Vec<Vec<u8>>),
    Raw(Vec<u8>),
}

impl Piece {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Piece::Cmd(argv) => {
                let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                crate::common::encode(&args)
            }
            Piece::Raw(b) => b.clone(),
        }
    }
}

/// A generated case: what kind of generator made it, and its pieces, sent in one write.
#[derive(Clone, Debug)]
pub struct Case {
    pub kind: &'static str,
    pub pieces: Vec<Piece>,
}

impl Case {
    /// True if every piece is a command, so replies map one to one onto commands.
    pub fn structured(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Cmd(_)))
    }

    /// True if the case must start on new connections: it holds an inline line over the
    /// limit, which Redis refuses only if its query buffer is too small to read the whole
    /// line at once (see [`inline_case`]). A connection that earlier carried a big argument
    /// has a query buffer of that argument's size, for a while.
    pub fn needs_fresh_connection(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Raw(b) if b.len() > INLINE_OVER_LIMIT / 2))
    }
}

/// Redis's `PROTO_INLINE_MAX_SIZE`: the most bytes of an inline line, newline not yet seen,
/// that Redis keeps reading before refusing the client.
const INLINE_MAX: usize = 64 * 1024;

/// An inline line length that both servers refuse whatever the read boundaries (see
/// [`inline_case`]).
const INLINE_OVER_LIMIT: usize = 256 * 1024;

/// The key space: small, so that strings, lists, hashes, sets and zsets collide.
pub const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5"];

/// True if `arg` names a key of the key space (used to follow tainted keys).
pub fn is_key(arg: &[u8]) -> bool {
    KEYS.iter().any(|k| k.as_bytes() == arg)
}

const MEMBERS: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"d",
    b"1",
    b"2",
    b"3",
    b"-1",
    b"10",
    b"3.5",
    b"",
    b"m\x00x",
    b"abc",
    b"\xff\xfe",
    b"a b",
    b"0",
    b"zz",
];
const VALUES: &[&[u8]] = &[
    b"v",
    b"hello",
    b"",
    b"0",
    b"1",
    b"-1",
    b"42",
    b"3.0",
    b"1e5",
    b"nan",
    b"inf",
    b"-inf",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b" 1",
    b"1 ",
    b"0x10",
    b"\xff\x00\r\n",
    b"01",
    b"-0",
    b"+1",
    b"1.5",
    b"abc\x00",
    b"17179869184",
];
const INTS_SMALL: &[&str] = &[
    "0", "1", "2", "3", "5", "-1", "-2", "-3", "10", "100", "-100",
];
const INTS_ABSURD: &[&str] = &[
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "",
    "abc",
    "1.5",
    "+1",
    "-0",
    "007",
    " 1",
    "1 ",
    "0x1f",
    "1e3",
    "3\x00junk",
    "-",
    "18446744073709551615",
];
const FLOATS: &[&str] = &[
    "0",
    "1",
    "-1",
    "1.5",
    "-2.5",
    "3",
    "10",
    "1e3",
    "-1e-3",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "NaN",
    "1e400",
    "-1e400",
    "",
    "abc",
    "3\x00junk",
    "0x10",
    "1.7976931348623157e308",
    "9223372036854775807",
    " 1",
    "1 ",
    "(1",
    "5e-324",
    ".5",
    "1.",
];
/// Score ranges (ZCOUNT, ZRANGEBYSCORE, ...).
const SCORE_RANGES: &[&str] = &[
    "-inf",
    "+inf",
    "inf",
    "0",
    "1",
    "(1",
    "(2",
    "3",
    "-1",
    "(-inf",
    "(+inf",
    "nan",
    "(nan",
    "3\x00junk",
    "",
    "(",
    "1e400",
    "abc",
    "((1",
    "2.5",
    "( 1",
];
/// Lex ranges (ZLEXCOUNT, ZRANGEBYLEX, ...).
const LEX_RANGES: &[&str] = &[
    "-", "+", "[a", "(a", "[b", "(b", "[c", "(c", "[d", "(d", "[e", "-", "+", "[", "(", "a", "",
    "[\x00", "(zz", "[zzz", "--", "++", "-a", "+a", "[1", "(\x7f",
];
/// Offsets for SETRANGE/SETBIT/GETBIT/BITFIELD: small, or out of range — never just below
/// the 512 MB limit (Redis would allocate it).
const OFFSETS: &[&str] = &[
    "0",
    "1",
    "7",
    "8",
    "15",
    "63",
    "100",
    "1000",
    "-1",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "1.5",
    "",
    "#1",
    "#-1",
    "#9223372036854775807",
];
/// Counts for SRANDMEMBER/HRANDFIELD/ZRANDMEMBER: small, huge positive, or out of range
/// (Redis returns |count| elements for a negative count; see the module doc).
const RAND_COUNTS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "20",
    "-1",
    "-2",
    "-5",
    "-20",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "4611686018427387904",
    "2147483648",
    "x",
    "1.5",
    "",
    "-0",
    "-100000",
];
/// Expiry amounts: negative, zero, or far away — never a few milliseconds, which would expire
/// during the case on one server and not the other.
const EXPIRES: &[&str] = &[
    "-1",
    "0",
    "-100",
    "100000",
    "9999999",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775",
    "9223372036854776",
    "x",
    "",
    "1.5",
    "4102444800",
    "4102444800000",
];
/// Timeouts for blocking commands: short, negative or junk — never 0 (forever).
const TIMEOUTS: &[&str] = &[
    "0.01", "0.001", "0.001", "-1", "x", "0.001", "-0.5", "", "1e-3", "nan",
];
const PATTERNS: &[&str] = &[
    "*", "k*", "k?", "k[0-2]", "k[^1]", "*->f", "nosort", "#", "k\\", "[", "[a-", "k[z-a]", "\\*",
    "*2", "",
];
const BITFIELD_TYPES: &[&str] = &[
    "u8", "i8", "i64", "u63", "u64", "i65", "i0", "x", "u1", "i16",
];
/// Longitudes: mostly valid (so geo sets fill up), then the edges and beyond.
const LONGITUDES: &[&str] = &[
    "0",
    "13.361389",
    "15.087269",
    "-73.9798091",
    "13.5",
    "15",
    "180",
    "-180",
    "179.999",
    "180.0001",
    "x",
    "1e300",
    "-0",
    "nan",
];
/// Latitudes, likewise; the encoding stops at +-85.05112878.
const LATITUDES: &[&str] = &[
    "0",
    "38.115556",
    "37.502669",
    "40.7598464",
    "38",
    "37.9",
    "85.05112878",
    "-85.05112878",
    "85.06",
    "-90",
    "x",
    "inf",
];
/// Radii, widths and heights of geo searches.
const GEO_RADII: &[&str] = &[
    "0", "1", "100", "200", "5000", "200000", "1e7", "-1", "x", "inf", "0.5",
];
const GEO_UNITS: &[&str] = &["m", "km", "ft", "mi", "KM", "x", ""];
const COMMAND_NAMES: &[&str] = &[
    "get",
    "set",
    "sort",
    "zadd",
    "georadius",
    "blpop",
    "nosuch",
    "",
    "lmpop",
    "zunionstore",
    "eval",
    "migrate",
    "xread",
    "object|encoding",
    "client",
];
const CONFIG_NAMES: &[&str] = &[
    // Not `port`: the two servers listen on different ports.
    "maxmemory",
    "bind",
    "proto-max-bulk-len",
    "nosuch",
    "maxclients",
    "timeout",
    "save",
    "appendonly",
    "databases",
    "list-max-listpack-size",
    "hash-max-listpack-entries",
];

/// Stream IDs: small explicit ones (so that entries exist and collide), partial and
/// exclusive forms, the extremes and junk.
const STREAM_IDS: &[&str] = &[
    "1",
    "1-1",
    "2-0",
    "2-*",
    "3",
    "5-5",
    "10-1",
    "0-1",
    "0-0",
    "-",
    "+",
    "(1-1",
    "(5",
    "18446744073709551615-18446744073709551615",
    "18446744073709551616",
    "1-x",
    "x",
    "",
];

/// Command templates, one command per line: words separated by spaces. A word is a unit;
/// `?unit` is optional, `*unit` repeats 0-3 times, `+unit` 1-4 times. A unit is
/// alternatives separated by `|`, each alternative tokens joined by `:`. Tokens: `K` key,
/// `V` value, `M` member, `I` integer, `F` float, `G` valid score, `Z` score range, `R` lex range, `O` offset,
/// `C` random-member count, `E` expiry, `T` timeout, `P` pattern, `B` bit, `BT` bitfield
/// type, `N` small count, `CN` command name, `CF` config name, `S` anything; other words are
/// literals.
pub const TEMPLATES: &[&str] = &[
    // strings
    "GET K",
    "SET K V ?NX|XX ?GET ?EX:E|PX:E|EXAT:E|PXAT:E|KEEPTTL",
    "SETNX K V",
    "SETEX K E V",
    "PSETEX K E V",
    "GETSET K V",
    "GETDEL K",
    "GETEX K ?EX:E|PX:E|EXAT:E|PXAT:E|PERSIST",
    "MGET +K",
    "MSET +K:V",
    "MSETNX +K:V",
    "APPEND K V",
    "STRLEN K",
    "INCR K",
    "DECR K",
    "INCRBY K I",
    "DECRBY K I",
    "INCRBYFLOAT K F",
    "GETRANGE K I I",
    "SUBSTR K I I",
    "SETRANGE K O V",
    "LCS K K ?LEN|IDX ?MINMATCHLEN:I ?WITHMATCHLEN",
    // keys and expiry
    "DEL +K",
    "UNLINK +K",
    "EXISTS +K",
    "TYPE K",
    "RENAME K K",
    "RENAMENX K K",
    "COPY K K ?DB:I ?REPLACE",
    "MOVE K I",
    "TOUCH +K",
    "EXPIRE K E ?NX|XX|GT|LT",
    "PEXPIRE K E ?NX|XX|GT|LT",
    "EXPIREAT K E ?NX|XX|GT|LT",
    "PEXPIREAT K E ?NX|XX|GT|LT",
    "TTL K",
    "PTTL K",
    "EXPIRETIME K",
    "PEXPIRETIME K",
    "PERSIST K",
    "DBSIZE",
    "KEYS P",
    "SCAN I ?MATCH:P ?COUNT:I ?TYPE:string|list|set|zset|hash|x",
    "RANDOMKEY",
    "SELECT I",
    "SWAPDB I I",
    "FLUSHDB ?SYNC",
    "OBJECT ENCODING K",
    "OBJECT REFCOUNT K",
    "OBJECT IDLETIME K",
    "OBJECT FREQ K",
    "OBJECT HELP",
    "OBJECT S",
    // lists
    "LPUSH K +V",
    "RPUSH K +V",
    "LPUSHX K +V",
    "RPUSHX K +V",
    "LPOP K ?I",
    "RPOP K ?I",
    "LLEN K",
    "LRANGE K I I",
    "LINDEX K I",
    "LSET K I V",
    "LINSERT K BEFORE|AFTER|x V V",
    "LREM K I V",
    "LTRIM K I I",
    "LPOS K V ?RANK:I ?COUNT:I ?MAXLEN:I",
    "RPOPLPUSH K K",
    "LMOVE K K LEFT|RIGHT|x LEFT|RIGHT",
    "LMPOP I +K LEFT|RIGHT|x ?COUNT:I",
    "BLPOP +K T",
    "BRPOP +K T",
    "BLMOVE K K LEFT|RIGHT LEFT|RIGHT T",
    "BRPOPLPUSH K K T",
    "BLMPOP T I +K LEFT|RIGHT ?COUNT:I",
    // hashes
    "HSET K +M:V",
    "HMSET K +M:V",
    "HSETNX K M V",
    "HGET K M",
    "HMGET K +M",
    "HDEL K +M",
    "HLEN K",
    "HSTRLEN K M",
    "HEXISTS K M",
    "HINCRBY K M I",
    "HINCRBYFLOAT K M F",
    "HKEYS K",
    "HVALS K",
    "HGETALL K",
    "HRANDFIELD K ?C ?WITHVALUES",
    "HSCAN K I ?MATCH:P ?COUNT:I",
    // sets
    "SADD K +M",
    "SREM K +M",
    "SCARD K",
    "SISMEMBER K M",
    "SMISMEMBER K +M",
    "SMEMBERS K",
    "SPOP K ?I",
    "SRANDMEMBER K ?C",
    "SMOVE K K M",
    "SINTER +K",
    "SUNION +K",
    "SDIFF +K",
    "SINTERSTORE K +K",
    "SUNIONSTORE K +K",
    "SDIFFSTORE K +K",
    "SINTERCARD I +K ?LIMIT:I",
    "SSCAN K I ?MATCH:P ?COUNT:I",
    // sorted sets
    "ZADD K *NX|XX|GT|LT|CH|INCR +F:M",
    "ZINCRBY K F M",
    "ZREM K +M",
    "ZCARD K",
    "ZSCORE K M",
    "ZMSCORE K +M",
    "ZRANK K M",
    "ZREVRANK K M",
    "ZCOUNT K Z Z",
    "ZLEXCOUNT K R R",
    "ZRANGE K I|Z|R I|Z|R ?BYSCORE|BYLEX ?REV ?LIMIT:I:I ?WITHSCORES",
    "ZRANGEBYSCORE K Z Z ?WITHSCORES ?LIMIT:I:I",
    "ZREVRANGEBYSCORE K Z Z ?WITHSCORES ?LIMIT:I:I",
    "ZRANGEBYLEX K R R ?LIMIT:I:I",
    "ZREVRANGEBYLEX K R R ?LIMIT:I:I",
    "ZREVRANGE K I I ?WITHSCORES",
    "ZRANGESTORE K K I|Z|R I|Z|R ?BYSCORE|BYLEX ?REV ?LIMIT:I:I",
    "ZREMRANGEBYRANK K I I",
    "ZREMRANGEBYSCORE K Z Z",
    "ZREMRANGEBYLEX K R R",
    "ZPOPMIN K ?I",
    "ZPOPMAX K ?I",
    "BZPOPMIN +K T",
    "BZPOPMAX +K T",
    "BZMPOP T I +K MIN|MAX|x ?COUNT:I",
    "ZMPOP I +K MIN|MAX|x ?COUNT:I",
    "ZRANDMEMBER K ?C ?WITHSCORES",
    "ZUNIONSTORE K I +K ?WEIGHTS:F:F ?AGGREGATE:SUM|MIN|MAX|x",
    "ZINTERSTORE K I +K ?WEIGHTS:F:F ?AGGREGATE:SUM|MIN|MAX|x",
    "ZDIFFSTORE K I +K",
    "ZUNION I +K ?WEIGHTS:F:F ?AGGREGATE:SUM|MIN|MAX ?WITHSCORES",
    "ZINTER I +K ?WEIGHTS:F:F ?AGGREGATE:SUM|MIN|MAX ?WITHSCORES",
    "ZDIFF I +K ?WITHSCORES",
    "ZINTERCARD I +K ?LIMIT:I",
    "ZSCAN K I ?MATCH:P ?COUNT:I",
    // bitmaps
    "SETBIT K O B",
    "GETBIT K O",
    "BITCOUNT K ?I:I ?BYTE|BIT",
    "BITPOS K B ?I ?I ?BYTE|BIT",
    "BITOP AND|OR|XOR|NOT|x K +K",
    "BITFIELD K *GET:BT:O|SET:BT:O:I|INCRBY:BT:O:I|OVERFLOW:WRAP|OVERFLOW:SAT|OVERFLOW:FAIL|OVERFLOW:x",
    "BITFIELD_RO K *GET:BT:O",
    // geo (sorted sets whose scores are geohashes)
    "GEOADD K *NX|XX|CH +LO:LA:M",
    "GEOPOS K *M",
    "GEOHASH K *M",
    "GEODIST K M M ?GU",
    "GEORADIUS K LO LA GR GU *WITHDIST|WITHCOORD|WITHHASH|ASC|DESC|ANY ?COUNT:I ?STORE:K|STOREDIST:K",
    "GEORADIUS_RO K LO LA GR GU *WITHDIST|WITHCOORD|WITHHASH|ASC|DESC|ANY ?COUNT:I",
    "GEORADIUSBYMEMBER K M GR GU *WITHDIST|WITHCOORD|WITHHASH|ASC|DESC|ANY ?COUNT:I ?STORE:K|STOREDIST:K",
    "GEORADIUSBYMEMBER_RO K M GR GU *WITHDIST|WITHCOORD|WITHHASH|ASC|DESC ?COUNT:I",
    "GEOSEARCH K FROMMEMBER:M|FROMLONLAT:LO:LA BYRADIUS:GR:GU|BYBOX:GR:GR:GU *WITHDIST|WITHCOORD|WITHHASH|ASC|DESC|ANY ?COUNT:I",
    "GEOSEARCHSTORE K K FROMMEMBER:M|FROMLONLAT:LO:LA BYRADIUS:GR:GU|BYBOX:GR:GR:GU *ASC|DESC|ANY|STOREDIST ?COUNT:I",
    "COMMAND GETKEYS GEORADIUS K LO LA GR GU *STORE:K|STOREDIST:K|ASC",
    // HyperLogLog (`H` is a HyperLogLog-shaped string, often corrupted; PFSELFTEST is left
    // out: it adds ten million elements)
    "PFADD K *M",
    "PFCOUNT +K",
    "PFMERGE K *K",
    "PFDEBUG GETREG|DECODE|ENCODING|TODENSE|x K",
    "SET K H",
    // streams (explicit IDs only: a generated one is the server's clock; no BLOCK, and a
    // min-idle of 0, so that nothing depends on timing)
    "XADD K ?NOMKSTREAM ?MAXLEN:XT|MINID:XI XI +M:V",
    "XADD K MAXLEN ~|= XT ?LIMIT:I XI +M:V",
    "XRANGE K XI XI ?COUNT:I",
    "XREVRANGE K XI XI ?COUNT:I",
    "XLEN K",
    "XDEL K +XI",
    "XTRIM K MAXLEN|MINID ?~|= XT|XI ?LIMIT:I",
    "XREAD ?COUNT:I STREAMS +K XI",
    "XGROUP CREATE K XG XI|$ ?MKSTREAM ?ENTRIESREAD:I",
    "XGROUP SETID K XG XI|$ ?ENTRIESREAD:I",
    "XGROUP CREATECONSUMER K XG M",
    "XGROUP DELCONSUMER K XG M",
    "XGROUP DESTROY K XG",
    "XREADGROUP GROUP XG M ?COUNT:I ?NOACK STREAMS K >|XI",
    "XACK K XG +XI",
    "XPENDING K XG",
    "XPENDING K XG XI XI I ?M",
    "XCLAIM K XG M 0 +XI *FORCE|JUSTID|RETRYCOUNT:I|LASTID:XI",
    "XAUTOCLAIM K XG M 0 XI ?COUNT:I ?JUSTID",
    "XINFO GROUPS K",
    "XINFO STREAM K ?FULL",
    "XSETID K XI ?ENTRIESADDED:I ?MAXDELETEDID:XI",
    // introspection of one key
    "DUMP K",
    "MEMORY USAGE K",
    // SORT
    "SORT K ?BY:P ?LIMIT:I:I *GET:P ?ASC|DESC ?ALPHA ?STORE:K",
    "SORT_RO K ?BY:P ?LIMIT:I:I *GET:P ?ASC|DESC ?ALPHA",
    // connection, server, introspection
    "PING ?V",
    "ECHO V",
    "TIME",
    "LASTSAVE",
    "INFO ?server|keyspace|x",
    "CLIENT GETNAME",
    "CLIENT SETNAME V",
    "CLIENT ID",
    "CLIENT INFO",
    "CLIENT LIST ?TYPE:normal|x",
    "CLIENT NO-EVICT ON|OFF|x",
    "CLIENT UNBLOCK I ?TIMEOUT|ERROR|x",
    "CLIENT HELP",
    "CLIENT S",
    "COMMAND INFO *CN",
    "COMMAND GETKEYS CN *K",
    "COMMAND GETKEYS SORT K ?STORE:K",
    "COMMAND GETKEYS ZUNIONSTORE K I +K",
    "COMMAND DOCS CN",
    "COMMAND S",
    "CONFIG GET CF",
    "CONFIG S",
    "HELLO ?2|3|I",
    "PUBLISH V V",
    "PUBSUB CHANNELS ?P",
    "PUBSUB NUMSUB *V",
    "PUBSUB NUMPAT",
    "PUBSUB HELP",
    "PUBSUB S",
    "EXEC ?S",
    "DISCARD",
    "UNWATCH",
];

/// Commands Redis 7.0 has and respd does not: generated rarely, to keep the "unimplemented"
/// class honest and to check that the unknown-command error does not close the connection.
pub const UNIMPLEMENTED_TEMPLATES: &[&str] = &["EVAL S 0", "CLIENT TRACKING ON"];

fn ps(rng: &mut Rng, items: &[&str]) -> Vec<u8> {
    items[rng.below(items.len())].as_bytes().to_vec()
}

fn token(rng: &mut Rng, tok: &str) -> Vec<u8> {
    token_in(rng, tok, KEYS)
}

fn token_in(rng: &mut Rng, tok: &str, keys: &[&str]) -> Vec<u8> {
    let s = |x: &str| x.as_bytes().to_vec();
    match tok {
        "K" => ps(rng, keys),
        "V" => rng.pick(VALUES).to_vec(),
        "M" => rng.pick(MEMBERS).to_vec(),
        "I" => {
            if rng.chance(70) {
                ps(rng, INTS_SMALL)
            } else {
                ps(rng, INTS_ABSURD)
            }
        }
        "N" => rng.range(0, 5).to_string().into_bytes(),
        "F" => ps(rng, FLOATS),
        "G" => ps(
            rng,
            &["0", "1", "2", "3", "-1", "1.5", "10", "-inf", "inf", "2.5"],
        ),
        "Z" => ps(rng, SCORE_RANGES),
        "R" => ps(rng, LEX_RANGES),
        "O" => ps(rng, OFFSETS),
        "C" => ps(rng, RAND_COUNTS),
        "E" => ps(rng, EXPIRES),
        "T" => ps(rng, TIMEOUTS),
        "P" => ps(rng, PATTERNS),
        "B" => ps(rng, &["0", "1", "2", "-1", "x", ""]),
        "BT" => ps(rng, BITFIELD_TYPES),
        "CN" => ps(rng, COMMAND_NAMES),
        "LO" => ps(rng, LONGITUDES),
        "LA" => ps(rng, LATITUDES),
        "GR" => ps(rng, GEO_RADII),
        "GU" => ps(rng, GEO_UNITS),
        "CF" => ps(rng, CONFIG_NAMES),
        "XI" => ps(rng, STREAM_IDS),
        "XT" => ps(rng, &["0", "1", "2", "5", "100", "-1", "x"]),
        "XG" => ps(rng, &["g", "g2", "nogroup"]),
        "S" => any_arg(rng),
        "H" => hll_value(rng),
        literal => s(literal),
    }
}

/// A string shaped like a HyperLogLog (see src/cmd/hyperloglog.rs): the `HYLL` header, then
/// sparse opcodes that cover the 16384 registers, or now and then a dense register array;
/// often damaged afterwards (a byte changed, cut short, bytes appended, a wrong encoding or a
/// valid cached cardinality), so that every INVALIDOBJ and WRONGTYPE path runs.
///
/// Never a sparse string ending in the first byte of an XZERO opcode whose second byte is cut
/// off: when PFADD splits that opcode, Redis writes past its string's end and later reads that
/// stale byte back, where respd reads zero (see tests/hyperloglog.rs).
pub fn hll_value(rng: &mut Rng) -> Vec<u8> {
    const REGISTERS: usize = 16384;
    const DENSE_SIZE: usize = 16 + REGISTERS * 6 / 8;
    let mut v = b"HYLL".to_vec();
    let encoding = match rng.below(20) {
        0 => 0u8,
        1 => 2,
        _ => 1,
    };
    v.push(encoding);
    v.extend_from_slice(&[0, 0, 0]);
    if rng.chance(15) {
        // A valid cached cardinality, answered by PFCOUNT without reading the registers.
        v.extend_from_slice(&(rng.below(1000) as u64).to_le_bytes());
    } else {
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x80]);
    }
    if encoding == 0 {
        v.resize(DENSE_SIZE, 0);
        for _ in 0..rng.range(0, 30) {
            let at = rng.range(16, DENSE_SIZE - 1);
            v[at] = rng.next() as u8;
        }
    } else {
        let mut left = REGISTERS;
        while left > 0 {
            match rng.below(10) {
                0..=3 => {
                    // XZERO, usually long, so that the value stays short.
                    let len = rng.range(1, left.min(REGISTERS));
                    v.push(0x40 | ((len - 1) >> 8) as u8);
                    v.push(((len - 1) & 0xff) as u8);
                    left -= len;
                }
                4..=5 => {
                    let len = rng.range(1, left.min(64));
                    v.push((len - 1) as u8);
                    left -= len;
                }
                _ => {
                    let len = rng.range(1, left.min(4));
                    let value = rng.range(1, 32);
                    v.push(0x80 | ((value - 1) << 2) as u8 | (len - 1) as u8);
                    left -= len;
                }
            }
        }
    }
    if rng.chance(40) {
        match rng.below(4) {
            0 => {
                let at = rng.below(v.len());
                v[at] = rng.next() as u8;
            }
            1 => v.truncate(rng.range(12, v.len())),
            2 => v.extend((0..rng.range(1, 3)).map(|_| rng.next() as u8)),
            _ => {
                let at = rng.range(16, v.len() - 1);
                v[at] ^= 1 << rng.below(8);
            }
        }
    }
    if v.len() > 16 && v[4] == 1 {
        let mut p = 16;
        while p < v.len() {
            p += if v[p] & 0xc0 == 0x40 { 2 } else { 1 };
        }
        if p > v.len() {
            v.push(rng.next() as u8); // complete the cut XZERO
        }
    }
    v
}

/// Any argument at all: one of the pools, or binary junk.
pub fn any_arg(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => token(rng, "K"),
        1 => token(rng, "V"),
        2 => token(rng, "M"),
        3 => token(rng, "I"),
        4 => token(rng, "F"),
        5 => s_junk(rng, 12),
        6 => token(rng, "Z"),
        _ => token(rng, "R"),
    }
}

fn s_junk(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.range(0, max);
    (0..n).map(|_| rng.next() as u8).collect()
}

/// Expands one template into an argv.
pub fn expand(rng: &mut Rng, template: &str) -> Vec<Vec<u8>> {
    expand_in(rng, template, KEYS)
}

/// Like [`expand`], with keys drawn from `keys` only.
fn expand_in(rng: &mut Rng, template: &str, keys: &[&str]) -> Vec<Vec<u8>> {
    let mut argv = Vec::new();
    for word in template.split(' ') {
        let (reps, unit) = match word.as_bytes()[0] {
            b'?' if word.len() > 1 => (if rng.chance(50) { 1 } else { 0 }, &word[1..]),
            b'*' if word.len() > 1 => (rng.range(0, 3), &word[1..]),
            b'+' if word.len() > 1 => (rng.range(1, 4), &word[1..]),
            _ => (1, word),
        };
        for _ in 0..reps {
            let alts: Vec<&str> = unit.split('|').collect();
            let alt = rng.pick(&alts);
            for tok in alt.split(':') {
                argv.push(token_in(rng, tok, keys));
            }
        }
    }
    argv
}

/// One command: a template, sometimes bent (wrong arity, one argument replaced by junk,
/// a mixed-case name).
pub fn command(rng: &mut Rng, allow_unimplemented: bool) -> Vec<Vec<u8>> {
    let mut template = if allow_unimplemented && rng.chance(2) {
        rng.pick(UNIMPLEMENTED_TEMPLATES)
    } else {
        rng.pick(TEMPLATES)
    };
    // Blocking commands wait out their timeout when the key is empty; keep them rarer.
    if template.starts_with('B') && !template.starts_with("BIT") && rng.chance(70) {
        template = rng.pick(TEMPLATES);
    }
    let mut argv = expand(rng, template);
    // Blocking commands and commands with an expiry only lose arguments: an extra or replaced
    // one could become a timeout of minutes, which both servers would honour, or an expiry of
    // 1 ms, which fires during the case on one server only.
    let timed = template
        .split([' ', '|', ':'])
        .any(|t| t.trim_start_matches(['?', '*', '+']) == "E");
    let blocking = crate::rules::is_blocking(&argv) || timed;
    match rng.below(100) {
        _ if blocking && rng.chance(90) => {}
        _ if blocking => {
            argv.pop();
        }
        0..=4 if argv.len() > 1 => {
            argv.pop(); // one argument short
        }
        5..=8 => argv.push(any_arg(rng)), // one too many
        9..=13 if argv.len() > 1 => {
            let i = rng.range(1, argv.len() - 1);
            argv[i] = any_arg(rng);
        }
        14..=15 => {
            // mixed-case command name
            let name: Vec<u8> = argv[0]
                .iter()
                .map(|&b| {
                    if rng.chance(50) {
                        b.to_ascii_lowercase()
                    } else {
                        b
                    }
                })
                .collect();
            argv[0] = name;
        }
        _ => {}
    }
    argv
}

/// A few writes that give the keys values of every type, so later commands meet real data.
fn populate(rng: &mut Rng) -> Vec<Piece> {
    let n = rng.range(1, 4);
    (0..n)
        .map(|_| {
            let t = *rng.pick(&[
                "SET K V",
                "RPUSH K +M",
                "SADD K +M",
                "SADD K 1 2 3",
                "ZADD K +F:M",
                "ZADD K 0 a 0 b 0 c 0 d",
                // Different scores, so that score order and lex order disagree (the lex-range
                // commands assume equal scores; what they do otherwise must still match).
                "ZADD K G a G b G c G d",
                "HSET K a V b V c V",
                "HSET K +M:V",
                "SETBIT K O 1",
                "GEOADD K +LO:LA:M",
                "PFADD K +M",
                "SET K H",
                "XADD K XI +M:V",
                "XGROUP CREATE K g 0 MKSTREAM",
            ]);
            Piece::Cmd(expand(rng, t))
        })
        .collect()
}

/// Commands whose replies are deterministic and order-stable in both servers, so they can be
/// compared as a byte stream inside inline and mutated cases.
/// (Not COMMAND INFO/DOCS/GETKEYS either: they name commands respd may lack, and a byte-stream
/// comparison cannot tell that gap from a bug.)
fn deterministic(argv: &[Vec<u8>]) -> bool {
    crate::rules::rule_for(argv) == crate::rules::Rule::Exact
        && !argv[0].eq_ignore_ascii_case(b"COMMAND")
}

fn deterministic_command(rng: &mut Rng) -> Vec<Vec<u8>> {
    for _ in 0..20 {
        let argv = command(rng, false);
        if deterministic(&argv) && !crate::rules::is_blocking(&argv) {
            return argv;
        }
    }
    vec![b"PING".to_vec()]
}

/// Renders `argv` as an inline command line, with quoting and separators chosen at random.
fn inline_line(rng: &mut Rng, argv: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            // (A NUL stalls Redis's inline parser, which looks for the newline with strchr():
            // the rest of the case then waits for nothing, so it stays rare.)
            let sep: &[u8] = if rng.chance(3) {
                b" \x00 "
            } else {
                rng.pick::<&[u8]>(&[&b" "[..], b" ", b"  ", b"\t", b"\x0b", b"\x0c"])
            };
            line.extend_from_slice(sep);
        }
        let plain = !arg.is_empty()
            && arg
                .iter()
                .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
        match rng.below(6) {
            0..=2 if plain => line.extend_from_slice(arg),
            3 => {
                line.push(b'\'');
                for &b in arg {
                    if b == b'\'' {
                        line.extend_from_slice(b"\\'");
                    } else {
                        line.push(b);
                    }
                }
                line.push(b'\'');
            }
            _ => {
                line.push(b'"');
                for &b in arg {
                    match b {
                        b'"' => line.extend_from_slice(b"\\\""),
                        b'\\' => line.extend_from_slice(b"\\\\"),
                        b'\n' => line.extend_from_slice(b"\\n"),
                        b'\r' => line.extend_from_slice(b"\\r"),
                        0x20..=0x7e if rng.chance(80) => line.push(b),
                        _ => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    }
                }
                line.push(b'"');
            }
        }
    }
    // Occasional damage: an unbalanced quote, text glued after a closing quote, odd escapes.
    match rng.below(14) {
        0 => line.push(b'"'),
        1 => line.extend_from_slice(b"\"x\"y"),
        2 => line.extend_from_slice(b" 'a\\'b'"),
        3 => line.extend_from_slice(b" \"\\x4\" \"\\xZZ\" \"\\q\""),
        4 => line.extend_from_slice(b" \"a\"\x0bb"),
        5 => line.extend_from_slice(b" '"),
        _ => {}
    }
    let end: &[u8] = rng.pick::<&[u8]>(&[&b"\r\n"[..], b"\r\n", b"\n", b"\r\r\n"]);
    line.extend_from_slice(end);
    line
}

fn inline_case(rng: &mut Rng) -> Vec<Piece> {
    let n = rng.range(1, 6);
    let mut pieces = Vec::new();
    for _ in 0..n {
        match rng.below(20) {
            0 => {
                // A very long line: well over the 64 KB inline limit, or just under it.
                //
                // Not just over it: the limit is checked after each read, on the bytes read so
                // far, so whether a line a little over 64 KB is refused depends on where the
                // reads end, which depends on TCP timing and on Redis's query buffer: it reads
                // 16 KB into a new one, then as much as the buffer holds, growing it to about
                // twice its length (up to ~190 KB from a fresh connection, or the size of the
                // last big argument). A line read whole is accepted; respd, reading 16 KB at a
                // time, refuses lines over 64 KB + 16 KB at the latest. A line of at most
                // 64 KB is accepted by both, and one of 256 KB on a fresh connection (see
                // `Case::needs_fresh_connection`) refused by both.
                let len = *rng.pick(&[INLINE_OVER_LIMIT, INLINE_MAX - 10, 1024]);
                let mut line = b"ECHO ".to_vec();
                line.extend(std::iter::repeat(b'x').take(len));
                line.extend_from_slice(b"\r\n");
                pieces.push(Piece::Raw(line));
            }
            1 => pieces.push(Piece::Raw(
                rng.pick::<&[u8]>(&[&b"\r\n"[..], b"\n", b" \r\n", b"\x00\r\n"])
                    .to_vec(),
            )),
            _ => {
                let argv = deterministic_command(rng);
                pieces.push(Piece::Raw(inline_line(rng, &argv)));
            }
        }
    }
    pieces
}

/// Damages an encoded frame.
fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.range(1, 3) {
        if b.is_empty() {
            b.push(b'*');
        }
        match rng.below(8) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            2 => {
                // drop a CRLF
                if let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
                    let skip = rng.range(1, 2);
                    b.drain(i..i + skip);
                }
            }
            3 | 4 => {
                // replace a length after '*' or '$'
                let marks: Vec<usize> = b
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c == b'*' || c == b'$')
                    .map(|(i, _)| i)
                    .collect();
                if let Some(&i) = marks.get(rng.below(marks.len().max(1))) {
                    let end = b[i + 1..]
                        .iter()
                        .position(|&c| c == b'\r')
                        .map_or(b.len(), |p| i + 1 + p);
                    let n: &[u8] = rng.pick::<&[u8]>(&[
                        &b"-5"[..],
                        b"-1",
                        b"0",
                        b"99999999999",
                        b"1048577",
                        b"2147483648",
                        b"x",
                        b"",
                        b"+1",
                        b" 1",
                        b"1024",
                        b"-2147483649",
                        b"9223372036854775808",
                        b"536870913",
                        b"00",
                    ]);
                    b.splice(i + 1..end, n.iter().copied());
                }
            }
            5 => {
                let i = rng.below(b.len() + 1);
                let junk: &[u8] = rng.pick::<&[u8]>(&[
                    &b"*-5\r\n"[..],
                    b"$99999999999\r\n",
                    b"*1048577\r\n",
                    b"\r\n",
                    b"\x00",
                    b"*0\r\n",
                    b"*1\r\n$0\r\n\r\n",
                    b"$-1\r\n",
                    b"*3\r\n",
                    b"+OK\r\n",
                ]);
                b.splice(i..i, junk.iter().copied());
            }
            6 => {
                let i = rng.below(b.len());
                b.insert(i, rng.next() as u8);
            }
            _ => {
                let i = rng.below(b.len());
                b.remove(i);
            }
        }
    }
    b
}

fn mutated_case(rng: &mut Rng) -> Vec<Piece> {
    let n = rng.range(1, 4);
    let target = rng.below(n);
    (0..n)
        .map(|i| {
            let argv = deterministic_command(rng);
            let piece = Piece::Cmd(argv);
            if i == target {
                Piece::Raw(mutate(rng, piece.bytes()))
            } else {
                piece
            }
        })
        .collect()
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"*$+-:\r\n0123456789\r\n \"'\\xab\x00\x0b\x0c";
    let n = rng.range(1, 120);
    (0..n)
        .map(|_| {
            if rng.chance(75) {
                *rng.pick(ALPHABET)
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

fn multi_case(rng: &mut Rng) -> Vec<Piece> {
    let mut pieces = populate(rng);
    if rng.chance(40) {
        pieces.push(Piece::Cmd(expand(rng, "WATCH +K")));
        if rng.chance(50) {
            pieces.push(Piece::Cmd(command(rng, false)));
        }
    }
    pieces.push(Piece::Cmd(vec![b"MULTI".to_vec()]));
    for _ in 0..rng.range(0, 5) {
        let argv = if rng.chance(5) {
            vec![b"MULTI".to_vec()]
        } else if rng.chance(4) {
            expand(rng, "WATCH K")
        } else {
            command(rng, true)
        };
        pieces.push(Piece::Cmd(argv));
    }
    match rng.below(10) {
        0..=6 => pieces.push(Piece::Cmd(vec![b"EXEC".to_vec()])),
        7 | 8 => pieces.push(Piece::Cmd(vec![b"DISCARD".to_vec()])),
        _ => pieces.push(Piece::Cmd(vec![b"EXEC".to_vec(), b"x".to_vec()])),
    }
    if rng.chance(30) {
        pieces.push(Piece::Cmd(command(rng, false)));
    }
    pieces
}

/// Large arguments: over Redis's 32 KB "big argument" threshold (PROTO_MBULK_BIG_ARG), a
/// multibulk over 1 MB, sometimes split over inline and multibulk frames.
fn big_case(rng: &mut Rng) -> Vec<Piece> {
    let key = ps(rng, KEYS);
    let len = *rng.pick(&[
        32 * 1024 - 2,
        32 * 1024,
        100_000,
        1 << 20,
        (1 << 20) + 17,
        2_500_000,
    ]);
    let fill = if rng.chance(50) {
        b'x'
    } else {
        rng.next() as u8
    };
    let value = vec![fill; len];
    let mut pieces = vec![Piece::Cmd(vec![b"SET".to_vec(), key.clone(), value])];
    if rng.chance(50) {
        let n = rng.range(2, 70);
        let mut argv = vec![b"RPUSH".to_vec(), b"k5".to_vec()];
        for i in 0..n {
            argv.push(vec![b'a' + (i % 26) as u8; 20_000]);
        }
        pieces.push(Piece::Cmd(argv));
        pieces.push(Piece::Cmd(vec![b"LLEN".to_vec(), b"k5".to_vec()]));
    }
    for _ in 0..rng.range(1, 4) {
        let t = *rng.pick(&[
            "STRLEN K",
            "GETRANGE K I I",
            "APPEND K V",
            "SETRANGE K O V",
            "BITCOUNT K",
            "GET K",
            "LRANGE K -2 -1",
        ]);
        pieces.push(Piece::Cmd(expand(rng, t)));
    }
    pieces
}

/// Data types and the commands of each, by name, for focused cases.
const FAMILIES: &[(&str, &[&str])] = &[
    ("PFADD k0 a b c 1 2 3", &["PF", "SET K H", "GET"]),
    ("SET k0 H", &["PF", "SET K H", "GET"]),
    ("ZADD k0 G a G b G c G d G e", &["Z", "BZ", "SORT"]),
    ("ZADD k0 0 a 0 b 0 c 0 d", &["Z", "BZ"]),
    ("HSET k0 a V b V c V d V", &["H"]),
    ("XADD k0 1-1 a V", &["X"]),
    ("XGROUP CREATE k0 g 0 MKSTREAM", &["X"]),
    (
        "SADD k0 a b c 1 2 3",
        &[
            "SADD", "SREM", "SCARD", "SIS", "SMIS", "SMEM", "SPOP", "SRAND", "SMOVE", "SINTER",
            "SUNION", "SDIFF", "SSCAN", "SORT",
        ],
    ),
    (
        "RPUSH k0 a b c 1 2 3 a",
        &["L", "RPUSH", "RPOP", "BL", "BR", "SORT"],
    ),
    (
        "SET k0 V",
        &[
            "GET", "SET", "INCR", "DECR", "APPEND", "STRLEN", "BIT", "LCS", "MGET", "MSET",
            "PSETEX", "SUBSTR",
        ],
    ),
];

/// A case on one or two keys and one data type: the key is filled first, then commands of
/// that type only, so that deep paths (ranks, lex ranges, limits, encodings) are reached.
fn focused_case(rng: &mut Rng) -> Vec<Piece> {
    let (fill, prefixes) = *rng.pick(FAMILIES);
    let keys: &[&str] = &["k0", "k1"];
    let mut pieces = vec![Piece::Cmd(expand_in(rng, fill, keys))];
    if rng.chance(30) {
        pieces.push(Piece::Cmd(expand_in(rng, &fill.replace("k0", "k1"), keys)));
    }
    let family: Vec<&str> = TEMPLATES
        .iter()
        .copied()
        .filter(|t| prefixes.iter().any(|p| t.starts_with(p)))
        .collect();
    for _ in 0..rng.range(2, 8) {
        let t = *rng.pick(&family);
        if t.starts_with('B') && !t.starts_with("BIT") && rng.chance(70) {
            continue; // blocking: rarer, as in `command`
        }
        pieces.push(Piece::Cmd(expand_in(rng, t, keys)));
    }
    pieces
}

/// Generates case `index` of `seed`.
pub fn case(seed: u64, index: u64) -> Case {
    let mut rng = Rng::for_case(seed, index);
    let roll = rng.below(100);
    let (kind, pieces) = match roll {
        0..=29 => {
            let mut p = if rng.chance(60) {
                populate(&mut rng)
            } else {
                Vec::new()
            };
            for _ in 0..rng.range(1, 10) {
                p.push(Piece::Cmd(command(&mut rng, true)));
            }
            ("commands", p)
        }
        30..=44 => ("focused", focused_case(&mut rng)),
        45..=49 => {
            let mut p = populate(&mut rng);
            for _ in 0..rng.range(50, 300) {
                p.push(Piece::Cmd(command(&mut rng, false)));
            }
            ("pipeline", p)
        }
        50..=64 => ("multi", multi_case(&mut rng)),
        65..=74 => ("inline", inline_case(&mut rng)),
        75..=89 => ("mutated", mutated_case(&mut rng)),
        90..=97 => ("random-bytes", vec![Piece::Raw(random_bytes(&mut rng))]),
        _ => ("big", big_case(&mut rng)),
    };
    Case { kind, pieces }
}
