//! DEBUG: the subcommands respd has, PANIC, SLEEP and CONFIG-REWRITE-FORCE-ALL.
//!
//! Counterpart of Redis `src/debug.c` (`debugCommand`). Redis's DEBUG has dozens of
//! subcommands for its test suite; respd implements PANIC, which exists to check what a
//! panic inside a command does to the dataset and the AOF (see "When a command panics" in
//! [`super`]), CONFIG-REWRITE-FORCE-ALL, which the suite uses to check that a config file
//! holding every directive reads back, SLEEP, which the suite uses to make a server stop
//! answering for a while (MIGRATE's timeout test), and HELP. Like every DEBUG in Redis 7.0 it is refused unless
//! `enable-debug-command` allows the client (the dispatcher checks the `PROTECTED` flag).

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::util::eq_ci;

/// The DEBUG row of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::PROTECTED), KeySpec::NONE, Group::Server, Handler::Conn(debug))];

/// ```text
/// DEBUG PANIC
/// DEBUG CONFIG-REWRITE-FORCE-ALL
/// DEBUG SLEEP seconds
/// DEBUG HELP
/// ```
/// SLEEP blocks the whole server for `seconds` (a decimal number read as C's `strtod` reads
/// it: junk after the number is ignored, no number at all is 0) and then replies `+OK`. Redis
/// sleeps in its only thread; respd holds the keyspace write lock, so every command that
/// reads or writes keys waits (PING and the like, which touch no key, still answer).
/// PANIC never replies: it panics inside the command, which logs a bug report and exits the
/// process with status 1. CONFIG-REWRITE-FORCE-ALL is CONFIG REWRITE writing every directive,
/// defaults included: `+OK`, or `ERR CONFIG-REWRITE-FORCE-ALL failed: <strerror>`. HELP lists
/// the subcommands (Redis's HELP lists neither test aid). Errors: Redis's "unknown subcommand or
/// wrong number of arguments" for anything else.
/// Checked against Redis 7.0.15 (`serverPanic("DEBUG PANIC called at Unix time ...")`).
pub fn debug(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let sub = &argv[1];
    if argv.len() == 2 && eq_ci(sub, "config-rewrite-force-all") {
        let config = ctx.shared.config.read().clone();
        // Without a config file Redis passes a NULL path to fopen(), which fails with EFAULT.
        let outcome = if config.config_file.is_empty() {
            Err(std::io::Error::from_raw_os_error(14))
        } else {
            crate::config_rewrite::rewrite_config(&config, true)
        };
        if let Err(e) = outcome {
            return Err(CmdError::owned(format!(
                "ERR CONFIG-REWRITE-FORCE-ALL failed: {}",
                crate::sys::strerror(&e)
            )));
        }
        reply.ok();
        return Ok(());
    }
    if argv.len() == 2 && eq_ci(sub, "panic") {
        panic!(
            "DEBUG PANIC called at Unix time {}",
            crate::util::now_ms() / 1000
        );
    }
    if argv.len() == 3 && eq_ci(sub, "sleep") {
        let seconds = strtod_prefix(&argv[2]);
        // Redis converts to whole microseconds and nanosleep()s; a negative time fails at once.
        let micros = (seconds * 1e6) as i64;
        let _everyone_waits = ctx.shared.store.write();
        if micros > 0 {
            std::thread::sleep(std::time::Duration::from_micros(micros as u64));
        }
        reply.ok();
        return Ok(());
    }
    if argv.len() == 2 && eq_ci(sub, "help") {
        super::connection::reply_help(
            reply,
            "DEBUG",
            &[
                "PANIC",
                "    Crash the server simulating a panic.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
        return Ok(());
    }
    // Redis `addReplySubcommandSyntaxError`, as PUBSUB's handler words it too.
    Err(CmdError::SubcommandSyntax)
}

/// C `strtod` without its error reporting: the number at the start of `arg` after leading
/// blanks, ignoring what follows; 0 when there is none.
fn strtod_prefix(arg: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    (1..=text.len())
        .rev()
        .filter(|&end| text.is_char_boundary(end))
        .find_map(|end| text[..end].parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::strtod_prefix;

    #[test]
    fn strtod_prefix_reads_the_leading_number() {
        assert_eq!(strtod_prefix(b"0.25"), 0.25);
        assert_eq!(strtod_prefix(b" 2abc"), 2.0);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b"-1"), -1.0);
    }
}
