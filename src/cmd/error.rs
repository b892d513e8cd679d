//! Command errors as values, each rendering to the exact bytes Redis 7.0 sends.
//!
//! Handlers return `Result<(), CmdError>` and use `?`, the Rust form of Redis's `...OrReply`
//! helpers (`getLongLongFromObjectOrReply` and friends). Every error text is written once: the
//! ones several command groups give are variants or constants here, the ones a single group
//! gives are constants (or their one use) in that group's file, and `tests/source_rules.rs`
//! fails on a text written twice. The differential tests against a real redis-server keep the
//! texts themselves honest.

use std::borrow::Cow;

/// The result of a command handler.
pub type CmdResult = Result<(), CmdError>;

/// The refusal of a command that may grow memory while used memory is over `maxmemory` and
/// nothing can be evicted (Redis `shared.oomerr`); see [`crate::evict`].
pub(crate) const OOM_ERROR: &[u8] = b"OOM command not allowed when used memory > 'maxmemory'.";

/// The refusal of a keyspace command sent by a replica or a monitor (Redis counts both as
/// `CLIENT_SLAVE`).
pub(crate) const REPLICA_KEYSPACE_ERROR: &[u8] = b"ERR Replica can't interact with the keyspace";

/// A write from an ordinary client on a read-only replica (Redis `shared.roslaveerr`).
pub const READONLY_ERROR: &[u8] = b"READONLY You can't write against a read only replica.";

/// A command that needs fresh data while a replica's link to its master is down and
/// `replica-serve-stale-data` is off (Redis `shared.masterdownerr`).
pub const MASTERDOWN_ERROR: &[u8] =
    b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// Why a command failed. Rendered by [`CmdError::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// `ERR wrong number of arguments for '<cmd>' command`
    WrongArity,
    /// `ERR syntax error`
    Syntax,
    /// `ERR value is not an integer or out of range`
    NotInteger,
    /// `ERR value is not a valid float`
    NotFloat,
    /// `ERR increment or decrement would overflow`
    Overflow,
    /// `ERR increment would produce NaN or Infinity`
    NanOrInfinity,
    /// `ERR invalid expire time in '<cmd>' command`
    InvalidExpire,
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    WrongType,
    /// `ERR no such key`
    NoSuchKey,
    /// `ERR DB index is out of range`
    DbIndexOutOfRange,
    /// `ERR string exceeds maximum allowed size (proto-max-bulk-len)`
    StringTooLong,
    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    UnknownSubcommand,
    /// `ERR value is out of range, must be positive` (Redis `getPositiveLongFromObjectOrReply`
    /// without a message of its own: LPOP/RPOP's count, SPOP's count, ...). Also the answer to
    /// a count that is not a number at all.
    NotPositive,
    /// `ERR numkeys should be greater than 0` (LMPOP, ZMPOP, SINTERCARD, ...).
    NumkeysNotPositive,
    /// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
    /// (Redis `addReplySubcommandSyntaxError`, for handlers that check a subcommand's
    /// arguments themselves).
    SubcommandSyntax,
    /// Any other message, starting with its error code (`ERR ...`, `NOPROTO ...`).
    Message(Cow<'static, str>),
    /// A message that quotes the client's own bytes. Redis echoes them as sent, so they need
    /// not be UTF-8 and must not be turned into replacement characters on the way (but they
    /// end at a NUL byte: see [`CmdError::quoting`]).
    Quoting(Vec<u8>),
}

impl CmdError {
    // Texts several command groups share. A text one group alone uses is a constant (or its
    // single use) in that group's file; `tests/error_texts.rs` checks no text is written twice.

    /// `ERR invalid cursor` (SCAN, SSCAN, HSCAN, ZSCAN).
    pub(crate) const INVALID_CURSOR: CmdError = CmdError::msg("ERR invalid cursor");
    /// `ERR Number of keys can't be greater than number of args` (SINTERCARD, EVAL, FCALL).
    pub(crate) const NUMKEYS_OVER_ARGS: CmdError =
        CmdError::msg("ERR Number of keys can't be greater than number of args");
    /// `ERR LIMIT can't be negative` (SINTERCARD, ZINTERCARD).
    pub(crate) const LIMIT_NEGATIVE: CmdError = CmdError::msg("ERR LIMIT can't be negative");
    /// `ERR count should be greater than 0` (LMPOP, ZMPOP and their blocking forms).
    pub(crate) const COUNT_NOT_POSITIVE: CmdError =
        CmdError::msg("ERR count should be greater than 0");
    /// `ERR timeout is negative` (blocking commands, WAIT).
    pub(crate) const TIMEOUT_NEGATIVE: CmdError = CmdError::msg("ERR timeout is negative");
    /// `ERR COUNT must be > 0` (GEOSEARCH's and GEORADIUS's COUNT, XAUTOCLAIM's).
    pub(crate) const COUNT_MUST_BE_POSITIVE: CmdError = CmdError::msg("ERR COUNT must be > 0");
    /// `ERR timeout is not an integer or out of range` (WAIT, XREAD's BLOCK, CLIENT PAUSE:
    /// timeouts in milliseconds).
    pub(crate) const TIMEOUT_NOT_INTEGER: CmdError =
        CmdError::msg("ERR timeout is not an integer or out of range");
    /// `ERR value is out of range` (HRANDFIELD, ZRANDMEMBER counts).
    pub(crate) const OUT_OF_RANGE: CmdError = CmdError::msg("ERR value is out of range");
    /// A count of -2^63, whose absolute value does not fit (SRANDMEMBER, HRANDFIELD,
    /// ZRANDMEMBER; Redis `getRangeLongFromObjectOrReply` from `-LONG_MAX`).
    pub(crate) const COUNT_IS_I64_MIN: CmdError = CmdError::msg(
        "ERR value is out of range, value must between -9223372036854775807 and \
         9223372036854775807",
    );

    /// An error with a fixed message (must start with an error code).
    pub(crate) const fn msg(text: &'static str) -> CmdError {
        CmdError::Message(Cow::Borrowed(text))
    }

    /// An error with a formatted message (must start with an error code).
    pub(crate) fn owned(text: String) -> CmdError {
        CmdError::Message(Cow::Owned(text))
    }

    /// `<before><quoted><after>`: an error quoting the client's bytes, e.g.
    /// `CmdError::quoting("ERR Syntax error in HELLO option '", option, "'")`.
    ///
    /// Redis builds these with `addReplyErrorFormat` and a `%s`, which reads the argument as
    /// a C string: the quote ends at the argument's first NUL byte (`HELLO 2 "a\0b"` quotes
    /// `a`). Any other byte is kept as sent.
    pub fn quoting(before: &str, quoted: &[u8], after: &str) -> CmdError {
        let quoted = crate::util::c_str(quoted);
        let mut text = Vec::with_capacity(before.len() + quoted.len() + after.len());
        text.extend_from_slice(before.as_bytes());
        text.extend_from_slice(quoted);
        text.extend_from_slice(after.as_bytes());
        CmdError::Quoting(text)
    }

    /// The error line without the leading `-` and trailing CRLF.
    ///
    /// `full_name` is the command's name as Redis reports it (`get`, `client|setname`), and
    /// `argv` the request, for the errors that quote them.
    pub(crate) fn render(&self, full_name: &str, argv: &crate::protocol::Argv) -> Vec<u8> {
        match self {
            CmdError::WrongArity => {
                format!("ERR wrong number of arguments for '{full_name}' command").into_bytes()
            }
            CmdError::Syntax => b"ERR syntax error".to_vec(),
            CmdError::NotInteger => b"ERR value is not an integer or out of range".to_vec(),
            CmdError::NotFloat => b"ERR value is not a valid float".to_vec(),
            CmdError::Overflow => b"ERR increment or decrement would overflow".to_vec(),
            CmdError::NanOrInfinity => b"ERR increment would produce NaN or Infinity".to_vec(),
            CmdError::InvalidExpire => {
                format!("ERR invalid expire time in '{full_name}' command").into_bytes()
            }
            CmdError::WrongType => {
                b"WRONGTYPE Operation against a key holding the wrong kind of value".to_vec()
            }
            CmdError::NoSuchKey => b"ERR no such key".to_vec(),
            CmdError::DbIndexOutOfRange => b"ERR DB index is out of range".to_vec(),
            CmdError::StringTooLong => {
                b"ERR string exceeds maximum allowed size (proto-max-bulk-len)".to_vec()
            }
            CmdError::NotPositive => b"ERR value is out of range, must be positive".to_vec(),
            CmdError::NumkeysNotPositive => b"ERR numkeys should be greater than 0".to_vec(),
            CmdError::UnknownSubcommand => {
                subcommand_error("ERR unknown subcommand '", full_name, argv)
            }
            CmdError::SubcommandSyntax => subcommand_error(
                "ERR unknown subcommand or wrong number of arguments for '",
                full_name,
                argv,
            ),
            CmdError::Message(text) => text.as_bytes().to_vec(),
            CmdError::Quoting(text) => text.clone(),
        }
    }
}

/// `<start><argv[1], at most 128 bytes>'. Try <CONTAINER> HELP.`: the two subcommand errors
/// differ only in their opening words.
fn subcommand_error(start: &str, full_name: &str, argv: &crate::protocol::Argv) -> Vec<u8> {
    let container = full_name
        .split('|')
        .next()
        .unwrap_or(full_name)
        .to_ascii_uppercase();
    let sub = argv.get(1).unwrap_or(b"");
    // Redis formats the subcommand with `%.128s` from a C string: it ends at a NUL byte too.
    let sub = crate::util::c_str(sub);
    let sub = &sub[..sub.len().min(128)];
    let mut out = start.as_bytes().to_vec();
    out.extend_from_slice(sub);
    out.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Argv;

    #[test]
    fn renders_redis_wording() {
        let argv = Argv::from_args(["client", "foo"]);
        let r = |e: CmdError, name: &str| String::from_utf8(e.render(name, &argv)).unwrap();
        assert_eq!(
            r(CmdError::WrongArity, "get"),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            r(CmdError::WrongArity, "client|setname"),
            "ERR wrong number of arguments for 'client|setname' command"
        );
        assert_eq!(
            r(CmdError::InvalidExpire, "set"),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            r(CmdError::UnknownSubcommand, "client"),
            "ERR unknown subcommand 'foo'. Try CLIENT HELP."
        );
        assert_eq!(
            r(CmdError::WrongType, "get"),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            r(CmdError::NotPositive, "lpop"),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            r(CmdError::NumkeysNotPositive, "lmpop"),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(r(CmdError::msg("ERR custom"), "x"), "ERR custom");
    }

    #[test]
    fn quoting_keeps_binary_bytes_and_stops_at_nul() {
        let e = CmdError::quoting("ERR option '", b"\xff\x00\r\n", "'");
        assert_eq!(e.render("hello", &Argv::new()), b"ERR option '\xff'");
        let e = CmdError::quoting("ERR option '", b"a\xffb", "'");
        assert_eq!(e.render("hello", &Argv::new()), b"ERR option 'a\xffb'");
    }
}
