//! What a key remembers of its accesses: the time of the last one (OBJECT IDLETIME), or,
//! under an LFU `maxmemory-policy`, a logarithmic access counter (OBJECT FREQ).
//!
//! Counterpart of Redis's `evict.c` LFU half and `object.c` `objectSetLRUOrLFU`. Redis keeps
//! one 24-bit field per object and reads it one way or the other depending on the policy in
//! force *when it is read*: under LRU policies it is a seconds clock, under LFU policies the
//! top 16 bits are the time of the last decrement in minutes ("ldt", wrapping at 65536) and
//! the low 8 bits a counter that grows with the logarithm of the accesses and loses one
//! every `lfu-decay-time` minutes. Switching policies at run time does not
//! convert the fields, which is why Redis's errors warn that "LRU and LFU data will take some
//! time to adjust". respd copies that: one `u32` per entry, read as the policy says.
//!
//! respd evicts nothing (it has no `maxmemory` yet), but the counter is still what OBJECT
//! FREQ reports, what RESTORE ... FREQ sets, and what a future eviction would rank keys by.
//!
//! The policy lives in process-wide atomics, published by the configuration whenever it
//! changes (as Redis reads `server.maxmemory_policy`): every key access consults it, so it must
//! cost one relaxed load, not a lock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::util::random_u64;

static LFU: AtomicBool = AtomicBool::new(false);
static LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Redis's `LFU_INIT_VAL`: a new key starts at 5 so that it is not the first evicted.
pub const LFU_INIT_VAL: u32 = 5;

/// Makes the policy in force: `lfu` for `allkeys-lfu` / `volatile-lfu`, and the counter's
/// `lfu-log-factor` and `lfu-decay-time`.
pub(crate) fn configure(lfu: bool, log_factor: u32, decay_time: u32) {
    LFU.store(lfu, Ordering::Relaxed);
    LOG_FACTOR.store(log_factor, Ordering::Relaxed);
    DECAY_TIME.store(decay_time, Ordering::Relaxed);
}

/// True under an LFU policy (Redis `maxmemory_policy & MAXMEMORY_FLAG_LFU`).
pub(crate) fn lfu_enabled() -> bool {
    LFU.load(Ordering::Relaxed)
}

/// Seconds-resolution clock used for OBJECT IDLETIME (Redis's LRU clock).
pub fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// Redis `LFUGetTimeInMinutes`: Unix minutes, wrapping at 16 bits.
fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 1000 / 60) & 65535) as u32
}

/// Redis `LFUTimeElapsed`: minutes since `ldt`, across one wrap of the 16-bit clock.
fn minutes_since(ldt: u32, now_ms: u64) -> u32 {
    let now = minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The field of a key created now (Redis `createObject`).
pub fn initial(now_ms: u64) -> u32 {
    if lfu_enabled() {
        (minutes(now_ms) << 8) | LFU_INIT_VAL
    } else {
        lru_clock(now_ms)
    }
}

/// Redis `LFUDecrAndReturn`: the counter in `field` less one per `lfu-decay-time` minutes
/// since its last decrement (not stored: reading a key does not decay it by itself).
pub fn counter(field: u32, now_ms: u64) -> u32 {
    // Redis keeps this field in 24 bits (`LRU_BITS`), so the minutes part is at most 16 bits
    // even when the field still holds an LRU clock from before `maxmemory-policy` turned to
    // LFU; without the mask that clock (seconds since 1970) would read as a far-off minute.
    let ldt = (field & 0xFF_FFFF) >> 8;
    let counter = field & 255;
    let decay = DECAY_TIME.load(Ordering::Relaxed);
    // decay-time 0 means "never decay": checked_div gives None for it.
    let periods = minutes_since(ldt, now_ms).checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Redis `LFULogIncr`: one more access makes the counter grow with probability
/// 1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1), so that 255 stands for about a
/// million accesses with the default factor.
fn log_incr(counter: u32) -> u32 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * f64::from(LOG_FACTOR.load(Ordering::Relaxed)) + 1.0);
    let r = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The field after an access at `now_ms` (Redis `lookupKey`: `updateLFU` or `LRU_CLOCK`).
pub fn touched(field: u32, now_ms: u64) -> u32 {
    if lfu_enabled() {
        let counter = log_incr(counter(field, now_ms));
        (minutes(now_ms) << 8) | counter
    } else {
        lru_clock(now_ms)
    }
}

/// The field for a counter of `freq` set now (RESTORE ... FREQ under an LFU policy).
pub(crate) fn with_counter(freq: u8, now_ms: u64) -> u32 {
    (minutes(now_ms) << 8) | u32::from(freq)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    #[test]
    fn the_counter_decays_one_per_decay_period_and_never_below_zero() {
        let now = 1_000 * MINUTE;
        let field = with_counter(100, now);
        assert_eq!(counter(field, now), 100);
        // DECAY_TIME is 1 unless a test changes it; these tests never do.
        assert_eq!(counter(field, now + 3 * MINUTE), 97);
        assert_eq!(counter(field, now + 500 * MINUTE), 0);
    }

    #[test]
    fn the_minute_clock_wraps_at_16_bits() {
        let ldt = 65_530;
        let now_ms = (65_536 + 4) * MINUTE; // minutes() == 4
        assert_eq!(minutes_since(ldt, now_ms), 65535 - 65530 + 4);
    }

    #[test]
    fn log_incr_always_counts_from_the_initial_value_and_saturates() {
        // p = 1 while counter <= LFU_INIT_VAL.
        assert_eq!(log_incr(0), 1);
        assert_eq!(log_incr(LFU_INIT_VAL), LFU_INIT_VAL + 1);
        assert_eq!(log_incr(255), 255);
        // Far above the initial value, many accesses are needed for one more step.
        let grown = (0..1000).filter(|_| log_incr(200) > 200).count();
        assert!(grown < 50, "{grown}");
    }
}
