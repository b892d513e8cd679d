//! Geospatial commands: GEOADD, GEODIST, GEOHASH, GEOPOS, and the searches GEORADIUS,
//! GEORADIUSBYMEMBER (and their `_RO` forms), GEOSEARCH and GEOSEARCHSTORE.
//!
//! Counterpart of Redis `src/geo.c`, checked against Redis 7.0.15. The arithmetic (scores,
//! cells, distances) lives in [`crate::store::geohash`].
//!
//! # A geo set is a sorted set
//! There is no geo type: GEOADD turns each longitude/latitude pair into its 52-bit geohash
//! and runs ZADD with it as the score, so ZRANGE, ZREM, ZSCORE and DUMP work on geo sets, and
//! GEOADD is propagated to the AOF and replicas as that ZADD (Redis rewrites the command the
//! same way). The other commands decode scores back into points; a point comes back as the
//! centre of its cell, a little off what was added.
//!
//! # Searches
//! Every search command is one body, [`georadius_generic`], as in Redis. It parses the whole
//! request (checking the centre member and the numbers as it meets them), scans the score
//! ranges of up to nine cells around the centre ([`geohash::search_area`]) keeping the points
//! inside the shape, sorts them by distance if asked (COUNT without ANY implies ASC), and
//! either replies or, with STORE / STOREDIST / GEOSEARCHSTORE, stores them as a new sorted
//! set: scores kept as geohashes, or replaced by the distances in the request's unit.
//!
//! # Formatting
//! Distances are written with four decimals (Redis `fixedpoint_d2string`), coordinates with up
//! to 17 decimals and trailing zeros dropped (Redis `addReplyHumanLongDouble`): a bulk string
//! in RESP2, a double in RESP3.

use super::sorted_set::{read_zset, store_result};
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::geohash::{self, Shape, ShapeKind, LAT_MAX, LAT_MIN, LONG_MAX, LONG_MIN};
use crate::store::{Db, ZSet};
use crate::util::{c_str, eq_ci, parse_f64, parse_i64};
use std::cmp::Ordering;

const RO: Flags = Flags::READONLY;
const RW: Flags = Flags::WRITE.union(Flags::DENYOOM);

// One call per table row keeps the table readable; the arguments are the row's columns.
const fn row(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: Handler,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, Group::Geo, handler)
}

/// The geo group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them). GEORADIUS and GEORADIUSBYMEMBER are write commands because of
/// their STORE option; their `_RO` forms refuse it.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    row("geoadd", -5, RW, KeySpec::ONE, Handler::Write(geoadd)),
    row("geodist", -4, RO, KeySpec::ONE, Handler::Read(geodist)),
    row("geohash", -2, RO, KeySpec::ONE, Handler::Read(geohash)),
    row("geopos", -2, RO, KeySpec::ONE, Handler::Read(geopos)),
    row("georadius", -6, RW.union(Flags::MOVABLEKEYS), KeySpec::ONE, Handler::Write(georadius)),
    row("georadius_ro", -6, RO, KeySpec::ONE, Handler::Read(georadius_ro)),
    row("georadiusbymember", -5, RW.union(Flags::MOVABLEKEYS), KeySpec::ONE, Handler::Write(georadiusbymember)),
    row("georadiusbymember_ro", -5, RO, KeySpec::ONE, Handler::Read(georadiusbymember_ro)),
    row("geosearch", -7, RO, KeySpec::ONE, Handler::Read(geosearch)),
    row("geosearchstore", -8, RW, KeySpec::TWO, Handler::Write(geosearchstore)),
];

// ---------------------------------------------------------------------------------------------
// Argument parsing and formatting
// ---------------------------------------------------------------------------------------------

/// `ERR could not decode requested zset member`: the centre member is not in the set.
const ERR_NO_MEMBER: CmdError = CmdError::msg("ERR could not decode requested zset member");

/// A longitude and latitude in the encoding's limits (Redis `extractLongLatOrReply`): each
/// must be a float (`NotFloat`), then the pair is checked, quoting both with `%f`.
fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = parse_f64(lon).ok_or(CmdError::NotFloat)?;
    let lat = parse_f64(lat).ok_or(CmdError::NotFloat)?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(CmdError::owned(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit (Redis `extractUnitOrReply`).
fn parse_unit(unit: &[u8]) -> Result<f64, CmdError> {
    // Redis compares C strings (`strcasecmp`): the unit ends at a NUL byte.
    let unit = c_str(unit);
    Ok(if eq_ci(unit, "m") {
        1.0
    } else if eq_ci(unit, "km") {
        1000.0
    } else if eq_ci(unit, "ft") {
        0.3048
    } else if eq_ci(unit, "mi") {
        1609.34
    } else {
        return Err(CmdError::msg(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ));
    })
}

/// `<radius> <unit>`: the radius and the unit's metres (Redis `extractDistanceOrReply`).
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let radius = parse_f64(radius).ok_or(CmdError::msg("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(CmdError::msg("ERR radius cannot be negative"));
    }
    Ok((radius, parse_unit(unit)?))
}

/// `<width> <height> <unit>` (Redis `extractBoxOrReply`).
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let width = parse_f64(width).ok_or(CmdError::msg("ERR need numeric width"))?;
    let height = parse_f64(height).ok_or(CmdError::msg("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::msg("ERR height or width cannot be negative"));
    }
    Ok((width, height, parse_unit(unit)?))
}

/// The point a member's score stands for, if the member is in the set.
fn member_position(z: &ZSet, member: &[u8]) -> Option<(f64, f64)> {
    z.score(member).map(geohash::decode_score)
}

/// A distance with exactly four decimals, rounded half to even (Redis `fixedpoint_d2string`
/// with 4 digits, as `addReplyDoubleDistance` uses).
fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = (d * 10000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let v = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", v / 10000, v % 10000)
}

/// A coordinate as Redis prints a "human" long double: `%.17Lf` with trailing zeros (and a
/// bare point) removed, `-0` as `0` (Redis `ld2string` with `LD_STR_HUMAN`). A double widened
/// to a long double keeps its exact value, so printing the double's exact decimal expansion
/// to 17 places gives the same digits.
fn format_coordinate(d: f64) -> String {
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// A coordinate reply: bulk string in RESP2, double in RESP3.
fn reply_coordinate(reply: &mut Reply, d: f64) {
    reply.double_text(format_coordinate(d).as_bytes());
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------------

/// ```text
/// GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]
/// ```
/// Integer: as ZADD (members added; with CH, added or moved). The options may come in any
/// order before the first triple.
///
/// Runs ZADD with each member's geohash as its score (Redis `geoaddCommand` rewrites itself
/// into ZADD the same way) and is propagated as that ZADD; keyspace event `zadd`.
///
/// Errors: `Syntax` (not triples, or NX with XX), `NotFloat`, `ERR invalid longitude,latitude
/// pair <lon>,<lat>`, `WrongType`.
pub fn geoadd(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < argv.len() {
        // Options are compared as C strings, as Redis's strcasecmp sees them.
        let opt = c_str(&argv[first]);
        if eq_ci(opt, "nx") {
            nx = true;
        } else if eq_ci(opt, "xx") {
            xx = true;
        } else if !eq_ci(opt, "ch") {
            break;
        }
        first += 1;
    }
    if (argv.len() - first) % 3 != 0 || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut zadd = Argv::new();
    zadd.push(b"zadd");
    for arg in argv.iter().take(first).skip(1) {
        zadd.push(arg);
    }
    for i in (first..argv.len()).step_by(3) {
        let (lon, lat) = parse_lon_lat(&argv[i], &argv[i + 1])?;
        zadd.push(geohash::score_of(lon, lat).to_string().as_bytes());
        zadd.push(&argv[i + 2]);
    }
    super::sorted_set::zadd(ctx, db, &zadd, reply)?;
    ctx.propagate_as(zadd);
    Ok(())
}

/// ```text
/// GEODIST key member1 member2 [M | KM | FT | MI]
/// ```
/// Bulk string: the distance in the unit (metres by default) with four decimals; null if the
/// key or either member is missing.
///
/// Errors: `Syntax` (more arguments), `ERR unsupported unit provided. please use M, KM, FT,
/// MI`, `WrongType`.
pub(crate) fn geodist(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => parse_unit(&argv[4])?,
        _ => return Err(CmdError::Syntax),
    };
    let Some(z) = read_zset(ctx, db, &argv[1])? else {
        reply.null();
        return Ok(());
    };
    match (member_position(z, &argv[2]), member_position(z, &argv[3])) {
        (Some((lon1, lat1)), Some((lon2, lat2))) => {
            let d = geohash::distance(lon1, lat1, lon2, lat2) / to_meters;
            reply.bulk(format_distance(d).as_bytes());
        }
        _ => reply.null(),
    }
    Ok(())
}

/// ```text
/// GEOHASH key [member [member ...]]
/// ```
/// Array: the 11-character standard geohash of each member, null for a missing one (all null
/// for a missing key). Error: `WrongType`.
pub(crate) fn geohash(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let z = read_zset(ctx, db, &argv[1])?;
    reply.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        match z.and_then(|z| z.score(member)) {
            Some(score) => reply.bulk(&geohash::standard_geohash(score)),
            None => reply.null(),
        }
    }
    Ok(())
}

/// ```text
/// GEOPOS key [member [member ...]]
/// ```
/// Array: `[longitude, latitude]` of each member (the centre of its cell), a null array for a
/// missing one. Error: `WrongType`.
pub(crate) fn geopos(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let z = read_zset(ctx, db, &argv[1])?;
    reply.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        match z.and_then(|z| member_position(z, member)) {
            Some((lon, lat)) => {
                reply.array(2);
                reply_coordinate(reply, lon);
                reply_coordinate(reply, lat);
            }
            None => reply.null_array(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH, GEOSEARCHSTORE
// ---------------------------------------------------------------------------------------------

/// Which search command is running (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS (`read_only`: GEORADIUS_RO, which refuses STORE).
    Radius { read_only: bool },
    /// GEORADIUSBYMEMBER (`read_only`: GEORADIUSBYMEMBER_RO).
    RadiusByMember { read_only: bool },
    /// GEOSEARCH.
    Search,
    /// GEOSEARCHSTORE.
    SearchStore,
}

impl Variant {
    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// True for the GEORADIUS forms that take `STORE key` / `STOREDIST key`.
    fn takes_store_key(self) -> bool {
        matches!(
            self,
            Variant::Radius { read_only: false } | Variant::RadiusByMember { read_only: false }
        )
    }

    /// The keyspace event of a stored result.
    fn store_event(self) -> &'static str {
        if self.is_search() {
            "geosearchstore"
        } else {
            "georadiusstore"
        }
    }
}

/// Result order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One point found by a search (Redis `geoPoint`).
struct GeoPoint<'z> {
    member: &'z [u8],
    longitude: f64,
    latitude: f64,
    /// Metres from the centre until the reply, then in the request's unit.
    dist: f64,
    score: f64,
}

/// A parsed search request.
struct Request<'a> {
    shape: Shape,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    /// 0: no limit.
    count: usize,
    any: bool,
    /// The destination, and true for STOREDIST (distances as scores).
    store: Option<(&'a [u8], bool)>,
}

/// What a search found, ready to be replied or stored.
struct Found<'a, 'z> {
    request: Request<'a>,
    /// `None` when the source key does not exist.
    points: Option<Vec<GeoPoint<'z>>>,
}

/// Parses a search and runs it on the source set (Redis `georadiusGeneric` up to the reply).
///
/// The order of checks is Redis's: the source's type, the centre and radius of the GEORADIUS
/// forms, each option as it comes (FROMMEMBER / BYMEMBER's member must exist), then STORE
/// against WITH*, the missing FROM / BY, ANY without COUNT, and only then a missing source.
fn georadius_generic<'a, 'z>(
    ctx: &mut Ctx,
    db: &'z Db,
    argv: &'a Argv,
    variant: Variant,
) -> Result<Found<'a, 'z>, CmdError> {
    let src_index = if variant == Variant::SearchStore {
        2
    } else {
        1
    };
    let z = read_zset(ctx, db, &argv[src_index])?;
    let mut shape = Shape {
        longitude: 0.0,
        latitude: 0.0,
        kind: ShapeKind::Radius(0.0),
        conversion: 0.0,
    };
    let mut store = None;
    let base = match variant {
        Variant::Radius { .. } => {
            (shape.longitude, shape.latitude) = parse_lon_lat(&argv[2], &argv[3])?;
            let (radius, conversion) = parse_radius(&argv[4], &argv[5])?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(radius), conversion);
            6
        }
        // Without a source the reply is known; the options are still parsed for their errors.
        Variant::RadiusByMember { .. } if z.is_none() => 5,
        Variant::RadiusByMember { .. } => {
            let z = z.expect("checked above");
            (shape.longitude, shape.latitude) =
                member_position(z, &argv[2]).ok_or(ERR_NO_MEMBER)?;
            let (radius, conversion) = parse_radius(&argv[3], &argv[4])?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(radius), conversion);
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            store = Some((&argv[1], false));
            3
        }
    };

    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromlonlat, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let mut i = base;
    while i < argv.len() {
        // Options are compared as C strings, as Redis's strcasecmp sees them.
        let arg = c_str(&argv[i]);
        let left = argv.len() - i - 1;
        if eq_ci(arg, "withdist") {
            withdist = true;
        } else if eq_ci(arg, "withhash") {
            withhash = true;
        } else if eq_ci(arg, "withcoord") {
            withcoord = true;
        } else if eq_ci(arg, "any") {
            any = true;
        } else if eq_ci(arg, "asc") {
            sort = Sort::Asc;
        } else if eq_ci(arg, "desc") {
            sort = Sort::Desc;
        } else if eq_ci(arg, "count") && left >= 1 {
            count = parse_i64(&argv[i + 1]).ok_or(CmdError::NotInteger)?;
            if count <= 0 {
                return Err(CmdError::COUNT_MUST_BE_POSITIVE);
            }
            i += 1;
        } else if (eq_ci(arg, "store") || eq_ci(arg, "storedist"))
            && left >= 1
            && variant.takes_store_key()
        {
            store = Some((&argv[i + 1], eq_ci(arg, "storedist")));
            i += 1;
        } else if eq_ci(arg, "storedist") && variant == Variant::SearchStore {
            store = Some((&argv[1], true));
        } else if eq_ci(arg, "frommember") && left >= 1 && variant.is_search() && !fromlonlat {
            if let Some(z) = z {
                (shape.longitude, shape.latitude) =
                    member_position(z, &argv[i + 1]).ok_or(ERR_NO_MEMBER)?;
            }
            frommember = true;
            i += 1;
        } else if eq_ci(arg, "fromlonlat") && left >= 2 && variant.is_search() && !frommember {
            (shape.longitude, shape.latitude) = parse_lon_lat(&argv[i + 1], &argv[i + 2])?;
            fromlonlat = true;
            i += 2;
        } else if eq_ci(arg, "byradius") && left >= 2 && variant.is_search() && !bybox {
            let (radius, conversion) = parse_radius(&argv[i + 1], &argv[i + 2])?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(radius), conversion);
            byradius = true;
            i += 2;
        } else if eq_ci(arg, "bybox") && left >= 3 && variant.is_search() && !byradius {
            let (width, height, conversion) = parse_box(&argv[i + 1], &argv[i + 2], &argv[i + 3])?;
            (shape.kind, shape.conversion) = (ShapeKind::Box { width, height }, conversion);
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::msg(if variant == Variant::SearchStore {
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        } else {
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        }));
    }
    if variant.is_search() && !(frommember || fromlonlat) {
        return Err(CmdError::quoting(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ",
            &argv[0],
            "",
        ));
    }
    if variant.is_search() && !(byradius || bybox) {
        return Err(CmdError::quoting(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for ",
            &argv[0],
            "",
        ));
    }
    if any && count == 0 {
        return Err(CmdError::msg(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    // COUNT keeps the nearest points, so it sorts unless ANY asked for the first ones found.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let mut request = Request {
        shape,
        withdist,
        withhash,
        withcoord,
        sort,
        count: count as usize,
        any,
        store,
    };
    let Some(z) = z else {
        return Ok(Found {
            request,
            points: None,
        });
    };
    let limit = if request.any { request.count } else { 0 };
    let mut points = members_in_area(z, &request.shape, limit);
    sort_points(&mut points, &mut request);
    Ok(Found {
        request,
        points: Some(points),
    })
}

/// The points of `z` inside the shape, scanning the search area's cells in Redis's order
/// (`membersOfAllNeighbors`); with `limit` (COUNT ... ANY) the scan stops once it has that
/// many.
fn members_in_area<'z>(z: &'z ZSet, shape: &Shape, limit: usize) -> Vec<GeoPoint<'z>> {
    let cells = geohash::search_area(shape).cells();
    let mut points = Vec::new();
    let full = |points: &Vec<GeoPoint>| limit != 0 && points.len() >= limit;
    // Huge radii can make adjacent cells identical; a cell equal to the last one scanned is
    // skipped. As in Redis, the centre cell never counts as "last scanned" (index 0).
    let mut last_scanned = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last_scanned != 0 && *cell == cells[last_scanned] {
            continue;
        }
        if full(&points) {
            break;
        }
        let (min, max) = cell.score_range();
        let range = crate::store::zset::ScoreRange {
            min: min as f64,
            max: max as f64,
            min_exclusive: false,
            max_exclusive: true,
        };
        for (member, score) in z.range_by_score(&range, false, 0, None) {
            if let Some((longitude, latitude, dist)) = geohash::within_shape(shape, score) {
                points.push(GeoPoint {
                    member,
                    longitude,
                    latitude,
                    dist,
                    score,
                });
            }
            if full(&points) {
                break;
            }
        }
        last_scanned = i;
    }
    points
}

/// Sorts by distance as asked and cuts to COUNT, converting distances to the request's unit.
///
/// Equal distances (points at one spot) must come out in Redis's order too, so the sorts are
/// Redis's: when everything found is returned, `qsort`, which in glibc is a stable merge
/// sort, as `sort_by` is; when COUNT keeps fewer, Redis's partial quicksort `pqsort`, which
/// only orders the first COUNT points, ported in [`partial_sort`].
fn sort_points(points: &mut Vec<GeoPoint>, request: &mut Request) {
    // mirrors sort_gp_asc(): a three-way comparison of distances, negated for DESC
    fn by_distance(a: &GeoPoint, b: &GeoPoint) -> Ordering {
        if a.dist > b.dist {
            Ordering::Greater
        } else if a.dist == b.dist {
            Ordering::Equal
        } else {
            Ordering::Less
        }
    }
    let returned = if request.count == 0 {
        points.len()
    } else {
        points.len().min(request.count)
    };
    let cmp = |a: &GeoPoint, b: &GeoPoint| match request.sort {
        Sort::Desc => by_distance(b, a),
        _ => by_distance(a, b),
    };
    if request.sort != Sort::None && !points.is_empty() {
        if returned == points.len() {
            points.sort_by(cmp);
        } else {
            let len = points.len();
            partial_sort(points, 0, len, &cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in points.iter_mut() {
        p.dist /= request.shape.conversion;
    }
}

/// Redis's `pqsort` (a BSD quicksort that skips the partitions holding none of the wanted
/// positions): sorts `v[a..a + n]` far enough that positions `lrange..=rrange` hold what a full
/// sort would put there. Ported step for step, because which of several equal elements ends
/// up first depends on every swap.
fn partial_sort<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    // True if the wanted positions lie wholly before or wholly after `start..start + len`.
    let outside = |start: usize, len: usize| {
        (lrange < start && rrange < start) || (lrange >= start + len && rrange >= start + len)
    };
    let med3 = |v: &[T], x: usize, y: usize, z: usize| {
        if cmp(&v[x], &v[y]) == Ordering::Less {
            if cmp(&v[y], &v[z]) == Ordering::Less {
                y
            } else if cmp(&v[x], &v[z]) == Ordering::Less {
                z
            } else {
                x
            }
        } else if cmp(&v[y], &v[z]) == Ordering::Greater {
            y
        } else if cmp(&v[x], &v[z]) == Ordering::Less {
            x
        } else {
            z
        }
    };
    let swap_blocks = |v: &mut [T], x: usize, y: usize, len: usize| {
        for i in 0..len {
            v.swap(x + i, y + i);
        }
    };
    loop {
        if n < 7 {
            // Insertion sort for small partitions.
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        // Pivot: the middle, or a median of three (of nine for large partitions).
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(a, pm);
        // Partition, gathering elements equal to the pivot at both ends.
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        // Move the equal elements to the middle.
        let end = a + n;
        let r = (pa - a).min(pb - pa);
        swap_blocks(v, a, pb - r, r);
        let r = (pd - pc).min(end - pd - 1);
        swap_blocks(v, pb, end - r, r);
        let smaller = pb - pa;
        if smaller > 1 && !outside(a, smaller) {
            partial_sort(v, a, smaller, cmp, lrange, rrange);
        }
        let larger = pd - pc;
        if larger > 1 && !outside(end - larger, larger) {
            a = end - larger;
            n = larger;
            continue;
        }
        return;
    }
}

/// Replies with the points found: members alone, or `[member, dist?, hash?, [lon, lat]?]`
/// arrays with the WITH* options.
fn reply_points(reply: &mut Reply, found: &Found) {
    let r = &found.request;
    let points = found.points.as_deref().unwrap_or_default();
    let extras = usize::from(r.withdist) + usize::from(r.withhash) + usize::from(r.withcoord);
    reply.array(points.len());
    for p in points {
        if extras > 0 {
            reply.array(extras + 1);
        }
        reply.bulk(p.member);
        if r.withdist {
            reply.bulk(format_distance(p.dist).as_bytes());
        }
        if r.withhash {
            reply.int(geohash::c_double_to_i64(p.score));
        }
        if r.withcoord {
            reply.array(2);
            reply_coordinate(reply, p.longitude);
            reply_coordinate(reply, p.latitude);
        }
    }
}

/// The write forms' tail: store if asked, otherwise reply (and propagate nothing).
fn search_and_maybe_store(
    ctx: &mut Ctx,
    db: &mut Db,
    argv: &Argv,
    reply: &mut Reply,
    variant: Variant,
) -> CmdResult {
    let found = georadius_generic(ctx, db, argv, variant)?;
    match found.request.store {
        Some((dst, storedist)) => {
            // The set copies the members out of the source, so the source can be let go of
            // before the destination is written.
            let mut z = ZSet::new();
            for p in found.points.iter().flatten() {
                z.insert(p.member, if storedist { p.dist } else { p.score });
            }
            store_set(ctx, db, reply, z, dst, variant.store_event());
        }
        None => {
            reply_points(reply, &found);
            ctx.changes = Some(0);
        }
    }
    Ok(())
}

/// Stores the points found at `dst`, or deletes `dst` when there are none, as ZRANGESTORE
/// does. Integer reply: points stored.
///
/// Propagated only when it changed something (Redis counts one change per stored point, or
/// one for a deleted destination); keyspace events `geosearchstore` / `georadiusstore`, or
/// `del`.
fn store_set(
    ctx: &mut Ctx,
    db: &mut Db,
    reply: &mut Reply,
    z: ZSet,
    dst: &[u8],
    event: &'static str,
) {
    let n = z.len();
    if n > 0 {
        store_result(ctx, db, dst, z, event);
        ctx.changes = Some(n as u64);
    } else if db.delete(dst, ctx.now_ms) {
        db.notify(notify::GENERIC, "del", dst);
        ctx.changes = Some(1);
    } else {
        ctx.changes = Some(0);
    }
    reply.int(n as i64);
}

/// The read-only forms' tail: reply with the points found.
fn search_reply(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
    variant: Variant,
) -> CmdResult {
    let found = georadius_generic(ctx, db, argv, variant)?;
    reply_points(reply, &found);
    Ok(())
}

/// ```text
/// GEORADIUS key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH]
///     [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
/// ```
/// Array: the members within `radius` of the point (unordered unless ASC / DESC / COUNT),
/// each as `[member, distance?, hash?, [lon, lat]?]` with WITH* options. With STORE /
/// STOREDIST: integer, the number of members stored.
///
/// Errors: `NotFloat`, `ERR invalid longitude,latitude pair ...`, `ERR need numeric radius`,
/// `ERR radius cannot be negative`, `ERR unsupported unit provided. please use M, KM, FT, MI`,
/// `NotInteger`, `ERR COUNT must be > 0`, `Syntax`, `ERR STORE option in GEORADIUS is not
/// compatible with WITHDIST, WITHHASH and WITHCOORD options`, `ERR the ANY argument requires
/// COUNT argument`, `WrongType`.
pub fn georadius(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    search_and_maybe_store(ctx, db, argv, reply, Variant::Radius { read_only: false })
}

/// ```text
/// GEORADIUS_RO key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST]
///     [WITHHASH] [COUNT count [ANY]] [ASC | DESC]
/// ```
/// GEORADIUS without STORE (which is a `Syntax` error here).
pub(crate) fn georadius_ro(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    search_reply(ctx, db, argv, reply, Variant::Radius { read_only: true })
}

/// ```text
/// GEORADIUSBYMEMBER key member radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH]
///     [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
/// ```
/// GEORADIUS around a member of the set. A missing key answers an empty array (or 0 with
/// STORE) without reading the radius; a missing member is `ERR could not decode requested
/// zset member`. Other errors as GEORADIUS.
pub fn georadiusbymember(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    search_and_maybe_store(
        ctx,
        db,
        argv,
        reply,
        Variant::RadiusByMember { read_only: false },
    )
}

/// ```text
/// GEORADIUSBYMEMBER_RO key member radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH]
///     [COUNT count [ANY]] [ASC | DESC]
/// ```
/// GEORADIUSBYMEMBER without STORE.
pub(crate) fn georadiusbymember_ro(
    ctx: &mut Ctx,
    db: &Db,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    search_reply(
        ctx,
        db,
        argv,
        reply,
        Variant::RadiusByMember { read_only: true },
    )
}

/// ```text
/// GEOSEARCH key FROMMEMBER member | FROMLONLAT longitude latitude
///     BYRADIUS radius M | KM | FT | MI | BYBOX width height M | KM | FT | MI
///     [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]
/// ```
/// Array: as GEORADIUS. BYBOX keeps the points within `width / 2` east-west (measured along
/// each point's parallel) and `height / 2` north-south of the centre.
///
/// Errors: as GEORADIUS, plus `ERR need numeric width` / `height`, `ERR height or width cannot
/// be negative`, `ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for <cmd>`,
/// `ERR exactly one of BYRADIUS and BYBOX can be specified for <cmd>`.
pub(crate) fn geosearch(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    search_reply(ctx, db, argv, reply, Variant::Search)
}

/// ```text
/// GEOSEARCHSTORE destination source FROMMEMBER member | FROMLONLAT longitude latitude
///     BYRADIUS radius M | KM | FT | MI | BYBOX width height M | KM | FT | MI
///     [ASC | DESC] [COUNT count [ANY]] [STOREDIST]
/// ```
/// Integer: the number of members stored at `destination` (geohash scores, or distances in
/// the unit with STOREDIST); an empty result deletes `destination`.
///
/// Errors: as GEOSEARCH, and `ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH
/// and WITHCOORD options`.
pub fn geosearchstore(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    search_and_maybe_store(ctx, db, argv, reply, Variant::SearchStore)
}
