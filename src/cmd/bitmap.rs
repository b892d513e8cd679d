//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.
//!
//! Counterpart of Redis `src/bitops.c`, checked against Redis 7.0.15.
//!
//! A bitmap is not a type of its own: these commands read and write ordinary string values
//! ([`Value::Str`], or [`Value::Int`], which reads as its decimal digits, as Redis reads an
//! int-encoded string). Bit 0 is the most significant bit of the first byte, so a bitmap
//! reads left to right like the binary digits of the string. Every write turns the value into
//! bytes first (Redis "unshares" an int-encoded object the same way) and grows it with zero
//! bytes as far as the highest bit written; the TTL is kept.
//!
//! Range arguments (BITCOUNT, BITPOS) follow Redis 7.0: indexes count bytes unless `BIT` is
//! given, negative indexes count from the end, and out-of-range indexes are clamped. Instead
//! of Redis's byte masks the range is turned into one inclusive range of bit positions, and
//! the helpers [`count_bits`] and [`first_bit`] work on that.
//!
//! Keyspace statistics: the readers (GETBIT, BITCOUNT, BITPOS, BITOP's sources, a BITFIELD
//! with only GETs) look keys up as Redis's `lookupKeyRead` does and count a hit or a miss; the
//! writers' lookups (`lookupKeyWrite`) count nothing.

use std::borrow::Cow;

use super::string::string_bytes;
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::notify;
use crate::protocol::{Argv, Reply};
use crate::store::{Db, SmallBytes, Value};
use crate::util::{eq_ci, parse_i64, push_i64};

const RW: Flags = Flags::WRITE.union(Flags::DENYOOM);
const RO_FAST: Flags = Flags::READONLY.union(Flags::FAST);

/// The bitmap group's rows of the command table (arity, flags and key positions as Redis 7.0's
/// COMMAND INFO reports them).
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, RW, KeySpec::ONE, Group::Bitmap, Handler::Write(setbit)),
    CommandSpec::new("getbit", 3, RO_FAST, KeySpec::ONE, Group::Bitmap, Handler::Read(getbit)),
    CommandSpec::new("bitcount", -2, Flags::READONLY, KeySpec::ONE, Group::Bitmap, Handler::Read(bitcount)),
    CommandSpec::new("bitpos", -3, Flags::READONLY, KeySpec::ONE, Group::Bitmap, Handler::Read(bitpos)),
    CommandSpec::new("bitop", -4, RW, KeySpec::new(2, -1, 1), Group::Bitmap, Handler::Write(bitop)),
    CommandSpec::new("bitfield", -2, RW, KeySpec::ONE, Group::Bitmap, Handler::Write(bitfield)),
    CommandSpec::new("bitfield_ro", -2, RO_FAST, KeySpec::ONE, Group::Bitmap, Handler::Read(bitfield_ro)),
];

/// The error of every bad bit offset (GETBIT, SETBIT, BITFIELD).
const BIT_OFFSET_ERR: CmdError = CmdError::msg("ERR bit offset is not an integer or out of range");
/// SETBIT's error for a value other than 0 or 1.
const BIT_VALUE_ERR: CmdError = CmdError::msg("ERR bit is not an integer or out of range");
/// BITFIELD's error for a type other than i1..i64 or u1..u63.
const BITFIELD_TYPE_ERR: CmdError = CmdError::msg(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but \
     i64 is.",
);

// ---------------------------------------------------------------------------------------------
// Lookups and argument parsing
// ---------------------------------------------------------------------------------------------

/// Redis `lookupKeyRead` for a string: `Ok(None)` for a missing (or expired) key, the bytes of
/// a string value (an integer formatted), `WrongType` for anything else. Counts a hit or miss.
fn lookup_string<'a>(
    ctx: &mut Ctx,
    db: &'a Db,
    key: &[u8],
) -> Result<Option<Cow<'a, [u8]>>, CmdError> {
    match ctx.lookup_read(db, key) {
        Some(value) => string_bytes(value).map(Some),
        None => Ok(None),
    }
}

/// Redis `lookupStringForBitCommand`: the bytes of the string at `key`, created if missing and
/// grown with zero bytes so that bit `max_bit` exists, and whether that creating or growing
/// changed the key. An integer value becomes its decimal bytes first. The TTL is kept.
/// Errors: `WrongType` (checked before anything is created).
fn string_for_bit_write<'a>(
    ctx: &Ctx,
    db: &'a mut Db,
    key: &[u8],
    max_bit: u64,
) -> Result<(&'a mut Vec<u8>, bool), CmdError> {
    let needed = (max_bit >> 3) as usize + 1;
    let created = db.get_value_mut(key, ctx.now_ms).is_none();
    if created {
        db.set(
            key,
            Value::Str(SmallBytes::raw(vec![0; needed])),
            ctx.now_ms,
        );
    }
    let value = db
        .get_value_mut(key, ctx.now_ms)
        .expect("the key was just looked up or created");
    if let Value::Int(n) = *value {
        let mut digits = Vec::with_capacity(needed.max(20));
        push_i64(&mut digits, n);
        *value = Value::Str(SmallBytes::raw(digits));
    }
    let Value::Str(bytes) = value else {
        return Err(CmdError::WrongType);
    };
    let bytes = bytes.to_mut();
    let grown = bytes.len() < needed;
    if grown {
        bytes.resize(needed, 0);
    }
    Ok((bytes, created || grown))
}

/// Redis `getBitOffsetFromArgument`: a bit offset, from 0 to (`proto-max-bulk-len` * 8) - 1
/// (2^32 - 1 with the default 512MB). With `hash_bits` (BITFIELD), `#N` means N * bits: the
/// N-th field of that width.
fn bit_offset(ctx: &Ctx, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, multiplier) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    // Like Redis, multiply without an overflow check: a product that wraps to a negative
    // number is refused below with the same error.
    let offset = parse_i64(digits)
        .ok_or(BIT_OFFSET_ERR)?
        .wrapping_mul(multiplier);
    let limit = ctx.shared.config.read().proto_max_bulk_len;
    if offset < 0 || (offset as u64 >> 3) >= limit {
        return Err(BIT_OFFSET_ERR);
    }
    Ok(offset as u64)
}

/// An integer argument (Redis `getLongLongFromObjectOrReply`).
fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// The optional `BYTE|BIT` unit of BITCOUNT and BITPOS: true for BIT.
fn parse_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq_ci(arg, "BIT") {
        Ok(true)
    } else if eq_ci(arg, "BYTE") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Turns a `start`/`end` pair (negative = from the end) into indexes clamped to `0..total`;
/// `start > end` afterwards means an empty range. Mirrors the conversion BITCOUNT and BITPOS
/// share in Redis.
fn clamp_range(mut start: i64, mut end: i64, total: i64) -> (i64, i64) {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    (start, end)
}

/// The inclusive bit range a clamped `start..=end` covers: itself in BIT units, whole bytes in
/// BYTE units.
fn bit_range(start: i64, end: i64, in_bits: bool) -> (u64, u64) {
    if in_bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    }
}

// ---------------------------------------------------------------------------------------------
// Bits in a byte string (bit 0 = the high bit of byte 0)
// ---------------------------------------------------------------------------------------------

/// The bit at `offset`; bits past the end of the string are 0.
fn bit_at(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes
        .get(byte)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// Mask of the bits of a byte that come *before* bit `k` (0..8) of that byte.
fn mask_before(k: u64) -> u8 {
    !0xFFu8.checked_shr(k as u32).unwrap_or(0)
}

/// Mask of the bits of a byte that come *after* bit `k` (0..8) of that byte.
fn mask_after(k: u64) -> u8 {
    0xFFu8.checked_shr(k as u32 + 1).unwrap_or(0)
}

/// Number of set bits from bit `from` to bit `to` inclusive (both inside `bytes`).
fn count_bits(bytes: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole: u64 = bytes[first..=last]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    // Take back the bits of the edge bytes that lie outside the range.
    let before = (bytes[first] & mask_before(from & 7)).count_ones();
    let after = (bytes[last] & mask_after(to & 7)).count_ones();
    whole - u64::from(before) - u64::from(after)
}

/// Position of the first bit equal to `bit` from bit `from` to bit `to` inclusive (both inside
/// `bytes`), or None.
fn first_bit(bytes: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    (first..=last).find_map(|i| {
        // Looking for a 0 is looking for a 1 in the complement.
        let mut b = if bit { bytes[i] } else { !bytes[i] };
        if i == first {
            b &= !mask_before(from & 7);
        }
        if i == last {
            b &= !mask_after(to & 7);
        }
        (b != 0).then(|| i as u64 * 8 + u64::from(b.leading_zeros()))
    })
}

// ---------------------------------------------------------------------------------------------
// SETBIT, GETBIT
// ---------------------------------------------------------------------------------------------

/// ```text
/// SETBIT key offset value
/// ```
/// Integer: the bit's previous value. Creates the key if missing, grows the string with zero
/// bytes up to `offset`, keeps the TTL. Errors, in this order: "ERR bit offset is not an
/// integer or out of range" (negative, not a number, or past `proto-max-bulk-len` * 8),
/// "ERR bit is not an integer or out of range" (value other than 0 or 1), `WrongType`.
pub(crate) fn setbit(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let offset = bit_offset(ctx, &argv[2], None)?;
    let on = match parse_i64(&argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(BIT_VALUE_ERR),
    };
    let (bytes, grown) = string_for_bit_write(ctx, db, &argv[1], offset)?;
    let old = bit_at(bytes, offset);
    // mirrors setbitCommand(): a change only if the key was created or grown, or the bit flips.
    ctx.changes = Some(u64::from(grown || old != on));
    let mask = 0x80u8 >> (offset & 7);
    let byte = &mut bytes[(offset >> 3) as usize];
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
    if grown || old != on {
        db.notify(notify::STRING, "setbit", &argv[1]);
    }
    reply.int(i64::from(old));
    Ok(())
}

/// ```text
/// GETBIT key offset
/// ```
/// Integer: the bit at `offset`, 0 past the end of the string or for a missing key.
/// Errors: "ERR bit offset is not an integer or out of range" (checked before the key),
/// `WrongType`.
pub(crate) fn getbit(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let offset = bit_offset(ctx, &argv[2], None)?;
    let bit = match lookup_string(ctx, db, &argv[1])? {
        Some(bytes) => bit_at(&bytes, offset),
        None => false,
    };
    reply.int(i64::from(bit));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT, BITPOS
// ---------------------------------------------------------------------------------------------

/// ```text
/// BITCOUNT key [start end [BYTE|BIT]]
/// ```
/// Integer: the number of set bits in the string, or in the range `start..=end` (bytes, or bits
/// with `BIT`; negative indexes count from the end). 0 for a missing key.
///
/// As in Redis 7.0 the key is looked up first, so a missing key answers 0 whatever the other
/// arguments are; and two negative indexes with `start > end` answer 0 before the unit is
/// parsed. Errors: `WrongType`, `NotInteger`, `Syntax` (a lone `start`, a bad unit, extra
/// arguments).
pub(crate) fn bitcount(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(bytes) = lookup_string(ctx, db, &argv[1])? else {
        reply.int(0);
        return Ok(());
    };
    let (from, to) = match argv.len() {
        2 => (0, (bytes.len() as u64 * 8).wrapping_sub(1)),
        4 | 5 => {
            let start = arg_i64(&argv[2])?;
            let end = arg_i64(&argv[3])?;
            if start < 0 && end < 0 && start > end {
                reply.int(0);
                return Ok(());
            }
            let in_bits = argv.len() == 5 && parse_unit(&argv[4])?;
            let total = bytes.len() as i64 * if in_bits { 8 } else { 1 };
            let (start, end) = clamp_range(start, end, total);
            if start > end {
                reply.int(0);
                return Ok(());
            }
            bit_range(start, end, in_bits)
        }
        _ => return Err(CmdError::Syntax),
    };
    let count = if bytes.is_empty() {
        0
    } else {
        count_bits(&bytes, from, to)
    };
    reply.int(count as i64);
    Ok(())
}

/// ```text
/// BITPOS key bit [start [end [BYTE|BIT]]]
/// ```
/// Integer: the position (in bits, from the start of the string) of the first bit equal to
/// `bit` in the string or the range, or -1.
///
/// Redis 7.0's rules: a missing key is an endless run of zeros (0 when looking for 0, -1 when
/// looking for 1); an empty range answers -1. When no `end` is given and a 0 is looked for
/// in a string of ones, the string is taken as zero-padded on the right, so the answer is the
/// first bit after the range (the string's length in bits); with an explicit `end` it is -1.
/// Errors, in this order: `NotInteger` (bit), "ERR The bit argument must be 1 or 0.",
/// `WrongType`, `NotInteger` (start), `Syntax` (bad unit), `NotInteger` (end), `Syntax`
/// (extra arguments).
pub(crate) fn bitpos(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let bit = match arg_i64(&argv[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::msg("ERR The bit argument must be 1 or 0.")),
    };
    let Some(bytes) = lookup_string(ctx, db, &argv[1])? else {
        reply.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let len = bytes.len() as i64;
    let (start, end, in_bits, end_given) = match argv.len() {
        3 => (0, len - 1, false, false),
        4..=6 => {
            let start = arg_i64(&argv[3])?;
            let in_bits = argv.len() == 6 && parse_unit(&argv[5])?;
            let total = len * if in_bits { 8 } else { 1 };
            match argv.get(4) {
                Some(end) => {
                    let (start, end) = clamp_range(start, arg_i64(end)?, total);
                    (start, end, in_bits, true)
                }
                None => {
                    let (start, end) = clamp_range(start, total - 1, total);
                    (start, end, in_bits, false)
                }
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    if start > end {
        reply.int(-1);
        return Ok(());
    }
    let (from, to) = bit_range(start, end, in_bits);
    let pos = match first_bit(&bytes, from, to, bit) {
        Some(pos) => pos as i64,
        None if !bit && !end_given => to as i64 + 1,
        None => -1,
    };
    reply.int(pos);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------------

/// The four BITOP operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// ```text
/// BITOP AND|OR|XOR|NOT destkey key [key ...]
/// ```
/// Integer: the length of the result, which is as long as the longest source (shorter sources
/// and missing keys count as zero bytes). The result replaces `destkey` as a new string
/// without TTL; an empty result deletes `destkey` instead.
/// Errors: `Syntax` (unknown operation), "ERR BITOP NOT must be called with a single source
/// key.", `WrongType` (a source that is not a string).
pub(crate) fn bitop(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let op = if eq_ci(&argv[1], "AND") {
        BitOp::And
    } else if eq_ci(&argv[1], "OR") {
        BitOp::Or
    } else if eq_ci(&argv[1], "XOR") {
        BitOp::Xor
    } else if eq_ci(&argv[1], "NOT") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::msg(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let result = {
        let mut sources = Vec::with_capacity(argv.len() - 3);
        for key in argv.iter().skip(3) {
            sources.push(lookup_string(ctx, db, key)?.unwrap_or_default());
        }
        combine(op, &sources)
    };
    let dest = &argv[2];
    if result.is_empty() {
        if db.delete(dest, ctx.now_ms) {
            db.notify(notify::GENERIC, "del", dest);
        }
        reply.int(0);
        return Ok(());
    }
    let len = result.len();
    // Redis stores the result buffer as it is (`createObject`): "raw" at any length.
    db.set(dest, Value::Str(SmallBytes::raw(result)), ctx.now_ms);
    db.notify(notify::STRING, "set", dest);
    reply.int(len as i64);
    Ok(())
}

/// The BITOP result: as long as the longest source, shorter sources read as zero bytes.
fn combine(op: BitOp, sources: &[Cow<'_, [u8]>]) -> Vec<u8> {
    let max_len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    if max_len == 0 {
        return Vec::new();
    }
    // Start from the first source padded with zeros, then fold the others in byte by byte.
    let mut result = sources[0].to_vec();
    result.resize(max_len, 0);
    if op == BitOp::Not {
        result.iter_mut().for_each(|b| *b = !*b);
    }
    for source in &sources[1..] {
        for (i, out) in result.iter_mut().enumerate() {
            let b = source.get(i).copied().unwrap_or(0);
            match op {
                BitOp::And => *out &= b,
                BitOp::Or => *out |= b,
                BitOp::Xor => *out ^= b,
                BitOp::Not => unreachable!("NOT has a single source"),
            }
        }
    }
    result
}

// ---------------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO
// ---------------------------------------------------------------------------------------------

/// What BITFIELD does when SET or INCRBY does not fit in the field (OVERFLOW ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Keep the low bits (two's complement wrap-around). The default.
    Wrap,
    /// Clamp to the field's minimum or maximum.
    Sat,
    /// Write nothing and reply null for this operation.
    Fail,
}

/// A field type: `i1`..`i64` or `u1`..`u63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldType {
    signed: bool,
    bits: u32,
}

/// One parsed BITFIELD operation.
#[derive(Debug, Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    Incrby(i64),
}

/// A BITFIELD operation with the OVERFLOW mode in force where it appeared.
#[derive(Debug, Clone, Copy)]
struct Op {
    kind: FieldOp,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

/// Redis `getBitfieldTypeFromArgument`. u64 is refused because a reply cannot hold it.
fn field_type(arg: &[u8]) -> Result<FieldType, CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BITFIELD_TYPE_ERR),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(&arg[1..]) {
        Some(bits) if (1..=max).contains(&bits) => Ok(FieldType {
            signed,
            bits: bits as u32,
        }),
        _ => Err(BITFIELD_TYPE_ERR),
    }
}

/// Parses every operation before anything runs, as Redis does: one bad argument and nothing
/// is executed. Errors: `Syntax` (unknown word or missing arguments), "ERR Invalid OVERFLOW
/// type specified", the type and offset errors, `NotInteger` (SET/INCRBY value).
fn parse_ops(ctx: &Ctx, argv: &Argv) -> Result<Vec<Op>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let word = &argv[j];
        let remaining = argv.len() - j - 1;
        let takes_value = if eq_ci(word, "GET") && remaining >= 2 {
            false
        } else if (eq_ci(word, "SET") || eq_ci(word, "INCRBY")) && remaining >= 3 {
            true
        } else if eq_ci(word, "OVERFLOW") && remaining >= 1 {
            let mode = &argv[j + 1];
            overflow = if eq_ci(mode, "WRAP") {
                Overflow::Wrap
            } else if eq_ci(mode, "SAT") {
                Overflow::Sat
            } else if eq_ci(mode, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CmdError::msg("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let ty = field_type(&argv[j + 1])?;
        let offset = bit_offset(ctx, &argv[j + 2], Some(ty.bits))?;
        let kind = if !takes_value {
            FieldOp::Get
        } else if eq_ci(word, "SET") {
            FieldOp::Set(arg_i64(&argv[j + 3])?)
        } else {
            FieldOp::Incrby(arg_i64(&argv[j + 3])?)
        };
        ops.push(Op {
            kind,
            ty,
            offset,
            overflow,
        });
        j += if takes_value { 4 } else { 3 };
    }
    Ok(ops)
}

/// Reads `bits` bits from `offset` as an unsigned number; bits past the end read as 0.
fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| {
        (acc << 1) | u64::from(bit_at(bytes, offset + i))
    })
}

/// Reads `bits` bits from `offset` as a two's complement number.
fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let raw = get_unsigned(bytes, offset, bits);
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        // Extend the sign bit over the high bits.
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Writes the low `bits` bits of `value` at `offset` (the string is already long enough).
fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let mask = 0x80u8 >> (pos & 7);
        let byte = &mut bytes[(pos >> 3) as usize];
        if (value >> (u64::from(bits) - 1 - i)) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// Redis `checkUnsignedBitfieldOverflow` for `value + incr` in a `bits`-wide unsigned field:
/// `Ok(sum)` when it fits, else `Err(v)` with the value to store under `overflow` (the clamp
/// for SAT, the wrapped sum otherwise). SET passes its value with `incr` 0, where a negative
/// value reads as a huge unsigned one, as in Redis.
fn unsigned_add(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Result<u64, u64> {
    let max = (1u64 << bits) - 1;
    let sum = value.wrapping_add(incr as u64);
    // Redis computes these room-left values in signed 64-bit arithmetic.
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let clamp = if value > max || (incr > 0 && incr > max_incr) {
        max
    } else if incr < 0 && incr < min_incr {
        0
    } else {
        return Ok(sum);
    };
    Err(match overflow {
        Overflow::Sat => clamp,
        Overflow::Wrap | Overflow::Fail => sum & max,
    })
}

/// Redis `checkSignedBitfieldOverflow`, the signed counterpart of [`unsigned_add`]. The room
/// left is computed with wrapping arithmetic exactly as Redis does, so even the extreme SET
/// values (i64::MIN into an i8) clamp the way Redis clamps them.
fn signed_add(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Result<i64, i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let clamp = if value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        max
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        min
    } else {
        return Ok(value.wrapping_add(incr));
    };
    Err(match overflow {
        Overflow::Sat => clamp,
        Overflow::Wrap | Overflow::Fail => {
            let mut sum = (value as u64).wrapping_add(incr as u64);
            if bits < 64 {
                // Keep the low bits and copy the field's sign bit over the rest.
                let high = u64::MAX << bits;
                if sum & (1 << (bits - 1)) != 0 {
                    sum |= high;
                } else {
                    sum &= !high;
                }
            }
            sum as i64
        }
    })
}

/// Runs one SET or INCRBY on `bytes` and writes its reply: the old value for SET, the new one
/// for INCRBY, null when OVERFLOW FAIL refuses it (then nothing is written). Returns true if
/// the field's bits changed.
fn run_write_op(bytes: &mut [u8], op: &Op, reply: &mut Reply) -> bool {
    let FieldType { signed, bits } = op.ty;
    let (result, answer_old) = match op.kind {
        FieldOp::Set(v) => (v, true),
        FieldOp::Incrby(v) => (v, false),
        FieldOp::Get => unreachable!("GET is not a write"),
    };
    // (value to store, value to reply); both as the field's raw bits / reply integer.
    let outcome: Option<(u64, i64)> = if signed {
        let old = get_signed(bytes, op.offset, bits);
        let (new, overflowed) = match op.kind {
            FieldOp::Incrby(_) => flatten(signed_add(old, result, bits, op.overflow)),
            _ => flatten(signed_add(result, 0, bits, op.overflow)),
        };
        (!(overflowed && op.overflow == Overflow::Fail))
            .then_some((new as u64, if answer_old { old } else { new }))
    } else {
        let old = get_unsigned(bytes, op.offset, bits);
        let (new, overflowed) = match op.kind {
            FieldOp::Incrby(_) => flatten(unsigned_add(old, result, bits, op.overflow)),
            _ => flatten(unsigned_add(result as u64, 0, bits, op.overflow)),
        };
        (!(overflowed && op.overflow == Overflow::Fail))
            .then_some((new, if answer_old { old as i64 } else { new as i64 }))
    };
    match outcome {
        Some((store, answer)) => {
            let before = get_unsigned(bytes, op.offset, bits);
            set_field(bytes, op.offset, bits, store);
            reply.int(answer);
            get_unsigned(bytes, op.offset, bits) != before
        }
        None => {
            reply.null();
            false
        }
    }
}

/// `Ok(v)` / `Err(v)` of the overflow checks as (value, overflowed).
fn flatten<T>(r: Result<T, T>) -> (T, bool) {
    match r {
        Ok(v) => (v, false),
        Err(v) => (v, true),
    }
}

/// Replies to a GET on `bytes` (None: a missing key, all zeros).
fn run_get_op(bytes: Option<&[u8]>, op: &Op, reply: &mut Reply) {
    let bytes = bytes.unwrap_or(&[]);
    if op.ty.signed {
        reply.int(get_signed(bytes, op.offset, op.ty.bits));
    } else {
        reply.int(get_unsigned(bytes, op.offset, op.ty.bits) as i64);
    }
}

/// ```text
/// BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset value
///     | [OVERFLOW WRAP|SAT|FAIL] INCRBY type offset increment ...]
/// ```
/// Array: one reply per GET/SET/INCRBY, in order: GET the field, SET the old value, INCRBY the
/// new value, or null for a SET/INCRBY refused by `OVERFLOW FAIL`. `type` is `i1`..`i64` or
/// `u1`..`u63`; `offset` is a bit offset, or `#N` for the N-th field of that width. OVERFLOW
/// applies to the operations after it. With any SET or INCRBY the key is created (or grown
/// with zero bytes) up to the highest bit written, even if every write then fails; the TTL is
/// kept.
///
/// Errors, all before anything runs: `Syntax`, "ERR Invalid OVERFLOW type specified", "ERR
/// Invalid bitfield type. ...", "ERR bit offset is not an integer or out of range",
/// `NotInteger`; then `WrongType`.
pub fn bitfield(ctx: &mut Ctx, db: &mut Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let ops = parse_ops(ctx, argv)?;
    let highest_bit = ops
        .iter()
        .filter(|op| !matches!(op.kind, FieldOp::Get))
        .map(|op| op.offset + u64::from(op.ty.bits) - 1)
        .max();
    let Some(highest_bit) = highest_bit else {
        // Only GETs: a read, as BITFIELD_RO.
        return run_gets(ctx, db, argv, &ops, reply);
    };
    let (bytes, grown) = string_for_bit_write(ctx, db, &argv[1], highest_bit)?;
    reply.array(ops.len());
    // mirrors bitfieldGeneric(): a write counts as a change if the key was created or grown,
    // or if the field's value changed; "setbit" is reported once if anything changed.
    let mut changes = 0;
    for op in &ops {
        match op.kind {
            FieldOp::Get => run_get_op(Some(bytes), op, reply),
            FieldOp::Set(_) | FieldOp::Incrby(_) => {
                if run_write_op(bytes, op, reply) || grown {
                    changes += 1;
                }
            }
        }
    }
    if changes > 0 {
        db.notify(notify::STRING, "setbit", &argv[1]);
    }
    ctx.changes = Some(changes);
    Ok(())
}

/// ```text
/// BITFIELD_RO key [GET type offset ...]
/// ```
/// Array: the value of each field, as BITFIELD's GET. The arguments are parsed as BITFIELD
/// parses them, so a malformed SET or INCRBY reports its own error first; a well-formed one
/// is refused with "ERR BITFIELD_RO only supports the GET subcommand". Then `WrongType`.
pub(crate) fn bitfield_ro(ctx: &mut Ctx, db: &Db, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let ops = parse_ops(ctx, argv)?;
    if ops.iter().any(|op| !matches!(op.kind, FieldOp::Get)) {
        return Err(CmdError::msg(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    run_gets(ctx, db, argv, &ops, reply)
}

/// The read-only path of BITFIELD and BITFIELD_RO: a missing key reads as zeros.
fn run_gets(ctx: &mut Ctx, db: &Db, argv: &Argv, ops: &[Op], reply: &mut Reply) -> CmdResult {
    let bytes = lookup_string(ctx, db, &argv[1])?;
    reply.array(ops.len());
    for op in ops {
        run_get_op(bytes.as_deref(), op, reply);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_helpers_count_and_find_within_ranges() {
        let s = b"\xff\xf0\x00";
        assert_eq!(count_bits(s, 0, 23), 12);
        assert_eq!(count_bits(s, 3, 9), 7);
        assert_eq!(count_bits(s, 12, 23), 0);
        assert_eq!(first_bit(s, 0, 23, false), Some(12));
        assert_eq!(first_bit(s, 2, 11, false), None);
        assert_eq!(first_bit(s, 13, 23, true), None);
        assert_eq!(first_bit(b"\x00\x01", 0, 15, true), Some(15));
    }

    #[test]
    fn fields_round_trip_with_sign() {
        let mut s = vec![0u8; 9];
        set_field(&mut s, 3, 64, (-5i64) as u64);
        assert_eq!(get_signed(&s, 3, 64), -5);
        set_field(&mut s, 5, 4, 0b1010);
        assert_eq!(get_unsigned(&s, 5, 4), 10);
        assert_eq!(get_signed(&s, 5, 4), -6);
    }

    #[test]
    fn overflow_rules_match_redis() {
        assert_eq!(unsigned_add(250, 10, 8, Overflow::Wrap), Err(4));
        assert_eq!(unsigned_add(250, 10, 8, Overflow::Sat), Err(255));
        assert_eq!(unsigned_add(5, -10, 8, Overflow::Sat), Err(0));
        assert_eq!(unsigned_add(5, -5, 8, Overflow::Sat), Ok(0));
        assert_eq!(signed_add(127, 1, 8, Overflow::Wrap), Err(-128));
        assert_eq!(signed_add(-128, -1, 8, Overflow::Sat), Err(-128));
        assert_eq!(signed_add(i64::MAX, 1, 64, Overflow::Wrap), Err(i64::MIN));
        assert_eq!(signed_add(i64::MIN, 0, 8, Overflow::Sat), Err(127));
    }
}
