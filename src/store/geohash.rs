//! The geohash arithmetic behind the geo commands: coordinates to 52-bit sorted set scores and
//! back, the nine cells a search looks at, and great-circle distances.
//!
//! Counterpart of Redis `src/geohash.c` and `src/geohash_helper.c`, checked against Redis
//! 7.0.15. A geo set is an ordinary sorted set; what makes it one is that each score is a
//! position, encoded so that nearby points get nearby scores:
//!
//! * Longitude (-180..180) and latitude (-85.05112878..85.05112878, the Web Mercator limits)
//!   are each scaled to a 26-bit integer cell number.
//! * The two numbers are interleaved bit by bit, latitude in the even bits, longitude in the
//!   odd ones, giving 52 bits: small enough for a double to hold exactly, so the score *is*
//!   the hash.
//! * A prefix of `2 * step` bits names a cell `2^step` times smaller than the world in each
//!   direction; all points in it have scores in one contiguous range. A search picks the step
//!   whose cells are about as large as the search radius, and scans the score ranges of the
//!   centre's cell and its eight neighbours, keeping the points that pass the exact distance
//!   test.
//!
//! Every step below is done in the same order and with the same `f64` operations as Redis, so
//! scores, decoded coordinates and distances come out bit for bit as Redis's do.

/// Southern latitude limit of the encoding (EPSG:900913 / Web Mercator).
pub(crate) const LAT_MIN: f64 = -85.05112878;
/// Northern latitude limit.
pub(crate) const LAT_MAX: f64 = 85.05112878;
/// Western longitude limit.
pub const LONG_MIN: f64 = -180.0;
/// Eastern longitude limit.
pub(crate) const LONG_MAX: f64 = 180.0;
/// Cell subdivisions of a stored score: 26 per coordinate, 52 bits in all.
pub(crate) const STEP_MAX: u8 = 26;
/// The earth radius Redis computes distances with (the WGS-84 quadratic mean), in metres.
pub(crate) const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
/// Half the Mercator world width in metres: where the radius-to-step estimate starts.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians.
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

/// An interval of one coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
}

/// The longitude range of the encoding.
const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
/// The latitude range of the encoding.
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell: the first `2 * step` bits of interleaved coordinates, right-aligned in `bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    /// The cell number, `2 * step` bits.
    pub bits: u64,
    /// Subdivisions per coordinate, 1 to 32 (26 for stored scores).
    pub step: u8,
}

impl HashBits {
    /// The "no cell" value a pruned neighbour is set to (Redis `GZERO` / `HASHISZERO`).
    pub const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    /// True for [`HashBits::ZERO`].
    pub(crate) fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell's bits shifted up to 52, the score of its first point (Redis
    /// `geohashAlign52Bits`).
    pub(crate) fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The scores `[min, max)` of every point inside this cell (Redis `scoresOfGeoHashBox`):
    /// the cell's own prefix, and the next prefix, both padded to 52 bits.
    pub(crate) fn score_range(&self) -> (u64, u64) {
        let next = HashBits {
            bits: self.bits + 1,
            step: self.step,
        };
        (self.align52(), next.align52())
    }
}

/// The rectangle a cell covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    /// Longitude interval.
    pub longitude: Range,
    /// Latitude interval.
    pub latitude: Range,
}

/// Spreads the 32 bits of `x` to the even bits and those of `y` to the odd bits.
fn interleave(x: u32, y: u32) -> u64 {
    const MASKS: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const SHIFTS: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for i in (0..5).rev() {
        x = (x | (x << SHIFTS[i])) & MASKS[i];
        y = (y | (y << SHIFTS[i])) & MASKS[i];
    }
    x | (y << 1)
}

/// The inverse of [`interleave`]: the even bits in the low half, the odd ones in the high half.
fn deinterleave(interleaved: u64) -> u64 {
    const MASKS: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const SHIFTS: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> SHIFTS[i])) & MASKS[i];
        y = (y | (y >> SHIFTS[i])) & MASKS[i];
    }
    x | (y << 32)
}

/// The cell of `step` subdivisions holding a point, within the given coordinate ranges
/// (Redis `geohashEncode`); `None` outside the ranges or the encoding's limits.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C converts the offsets to uint32_t by truncation, as `as` does for these values.
    Some(HashBits {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The cell of a point with the encoding's own ranges.
pub(crate) fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, step)
}

/// The sorted set score of a point already checked to be within the limits: its 52-bit cell.
pub(crate) fn score_of(longitude: f64, latitude: f64) -> u64 {
    encode_wgs84(longitude, latitude, STEP_MAX)
        .map(|h| h.align52())
        .unwrap_or(0)
}

/// The rectangle a cell covers within the given ranges (Redis `geohashDecode`).
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let separated = deinterleave(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let lat_cell = separated as u32;
    let long_cell = (separated >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(lat_cell) / cells) * lat_scale,
            max: lat_range.min + (f64::from(lat_cell.wrapping_add(1)) / cells) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(long_cell) / cells) * long_scale,
            max: long_range.min + (f64::from(long_cell.wrapping_add(1)) / cells) * long_scale,
        },
    })
}

/// The rectangle of a cell with the encoding's own ranges.
pub(crate) fn decode_wgs84(hash: HashBits) -> Option<Area> {
    decode(LONG_RANGE, LAT_RANGE, hash)
}

/// The point a score stands for: the centre of its 52-bit cell, clamped to the limits
/// (Redis `decodeGeohash`). Any score decodes to something, as in Redis.
pub(crate) fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    let area = decode_wgs84(hash).expect("a step-26 cell is never the zero cell");
    let longitude = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let latitude = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (longitude, latitude)
}

/// C's `(uint64_t)d` as x86-64 compilers emit it, for scores a geo command reads back from any
/// sorted set (ZADD may have stored a negative or huge score): below 2^63 a signed truncation
/// (a negative value wraps around), from 2^63 a truncation of `d - 2^63` with the top bit set;
/// what the instruction cannot represent becomes its "indefinite" value `1 << 63`.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO_63: f64 = 9223372036854775808.0;
    if d >= TWO_63 {
        (c_double_to_i64(d - TWO_63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(d) as u64
    }
}

/// C's `(long long)d` on x86-64 (`cvttsd2si`): truncation toward zero, and `i64::MIN` for what
/// does not fit (NaN included), where Rust's `as` would saturate. WITHHASH prints a score this
/// way.
pub(crate) fn c_double_to_i64(d: f64) -> i64 {
    const TWO_63: f64 = 9223372036854775808.0;
    if (-TWO_63..TWO_63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// The 11-character standard geohash of a stored score (GEOHASH): decoded, then encoded again
/// over the standard latitude range -90..90, which the internal encoding does not use. The
/// last character stands for bits a score does not have, and is always `0`.
pub(crate) fn standard_geohash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (longitude, latitude) = decode_score(score);
    let world = Range {
        min: -180.0,
        max: 180.0,
    };
    let poles = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(world, poles, longitude, latitude, 26).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let index = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[index as usize];
    }
    out
}

/// Moves a cell one column east (`+1`) or west (`-1`), wrapping around the world: the
/// longitude bits are stepped while the latitude bits stay (Redis `geohash_move_x`).
fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    // Filling the other coordinate's bits with ones lets a carry (or borrow) ripple through.
    // (A step-0 cell has no bits: the shifts then give 0 instead of overflowing.)
    let zz = 0x5555555555555555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64.checked_shr(shift).unwrap_or(0);
    hash.bits = x | y;
}

/// Moves a cell one row north (`+1`) or south (`-1`) (Redis `geohash_move_y`).
fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64.checked_shr(shift).unwrap_or(0);
    hash.bits = x | y;
}

/// A cell moved by `dx` columns and `dy` rows.
fn moved(hash: HashBits, dx: i8, dy: i8) -> HashBits {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

/// The eight cells around a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Neighbors {
    /// Cell above.
    pub north: HashBits,
    /// Cell below.
    pub south: HashBits,
    /// Cell to the right.
    pub east: HashBits,
    /// Cell to the left.
    pub west: HashBits,
    /// Above right.
    pub north_east: HashBits,
    /// Above left.
    pub north_west: HashBits,
    /// Below right.
    pub south_east: HashBits,
    /// Below left.
    pub south_west: HashBits,
}

/// The eight cells around `hash` (Redis `geohashNeighbors`).
pub(crate) fn neighbors(hash: HashBits) -> Neighbors {
    Neighbors {
        east: moved(hash, 1, 0),
        west: moved(hash, -1, 0),
        south: moved(hash, 0, -1),
        north: moved(hash, 0, 1),
        north_west: moved(hash, -1, 1),
        north_east: moved(hash, 1, 1),
        south_east: moved(hash, 1, -1),
        south_west: moved(hash, -1, -1),
    }
}

/// The cell size to search with for a radius: the step whose cells are just larger than the
/// radius, one or two coarser near the poles where cells narrow (Redis
/// `geohashEstimateStepsByRadius`).
pub(crate) fn estimate_steps_by_radius(range_meters: f64, latitude: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2; // so the radius fits in most cases
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// A circle of this radius (in the request's unit).
    Radius(f64),
    /// A box of this width and height (in the request's unit), centred on the point.
    Box {
        /// East-west extent.
        width: f64,
        /// North-south extent.
        height: f64,
    },
}

/// A search area: its centre, its kind, and the request's unit in metres (Redis `GeoShape`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Centre longitude.
    pub longitude: f64,
    /// Centre latitude.
    pub latitude: f64,
    /// Circle or box.
    pub kind: ShapeKind,
    /// Metres per unit (`m` 1, `km` 1000, `ft` 0.3048, `mi` 1609.34).
    pub conversion: f64,
}

/// The cells a search scans, and the bounding box the shape must stay within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SearchArea {
    /// The centre's cell.
    pub hash: HashBits,
    /// Its neighbours; those the shape cannot reach are [`HashBits::ZERO`].
    pub neighbors: Neighbors,
}

impl SearchArea {
    /// The nine cells in the order Redis scans them (`membersOfAllNeighbors`): centre, N, S,
    /// E, W, NE, NW, SE, SW.
    pub fn cells(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// The shape's bounding box in degrees: `[min_lon, min_lat, max_lon, max_lat]` (Redis
/// `geohashBoundingBox`). The longitude span is measured on the parallel farther from the
/// equator, where a degree is shortest.
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (half_height, half_width) = match shape.kind {
        ShapeKind::Radius(r) => (shape.conversion * r, shape.conversion * r),
        ShapeKind::Box { width, height } => (
            shape.conversion * (height / 2.0),
            shape.conversion * (width / 2.0),
        ),
    };
    let (longitude, latitude) = (shape.longitude, shape.latitude);
    let lat_delta = rad_deg(half_height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(half_width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(half_width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let long_delta = if latitude < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        longitude - long_delta,
        latitude - lat_delta,
        longitude + long_delta,
        latitude + lat_delta,
    ]
}

/// The cells to scan for a shape (Redis `geohashCalculateAreasByShapeWGS84`): the centre's
/// cell at the estimated step (one coarser if a neighbour would not reach the bounding box's
/// edge), and the neighbours the bounding box reaches into.
pub(crate) fn search_area(shape: &Shape) -> SearchArea {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let radius_meters = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, shape.latitude);
    let cell = |steps| {
        let hash = encode_wgs84(shape.longitude, shape.latitude, steps).unwrap_or_default();
        let around = neighbors(hash);
        let area = decode_wgs84(hash);
        (hash, around, area)
    };
    let (mut hash, mut around, mut area) = cell(steps);

    // Near a cell's edge the neighbours of the estimated step may not reach far enough.
    let reach = |h: HashBits| decode_wgs84(h);
    let too_small = reach(around.north).is_some_and(|a| a.latitude.max < max_lat)
        || reach(around.south).is_some_and(|a| a.latitude.min > min_lat)
        || reach(around.east).is_some_and(|a| a.longitude.max < max_lon)
        || reach(around.west).is_some_and(|a| a.longitude.min > min_lon);
    if steps > 1 && too_small {
        steps -= 1;
        (hash, around, area) = cell(steps);
    }

    // Leave out the neighbours on a side the bounding box does not cross into.
    if let (true, Some(area)) = (steps >= 2, area) {
        let n = &mut around;
        if area.latitude.min < min_lat {
            n.south = HashBits::ZERO;
            n.south_west = HashBits::ZERO;
            n.south_east = HashBits::ZERO;
        }
        if area.latitude.max > max_lat {
            n.north = HashBits::ZERO;
            n.north_east = HashBits::ZERO;
            n.north_west = HashBits::ZERO;
        }
        if area.longitude.min < min_lon {
            n.west = HashBits::ZERO;
            n.south_west = HashBits::ZERO;
            n.north_west = HashBits::ZERO;
        }
        if area.longitude.max > max_lon {
            n.east = HashBits::ZERO;
            n.south_east = HashBits::ZERO;
            n.north_east = HashBits::ZERO;
        }
    }
    SearchArea {
        hash,
        neighbors: around,
    }
}

/// Distance in metres along a meridian between two latitudes.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in metres between two points, by the haversine formula (Redis
/// `geohashGetDistance`). Points on one meridian take the cheaper meridian formula.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The point a score stands for and its distance in metres from the shape's centre, if it is
/// inside the shape (Redis `geoWithinShape`). A box is tested on the meridian through the
/// centre and on the point's own parallel.
pub(crate) fn within_shape(shape: &Shape, score: f64) -> Option<(f64, f64, f64)> {
    let (longitude, latitude) = decode_score(score);
    let (x1, y1) = (shape.longitude, shape.latitude);
    let dist = match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(x1, y1, longitude, latitude);
            if d > r * shape.conversion {
                return None;
            }
            d
        }
        ShapeKind::Box { width, height } => {
            let (width_m, height_m) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(latitude, y1) > height_m / 2.0 {
                return None;
            }
            if distance(longitude, latitude, x1, latitude) > width_m / 2.0 {
                return None;
            }
            distance(x1, y1, longitude, latitude)
        }
    };
    Some((longitude, latitude, dist))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_redis() {
        // GEOADD k 13.361389 38.115556 Palermo 15.087269 37.502669 Catania, then ZSCORE.
        assert_eq!(score_of(13.361389, 38.115556), 3479099956230698);
        assert_eq!(score_of(15.087269, 37.502669), 3479447370796909);
    }

    #[test]
    fn decoding_matches_redis() {
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
    }

    #[test]
    fn standard_geohash_matches_redis() {
        assert_eq!(&standard_geohash(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&standard_geohash(3479447370796909.0), b"sqdtr74hyu0");
    }

    #[test]
    fn interleave_round_trips() {
        let v = interleave(0x0123_4567, 0x89ab_cdef);
        assert_eq!(deinterleave(v), 0x89ab_cdef_0123_4567);
    }

    #[test]
    fn neighbours_wrap_around() {
        let h = HashBits { bits: 0, step: 1 };
        assert_eq!(moved(h, -1, 0).bits, 0b10);
        assert_eq!(moved(h, 0, -1).bits, 0b01);
    }

    #[test]
    fn steps_by_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        // 200 km doubles 7 times to pass 20037726.37 m: step 1 + 7 - 2.
        assert_eq!(estimate_steps_by_radius(200_000.0, 0.0), 6);
        assert_eq!(estimate_steps_by_radius(200_000.0, 70.0), 5);
        assert_eq!(estimate_steps_by_radius(200_000.0, -85.0), 4);
    }
}
