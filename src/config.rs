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

use std::fmt;

use crate::protocol::parse::split_args;
use crate::protocol::Argv;

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
    fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Nothing => "nothing",
        }
    }
}

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
    /// Absolute path of the config file the server was started with, empty if none. Not a
    /// directive: INFO `config_file` shows it and CONFIG REWRITE needs it.
    pub config_file: String,
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
            config_file: String::new(),
        };
        for spec in CONFIG_TABLE {
            let mut args = Argv::new();
            split_args(spec.default.as_bytes(), &mut args).expect("default parses");
            let args: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (spec.set)(&mut config, &args)
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
    /// One line of documentation (for --help, the manual page and the example config).
    pub doc: &'static str,
    /// Parses and stores a value; the error is Redis's wording of the problem.
    pub set: fn(&mut Config, &[String]) -> Result<(), String>,
    /// Renders the current value as CONFIG GET shows it.
    pub get: fn(&Config) -> String,
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
pub fn parse_memory(v: &str) -> Option<u64> {
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

/// `save <seconds> <changes> [<seconds> <changes> ...]`, or `save ""` for none. Each setting
/// replaces the whole list (Redis appends when several `save` lines appear in a config file;
/// respd wants them on one line).
fn set_save_points(c: &mut Config, args: &[String]) -> Result<(), String> {
    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if words.len() % 2 != 0 {
        return Err("Invalid save parameters".into());
    }
    let mut points = Vec::new();
    for pair in words.chunks(2) {
        let parse = |w: &str| {
            crate::util::parse_u64(w.as_bytes())
                .ok_or_else(|| "Invalid save parameters".to_string())
        };
        points.push((parse(pair[0])?, parse(pair[1])?));
    }
    c.save = points;
    Ok(())
}

fn set_output_limits(c: &mut Config, args: &[String]) -> Result<(), String> {
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

fn get_output_limits(c: &Config) -> String {
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

/// Every directive respd understands.
pub static CONFIG_TABLE: &[ConfigSpec] = &[
    ConfigSpec {
        name: "port",
        aliases: &[],
        default: "6379",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "TCP port to listen on.",
        set: |c, a| {
            c.port = parse_int(one(a)?, 0, 65535)? as u16;
            Ok(())
        },
        get: |c| c.port.to_string(),
    },
    ConfigSpec {
        name: "bind",
        aliases: &[],
        default: "127.0.0.1 -::1",
        mutable: false,
        protected: false,
        multi_arg: true,
        doc: "Addresses to listen on. A leading '-' makes an address optional (skipped if it cannot be bound).",
        set: |c, a| {
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
        get: |c| c.bind.join(" "),
    },
    ConfigSpec {
        name: "tcp-backlog",
        aliases: &[],
        default: "511",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Listen backlog: connections the kernel queues before respd accepts them.",
        set: |c, a| {
            c.tcp_backlog = parse_int(one(a)?, 0, i32::MAX as i64)? as u32;
            Ok(())
        },
        get: |c| c.tcp_backlog.to_string(),
    },
    ConfigSpec {
        name: "maxclients",
        aliases: &[],
        default: "10000",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Most clients connected at once; the next one gets '-ERR max number of clients reached'.",
        set: |c, a| {
            c.maxclients = parse_int(one(a)?, 1, u32::MAX as i64)? as usize;
            Ok(())
        },
        get: |c| c.maxclients.to_string(),
    },
    ConfigSpec {
        name: "timeout",
        aliases: &[],
        default: "0",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Close a client after this many idle seconds (0 = never).",
        set: |c, a| {
            c.timeout = parse_int(one(a)?, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
        get: |c| c.timeout.to_string(),
    },
    ConfigSpec {
        name: "tcp-keepalive",
        aliases: &[],
        default: "300",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Send TCP keepalives to idle clients every this many seconds (0 = off).",
        set: |c, a| {
            c.tcp_keepalive = parse_int(one(a)?, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
        get: |c| c.tcp_keepalive.to_string(),
    },
    ConfigSpec {
        name: "loglevel",
        aliases: &[],
        default: "notice",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Log verbosity: debug, verbose, notice, warning or nothing.",
        set: |c, a| {
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
        get: |c| c.loglevel.name().into(),
    },
    ConfigSpec {
        name: "logfile",
        aliases: &[],
        default: "\"\"",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Log file path; empty logs to standard error (what systemd's journal collects).",
        set: |c, a| {
            c.logfile = one(a)?.to_string();
            Ok(())
        },
        get: |c| c.logfile.clone(),
    },
    ConfigSpec {
        name: "databases",
        aliases: &[],
        default: "16",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Number of logical databases (SELECT 0 to databases-1).",
        set: |c, a| {
            c.databases = parse_int(one(a)?, 1, i32::MAX as i64)? as usize;
            Ok(())
        },
        get: |c| c.databases.to_string(),
    },
    ConfigSpec {
        name: "proto-max-bulk-len",
        aliases: &[],
        default: "512mb",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Largest bulk string a client may send.",
        set: |c, a| {
            c.proto_max_bulk_len = parse_mem_arg(one(a)?, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        },
        get: |c| c.proto_max_bulk_len.to_string(),
    },
    ConfigSpec {
        name: "client-query-buffer-limit",
        aliases: &[],
        default: "1gb",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Largest unparsed input one client may accumulate before it is disconnected.",
        set: |c, a| {
            c.client_query_buffer_limit = parse_mem_arg(one(a)?, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        },
        get: |c| c.client_query_buffer_limit.to_string(),
    },
    ConfigSpec {
        name: "client-output-buffer-limit",
        aliases: &[],
        default: "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60",
        mutable: true,
        protected: false,
        multi_arg: true,
        doc: "Per class (normal, replica, pubsub): hard limit, soft limit and soft seconds for queued replies; 0 disables a limit.",
        set: set_output_limits,
        get: get_output_limits,
    },
    ConfigSpec {
        name: "hz",
        aliases: &[],
        default: "10",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "How many times per second background tasks (active expiry) run.",
        set: |c, a| {
            // Redis clamps out-of-range values instead of refusing them.
            c.hz = parse_int(one(a)?, i32::MIN as i64, i32::MAX as i64)?.clamp(1, 500) as u32;
            Ok(())
        },
        get: |c| c.hz.to_string(),
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
        doc: "Snapshot save points: pairs of <seconds> <changes>; a background save starts when both are reached. \"\" (the default) disables them; Redis's own default is 3600 1 300 100 60 10000.",
        set: set_save_points,
        get: |c| {
            let pairs: Vec<String> = c.save.iter().map(|(s, n)| format!("{s} {n}")).collect();
            pairs.join(" ")
        },
    },
    ConfigSpec {
        name: "dir",
        aliases: &[],
        default: "./",
        mutable: true,
        protected: true,
        multi_arg: false,
        doc: "Directory where the dump file (and its temporary files) are written.",
        set: |c, a| {
            let dir = one(a)?;
            if !std::path::Path::new(dir).is_dir() {
                return Err("No such file or directory".into());
            }
            c.dir = dir.to_string();
            Ok(())
        },
        get: |c| c.dir.clone(),
    },
    ConfigSpec {
        name: "dbfilename",
        aliases: &[],
        default: "dump.rdb",
        mutable: true,
        protected: true,
        multi_arg: false,
        doc: "File name of the RDB dump inside dir.",
        set: |c, a| {
            let name = one(a)?;
            if name.contains('/') || name.is_empty() {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = name.to_string();
            Ok(())
        },
        get: |c| c.dbfilename.clone(),
    },
    ConfigSpec {
        name: "rdbcompression",
        aliases: &[],
        default: "yes",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Compress strings longer than 20 bytes in the dump with LZF.",
        set: |c, a| {
            c.rdbcompression = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |c| yes_no(c.rdbcompression),
    },
    ConfigSpec {
        name: "rdbchecksum",
        aliases: &[],
        default: "yes",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Write a CRC64 checksum at the end of the dump and verify it when loading.",
        set: |c, a| {
            c.rdbchecksum = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |c| yes_no(c.rdbchecksum),
    },
    ConfigSpec {
        name: "stop-writes-on-bgsave-error",
        aliases: &[],
        default: "yes",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Refuse write commands (MISCONF error) while the last background save failed and save points are set.",
        set: |c, a| {
            c.stop_writes_on_bgsave_error = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |c| yes_no(c.stop_writes_on_bgsave_error),
    },
    ConfigSpec {
        name: "appendonly",
        aliases: &[],
        default: "no",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Log every write command to the append-only file, and load it at start instead of the dump.",
        set: |c, a| {
            c.appendonly = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |c| yes_no(c.appendonly),
    },
    ConfigSpec {
        name: "appendfsync",
        aliases: &[],
        default: "everysec",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "When the append-only file is fsynced: always (before each reply), everysec, or no (left to the OS).",
        set: |c, a| {
            c.appendfsync = match one(a)?.to_ascii_lowercase().as_str() {
                "always" => AppendFsync::Always,
                "everysec" => AppendFsync::EverySec,
                "no" => AppendFsync::No,
                _ => return Err("argument(s) must be one of the following: everysec, always, no".into()),
            };
            Ok(())
        },
        get: |c| c.appendfsync.name().into(),
    },
    ConfigSpec {
        name: "appendfilename",
        aliases: &[],
        default: "appendonly.aof",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "File name of the append-only file inside dir (one file, not Redis 7's appenddirname directory).",
        set: |c, a| {
            let name = one(a)?;
            if name.contains('/') || name.is_empty() {
                return Err("appendfilename can't be a path, just a filename".into());
            }
            c.appendfilename = name.to_string();
            Ok(())
        },
        get: |c| c.appendfilename.clone(),
    },
    ConfigSpec {
        name: "auto-aof-rewrite-percentage",
        aliases: &[],
        default: "100",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Rewrite the append-only file when it grew by this percentage since the last rewrite; 0 disables.",
        set: |c, a| {
            c.auto_aof_rewrite_percentage = parse_int(one(a)?, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
        get: |c| c.auto_aof_rewrite_percentage.to_string(),
    },
    ConfigSpec {
        name: "auto-aof-rewrite-min-size",
        aliases: &[],
        default: "64mb",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Smallest append-only file size at which an automatic rewrite may start.",
        set: |c, a| {
            c.auto_aof_rewrite_min_size = parse_mem_arg(one(a)?, 0, i64::MAX as u64)?;
            Ok(())
        },
        get: |c| c.auto_aof_rewrite_min_size.to_string(),
    },
    ConfigSpec {
        name: "aof-load-truncated",
        aliases: &[],
        default: "yes",
        mutable: true,
        protected: false,
        multi_arg: false,
        doc: "Load a truncated append-only file up to its last whole command (and cut the torn tail) instead of refusing to start.",
        set: |c, a| {
            c.aof_load_truncated = parse_bool(one(a)?)?;
            Ok(())
        },
        get: |c| yes_no(c.aof_load_truncated),
    },
    ConfigSpec {
        name: "pidfile",
        aliases: &[],
        default: "\"\"",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Write the process id to this file at start and remove it at exit; empty for none.",
        set: |c, a| {
            c.pidfile = one(a)?.to_string();
            Ok(())
        },
        get: |c| c.pidfile.clone(),
    },
    ConfigSpec {
        name: "thread-stack-size",
        aliases: &[],
        default: "256kb",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Stack size of each connection thread (respd only). Small stacks let thousands of clients fit in memory.",
        set: |c, a| {
            c.thread_stack_size = parse_mem_arg(one(a)?, 64 * 1024, 1 << 30)?;
            Ok(())
        },
        get: |c| c.thread_stack_size.to_string(),
    },
    ConfigSpec {
        name: "supervised",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Supervision: 'systemd' speaks systemd's notify protocol (READY=1, STATUS, STOPPING=1, WATCHDOG=1) and fails to start without $NOTIFY_SOCKET; 'auto' does so only if $NOTIFY_SOCKET is set; 'no' does not.",
        set: |c, a| {
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
        get: |c| c.supervised.name().into(),
    },
    ConfigSpec {
        name: "enable-protected-configs",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Who may change the protected directives (dir, dbfilename) with CONFIG SET: no, yes, or local (clients on 127.0.0.1 or ::1).",
        set: |c, a| {
            c.enable_protected_configs = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
        get: |c| c.enable_protected_configs.name().into(),
    },
    ConfigSpec {
        name: "enable-debug-command",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Who may run DEBUG: no, yes, or local. Accepted for redis.conf compatibility; respd has no DEBUG command.",
        set: |c, a| {
            c.enable_debug_command = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
        get: |c| c.enable_debug_command.name().into(),
    },
    ConfigSpec {
        name: "enable-module-command",
        aliases: &[],
        default: "no",
        mutable: false,
        protected: false,
        multi_arg: false,
        doc: "Who may run MODULE: no, yes, or local. Accepted for redis.conf compatibility; respd loads no modules.",
        set: |c, a| {
            c.enable_module_command = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
        get: |c| c.enable_module_command.name().into(),
    },
];

/// Finds a directive by name or alias, case-insensitively.
pub fn lookup(name: &str) -> Option<&'static ConfigSpec> {
    CONFIG_TABLE.iter().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
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
    pub fn apply(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let spec =
            lookup(name).ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        if !spec.multi_arg && args.len() != 1 {
            return Err("Bad directive or wrong number of arguments".into());
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
                return (spec.set)(self, &words);
            }
        }
        (spec.set)(self, args)
    }

    /// Applies a whole config file's text (redis.conf syntax). `origin` names it in errors.
    pub fn apply_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
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

    /// The output limit that applies to normal clients.
    pub fn normal_output_limit(&self) -> OutputLimit {
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
            get_output_limits(&c),
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
}
