//! The `respd` binary: command line → config → listeners → server → wait for a signal.
//!
//! Everything else lives in the library, so tests and benchmarks can start the same server
//! in-process.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Arg, ArgAction, Command};

use respd::config::{Config, CONFIG_TABLE};
use respd::server;
use respd::shared::ShutdownRequest;
use respd::systemd;
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
/// Returns the command line too, for SIGHUP reloads.
fn load_config() -> Result<(Config, CommandLine), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // clap prints --help (generated from the config table) and --version. The directives
    // themselves are split the way redis-server splits them: every `--name` starts a new
    // directive and takes all the words up to the next `--name`, so multi-word values such as
    // `--bind 127.0.0.1 -::1` and empty ones such as `--save ""` work anywhere on the line
    // (a generic option parser would let `--bind` swallow the options after it).
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"))
    {
        if let Err(e) = cli().try_get_matches() {
            e.exit();
        }
    }
    let (config_file, directives) = split_command_line(&args)?;
    let command_line = CommandLine {
        config_file,
        directives,
    };
    let config = build_config(&command_line)?;
    Ok((config, command_line))
}

/// What a signal asks for.
enum Signal {
    /// SIGINT or SIGTERM: shut down.
    Stop,
    /// SIGHUP: reload the configuration file.
    Reload,
}

/// What the command line said: the config file and the `--directive` options.
struct CommandLine {
    config_file: Option<String>,
    directives: Vec<Directive>,
}

/// Defaults, then the config file, then the command line options (later ones win).
fn build_config(command_line: &CommandLine) -> Result<Config, String> {
    // The file and the command line are read as one text, as redis-server does (a `save`
    // given on both adds points; see Config::save_lines_read).
    let mut config = Config {
        save_lines_read: Some(false),
        ..Config::default()
    };
    if let Some(path) = &command_line.config_file {
        let text = if path == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| format!("Fatal error, can't read config from standard input: {e}"))?
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?
        };
        config.apply_text(&text, path).map_err(|e| e.to_string())?;
        if path != "-" {
            // INFO config_file shows it and CONFIG REWRITE writes it, as an absolute path
            // made the way Redis makes it (symbolic links kept).
            config.config_file = respd::config::absolute_path(path).unwrap_or_else(|| path.clone());
        }
    }
    for (name, values) in &command_line.directives {
        config.apply(name, values).map_err(|reason| {
            respd::config::ConfigError {
                location: "the command line".into(),
                line: format!("--{name} {}", values.join(" ")),
                reason,
            }
            .to_string()
        })?;
    }
    config.finish_reading();
    Ok(config)
}

/// SIGHUP: reads the config file again and applies every directive that may change at run
/// time, as CONFIG SET would; directives that need a restart are only logged. A file that no
/// longer parses changes nothing. systemd is told RELOADING=1 and then READY=1.
fn reload(shared: &respd::shared::Shared, command_line: &CommandLine) {
    systemd::notify(&format!(
        "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC={}",
        respd::sys::monotonic_usec()
    ));
    match command_line.config_file.as_deref() {
        None | Some("-") => notice!("Received SIGHUP: there is no config file to reload"),
        Some(_) => match build_config(command_line) {
            Err(message) => warning!(
                "Received SIGHUP, but the config file has an error; nothing changed:{message}"
            ),
            Ok(fresh) => {
                let mut updated = shared.config.read().clone();
                let (mut changed, mut restart) = (Vec::new(), Vec::new());
                for spec in CONFIG_TABLE {
                    let (now, wanted) = (spec.get_value(&updated), spec.get_value(&fresh));
                    if now == wanted {
                        continue;
                    }
                    if !spec.mutable {
                        restart.push(spec.name);
                        continue;
                    }
                    let mut words = respd::protocol::Argv::new();
                    let _ = respd::protocol::parse::split_args(wanted.as_bytes(), &mut words);
                    let words: Vec<String> = if spec.multi_arg {
                        words
                            .iter()
                            .map(|w| String::from_utf8_lossy(w).into_owned())
                            .collect()
                    } else {
                        vec![wanted.clone()]
                    };
                    match spec.set_value(&mut updated, &words) {
                        Ok(()) => changed.push(spec.name),
                        Err(e) => warning!("SIGHUP: {} not changed: {e}", spec.name),
                    }
                }
                // New listening sockets, as CONFIG SET binds them; if they cannot be had,
                // the old ones stay, and so do `port` and `bind`.
                let running = shared.config.read().clone();
                if updated.port != running.port || updated.bind != running.bind {
                    let moved = if systemd::sockets_passed() {
                        Err("the sockets were passed by systemd socket activation".to_string())
                    } else {
                        shared
                            .listeners
                            .bind_for(&updated)
                            .and_then(|new| shared.serve_listeners(new))
                            .map_err(|e| e.to_string())
                    };
                    if let Err(why) = moved {
                        warning!("SIGHUP: port and bind not changed: {why}");
                        updated.port = running.port;
                        updated.bind = running.bind;
                        changed.retain(|name| !matches!(*name, "port" | "bind"));
                    }
                }
                // A higher maxclients needs room in the open files limit, as at start.
                if let Ok(maxclients) = server::adjust_open_files_limit(updated.maxclients) {
                    updated.maxclients = maxclients;
                }
                respd::log::set_level(updated.loglevel);
                shared.replace_config(updated);
                respd::persistence::aof::config_changed(shared);
                notice!(
                    "Received SIGHUP: configuration reloaded; changed: [{}]",
                    changed.join(", ")
                );
                if !restart.is_empty() {
                    warning!("SIGHUP: these directives changed in the file but only take effect after a restart: {}", restart.join(", "));
                }
            }
        },
    }
    systemd::notify("READY=1\nSTATUS=Ready to accept connections");
}

/// Warns about the directives respd accepts but ignores when they are set to something a
/// user would expect to matter (Redis's own `requirepass`, `maxmemory`, `daemonize yes`...).
fn warn_about_ignored_settings(config: &Config) {
    for (name, value) in config.ignored_settings() {
        if name == "daemonize" {
            warning!("daemonize {value}: respd always runs in the foreground (let systemd or another supervisor put it in the background); the directive is ignored");
        } else {
            warning!("'{name} {value}' is accepted for compatibility with Redis but has no effect in respd (see respd.conf(5), COMPATIBILITY DIRECTIVES)");
        }
    }
}

/// The start banner, with Redis's `Port:` and `PID:` lines (tools find the process by the
/// latter), printed when `always-show-logo` is yes or the log is a terminal, as Redis does;
/// otherwise Redis's one-line "Running mode" notice.
fn show_banner(config: &Config, port: u16) {
    use std::io::IsTerminal;
    let to_terminal = config.logfile.is_empty() && std::io::stdout().is_terminal();
    if !(config.always_show_logo() || to_terminal) {
        notice!("Running mode=standalone, port={port}.");
        return;
    }
    let version = env!("CARGO_PKG_VERSION");
    let pid = std::process::id();
    let banner = format!(
        "
      .-------------.
      |  r e s p d  |     respd {version} (Redis 7.0 compatible) 64 bit
      |-------------|
      |  > SET k v  |     Running in standalone mode
      |  < +OK      |     Port: {port}
      |  > GET k    |     PID: {pid}
      |  < \"v\"      |
      '-------------'     one thread per connection, blocking I/O

"
    );
    respd::log::raw(respd::config::LogLevel::Notice, &banner);
}

/// A directive given on the command line, with its words.
type Directive = (String, Vec<String>);

/// Splits the command line into an optional config file (the first word, if it is not an
/// option) and `--directive value...` groups, as redis-server does. `--name=value` is accepted
/// too. Errors name the offending word.
fn split_command_line(args: &[String]) -> Result<(Option<String>, Vec<Directive>), String> {
    let mut words = args.iter().peekable();
    let config_file = match words.peek() {
        Some(first) if !first.starts_with("--") => words.next().cloned(),
        _ => None,
    };
    let mut directives: Vec<Directive> = Vec::new();
    for word in words {
        if let Some(option) = word.strip_prefix("--") {
            // One word may hold the name and its values (`"--port 6380"`): redis-server
            // appends it to the config text as is, where the line splitter separates them.
            let mut words = respd::protocol::Argv::new();
            let (name, inline_values) = match option.split_once('=') {
                Some((n, v)) if !n.contains(char::is_whitespace) => {
                    (n.to_string(), vec![v.to_string()])
                }
                _ if option.contains(char::is_whitespace) => {
                    respd::protocol::parse::split_args(option.as_bytes(), &mut words)
                        .map_err(|_| format!("Unbalanced quotes in option '{word}'"))?;
                    let mut words = words
                        .iter()
                        .map(|w| String::from_utf8_lossy(w).into_owned());
                    let name = words.next().unwrap_or_default();
                    (name, words.collect())
                }
                _ => (option.to_string(), Vec::new()),
            };
            // `user` is not a directive of the table but a line of its own (ACL users), which
            // Redis takes on the command line too.
            if respd::config::lookup(&name).is_none() && !name.eq_ignore_ascii_case("user") {
                return Err(format!(
                    "Unknown option '--{name}': not a respd directive (see respd --help)"
                ));
            }
            directives.push((name.to_ascii_lowercase(), inline_values));
        } else if let Some((_, values)) = directives.last_mut() {
            values.push(word.clone());
        } else {
            return Err(format!(
                "Unexpected argument '{word}': only the config file may come before the options"
            ));
        }
    }
    Ok((config_file, directives))
}

fn main() -> ExitCode {
    let (config, command_line) = match load_config() {
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
    notice!("Configuration loaded");
    warn_about_ignored_settings(&config);

    // The signal handlers go in first, before the (possibly long) load: a SIGTERM at any
    // point of the start must mean "shut down cleanly", never the default action of dying on
    // the spot. A handler only sends a message, as Redis's only sets a flag; the main thread
    // does the work. A second stop signal while shutting down exits at once.
    //
    // SIGINT comes through ctrlc. SIGTERM and SIGHUP come through signal-hook, because ctrlc
    // (with its `termination` feature) delivers SIGHUP exactly like SIGTERM, and SIGHUP means
    // "reload the configuration" to a service manager.
    static SIGNALLED: AtomicBool = AtomicBool::new(false);
    let (signal_tx, signals) = crossbeam_channel::unbounded::<Signal>();
    let stop = {
        let signal_tx = signal_tx.clone();
        move || {
            if SIGNALLED.swap(true, Ordering::SeqCst) {
                warning!("You insist... exiting now.");
                std::process::exit(1);
            }
            let _ = signal_tx.send(Signal::Stop);
        }
    };
    if let Err(e) = ctrlc::set_handler(stop.clone()) {
        warning!("Cannot install the SIGINT handler: {e}");
    }
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(mut hooked) => {
            std::thread::spawn(move || {
                for signal in hooked.forever() {
                    if signal == signal_hook::consts::SIGHUP {
                        let _ = signal_tx.send(Signal::Reload);
                    } else {
                        stop();
                    }
                }
            });
        }
        Err(e) => warning!("Cannot install the SIGTERM/SIGHUP handlers: {e}"),
    }

    // Before binding anything: `supervised systemd` outside systemd fails fast.
    if let Err(message) = systemd::init(config.supervised) {
        warning!("{message}");
        return ExitCode::from(1);
    }
    // Room for maxclients in the open files limit, or a lower maxclients (Redis initServer).
    let mut config = config;
    match server::adjust_open_files_limit(config.maxclients) {
        Ok(maxclients) => config.maxclients = maxclients,
        Err(message) => {
            warning!("{message}");
            return ExitCode::from(1);
        }
    }
    // Sockets passed by systemd (socket activation) that match `bind`/`port`, plus the rest.
    let listeners = match systemd::listeners(&config) {
        Ok(l) => l,
        Err(e) => {
            warning!("{e}");
            // Redis's words, which tools (Redis's own test suite) look for to retry elsewhere.
            warning!("Failed listening on port {} (TCP), aborting.", config.port);
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
    // Under systemd the start timeout is extended for as long as the loader makes progress.
    let loaded =
        systemd::while_loading(|| respd::persistence::load_at_start(&config, &mut keyspace));
    let load_stats = match loaded {
        Ok(stats) => stats,
        Err(message) => {
            warning!("{message}");
            if !pidfile.is_empty() {
                let _ = std::fs::remove_file(&pidfile);
            }
            return ExitCode::from(1);
        }
    };
    let handle = match server::start_with(listeners, config, keyspace) {
        Ok(h) => h,
        Err(e) => {
            warning!("Failed to start: {e}");
            if !pidfile.is_empty() {
                let _ = std::fs::remove_file(&pidfile);
            }
            return ExitCode::from(1);
        }
    };

    // Signals that arrived while loading are handled now that the server exists.
    let requests = handle.shutdown_sender();
    let reload_shared = handle.shared().clone();
    std::thread::spawn(move || {
        for signal in signals.iter() {
            match signal {
                Signal::Stop => {
                    let _ = requests.send(ShutdownRequest::Signal);
                }
                Signal::Reload => reload(&reload_shared, &command_line),
            }
        }
    });
    handle.shared().persistence.note_load(&load_stats);
    if let Err(message) = respd::persistence::load_functions(handle.shared(), &load_stats) {
        warning!("{message}");
        return ExitCode::from(1);
    }
    let port = handle.local_addrs().first().map_or(0, |a| a.port());
    show_banner(&handle.shared().config.read(), port);
    for addr in &handle.local_addrs() {
        notice!("Listening on {addr}");
    }
    notice!("Ready to accept connections tcp");
    // Only now: the data is loaded and every listener is bound and accepting.
    systemd::notify("READY=1\nSTATUS=Ready to accept connections");

    // With save points configured, a signal saves before exiting, as Redis does; if the save
    // fails the server keeps running rather than lose the data. SHUTDOWN saved already.
    let shared = handle.shared().clone();
    let saved = loop {
        let saved = match handle.wait_for_shutdown_request() {
            ShutdownRequest::Signal => {
                notice!("Received SIGINT or SIGTERM scheduling shutdown...");
                let save = respd::persistence::save_on_shutdown(&shared);
                systemd::notify(if save {
                    "STOPPING=1\nSTATUS=Saving final snapshot"
                } else {
                    "STOPPING=1\nSTATUS=Shutting down"
                });
                if save && respd::persistence::final_save(&shared).is_err() {
                    warning!("Error trying to save the DB, can't exit.");
                    systemd::notify("STATUS=Error trying to save the DB, can't exit");
                    SIGNALLED.store(false, Ordering::SeqCst);
                    continue;
                }
                save
            }
            ShutdownRequest::Command { saved } => {
                notice!("User requested shutdown...");
                // SHUTDOWN saved (or not) in its handler already.
                systemd::notify("STOPPING=1\nSTATUS=Shutting down");
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
