//! The `respd` binary: command line → config → listeners → server → wait for a signal.
//!
//! Everything else lives in the library, so tests and benchmarks can start the same server
//! in-process.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Arg, ArgAction, Command};

use respd::config::{Config, CONFIG_TABLE};
use respd::server::{self, ShutdownRequest};
use respd::{notice, warning};

/// Builds the command line from the config table: every directive is also a `--flag`, as with
/// redis-server (`respd /etc/respd.conf --port 7000`).
fn cli() -> Command {
    let mut cmd = Command::new("respd")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A Redis 7.0 compatible key-value server built from plain blocking threads")
        .after_help("Any config file directive can be given as --directive value; command line values override the file.\nExamples:\n  respd\n  respd /etc/respd/respd.conf\n  respd --port 7777 --bind 127.0.0.1 ::1\n  respd --maxclients 50000 --loglevel verbose")
        .arg(Arg::new("config-file").value_name("CONFIG-FILE").help("A redis.conf-style configuration file").required(false));
    for spec in CONFIG_TABLE {
        let arg = Arg::new(spec.name)
            .long(spec.name)
            .help(format!("{} [default: {}]", spec.doc, spec.default))
            .action(ArgAction::Append)
            .allow_hyphen_values(true)
            .value_name("VALUE");
        let arg = if spec.multi_arg {
            arg.num_args(1..)
        } else {
            arg.num_args(1)
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

/// Reads the config file (if any), then applies command line directives in the order given.
fn load_config() -> Result<Config, String> {
    let matches = match cli().try_get_matches() {
        Ok(m) => m,
        // --help and --version print and exit 0; any other command line error exits 1, as
        // redis-server does for a bad directive.
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let _ = e.print();
            std::process::exit(1);
        }
    };
    let mut config = Config::default();
    if let Some(path) = matches.get_one::<String>("config-file") {
        let text = if path == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| format!("Fatal error, can't read config from standard input: {e}"))?
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?
        };
        config.apply_text(&text, path).map_err(|e| e.to_string())?;
        if path != "-" {
            // INFO config_file shows it and CONFIG REWRITE needs it, as an absolute path.
            config.config_file = std::fs::canonicalize(path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| path.clone());
        }
    }
    // Later occurrences win, across directives, so sort every value by its position.
    let mut given: Vec<(usize, &str, Vec<String>)> = Vec::new();
    for spec in CONFIG_TABLE {
        let (Some(indices), Some(occurrences)) = (
            matches.indices_of(spec.name),
            matches.get_occurrences::<String>(spec.name),
        ) else {
            continue;
        };
        let indices: Vec<usize> = indices.collect();
        let mut at = 0;
        for occurrence in occurrences {
            let values: Vec<String> = occurrence.cloned().collect();
            given.push((indices[at], spec.name, values.clone()));
            at += values.len();
        }
    }
    given.sort_by_key(|(i, _, _)| *i);
    for (_, name, values) in given {
        config.apply(name, &values).map_err(|reason| {
            respd::config::ConfigError {
                location: "the command line".into(),
                line: format!("--{name} {}", values.join(" ")),
                reason,
            }
            .to_string()
        })?;
    }
    Ok(config)
}

fn main() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(1);
        }
    };
    respd::log::set_level(config.loglevel);
    if let Err(e) = respd::log::set_file(&config.logfile) {
        eprintln!("Can't open the log file: {e}");
        return ExitCode::from(1);
    }
    notice!("respd is starting");
    notice!(
        "respd version={}, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );

    let listeners = match server::bind_all(&config) {
        Ok(l) => l,
        Err(e) => {
            warning!("{e}");
            return ExitCode::from(1);
        }
    };
    let pidfile = config.pidfile.clone();
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            warning!("Failed to write PID file: {e}");
        }
    }
    // Load the dump before serving anyone (Redis loads before entering its event loop). A
    // dump that fails to load stops the start, so it is never overwritten by a later save.
    let mut keyspace = respd::store::Keyspace::new(config.databases);
    let load_stats = match respd::persistence::load_at_start(&config, &mut keyspace) {
        Ok(stats) => stats,
        Err(message) => {
            warning!("{message}");
            return ExitCode::from(1);
        }
    };
    let handle = match server::start_with(listeners, config, keyspace) {
        Ok(h) => h,
        Err(e) => {
            warning!("Failed to start: {e}");
            return ExitCode::from(1);
        }
    };

    // The handler only sends a message, as Redis's only sets a flag; the main thread does the
    // work. A second signal while shutting down exits at once.
    static SIGNALLED: AtomicBool = AtomicBool::new(false);
    let requests = handle.shutdown_sender();
    if let Err(e) = ctrlc::set_handler(move || {
        if SIGNALLED.swap(true, Ordering::SeqCst) {
            warning!("You insist... exiting now.");
            std::process::exit(1);
        }
        let _ = requests.send(ShutdownRequest::Signal);
    }) {
        warning!("Cannot install the signal handler: {e}");
    }
    handle.shared().persistence.note_load(&load_stats);
    for addr in handle.local_addrs() {
        notice!("Listening on {addr}");
    }
    notice!("Ready to accept connections tcp");

    // With save points configured, a signal saves before exiting, as Redis does; if the save
    // fails the server keeps running rather than lose the data. SHUTDOWN saved already.
    let shared = handle.shared().clone();
    let saved = loop {
        let saved = match handle.wait_for_shutdown_request() {
            ShutdownRequest::Signal => {
                notice!("Received SIGINT or SIGTERM scheduling shutdown...");
                let save = respd::persistence::save_on_shutdown(&shared);
                if save && respd::persistence::final_save(&shared).is_err() {
                    warning!("Error trying to save the DB, can't exit.");
                    SIGNALLED.store(false, Ordering::SeqCst);
                    continue;
                }
                save
            }
            ShutdownRequest::Command { saved } => {
                notice!("User requested shutdown...");
                saved
            }
        };
        break saved;
    };
    SIGNALLED.store(true, Ordering::SeqCst);
    handle.shutdown();
    respd::persistence::aof::shutdown(&shared);
    // Writes that slipped in between the final save and the closing of the clients.
    if saved && respd::persistence::dirty(&shared) > 0 {
        let _ = respd::persistence::final_save(&shared);
    }
    shared.persistence.wait_for_bgsave();
    if !pidfile.is_empty() {
        notice!("Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    notice!("respd is now ready to exit, bye bye...");
    ExitCode::SUCCESS
}
