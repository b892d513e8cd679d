//! A server with no socket and a clock moved by hand, for tests: `h.run("SET k v")` returns
//! the reply's bytes.
//!
//! A [`Harness`] is a bare [`Shared`] (default configuration, no listener, no thread, no
//! cron) and one or more internal clients ([`Client::internal`]) that run commands through
//! the same [`cmd::dispatch`] a connection uses: ACLs, MULTI, CLIENT REPLY, keyspace events,
//! the AOF feed (when `appendonly` is on) all behave as over a socket. What a connection adds
//! around dispatch is not here: reading and parsing the socket, output buffers and their
//! limits, the timeout of a blocked client (another client can serve it, and its reply is in
//! [`Harness::mail`], but it never times out). Tests of those use a real socket (`tests/`).
//!
//! Time is the harness's own: the server's [`Clock`] is manual and shows [`START_MS`] until
//! [`Harness::advance`] moves it, so a test of expiry says "two seconds later" instead of
//! sleeping two seconds, and a slow machine cannot make it flaky. Nothing runs behind the
//! test's back either: the active expiry cycle runs when the test calls
//! [`Harness::expire_cycle`].
//!
//! For example (the tests below run the same):
//!
//! ```text
//! let h = crate::harness::Harness::new();
//! assert_eq!(h.run("SET k v PX 100"), b"+OK\r\n");
//! h.advance(100);
//! assert_eq!(h.run("GET k"), b"$-1\r\n");
//! ```

use std::cell::RefCell;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::client::Client;
use crate::cmd;
use crate::config::Config;
use crate::protocol::{Argv, Reply};
use crate::shared::{Shared, ShutdownRequest};
use crate::store::Keyspace;
use crate::util::Clock;

/// What a harness's clock shows at first: 2023-11-14 22:13:20 UTC, a fixed time, so that
/// runs are alike.
pub(crate) const START_MS: u64 = 1_700_000_000_000;

/// One internal client and its reply buffer (kept across commands, as a connection keeps
/// its own: it remembers RESP3 after HELLO 3, and counts error replies).
struct Session {
    client: Client,
    reply: Reply,
}

/// A bare server and its clients; see the module docs.
pub(crate) struct Harness {
    shared: Arc<Shared>,
    sessions: RefCell<Vec<Session>>,
    /// Where SHUTDOWN asks the server to stop; nobody acts on it here.
    _shutdown_requests: Receiver<ShutdownRequest>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A server with the default configuration and one client.
    pub fn new() -> Harness {
        Harness::with_config(|_| {})
    }

    /// A server after `edit` changed the default configuration, with one client.
    pub fn with_config(edit: impl FnOnce(&mut Config)) -> Harness {
        let mut config = Config::default();
        edit(&mut config);
        let keyspace = Keyspace::new(config.databases);
        let (requests, shutdown_requests) = crossbeam_channel::unbounded();
        let clock = Clock::manual(START_MS);
        let shared = Shared::new(config, keyspace, 0, requests, clock);
        cmd::acl::load_at_startup(&shared).expect("ACL file of the harness's configuration");
        let harness = Harness {
            shared,
            sessions: RefCell::new(Vec::new()),
            _shutdown_requests: shutdown_requests,
        };
        harness.add_client();
        harness
    }

    /// Adds a client, as a new connection would be (the `default` user's, RESP2, database
    /// 0), and returns its number for [`Harness::run_on`]. The first client is number 0.
    pub(crate) fn add_client(&self) -> usize {
        let handle = self.shared.clients.internal(self.shared.clock.now_ms());
        let mut client = Client::internal(handle);
        client.set_default_user(&self.shared.acl);
        let mut sessions = self.sessions.borrow_mut();
        sessions.push(Session {
            client,
            reply: Reply::new(),
        });
        sessions.len() - 1
    }

    /// Runs a command written as space-separated words on client 0 and returns its reply's
    /// bytes. Words cannot hold spaces; [`Harness::run_args`] takes any bytes.
    pub fn run(&self, line: &str) -> Vec<u8> {
        self.run_on(0, line)
    }

    /// [`Harness::run`] on client `client`.
    pub(crate) fn run_on(&self, client: usize, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        self.run_args_on(client, &args)
    }

    /// Runs one command given as its arguments on client 0; returns the reply's bytes.
    pub(crate) fn run_args(&self, args: &[&[u8]]) -> Vec<u8> {
        self.run_args_on(0, args)
    }

    /// [`Harness::run_args`] on client `client`. Anything handed to the client since its
    /// last command (a published message, the reply that ends a blocking command another
    /// client served) comes first, as a connection would send it.
    pub(crate) fn run_args_on(&self, client: usize, args: &[&[u8]]) -> Vec<u8> {
        let mut sessions = self.sessions.borrow_mut();
        let session = &mut sessions[client];
        let mut argv = Argv::new();
        for arg in args {
            argv.push(arg);
        }
        if let Some(mail) = session.client.handle.take_mail() {
            session.reply.raw(&mail);
        }
        cmd::dispatch(&self.shared, &mut session.client, &argv, &mut session.reply);
        self.publish_counters(session);
        session.reply.take_bytes()
    }

    /// Runs one command given as string arguments on client 0 and returns the reply as text
    /// (bytes that are not UTF-8 are replaced), for tests that compare with a literal.
    pub fn call(&self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8_lossy(&self.run_args(&args)).into_owned()
    }

    /// What was handed to client `client` since its last command (published messages, the
    /// reply a blocked client gets when another client serves it), without running anything.
    pub(crate) fn mail(&self, client: usize) -> Vec<u8> {
        let sessions = self.sessions.borrow();
        sessions[client]
            .client
            .handle
            .take_mail()
            .unwrap_or_default()
    }

    /// Moves the server's clock `ms` milliseconds forward.
    pub(crate) fn advance(&self, ms: u64) {
        self.shared.clock.advance(ms);
    }

    /// What the server's clock shows, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// Runs the active expiry cycle once, as the cron does `hz` times a second in a server;
    /// returns the keys it deleted.
    pub(crate) fn expire_cycle(&self) -> usize {
        self.shared.active_expire_cycle()
    }

    /// The server state, to look at the store or the counters directly.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Adds a session's command counters to the server's totals, as a connection does after
    /// each batch (the harness's clients are in no registry, so they go straight to the
    /// totals of clients already gone: INFO sums both).
    fn publish_counters(&self, session: &mut Session) {
        let batch = std::mem::take(&mut session.client.stats);
        let stats = &self.shared.stats;
        let mut errors = session.reply.take_error_codes();
        if !session.client.command_stats.is_empty() || !errors.is_empty() {
            (stats.commands).publish(&mut session.client.command_stats, &mut errors);
        }
        use std::sync::atomic::Ordering::Relaxed;
        stats
            .total_commands_processed
            .fetch_add(batch.commands, Relaxed);
        stats.keyspace_hits.fetch_add(batch.hits, Relaxed);
        stats.keyspace_misses.fetch_add(batch.misses, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    //! The harness itself, and the expiry rules checked with its clock instead of sleeps.
    //! Expected bytes are Redis 7.0.15's.

    use super::*;

    #[test]
    fn commands_run_without_a_socket() {
        let h = Harness::new();
        assert_eq!(h.run("SET k v"), b"+OK\r\n");
        assert_eq!(h.run("GET k"), b"$1\r\nv\r\n");
        assert_eq!(h.run_args(&[b"SET", b"a b", b"\r\n"]), b"+OK\r\n");
        assert_eq!(h.run_args(&[b"GET", b"a b"]), b"$2\r\n\r\n\r\n");
        assert_eq!(
            h.run("NOSUCH x"),
            b"-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"
        );
        assert_eq!(h.run("HELLO 3").first(), Some(&b'%'));
        assert_eq!(h.run("GET missing"), b"_\r\n");
    }

    #[test]
    fn clients_are_separate_and_unlisted() {
        let h = Harness::new();
        let other = h.add_client();
        assert_eq!(h.run_on(other, "SELECT 1"), b"+OK\r\n");
        h.run_on(other, "SET k one");
        assert_eq!(h.run("GET k"), b"$-1\r\n");
        assert_eq!(h.run_on(other, "GET k"), b"$3\r\none\r\n");
        // Internal clients are not connections: CLIENT LIST shows none, as Redis shows none
        // of its fake clients; CLIENT INFO shows the address of no socket.
        assert_eq!(h.run("CLIENT LIST"), b"$0\r\n\r\n");
        let info = String::from_utf8(h.run("CLIENT INFO")).unwrap();
        assert!(info.contains(" addr=?:0 laddr=?:0 fd=-1 "), "{info}");
    }

    #[test]
    fn a_blocked_client_is_served_by_another() {
        let h = Harness::new();
        let waiting = h.add_client();
        assert_eq!(h.run_on(waiting, "BLPOP q 0"), b"");
        assert_eq!(h.run("RPUSH q x"), b":1\r\n");
        assert_eq!(h.mail(waiting), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    }

    #[test]
    fn counters_reach_the_totals() {
        let h = Harness::new();
        h.run("SET k v");
        h.run("GET k");
        h.run("GET nokey");
        let totals = h.shared().totals();
        assert_eq!((totals.commands, totals.hits, totals.misses), (3, 1, 1));
    }

    #[test]
    fn ttls_count_down_with_the_clock() {
        let h = Harness::new();
        h.run("SET k v EX 100");
        assert_eq!(h.run("TTL k"), b":100\r\n");
        assert_eq!(h.run("PTTL k"), b":100000\r\n");
        h.advance(1_499);
        // TTL rounds to the nearest second, PTTL is exact.
        assert_eq!(h.run("TTL k"), b":99\r\n");
        assert_eq!(h.run("PTTL k"), b":98501\r\n");
        h.advance(98_500);
        assert_eq!(h.run("PTTL k"), b":1\r\n");
        assert_eq!(h.run("GET k"), b"$1\r\nv\r\n");
        h.advance(1);
        assert_eq!(h.run("GET k"), b"$-1\r\n");
        assert_eq!(h.run("TTL k"), b":-2\r\n");
        assert_eq!(h.run("EXISTS k"), b":0\r\n");
    }

    #[test]
    fn expire_pexpire_and_persist() {
        let h = Harness::new();
        h.run("SET k v");
        assert_eq!(h.run("TTL k"), b":-1\r\n");
        assert_eq!(h.run("EXPIRE k 10"), b":1\r\n");
        assert_eq!(h.run("EXPIRE nokey 10"), b":0\r\n");
        h.advance(4_000);
        assert_eq!(h.run("TTL k"), b":6\r\n");
        assert_eq!(h.run("PERSIST k"), b":1\r\n");
        assert_eq!(h.run("PERSIST k"), b":0\r\n");
        h.advance(60_000);
        assert_eq!(h.run("GET k"), b"$1\r\nv\r\n");
        assert_eq!(h.run("PEXPIRE k 1500"), b":1\r\n");
        h.advance(1_000);
        assert_eq!(h.run("PTTL k"), b":500\r\n");
        // GT/LT/NX/XX compare with the TTL in force.
        assert_eq!(h.run("PEXPIRE k 100 GT"), b":0\r\n");
        assert_eq!(h.run("PEXPIRE k 100 LT"), b":1\r\n");
        assert_eq!(h.run("EXPIRE k 100 NX"), b":0\r\n");
        h.advance(100);
        assert_eq!(h.run("GET k"), b"$-1\r\n");
        assert_eq!(h.run("EXPIRE k 100 XX"), b":0\r\n");
        // A time in the past deletes the key at once.
        h.run("SET k v");
        assert_eq!(h.run("EXPIRE k -1"), b":1\r\n");
        assert_eq!(h.run("EXISTS k"), b":0\r\n");
    }

    #[test]
    fn expireat_and_expiretime_use_the_servers_clock() {
        let h = Harness::new();
        let now_s = h.now_ms() / 1000;
        h.run("SET k v");
        let at = format!("EXPIREAT k {}", now_s + 30);
        assert_eq!(h.run(&at), b":1\r\n");
        let expected = format!(":{}\r\n", now_s + 30);
        assert_eq!(h.run("EXPIRETIME k"), expected.as_bytes());
        let expected = format!(":{}\r\n", (now_s + 30) * 1000);
        assert_eq!(h.run("PEXPIRETIME k"), expected.as_bytes());
        h.advance(29_999);
        assert_eq!(h.run("EXISTS k"), b":1\r\n");
        h.advance(1);
        assert_eq!(h.run("EXISTS k"), b":0\r\n");
        assert_eq!(h.run("EXPIRETIME k"), b":-2\r\n");
    }

    #[test]
    fn getex_and_set_options_set_and_clear_ttls() {
        let h = Harness::new();
        h.run("SET k v");
        assert_eq!(h.run("GETEX k EX 5"), b"$1\r\nv\r\n");
        assert_eq!(h.run("TTL k"), b":5\r\n");
        assert_eq!(h.run("GETEX k PX 2500"), b"$1\r\nv\r\n");
        assert_eq!(h.run("PTTL k"), b":2500\r\n");
        assert_eq!(h.run("GETEX k PERSIST"), b"$1\r\nv\r\n");
        assert_eq!(h.run("TTL k"), b":-1\r\n");
        h.run("SET k v PX 200");
        // SET without KEEPTTL forgets the TTL; with it, keeps it.
        h.advance(100);
        assert_eq!(h.run("SET k w KEEPTTL"), b"+OK\r\n");
        assert_eq!(h.run("PTTL k"), b":100\r\n");
        h.advance(100);
        assert_eq!(h.run("GET k"), b"$-1\r\n");
        h.run("SET k v EX 1");
        h.run("SET k v");
        h.advance(5_000);
        assert_eq!(h.run("GET k"), b"$1\r\nv\r\n");
        // EXAT / PXAT are absolute.
        let exat = format!("SET k v EXAT {}", h.now_ms() / 1000 + 3);
        assert_eq!(h.run(&exat), b"+OK\r\n");
        h.advance(3_000);
        assert_eq!(h.run("GET k"), b"$-1\r\n");
        let pxat = format!("SET k v PXAT {}", h.now_ms() + 10);
        h.run(&pxat);
        assert_eq!(h.run("PTTL k"), b":10\r\n");
        // GETEX on a key past its time: the key is gone.
        h.advance(10);
        assert_eq!(h.run("GETEX k PERSIST"), b"$-1\r\n");
    }

    #[test]
    fn expiry_raises_the_expired_event_when_a_write_or_the_cycle_finds_the_key() {
        let h = Harness::new();
        let subscriber = h.add_client();
        h.run("CONFIG SET notify-keyspace-events Ex");
        let pattern = "__keyevent@0__:*";
        let confirmed = format!("*3\r\n$10\r\npsubscribe\r\n$16\r\n{pattern}\r\n:1\r\n");
        assert_eq!(
            h.run_on(subscriber, &format!("PSUBSCRIBE {pattern}")),
            confirmed.as_bytes()
        );
        let expired = |key: &str| {
            format!(
                "*4\r\n$8\r\npmessage\r\n$16\r\n{pattern}\r\n$22\r\n__keyevent@0__:expired\r\n${}\r\n{key}\r\n",
                key.len()
            )
        };
        h.run("SET lazy v PX 50");
        h.run("SET active v PX 50");
        h.advance(49);
        assert_eq!(h.run("GET lazy"), b"$1\r\nv\r\n");
        assert_eq!(h.mail(subscriber), b"");
        h.advance(1);
        // Past its time the key is missing, and deleted once found (respd deletes it on the
        // next write, Redis on this read already): one event either way.
        assert_eq!(h.run("GET lazy"), b"$-1\r\n");
        assert_eq!(h.run("DEL lazy"), b":0\r\n");
        assert_eq!(h.mail(subscriber), expired("lazy").as_bytes());
        // Nobody reads the other one: the active cycle finds it.
        while h.expire_cycle() == 0 {}
        assert_eq!(h.mail(subscriber), expired("active").as_bytes());
    }

    #[test]
    fn the_active_cycle_deletes_keys_nobody_reads() {
        let h = Harness::new();
        for i in 0..50 {
            h.run(&format!("SET k{i} v PX 100"));
        }
        h.run("SET kept v");
        assert_eq!(h.expire_cycle(), 0);
        h.advance(100);
        let mut expired = 0;
        while h.shared().store.read().db(0).len() > 1 {
            expired += h.expire_cycle();
        }
        assert_eq!(expired, 50);
        let info = String::from_utf8(h.run("INFO stats")).unwrap();
        assert!(info.contains("\r\nexpired_keys:50\r\n"), "{info}");
        assert_eq!(h.run("DBSIZE"), b":1\r\n");
    }
}
