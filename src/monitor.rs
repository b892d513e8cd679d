//! MONITOR: every command any client runs, shown to the clients that asked.
//!
//! Counterpart of Redis `replicationFeedMonitors` (`replication.c`) and `monitorCommand`
//! (`server.c`).
//!
//! After a command has run (refused commands never get here), [`crate::cmd::run_command`]
//! hands it to [`Monitors::feed`], unless the command is flagged `admin` or `skip_monitor`
//! (Redis `call()`: "administrative commands are considered too dangerous to be shown"). The
//! line is Redis's: `+<unix seconds>.<microseconds> [<db> <ip:port>] "arg" "arg"...`, each
//! argument quoted as `sdscatrepr` does, with the arguments a command redacted (AUTH's
//! password, HELLO AUTH's, MIGRATE AUTH's) shown as `"(redacted)"`.
//!
//! When nobody monitors, feeding costs one atomic load. Otherwise the line is built once and
//! put in each monitor's mailbox ([`crate::client::ClientHandle::deliver`]), as PUBLISH does
//! for subscribers: the commanding worker never writes to a monitor's socket, so a monitor
//! that does not read never slows anyone down. What it may leave unread is bounded by
//! `client-output-buffer-limit normal` (unlimited by default); over it, the monitor is
//! disconnected. Redis flags a monitor `CLIENT_SLAVE`, which is why it may not touch the
//! keyspace, but `getClientType` puts it in the normal class for the output limits.
//!
//! Redis's one thread orders the lines exactly as the commands ran. Here commands of
//! different clients run on different threads and feed after their lock is released, so two
//! commands that ran at nearly the same time on different connections may show in either
//! order; one connection's commands always show in its own order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::client::ClientHandle;
use crate::protocol::Argv;

/// What a redacted argument shows as (Redis `shared.redacted`).
pub(crate) const REDACTED: &[u8] = b"(redacted)";

/// The clients in MONITOR mode.
#[derive(Debug, Default)]
pub struct Monitors {
    /// How many there are, read without the lock on every command.
    count: AtomicUsize,
    list: Mutex<Vec<Arc<ClientHandle>>>,
}

impl Monitors {
    /// Makes `client` a monitor (Redis `listAddNodeTail(server.monitors, c)`).
    pub fn add(&self, client: &Arc<ClientHandle>) {
        let mut list = self.list.lock();
        list.push(client.clone());
        self.count.store(list.len(), Ordering::Release);
    }

    /// Stops feeding `client_id` (RESET, disconnection).
    pub fn remove(&self, client_id: u64) {
        let mut list = self.list.lock();
        list.retain(|c| c.id != client_id);
        self.count.store(list.len(), Ordering::Release);
    }

    /// True when at least one client monitors.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Shows one executed command to every monitor (Redis `replicationFeedMonitors`).
    /// `redacted` lists the argument positions shown as `"(redacted)"`.
    ///
    /// A monitor's own commands are shown to it too. Its line goes straight after the
    /// command's reply in `reply`, where Redis's `addReply` puts it, rather than through
    /// its mailbox, which its worker would read only after the rest of the batch (RESET
    /// would then have ended monitoring and left the line unread). A monitor that is closing
    /// after this reply (`closing`: QUIT) does not get its own line, as Redis's `addReply`
    /// adds nothing to a client flagged `CLIENT_CLOSE_AFTER_REPLY`.
    #[allow(clippy::too_many_arguments)]
    pub fn feed(
        &self,
        shared: &crate::shared::Shared,
        client: &ClientHandle,
        db: usize,
        argv: &Argv,
        redacted: &[usize],
        closing: bool,
        reply: &mut crate::protocol::Reply,
    ) {
        if !self.any() {
            return;
        }
        let line = format_line(crate::util::now_us(), db, client, argv, redacted);
        let limit = shared.config.read().normal_output_limit();
        let now_ms = crate::util::now_ms();
        let list = self.list.lock();
        for monitor in list.iter() {
            if monitor.id == client.id {
                if !closing {
                    reply.raw(&line);
                }
            } else {
                crate::pubsub::deliver_within_limit(monitor, &line, limit, now_ms, &shared.stats);
            }
        }
    }
}

/// One MONITOR line, `+1700000000.123456 [0 127.0.0.1:50000] "set" "k" "v"\r\n`.
fn format_line(
    now_us: u64,
    db: usize,
    client: &ClientHandle,
    argv: &Argv,
    redacted: &[usize],
) -> Vec<u8> {
    let mut line = format!(
        "+{}.{:06} [{} {}] ",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db,
        client.addr
    )
    .into_bytes();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        let shown: &[u8] = if redacted.contains(&i) { REDACTED } else { arg };
        line.extend_from_slice(&crate::util::repr(shown));
    }
    line.extend_from_slice(b"\r\n");
    line
}
