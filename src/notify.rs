//! Keyspace notifications: the event classes, their letters, and the queue of events waiting
//! to be published.
//!
//! Counterpart of Redis `src/notify.c`. With `notify-keyspace-events` set, every change to a
//! key is announced on two Pub/Sub channels, each class of event enabled by one letter:
//!
//! ```text
//! PUBLISH __keyspace@0__:mykey lpush      (K: the key's channel, the event as message)
//! PUBLISH __keyevent@0__:lpush mykey      (E: the event's channel, the key as message)
//! ```
//!
//! A command reports its events where Redis's C code calls `notifyKeyspaceEvent`, by calling
//! [`crate::store::Db::notify`] on the database the key lives in. The store itself reports
//! what happens below the commands: `expired` when a key is deleted because its TTL passed
//! (lazily or by the active cycle) and `new` when a key is added. All of them go, in the order
//! they happened, into one [`Notifier`] queue shared by the databases of a keyspace.
//!
//! Why a queue rather than publishing on the spot: the store does not know the Pub/Sub
//! registry (it sits below it), and a command holds the keyspace lock while it runs. The
//! command's post-step ([`crate::cmd::call`]) publishes the queue with
//! [`crate::pubsub::PubSub::publish_keyspace_events`] before the keyspace lock is released, so
//! subscribers see the events of different commands in the order the commands ran, and the
//! events of one command in the order Redis emits them.
//!
//! With `notify-keyspace-events ""` (the default) a report costs one relaxed atomic load and a
//! branch: nothing is allocated or locked.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use parking_lot::Mutex;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub(crate) const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub(crate) const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub(crate) const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub(crate) const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub(crate) const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub(crate) const ZSET: u32 = 1 << 7;
/// `x`: a key deleted because its TTL passed.
pub(crate) const EXPIRED: u32 = 1 << 8;
/// `e`: a key evicted by maxmemory (respd does not evict; accepted for compatibility).
pub(crate) const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read of a key that does not exist. Not part of `A`, as in Redis.
pub(crate) const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (respd has no modules; accepted for compatibility).
pub(crate) const MODULE: u32 = 1 << 13;
/// `n`: a key was added. Not part of `A`, as in Redis.
pub(crate) const NEW: u32 = 1 << 14;
/// `A`: every class but `m` and `n` (Redis `NOTIFY_ALL`).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The letter of each class, in the order `keyspaceEventsFlagsToString` writes them (the
/// classes first, then `K`, `E`, `m`).
const LETTERS: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
    ('n', NEW),
    ('K', KEYSPACE),
    ('E', KEYEVENT),
    ('m', KEY_MISS),
];

/// Parses a `notify-keyspace-events` value (Redis `keyspaceEventsStringToFlags`): each
/// letter adds its class, `A` adds [`ALL`]. Returns `None` for any other character.
pub(crate) fn flags_from_str(classes: &str) -> Option<u32> {
    classes.chars().try_fold(0, |flags, c| {
        if c == 'A' {
            return Some(flags | ALL);
        }
        LETTERS
            .iter()
            .find(|(letter, _)| *letter == c)
            .map(|(_, class)| flags | class)
    })
}

/// Writes `flags` back as letters, the way CONFIG GET shows them (Redis
/// `keyspaceEventsFlagsToString`): `A` when every class of [`ALL`] is set — and then, as in
/// Redis, `n` is not written even if set — otherwise one letter per class; then `K`, `E`, `m`.
pub(crate) fn flags_to_string(flags: u32) -> String {
    let mut out = String::new();
    let all = flags & ALL == ALL;
    if all {
        out.push('A');
    }
    for &(letter, class) in LETTERS {
        let is_class = !matches!(letter, 'K' | 'E' | 'm');
        if flags & class != 0 && !(all && is_class) {
            out.push(letter);
        }
    }
    out
}

/// One event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The database the key lives in.
    pub db: usize,
    /// The event name (`set`, `lpush`, `expired`, ...).
    pub name: &'static str,
    /// The key.
    pub key: Vec<u8>,
}

/// The enabled classes and the events not yet published, shared by every database of a
/// keyspace.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    /// The classes that produce a message: the configured flags when `K` or `E` is among
    /// them, otherwise 0 (Redis checks the class first and then publishes on neither channel,
    /// so a class without `K` or `E` would only cost time).
    active: AtomicU32,
    /// `K` and `E` as configured.
    channels: AtomicU32,
    /// Events in the order they happened. Publishing holds this lock from taking the events
    /// until they are delivered, so two threads publishing cannot swap their batches.
    queue: Mutex<Vec<Event>>,
    /// True while the queue may hold events, so that draining an empty queue takes no lock.
    pending: AtomicBool,
    /// True while some client tracks keys (CLIENT TRACKING, see [`crate::tracking`]): only
    /// then are modified keys recorded in `modified`.
    tracking: AtomicBool,
    /// Keys modified since the tracking layer last took them (Redis `signalModifiedKey`
    /// feeding `trackingInvalidateKey`), in order; `None` stands for "every key" (a flush).
    modified: Mutex<Vec<Option<Vec<u8>>>>,
}

impl Notifier {
    /// Applies a `notify-keyspace-events` value (flags from [`flags_from_str`]).
    pub(crate) fn configure(&self, flags: u32) {
        let channels = flags & (KEYSPACE | KEYEVENT);
        self.channels.store(channels, Ordering::Relaxed);
        self.active
            .store(if channels != 0 { flags } else { 0 }, Ordering::Relaxed);
    }

    /// True if events of `class` are published: callers that must compute something to
    /// report an event can skip the work.
    #[inline]
    pub(crate) fn wants(&self, class: u32) -> bool {
        self.active.load(Ordering::Relaxed) & class != 0
    }

    /// Queues `name` on `key` of database `db` if `class` is enabled (Redis
    /// `notifyKeyspaceEvent`).
    #[inline]
    pub fn notify(&self, db: usize, class: u32, name: &'static str, key: &[u8]) {
        if self.wants(class) {
            self.queue.lock().push(Event {
                db,
                name,
                key: key.to_vec(),
            });
            self.pending.store(true, Ordering::Release);
        }
    }

    /// Runs `publish` on the queued events, in order, and empties the queue. `publish` also
    /// gets the configured `K`/`E` flags. Nothing is locked when nothing is queued.
    ///
    /// The queue stays locked, and marked pending, until `publish` returns: a thread that
    /// finds nothing pending knows that every event queued before (its own included) has been
    /// delivered, even if another thread published them. So the events of a command are
    /// delivered before its reply is sent, whoever publishes them.
    pub fn drain(&self, publish: impl FnOnce(u32, &[Event])) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut queue = self.queue.lock();
        if !queue.is_empty() {
            publish(self.channels.load(Ordering::Relaxed), &queue);
            queue.clear();
        }
        self.pending.store(false, Ordering::Release);
    }
}

/// Modified keys, for client-side caching (CLIENT TRACKING). The store reports every key a
/// command changed, as Redis's `signalModifiedKey` does; the tracking layer takes them after
/// the command and sends the invalidation messages. Costs one atomic load per modified key
/// while no client tracks anything.
impl Notifier {
    /// Starts or stops recording modified keys.
    pub(crate) fn set_tracking(&self, on: bool) {
        self.tracking.store(on, Ordering::Release);
        if !on {
            self.modified.lock().clear();
        }
    }

    /// True while modified keys are recorded.
    #[inline]
    pub(crate) fn tracks_modifications(&self) -> bool {
        self.tracking.load(Ordering::Acquire)
    }

    /// Records that `key` was modified.
    #[inline]
    pub(crate) fn key_modified(&self, key: &[u8]) {
        if self.tracks_modifications() {
            self.modified.lock().push(Some(key.to_vec()));
        }
    }

    /// Records that every key of a database went (FLUSHDB, FLUSHALL).
    pub(crate) fn all_keys_modified(&self) {
        if self.tracks_modifications() {
            self.modified.lock().push(None);
        }
    }

    /// Takes the keys modified so far.
    pub(crate) fn take_modified(&self) -> Vec<Option<Vec<u8>>> {
        if !self.tracks_modifications() {
            return Vec::new();
        }
        std::mem::take(&mut *self.modified.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_as_redis_writes_them() {
        let show = |s: &str| flags_from_str(s).map(flags_to_string);
        assert_eq!(show("gKE").as_deref(), Some("gKE"));
        assert_eq!(show("$lshzxeKE").as_deref(), Some("$lshzxeKE"));
        assert_eq!(show("KA").as_deref(), Some("AK"));
        assert_eq!(show("EA").as_deref(), Some("AE"));
        assert_eq!(show("KEA").as_deref(), Some("AKE"));
        // 'n' and 'm' are outside A; with A, Redis forgets to write 'n'.
        assert_eq!(show("AnmKE").as_deref(), Some("AKEm"));
        assert_eq!(show("nm").as_deref(), Some("nm"));
        assert_eq!(show("tdEK").as_deref(), Some("tdKE"));
        assert_eq!(show("").as_deref(), Some(""));
        assert_eq!(show("KEgg").as_deref(), Some("gKE"));
        assert_eq!(show("a"), None);
        assert_eq!(show("KE "), None);
    }

    #[test]
    fn nothing_is_queued_without_k_or_e() {
        let n = Notifier::default();
        n.configure(flags_from_str("A").unwrap());
        n.notify(0, GENERIC, "del", b"k");
        let mut seen = 0;
        n.drain(|_, events| seen = events.len());
        assert_eq!(seen, 0);
        n.configure(flags_from_str("Kg").unwrap());
        n.notify(0, STRING, "set", b"k");
        n.notify(3, GENERIC, "del", b"k");
        let mut got = Vec::new();
        n.drain(|channels, events| {
            assert_eq!(channels, KEYSPACE);
            got = events.to_vec();
        });
        assert_eq!(
            got,
            [Event {
                db: 3,
                name: "del",
                key: b"k".to_vec()
            }]
        );
    }
}
