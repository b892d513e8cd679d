//! The Pub/Sub registry: who listens to which channel or pattern, and delivery.
//!
//! Counterpart of Redis `src/pubsub.c`.
//!
//! In Redis a published message is appended to each subscriber's reply buffer by the one
//! event-loop thread. Here every subscriber has its own worker thread, blocked waiting for its
//! socket. PUBLISH therefore runs on the publisher's thread and *hands* the message to each
//! subscriber ([`ClientHandle::deliver`]: append to its mailbox, signal its waker); the
//! subscriber's worker wakes up and sends it. The publisher never writes to another client's
//! socket, so a subscriber that does not read can never block a publisher.
//!
//! What a slow subscriber costs is bounded by `client-output-buffer-limit pubsub` (32mb hard,
//! 8mb soft for 60 seconds by default, as in Redis): PUBLISH checks the subscriber's pending
//! bytes and disconnects it once over.
//!
//! One mutex guards the registry, and PUBLISH holds it while delivering, so two messages from
//! one publisher arrive in the order they were published, and every subscriber sees all
//! publishers' messages in the same order.
//!
//! Redis reads and runs requests in the order they reach it, so a subscriber that sent
//! UNSUBSCRIBE (or SUBSCRIBE) before another client's PUBLISH has its request run first, and
//! the count PUBLISH returns says so. Here the subscriber's worker may not have been scheduled
//! yet when the publisher's runs: before delivering, PUBLISH looks at each subscriber's
//! socket (one non-blocking peek) and at its worker's progress, and for those with requests
//! not yet run (still in the socket, or read and not run), waits (at most
//! [`SETTLE_LIMIT`]) until their worker has read and run them ([`PubSub::settle`]). Only
//! clients already subscribed are looked at: a client's first SUBSCRIBE, still unread when
//! another client's PUBLISH runs, is not waited for (that would take a peek at every
//! connection for every message).
//!
//! Shard channels (SSUBSCRIBE, SPUBLISH; Redis 7.0's sharded Pub/Sub) are a second set of
//! channels beside the ordinary ones: same delivery, `smessage` instead of `message`, and no
//! pattern subscriptions. Redis binds them to a cluster slot; respd has no cluster, so they
//! behave as on a Redis without `cluster-enabled`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::client::ClientHandle;
use crate::config::OutputLimit;
use crate::protocol::Reply;

#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Vec<u8>, Vec<Arc<ClientHandle>>>,
    patterns: Vec<(Vec<u8>, Arc<ClientHandle>)>,
    /// Shard channels (SSUBSCRIBE): a namespace of their own, which no pattern matches. In a
    /// cluster they are bound to the slot of their name; respd is one node, so every shard
    /// channel is local, as in a Redis without `cluster-enabled`.
    shard_channels: HashMap<Vec<u8>, Vec<Arc<ClientHandle>>>,
}

/// How many of `subscribers` are still connected. A client that has just closed its
/// connection stays registered until its worker thread notices; Redis, which handles the
/// disconnection in the loop that runs commands, never counts it (see
/// [`ClientHandle::is_gone`]).
fn live(subscribers: Option<&Vec<Arc<ClientHandle>>>) -> usize {
    subscribers.map_or(0, |l| l.iter().filter(|c| !c.is_gone()).count())
}

/// The channels of `map` with a connected subscriber, matching `pattern` if given.
fn active(map: &HashMap<Vec<u8>, Vec<Arc<ClientHandle>>>, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
    map.iter()
        .filter(|(_, subscribers)| live(Some(subscribers)) > 0)
        .map(|(channel, _)| channel)
        .filter(|ch| pattern.map_or(true, |p| crate::glob::matches(p, ch, false)))
        .cloned()
        .collect()
}

/// Every subscription of every client.
#[derive(Debug, Default)]
pub struct PubSub {
    registry: Mutex<Registry>,
}

/// A message encoded once per protocol version, for all subscribers.
struct Encoded {
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl Encoded {
    fn get(&mut self, resp3: bool, encode: impl Fn(&mut Reply)) -> &[u8] {
        let slot = if resp3 {
            &mut self.resp3
        } else {
            &mut self.resp2
        };
        slot.get_or_insert_with(|| {
            let mut r = Reply::with_protocol(resp3);
            encode(&mut r);
            r.take_bytes()
        })
    }
}

/// The longest PUBLISH waits for subscribers to run requests they sent before it (see the
/// module docs). Their workers only have to be scheduled, so this is only reached when the
/// machine is starved or a subscriber keeps sending.
pub(crate) const SETTLE_LIMIT: Duration = Duration::from_millis(20);

impl PubSub {
    /// Lets the subscribers that would receive a message on `channel` (a shard channel if
    /// `shard`) first run the requests already waiting in their sockets, as Redis, which
    /// runs requests in the order they arrive, would have (see the module docs). The
    /// publisher itself (`publisher`, a client id) is not waited for.
    ///
    /// The caller must hold no lock a worker may need to run a request (the store's, as EXEC
    /// and scripts do): it would only wait for [`SETTLE_LIMIT`] to pass.
    pub fn settle(&self, channel: &[u8], shard: bool, publisher: u64) {
        let mut waiting: Vec<(Arc<ClientHandle>, u64, bool)> = Vec::new();
        {
            let reg = self.registry.lock();
            let mut consider = |client: &Arc<ClientHandle>| {
                if client.id == publisher || waiting.iter().any(|(c, ..)| c.id == client.id) {
                    return;
                }
                // The turn counter first, then the socket: a request read in between shows
                // in the counter as a turn that has not ended.
                let turns = client.turns();
                let unread = client.has_unread_requests();
                if ClientHandle::may_hold_requests(turns, unread) {
                    waiting.push((client.clone(), turns, unread));
                }
            };
            let map = if shard {
                &reg.shard_channels
            } else {
                &reg.channels
            };
            map.get(channel)
                .into_iter()
                .flatten()
                .for_each(&mut consider);
            if !shard {
                reg.patterns
                    .iter()
                    .filter(|(pattern, _)| crate::glob::matches(pattern, channel, false))
                    .for_each(|(_, client)| consider(client));
            }
        }
        if waiting.is_empty() {
            return;
        }
        let deadline = Instant::now() + SETTLE_LIMIT;
        for spin in 0u32.. {
            waiting.retain(|(c, turns, unread)| {
                !c.ran_requests_seen_at(*turns, *unread) && !c.is_gone()
            });
            if waiting.is_empty() || Instant::now() >= deadline {
                return;
            }
            if spin < 16 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Adds a channel subscription. Returns false if the client already had it.
    pub fn subscribe(&self, channel: &[u8], client: &Arc<ClientHandle>) -> bool {
        let mut reg = self.registry.lock();
        let list = reg.channels.entry(channel.to_vec()).or_default();
        if list.iter().any(|c| c.id == client.id) {
            return false;
        }
        list.push(client.clone());
        true
    }

    /// Removes a channel subscription. Returns false if the client did not have it.
    pub fn unsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        let mut reg = self.registry.lock();
        let Some(list) = reg.channels.get_mut(channel) else {
            return false;
        };
        let before = list.len();
        list.retain(|c| c.id != client_id);
        let removed = list.len() != before;
        if list.is_empty() {
            reg.channels.remove(channel);
        }
        removed
    }

    /// Adds a shard channel subscription (SSUBSCRIBE). Returns false if the client already
    /// had it.
    pub(crate) fn ssubscribe(&self, channel: &[u8], client: &Arc<ClientHandle>) -> bool {
        let mut reg = self.registry.lock();
        let list = reg.shard_channels.entry(channel.to_vec()).or_default();
        if list.iter().any(|c| c.id == client.id) {
            return false;
        }
        list.push(client.clone());
        true
    }

    /// Removes a shard channel subscription. Returns false if the client did not have it.
    pub fn sunsubscribe(&self, channel: &[u8], client_id: u64) -> bool {
        let mut reg = self.registry.lock();
        let Some(list) = reg.shard_channels.get_mut(channel) else {
            return false;
        };
        let before = list.len();
        list.retain(|c| c.id != client_id);
        let removed = list.len() != before;
        if list.is_empty() {
            reg.shard_channels.remove(channel);
        }
        removed
    }

    /// Delivers `message` to the subscribers of the shard channel `channel` as an
    /// `smessage` (SPUBLISH; patterns never see shard messages). Returns how many clients
    /// received it; the output limit applies as for [`PubSub::publish`].
    pub(crate) fn spublish(
        &self,
        channel: &[u8],
        message: &[u8],
        limit: OutputLimit,
        now_ms: u64,
        stats: &crate::shared::Stats,
    ) -> usize {
        let reg = self.registry.lock();
        let Some(list) = reg.shard_channels.get(channel) else {
            return 0;
        };
        deliver_to_channel(list, b"smessage", channel, message, limit, now_ms, stats)
    }

    /// Adds a pattern subscription. Returns false if the client already had it.
    pub fn psubscribe(&self, pattern: &[u8], client: &Arc<ClientHandle>) -> bool {
        let mut reg = self.registry.lock();
        if reg
            .patterns
            .iter()
            .any(|(p, c)| p == pattern && c.id == client.id)
        {
            return false;
        }
        reg.patterns.push((pattern.to_vec(), client.clone()));
        true
    }

    /// Removes a pattern subscription. Returns false if the client did not have it.
    pub(crate) fn punsubscribe(&self, pattern: &[u8], client_id: u64) -> bool {
        let mut reg = self.registry.lock();
        let before = reg.patterns.len();
        reg.patterns
            .retain(|(p, c)| !(p == pattern && c.id == client_id));
        reg.patterns.len() != before
    }

    /// Delivers `message` on `channel` to every channel subscriber, then to every matching
    /// pattern subscriber (Redis's order). Returns how many clients received it. Subscribers
    /// over `limit` are disconnected instead, as Redis does, and counted in `stats`.
    pub fn publish(
        &self,
        channel: &[u8],
        message: &[u8],
        limit: OutputLimit,
        now_ms: u64,
        stats: &crate::shared::Stats,
    ) -> usize {
        publish_locked(
            &self.registry.lock(),
            channel,
            message,
            limit,
            now_ms,
            stats,
        )
    }

    /// Publishes the keyspace notifications queued in `notifier` (Redis `notifyKeyspaceEvent`
    /// calls `pubsubPublishMessage` once per channel): for each event, in order, the
    /// `__keyspace@<db>__:<key>` message if `K` is set, then the `__keyevent@<db>__:<event>`
    /// message if `E` is. Callers hold the keyspace lock, so batches of different commands
    /// cannot overtake each other (see [`crate::notify`]). The registry is locked once per
    /// batch; with no subscriber at all the events are dropped unread. `limit` is asked for
    /// only when there is someone to deliver to.
    pub(crate) fn publish_keyspace_events(
        &self,
        notifier: &crate::notify::Notifier,
        limit: impl FnOnce() -> OutputLimit,
        now_ms: u64,
        stats: &crate::shared::Stats,
    ) {
        notifier.drain(|channels, events| {
            let reg = self.registry.lock();
            if reg.channels.is_empty() && reg.patterns.is_empty() {
                return;
            }
            let limit = limit();
            let mut channel = Vec::new();
            let prefixed = |channel: &mut Vec<u8>, kind: &str, db: usize, tail: &[u8]| {
                channel.clear();
                channel.extend_from_slice(kind.as_bytes());
                channel.extend_from_slice(db.to_string().as_bytes());
                channel.extend_from_slice(b"__:");
                channel.extend_from_slice(tail);
            };
            for event in events {
                if channels & crate::notify::KEYSPACE != 0 {
                    prefixed(&mut channel, "__keyspace@", event.db, &event.key);
                    publish_locked(&reg, &channel, event.name.as_bytes(), limit, now_ms, stats);
                }
                if channels & crate::notify::KEYEVENT != 0 {
                    prefixed(&mut channel, "__keyevent@", event.db, event.name.as_bytes());
                    publish_locked(&reg, &channel, &event.key, limit, now_ms, stats);
                }
            }
        });
    }

    /// Active channels (with at least one subscriber) matching `pattern`, or all of them.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        active(&self.registry.lock().channels, pattern)
    }

    /// Number of subscribers of `channel`.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        live(self.registry.lock().channels.get(channel))
    }

    /// Active shard channels matching `pattern`, or all of them (PUBSUB SHARDCHANNELS).
    pub(crate) fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        active(&self.registry.lock().shard_channels, pattern)
    }

    /// Number of subscribers of the shard channel `channel` (PUBSUB SHARDNUMSUB).
    pub(crate) fn shard_numsub(&self, channel: &[u8]) -> usize {
        live(self.registry.lock().shard_channels.get(channel))
    }

    /// Removes every subscription of a client that is going away.
    pub(crate) fn forget(&self, client_id: u64) {
        let mut guard = self.registry.lock();
        let reg = &mut *guard;
        for channels in [&mut reg.channels, &mut reg.shard_channels] {
            channels.retain(|_, list| {
                list.retain(|c| c.id != client_id);
                !list.is_empty()
            });
        }
        reg.patterns.retain(|(_, c)| c.id != client_id);
    }

    /// The channels (shard channels included) and patterns one client is subscribed to (ACL
    /// SETUSER checks them when it narrows the user's channels, shard channels as channels,
    /// as Redis's `ACLKillPubsubClientsIfNeeded` does).
    pub(crate) fn subscriptions_of(&self, client_id: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let reg = self.registry.lock();
        let channels = reg
            .channels
            .iter()
            .chain(reg.shard_channels.iter())
            .filter(|(_, list)| list.iter().any(|c| c.id == client_id))
            .map(|(ch, _)| ch.clone())
            .collect();
        let patterns = reg
            .patterns
            .iter()
            .filter(|(_, c)| c.id == client_id)
            .map(|(p, _)| p.clone())
            .collect();
        (channels, patterns)
    }

    /// Number of distinct patterns with at least one subscriber (PUBSUB NUMPAT, INFO
    /// `pubsub_patterns`: the size of Redis's `server.pubsub_patterns`, keyed by pattern), so
    /// two clients on the same pattern count once.
    pub(crate) fn numpat(&self) -> usize {
        let reg = self.registry.lock();
        let mut patterns: Vec<&[u8]> = reg.patterns.iter().map(|(p, _)| p.as_slice()).collect();
        patterns.sort_unstable();
        patterns.dedup();
        patterns.len()
    }

    /// Number of channels with at least one subscriber (INFO `pubsub_channels`).
    pub(crate) fn numchannels(&self) -> usize {
        self.registry.lock().channels.len()
    }
}

/// [`PubSub::publish`] with the registry already locked.
fn publish_locked(
    reg: &Registry,
    channel: &[u8],
    message: &[u8],
    limit: OutputLimit,
    now_ms: u64,
    stats: &crate::shared::Stats,
) -> usize {
    let mut receivers = 0;
    if let Some(list) = reg.channels.get(channel) {
        receivers += deliver_to_channel(list, b"message", channel, message, limit, now_ms, stats);
    }
    for (pattern, client) in &reg.patterns {
        if !crate::glob::matches(pattern, channel, false) || client.is_gone() {
            continue;
        }
        let mut r = Reply::with_protocol(client.resp3.load(Ordering::Relaxed));
        r.push(4);
        r.bulk(b"pmessage");
        r.bulk(pattern);
        r.bulk(channel);
        r.bulk(message);
        deliver_within_limit(client, r.as_bytes(), limit, now_ms, stats);
        receivers += 1;
    }
    receivers
}

/// Delivers `[kind, channel, message]` (`message` or `smessage`) to every subscriber in
/// `list`, encoded once per protocol version. Returns how many received it: a subscriber
/// whose connection is already over ([`ClientHandle::is_gone`]) is neither sent to nor
/// counted, as Redis, which has freed it by then, does not count it.
fn deliver_to_channel(
    list: &[Arc<ClientHandle>],
    kind: &[u8],
    channel: &[u8],
    message: &[u8],
    limit: OutputLimit,
    now_ms: u64,
    stats: &crate::shared::Stats,
) -> usize {
    let mut encoded = Encoded {
        resp2: None,
        resp3: None,
    };
    let mut receivers = 0;
    for client in list {
        if client.is_gone() {
            continue;
        }
        let bytes = encoded.get(client.resp3.load(Ordering::Relaxed), |r| {
            r.push(3);
            r.bulk(kind);
            r.bulk(channel);
            r.bulk(message);
        });
        deliver_within_limit(client, bytes, limit, now_ms, stats);
        receivers += 1;
    }
    receivers
}

/// Hands `bytes` to a subscriber, or disconnects it if that would put it over the pub/sub
/// output limit (Redis `checkClientOutputBufferLimits`): the pubsub class for subscribers,
/// the replica class for monitors ([`crate::monitor`]).
pub(crate) fn deliver_within_limit(
    client: &ClientHandle,
    bytes: &[u8],
    limit: OutputLimit,
    now_ms: u64,
    stats: &crate::shared::Stats,
) {
    if client.is_killed() {
        return;
    }
    let pending = client.pending_output() + bytes.len();
    let over_hard = limit.hard_bytes > 0 && pending as u64 > limit.hard_bytes;
    let over_soft = limit.soft_bytes > 0 && pending as u64 > limit.soft_bytes;
    let soft_expired = if over_soft {
        let since = client.pubsub_soft_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            client.pubsub_soft_since_ms.store(now_ms, Ordering::Relaxed);
            limit.soft_seconds == 0
        } else {
            now_ms.saturating_sub(since) / 1000 >= limit.soft_seconds
        }
    } else {
        client.pubsub_soft_since_ms.store(0, Ordering::Relaxed);
        false
    };
    if over_hard || soft_expired {
        crate::warning!(
            "Client id={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            client.id
        );
        client.kill();
        stats
            .client_output_limit_disconnects
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    client.deliver(bytes);
}
