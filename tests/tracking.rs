//! CLIENT TRACKING (client-side caching) across connections, byte for byte against a live
//! redis-server: the same script runs on respd and on Redis, and every reply and push each
//! connection receives must be the same bytes, in the same order.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{show, skip_note, RawConn, RedisServer, TestServer};

/// How long to wait before concluding that no message comes. Only a lower bound: the
/// assertion is that nothing arrived, which a slow machine cannot turn into a pass.
const QUIET: Duration = Duration::from_millis(150);

/// What one scenario saw: each connection's bytes, labelled, in order.
type Transcript = Vec<(String, Vec<u8>)>;

/// Runs `scenario` on respd and on redis-server and compares the transcripts; without
/// redis-server, respd's transcript is still checked against what the scenario asserts.
fn compare(name: &str, scenario: fn(SocketAddr) -> Transcript) {
    let server = TestServer::start();
    let ours = scenario(server.addr());
    let Some(redis) = RedisServer::start() else {
        return skip_note(name);
    };
    let theirs = scenario(redis.addr());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            (a.0.as_str(), show(&a.1)),
            (b.0.as_str(), show(&b.1)),
            "{name}: step {i} differs (left respd, right Redis)"
        );
    }
    assert_eq!(ours.len(), theirs.len(), "{name}: transcript lengths");
}

/// A connection that records what it receives into the transcript.
struct Conn {
    label: &'static str,
    raw: RawConn,
}

impl Conn {
    fn new(addr: SocketAddr, label: &'static str) -> Conn {
        Conn {
            label,
            raw: RawConn::connect(addr),
        }
    }

    /// Sends a command and records its reply.
    fn run(&mut self, t: &mut Transcript, line: &str) {
        let reply = self.raw.words(line);
        t.push((format!("{} {line}", self.label), reply));
    }

    /// Sends a command and records its reply, labelled `shown` (for a line with an id).
    fn run_shown(&mut self, t: &mut Transcript, line: &str, shown: &str) {
        let reply = self.raw.words(line);
        t.push((format!("{} {shown}", self.label), reply));
    }

    /// Sends a command whose reply is not recorded (ids differ between servers).
    fn quiet(&mut self, line: &str) -> Vec<u8> {
        self.raw.words(line)
    }

    /// Records the next message (a push or a Pub/Sub message).
    fn next(&mut self, t: &mut Transcript) {
        let message = self.raw.reply().expect("a message");
        t.push((format!("{} <message>", self.label), message));
    }

    /// Asserts that nothing more arrives for now.
    fn nothing(&mut self) {
        self.raw.expect_silence(QUIET);
    }

    fn id(&mut self) -> String {
        let reply = self.quiet("CLIENT ID");
        String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
    }
}

#[test]
fn resp3_clients_get_invalidations_after_their_replies() {
    compare(
        "resp3_clients_get_invalidations_after_their_replies",
        |addr| {
            let mut t = Transcript::new();
            let mut cache = Conn::new(addr, "cache");
            let mut writer = Conn::new(addr, "writer");
            writer.run(&mut t, "FLUSHALL");
            cache.quiet("HELLO 3");
            cache.run(&mut t, "CLIENT TRACKING on");
            writer.run(&mut t, "MSET a 1 b 2 c 3");
            cache.run(&mut t, "MGET a b");
            cache.run(&mut t, "GET c");
            // Another client's write: one push per key, and only once.
            writer.run(&mut t, "SET a 10");
            cache.next(&mut t);
            writer.run(&mut t, "SET a 11");
            cache.nothing();
            // The client's own write: the push follows the reply.
            cache.run(&mut t, "INCR b");
            cache.next(&mut t);
            // Inside a transaction the push follows EXEC's whole reply.
            cache.run(&mut t, "GET b");
            cache.run(&mut t, "MULTI");
            cache.run(&mut t, "INCR b");
            cache.run(&mut t, "GET c");
            cache.run(&mut t, "EXEC");
            cache.next(&mut t);
            // Keys read after the last invalidation are told again; a flush is a null.
            cache.run(&mut t, "GET a");
            writer.run(&mut t, "FLUSHALL");
            cache.next(&mut t);
            cache.nothing();
            cache.run(&mut t, "CLIENT TRACKING off");
            cache.run(&mut t, "GET c");
            writer.run(&mut t, "SET c 1");
            cache.nothing();
            t
        },
    );
}

#[test]
fn noloop_optin_and_optout() {
    compare("noloop_optin_and_optout", |addr| {
        let mut t = Transcript::new();
        let mut cache = Conn::new(addr, "cache");
        let mut writer = Conn::new(addr, "writer");
        writer.run(&mut t, "FLUSHALL");
        cache.quiet("HELLO 3");
        cache.run(&mut t, "CLIENT TRACKING on NOLOOP");
        cache.run(&mut t, "GET k");
        cache.run(&mut t, "SET k mine");
        cache.nothing();
        cache.run(&mut t, "GET k");
        writer.run(&mut t, "SET k theirs");
        cache.next(&mut t);
        cache.run(&mut t, "CLIENT TRACKING off");
        // OPTIN: only the read right after CLIENT CACHING yes is remembered.
        cache.run(&mut t, "CLIENT TRACKING on OPTIN");
        cache.run(&mut t, "GET x");
        cache.run(&mut t, "CLIENT CACHING yes");
        cache.run(&mut t, "GET y");
        cache.run(&mut t, "GET z");
        writer.run(&mut t, "MSET x 1 y 1 z 1");
        cache.next(&mut t);
        cache.nothing();
        cache.run(&mut t, "CLIENT TRACKINGINFO");
        cache.run(&mut t, "CLIENT TRACKING off");
        // OPTOUT: every read but the one after CLIENT CACHING no.
        cache.run(&mut t, "CLIENT TRACKING on OPTOUT");
        cache.run(&mut t, "CLIENT CACHING no");
        cache.run(&mut t, "CLIENT TRACKINGINFO");
        cache.run(&mut t, "GET x");
        cache.run(&mut t, "GET y");
        writer.run(&mut t, "MSET x 2 y 2");
        cache.next(&mut t);
        cache.nothing();
        t
    });
}

#[test]
fn redirection_to_a_resp2_subscriber_and_to_a_resp3_client() {
    compare(
        "redirection_to_a_resp2_subscriber_and_to_a_resp3_client",
        |addr| {
            let mut t = Transcript::new();
            let mut subscriber = Conn::new(addr, "subscriber");
            let mut resp3 = Conn::new(addr, "resp3");
            let mut cache = Conn::new(addr, "cache");
            let mut writer = Conn::new(addr, "writer");
            writer.run(&mut t, "FLUSHALL");
            let subscriber_id = subscriber.id();
            subscriber.run(&mut t, "SUBSCRIBE __redis__:invalidate");
            let redirect = format!("CLIENT TRACKING on REDIRECT {subscriber_id}");
            cache.run_shown(
                &mut t,
                &redirect,
                "CLIENT TRACKING on REDIRECT <subscriber>",
            );
            cache.run(&mut t, "GET k");
            writer.run(&mut t, "SET k 1");
            subscriber.next(&mut t);
            writer.run(&mut t, "FLUSHDB");
            subscriber.next(&mut t);
            cache.nothing();
            // Redirected to a RESP3 client that is not subscribed: pushes.
            resp3.quiet("HELLO 3");
            let resp3_id = resp3.id();
            cache.run(&mut t, "CLIENT TRACKING off");
            let redirect = format!("CLIENT TRACKING on REDIRECT {resp3_id}");
            cache.run_shown(&mut t, &redirect, "CLIENT TRACKING on REDIRECT <resp3>");
            cache.run(&mut t, "GET k2");
            writer.run(&mut t, "SET k2 1");
            resp3.next(&mut t);
            // BCAST with prefixes, to the subscriber: one batch per prefix and command.
            cache.run(&mut t, "CLIENT TRACKING off");
            let bcast =
                format!("CLIENT TRACKING on BCAST REDIRECT {subscriber_id} PREFIX a: PREFIX b:");
            cache.run_shown(
                &mut t,
                &bcast,
                "CLIENT TRACKING on BCAST REDIRECT <subscriber> ...",
            );
            writer.run(&mut t, "MSET a:1 1 a:2 2 c:1 3");
            subscriber.next(&mut t);
            writer.run(&mut t, "SET b:1 1");
            subscriber.next(&mut t);
            writer.run(&mut t, "SET c:2 1");
            subscriber.nothing();
            t
        },
    );
}

#[test]
fn a_redirection_target_that_left_is_reported_once_per_message() {
    compare(
        "a_redirection_target_that_left_is_reported_once_per_message",
        |addr| {
            let mut t = Transcript::new();
            let mut target = Conn::new(addr, "target");
            let mut cache = Conn::new(addr, "cache");
            let mut writer = Conn::new(addr, "writer");
            writer.run(&mut t, "FLUSHALL");
            let id = target.id();
            cache.quiet("HELLO 3");
            cache.quiet(&format!("CLIENT TRACKING on REDIRECT {id}"));
            cache.run(&mut t, "GET k");
            target.run(&mut t, "QUIT");
            writer.run(&mut t, "SET k 1");
            // `>2 tracking-redir-broken <id>`: the id differs between the servers.
            let message = cache.raw.reply().unwrap();
            let expected = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{id}\r\n");
            assert_eq!(show(&message), show(expected.as_bytes()));
            let list = String::from_utf8_lossy(&cache.quiet("CLIENT LIST")).into_owned();
            let line = list
                .lines()
                .find(|l| l.contains("cmd=client|list"))
                .unwrap();
            assert!(line.contains("flags=tR "), "{line}");
            assert!(line.contains(&format!("redir={id} ")), "{line}");
            let info = cache.quiet("CLIENT TRACKINGINFO");
            assert!(show(&info).contains("broken_redirect"), "{}", show(&info));
            t
        },
    );
}

#[test]
fn tracking_table_counts_and_limit() {
    compare("tracking_table_counts_and_limit", |addr| {
        let mut t = Transcript::new();
        let mut cache = Conn::new(addr, "cache");
        let mut bcast = Conn::new(addr, "bcast");
        let mut writer = Conn::new(addr, "writer");
        writer.run(&mut t, "FLUSHALL");
        writer.run(&mut t, "CONFIG SET tracking-table-max-keys 0");
        cache.quiet("HELLO 3");
        cache.run(&mut t, "CLIENT TRACKING on");
        cache.run(&mut t, "MGET k1 k2 k3");
        bcast.quiet("HELLO 3");
        bcast.run(&mut t, "CLIENT TRACKING on BCAST PREFIX p: PREFIX q:");
        let info = |c: &mut Conn| {
            let text = String::from_utf8_lossy(&c.quiet("INFO")).into_owned();
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with("tracking_"))
                .map(str::to_string)
                .collect();
            lines.sort();
            lines.join(" ").into_bytes()
        };
        t.push(("info".into(), info(&mut writer)));
        // Lowering the limit invalidates keys until the table fits.
        writer.run(&mut t, "CONFIG SET tracking-table-max-keys 1");
        cache.raw.reply().unwrap();
        cache.raw.reply().unwrap();
        cache.nothing();
        writer.run(&mut t, "CONFIG SET tracking-table-max-keys 1000000");
        t.push(("info".into(), info(&mut writer)));
        cache.run(&mut t, "CLIENT TRACKING off");
        bcast.run(&mut t, "CLIENT TRACKING off");
        t.push(("info".into(), info(&mut writer)));
        t
    });
}

#[test]
fn client_tracking_errors() {
    compare("client_tracking_errors", |addr| {
        let mut t = Transcript::new();
        let mut c = Conn::new(addr, "c");
        for line in [
            "CLIENT TRACKING",
            "CLIENT TRACKING maybe",
            "CLIENT TRACKING on foo",
            "CLIENT TRACKING on REDIRECT",
            "CLIENT TRACKING on REDIRECT abc",
            "CLIENT TRACKING on REDIRECT 987654321",
            "CLIENT TRACKING on PREFIX a",
            "CLIENT TRACKING on BCAST OPTIN",
            "CLIENT TRACKING on OPTIN OPTOUT",
            "CLIENT TRACKING on BCAST PREFIX ab PREFIX a",
            "CLIENT TRACKING on BCAST PREFIX a PREFIX b",
            "CLIENT TRACKING on BCAST PREFIX bc",
            "CLIENT TRACKING on",
            "CLIENT TRACKING off",
            "CLIENT TRACKING on OPTIN",
            "CLIENT TRACKING on OPTOUT",
            "CLIENT CACHING no",
            "CLIENT CACHING maybe",
            "CLIENT CACHING yes extra",
            "CLIENT TRACKING off",
            "CLIENT CACHING yes",
            "CLIENT GETREDIR",
            "CLIENT GETREDIR extra",
            "CLIENT TRACKINGINFO",
            "CLIENT TRACKING off extra",
            // RESET turns tracking off, as everything else of the connection's state.
            "CLIENT TRACKING on BCAST PREFIX p",
            "RESET",
            "CLIENT TRACKINGINFO",
            "CLIENT GETREDIR",
        ] {
            c.run(&mut t, line);
        }
        t
    });
}
