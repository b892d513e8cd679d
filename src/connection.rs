//! The per-connection loop: read → parse all → execute all → send once → read again.
//!
//! Counterpart of Redis `networking.c` (`readQueryFromClient`, `processInputBuffer`,
//! `writeToClient`), rewritten for one blocking thread per connection.
//!
//! # Why this loop pipelines for free
//! A client that pipelines sends many commands before reading any reply. One `read` then
//! returns several commands at once, and the loop below executes *all* complete commands in the
//! query buffer, collecting their replies in memory, before it sends anything. A hundred
//! pipelined GETs therefore cost one `read` and one `send` instead of a hundred of each, which
//! is where pipelining's speed comes from (system calls and round trips, not command work,
//! dominate a small command).
//!
//! ```text
//!            +------------------------------------------------------------+
//!            v                                                            |
//!   read (blocks) --> parse every complete command --> dispatch each -->  send replies once
//!   [query buffer]     [Parser::next_command]          [cmd::dispatch]    [without blocking]
//! ```
//!
//! # The one trap, and how it is avoided
//! A blocking `write` would be a deadlock waiting to happen: a client that writes a whole
//! pipeline before reading (redis-py's pipeline, any `sendall`-then-read client) fills the
//! server's send buffer with replies and its own send buffer with requests. If the server then
//! blocked in `write`, it would stop reading, the client would block in its own `write`, and
//! both would wait forever.
//!
//! So the loop never blocks in `write`. It sends what the kernel takes right now
//! ([`sys::send_nonblocking`]); whatever is left is queued in memory ([`OutputQueue`]), and
//! while anything is queued the worker waits for "readable *or* writable" ([`sys::wait`])
//! instead of blocking in `read`. New requests keep being read and executed, and their replies
//! join the queue — exactly what Redis does, and why the pipelining document warns that huge
//! unread pipelines cost server memory. `client-output-buffer-limit` bounds that memory.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Client, ClientHandle};
use crate::cmd;
use crate::protocol::{Argv, Limits, Parser, Reply};
use crate::shared::Shared;
use crate::sys;
use crate::util::now_ms;

/// Bytes asked for per read (Redis `PROTO_IOBUF_LEN`).
pub(crate) const READ_CHUNK: usize = 16 * 1024;
/// Size of a queued reply block (Redis's reply list uses 16 KiB blocks too).
const OUTPUT_BLOCK: usize = 16 * 1024;
/// A batch reply buffer larger than this is freed after use instead of kept for reuse.
const REPLY_BUFFER_KEEP: usize = 1024 * 1024;

/// Replies the kernel has not accepted yet, kept as a list of blocks.
///
/// Blocks rather than one growing `Vec`: a `Vec` doubles its capacity as it grows, so a queue of
/// 100 MB could hold up to 200 MB; blocks hold the queued bytes plus at most one partly filled
/// block. Sent blocks are freed at once.
#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    blocks: VecDeque<Vec<u8>>,
    /// Bytes of the first block already sent.
    head_sent: usize,
    /// Unsent bytes in total.
    bytes: usize,
    /// Since when the queue has been above the soft limit, if it is.
    over_soft_limit_since: Option<Instant>,
}

impl OutputQueue {
    /// True when every reply has been handed to the kernel.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Unsent bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of blocks.
    pub(crate) fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Memory held by the queue (allocated, not just used).
    pub(crate) fn allocated(&self) -> usize {
        self.blocks.iter().map(|b| b.capacity()).sum()
    }

    /// Appends bytes, filling the last block before starting a new one.
    pub fn push(&mut self, mut data: &[u8]) {
        self.bytes += data.len();
        if let Some(last) = self.blocks.back_mut() {
            let room = last.capacity() - last.len();
            let n = room.min(data.len());
            last.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if !data.is_empty() {
            let mut block = Vec::with_capacity(data.len().max(OUTPUT_BLOCK));
            block.extend_from_slice(data);
            self.blocks.push_back(block);
        }
    }

    /// Sends as much as the kernel accepts without blocking. Returns bytes sent.
    pub fn send(&mut self, stream: &TcpStream) -> io::Result<usize> {
        let mut total = 0;
        while let Some(head) = self.blocks.front() {
            let n = sys::send_nonblocking(stream, &head[self.head_sent..])?;
            if n == 0 {
                break;
            }
            total += n;
            self.bytes -= n;
            self.head_sent += n;
            if self.head_sent == head.len() {
                self.blocks.pop_front();
                self.head_sent = 0;
            }
        }
        Ok(total)
    }
}

/// The limits a connection checks after every batch, copied out of the config.
///
/// Reading the config means taking its read lock, an atomic write to a cache line that every
/// worker shares; after every batch of every client that is measurable. Instead the copy is
/// refreshed only when [`Shared::config_generation`] says CONFIG SET changed something.
#[derive(Debug, Clone, Copy)]
struct CachedLimits {
    generation: u64,
    query_buffer: u64,
    output: crate::config::OutputLimit,
    /// `proto-max-bulk-len`: the parser checks it at each `$N` it reads.
    max_bulk_len: u64,
}

impl CachedLimits {
    fn load(shared: &Shared) -> CachedLimits {
        let generation = shared.config_generation();
        let config = shared.config.read();
        CachedLimits {
            generation,
            query_buffer: config.client_query_buffer_limit,
            output: config.normal_output_limit(),
            max_bulk_len: config.proto_max_bulk_len,
        }
    }

    fn current(&mut self, shared: &Shared) -> CachedLimits {
        if shared.config_generation() != self.generation {
            *self = CachedLimits::load(shared);
        }
        *self
    }
}

/// Why a connection ended (for the debug log).
#[derive(Debug)]
enum Close {
    /// The client closed its side.
    Eof,
    /// QUIT, a protocol error, SHUTDOWN or CLIENT KILL.
    Requested,
    /// Over `client-output-buffer-limit`.
    OutputLimit,
    /// Over `client-query-buffer-limit`.
    QueryLimit,
}

/// One connection and its buffers.
pub struct Connection<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    client: Client,
    parser: Parser,
    /// Bytes read but not parsed yet (Redis `querybuf`).
    query: Vec<u8>,
    /// Where `read` puts bytes before they join `query`.
    read_buf: Box<[u8]>,
    /// The argument vector of the command being parsed, reused from command to command.
    argv: Argv,
    /// The current batch's replies.
    reply: Reply,
    /// Replies the kernel did not take yet.
    output: OutputQueue,
    /// Limits from the config, refreshed when it changes.
    limits: CachedLimits,
    /// Bytes read and sent in this batch (INFO total_net_*).
    net_in: u64,
    net_out: u64,
    /// Reads and reply sends since the last publish (INFO total_reads/writes_processed).
    reads: u64,
    writes: u64,
}

/// Serves one accepted socket until it closes. Runs on a worker thread.
pub fn serve(stream: TcpStream, shared: &Arc<Shared>) {
    let handle = match shared.clients.register(&stream, now_ms()) {
        Ok(h) => h,
        Err(e) => {
            crate::debug!("Error registering a client: {e}");
            return;
        }
    };
    // Whatever happens below, even a panic in a handler, the client leaves the registry and
    // its socket is closed, so a bug can cost one connection but never leak its slot.
    let _registration = Registration {
        shared,
        handle: handle.clone(),
    };
    let id = handle.id;
    let _ = stream.set_nodelay(true);
    let keepalive = shared.config.read().tcp_keepalive;
    if keepalive > 0 {
        let _ = sys::set_keepalive(&stream, keepalive);
    }
    crate::verbose!("Accepted {}", handle.addr);
    let mut conn = Connection::new(stream, shared, handle);
    let ended = conn.run();
    conn.publish_stats();
    if conn.client.total_subscription_count() > 0 {
        shared.pubsub.forget(id);
    }
    // A client that leaves while blocked stops waiting.
    if let Some(blocked) = conn.client.blocked.take() {
        crate::blocking::cancel(&shared.store, &blocked.waiter, None);
        *conn.client.handle.blocked_on.lock() = None;
    }
    // A tracking client leaves the tracking table's prefixes and count.
    if conn.client.tracking_on {
        crate::tracking::disable(shared, &mut conn.client);
    }
    // ... and so does one whose command waited for CLIENT PAUSE to end.
    if conn.client.postponed.take().is_some() {
        shared.pause.forget(&conn.client.handle);
    }
    if conn.client.handle.is_replica() {
        crate::replication::detach(shared, id);
    }
    if conn.client.handle.is_monitor() {
        shared.monitors.remove(id);
    }
    // Watched keys point at this client's flag; take them back before it goes.
    if !conn.client.watch.keys.is_empty() {
        crate::cmd::transactions::unwatch_all(&shared.store.read(), &mut conn.client.watch);
    }
    match ended {
        Ok(Close::OutputLimit) => {
            shared
                .stats
                .client_output_limit_disconnects
                .fetch_add(1, Ordering::Relaxed);
            crate::warning!("Client id={id} closed for overcoming of output buffer limits.");
        }
        Ok(Close::QueryLimit) => {
            crate::warning!("Closing client id={id} that reached max query buffer length")
        }
        Ok(reason) => crate::verbose!("Client id={id} closed ({reason:?})"),
        Err(e) => crate::verbose!("Client id={id} closed: {e}"),
    }
}

/// Removes a client from the registry and shuts its socket when the connection ends, however
/// it ends.
struct Registration<'a> {
    shared: &'a Shared,
    handle: Arc<ClientHandle>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        // The registry holds a second handle on the socket; without this shutdown the peer
        // would not see the close until that handle is dropped too.
        self.handle.kill();
        self.shared.retire_counters(&self.handle.counters);
        self.shared.clients.unregister(self.handle.id);
    }
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, shared: &'a Shared, handle: Arc<ClientHandle>) -> Self {
        let limits = CachedLimits::load(shared);
        let mut client = Client::new(handle);
        client.set_default_user(&shared.acl);
        Connection {
            stream,
            shared,
            client,
            parser: Parser::new(Limits {
                max_bulk_len: limits.max_bulk_len,
                unauthenticated: false,
            }),
            query: Vec::new(),
            read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            argv: Argv::new(),
            reply: Reply::new(),
            output: OutputQueue::default(),
            limits,
            net_in: 0,
            net_out: 0,
            reads: 0,
            writes: 0,
        }
    }

    /// The loop. See the module docs.
    fn run(&mut self) -> io::Result<Close> {
        loop {
            // 0. Take what other threads handed over: published messages, or the reply that
            //    ends a blocking command. "Done" is read before the mailbox: a finished wait
            //    always delivers its reply first, so it cannot be missed.
            let wait_finished = self
                .client
                .blocked
                .as_ref()
                .is_some_and(|b| b.waiter.is_done());
            if let Some(mail) = self.client.handle.take_mail() {
                if wait_finished && mail.first() == Some(&b'-') {
                    // The wait ended with an error: it counts in the error statistics, and
                    // the blocked command as failed.
                    self.reply.raw_error(&mail);
                    self.client.errors_seen += 1;
                    let argv = self
                        .client
                        .blocked
                        .as_ref()
                        .and_then(|b| b.slowlog.as_ref());
                    if let Some(Ok((spec, _))) = argv.map(|d| crate::cmd::resolve(&d.argv)) {
                        self.client.command_stats.failed_after_block(spec);
                    }
                    // Counted before the reply goes out, as Redis counts it before writing:
                    // a client that reads the error and then asks INFO sees it.
                    self.publish_stats();
                } else {
                    self.reply.raw(&mail);
                }
            }
            if wait_finished {
                // mirrors updateStatsOnUnblock(): a wait a write served goes to the slow log.
                if let Some(blocked) = self.client.blocked.take() {
                    if let (true, Some(command)) = (blocked.waiter.was_served(), blocked.slowlog) {
                        let log = &self.shared.slowlog;
                        let (argv, redacted) = (&command.argv, &command.redacted);
                        log.push_if_needed(&self.client, argv, redacted, command.duration_us);
                    }
                }
                *self.client.handle.blocked_on.lock() = None;
            }
            // 1. Execute every complete command already received.
            self.process_query_buffer();
            // 2. Hand this batch's replies to the kernel, never blocking.
            self.send_replies()?;
            self.publish_stats();
            self.client.handle.turn_ends();
            if let Some(reason) = self.over_limits() {
                return Ok(reason);
            }
            if self.client.handle.is_killed() {
                return Ok(Close::Requested);
            }
            if self.client.close_after_reply && self.output.is_empty() {
                return Ok(Close::Requested);
            }
            // 3. Wait for the next thing to do.
            if self.client.needs_waker() {
                // Other threads may hand this client something at any moment: wait for the
                // socket or the waker, whichever comes first.
                let waker = self.client.handle.waker()?;
                let want_read = !self.client.close_after_reply;
                let mut deadline = self.client.blocked.as_ref().and_then(|b| b.deadline);
                if self.client.postponed.is_some() {
                    // Wait for CLIENT UNPAUSE (which wakes us) or the end of the pause.
                    let now = self.shared.clock.now_ms();
                    let handle = &self.client.handle;
                    let Some(end_ms) = self.shared.pause.postpone(handle, now) else {
                        continue; // already over: run the command now
                    };
                    handle.is_postponed.store(true, Ordering::Relaxed);
                    let wait = Duration::from_millis(end_ms.saturating_sub(now) + 1);
                    deadline = Some(Instant::now() + wait);
                }
                let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let (ready, woken) = sys::wait_or_wake(
                    &self.stream,
                    waker,
                    want_read,
                    !self.output.is_empty(),
                    timeout,
                )?;
                if let Some(reason) = self.on_ready(ready, want_read)? {
                    return Ok(reason);
                }
                if !woken && deadline.is_some_and(|d| Instant::now() >= d) {
                    // The blocking command timed out: end the wait (unless a writer served it
                    // just now); its reply arrives through the mailbox like a served one.
                    if let Some(blocked) = &self.client.blocked {
                        crate::blocking::cancel(&self.shared.store, &blocked.waiter, None);
                    }
                }
            } else if self.output.is_empty() {
                // Nothing queued: the classic blocking read.
                // (No subscribed client reads here, so nobody waits on this turn's start: see
                // `crate::pubsub`.)
                let n = self.stream.read(&mut self.read_buf)?;
                self.client.handle.turn_starts();
                if n == 0 {
                    return Ok(Close::Eof);
                }
                self.take_input(n);
            } else {
                // Replies queued: wake for new requests *or* room to send, whichever first.
                let want_read = !self.client.close_after_reply;
                let ready = sys::wait(&self.stream, want_read, true, None)?;
                if let Some(reason) = self.on_ready(ready, want_read)? {
                    return Ok(reason);
                }
            }
        }
    }

    /// Acts on what [`sys::wait`] found: send queued replies if there is room, read new
    /// requests if there are any. Returns why to close, at end of stream.
    fn on_ready(&mut self, ready: sys::Readiness, want_read: bool) -> io::Result<Option<Close>> {
        if ready.writable && !self.output.is_empty() {
            self.net_out += self.output.send(&self.stream)? as u64;
            self.writes += 1;
        }
        if ready.readable && want_read {
            // Before the read: from here until the replies are sent, other threads know this
            // client may hold requests not yet run (see `crate::pubsub`).
            self.client.handle.turn_starts();
            match sys::recv_nonblocking(&self.stream, &mut self.read_buf)? {
                Some(0) => return Ok(Some(Close::Eof)),
                Some(n) => self.take_input(n),
                None => {}
            }
        }
        Ok(None)
    }

    /// Appends `n` freshly read bytes to the query buffer.
    fn take_input(&mut self, n: usize) {
        self.query.extend_from_slice(&self.read_buf[..n]);
        self.net_in += n as u64;
        self.reads += 1;
    }

    /// Parses and executes every complete command in the query buffer (Redis
    /// `processInputBuffer`). Stops early when the client must be closed.
    fn process_query_buffer(&mut self) {
        // CONFIG SET proto-max-bulk-len applies to connections already open, from the next
        // `$N` line on, as in Redis (which reads the global at each bulk header).
        let limits = self.limits.current(self.shared);
        self.client.refresh_user(&self.shared.acl);
        self.parser.set_limits(Limits {
            max_bulk_len: limits.max_bulk_len,
            unauthenticated: self.client.auth_required(),
        });
        let mut pos = 0;
        self.client.query_buffer = (self.query.len(), self.query.capacity());
        // A command CLIENT PAUSE held back goes first, now that the pause may be over (the
        // dispatcher holds it back again if not).
        if let Some(argv) = self.client.postponed.take() {
            self.client
                .handle
                .is_postponed
                .store(false, Ordering::Relaxed);
            cmd::dispatch(self.shared, &mut self.client, &argv, &mut self.reply);
        }
        // A blocked client's next commands wait until its blocking command has answered
        // (Redis does not process the query buffer of a blocked client either), and so do
        // those after a command held back by a pause.
        while !self.client.close_after_reply
            && self.client.blocked.is_none()
            && self.client.postponed.is_none()
        {
            match self
                .parser
                .next_command(&self.query, &mut pos, &mut self.argv)
            {
                Ok(true) => {
                    cmd::dispatch(self.shared, &mut self.client, &self.argv, &mut self.reply);
                    // AUTH may have just let the client in (or RESET out).
                    let unauthenticated = self.client.auth_required();
                    self.parser.set_limits(Limits {
                        max_bulk_len: limits.max_bulk_len,
                        unauthenticated,
                    });
                }
                Ok(false) => break,
                Err(e) => {
                    crate::verbose!("Protocol error ({e}) from client: id={}", self.client.id());
                    self.reply.error(&e.message());
                    self.client.close_after_reply = true;
                }
            }
        }
        // appendfsync always: no reply of the batch leaves before its writes are on disk. One
        // wait per batch, not per command, as Redis fsyncs once per event-loop turn before it
        // writes replies: sixteen pipelined SETs cost one fsync, not sixteen.
        crate::persistence::aof::wait_durable(self.shared);
        // Keep only the unparsed tail (Redis `sdsrange(querybuf, qb_pos, -1)`).
        self.query.drain(..pos);
        if self.query.is_empty() && self.query.capacity() > REPLY_BUFFER_KEEP {
            self.query = Vec::new();
        }
        // A huge command must not pin its memory for the life of the connection, but only a
        // finished one may be let go: while the parser is inside a multibulk request, `argv`
        // holds the arguments already read (their bytes are gone from the query buffer), and
        // dropping them would run the rest of the request as a command of its own.
        if !self.parser.in_request() {
            self.argv.shrink_if_larger_than(REPLY_BUFFER_KEEP);
        }
    }

    /// Sends the batch's replies without blocking; queues what the kernel does not take.
    fn send_replies(&mut self) -> io::Result<()> {
        if self.reply.is_empty() {
            return Ok(());
        }
        let batch = self.reply.as_bytes();
        if self.output.is_empty() {
            // The common case: the kernel takes everything and nothing is copied.
            let mut sent = 0;
            while sent < batch.len() {
                let n = sys::send_nonblocking(&self.stream, &batch[sent..])?;
                if n == 0 {
                    break;
                }
                sent += n;
            }
            self.net_out += sent as u64;
            self.writes += 1;
            self.output.push(&batch[sent..]);
        } else {
            // Older replies are still queued: keep the order, queue behind them.
            self.output.push(batch);
            self.net_out += self.output.send(&self.stream)? as u64;
            self.writes += 1;
        }
        let buffer = self.reply.buffer_mut();
        buffer.clear();
        if buffer.capacity() > REPLY_BUFFER_KEEP {
            *buffer = Vec::new();
        }
        Ok(())
    }

    /// Checks `client-output-buffer-limit normal` and `client-query-buffer-limit`.
    fn over_limits(&mut self) -> Option<Close> {
        let limits = self.limits.current(self.shared);
        if self.query.len() as u64 > limits.query_buffer {
            return Some(Close::QueryLimit);
        }
        if self.client.total_subscription_count() > 0 {
            // A subscriber is in the pubsub class; PUBLISH enforces that class's limits.
            return None;
        }
        let limit = limits.output;
        let queued = self.output.bytes() as u64;
        if limit.hard_bytes > 0 && queued > limit.hard_bytes {
            return Some(Close::OutputLimit);
        }
        if limit.soft_bytes > 0 && queued > limit.soft_bytes {
            let since = *self
                .output
                .over_soft_limit_since
                .get_or_insert_with(Instant::now);
            if since.elapsed().as_secs() >= limit.soft_seconds {
                return Some(Close::OutputLimit);
            }
        } else {
            self.output.over_soft_limit_since = None;
        }
        None
    }

    /// Publishes this batch's counters and the client's visible state (once per batch).
    fn publish_stats(&mut self) {
        let counters = &self.client.handle.counters;
        let batch = std::mem::take(&mut self.client.stats);
        let mut errors = self.reply.take_error_codes();
        if !self.client.command_stats.is_empty() || !errors.is_empty() {
            self.shared
                .stats
                .commands
                .publish(&mut self.client.command_stats, &mut errors);
        }
        for (counter, n) in [
            (&counters.commands, batch.commands),
            (&counters.hits, batch.hits),
            (&counters.misses, batch.misses),
            (&counters.net_in, std::mem::take(&mut self.net_in)),
            (&counters.net_out, std::mem::take(&mut self.net_out)),
            (&counters.reads, std::mem::take(&mut self.reads)),
            (&counters.writes, std::mem::take(&mut self.writes)),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        if self.client.needs_waker() {
            // Publishers check a subscriber's pending bytes against the pubsub limits.
            let handle = &self.client.handle;
            handle
                .queued_output
                .store(self.output.bytes(), Ordering::Relaxed);
            handle.resp3.store(self.client.resp == 3, Ordering::Relaxed);
        }
        let mut snap = self.client.handle.snapshot.lock();
        snap.db = self.client.db;
        snap.resp = self.client.resp;
        snap.multi = self
            .client
            .multi
            .as_ref()
            .map_or(-1, |m| m.queued.len() as i64);
        snap.sub = self.client.channels.len();
        snap.psub = self.client.patterns.len();
        snap.ssub = self.client.shard_channels.len();
        if snap.name != self.client.name {
            snap.name = self.client.name.clone();
        }
        // A command held back by CLIENT PAUSE shows too (see crate::pause).
        if batch.commands > 0 || self.client.postponed.is_some() {
            snap.last_interaction_ms = now_ms();
            if snap.last_command_key != self.client.last_command {
                let (name, sub) = self.client.last_command;
                snap.last_command = if sub.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}|{sub}")
                };
                snap.last_command_key = self.client.last_command;
            }
        }
        snap.query_buffer_len = self.query.len();
        snap.query_buffer_capacity = self.query.capacity();
        snap.output_bytes = self.output.bytes();
        snap.output_blocks = self.output.block_count();
        snap.argv_mem = self.argv.byte_len();
        snap.total_mem = self.query.capacity()
            + self.output.allocated()
            + self.argv.capacity_bytes()
            + self.reply.as_bytes().len()
            + READ_CHUNK;
    }
}

#[cfg(test)]
mod tests {
    use super::OutputQueue;

    #[test]
    fn output_queue_fills_blocks_before_starting_new_ones() {
        let mut q = OutputQueue::default();
        q.push(b"abc");
        q.push(b"def");
        assert_eq!(q.block_count(), 1);
        assert_eq!(q.bytes(), 6);
        q.push(&vec![0u8; 40_000]);
        assert_eq!(q.bytes(), 40_006);
        assert!(q.allocated() < 40_006 + 2 * 16 * 1024);
    }
}
