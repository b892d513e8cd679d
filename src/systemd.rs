//! Life under systemd: the notify protocol (`sd_notify`), the watchdog, and socket activation.
//!
//! Counterpart of Redis `server.c`'s `redisSupervisedMode` / `redisCommunicateSystemd`, with
//! more than Redis does (it only sends READY=1 and a few STATUS lines):
//!
//! | when | what respd sends |
//! |---|---|
//! | loading the dump | `EXTEND_TIMEOUT_USEC=` and `STATUS=Loading N%`, again every second while the loader advances |
//! | data loaded, listeners bound | `READY=1` and `STATUS=Ready to accept connections` |
//! | SIGTERM / SHUTDOWN | `STOPPING=1`, then `STATUS=Saving final snapshot` if it saves |
//! | every `WATCHDOG_USEC / 2` | `WATCHDOG=1`, but only after taking the keyspace's write lock |
//!
//! # The protocol
//! The service manager puts the path of a Unix datagram socket in `$NOTIFY_SOCKET` (a leading
//! `@` means a Linux *abstract* socket, a name with no file behind it). Each message is one
//! datagram of `NAME=value` lines. That is all `sd_notify(3)` does, so respd speaks it with
//! std's [`UnixDatagram`] instead of linking libsystemd.
//!
//! # Why the watchdog takes the store lock
//! A watchdog ping proves only what the code path sending it proves. A thread that just sleeps
//! and pings would keep a deadlocked server alive forever. So the ping is sent by the cron
//! thread (the same one that runs active expiry and save points), and only after it has taken
//! the keyspace's *write* lock and released it at once: a no-op write transaction. Every
//! command that touches data needs that lock, so if a command wedges while holding it (or a
//! reader never lets go), the cron blocks, the pings stop, and systemd kills and restarts the
//! server (`Restart=on-failure`). The write lock is the strictest test: it needs every reader
//! and writer to have finished. The price is one uncontended lock round trip every few
//! seconds. Not covered: a single connection thread stuck outside the lock (it harms only its
//! own client), or a stuck accept thread.
//!
//! A foreground `SAVE` holds the read lock for the whole write (about 3.5 s per GB), so a SAVE
//! of a dataset large enough to outlast `WatchdogSec` trips the watchdog, like any command
//! that blocks the server that long. BGSAVE holds the lock only while it copies the keyspace.
//! The final save at shutdown comes after `STOPPING=1`, when systemd no longer enforces it.
//!
//! # Socket activation
//! With a `.socket` unit, systemd binds the port and passes the listening sockets as fds 3,
//! 4, ... ([`crate::sys::take_inherited_fds`]). respd uses those whose address matches its
//! `bind`/`port` configuration, closes (and logs) the others, and binds itself whatever the
//! configuration names and systemd did not pass. A socket unit and a config file that
//! disagree thus never leave a port silently open that the operator did not configure.
//!
//! Sockets passed this way stay for the life of the process: CONFIG SET `port` or `bind`
//! is refused with `can't change the sockets passed by systemd socket activation` (see
//! [`sockets_passed`]), and SIGHUP leaves them as they are; change the socket unit instead.
//!
//! # Reload on SIGHUP
//! SIGHUP re-reads the config file and applies the directives that may change at run time
//! (see `reload` in `src/main.rs`), between `RELOADING=1` (with `MONOTONIC_USEC=`) and
//! `READY=1`, so the unit's `ExecReload=/bin/kill -HUP $MAINPID` works as systemd expects.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{Config, Supervised};
use crate::persistence::rdb::{LOAD_DONE, LOAD_TOTAL};
use crate::shared::Shared;
use crate::store::Store;

/// How long each `EXTEND_TIMEOUT_USEC` gives the loader, counted from when it is sent.
const LOAD_EXTENSION: Duration = Duration::from_secs(60);
/// How often the loading reporter wakes up to look at the loader's progress.
const LOAD_TICK: Duration = Duration::from_secs(1);

/// A connection to the service manager's notify socket.
#[derive(Debug)]
pub(crate) struct Notifier {
    socket: UnixDatagram,
    addr: UnixAddr,
}

impl Notifier {
    /// Prepares to send to `path`, as `$NOTIFY_SOCKET` writes it: a file system path, or `@`
    /// followed by an abstract socket name.
    pub fn connect(path: &str) -> io::Result<Notifier> {
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                UnixAddr::from_abstract_name(name.as_bytes())?
            }
            None => UnixAddr::from_pathname(path)?,
        };
        // Unbound: the service manager identifies the sender by its credentials (pid), not
        // by an address, and never replies.
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            addr,
        })
    }

    /// Sends one message: newline-separated `NAME=value` assignments, in one datagram.
    pub fn send(&self, message: &str) -> io::Result<()> {
        self.socket.send_to_addr(message.as_bytes(), &self.addr)?;
        Ok(())
    }
}

/// The watchdog's state: half the interval systemd asked for, and when we last pinged.
#[derive(Debug)]
struct Watchdog {
    every: Duration,
    last: Mutex<Instant>,
}

/// Set once by [`init`]; `None` inside means "not supervised".
/// Set once systemd has passed listening sockets (socket activation); see [`sockets_passed`].
static SOCKETS_PASSED: AtomicBool = AtomicBool::new(false);
static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();
static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();

/// Applies the `supervised` directive (call once, early in `main`). Returns whether respd is
/// now talking to systemd. `supervised systemd` without `$NOTIFY_SOCKET` is an error (Redis
/// only logs it, and the unit then hangs until its start timeout).
pub fn init(mode: Supervised) -> Result<bool, String> {
    let socket = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
    let notifier =
        match (mode, socket) {
            (Supervised::No, _) | (Supervised::Auto, None) => None,
            (Supervised::Systemd, None) => return Err(
                "'supervised systemd' was requested, but the NOTIFY_SOCKET environment variable \
                 is not set: respd was not started by systemd with Type=notify. Exiting."
                    .into(),
            ),
            (_, Some(path)) => Some(
                Notifier::connect(&path)
                    .map_err(|e| format!("Can't use the systemd notify socket '{path}': {e}"))?,
            ),
        };
    let active = notifier.is_some();
    let _ = NOTIFIER.set(notifier);
    if active {
        crate::notice!("Supervised by systemd: readiness, status and stopping will be reported");
        if let Some(every) = watchdog_interval() {
            crate::notice!(
                "systemd watchdog enabled: pinging every {} ms from the cron, through the keyspace lock",
                every.as_millis()
            );
            let _ = WATCHDOG.set(Watchdog {
                every,
                last: Mutex::new(Instant::now()),
            });
        }
    }
    Ok(active)
}

/// Half of `$WATCHDOG_USEC` (systemd's advice: ping at half the interval), if the watchdog is
/// on and meant for this process (`$WATCHDOG_PID`, when set, must be our pid).
fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// True when respd reports to systemd.
pub(crate) fn is_active() -> bool {
    matches!(NOTIFIER.get(), Some(Some(_)))
}

/// Sends `message` to systemd if supervised; otherwise does nothing. A failed send is logged
/// and otherwise ignored: the server must not stop because its supervisor is not listening.
pub fn notify(message: &str) {
    if let Some(Some(notifier)) = NOTIFIER.get() {
        if let Err(e) = notifier.send(message) {
            crate::verbose!("Can't notify systemd ({message:?}): {e}");
        }
    }
}

/// The cron's part: when a watchdog ping is due, take and release the keyspace's write lock,
/// then send `WATCHDOG=1` (see the module docs for why the lock).
pub(crate) fn watchdog_tick(shared: &Shared) {
    if let Some(watchdog) = WATCHDOG.get() {
        watchdog.tick(&shared.store, || notify("WATCHDOG=1"));
    }
}

impl Watchdog {
    /// Calls `ping` if one is due, after a round trip through `store`'s write lock.
    fn tick(&self, store: &Store, ping: impl FnOnce()) {
        let mut last = self.last.lock();
        if last.elapsed() < self.every {
            return;
        }
        // The heartbeat: a no-op write transaction. If this blocks, so does the ping.
        drop(store.write());
        ping();
        *last = Instant::now();
    }
}

/// Runs `load` (reading the dump at start) while telling systemd how it goes: an
/// `EXTEND_TIMEOUT_USEC` at once, then, every second, `STATUS=Loading N%` and a new extension
/// *if the loader moved since the last look*. So a big dataset never trips `TimeoutStartSec`,
/// while a loader that stops advancing still does, 60 s (`LOAD_EXTENSION`) later. While the file
/// itself is read into memory there is no progress to watch yet, and extensions keep coming.
pub fn while_loading<T>(load: impl FnOnce() -> T) -> T {
    if !is_active() {
        return load();
    }
    let extend = format!("EXTEND_TIMEOUT_USEC={}", LOAD_EXTENSION.as_micros());
    LOAD_TOTAL.store(0, Ordering::Relaxed);
    LOAD_DONE.store(0, Ordering::Relaxed);
    notify(&format!("{extend}\nSTATUS=Loading the dataset"));
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut last_done = None;
            // Returns when `stop` is dropped (the load finished).
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(LOAD_TICK)
            {
                let total = LOAD_TOTAL.load(Ordering::Relaxed);
                let done = LOAD_DONE.load(Ordering::Relaxed);
                if total == 0 {
                    notify(&format!("{extend}\nSTATUS=Loading: reading the dump file"));
                } else if last_done != Some(done) {
                    let percent = done.saturating_mul(100) / total;
                    notify(&format!("{extend}\nSTATUS=Loading {percent}%"));
                    last_done = Some(done);
                }
            }
        });
        let result = load();
        drop(stop);
        result
    })
}

/// True if respd serves sockets systemd passed (socket activation). CONFIG SET `port` and
/// `bind` (and SIGHUP) then leave the sockets alone: systemd keeps its own copy of each
/// socket open and listening, so closing ours would not free the port, and connections to
/// it would wait in a backlog nobody accepts from, until the next start. The socket unit
/// is where the addresses are changed.
pub fn sockets_passed() -> bool {
    SOCKETS_PASSED.load(Ordering::Relaxed)
}

/// The address a `bind` entry stands for (`-` prefix dropped, `*` = every IPv4 address).
fn bind_ip(entry: &str) -> Option<IpAddr> {
    let bare = entry.strip_prefix('-').unwrap_or(entry);
    if bare == "*" {
        return Some(IpAddr::from([0, 0, 0, 0]));
    }
    bare.parse().ok()
}

/// True if a socket listening on `addr` is one the configuration asks for: its address is a
/// `bind` entry and its port is `port` (any port when `port` is 0).
pub fn configured(config: &Config, addr: SocketAddr) -> bool {
    (config.port == 0 || addr.port() == config.port)
        && config
            .bind
            .iter()
            .any(|entry| bind_ip(entry) == Some(addr.ip()))
}

/// The listening sockets to serve on: those systemd passed that match the configuration
/// (socket activation), plus the configured addresses bound here that systemd did not pass.
/// Without socket activation this is [`crate::server::bind_all`].
pub fn listeners(config: &Config) -> io::Result<Vec<TcpListener>> {
    let inherited = crate::sys::take_inherited_fds();
    if inherited.is_empty() {
        return crate::server::bind_all(config);
    }
    SOCKETS_PASSED.store(true, Ordering::Relaxed);
    let mut kept: Vec<(TcpListener, SocketAddr)> = Vec::new();
    for fd in inherited {
        let number = fd.as_raw_fd();
        match crate::sys::inherited_listener(fd) {
            Ok((listener, addr)) if configured(config, addr) => {
                crate::notice!("Using the listening socket {addr} passed by systemd (fd {number})");
                kept.push((listener, addr));
            }
            Ok((_closed, addr)) => crate::warning!(
                "Closing the socket {addr} passed by systemd (fd {number}): it is not one of the configured bind addresses on port {}",
                config.port
            ),
            Err((_closed, why)) => {
                crate::warning!("Closing fd {number} passed by systemd: {why}")
            }
        }
    }
    let mut listeners: Vec<TcpListener> = Vec::new();
    for entry in &config.bind {
        let ip = bind_ip(entry);
        if kept.iter().any(|(_, addr)| Some(addr.ip()) == ip) {
            continue;
        }
        // Not passed by systemd: bind it ourselves, one entry at a time so that an optional
        // entry (`-::1`) that fails does not fail the rest.
        let mut single = config.clone();
        single.bind = vec![entry.clone()];
        match crate::server::bind_all(&single) {
            Ok(mut bound) => listeners.append(&mut bound),
            Err(_) if entry.starts_with('-') => {}
            Err(e) => return Err(e),
        }
    }
    let mut all: Vec<TcpListener> = kept.into_iter().map(|(l, _)| l).collect();
    all.append(&mut listeners);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notifies_a_path_socket() {
        let path = std::env::temp_dir().join(format!("respd-notify-unit-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::connect(path.to_str().unwrap()).unwrap();
        notifier.send("READY=1\nSTATUS=Ready").unwrap();
        assert_eq!(receive(&socket), "READY=1\nSTATUS=Ready");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn notifies_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("respd-notify-unit-{}", std::process::id());
        let socket =
            UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let notifier = Notifier::connect(&format!("@{name}")).unwrap();
        notifier.send("STOPPING=1").unwrap();
        assert_eq!(receive(&socket), "STOPPING=1");
    }

    #[test]
    fn no_watchdog_ping_while_the_keyspace_is_wedged() {
        let store = std::sync::Arc::new(Store::from_keyspace(crate::store::Keyspace::new(1)));
        let watchdog = Watchdog {
            every: Duration::ZERO,
            last: Mutex::new(Instant::now()),
        };
        let mut pinged = None;
        watchdog.tick(&store, || pinged = Some(Instant::now()));
        assert!(pinged.is_some(), "an idle server pings");

        // A command that holds the write lock for 300 ms: the ping waits for it.
        let (locked_tx, locked) = std::sync::mpsc::channel();
        let holder = {
            let store = store.clone();
            thread::spawn(move || {
                let _wedged = store.write();
                locked_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(300));
                Instant::now()
            })
        };
        locked.recv().unwrap();
        let mut pinged = None;
        watchdog.tick(&store, || pinged = Some(Instant::now()));
        let released = holder.join().unwrap();
        assert!(
            pinged.unwrap() >= released,
            "pinged while the lock was held"
        );
    }

    #[test]
    fn inherited_sockets_are_kept_only_when_configured() {
        let mut config = Config {
            port: 6379,
            bind: vec!["127.0.0.1".into(), "-::1".into()],
            ..Config::default()
        };
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(configured(&config, at("127.0.0.1:6379")));
        assert!(
            configured(&config, at("[::1]:6379")),
            "optional entries count"
        );
        assert!(!configured(&config, at("127.0.0.1:6380")), "other port");
        assert!(!configured(&config, at("0.0.0.0:6379")), "other address");
        config.bind = vec!["*".into()];
        assert!(configured(&config, at("0.0.0.0:6379")));
        assert!(!configured(&config, at("127.0.0.1:6379")));
    }

    #[test]
    fn an_inherited_fd_must_be_a_listening_tcp_socket() {
        let listener = crate::sys::bind_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.local_addr().unwrap();
        let (_, seen) = crate::sys::inherited_listener(listener.into()).unwrap();
        assert_eq!(seen, addr);
        let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
        let (_, why) = crate::sys::inherited_listener(unix.into()).unwrap_err();
        assert!(why.contains("listening"), "{why}");
        let connected = std::net::TcpStream::connect(addr);
        drop(connected);
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (_, why) = crate::sys::inherited_listener(udp.into()).unwrap_err();
        assert!(why.contains("stream"), "{why}");
    }
}
