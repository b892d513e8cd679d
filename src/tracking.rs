//! Client-side caching: CLIENT TRACKING's table of who read which key, and the invalidation
//! messages sent when a key changes.
//!
//! Counterpart of Redis `tracking.c`. A client that turns tracking on may keep the values it
//! reads in a local cache; the server promises to tell it when one of those keys changes, so
//! the cache never serves a stale value for long.
//!
//! # Two modes
//! - **Default**: every key a tracking client reads (a command flagged `readonly`) is
//!   remembered in a table key → client ids ([`Tracking::remember`]). When the key is
//!   modified, each client in its entry gets one invalidation message and the entry goes: a
//!   client is told once, and told again only if it reads the key again. With OPTIN only
//!   the reads right after `CLIENT CACHING yes` are remembered; with OPTOUT all but those
//!   after `CLIENT CACHING no`.
//! - **BCAST**: nothing is remembered; a client subscribes to key prefixes (the empty prefix
//!   is every key) and gets every modified key under them, batched per command.
//!
//! # Where the messages go
//! A RESP3 client gets `>2 invalidate [keys]` pushes on its own connection. A client may
//! instead REDIRECT its messages to another connection: a RESP3 one gets the same pushes, a
//! RESP2 one in Pub/Sub mode gets them as messages of the `__redis__:invalidate` channel. A
//! flush (FLUSHDB, FLUSHALL) invalidates everything with a null instead of keys. NOLOOP
//! leaves out the keys a client modified itself.
//!
//! # How changes reach this module
//! The store reports every modified key (Redis `signalModifiedKey`) to its
//! [`Notifier`](crate::notify::Notifier) while some client tracks; the command layer calls
//! [`invalidate_modified`] after each write, still under the keyspace lock, so the keys are
//! attributed to the client that changed them (NOLOOP needs that). Messages for other clients
//! go to their mailboxes at once; those for the client that ran the command are kept in
//! [`Client::tracking_pending`] and sent right after its reply ([`flush_own`]), as Redis
//! sends them after the command's response, never inside it (nor inside an EXEC's).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::client::Client;
use crate::shared::Shared;

/// The channel RESP2 redirection targets receive invalidations on.
const CHANNEL: &[u8] = b"__redis__:invalidate";

/// A client's tracking settings (Redis's `CLIENT_TRACKING*` flags), readable by the thread
/// that sends it a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// CLIENT TRACKING ON.
    pub on: bool,
    /// BCAST mode.
    pub bcast: bool,
    /// OPTIN mode.
    pub optin: bool,
    /// OPTOUT mode.
    pub optout: bool,
    /// NOLOOP: no message about keys this client modified.
    pub noloop: bool,
    /// The client id messages go to; 0 for the client itself.
    pub redirect: u64,
    /// The redirection target went away (`broken_redirect`, CLIENT LIST flag `R`).
    pub broken_redirect: bool,
    /// BCAST prefixes.
    pub prefixes: BTreeSet<Vec<u8>>,
}

/// The keys modified under one BCAST prefix since the last broadcast, each with the id of
/// the client that modified it last (0 for the server itself), and who listens.
#[derive(Debug, Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Vec<u8>, u64>,
}

#[derive(Debug, Default)]
struct Table {
    /// Key → the ids of the clients that may cache it.
    keys: HashMap<Vec<u8>, BTreeSet<u64>>,
    /// The number of (key, client) pairs (INFO `tracking_total_items`).
    items: usize,
    /// BCAST prefixes.
    prefixes: BTreeMap<Vec<u8>, Prefix>,
}

/// The server's tracking state.
#[derive(Debug, Default)]
pub struct Tracking {
    table: Mutex<Table>,
    /// Clients with tracking on (INFO `tracking_clients`).
    clients: AtomicUsize,
}

/// A message's payload: keys, or "everything" after a flush.
enum Payload<'a> {
    /// One key (default mode).
    Key(&'a [u8]),
    /// Several keys (a BCAST batch).
    Keys(&'a [&'a [u8]]),
    /// A flush: a null in place of the keys.
    Flush,
}

impl Tracking {
    /// INFO `tracking_clients`, `tracking_total_keys`, `tracking_total_items`,
    /// `tracking_total_prefixes`.
    pub fn info(&self, shared: &Shared) -> (usize, usize, usize, usize) {
        // Clients already killed are gone for Redis, though their threads may not have
        // closed them yet.
        let clients = (shared.clients.all().iter())
            .filter(|c| !c.is_killed() && c.tracking.lock().on)
            .count();
        let table = self.table.lock();
        (clients, table.keys.len(), table.items, table.prefixes.len())
    }
}

/// CLIENT TRACKING ON (Redis `enableTracking`): `settings` replace the client's, the BCAST
/// prefixes are registered.
pub fn enable(shared: &Shared, client: &mut Client, settings: Settings) {
    let id = client.id();
    let mut current = client.handle.tracking.lock();
    if !current.on {
        shared.tracking.clients.fetch_add(1, Ordering::Relaxed);
    }
    let mut table = shared.tracking.table.lock();
    let mut prefixes = std::mem::take(&mut current.prefixes);
    if settings.bcast {
        let wanted: Vec<Vec<u8>> = if settings.prefixes.is_empty() {
            vec![Vec::new()]
        } else {
            settings.prefixes.iter().cloned().collect()
        };
        for prefix in wanted {
            table
                .prefixes
                .entry(prefix.clone())
                .or_default()
                .clients
                .insert(id);
            prefixes.insert(prefix);
        }
    }
    *current = Settings {
        prefixes,
        ..settings
    };
    drop(table);
    client.tracking_on = true;
    shared.store.notifier().set_tracking(true);
}

/// CLIENT TRACKING OFF, and a tracking client leaving (Redis `disableTracking`).
pub(crate) fn disable(shared: &Shared, client: &mut Client) {
    let id = client.id();
    client.tracking_on = false;
    client.tracking_caching = false;
    let mut current = client.handle.tracking.lock();
    if !current.on {
        return;
    }
    let mut table = shared.tracking.table.lock();
    for prefix in &current.prefixes {
        if let Some(state) = table.prefixes.get_mut(prefix) {
            state.clients.remove(&id);
            if state.clients.is_empty() {
                table.prefixes.remove(prefix);
            }
        }
    }
    *current = Settings::default();
    shared.tracking.clients.fetch_sub(1, Ordering::Relaxed);
    stop_recording_if_idle(shared, &table);
}

/// Stops the store recording modified keys once nobody tracks and the table is empty.
/// Until then the table lives on, as Redis's does (INFO counts its keys), and modifications
/// and flushes must still reach it to empty it.
fn stop_recording_if_idle(shared: &Shared, table: &Table) {
    if shared.tracking.clients.load(Ordering::Relaxed) == 0
        && table.keys.is_empty()
        && table.prefixes.is_empty()
    {
        shared.store.notifier().set_tracking(false);
    }
}

/// Remembers the keys of a read command a tracking client ran (Redis
/// `trackingRememberKeys`): OPTIN clients only after CLIENT CACHING yes, OPTOUT clients
/// unless after CLIENT CACHING no.
pub(crate) fn remember(shared: &Shared, client: &Client, keys: impl Iterator<Item = Vec<u8>>) {
    let (optin, optout) = {
        let settings = client.handle.tracking.lock();
        if !settings.on || settings.bcast {
            return;
        }
        (settings.optin, settings.optout)
    };
    let caching = client.tracking_caching;
    if (optin && !caching) || (optout && caching) {
        return;
    }
    let id = client.id();
    let mut table = shared.tracking.table.lock();
    for key in keys {
        if table.keys.entry(key).or_default().insert(id) {
            table.items += 1;
        }
    }
    drop(table);
    enforce_limit(shared);
}

/// Brings the table back under `tracking-table-max-keys` after the limit was lowered
/// (Redis's `serverCron` calls `trackingLimitUsedSlots` for that).
///
/// The keys go as if they were modified (Redis `trackingLimitUsedSlots` picks them at
/// random; a `HashMap`'s order is as good a pick): their clients get an invalidation.
pub(crate) fn enforce_limit(shared: &Shared) {
    let max = max_keys(shared);
    let victims: Vec<Vec<u8>> = {
        let table = shared.tracking.table.lock();
        let over = table.keys.len().saturating_sub(max);
        table.keys.keys().take(over).cloned().collect()
    };
    for key in victims {
        invalidate_key(shared, None, &key);
    }
}

/// `tracking-table-max-keys`; 0 is no limit.
fn max_keys(shared: &Shared) -> usize {
    let limit = shared
        .config
        .read()
        .kept
        .get("tracking-table-max-keys")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1_000_000);
    if limit == 0 {
        usize::MAX
    } else {
        limit
    }
}

/// Sends the invalidations of every key modified since the last call (see the module docs).
/// `client` is the one whose command modified them, if any: NOLOOP skips it, and its own
/// messages wait in its [`Client::tracking_pending`] until its reply is out.
pub(crate) fn invalidate_modified(shared: &Shared, mut client: Option<&mut Client>) {
    let modified = shared.store.notifier().take_modified();
    let mut flushed = false;
    for key in modified {
        match key {
            Some(key) => invalidate_key(shared, client.as_deref_mut(), &key),
            // FLUSHALL empties every database: one message, as Redis sends one per flush.
            None if flushed => {}
            None => {
                flushed = true;
                invalidate_all(shared, client.as_deref_mut());
            }
        }
    }
}

/// Redis `trackingInvalidateKey`.
fn invalidate_key(shared: &Shared, mut client: Option<&mut Client>, key: &[u8]) {
    let modifier = client.as_ref().map_or(0, |c| c.id());
    let ids = {
        let mut table = shared.tracking.table.lock();
        for (prefix, state) in table.prefixes.iter_mut() {
            if key.starts_with(prefix) {
                state.keys.insert(key.to_vec(), modifier);
            }
        }
        let ids = table.keys.remove(key);
        if let Some(ids) = &ids {
            table.items -= ids.len();
            stop_recording_if_idle(shared, &table);
        }
        ids
    };
    for id in ids.into_iter().flatten() {
        let Some(target) = shared.clients.get(id) else {
            continue;
        };
        let settings = target.tracking.lock().clone();
        // A client that switched to BCAST since it read the key is not told about it.
        if !settings.on || settings.bcast || (settings.noloop && id == modifier) {
            continue;
        }
        send(
            shared,
            client.as_deref_mut(),
            id,
            &settings,
            Payload::Key(key),
        );
    }
}

/// Redis `trackingInvalidateKeysOnFlush`: every tracking client is told that everything
/// changed, and the table is emptied.
fn invalidate_all(shared: &Shared, mut client: Option<&mut Client>) {
    {
        let mut table = shared.tracking.table.lock();
        table.keys.clear();
        table.items = 0;
        stop_recording_if_idle(shared, &table);
    }
    for target in shared.clients.all() {
        let settings = target.tracking.lock().clone();
        if settings.on {
            send(
                shared,
                client.as_deref_mut(),
                target.id,
                &settings,
                Payload::Flush,
            );
        }
    }
}

/// One prefix's broadcast: its clients, and the modified keys with who modified them.
type Batch = (Vec<u64>, Vec<(Vec<u8>, u64)>);

/// Sends the keys modified under each BCAST prefix since the last broadcast to the clients
/// of that prefix (Redis `trackingBroadcastInvalidationMessages`, which runs once per event
/// loop turn; respd runs it after each command). NOLOOP clients are not sent the keys they
/// modified themselves.
pub(crate) fn broadcast(shared: &Shared, mut client: Option<&mut Client>) {
    let batches: Vec<Batch> = {
        let mut table = shared.tracking.table.lock();
        if table.prefixes.is_empty() {
            return;
        }
        table
            .prefixes
            .values_mut()
            .filter(|p| !p.keys.is_empty())
            .map(|p| {
                let keys = std::mem::take(&mut p.keys).into_iter().collect();
                (p.clients.iter().copied().collect(), keys)
            })
            .collect()
    };
    for (clients, keys) in batches {
        for id in clients {
            let Some(target) = shared.clients.get(id) else {
                continue;
            };
            let settings = target.tracking.lock().clone();
            let sent: Vec<&[u8]> = keys
                .iter()
                .filter(|(_, by)| !(settings.noloop && *by == id))
                .map(|(key, _)| key.as_slice())
                .collect();
            if !sent.is_empty() {
                send(
                    shared,
                    client.as_deref_mut(),
                    id,
                    &settings,
                    Payload::Keys(&sent),
                );
            }
        }
    }
}

/// Redis `sendTrackingMessage`: `payload` for client `id` (whose settings are `settings`),
/// to it or to its redirection target.
fn send(
    shared: &Shared,
    current: Option<&mut Client>,
    id: u64,
    settings: &Settings,
    payload: Payload,
) {
    let resp3 = |id: u64| (shared.clients.get(id)).is_some_and(|h| h.resp3.load(Ordering::Relaxed));
    let own_resp3 = resp3(id);
    let mut out = Vec::new();
    let mut recipient = id;
    if settings.redirect != 0 {
        let target = (shared.clients.get(settings.redirect)).filter(|h| !h.is_gone());
        let Some(target) = target else {
            // The target is gone: the client is told once per message, in RESP3 only.
            if let Some(handle) = shared.clients.get(id) {
                handle.tracking.lock().broken_redirect = true;
            }
            if own_resp3 {
                out.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n:");
                out.extend_from_slice(settings.redirect.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                deliver(shared, current, id, &out);
            }
            return;
        };
        recipient = settings.redirect;
        if resp3(recipient) {
            out.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
        } else {
            let (channels, patterns) = shared.pubsub.subscriptions_of(target.id);
            if channels.is_empty() && patterns.is_empty() {
                return;
            }
            out.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n");
            push_bulk(&mut out, CHANNEL);
        }
    } else if own_resp3 {
        out.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else {
        // RESP2 has no pushes on a connection that also gets replies: nothing to send.
        return;
    }
    match payload {
        Payload::Key(key) => {
            out.extend_from_slice(b"*1\r\n");
            push_bulk(&mut out, key);
        }
        Payload::Keys(keys) => {
            out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for key in keys {
                push_bulk(&mut out, key);
            }
        }
        // Redis writes the null of the *tracking* client's protocol, even when the message
        // goes to a redirection target that speaks the other one.
        Payload::Flush if own_resp3 => out.extend_from_slice(b"_\r\n"),
        Payload::Flush => out.extend_from_slice(b"$-1\r\n"),
    }
    deliver(shared, current, recipient, &out);
}

fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Hands a message to client `id`: the running client keeps it until its reply is out;
/// any other gets it in its mailbox.
fn deliver(shared: &Shared, current: Option<&mut Client>, id: u64, message: &[u8]) {
    match current {
        Some(client) if client.id() == id => client.tracking_pending.extend_from_slice(message),
        _ => {
            if let Some(handle) = shared.clients.get(id) {
                handle.deliver(message);
            }
        }
    }
}

/// Appends the messages kept for the running client after its reply (see the module docs).
/// Returns true if there were any.
pub(crate) fn flush_own(client: &mut Client, reply: &mut crate::protocol::Reply) -> bool {
    if client.tracking_pending.is_empty() {
        return false;
    }
    reply.raw(&client.tracking_pending);
    client.tracking_pending.clear();
    true
}
