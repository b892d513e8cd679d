//! Configuration: one table of directives drives the config file parser, the command line,
//! CONFIG GET / CONFIG SET, `--help` and the manual page.
//!
//! Counterpart of Redis `config.c` (`static_configs[]`). Directive names, value syntax and
//! defaults are Redis's, so a redis.conf line means the same thing here:
//!
//! ```text
//! # comment
//! port 6380
//! bind 127.0.0.1 -::1          # a leading '-' means "skip this address if unavailable"
//! client-output-buffer-limit normal 0 0 0
//! proto-max-bulk-len 512mb     # 1k = 1000, 1kb = 1024, and so on up to gb
//! ```
//!
//! Precedence is defaults < config file < command line, and within each, later lines win.
//! Each directive's default is written as the text a config file would hold and is applied
//! through the same setter as everything else, so there is one parser per directive.

use std::collections::BTreeMap;
use std::fmt;

use crate::protocol::parse::split_args;
use crate::protocol::Argv;

/// Log verbosity (`loglevel`); the type lives with the logger.
pub use crate::log::LogLevel;

/// Who supervises the process (`supervised`), Redis's `supervised` directive without its
/// `upstart` mode. See [`crate::systemd`] for what `systemd` turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervised {
    /// No supervision protocol (the default).
    No,
    /// systemd if `$NOTIFY_SOCKET` is set, otherwise none.
    Auto,
    /// systemd's notify protocol; starting without `$NOTIFY_SOCKET` is an error.
    Systemd,
}

impl Supervised {
    fn name(self) -> &'static str {
        match self {
            Supervised::No => "no",
            Supervised::Auto => "auto",
            Supervised::Systemd => "systemd",
        }
    }
}

/// Who may use an action that can write files or run code on the host: setting a protected
/// directive with CONFIG SET (`enable-protected-configs`), DEBUG (`enable-debug-command`),
/// MODULE (`enable-module-command`). Redis 7.0's `protected_action_enum`; all three default
/// to `no`, and none can be changed while the server runs.
///
/// Why it exists: `CONFIG SET dir` plus `CONFIG SET dbfilename` plus `SAVE` lets anyone who
/// reaches the port write a file of their choosing anywhere the server may write (an
/// `authorized_keys`, a cron file). Only whoever writes the config file or the command line
/// should be able to point the server's files somewhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectedAction {
    /// Never allowed (the default).
    No,
    /// Allowed to every client.
    Yes,
    /// Allowed to clients connected from the loopback addresses only.
    Local,
}

impl ProtectedAction {
    fn name(self) -> &'static str {
        match self {
            ProtectedAction::No => "no",
            ProtectedAction::Yes => "yes",
            ProtectedAction::Local => "local",
        }
    }

    fn parse(v: &str) -> Result<ProtectedAction, String> {
        match v.to_ascii_lowercase().as_str() {
            "no" => Ok(ProtectedAction::No),
            "yes" => Ok(ProtectedAction::Yes),
            "local" => Ok(ProtectedAction::Local),
            _ => Err("argument(s) must be one of the following: no, yes, local".into()),
        }
    }

    /// True if a client connected from `peer` may use the action (Redis
    /// `allowProtectedAction`). "Local" is what Redis's `islocalClient` calls local: a peer
    /// address of exactly 127.0.0.1 or ::1 (respd has no Unix sockets). Other 127/8
    /// addresses and IPv4-mapped ::ffff:127.0.0.1 are not, as in Redis.
    pub fn allows(self, peer: std::net::IpAddr) -> bool {
        match self {
            ProtectedAction::No => false,
            ProtectedAction::Yes => true,
            ProtectedAction::Local => {
                peer == std::net::IpAddr::from([127, 0, 0, 1])
                    || peer == std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }
        }
    }
}

/// The reply to DEBUG or MODULE when its `enable-*-command` directive does not allow the
/// client (Redis `processCommand`). `command` is `"DEBUG"` or `"MODULE"`. respd has neither
/// command yet; the dispatcher calls this when it gains them, right after the arity check:
/// `if !config.enable_debug_command.allows(peer) { return Err(protected_command_error("DEBUG")) }`.
pub fn protected_command_error(command: &str) -> String {
    let option = if command == "DEBUG" {
        "enable-debug-command"
    } else {
        "enable-module-command"
    };
    format!(
        "ERR {command} command not allowed. If the {option} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    )
}

/// Output buffer limits for one class of clients (`client-output-buffer-limit`).
/// Zero means "no limit", as in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    /// Close the client as soon as its queued replies exceed this many bytes.
    pub hard_bytes: u64,
    /// Close the client if its queued replies stay above this many bytes...
    pub soft_bytes: u64,
    /// ...for this many seconds in a row.
    pub soft_seconds: u64,
}

/// When the append-only file is flushed to disk (`appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFsync {
    /// fdatasync after every write command, before its reply is sent.
    Always,
    /// fdatasync once a second from the cron thread: at most about a second of writes lost
    /// in a power cut (none when only the process dies).
    EverySec,
    /// Never fsync explicitly: the operating system decides.
    No,
}

impl AppendFsync {
    /// The name config files and CONFIG GET use.
    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::EverySec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

/// Every setting of the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP port (`port`, 6379).
    pub port: u16,
    /// Addresses to listen on (`bind`); a leading `-` marks an optional address.
    pub bind: Vec<String>,
    /// Listen backlog (`tcp-backlog`, 511).
    pub tcp_backlog: u32,
    /// Most clients connected at once (`maxclients`, 10000).
    pub maxclients: usize,
    /// Close clients idle for this many seconds, 0 = never (`timeout`).
    pub timeout: u64,
    /// TCP keepalive interval in seconds, 0 = off (`tcp-keepalive`, 300).
    pub tcp_keepalive: u64,
    /// Log verbosity (`loglevel`).
    pub loglevel: LogLevel,
    /// Log file; empty means standard error (`logfile`).
    pub logfile: String,
    /// Number of databases (`databases`, 16).
    pub databases: usize,
    /// Largest bulk string a client may send (`proto-max-bulk-len`, 512mb).
    pub proto_max_bulk_len: u64,
    /// Largest query buffer of one client before it is disconnected (`client-query-buffer-limit`, 1gb).
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit normal ...` (0 0 0 by default: unlimited).
    pub output_limit_normal: OutputLimit,
    /// `client-output-buffer-limit replica ...` (kept for CONFIG GET; respd has no replicas).
    pub output_limit_replica: OutputLimit,
    /// `client-output-buffer-limit pubsub ...` (32mb 8mb 60 by default).
    pub output_limit_pubsub: OutputLimit,
    /// Background task frequency (`hz`, 10): how often active expiry runs.
    pub hz: u32,
    /// Snapshot save points (`save`): (seconds, changes) pairs; a background save starts when
    /// at least `changes` writes happened and `seconds` passed since the last save.
    pub save: Vec<(u64, u64)>,
    /// Directory of the dump file (`dir`, "./").
    pub dir: String,
    /// Name of the dump file inside `dir` (`dbfilename`, dump.rdb).
    pub dbfilename: String,
    /// LZF-compress strings in the dump (`rdbcompression`, yes).
    pub rdbcompression: bool,
    /// Write and verify the dump's CRC64 trailer (`rdbchecksum`, yes).
    pub rdbchecksum: bool,
    /// Refuse writes after a failed background save (`stop-writes-on-bgsave-error`, yes).
    pub stop_writes_on_bgsave_error: bool,
    /// Log every write command to the append-only file (`appendonly`, no).
    pub appendonly: bool,
    /// When the append-only file is fsynced (`appendfsync`, everysec).
    pub appendfsync: AppendFsync,
    /// Name of the append-only file inside `dir` (`appendfilename`, appendonly.aof).
    pub appendfilename: String,
    /// Rewrite the AOF when it grew by this percentage over its size after the last rewrite;
    /// 0 disables automatic rewrites (`auto-aof-rewrite-percentage`, 100).
    pub auto_aof_rewrite_percentage: u64,
    /// ...and is at least this many bytes (`auto-aof-rewrite-min-size`, 64mb).
    pub auto_aof_rewrite_min_size: u64,
    /// Load a truncated AOF up to its last whole command instead of refusing to start
    /// (`aof-load-truncated`, yes).
    pub aof_load_truncated: bool,
    /// Write the process id to this file at start, remove it at exit (`pidfile`).
    pub pidfile: String,
    /// Stack size of each connection thread (`thread-stack-size`, respd only).
    pub thread_stack_size: u64,
    /// Supervision protocol (`supervised`, no).
    pub supervised: Supervised,
    /// Who may CONFIG SET a protected directive (`enable-protected-configs`, no).
    pub enable_protected_configs: ProtectedAction,
    /// Who may run DEBUG (`enable-debug-command`, no).
    pub enable_debug_command: ProtectedAction,
    /// Who may run MODULE (`enable-module-command`, no).
    pub enable_module_command: ProtectedAction,
    /// Keyspace event classes published on Pub/Sub (`notify-keyspace-events`, none), as
    /// [`crate::notify`] flags.
    pub notify_keyspace_events: u32,
    /// Absolute path of the config file the server was started with, empty if none. Not a
    /// directive: INFO `config_file` shows it and CONFIG REWRITE needs it.
    pub config_file: String,
    /// While the config file and the command line are read: whether a `save` line was
    /// applied already (later ones then add save points, see `set_save_points`). `None` once
    /// they are read, and for CONFIG SET.
    pub save_lines_read: Option<bool>,
    /// The values of the directives without a field of their own (most of them accepted for
    /// compatibility only), by name, as CONFIG GET shows them.
    pub kept: BTreeMap<&'static str, String>,
    /// The `user <name> <rules...>` lines of the config file, in order (not a directive
    /// CONFIG GET knows, as in Redis; loaded into the ACL at start).
    pub users: Vec<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Config {
            port: 0,
            bind: Vec::new(),
            tcp_backlog: 0,
            maxclients: 0,
            timeout: 0,
            tcp_keepalive: 0,
            loglevel: LogLevel::Notice,
            logfile: String::new(),
            databases: 0,
            proto_max_bulk_len: 0,
            client_query_buffer_limit: 0,
            output_limit_normal: OutputLimit::default(),
            output_limit_replica: OutputLimit::default(),
            output_limit_pubsub: OutputLimit::default(),
            hz: 0,
            save: Vec::new(),
            dir: String::new(),
            dbfilename: String::new(),
            rdbcompression: false,
            rdbchecksum: false,
            stop_writes_on_bgsave_error: false,
            appendonly: false,
            appendfsync: AppendFsync::EverySec,
            appendfilename: String::new(),
            auto_aof_rewrite_percentage: 0,
            auto_aof_rewrite_min_size: 0,
            aof_load_truncated: false,
            pidfile: String::new(),
            thread_stack_size: 0,
            supervised: Supervised::No,
            enable_protected_configs: ProtectedAction::No,
            enable_debug_command: ProtectedAction::No,
            enable_module_command: ProtectedAction::No,
            notify_keyspace_events: 0,
            config_file: String::new(),
            save_lines_read: None,
            kept: BTreeMap::new(),
            users: Vec::new(),
        };
        for spec in CONFIG_TABLE {
            let mut args = Argv::new();
            split_args(spec.default.as_bytes(), &mut args).expect("default parses");
            let args: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            spec.set_value(&mut config, &args)
                .unwrap_or_else(|e| panic!("default of {} is invalid: {e}", spec.name));
        }
        config
    }
}

/// How a directive's value is written and read.
pub struct ConfigSpec {
    /// The directive name (lowercase, as in redis.conf).
    pub name: &'static str,
    /// Other names accepted for it (Redis keeps old names such as `slave-...`).
    pub aliases: &'static [&'static str],
    /// The default, written as a config file would write it.
    pub default: &'static str,
    /// True if CONFIG SET may change it while running.
    pub mutable: bool,
    /// True if CONFIG SET may change it only when `enable-protected-configs` allows the
    /// client (Redis's `PROTECTED_CONFIG` flag: the directives that choose where files go).
    pub protected: bool,
    /// True if it takes several words (`bind a b`, `save 3600 1`).
    pub multi_arg: bool,
    /// True if a CONFIG GET glob never lists it: only its exact name finds it (Redis's
    /// `HIDDEN_CONFIG`, the testing aids such as `key-load-delay`).
    pub hidden: bool,
    /// True for the directives that choose the listening sockets (`port`, `bind`): a new
    /// value takes effect by binding new sockets and closing the old ones (Redis's
    /// `updatePort` and `applyBind`; see [`crate::server::Listeners::bind_for`]).
    pub listener: bool,
    /// The type of its value, for the directives whose value is kept as text
    /// ([`Effect::Ignored`]) and for the manual page.
    pub kind: Kind,
    /// Whether respd acts on it, or accepts it only so a redis.conf keeps working.
    pub effect: Effect,
    /// How CONFIG REWRITE writes it back (see [`crate::config_rewrite`]).
    pub rewrite: RewriteAs,
    /// One line of documentation (for --help, the manual page and the example config).
    pub doc: &'static str,
    /// Parses and stores a value; the error is Redis's wording of the problem.
    pub set: fn(&ConfigSpec, &mut Config, &[String]) -> Result<(), String>,
    /// Renders the current value as CONFIG GET shows it.
    pub get: fn(&ConfigSpec, &Config) -> String,
}

/// What respd does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// respd acts on it: it has a field of [`Config`] that the server reads.
    Acts,
    /// Accepted for compatibility, no effect: the value is checked as Redis checks it, kept,
    /// and shown by CONFIG GET, and changes nothing (cluster, replication, TLS, eviction...).
    Ignored,
    /// As [`Effect::Ignored`], and a value other than the default is logged as a warning at
    /// start, because someone who sets it expects something respd does not do (a password,
    /// a memory limit, running in the background).
    IgnoredWarn,
}

/// How CONFIG REWRITE writes a directive, after the `rewrite` function Redis's `config.c`
/// gives each type (`boolConfigRewrite`, `numericConfigRewrite`, `rewriteConfigSaveOption`...).
///
/// Unless said otherwise, a directive's line is written where the file already has one, and
/// appended only when the value is not the default (Redis's `force`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteAs {
    /// `name <value>` with the value as CONFIG GET shows it: yes/no, numbers, octal numbers,
    /// enum names, several flag names (`rewriteConfigYesNoOption`, `...NumericalOption`,
    /// `...OctalOption`, `...EnumOption`).
    Value,
    /// A memory amount in the largest unit that divides it, `1gb`, `64mb`, `3kb`, else bytes
    /// (`rewriteConfigBytesOption`); a percentage stays `10%` (`rewriteConfigPercentOption`).
    Memory,
    /// A string, always in double quotes with C escapes (`rewriteConfigStringOption`, whose
    /// `sdscatrepr` writes `logfile ""`).
    Quoted,
    /// A string whose empty value means "none" (Redis's `EMPTY_STRING_IS_NULL`, default NULL):
    /// written whenever set, and its lines removed when empty.
    QuotedOrAbsent,
    /// Written whenever set, unquoted, and its lines removed when empty (`replicaof`,
    /// `rewriteConfigReplicaOfOption`).
    ValueOrAbsent,
    /// Always written, even at its default, `""` for none (`latency-tracking-info-percentiles`).
    Always,
    /// One `save <seconds> <changes>` line per save point, or `save ""`; always written
    /// (`rewriteConfigSaveOption`).
    Save,
    /// The absolute path of the directory, quoted; always written (`rewriteConfigDirOption`).
    Dir,
    /// `bind <addr> ...`, its lines removed at the default (`rewriteConfigBindOption`).
    Bind,
    /// One line per client class, normal, replica, pubsub, with memory units
    /// (`rewriteConfigClientOutputBufferLimitOption`).
    OutputBufferLimits,
}

/// The type of a directive's value, with Redis's parsing rules and error texts
/// (`config.c`: `boolConfigSet`, `numericParseString`, `numericBoundaryCheck`,
/// `enumConfigSet`, `stringConfigSet`).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` or `no`.
    Bool,
    /// A signed integer within bounds.
    Int {
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed.
        max: i64,
    },
    /// An unsigned integer: a negative number wraps around as in C and fails the bounds.
    UInt {
        /// Smallest value allowed.
        min: u64,
        /// Largest value allowed.
        max: u64,
    },
    /// A memory amount with an optional unit (`k`, `kb`, `m`, `mb`, `g`, `gb`), shown in bytes.
    Memory {
        /// Smallest value allowed.
        min: u64,
        /// Largest value allowed.
        max: u64,
    },
    /// A memory amount, or a percentage (`10%`) of `maxmemory`.
    MemoryOrPercent {
        /// Largest percentage allowed.
        max_percent: i64,
    },
    /// An octal number (permissions).
    Octal {
        /// Largest value allowed.
        max: u64,
    },
    /// One name of a list, case-insensitively; CONFIG GET shows the first name with the value.
    Enum(&'static [(&'static str, u32)]),
    /// Several names of a list whose values are OR-ed (`shutdown-on-sigterm save now`).
    Flags(&'static [(&'static str, u32)]),
    /// Any text, `""` for none.
    Str,
    /// Its own syntax, checked by this function (which stores the value as Redis shows it).
    Special(fn(&[String]) -> Result<String, String>),
    /// A directive respd acts on, parsed by its own `set`.
    Typed,
}

/// The part of an entry shared by the directives respd acts on (`..ACTING`).
const ACTING: ConfigSpec = ConfigSpec {
    name: "",
    aliases: &[],
    default: "",
    mutable: false,
    protected: false,
    multi_arg: false,
    hidden: false,
    listener: false,
    kind: Kind::Typed,
    effect: Effect::Acts,
    rewrite: RewriteAs::Value,
    doc: "",
    set: |_, _, _| Ok(()),
    get: |_, _| String::new(),
};

/// An entry for a directive whose value is kept as text in [`Config::kept`].
const fn compat(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: &'static str,
    mutable: bool,
    effect: Effect,
    doc: &'static str,
) -> ConfigSpec {
    ConfigSpec {
        name,
        aliases,
        default,
        mutable,
        protected: false,
        multi_arg: false,
        hidden: false,
        listener: false,
        kind,
        effect,
        // Redis's strings without a default (NULL) are the ones whose empty value means none;
        // aclfile and ignore-warnings, default "", are set back with `.rewrite_as(Quoted)`.
        rewrite: match kind {
            Kind::Memory { .. } | Kind::MemoryOrPercent { .. } => RewriteAs::Memory,
            Kind::Str if default.is_empty() || matches!(default.as_bytes(), b"\"\"") => {
                RewriteAs::QuotedOrAbsent
            }
            Kind::Str => RewriteAs::Quoted,
            _ => RewriteAs::Value,
        },
        doc,
        set: set_kept,
        get: get_kept,
    }
}

impl ConfigSpec {
    const fn multi_arg(mut self) -> Self {
        self.multi_arg = true;
        self
    }

    const fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    const fn rewrite_as(mut self, rewrite: RewriteAs) -> Self {
        self.rewrite = rewrite;
        self
    }

    /// Parses `args` and stores the value in `config`, or says why not (Redis's words).
    pub fn set_value(&self, config: &mut Config, args: &[String]) -> Result<(), String> {
        (self.set)(self, config, args)
    }

    /// The current value in `config`, as CONFIG GET shows it.
    pub fn get_value(&self, config: &Config) -> String {
        (self.get)(self, config)
    }

    /// True if respd does nothing with the directive (see [`Effect`]).
    pub fn no_effect(&self) -> bool {
        self.effect != Effect::Acts
    }
}

/// Parses a value of a kept directive by its [`Kind`] into the text CONFIG GET shows.
fn set_kept(spec: &ConfigSpec, c: &mut Config, args: &[String]) -> Result<(), String> {
    let value = match spec.kind {
        Kind::Special(check) => check(args)?,
        Kind::Flags(names) => {
            let mut bits = 0;
            if args.is_empty() {
                return Err(enum_error(names));
            }
            for arg in args {
                let matched: Vec<u32> = names
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(arg))
                    .map(|(_, v)| *v)
                    .collect();
                if matched.is_empty() {
                    return Err(enum_error(names));
                }
                bits |= matched.iter().fold(0, |a, b| a | b);
            }
            // Redis isValidShutdownOnSigFlags (the only flags directives).
            if bits & 1 != 0 && bits & 2 != 0 {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
            }
            flags_name(names, bits)
        }
        _ => parse_kind(spec.kind, one(args)?)?,
    };
    c.kept.insert(spec.name, value);
    Ok(())
}

fn get_kept(spec: &ConfigSpec, c: &Config) -> String {
    c.kept.get(spec.name).cloned().unwrap_or_default()
}

/// Redis `enumConfigSet`'s error: every name of the list.
fn enum_error(names: &[(&str, u32)]) -> String {
    let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    format!(
        "argument(s) must be one of the following: {}",
        list.join(", ")
    )
}

/// Redis `configEnumGetName` for bit flags: the exact match if there is one, else the
/// names of the bits set, in table order.
fn flags_name(names: &[(&str, u32)], bits: u32) -> String {
    if let Some((n, _)) = names.iter().find(|(_, v)| *v == bits) {
        return n.to_string();
    }
    let mut left = bits;
    let mut out = Vec::new();
    for (n, v) in names {
        if *v != 0 && v & left == *v {
            out.push(*n);
            left &= !v;
        }
    }
    if out.is_empty() || left != 0 {
        return "unknown".into();
    }
    out.join(" ")
}

/// Parses one value of a single-word kind into the text CONFIG GET shows.
fn parse_kind(kind: Kind, v: &str) -> Result<String, String> {
    let bounds_u = |n: u64, min: u64, max: u64| {
        if n < min || n > max {
            Err(format!(
                "argument must be between {min} and {max} inclusive"
            ))
        } else {
            Ok(n.to_string())
        }
    };
    match kind {
        Kind::Bool => parse_bool(v).map(yes_no),
        Kind::Int { min, max } => parse_int(v, min, max).map(|n| n.to_string()),
        // The value is read as a signed number and compared as unsigned, as Redis does: -1
        // becomes 18446744073709551615 and fails the upper bound.
        Kind::UInt { min, max } => {
            let n = crate::util::parse_i64(v.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            bounds_u(n as u64, min, max)
        }
        Kind::Memory { min, max } => {
            let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
            bounds_u(n, min, max)
        }
        Kind::MemoryOrPercent { max_percent } => {
            if let Some(n) = parse_memory(v) {
                return Ok(n.to_string());
            }
            let percent = v
                .strip_suffix('%')
                .filter(|d| !d.is_empty())
                .and_then(|d| crate::util::parse_i64(d.as_bytes()))
                .filter(|&p| p >= 0)
                .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
            if percent > max_percent {
                return Err(format!(
                    "percentage argument must be less or equal to {max_percent}"
                ));
            }
            // Redis keeps a percentage as a negative number, and 0% is plain 0.
            Ok(if percent == 0 {
                "0".into()
            } else {
                format!("{percent}%")
            })
        }
        Kind::Octal { max } => {
            let n = u64::from_str_radix(v, 8)
                .ok()
                .filter(|_| !v.starts_with('+'))
                .ok_or_else(|| "argument couldn't be parsed as an octal number".to_string())?;
            if n > max {
                return Err(format!("argument must be between 0 and {max:o} inclusive"));
            }
            Ok(format!("{n:o}"))
        }
        Kind::Enum(names) => {
            let value = names
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(v))
                .map(|(_, value)| *value)
                .ok_or_else(|| enum_error(names))?;
            // CONFIG GET shows the first name with that value (oom-score-adj: yes = relative).
            Ok(names
                .iter()
                .find(|(_, x)| *x == value)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default())
        }
        Kind::Str => Ok(v.to_string()),
        Kind::Flags(_) | Kind::Special(_) | Kind::Typed => Ok(v.to_string()),
    }
}

/// `oom-score-adj-values <master> <replica> <bgchild>` (Redis `setConfigOOMScoreAdjValuesOption`).
fn set_oom_score_adj_values(args: &[String]) -> Result<String, String> {
    if args.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut values = Vec::new();
    for a in args {
        match crate::util::parse_i64(a.as_bytes()).filter(|n| (-2000..=2000).contains(n)) {
            Some(n) => values.push(n.to_string()),
            None => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    Ok(values.join(" "))
}

/// `replicaof <host> <port>` or `replicaof no one` (Redis `setConfigReplicaOfOption`).
fn set_replicaof(args: &[String]) -> Result<String, String> {
    let [host, port] = args else {
        return Err("wrong number of arguments".into());
    };
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return Ok(String::new());
    }
    match crate::util::parse_i64(port.as_bytes()).filter(|p| (0..=65535).contains(p)) {
        Some(p) => Ok(format!("{host} {p}")),
        None => Err("Invalid master port".into()),
    }
}

/// `latency-tracking-info-percentiles <p> ...`, each between 0 and 100, shown as Redis's
/// `%f` with the trailing zeros cut (`99.9`).
fn set_latency_percentiles(args: &[String]) -> Result<String, String> {
    let args: &[String] = if matches!(args, [a] if a.is_empty()) {
        &[]
    } else {
        args
    };
    let mut out = Vec::new();
    for a in args {
        let p: f64 = a
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite())
            .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        let text = format!("{p:.6}");
        out.push(text.trim_end_matches('0').trim_end_matches('.').to_string());
    }
    Ok(out.join(" "))
}

impl fmt::Debug for ConfigSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSpec")
            .field("name", &self.name)
            .finish()
    }
}

fn one(args: &[String]) -> Result<&str, String> {
    match args {
        [v] => Ok(v.as_str()),
        _ => Err("wrong number of arguments".into()),
    }
}

fn parse_int(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = crate::util::parse_i64(v.as_bytes())
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Parses a memory amount the way Redis's `memtoull` does: a number with an optional unit
/// `k`/`m`/`g` (powers of 1000) or `kb`/`mb`/`gb` (powers of 1024), in any case.
pub(crate) fn parse_memory(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let (digits, mul) = if let Some(d) = lower.strip_suffix("gb") {
        (d, 1u64 << 30)
    } else if let Some(d) = lower.strip_suffix("mb") {
        (d, 1 << 20)
    } else if let Some(d) = lower.strip_suffix("kb") {
        (d, 1 << 10)
    } else if let Some(d) = lower.strip_suffix('g') {
        (d, 1_000_000_000)
    } else if let Some(d) = lower.strip_suffix('m') {
        (d, 1_000_000)
    } else if let Some(d) = lower.strip_suffix('k') {
        (d, 1_000)
    } else if let Some(d) = lower.strip_suffix('b') {
        (d, 1)
    } else {
        (lower.as_str(), 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_mem_arg(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// `save <seconds> <changes> [<seconds> <changes> ...]`, or `save ""` for none
/// (Redis `setConfigSaveOption`). CONFIG SET replaces the whole list. While a config file and
/// the command line are read, the first `save` line replaces the default list and later ones
/// add to it, so `save 900 1` and `save 300 10` on two lines (what CONFIG REWRITE writes) mean
/// both points; `save ""` empties the list at any point.
fn set_save_points(_: &ConfigSpec, c: &mut Config, args: &[String]) -> Result<(), String> {
    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if words.len() % 2 != 0 {
        return Err("Invalid save parameters".into());
    }
    let mut points = Vec::new();
    for pair in words.chunks(2) {
        let parse = |w: &str, min: u64| {
            crate::util::parse_u64(w.as_bytes())
                .filter(|&n| n >= min)
                .ok_or_else(|| "Invalid save parameters".to_string())
        };
        // Seconds at least 1, changes at least 0.
        points.push((parse(pair[0], 1)?, parse(pair[1], 0)?));
    }
    match c.save_lines_read {
        Some(true) if !points.is_empty() => c.save.extend(points),
        Some(_) => {
            c.save = points;
            c.save_lines_read = Some(true);
        }
        None => c.save = points,
    }
    Ok(())
}

/// `dir` as an absolute path with symbolic links resolved, as Redis's `getcwd` shows it; the
/// path as set if it cannot be resolved (the directory was removed since).
pub(crate) fn absolute_dir(dir: &str) -> String {
    std::fs::canonicalize(dir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| dir.to_string())
}

/// The absolute path Redis remembers for the config file (`getAbsolutePath`): an absolute
/// path as given, else the working directory joined with it, each leading `../` taking one
/// directory off the working directory. Symbolic links are not resolved, so CONFIG REWRITE
/// replaces a link with a file, as Redis does. `None` if the working directory is unknown.
pub fn absolute_path(path: &str) -> Option<String> {
    let path = path.trim_matches([' ', '\r', '\n', '\t']);
    if path.starts_with('/') {
        return Some(path.to_string());
    }
    let mut base = std::env::current_dir().ok()?.to_string_lossy().into_owned();
    if !base.ends_with('/') {
        base.push('/');
    }
    let mut rest = path;
    while let Some(tail) = rest.strip_prefix("../") {
        rest = tail;
        if base.len() > 1 {
            let cut = base[..base.len() - 1].rfind('/').map_or(0, |i| i + 1);
            base.truncate(cut);
        }
    }
    Some(base + rest)
}

fn set_output_limits(_: &ConfigSpec, c: &mut Config, args: &[String]) -> Result<(), String> {
    if args.is_empty() || args.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut updates = Vec::new();
    for group in args.chunks(4) {
        let class = group[0].to_ascii_lowercase();
        if !matches!(class.as_str(), "normal" | "replica" | "slave" | "pubsub") {
            return Err("Invalid client class specified in buffer limit configuration.".into());
        }
        let hard = parse_memory(&group[1]);
        let soft = parse_memory(&group[2]);
        let secs = crate::util::parse_i64(group[3].as_bytes()).filter(|&n| n >= 0);
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        updates.push((
            class,
            OutputLimit {
                hard_bytes: hard,
                soft_bytes: soft,
                soft_seconds: secs as u64,
            },
        ));
    }
    for (class, limit) in updates {
        match class.as_str() {
            "normal" => c.output_limit_normal = limit,
            "pubsub" => c.output_limit_pubsub = limit,
            _ => c.output_limit_replica = limit,
        }
    }
    Ok(())
}

fn get_output_limits(_: &ConfigSpec, c: &Config) -> String {
    let f = |name: &str, l: &OutputLimit| {
        format!(
            "{name} {} {} {}",
            l.hard_bytes, l.soft_bytes, l.soft_seconds
        )
    };
    format!(
        "{} {} {}",
        f("normal", &c.output_limit_normal),
        f("slave", &c.output_limit_replica),
        f("pubsub", &c.output_limit_pubsub)
    )
}

// The value lists of the enum directives, as in Redis's config.c (`configEnum`); the numbers
// only tell which names mean the same value.
const ACL_PUBSUB_DEFAULT_ENUM: &[(&str, u32)] = &[("allchannels", 0), ("resetchannels", 1)];
const CLUSTER_PREFERRED_ENDPOINT_TYPE_ENUM: &[(&str, u32)] =
    &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const MAXMEMORY_POLICY_ENUM: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const OOM_SCORE_ADJ_ENUM: &[(&str, u32)] =
    &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const PROPAGATION_ERROR_BEHAVIOR_ENUM: &[(&str, u32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];
const REPL_DISKLESS_LOAD_ENUM: &[(&str, u32)] =
    &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const SANITIZE_DUMP_PAYLOAD_ENUM: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
const SHUTDOWN_ON_SIG_ENUM: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const SYSLOG_FACILITY_ENUM: &[(&str, u32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
const TLS_AUTH_CLIENTS_ENUM: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];

/// Every directive respd understands.
pub static CONFIG_TABLE: &[ConfigSpec] = &[
    ConfigSpec {
        name: "port",
        aliases: &[],
        default: "6379",
        mutable: true,
        listener: true,
        protected: false,
        multi_arg: false,
        doc: "TCP port to listen on.",
        set: |_, c, a| {
            c.port = parse_int(one(a)?, 0, 65535)? as u16;
            Ok(())
        },
        get: |_, c| c.port.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "bind",
        aliases: &[],
        default: "127.0.0.1 -::1",
        mutable: true,
        listener: true,
        protected: false,
        multi_arg: true,
        rewrite: RewriteAs::Bind,
        doc: "Addresses to listen on. A leading '-' makes an address optional (skipped if it cannot be bound).",
        set: |_, c, a| {
            if a.is_empty() {
                return Err("wrong number of arguments".into());
            }
            for addr in a {
                let bare = addr.strip_prefix('-').unwrap_or(addr);
                if bare != "*" && bare.parse::<std::net::IpAddr>().is_err() {
                    return Err(format!("Invalid bind address '{addr}'"));
                }
            }
            c.bind = a.to_vec();
            Ok(())
        },
        get: |_, c| c.bind.join(" "),
        ..ACTING
    },
    ConfigSpec {
        name: "tcp-backlog",
        aliases: &[],
        default: "511",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Listen backlog: connections the kernel queues before respd accepts them.",
        set: |_, c, a| {
            c.tcp_backlog = parse_int(one(a)?, 0, i32::MAX as i64)? as u32;
            Ok(())
        },
        get: |_, c| c.tcp_backlog.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "maxclients",
        aliases: &[],
        default: "10000",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Most clients connected at once; the next one gets '-ERR max number of clients reached'.",
        set: |_, c, a| {
            c.maxclients = parse_int(one(a)?, 1, u32::MAX as i64)? as usize;
            Ok(())
        },
        get: |_, c| c.maxclients.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "timeout",
        aliases: &[],
        default: "0",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Close a client after this many idle seconds (0 = never).",
        set: |_, c, a| {
            c.timeout = parse_int(one(a)?, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
        get: |_, c| c.timeout.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "tcp-keepalive",
        aliases: &[],
        default: "300",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Send TCP keepalives to idle clients every this many seconds (0 = off).",
        set: |_, c, a| {
            c.tcp_keepalive = parse_int(one(a)?, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
        get: |_, c| c.tcp_keepalive.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "loglevel",
        aliases: &[],
        default: "notice",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Log verbosity: debug, verbose, notice, warning or nothing.",
        set: |_, c, a| {
            c.loglevel = match one(a)?.to_ascii_lowercase().as_str() {
                "debug" => LogLevel::Debug,
                "verbose" => LogLevel::Verbose,
                "notice" => LogLevel::Notice,
                "warning" => LogLevel::Warning,
                "nothing" => LogLevel::Nothing,
                // "nothing" is accepted, as newer Redis releases do, but Redis 7.0's error
                // text does not list it.
                _ => return Err("argument(s) must be one of the following: debug, verbose, notice, warning".into()),
            };
            Ok(())
        },
        get: |_, c| c.loglevel.name().into(),
        ..ACTING
    },
    ConfigSpec {
        name: "logfile",
        aliases: &[],
        default: "\"\"",
        mutable: false,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::Quoted,
        doc: "Log file path; empty logs to standard output, as Redis does (what systemd's journal collects).",
        set: |_, c, a| {
            c.logfile = one(a)?.to_string();
            Ok(())
        },
        get: |_, c| c.logfile.clone(),
        ..ACTING
    },
    ConfigSpec {
        name: "databases",
        aliases: &[],
        default: "16",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Number of logical databases (SELECT 0 to databases-1).",
        set: |_, c, a| {
            c.databases = parse_int(one(a)?, 1, i32::MAX as i64)? as usize;
            Ok(())
        },
        get: |_, c| c.databases.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "proto-max-bulk-len",
        aliases: &[],
        default: "512mb",
        mutable: true,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::Memory,
        doc: "Largest bulk string a client may send.",
        set: |_, c, a| {
            c.proto_max_bulk_len = parse_mem_arg(one(a)?, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        },
        get: |_, c| c.proto_max_bulk_len.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "client-query-buffer-limit",
        aliases: &[],
        default: "1gb",
        mutable: true,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::Memory,
        doc: "Largest unparsed input one client may accumulate before it is disconnected.",
        set: |_, c, a| {
            c.client_query_buffer_limit = parse_mem_arg(one(a)?, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        },
        get: |_, c| c.client_query_buffer_limit.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "client-output-buffer-limit",
        aliases: &[],
        default: "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60",
        mutable: true,
        protected: false,
        multi_arg: true,
        rewrite: RewriteAs::OutputBufferLimits,
        doc: "Per class (normal, replica, pubsub): hard limit, soft limit and soft seconds for queued replies; 0 disables a limit.",
        set: set_output_limits,
        get: get_output_limits,
        ..ACTING
    },
    ConfigSpec {
        name: "hz",
        aliases: &[],
        default: "10",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "How many times per second background tasks (active expiry) run.",
        set: |_, c, a| {
            // Redis clamps out-of-range values instead of refusing them.
            c.hz = parse_int(one(a)?, i32::MIN as i64, i32::MAX as i64)?.clamp(1, 500) as u32;
            Ok(())
        },
        get: |_, c| c.hz.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "save",
        aliases: &[],
        // Redis's built-in default is "3600 1 300 100 60 10000"; respd starts in memory only
        // unless told otherwise (the example respd.conf and the systemd unit turn snapshots
        // on), so that `cargo run` in a checkout never writes dump.rdb into it.
        default: "\"\"",
        mutable: true,
        protected: false,
        multi_arg: true,
        rewrite: RewriteAs::Save,
        doc: "Snapshot save points: pairs of <seconds> <changes>; a background save starts when both are reached. \"\" (the default) disables them; Redis's own default is 3600 1 300 100 60 10000.",
        set: set_save_points,
        get: |_, c| {
            let pairs: Vec<String> = c.save.iter().map(|(s, n)| format!("{s} {n}")).collect();
            pairs.join(" ")
        },
        ..ACTING
    },
    ConfigSpec {
        name: "dir",
        aliases: &[],
        default: "./",
        mutable: true,
        protected: true,
        multi_arg: false,
        rewrite: RewriteAs::Dir,
        doc: "Directory where the dump file (and its temporary files) are written.",
        // Redis chdir()s into the directory, so a relative dir is relative to the previous
        // one and CONFIG GET shows the absolute path (getcwd). respd keeps its working
        // directory and does the same with paths.
        set: |_, c, a| {
            let dir = one(a)?;
            let joined = match c.dir.as_str() {
                "" | "." | "./" => std::path::PathBuf::from(dir),
                current => std::path::Path::new(current).join(dir),
            };
            match std::fs::metadata(&joined) {
                Err(e) => return Err(crate::sys::strerror(&e)),
                Ok(m) if !m.is_dir() => return Err("Not a directory".into()),
                Ok(_) => {}
            }
            c.dir = joined.to_string_lossy().into_owned();
            Ok(())
        },
        get: |_, c| absolute_dir(&c.dir),
        ..ACTING
    },
    ConfigSpec {
        name: "dbfilename",
        aliases: &[],
        default: "dump.rdb",
        mutable: true,
        protected: true,
        multi_arg: false,
        rewrite: RewriteAs::Quoted,
        doc: "File name of the RDB dump inside dir.",
        set: |_, c, a| {
            let name = one(a)?;
            if name.contains('/') || name.is_empty() {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = name.to_string();
            Ok(())
        },
        get: |_, c| c.dbfilename.clone(),
        ..ACTING
    },
    ConfigSpec {
        name: "rdbcompression",
        aliases: &[],
        default: "yes",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Compress strings longer than 20 bytes in the dump with LZF.",
        set: |_, c, a| {
            c.rdbcompression = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |_, c| yes_no(c.rdbcompression),
        ..ACTING
    },
    ConfigSpec {
        name: "rdbchecksum",
        aliases: &[],
        default: "yes",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Write a CRC64 checksum at the end of the dump and verify it when loading.",
        set: |_, c, a| {
            c.rdbchecksum = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |_, c| yes_no(c.rdbchecksum),
        ..ACTING
    },
    ConfigSpec {
        name: "stop-writes-on-bgsave-error",
        aliases: &[],
        default: "yes",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Refuse write commands (MISCONF error) while the last background save failed and save points are set.",
        set: |_, c, a| {
            c.stop_writes_on_bgsave_error = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |_, c| yes_no(c.stop_writes_on_bgsave_error),
        ..ACTING
    },
    ConfigSpec {
        name: "appendonly",
        aliases: &[],
        default: "no",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Log every write command to the append-only file, and load it at start instead of the dump.",
        set: |_, c, a| {
            c.appendonly = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |_, c| yes_no(c.appendonly),
        ..ACTING
    },
    ConfigSpec {
        name: "appendfsync",
        aliases: &[],
        default: "everysec",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "When the append-only file is fsynced: always (before each reply), everysec, or no (left to the OS).",
        set: |_, c, a| {
            c.appendfsync = match one(a)?.to_ascii_lowercase().as_str() {
                "always" => AppendFsync::Always,
                "everysec" => AppendFsync::EverySec,
                "no" => AppendFsync::No,
                _ => return Err("argument(s) must be one of the following: everysec, always, no".into()),
            };
            Ok(())
        },
        get: |_, c| c.appendfsync.name().into(),
        ..ACTING
    },
    ConfigSpec {
        name: "appendfilename",
        aliases: &[],
        default: "appendonly.aof",
        mutable: false,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::Quoted,
        doc: "File name of the append-only file inside dir (one file, not Redis 7's appenddirname directory).",
        set: |_, c, a| {
            let name = one(a)?;
            if name.contains('/') || name.is_empty() {
                return Err("appendfilename can't be a path, just a filename".into());
            }
            c.appendfilename = name.to_string();
            Ok(())
        },
        get: |_, c| c.appendfilename.clone(),
        ..ACTING
    },
    ConfigSpec {
        name: "auto-aof-rewrite-percentage",
        aliases: &[],
        default: "100",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Rewrite the append-only file when it grew by this percentage since the last rewrite; 0 disables.",
        set: |_, c, a| {
            c.auto_aof_rewrite_percentage = parse_int(one(a)?, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
        get: |_, c| c.auto_aof_rewrite_percentage.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "auto-aof-rewrite-min-size",
        aliases: &[],
        default: "64mb",
        mutable: true,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::Memory,
        doc: "Smallest append-only file size at which an automatic rewrite may start.",
        set: |_, c, a| {
            c.auto_aof_rewrite_min_size = parse_mem_arg(one(a)?, 0, i64::MAX as u64)?;
            Ok(())
        },
        get: |_, c| c.auto_aof_rewrite_min_size.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "aof-load-truncated",
        aliases: &[],
        default: "yes",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Load a truncated append-only file up to its last whole command (and cut the torn tail) instead of refusing to start.",
        set: |_, c, a| {
            c.aof_load_truncated = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |_, c| yes_no(c.aof_load_truncated),
        ..ACTING
    },
    ConfigSpec {
        name: "pidfile",
        aliases: &[],
        default: "\"\"",
        mutable: false,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::QuotedOrAbsent,
        doc: "Write the process id to this file at start and remove it at exit; empty for none.",
        set: |_, c, a| {
            c.pidfile = one(a)?.to_string();
            Ok(())
        },
        get: |_, c| c.pidfile.clone(),
        ..ACTING
    },
    ConfigSpec {
        name: "thread-stack-size",
        aliases: &[],
        default: "256kb",
        // Read each time a worker thread starts, so a change applies to the threads the pool
        // starts afterwards.
        mutable: true,
        protected: false,
        multi_arg: false,
        rewrite: RewriteAs::Memory,
        doc: "Stack size of each connection thread (respd only). Small stacks let thousands of clients fit in memory.",
        set: |_, c, a| {
            c.thread_stack_size = parse_mem_arg(one(a)?, 64 * 1024, 1 << 30)?;
            Ok(())
        },
        get: |_, c| c.thread_stack_size.to_string(),
        ..ACTING
    },
    ConfigSpec {
        name: "supervised",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Supervision: 'systemd' speaks systemd's notify protocol (READY=1, STATUS, STOPPING=1, WATCHDOG=1) and fails to start without $NOTIFY_SOCKET; 'auto' does so only if $NOTIFY_SOCKET is set; 'no' does not.",
        set: |_, c, a| {
            c.supervised = match one(a)?.to_ascii_lowercase().as_str() {
                "no" => Supervised::No,
                "auto" => Supervised::Auto,
                "systemd" => Supervised::Systemd,
                // Redis also accepts "upstart" (it stops itself with SIGSTOP when ready);
                // respd does not, so it is not listed.
                _ => return Err("argument(s) must be one of the following: systemd, auto, no".into()),
            };
            Ok(())
        },
        get: |_, c| c.supervised.name().into(),
        ..ACTING
    },
    ConfigSpec {
        name: "enable-protected-configs",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Who may change the protected directives (dir, dbfilename) with CONFIG SET: no, yes, or local (clients on 127.0.0.1 or ::1).",
        set: |_, c, a| {
            c.enable_protected_configs = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
        get: |_, c| c.enable_protected_configs.name().into(),
        ..ACTING
    },
    ConfigSpec {
        name: "enable-debug-command",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Who may run DEBUG: no, yes, or local. Accepted for redis.conf compatibility; respd has no DEBUG command.",
        set: |_, c, a| {
            c.enable_debug_command = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
        get: |_, c| c.enable_debug_command.name().into(),
        ..ACTING
    },
    ConfigSpec {
        name: "enable-module-command",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Who may run MODULE: no, yes, or local. Accepted for redis.conf compatibility; respd loads no modules.",
        set: |_, c, a| {
            c.enable_module_command = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
        get: |_, c| c.enable_module_command.name().into(),
        ..ACTING
    },
    // Every other directive of Redis 7.0.15 (config.c static_configs[]), in its order.
    compat("daemonize", &[], Kind::Bool, "no", false, Effect::IgnoredWarn, "Run in the background. respd always stays in the foreground (what systemd and other supervisors expect): 'yes' is accepted and ignored with a warning."),
    compat("io-threads-do-reads", &[], Kind::Bool, "no", false, Effect::Ignored, "Whether I/O threads also read. See io-threads."),
    compat("always-show-logo", &[], Kind::Bool, "no", false, Effect::Acts, "Print the start banner (with the Port and PID lines) even when the log is not a terminal."),
    compat("protected-mode", &[], Kind::Bool, "yes", true, Effect::Acts, "While the default user has no password, accept clients from 127.0.0.1 and ::1 only; others get Redis's -DENIED explanation and are disconnected."),
    compat("rdb-del-sync-files", &[], Kind::Bool, "no", true, Effect::Ignored, "Delete RDB files made only for replication. respd serves replicas but does not use this setting."),
    compat("activerehashing", &[], Kind::Bool, "yes", true, Effect::Ignored, "Incremental rehashing of the main table. respd's tables resize on their own."),
    compat("set-proc-title", &[], Kind::Bool, "yes", false, Effect::Ignored, "Rewrite the process title. respd leaves it."),
    compat("dynamic-hz", &[], Kind::Bool, "yes", true, Effect::Ignored, "Raise hz with many clients. respd keeps hz as set."),
    compat("lazyfree-lazy-eviction", &[], Kind::Bool, "no", true, Effect::Ignored, "Free values in a background thread. respd frees inline; with yes, evicted keys are still propagated as UNLINK rather than DEL, as Redis does."),
    compat("lazyfree-lazy-expire", &[], Kind::Bool, "no", true, Effect::Ignored, "Free values in a background thread. respd frees inline."),
    compat("lazyfree-lazy-server-del", &[], Kind::Bool, "no", true, Effect::Ignored, "Free values in a background thread. respd frees inline."),
    compat("lazyfree-lazy-user-del", &[], Kind::Bool, "no", true, Effect::Ignored, "Free values in a background thread. respd frees inline."),
    compat("lazyfree-lazy-user-flush", &[], Kind::Bool, "no", true, Effect::Ignored, "Free values in a background thread. respd frees inline."),
    compat("repl-disable-tcp-nodelay", &[], Kind::Bool, "no", true, Effect::Ignored, "Replication setting. respd serves replicas but does not use this setting."),
    compat("repl-diskless-sync", &[], Kind::Bool, "yes", true, Effect::Ignored, "Replication setting. respd serves replicas but does not use this setting."),
    compat("aof-rewrite-incremental-fsync", &[], Kind::Bool, "yes", true, Effect::Ignored, "fsync the AOF every 4 MB while rewriting. respd fsyncs once at the end."),
    compat("no-appendfsync-on-rewrite", &[], Kind::Bool, "no", true, Effect::Ignored, "Skip AOF fsyncs while a rewrite runs. respd does not."),
    compat("cluster-require-full-coverage", &[], Kind::Bool, "yes", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("rdb-save-incremental-fsync", &[], Kind::Bool, "yes", true, Effect::Ignored, "fsync the dump every 4 MB while saving. respd fsyncs once at the end."),
    compat("aof-use-rdb-preamble", &[], Kind::Bool, "yes", true, Effect::Ignored, "Start rewritten AOFs with an RDB snapshot. respd rewrites to commands."),
    compat("aof-timestamp-enabled", &[], Kind::Bool, "no", true, Effect::Ignored, "Write timestamp annotations to the AOF. Not written by respd."),
    compat("cluster-replica-no-failover", &["cluster-slave-no-failover"], Kind::Bool, "no", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("replica-lazy-flush", &["slave-lazy-flush"], Kind::Bool, "no", true, Effect::Ignored, "Replication setting. A respd replica always empties its dataset at once before loading the master's."),
    compat("replica-serve-stale-data", &["slave-serve-stale-data"], Kind::Bool, "yes", true, Effect::Acts, "With the link to its master down, a replica still answers with the data it has; with no, only commands flagged stale run (others get MASTERDOWN)."),
    compat("replica-read-only", &["slave-read-only"], Kind::Bool, "yes", true, Effect::Acts, "A replica refuses writes from its clients (READONLY); only its master's stream writes."),
    compat("replica-ignore-maxmemory", &["slave-ignore-maxmemory"], Kind::Bool, "yes", true, Effect::Acts, "A replica evicts nothing for maxmemory; its master's evictions arrive as DELs."),
    compat("jemalloc-bg-thread", &[], Kind::Bool, "yes", true, Effect::Ignored, "jemalloc's background purge thread. respd uses the system allocator."),
    compat("activedefrag", &[], Kind::Bool, "no", true, Effect::IgnoredWarn, "Active defragmentation. respd has no defragmenter."),
    compat("syslog-enabled", &[], Kind::Bool, "no", false, Effect::IgnoredWarn, "Log to syslog. respd logs to the logfile or standard output."),
    compat("cluster-enabled", &[], Kind::Bool, "no", false, Effect::IgnoredWarn, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-allow-reads-when-down", &[], Kind::Bool, "no", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-allow-pubsubshard-when-down", &[], Kind::Bool, "yes", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("crash-log-enabled", &[], Kind::Bool, "yes", true, Effect::Ignored, "Write a crash report on a fatal signal. Not done by respd."),
    compat("crash-memcheck-enabled", &[], Kind::Bool, "yes", true, Effect::Ignored, "Memory test after a crash. Not done by respd."),
    compat("use-exit-on-panic", &[], Kind::Bool, "no", true, Effect::Ignored, "Exit instead of abort on panic (testing aid).").hidden(),
    compat("disable-thp", &[], Kind::Bool, "yes", false, Effect::Ignored, "Turn transparent huge pages off for the process. Not done by respd."),
    compat("cluster-allow-replica-migration", &[], Kind::Bool, "yes", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("replica-announced", &[], Kind::Bool, "yes", true, Effect::Ignored, "Shown in a replica's INFO replication (replica_announced), for Sentinel."),
    compat("latency-tracking", &[], Kind::Bool, "yes", true, Effect::Acts, "Keep a latency histogram of every command for INFO latencystats."),
    compat("aof-disable-auto-gc", &[], Kind::Bool, "no", true, Effect::Ignored, "Keep old AOF history files. respd has one AOF file."),
    compat("replica-ignore-disk-write-errors", &[], Kind::Bool, "no", true, Effect::Ignored, "Replication setting. A respd replica does not use this setting."),
    compat("aclfile", &[], Kind::Str, "\"\"", false, Effect::Acts, "File of ACL users, one 'user <name> <rules>' line each, read at start and by ACL LOAD, written by ACL SAVE. Cannot be combined with 'user' lines in the config file.").rewrite_as(RewriteAs::Quoted),
    compat("unixsocket", &[], Kind::Str, "\"\"", false, Effect::IgnoredWarn, "Path of a Unix socket to listen on. respd listens on TCP only."),
    compat("replica-announce-ip", &["slave-announce-ip"], Kind::Str, "\"\"", true, Effect::Acts, "Address a replica gives its master (REPLCONF ip-address) instead of its connection's."),
    compat("masteruser", &[], Kind::Str, "\"\"", true, Effect::Acts, "User a replica authenticates as to its master (AUTH masteruser masterauth)."),
    compat("cluster-announce-ip", &[], Kind::Str, "\"\"", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-config-file", &[], Kind::Str, "nodes.conf", false, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-announce-hostname", &[], Kind::Str, "\"\"", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("syslog-ident", &[], Kind::Str, "redis", false, Effect::Ignored, "Syslog identity. See syslog-enabled."),
    compat("appenddirname", &[], Kind::Str, "appendonlydir", false, Effect::Ignored, "Directory of Redis 7's multi-part AOF. respd writes one file, appendfilename, in dir."),
    compat("server_cpulist", &[], Kind::Str, "\"\"", false, Effect::Ignored, "CPU affinity of the main thread. Not set by respd."),
    compat("bio_cpulist", &[], Kind::Str, "\"\"", false, Effect::Ignored, "CPU affinity of background threads. Not set by respd."),
    compat("aof_rewrite_cpulist", &[], Kind::Str, "\"\"", false, Effect::Ignored, "CPU affinity of the AOF rewrite child. Not set by respd."),
    compat("bgsave_cpulist", &[], Kind::Str, "\"\"", false, Effect::Ignored, "CPU affinity of the save child. Not set by respd."),
    compat("ignore-warnings", &[], Kind::Str, "\"\"", true, Effect::Ignored, "Start-up warnings to silence. respd has none of Redis's.").rewrite_as(RewriteAs::Quoted),
    compat("proc-title-template", &[], Kind::Str, "\"{title} {listen-addr} {server-mode}\"", true, Effect::Ignored, "Process title template. See set-proc-title."),
    compat("bind-source-addr", &[], Kind::Str, "\"\"", true, Effect::Ignored, "Source address of outgoing connections. respd makes none."),
    compat("masterauth", &[], Kind::Str, "\"\"", true, Effect::Acts, "Password a replica gives its master before synchronizing."),
    compat("requirepass", &[], Kind::Str, "\"\"", true, Effect::Acts, "Password clients must AUTH with: sets the default user's only password (empty: the default user has nopass, no AUTH needed), as Redis 7.0 does. ACL SETUSER default changes the same user."),
    compat("syslog-facility", &[], Kind::Enum(SYSLOG_FACILITY_ENUM), "local0", false, Effect::Ignored, "Syslog facility. See syslog-enabled."),
    compat("repl-diskless-load", &[], Kind::Enum(REPL_DISKLESS_LOAD_ENUM), "disabled", true, Effect::Ignored, "Replication setting. A respd replica always loads the received RDB from memory."),
    compat("maxmemory-policy", &[], Kind::Enum(MAXMEMORY_POLICY_ENUM), "noeviction", true, Effect::Acts, "What to evict when a write finds used memory over maxmemory: noeviction refuses the write with -OOM; allkeys-lru, allkeys-lfu, allkeys-random choose among all keys, volatile-lru, volatile-lfu, volatile-random, volatile-ttl among keys with a TTL only. Under an LFU policy keys count their accesses (OBJECT FREQ)."),
    compat("oom-score-adj", &[], Kind::Enum(OOM_SCORE_ADJ_ENUM), "no", true, Effect::IgnoredWarn, "Set the process's oom_score_adj. Not done by respd."),
    compat("acl-pubsub-default", &[], Kind::Enum(ACL_PUBSUB_DEFAULT_ENUM), "resetchannels", true, Effect::Acts, "Channel permissions of new ACL users and of 'reset': resetchannels (none) or allchannels."),
    compat("sanitize-dump-payload", &[], Kind::Enum(SANITIZE_DUMP_PAYLOAD_ENUM), "no", true, Effect::Ignored, "Deep checks of RESTORE payloads. respd has no RESTORE."),
    compat("cluster-preferred-endpoint-type", &[], Kind::Enum(CLUSTER_PREFERRED_ENDPOINT_TYPE_ENUM), "ip", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("propagation-error-behavior", &[], Kind::Enum(PROPAGATION_ERROR_BEHAVIOR_ENUM), "ignore", true, Effect::Ignored, "What to do when a replicated command fails. A respd replica ignores the failure, as the default does."),
    compat("shutdown-on-sigint", &[], Kind::Flags(SHUTDOWN_ON_SIG_ENUM), "default", true, Effect::IgnoredWarn, "Save behaviour on SIGINT (default, save, nosave, now, force). respd saves at SIGINT when save points are set.").multi_arg(),
    compat("shutdown-on-sigterm", &[], Kind::Flags(SHUTDOWN_ON_SIG_ENUM), "default", true, Effect::IgnoredWarn, "Save behaviour on SIGTERM (default, save, nosave, now, force). respd saves at SIGTERM when save points are set.").multi_arg(),
    compat("io-threads", &[], Kind::Int { min: 1, max: 128 }, "1", false, Effect::IgnoredWarn, "Threads for socket I/O. respd uses one thread per connection instead."),
    compat("cluster-replica-validity-factor", &["cluster-slave-validity-factor"], Kind::Int { min: 0, max: 2147483647 }, "10", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("list-max-listpack-size", &["list-max-ziplist-size"], Kind::Int { min: -2147483648, max: 2147483647 }, "-2", true, Effect::Acts, "Largest listpack node of a list in DUMP and RDB files (negative: -1 to -5 for 4 KB to 64 KB; positive: a count of elements)."),
    compat("cluster-migration-barrier", &[], Kind::Int { min: 0, max: 2147483647 }, "1", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("active-defrag-cycle-min", &[], Kind::Int { min: 1, max: 99 }, "1", true, Effect::Ignored, "Active defragmentation setting. respd has no defragmenter."),
    compat("active-defrag-cycle-max", &[], Kind::Int { min: 1, max: 99 }, "25", true, Effect::Ignored, "Active defragmentation setting. respd has no defragmenter."),
    compat("active-defrag-threshold-lower", &[], Kind::Int { min: 0, max: 1000 }, "10", true, Effect::Ignored, "Active defragmentation setting. respd has no defragmenter."),
    compat("active-defrag-threshold-upper", &[], Kind::Int { min: 0, max: 1000 }, "100", true, Effect::Ignored, "Active defragmentation setting. respd has no defragmenter."),
    compat("lfu-log-factor", &[], Kind::Int { min: 0, max: 2147483647 }, "10", true, Effect::Acts, "LFU counter logarithm factor: how slowly OBJECT FREQ, the counter the LFU maxmemory-policy values evict by, grows."),
    compat("lfu-decay-time", &[], Kind::Int { min: 0, max: 2147483647 }, "1", true, Effect::Acts, "LFU counter decay minutes: OBJECT FREQ, the counter the LFU maxmemory-policy values evict by, loses one per period."),
    compat("replica-priority", &["slave-priority"], Kind::Int { min: 0, max: 2147483647 }, "100", true, Effect::Ignored, "Shown in a replica's INFO replication (slave_priority), for Sentinel to choose whom to promote."),
    compat("repl-diskless-sync-delay", &[], Kind::Int { min: 0, max: 2147483647 }, "5", true, Effect::Ignored, "Replication setting. respd serves replicas but does not use this setting."),
    compat("maxmemory-samples", &[], Kind::Int { min: 1, max: 2147483647 }, "5", true, Effect::Acts, "Keys sampled per database for each eviction under the LRU, LFU and TTL policies: more is closer to the true best key, and slower."),
    compat("maxmemory-eviction-tenacity", &[], Kind::Int { min: 0, max: 100 }, "10", true, Effect::Ignored, "How long one eviction run may last before the rest is left to a timer. respd has no such timer: eviction always finishes before the command runs."),
    compat("replica-announce-port", &["slave-announce-port"], Kind::Int { min: 0, max: 65535 }, "0", true, Effect::Acts, "Port a replica gives its master (REPLCONF listening-port) instead of its own; 0: its own."),
    compat("cluster-port", &[], Kind::Int { min: 0, max: 65535 }, "0", false, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-announce-bus-port", &[], Kind::Int { min: 0, max: 65535 }, "0", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-announce-port", &[], Kind::Int { min: 0, max: 65535 }, "0", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("cluster-announce-tls-port", &[], Kind::Int { min: 0, max: 65535 }, "0", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("repl-timeout", &[], Kind::Int { min: 1, max: 2147483647 }, "60", true, Effect::Acts, "Seconds a replica waits for its master's replies or stream before it drops the link and connects again."),
    compat("repl-ping-replica-period", &["repl-ping-slave-period"], Kind::Int { min: 1, max: 2147483647 }, "10", true, Effect::Acts, "Seconds between the PINGs a master sends in its replication stream."),
    compat("list-compress-depth", &[], Kind::Int { min: 0, max: 2147483647 }, "0", true, Effect::Ignored, "List nodes left uncompressed at each end. respd does not compress lists."),
    compat("rdb-key-save-delay", &[], Kind::Int { min: -2147483648, max: 2147483647 }, "0", true, Effect::Ignored, "Microseconds to sleep per key while saving (testing aid). Not honoured by respd.").hidden(),
    compat("key-load-delay", &[], Kind::Int { min: -2147483648, max: 2147483647 }, "0", true, Effect::Ignored, "Microseconds to sleep per key while loading (testing aid). Not honoured by respd.").hidden(),
    compat("active-expire-effort", &[], Kind::Int { min: 1, max: 10 }, "1", true, Effect::Ignored, "Effort of active expiry (1-10). respd's expiry cycle has a fixed effort."),
    compat("min-replicas-to-write", &["min-slaves-to-write"], Kind::Int { min: 0, max: 2147483647 }, "0", true, Effect::IgnoredWarn, "Replication setting. respd serves replicas but does not use this setting."),
    compat("min-replicas-max-lag", &["min-slaves-max-lag"], Kind::Int { min: 0, max: 2147483647 }, "10", true, Effect::Ignored, "Replication setting. respd serves replicas but does not use this setting."),
    compat("watchdog-period", &[], Kind::Int { min: 0, max: 2147483647 }, "0", true, Effect::Ignored, "Software watchdog period (debugging aid). Not used by respd.").hidden(),
    compat("shutdown-timeout", &[], Kind::Int { min: 0, max: 2147483647 }, "10", true, Effect::Ignored, "Seconds SHUTDOWN waits for replicas. respd has no replicas."),
    compat("repl-diskless-sync-max-replicas", &[], Kind::Int { min: 0, max: 2147483647 }, "0", true, Effect::Ignored, "Replication setting. respd serves replicas but does not use this setting."),
    compat("unixsocketperm", &[], Kind::Octal { max: 0o777 }, "0", false, Effect::Ignored, "Permissions of the Unix socket (octal). respd has no Unix socket."),
    compat("socket-mark-id", &[], Kind::UInt { min: 0, max: 4294967295 }, "0", false, Effect::Ignored, "SO_MARK of listening sockets. Not set by respd."),
    compat("active-defrag-max-scan-fields", &[], Kind::Int { min: 1, max: 9223372036854775807 }, "1000", true, Effect::Ignored, "Active defragmentation setting. respd has no defragmenter."),
    compat("slowlog-max-len", &[], Kind::Int { min: 0, max: 9223372036854775807 }, "128", true, Effect::Acts, "How many entries the slow log keeps (SLOWLOG GET); the oldest go first."),
    compat("acllog-max-len", &[], Kind::Int { min: 0, max: 9223372036854775807 }, "128", true, Effect::Acts, "Most entries ACL LOG keeps (refused commands, keys, channels and failed AUTHs)."),
    compat("busy-reply-threshold", &["lua-time-limit"], Kind::Int { min: 0, max: 9223372036854775807 }, "5000", true, Effect::Acts, "Milliseconds a script (EVAL, FCALL) may run before other clients get BUSY and SCRIPT KILL or FUNCTION KILL may stop it (lua-time-limit); 0 never answers BUSY."),
    compat("cluster-node-timeout", &[], Kind::Int { min: 0, max: 9223372036854775807 }, "15000", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("slowlog-log-slower-than", &[], Kind::Int { min: -1, max: 9223372036854775807 }, "10000", true, Effect::Acts, "Microseconds from which a command goes to the slow log (SLOWLOG GET); 0 logs every command, a negative value none."),
    compat("latency-monitor-threshold", &[], Kind::Int { min: 0, max: 9223372036854775807 }, "0", true, Effect::Acts, "Milliseconds from which a slow event (a command, an expiry cycle, an eviction, an AOF write) is kept by the latency monitor (LATENCY LATEST, HISTORY, DOCTOR); 0 turns the monitor off."),
    compat("stream-node-max-entries", &[], Kind::Int { min: 0, max: 9223372036854775807 }, "100", true, Effect::Acts, "Most entries of a stream node; approximate trimming (MAXLEN ~) removes whole nodes only. 0 means no limit."),
    compat("repl-backlog-size", &[], Kind::Memory { min: 1, max: 9223372036854775807 }, "1048576", true, Effect::Acts, "Bytes of the replication stream kept in the backlog once a replica attached (shown by INFO replication)."),
    compat("maxmemory", &[], Kind::Memory { min: 0, max: 18446744073709551615 }, "0", true, Effect::Acts, "Memory limit (INFO used_memory: keys, values and client buffers). Before a write, keys are evicted as maxmemory-policy says until memory is under the limit; if none can be, the write is refused with -OOM. 0 means no limit."),
    compat("cluster-link-sendbuf-limit", &[], Kind::Memory { min: 0, max: 18446744073709551615 }, "0", true, Effect::Ignored, "Redis Cluster setting. respd has no cluster mode."),
    compat("hash-max-listpack-entries", &["hash-max-ziplist-entries"], Kind::UInt { min: 0, max: 9223372036854775807 }, "512", true, Effect::Acts, "Most fields of a hash OBJECT ENCODING reports as listpack."),
    compat("set-max-intset-entries", &[], Kind::UInt { min: 0, max: 9223372036854775807 }, "512", true, Effect::Acts, "Most members of an all-integer set that is an intset (OBJECT ENCODING, member order)."),
    compat("zset-max-listpack-entries", &["zset-max-ziplist-entries"], Kind::UInt { min: 0, max: 9223372036854775807 }, "128", true, Effect::Acts, "Most members of a sorted set OBJECT ENCODING reports as listpack."),
    compat("active-defrag-ignore-bytes", &[], Kind::Memory { min: 1, max: 9223372036854775807 }, "104857600", true, Effect::Ignored, "Active defragmentation setting. respd has no defragmenter."),
    compat("hash-max-listpack-value", &["hash-max-ziplist-value"], Kind::Memory { min: 0, max: 9223372036854775807 }, "64", true, Effect::Acts, "Longest field or value of a hash OBJECT ENCODING reports as listpack."),
    compat("stream-node-max-bytes", &[], Kind::Memory { min: 0, max: 9223372036854775807 }, "4096", true, Effect::Acts, "Largest stream node in bytes, as Redis sizes its listpack; 0 means no limit."),
    compat("zset-max-listpack-value", &["zset-max-ziplist-value"], Kind::Memory { min: 0, max: 9223372036854775807 }, "64", true, Effect::Acts, "Longest member of a sorted set OBJECT ENCODING reports as listpack."),
    compat("hll-sparse-max-bytes", &[], Kind::Memory { min: 0, max: 9223372036854775807 }, "3000", true, Effect::Acts, "Largest sparse HyperLogLog string, header included; a PFADD or PFMERGE that would grow one past it turns it dense."),
    compat("tracking-table-max-keys", &[], Kind::UInt { min: 0, max: 9223372036854775807 }, "1000000", true, Effect::Acts, "Keys remembered for client-side caching (CLIENT TRACKING) before the oldest are invalidated; 0 for no limit."),
    compat("maxmemory-clients", &[], Kind::MemoryOrPercent { max_percent: 100 }, "0", true, Effect::IgnoredWarn, "Memory limit for all clients together (bytes or a percentage of maxmemory). respd has no client eviction."),
    compat("repl-backlog-ttl", &[], Kind::Int { min: 0, max: 9223372036854775807 }, "3600", true, Effect::Ignored, "Replication setting. respd serves replicas but does not use this setting."),
    compat("loading-process-events-interval-bytes", &[], Kind::Int { min: 1024, max: 2147483647 }, "2097152", true, Effect::Ignored, "How often loading serves events. respd answers LOADING from other threads.").hidden(),
    compat("tls-port", &[], Kind::Int { min: 0, max: 65535 }, "0", true, Effect::IgnoredWarn, "TLS setting. respd speaks plain TCP only."),
    compat("tls-session-cache-size", &[], Kind::Int { min: 0, max: 2147483647 }, "20480", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-session-cache-timeout", &[], Kind::Int { min: 0, max: 2147483647 }, "300", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-cluster", &[], Kind::Bool, "no", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-replication", &[], Kind::Bool, "no", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-auth-clients", &[], Kind::Enum(TLS_AUTH_CLIENTS_ENUM), "yes", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-prefer-server-ciphers", &[], Kind::Bool, "no", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-session-caching", &[], Kind::Bool, "yes", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-cert-file", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-key-file", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-key-file-pass", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-client-cert-file", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-client-key-file", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-client-key-file-pass", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-dh-params-file", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-ca-cert-file", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-ca-cert-dir", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-protocols", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-ciphers", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("tls-ciphersuites", &[], Kind::Str, "\"\"", true, Effect::Ignored, "TLS setting. respd speaks plain TCP only."),
    compat("oom-score-adj-values", &[], Kind::Special(set_oom_score_adj_values), "0 200 800", true, Effect::Ignored, "oom_score_adj values for master, replica and background child. Not used by respd.").multi_arg(),
    ConfigSpec {
        name: "notify-keyspace-events",
        aliases: &[],
        default: "\"\"",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Keyspace events published on Pub/Sub, one letter per class: K (__keyspace@<db>__ channels), E (__keyevent@<db>__ channels), g generic, $ string, l list, s set, h hash, z sorted set, x expired, e evicted, t stream, m key miss, d module, n new key, A (g$lshzxetd). Empty: none.",
        // mirrors setConfigNotifyKeyspaceEventsOption() / getConfigNotifyKeyspaceEventsOption()
        set: |_, c, a| {
            c.notify_keyspace_events = crate::notify::flags_from_str(one(a)?)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
        get: |_, c| crate::notify::flags_to_string(c.notify_keyspace_events),
        ..ACTING
    }
    .rewrite_as(RewriteAs::Quoted),
    compat("replicaof", &["slaveof"], Kind::Special(set_replicaof), "no one", false, Effect::Acts, "Start as a replica of <host> <port> (as REPLICAOF does); REPLICAOF changes it at run time.").multi_arg().rewrite_as(RewriteAs::ValueOrAbsent),
    compat("latency-tracking-info-percentiles", &[], Kind::Special(set_latency_percentiles), "50 99 99.9", true, Effect::Acts, "The percentiles INFO latencystats reports.").multi_arg().rewrite_as(RewriteAs::Always),
];

/// Directives Redis 7.0 no longer has but still skips in a config file
/// (`loadServerConfigFromString`'s `deprecated_configs`).
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Finds a directive by name or alias, case-insensitively.
pub fn lookup(name: &str) -> Option<&'static ConfigSpec> {
    CONFIG_TABLE.iter().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

impl Config {
    /// The encoding thresholds this configuration sets, for the data types
    /// ([`crate::store::encoding_limits`], which the server publishes them to at start and on
    /// CONFIG SET).
    pub fn encoding_limits(&self) -> crate::store::encoding_limits::Limits {
        let size = |name: &str| usize::try_from(self.kept_u64(name)).unwrap_or(usize::MAX);
        crate::store::encoding_limits::Limits {
            hash_max_listpack_entries: size("hash-max-listpack-entries"),
            hash_max_listpack_value: size("hash-max-listpack-value"),
            set_max_intset_entries: size("set-max-intset-entries"),
            zset_max_listpack_entries: size("zset-max-listpack-entries"),
            zset_max_listpack_value: size("zset-max-listpack-value"),
            hll_sparse_max_bytes: size("hll-sparse-max-bytes"),
            stream_node_max_entries: size("stream-node-max-entries"),
            stream_node_max_bytes: size("stream-node-max-bytes"),
            list_max_listpack_size: self
                .kept
                .get("list-max-listpack-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(-2),
        }
    }
}

/// A config file or command line problem, reported before the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is: "line 3" or "the command line".
    pub location: String,
    /// The offending line as written.
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (respd {}) ***\n",
            env!("CARGO_PKG_VERSION")
        )?;
        write!(
            f,
            "Reading the configuration file, at {}\n>>> '{}'\n{}",
            self.location, self.line, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Applies one directive with its arguments (a config file line, already split).
    ///
    /// A multi-word directive given one non-empty argument has it split again, quotes and
    /// all, as Redis's `loadServerConfigFromString` does: that is how a command line word
    /// such as `--bind "127.0.0.1 -::1"` or `--client-output-buffer-limit "normal 10mb 5mb 2"`
    /// (one argument holding every value) means the same as the config file line. An empty
    /// argument is left alone, so `save ""` still means "no save points".
    ///
    /// Errors are Redis's: an unknown name is "Bad directive or wrong number of arguments", a
    /// known single-value directive with another number of values "wrong number of
    /// arguments". The directives Redis 7.0 dropped but still skips in a config file
    /// (`list-max-ziplist-entries`, `list-max-ziplist-value`, `lua-replicate-commands`, each
    /// with one value) are skipped here too.
    pub fn apply(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        // Redis loadServerConfigFromString: `user` lines are checked now and loaded once the
        // server is up (ACLAppendUserForLoading).
        if name.eq_ignore_ascii_case("user") && !args.is_empty() {
            crate::acl::check_user_directive(args, &self.users)?;
            self.users.push(args.to_vec());
            return Ok(());
        }
        let Some(spec) = lookup(name) else {
            if args.len() == 1 && DEPRECATED.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                return Ok(());
            }
            return Err("Bad directive or wrong number of arguments".into());
        };
        if !spec.multi_arg && args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        if let [single] = args {
            if spec.multi_arg && !single.is_empty() {
                let mut words = Argv::new();
                split_args(single.as_bytes(), &mut words)
                    .map_err(|_| "Unbalanced quotes in configuration line".to_string())?;
                let words: Vec<String> = words
                    .iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                return spec.set_value(self, &words);
            }
        }
        spec.set_value(self, args)
    }

    /// Applies a whole config file's text (redis.conf syntax). `origin` names it in errors.
    ///
    /// Reading starts the config file mode of `save` (see [`Config::save_lines_read`]); the
    /// caller ends it with [`Config::finish_reading`] after the command line's directives.
    pub fn apply_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        self.save_lines_read.get_or_insert(false);
        for (i, raw_line) in text.lines().enumerate() {
            let line = raw_line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| ConfigError {
                location: format!("{origin}, line {}", i + 1),
                line: line.to_string(),
                reason,
            };
            let mut argv = Argv::new();
            split_args(line.as_bytes(), &mut argv)
                .map_err(|_| error("Unbalanced quotes in configuration line".into()))?;
            let words: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            self.apply(name, args).map_err(error)?;
        }
        Ok(())
    }

    /// Ends the reading of a config file and command line: from now on a `save` replaces
    /// the save points.
    pub fn finish_reading(&mut self) {
        self.save_lines_read = None;
    }

    /// A kept directive's value as a number (the encoding thresholds); 0 if it is not one.
    pub(crate) fn kept_u64(&self, name: &str) -> u64 {
        self.kept
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Makes this configuration's access tracking the one keys use (see
    /// [`crate::store::access`]): an LFU `maxmemory-policy` turns each key's access time into
    /// an access counter, with `lfu-log-factor` and `lfu-decay-time`.
    pub(crate) fn publish_access_tracking(&self) {
        let policy = self.kept.get("maxmemory-policy").map(String::as_str);
        let lfu = matches!(policy, Some("allkeys-lfu" | "volatile-lfu"));
        let factor = u32::try_from(self.kept_u64("lfu-log-factor")).unwrap_or(u32::MAX);
        let decay = u32::try_from(self.kept_u64("lfu-decay-time")).unwrap_or(u32::MAX);
        crate::store::access::configure(lfu, factor, decay);
    }

    /// True if the start banner is printed whatever the log is (`always-show-logo`).
    pub fn always_show_logo(&self) -> bool {
        self.kept.get("always-show-logo").map(String::as_str) == Some("yes")
    }

    /// The directives accepted for compatibility only ([`Effect::IgnoredWarn`]) that are set
    /// to something other than their default, with their values: what the start warns about.
    pub fn ignored_settings(&self) -> Vec<(&'static str, String)> {
        let defaults = Config::default();
        CONFIG_TABLE
            .iter()
            .filter(|spec| spec.effect == Effect::IgnoredWarn)
            .filter_map(|spec| {
                let value = spec.get_value(self);
                (value != spec.get_value(&defaults)).then_some((spec.name, value))
            })
            .collect()
    }

    /// `acl-pubsub-default allchannels`: new users may use every channel.
    pub(crate) fn acl_all_channels(&self) -> bool {
        self.kept.get("acl-pubsub-default").map(String::as_str) == Some("allchannels")
    }

    /// `protected-mode`.
    pub(crate) fn protected_mode(&self) -> bool {
        self.kept.get("protected-mode").map(String::as_str) == Some("yes")
    }

    /// `acllog-max-len`.
    pub(crate) fn acllog_max_len(&self) -> usize {
        usize::try_from(self.kept_u64("acllog-max-len")).unwrap_or(usize::MAX)
    }

    /// `aclfile`, empty when none.
    pub fn aclfile(&self) -> &str {
        self.kept.get("aclfile").map_or("", String::as_str)
    }

    /// `requirepass`, empty when none.
    pub fn requirepass(&self) -> &str {
        self.kept.get("requirepass").map_or("", String::as_str)
    }

    /// The output limit that applies to normal clients.
    pub(crate) fn normal_output_limit(&self) -> OutputLimit {
        self.output_limit_normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_redis() {
        let c = Config::default();
        assert_eq!(c.port, 6379);
        assert_eq!(c.bind, vec!["127.0.0.1", "-::1"]);
        assert_eq!(c.tcp_backlog, 511);
        assert_eq!(c.maxclients, 10000);
        assert_eq!(c.databases, 16);
        assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(c.output_limit_normal, OutputLimit::default());
        assert_eq!(
            c.output_limit_pubsub,
            OutputLimit {
                hard_bytes: 32 << 20,
                soft_bytes: 8 << 20,
                soft_seconds: 60
            }
        );
        assert_eq!(
            lookup("client-output-buffer-limit").unwrap().get_value(&c),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
    }

    #[test]
    fn file_syntax_and_errors() {
        let mut c = Config::default();
        c.apply_text(
            "# a comment\n\n  port 7000\nbind \"127.0.0.1\" ::1\nproto-max-bulk-len 2mb\n",
            "test.conf",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.proto_max_bulk_len, 2 << 20);
        let err = c.apply_text("port 1\nnonsense 3\n", "x.conf").unwrap_err();
        assert_eq!(err.location, "x.conf, line 2");
        assert_eq!(err.reason, "Bad directive or wrong number of arguments");
        let err = c.apply_text("port abc\n", "x.conf").unwrap_err();
        assert_eq!(err.reason, "argument couldn't be parsed into an integer");
        let err = c.apply_text("port 70000\n", "x.conf").unwrap_err();
        assert_eq!(err.reason, "argument must be between 0 and 65535 inclusive");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("3mb"), Some(3 << 20));
        assert_eq!(parse_memory("2g"), Some(2_000_000_000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("mb"), None);
    }
    #[test]
    fn kept_directives_parse_as_redis_does() {
        let mut c = Config::default();
        let set = |c: &mut Config, line: &str| c.apply_text(line, "t").map_err(|e| e.reason);
        assert_eq!(
            set(&mut c, "daemonize maybe"),
            Err("argument must be 'yes' or 'no'".into())
        );
        assert_eq!(
            set(&mut c, "maxmemory 1x"),
            Err("argument must be a memory value".into())
        );
        assert_eq!(
            set(&mut c, "maxclients -1"),
            Err("argument must be between 1 and 4294967295 inclusive".into())
        );
        assert_eq!(
            set(&mut c, "unixsocketperm 999"),
            Err("argument couldn't be parsed as an octal number".into())
        );
        assert_eq!(
            set(&mut c, "port 1 2"),
            Err("wrong number of arguments".into())
        );
        set(
            &mut c,
            "slave-serve-stale-data no\nmaxmemory-clients 5%\nnotify-keyspace-events KEA",
        )
        .unwrap();
        set(&mut c, "slaveof 10.0.0.1 6380\nlist-max-ziplist-entries 5").unwrap();
        let get = |c: &Config, name: &str| lookup(name).unwrap().get_value(c);
        assert_eq!(get(&c, "replica-serve-stale-data"), "no");
        assert_eq!(get(&c, "maxmemory-clients"), "5%");
        assert_eq!(get(&c, "notify-keyspace-events"), "AKE");
        assert_eq!(get(&c, "replicaof"), "10.0.0.1 6380");
        assert_eq!(get(&Config::default(), "replicaof"), "");
        let warned: Vec<&str> = c.ignored_settings().iter().map(|(n, _)| *n).collect();
        assert_eq!(warned, ["maxmemory-clients"]);
    }
}
