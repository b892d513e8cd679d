//! Redis-style log lines: `pid:M 25 Nov 2026 19:36:27.123 * message`.
//!
//! Counterpart of Redis `serverLog` (`server.c`). The level marks are Redis's: `.` debug,
//! `-` verbose, `*` notice, `#` warning. Lines go to standard output when `logfile` is empty
//! (the default), as Redis's do (systemd's journal collects it; Redis's own test suite reads
//! it), or are appended to the `logfile`. Errors that stop the start before the log is set up
//! (a bad config file) go to standard error, as in Redis.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Log verbosity, from most to least chatty (Redis `loglevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Useful details.
    Verbose,
    /// What an operator wants in production (the default).
    Notice,
    /// Only problems.
    Warning,
    /// Nothing at all.
    Nothing,
}

impl LogLevel {
    /// The word `loglevel` takes and CONFIG GET shows.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Nothing => "nothing",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Notice as u8);
static FILE: Mutex<Option<File>> = Mutex::new(None);

/// Sets the minimum level that gets written.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Sends log lines to `path` (appending), or to standard output if `path` is empty.
pub fn set_file(path: &str) -> std::io::Result<()> {
    let mut file = FILE.lock();
    *file = if path.is_empty() {
        None
    } else {
        Some(OpenOptions::new().create(true).append(true).open(path)?)
    };
    Ok(())
}

/// True if a message at `level` would be written (to skip formatting costly messages).
pub fn enabled(level: LogLevel) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed) && level != LogLevel::Nothing
}

/// Writes one log line at `level`.
pub fn log(level: LogLevel, message: &str) {
    if !enabled(level) {
        return;
    }
    let mark = match level {
        LogLevel::Debug => '.',
        LogLevel::Verbose => '-',
        LogLevel::Notice => '*',
        _ => '#',
    };
    let line = format!(
        "{}:M {} {} {}\n",
        std::process::id(),
        timestamp(),
        mark,
        message
    );
    write_out(&line);
}

/// Writes `text` as it is, without the pid/time/level prefix, if `level` is enabled (Redis's
/// `LL_RAW`, which the start banner uses).
pub fn raw(level: LogLevel, text: &str) {
    if enabled(level) {
        write_out(text);
    }
}

fn write_out(text: &str) {
    let mut file = FILE.lock();
    match file.as_mut() {
        Some(f) => {
            let _ = f.write_all(text.as_bytes());
        }
        None => {
            // One write per line, flushed: the log is read while the server runs.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

/// `25 Nov 2026 19:36:27.123` in UTC, computed without a date library.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Converts days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Logs at notice level (`*`).
#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::log::log($crate::log::LogLevel::Notice, &format!($($t)*)) } }
/// Logs at warning level (`#`).
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::log::log($crate::log::LogLevel::Warning, &format!($($t)*)) } }
/// Logs at verbose level (`-`).
#[macro_export]
macro_rules! verbose { ($($t:tt)*) => { if $crate::log::enabled($crate::log::LogLevel::Verbose) { $crate::log::log($crate::log::LogLevel::Verbose, &format!($($t)*)) } } }
/// Logs at debug level (`.`).
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { if $crate::log::enabled($crate::log::LogLevel::Debug) { $crate::log::log($crate::log::LogLevel::Debug, &format!($($t)*)) } } }

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
