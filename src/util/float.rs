//! Floating point, exactly as Redis computes and prints it.
//!
//! Redis 7.0 does INCRBYFLOAT and HINCRBYFLOAT in C `long double`, which on x86-64 Linux is the
//! x87 80-bit format (64-bit mantissa), parses numbers with `strtold`/`strtod` and prints with
//! glibc's `printf`. Rust has no 80-bit type, and `f64` gives visibly different answers
//! (INCRBYFLOAT x 0.1 must reply "0.1", not "0.10000000000000001"). So respd carries its own
//! small software float: every conversion and the one operation needed (addition) is done
//! exactly on big integers and then rounded once, to nearest with ties to even, which is what
//! the hardware and glibc do. The code is short because nothing here needs to be fast: it runs
//! once per INCRBYFLOAT, on numbers of at most a few thousand digits.
//!
//! [`LongDouble`] is Redis `string2ld` / `ld2string`, [`parse_f64`] is `string2d`, and
//! [`format_f64`] the `%.17g` Redis 7.0 replies doubles with.

use super::push_i64;

/// An unsigned big integer (little-endian 32-bit limbs, no high zero limbs): just enough
/// arithmetic for exact decimal/binary conversions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => self.0.len() as u64 * 32 - top.leading_zeros() as u64,
        }
    }

    fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        limb < self.0.len() && self.0[limb] >> (i % 32) & 1 == 1
    }

    /// True if any bit below position `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let full = ((i / 32) as usize).min(self.0.len());
        if self.0[..full].iter().any(|&l| l != 0) {
            return true;
        }
        let rem = i % 32;
        full < self.0.len() && rem != 0 && self.0[full] & ((1u32 << rem) - 1) != 0
    }

    /// The 128 bits starting at bit `n` (the caller knows the value fits).
    fn shr_u128(&self, n: u64) -> u128 {
        (0..128u64)
            .filter(|&i| self.bit(n + i))
            .fold(0u128, |acc, i| acc | 1u128 << i)
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big::default();
        }
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push(l << bits | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        Big(out)
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for l in self.0.iter_mut() {
            let v = *l as u64 * m as u64 + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = a as u64;
        for l in self.0.iter_mut() {
            if carry == 0 {
                return;
            }
            let v = *l as u64 + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn add(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let v =
                *self.0.get(i).unwrap_or(&0) as u64 + *other.0.get(i).unwrap_or(&0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self -= other`; requires `self >= other`.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let v = self.0[i] as i64 - *other.0.get(i).unwrap_or(&0) as i64 - borrow;
            self.0[i] = v.rem_euclid(1 << 32) as u32;
            borrow = (v < 0) as i64;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `base^exp`.
    fn pow(base: u32, exp: u64) -> Big {
        let mut out = Big(vec![1]);
        out.mul_pow(base, exp);
        out
    }

    /// `self *= base^exp` (`base` is 5 or 10).
    fn mul_pow(&mut self, base: u32, mut exp: u64) {
        debug_assert!(base == 5 || base == 10);
        // Multiply by the largest power of `base` that fits a limb at a time.
        let (chunk, chunk_exp) = if base == 5 {
            (1_220_703_125, 13)
        } else {
            (1_000_000_000, 9)
        };
        while exp >= chunk_exp {
            self.mul_small(chunk);
            exp -= chunk_exp;
        }
        for _ in 0..exp {
            self.mul_small(base);
        }
    }

    /// Divides by `d` in place and returns the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.0.iter_mut().rev() {
            let v = rem << 32 | *l as u64;
            *l = (v / d as u64) as u32;
            rem = v % d as u64;
        }
        self.trim();
        rem as u32
    }

    /// `(self / d, self % d != 0)` for a quotient known to fit in 127 bits (schoolbook binary
    /// long division: at most ~70 steps here).
    fn div_big(mut self, d: &Big) -> (u128, bool) {
        let mut q = 0u128;
        let steps = self.bit_len().saturating_sub(d.bit_len());
        for i in (0..=steps).rev() {
            let shifted = d.shl(i);
            if self.cmp(&shifted) != std::cmp::Ordering::Less {
                self.sub_assign(&shifted);
                q |= 1 << i;
            }
        }
        (q, !self.is_zero())
    }

    /// Decimal digits, most significant first ("0" for zero).
    fn to_decimal(&self) -> Vec<u8> {
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_small(1_000_000_000));
        }
        let mut out = Vec::new();
        match chunks.pop() {
            None => out.push(b'0'),
            Some(top) => push_i64(&mut out, top as i64),
        }
        for c in chunks.iter().rev() {
            out.extend_from_slice(format!("{c:09}").as_bytes());
        }
        out
    }
}

/// A binary floating point format: how many mantissa bits, and the exponent range.
struct FloatFormat {
    /// Mantissa bits, including the leading one.
    precision: u32,
    /// Exponent of the lowest mantissa bit of the smallest subnormal.
    min_lsb: i64,
    /// Largest exponent of the leading bit of a finite value.
    max_top: i64,
    /// Decimal exponents beyond which a nonzero decimal surely overflows / underflows
    /// (shortcuts that keep the big integers small).
    max_dec: i64,
    min_dec: i64,
}

/// x87 extended precision, C `long double` on x86-64.
const LONG_DOUBLE: FloatFormat = FloatFormat {
    precision: 64,
    min_lsb: -16445,
    max_top: 16383,
    max_dec: 4933,
    min_dec: -4952,
};

/// IEEE 754 binary64, C `double`.
const DOUBLE: FloatFormat = FloatFormat {
    precision: 53,
    min_lsb: -1074,
    max_top: 1023,
    max_dec: 309,
    min_dec: -324,
};

/// A finite value after rounding: `mant × 2^exp`, or infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounded {
    Finite { mant: u64, exp: i64 },
    Inf,
}

/// Rounds `m × 2^exp` (plus a nonzero tail below `m` when `sticky`) to the nearest value of
/// `fmt`, ties to even: the single rounding step every operation ends with.
fn round_to(m: &Big, exp: i64, sticky: bool, fmt: &FloatFormat) -> Rounded {
    if m.is_zero() {
        return Rounded::Finite { mant: 0, exp: 0 };
    }
    let top = exp + m.bit_len() as i64 - 1;
    if top > fmt.max_top {
        return Rounded::Inf;
    }
    let mut lsb = (top - (fmt.precision as i64 - 1)).max(fmt.min_lsb);
    if lsb <= exp {
        // Fits without losing bits.
        let mant = (m.shr_u128(0) << (exp - lsb)) as u64;
        return Rounded::Finite { mant, exp: lsb };
    }
    let drop = (lsb - exp) as u64;
    let mut mant = m.shr_u128(drop);
    let half = m.bit(drop - 1);
    let rest = sticky || m.any_below(drop - 1);
    if half && (rest || mant & 1 == 1) {
        mant += 1;
        if mant == 1u128 << fmt.precision {
            mant >>= 1;
            lsb += 1;
            if lsb + fmt.precision as i64 - 1 > fmt.max_top {
                return Rounded::Inf;
            }
        }
    }
    if mant == 0 {
        return Rounded::Finite { mant: 0, exp: 0 };
    }
    Rounded::Finite {
        mant: mant as u64,
        exp: lsb,
    }
}

/// What the `strtod` grammar recognised.
enum Scanned {
    /// `inf` / `infinity`.
    Inf,
    /// Decimal digits (no leading or trailing zeros; empty for zero) times `10^exp10`.
    Decimal { digits: Vec<u8>, exp10: i64 },
    /// A hexadecimal mantissa times `2^exp2`.
    Hex { mant: Big, exp2: i64 },
}

/// Reads an exponent's digits, saturating far beyond any meaningful value.
fn scan_exponent(s: &[u8], mut i: usize) -> Option<(i64, usize)> {
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        v = (v * 10 + (d - b'0') as i64).min(1_000_000_000);
        i += 1;
    }
    (i > start).then_some((if neg { -v } else { v }, i))
}

/// Recognises a whole string with the C library's `strtod`/`strtold` grammar in the "C"
/// locale: optional sign, then `inf`/`infinity`, or decimal digits with an optional point and
/// `e` exponent, or `0x` hex digits with an optional point and `p` exponent. `nan` and
/// anything else return None, as does a string with bytes left over (Redis requires the
/// whole argument to be the number, and rejects leading whitespace itself).
fn scan_float(s: &[u8]) -> Option<(bool, Scanned)> {
    let (neg, mut i) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let rest = &s[i..];
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some((neg, Scanned::Inf));
    }
    let is_hex = rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (rest[2].is_ascii_hexdigit()
            || (rest[2] == b'.' && rest.get(3).is_some_and(|c| c.is_ascii_hexdigit())));
    if is_hex {
        i += 2;
        let mut mant = Big::default();
        let (mut exp2, mut seen_point) = (0i64, false);
        while let Some(&c) = s.get(i) {
            if c == b'.' && !seen_point {
                seen_point = true;
            } else if let Some(d) = (c as char).to_digit(16) {
                mant.mul_small(16);
                mant.add_small(d);
                if seen_point {
                    exp2 -= 4;
                }
            } else {
                break;
            }
            i += 1;
        }
        if matches!(s.get(i), Some(b'p' | b'P')) {
            if let Some((e, next)) = scan_exponent(s, i + 1) {
                exp2 += e;
                i = next;
            }
        }
        return (i == s.len()).then_some((neg, Scanned::Hex { mant, exp2 }));
    }
    let mut digits = Vec::new();
    let (mut exp10, mut seen_point, mut any_digit) = (0i64, false, false);
    while let Some(&c) = s.get(i) {
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if c.is_ascii_digit() {
            any_digit = true;
            if !(digits.is_empty() && c == b'0') {
                digits.push(c);
            }
            if seen_point {
                exp10 -= 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        if let Some((e, next)) = scan_exponent(s, i + 1) {
            exp10 += e;
            i = next;
        }
    }
    if i != s.len() {
        return None;
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp10 += 1;
    }
    Some((neg, Scanned::Decimal { digits, exp10 }))
}

/// Converts a scanned number to `fmt`, with `strto*`'s range errors folded in the way Redis
/// treats them: overflow and underflow to zero are None; subnormal results are accepted.
fn convert(scanned: &Scanned, fmt: &FloatFormat) -> Option<Option<Rounded>> {
    let rounded = match scanned {
        Scanned::Inf => return Some(None),
        Scanned::Hex { mant, exp2 } => {
            if mant.is_zero() {
                return Some(Some(Rounded::Finite { mant: 0, exp: 0 }));
            }
            round_to(mant, *exp2, false, fmt)
        }
        Scanned::Decimal { digits, exp10 } => {
            if digits.is_empty() {
                return Some(Some(Rounded::Finite { mant: 0, exp: 0 }));
            }
            let magnitude = digits.len() as i64 + exp10;
            if magnitude > fmt.max_dec {
                return None;
            }
            if magnitude <= fmt.min_dec {
                return None;
            }
            let mut d = Big::default();
            for &c in digits {
                d.mul_small(10);
                d.add_small((c - b'0') as u32);
            }
            if *exp10 >= 0 {
                d.mul_pow(10, exp10.unsigned_abs());
                round_to(&d, 0, false, fmt)
            } else {
                let divisor = Big::pow(10, exp10.unsigned_abs());
                // Scale the dividend so the quotient has a few bits more than the precision:
                // those decide the rounding, and the remainder is the sticky bit.
                let want = fmt.precision as i64 + 3;
                let shift = (want + divisor.bit_len() as i64 - d.bit_len() as i64).max(0);
                let (q, inexact) = d.shl(shift as u64).div_big(&divisor);
                round_to(&Big::from_u128(q), -shift, inexact, fmt)
            }
        }
    };
    match rounded {
        // strtod reports ERANGE for a nonzero number that overflows or rounds to zero.
        Rounded::Inf => None,
        Rounded::Finite { mant: 0, .. } => None,
        finite => Some(Some(finite)),
    }
}

/// A C `long double` as Redis 7.0 on x86-64 has it (x87 80-bit extended precision): the type
/// INCRBYFLOAT and HINCRBYFLOAT compute in. Only what those commands need is provided:
/// parsing ([`LongDouble::parse`], Redis `string2ld`), conversion from an integer, addition,
/// and printing ([`LongDouble::to_human`], Redis `ld2string` in human-friendly mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    class: FloatClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FloatClass {
    /// `mant × 2^exp`; zero is `mant == 0`. Nonzero values are normalised (top bit of the
    /// 64-bit mantissa set) unless subnormal.
    Finite {
        mant: u64,
        exp: i64,
    },
    Inf,
    Nan,
}

impl LongDouble {
    /// Zero.
    pub const ZERO: LongDouble = LongDouble {
        neg: false,
        class: FloatClass::Finite { mant: 0, exp: 0 },
    };

    fn from_rounded(neg: bool, r: Rounded) -> LongDouble {
        let class = match r {
            Rounded::Finite { mant, exp } => FloatClass::Finite { mant, exp },
            Rounded::Inf => FloatClass::Inf,
        };
        LongDouble { neg, class }
    }

    /// Parses a number the way Redis `string2ld` does: `strtold` over the whole argument, with
    /// no leading whitespace, no bytes left over (so an embedded NUL fails), at most 5119
    /// bytes, and no NaN. Overflow and underflow to zero fail; `inf` itself is accepted (the
    /// command then refuses the result). Accepts what `strtold` accepts: `+1`, `.5`, `5.`,
    /// `1e3`, `0x1p3`, `inf`.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        // MAX_LONG_DOUBLE_CHARS in Redis is 5k; the argument plus its NUL must fit.
        if s.is_empty() || s.len() >= 5 * 1024 || s[0].is_ascii_whitespace() || s[0] == 0x0b {
            return None;
        }
        let (neg, scanned) = scan_float(s)?;
        Some(match convert(&scanned, &LONG_DOUBLE)? {
            None => LongDouble {
                neg,
                class: FloatClass::Inf,
            },
            Some(r) => LongDouble::from_rounded(neg, r),
        })
    }

    /// The exact value of a 64-bit integer (a long double holds every `i64`).
    pub(crate) fn from_i64(v: i64) -> LongDouble {
        let r = round_to(
            &Big::from_u128(v.unsigned_abs() as u128),
            0,
            false,
            &LONG_DOUBLE,
        );
        LongDouble::from_rounded(v < 0, r)
    }

    /// False for infinities and NaN (what INCRBYFLOAT refuses to store).
    pub(crate) fn is_finite(&self) -> bool {
        matches!(self.class, FloatClass::Finite { .. })
    }

    /// `self + other`, rounded once to nearest-even as the x87 unit does (also available
    /// as the `+` operator).
    pub fn sum(self, other: LongDouble) -> LongDouble {
        use FloatClass::*;
        let (a, b) = match (self.class, other.class) {
            (Nan, _) | (_, Nan) => {
                return LongDouble {
                    neg: false,
                    class: Nan,
                }
            }
            (Inf, Inf) if self.neg != other.neg => {
                return LongDouble {
                    neg: true,
                    class: Nan,
                }
            }
            (Inf, _) => return self,
            (_, Inf) => return other,
            (Finite { mant: am, exp: ae }, Finite { mant: bm, exp: be }) => ((am, ae), (bm, be)),
        };
        if a.0 == 0 && b.0 == 0 {
            // -0 + -0 is -0; any other sum of zeros is +0.
            return LongDouble {
                neg: self.neg && other.neg,
                class: Finite { mant: 0, exp: 0 },
            };
        }
        if a.0 == 0 {
            return other;
        }
        if b.0 == 0 {
            return self;
        }
        // With normalised mantissas, an operand more than 130 binary orders of magnitude
        // below the other is under a quarter of its last place: it cannot change the
        // rounded sum.
        if a.1 - b.1 > 130 {
            return self;
        }
        if b.1 - a.1 > 130 {
            return other;
        }
        let base = a.1.min(b.1);
        let x = Big::from_u128(a.0 as u128).shl((a.1 - base) as u64);
        let y = Big::from_u128(b.0 as u128).shl((b.1 - base) as u64);
        let (neg, sum) = if self.neg == other.neg {
            (self.neg, x.add(&y))
        } else {
            match x.cmp(&y) {
                std::cmp::Ordering::Equal => return LongDouble::ZERO,
                std::cmp::Ordering::Greater => {
                    let mut d = x;
                    d.sub_assign(&y);
                    (self.neg, d)
                }
                std::cmp::Ordering::Less => {
                    let mut d = y;
                    d.sub_assign(&x);
                    (other.neg, d)
                }
            }
        };
        LongDouble::from_rounded(neg, round_to(&sum, base, false, &LONG_DOUBLE))
    }

    /// Formats like Redis `ld2string` in human-friendly mode (what INCRBYFLOAT stores and
    /// replies): `printf("%.17Lf")`, then trailing zeros and a trailing point removed, and
    /// "-0" turned into "0". Never uses an exponent, so 1e20 prints as twenty-one digits.
    pub(crate) fn to_human(self) -> Vec<u8> {
        let (mant, exp) = match self.class {
            FloatClass::Inf => {
                return if self.neg {
                    b"-inf".to_vec()
                } else {
                    b"inf".to_vec()
                }
            }
            FloatClass::Nan => {
                return if self.neg {
                    b"-nan".to_vec()
                } else {
                    b"nan".to_vec()
                }
            }
            FloatClass::Finite { mant, exp } => (mant, exp),
        };
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17: seventeen fractional digits
        let mut out = Vec::new();
        if self.neg {
            out.push(b'-');
        }
        if exp >= 0 {
            out.extend(Big::from_u128(mant as u128).shl(exp as u64).to_decimal());
        } else {
            // Scaled by 10^17, the value is mant*10^17 / 2^-exp; round that to an integer,
            // ties to even, as glibc's printf does.
            let n = mant as u128 * SCALE; // < 2^64 * 2^57
            let shift = exp.unsigned_abs();
            let q = if shift >= 128 {
                0 // below 2^-7: far under half a unit of the 17th decimal
            } else {
                let (q, rem, half) = (n >> shift, n & ((1u128 << shift) - 1), 1u128 << (shift - 1));
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            push_u128(&mut out, q / SCALE);
            let frac = format!("{:017}", q % SCALE);
            let frac = frac.trim_end_matches('0');
            if !frac.is_empty() {
                out.push(b'.');
                out.extend_from_slice(frac.as_bytes());
            }
        }
        if out == b"-0" {
            out = b"0".to_vec();
        }
        out
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;
    fn add(self, other: LongDouble) -> LongDouble {
        self.sum(other)
    }
}

fn push_u128(out: &mut Vec<u8>, v: u128) {
    out.extend_from_slice(v.to_string().as_bytes());
}

/// Parses a double the way Redis `string2d` does (`strtod` over the whole argument; no
/// leading whitespace, no NaN, overflow and underflow to zero rejected; `inf` accepted).
/// Used for scores and other double arguments.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if let Some(v) = parse_plain_decimal(s) {
        return Some(v);
    }
    parse_f64_exact(s)
}

/// The fast path of [`parse_f64`] for what clients send nearly always: a short plain decimal
/// (`-73.9798091`, `12`, `0.5`), at most 24 bytes, so it can neither overflow nor underflow.
/// Rust's `str::parse` rounds correctly, as glibc's `strtod` does, so the two agree on these
/// bit for bit. `None` for anything else (exponents, hex, `inf`, `.5`, `1.`, long strings):
/// those take the exact path.
fn parse_plain_decimal(s: &[u8]) -> Option<f64> {
    if s.len() > 24 {
        return None;
    }
    let digits = match s.first()? {
        b'-' | b'+' => &s[1..],
        _ => s,
    };
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    let all_digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The general path of [`parse_f64`]: `strtod`'s whole grammar, converted exactly.
fn parse_f64_exact(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    let (neg, scanned) = scan_float(s)?;
    let magnitude = match convert(&scanned, &DOUBLE)? {
        None => f64::INFINITY,
        Some(Rounded::Inf) => f64::INFINITY,
        Some(Rounded::Finite { mant, exp }) => {
            // mant has at most 53 bits, so both steps below are exact.
            let m = mant as f64;
            if exp < -1000 {
                m * 2f64.powi(-1000) * 2f64.powi((exp + 1000) as i32)
            } else {
                m * 2f64.powi(exp as i32)
            }
        }
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// Formats a double as C `printf("%.17g")` does: what Redis 7.0 replies for doubles (scores,
/// INCRBYFLOAT-free float replies). Seventeen significant digits, correctly rounded (ties to
/// even), trailing zeros removed, exponent form below 1e-4 or from 1e17 up ("1e+17",
/// "1.0000000000000001e-05"); infinities print as "inf" / "-inf".
pub fn format_f64(d: f64) -> String {
    const P: i64 = 17;
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    let sign = if d.is_sign_negative() { "-" } else { "" };
    if d.is_infinite() {
        return format!("{sign}inf");
    }
    if d == 0.0 {
        return format!("{sign}0");
    }
    let bits = d.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    let (mant, exp2) = if raw_exp == 0 {
        (frac, -1074)
    } else {
        (frac | 1 << 52, raw_exp - 1075)
    };
    // Exact decimal expansion: digits × 10^exp10.
    let (mut digits, mut exp10) = if exp2 >= 0 {
        (
            Big::from_u128(mant as u128).shl(exp2 as u64).to_decimal(),
            0i64,
        )
    } else {
        // mant / 2^k = mant × 5^k / 10^k
        let mut n = Big::from_u128(mant as u128);
        n.mul_pow(5, exp2.unsigned_abs());
        (n.to_decimal(), exp2)
    };
    // Round to P significant digits, ties to even.
    if digits.len() as i64 > P {
        let cut = P as usize;
        let next = digits[cut];
        let more = digits[cut + 1..].iter().any(|&c| c != b'0');
        exp10 += digits.len() as i64 - P;
        digits.truncate(cut);
        let round_up = next > b'5' || (next == b'5' && (more || (digits[cut - 1] - b'0') % 2 == 1));
        if round_up {
            let mut i = cut;
            loop {
                if i == 0 {
                    digits.insert(0, b'1');
                    digits.pop();
                    exp10 += 1;
                    break;
                }
                i -= 1;
                if digits[i] == b'9' {
                    digits[i] = b'0';
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
    }
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
        exp10 += 1;
    }
    // Decimal exponent of the first digit.
    let x = digits.len() as i64 - 1 + exp10;
    let digits = String::from_utf8(digits).unwrap_or_default();
    if !(-4..P).contains(&x) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if x < 0 { '-' } else { '+' };
        format!("{sign}{first}{point}{rest}e{esign}{:02}", x.abs())
    } else if x >= 0 {
        let int_len = (x + 1) as usize;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            let (int, frac) = digits.split_at(int_len);
            format!("{sign}{int}.{frac}")
        }
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-x - 1) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(s: &str) -> Option<String> {
        LongDouble::parse(s.as_bytes()).map(|v| String::from_utf8(v.to_human()).unwrap())
    }

    fn sum(a: &str, b: &str) -> String {
        let v = LongDouble::parse(a.as_bytes())
            .unwrap()
            .sum(LongDouble::parse(b.as_bytes()).unwrap());
        String::from_utf8(v.to_human()).unwrap()
    }

    // Expected strings below come from glibc (strtold, printf "%.17Lf" / "%.17g") on x86-64,
    // i.e. what redis-server computes.

    #[test]
    fn long_double_parse_and_print_like_redis() {
        assert_eq!(human("0.1").as_deref(), Some("0.1"));
        assert_eq!(human("10.5").as_deref(), Some("10.5"));
        assert_eq!(human("3.0e3").as_deref(), Some("3000"));
        assert_eq!(human("1e-5").as_deref(), Some("0.00001"));
        assert_eq!(human("1e20").as_deref(), Some("100000000000000000000"));
        assert_eq!(human("1e-17").as_deref(), Some("0.00000000000000001"));
        assert_eq!(human("5e-18").as_deref(), Some("0"));
        assert_eq!(human("-0").as_deref(), Some("0"));
        assert_eq!(human("-1e-30").as_deref(), Some("0"));
        assert_eq!(
            human("3.14159265358979323846264338327950288").as_deref(),
            Some("3.14159265358979324")
        );
        assert_eq!(human("+.5").as_deref(), Some("0.5"));
        assert_eq!(human("5.").as_deref(), Some("5"));
        assert_eq!(human("0x1.8p1").as_deref(), Some("3"));
        assert_eq!(human("1e-4950").as_deref(), Some("0")); // subnormal: accepted
        assert!(human("1.5e400")
            .unwrap()
            .starts_with("149999999999999999997875712"));
        assert_eq!(human("inf").as_deref(), Some("inf"));
        assert!(!LongDouble::parse(b"-Infinity").unwrap().is_finite());
        for bad in [
            "",
            " 1",
            "1 ",
            "1\0",
            "nan",
            "1e",
            "1e+",
            ".",
            "0x",
            "abc",
            "1.2.3",
            "--1",
            "1e5000",
            "1e-5000",
            "0x1p-16446",
        ] {
            assert_eq!(human(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn long_double_addition_rounds_once() {
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("17179869184", "-1.1"), "17179869182.90000000037252903");
        assert_eq!(sum("0.024390243902439025", "-0.024390243902439025"), "0");
        assert_eq!(sum("1.5", "1.5"), "3");
        assert_eq!(sum("9223372036854775807", "1"), "9223372036854775808");
        assert!(!LongDouble::parse(b"1e4932")
            .unwrap()
            .sum(LongDouble::parse(b"1e4932").unwrap())
            .is_finite());
        let i = LongDouble::from_i64(i64::MIN);
        assert_eq!(i.to_human(), b"-9223372036854775808");
    }

    #[test]
    fn format_f64_matches_printf_17g() {
        for (v, want) in [
            (0.1, "0.10000000000000001"),
            (1e-5, "1.0000000000000001e-05"),
            (1e17, "1e+17"),
            (9223372036854775808.0, "9.2233720368547758e+18"),
            (5e-324, "4.9406564584124654e-324"),
            (1.5, "1.5"),
            (100.0, "100"),
            (1e16, "10000000000000000"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_f64(v), want);
        }
    }

    #[test]
    fn parse_f64_follows_string2d() {
        assert_eq!(parse_f64(b"0.1"), Some(0.1));
        assert_eq!(parse_f64(b"-1.5e3"), Some(-1500.0));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"2.4703282292062328e-324"), Some(5e-324));
        assert_eq!(parse_f64(b"1.7976931348623157e308"), Some(f64::MAX));
        for bad in ["1e400", "2.4703282292062327e-324", "nan", " 1", "1x", ""] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_decimal_fast_path_agrees_with_the_exact_path() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for _ in 0..200_000 {
            let int_len = (next() % 12) as usize;
            let frac_len = (next() % 14) as usize;
            let mut text = String::new();
            match next() % 4 {
                0 => text.push('-'),
                1 => text.push('+'),
                _ => {}
            }
            for _ in 0..int_len {
                text.push((b'0' + (next() % 10) as u8) as char);
            }
            if next() % 3 != 0 {
                text.push('.');
                for _ in 0..frac_len {
                    text.push((b'0' + (next() % 10) as u8) as char);
                }
            }
            let fast = parse_plain_decimal(text.as_bytes());
            let exact = parse_f64_exact(text.as_bytes());
            if let Some(v) = fast {
                checked += 1;
                assert_eq!(Some(v.to_bits()), exact.map(f64::to_bits), "{text:?}");
            }
        }
        assert!(checked > 100_000);
        for edge in [
            "1.", ".5", ".", "-", "+", "1.2.3", "0x10", "1e5", "inf", "-0", "-0.0",
        ] {
            let via_public = parse_f64(edge.as_bytes()).map(f64::to_bits);
            assert_eq!(
                via_public,
                parse_f64_exact(edge.as_bytes()).map(f64::to_bits),
                "{edge:?}"
            );
        }
    }
}
