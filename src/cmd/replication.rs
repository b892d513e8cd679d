//! Replication commands: SYNC, PSYNC, REPLCONF, WAIT, ROLE, and REPLICAOF (SLAVEOF).
//!
//! Counterpart of the command half of Redis `replication.c` (`syncCommand`,
//! `replconfCommand`, `waitCommand`, `roleCommand`, `replicaofCommand`). The stream itself,
//! the replicas and the backlog live in [`crate::replication`]; following a master, in
//! [`crate::replication::replica`]. WAIT is in Redis's "generic" group, the others in "server".

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};
use crate::replication;
use crate::replication::replica;
use crate::util::{c_str, eq_ci, now_ms, parse_i64};

/// The replication commands' table rows.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sync", 1, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING) .union(Flags::NO_MULTI), KeySpec::NONE, Group::Server, Handler::Conn(sync)),
    CommandSpec::new("psync", -3, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING) .union(Flags::NO_MULTI), KeySpec::NONE, Group::Server, Handler::Conn(sync)),
    CommandSpec::new("replconf", -1, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::ALLOW_BUSY), KeySpec::NONE, Group::Server, Handler::Conn(replconf)),
    CommandSpec::new("wait", 3, Flags::NOSCRIPT, KeySpec::NONE, Group::Generic, Handler::Conn(wait)),
    CommandSpec::new("role", 1, Flags::NOSCRIPT .union(Flags::LOADING) .union(Flags::STALE) .union(Flags::FAST), KeySpec::NONE, Group::Server, Handler::Conn(role)),
    CommandSpec::new("replicaof", 3, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING) .union(Flags::STALE), KeySpec::NONE, Group::Server, Handler::KeyspaceWrite(replicaof)),
    CommandSpec::new("slaveof", 3, Flags::ADMIN .union(Flags::NOSCRIPT) .union(Flags::NO_ASYNC_LOADING) .union(Flags::STALE), KeySpec::NONE, Group::Server, Handler::KeyspaceWrite(replicaof)),
];

/// ```text
/// REPLICAOF host port
/// REPLICAOF NO ONE
/// ```
/// `+OK`: from now on this server follows that master (see [`crate::replication::replica`]): its data is
/// replaced by the master's at the first synchronization, and ordinary clients' writes are
/// refused while `replica-read-only` is on. `+OK Already connected to specified master` when
/// it already follows that host (compared without case) and port. NO ONE stops following and
/// keeps the data, with a new replication history; `+OK` even on a master.
///
/// Errors: `Command is not valid when client is a replica.` (a replica connection asking
/// its own master to follow someone); `Invalid master port` (not an integer from 0 to
/// 65535).
fn replicaof(
    ctx: &mut Ctx,
    keyspace: &mut crate::store::Keyspace,
    argv: &Argv,
    reply: &mut Reply,
) -> CmdResult {
    if eq_ci(c_str(&argv[1]), "no") && eq_ci(c_str(&argv[2]), "one") {
        if replica::following(ctx.shared) {
            replica::unset_master(ctx.shared);
            crate::notice!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                ctx.client.id(),
                ctx.client.handle.addr
            );
        }
        reply.ok();
        return Ok(());
    }
    if ctx.client.handle.is_replica() {
        return Err(CmdError::msg(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = parse_i64(&argv[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::msg("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(c_str(&argv[1])).into_owned();
    if !replica::set_master(ctx.shared, keyspace, &host, port as u16) {
        crate::notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        reply.raw(b"+OK Already connected to specified master\r\n");
        return Ok(());
    }
    crate::notice!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
        ctx.client.id(),
        ctx.client.handle.addr
    );
    reply.ok();
    Ok(())
}

/// ```text
/// SYNC
/// PSYNC <replid> <offset>
/// ```
/// Makes this connection a replica. A PSYNC that can continue from the backlog gets
/// `+CONTINUE <replid>` and the stream from its offset on (see
/// [`replication::try_continue`]); otherwise a full resynchronization (PSYNC answers
/// `+FULLRESYNC <replid> <offset>` first, SYNC nothing), the dataset as an RDB bulk
/// `$<len>\r\n<payload>` without a trailing CRLF, then the command stream (see
/// [`crate::replication`]). A second SYNC on a replica connection is ignored, as in Redis.
///
/// Refusals, in the order of Redis's `syncCommand` (the ones about a failover cannot
/// happen: respd has no FAILOVER):
/// - `PSYNC <replid> <offset> FAILOVER ...`: `ERR PSYNC FAILOVER can't be sent to a master.`
/// - on a replica whose link to its master is down: `NOMASTERLINK Can't SYNC while not
///   connected with my master`;
/// - replies of earlier commands not yet sent (the same batch, or a queue the socket has not
///   taken): `ERR SYNC and PSYNC are invalid with pending output`, because the RDB must be
///   the first thing the replica reads after its request;
/// - PSYNC with an offset that is not an integer: `ERR value is not an integer or out of
///   range`.
///
/// The keyspace read lock is taken here rather than by the dispatcher because it must be
/// released before the copy is serialized: only the copy and the registration need it.
fn sync(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.client.handle.is_replica() || ctx.client.handle.is_monitor() {
        return Ok(()); // mirrors syncCommand(): "ignore SYNC if already slave or in monitor mode"
    }
    let psync = eq_ci(&argv[0], "psync");
    // Redis compares with strcasecmp(), so the word ends at a NUL byte.
    if psync
        && argv.len() > 3
        && eq_ci(c_str(&argv[3]), "failover")
        && !replica::following(ctx.shared)
    {
        return Err(CmdError::msg(
            "ERR PSYNC FAILOVER can't be sent to a master.",
        ));
    }
    // mirrors syncCommand(): a replica serves replicas only while its own link is up.
    if replica::sync_refusal(ctx.shared) {
        return Err(CmdError::msg(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    if !reply.is_empty() || ctx.client.handle.pending_output() > 0 {
        return Err(CmdError::msg(
            "ERR SYNC and PSYNC are invalid with pending output",
        ));
    }
    if psync && parse_i64(&argv[2]).is_none() {
        return Err(CmdError::NotInteger);
    }
    if psync {
        let _applying = ctx.shared.replication.link.apply.lock();
        let offset = parse_i64(&argv[2]).unwrap_or(-1);
        let (shared, client) = (ctx.shared, &*ctx.client);
        let conf = &client.replica_conf;
        if let Some(resumed) =
            replication::try_continue(shared, &client.handle, conf, &argv[1], offset)
        {
            reply.raw(&resumed);
            return Ok(());
        }
    }
    let now = now_ms();
    let attached = {
        // On a replica, the master's stream is not applied meanwhile (see crate::replication::replica).
        let _applying = ctx.shared.replication.link.apply.lock();
        let ks = ctx.shared.store.read();
        replication::attach(
            ctx.shared,
            &ks,
            &ctx.client.handle,
            &ctx.client.replica_conf,
            psync,
            now,
        )
    };
    let options = crate::persistence::write_options(&ctx.shared.config.read());
    let mut rdb = Vec::new();
    let functions = ctx.shared.scripting.library_codes();
    crate::persistence::rdb::write_keyspace(&mut rdb, options, &functions, &attached.copy, now, 0)
        .map_err(|_| CmdError::msg("ERR"))?;
    crate::notice!(
        "Synchronization with replica {} succeeded",
        ctx.client.handle.addr
    );
    reply.raw(&attached.preamble);
    reply.raw(b"$");
    reply.raw(rdb.len().to_string().as_bytes());
    reply.raw(b"\r\n");
    reply.raw(&rdb);
    Ok(())
}

/// ```text
/// REPLCONF [listening-port <port>] [ip-address <ip>] [capa <capa>] ...
/// REPLCONF ACK <offset> | GETACK *
/// ```
/// `+OK` for the options (the port and address are shown in INFO replication and ROLE;
/// capabilities are accepted and not needed: respd always sends a full sync with a length).
/// ACK records a replica's offset and has no reply; GETACK, meant for a replica, has none
/// either on a master. Errors: an odd number of arguments, a port that is not an integer, an
/// unknown option (`Unrecognized REPLCONF option: <opt>`).
fn replconf(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(CmdError::WrongArity);
    }
    let mut i = 1;
    while i < argv.len() {
        let (option, value) = (&argv[i], &argv[i + 1]);
        if eq_ci(option, "listening-port") {
            let port = parse_i64(value).ok_or(CmdError::NotInteger)?;
            ctx.client.replica_conf.port = port as u16;
        } else if eq_ci(option, "ip-address") {
            ctx.client.replica_conf.ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if eq_ci(option, "capa")
            || eq_ci(option, "rdb-only")
            || eq_ci(option, "rdb-filter-only")
        {
            // Accepted; nothing changes for respd.
        } else if eq_ci(option, "ack") {
            // mirrors replconfCommand(): only a replica acks, and nothing is replied.
            if ctx.client.handle.is_replica() {
                if let Some(offset) = parse_i64(value) {
                    replication::ack(ctx.shared, ctx.client.id(), offset.max(0) as u64);
                }
            }
            return Ok(());
        } else if eq_ci(option, "getack") {
            return Ok(()); // a master has no master to answer
        } else {
            return Err(CmdError::quoting(
                "ERR Unrecognized REPLCONF option: ",
                option,
                "",
            ));
        }
        i += 2;
    }
    reply.ok();
    Ok(())
}

/// ```text
/// WAIT numreplicas timeout
/// ```
/// Integer reply: how many replicas acknowledged every write made so far, once
/// `numreplicas` did or `timeout` ms passed (0: no timeout). With no replica, 0 at once.
/// Errors: `NotInteger` for numreplicas, `timeout is not an integer or out of range`,
/// `timeout is negative`.
///
/// The target is the whole stream so far, not just this connection's writes (Redis's
/// `c->woff`): WAIT may wait a little longer than Redis, never less.
fn wait(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let numreplicas = parse_i64(&argv[1]).ok_or(CmdError::NotInteger)?;
    let timeout = parse_i64(&argv[2]).ok_or(CmdError::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(CmdError::TIMEOUT_NEGATIVE);
    }
    let target = replication::offset(ctx.shared);
    // Inside EXEC a client cannot block: count now (Redis checks CLIENT_DENY_BLOCKING).
    let numreplicas = if ctx.in_exec {
        0
    } else {
        numreplicas.max(0) as usize
    };
    let acked = replication::wait(ctx.shared, target, numreplicas, timeout as u64);
    reply.int(acked as i64);
    Ok(())
}

/// ```text
/// ROLE
/// ```
/// `master`, the replication offset, and one `[ip, port, acked offset]` per replica.
fn role(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    replication::role(ctx.shared, reply);
    Ok(())
}
