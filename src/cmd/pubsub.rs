//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, their sharded
//! forms SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, and PUBSUB.
//!
//! Counterpart of Redis `src/pubsub.c` (the command half; delivery is in [`crate::pubsub`]).
//!
//! A RESP2 client with at least one subscription is in the *subscribed context*: its
//! connection only carries messages, so dispatch refuses every command but (P)SUBSCRIBE,
//! (P)UNSUBSCRIBE, PING, QUIT and RESET (flag `SUBSCRIBED_OK`). RESP3 has a separate push type
//! for messages, so a RESP3 client may run any command while subscribed, as in Redis.

use std::sync::atomic::Ordering;

use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::protocol::{Argv, Reply};

const SUB_FLAGS: Flags = Flags::PUBSUB
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::SUBSCRIBED_OK);
const PUBSUB_INFO: Flags = Flags::PUBSUB.union(Flags::LOADING).union(Flags::STALE);

#[rustfmt::skip]
static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("channels", -2, PUBSUB_INFO, KeySpec::NONE, Group::Pubsub, Handler::Conn(pubsub_channels)),
    CommandSpec::new("numsub", -2, PUBSUB_INFO, KeySpec::NONE, Group::Pubsub, Handler::Conn(pubsub_numsub)),
    CommandSpec::new("numpat", 2, PUBSUB_INFO, KeySpec::NONE, Group::Pubsub, Handler::Conn(pubsub_numpat)),
    CommandSpec::new("shardchannels", -2, PUBSUB_INFO, KeySpec::NONE, Group::Pubsub, Handler::Conn(pubsub_shardchannels)),
    CommandSpec::new("shardnumsub", -2, PUBSUB_INFO, KeySpec::NONE, Group::Pubsub, Handler::Conn(pubsub_shardnumsub)),
    CommandSpec::new("help", 2, Flags::LOADING.union(Flags::STALE), KeySpec::NONE, Group::Pubsub, Handler::Conn(pubsub_help)),
];

/// The pubsub group's rows of the command table.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, SUB_FLAGS, KeySpec::NONE, Group::Pubsub, Handler::Conn(subscribe)),
    CommandSpec::new("unsubscribe", -1, SUB_FLAGS, KeySpec::NONE, Group::Pubsub, Handler::Conn(unsubscribe)),
    CommandSpec::new("psubscribe", -2, SUB_FLAGS, KeySpec::NONE, Group::Pubsub, Handler::Conn(psubscribe)),
    CommandSpec::new("punsubscribe", -1, SUB_FLAGS, KeySpec::NONE, Group::Pubsub, Handler::Conn(punsubscribe)),
    CommandSpec::new("publish", 3, Flags::PUBSUB.union(Flags::LOADING).union(Flags::STALE).union(Flags::FAST).union(Flags::MAY_REPLICATE), KeySpec::NONE, Group::Pubsub, Handler::Conn(publish)),
    // The shard channel is declared as a key (flag NOT_KEY in Redis's key specs): it names the
    // cluster slot, while ACLs check it as a channel.
    CommandSpec::new("ssubscribe", -2, SUB_FLAGS, KeySpec::ALL, Group::Pubsub, Handler::Conn(ssubscribe)),
    CommandSpec::new("sunsubscribe", -1, SUB_FLAGS, KeySpec::ALL, Group::Pubsub, Handler::Conn(sunsubscribe)),
    CommandSpec::new("spublish", 3, Flags::PUBSUB.union(Flags::LOADING).union(Flags::STALE).union(Flags::FAST).union(Flags::MAY_REPLICATE), KeySpec::ONE, Group::Pubsub, Handler::Conn(spublish)),
    CommandSpec::new("pubsub", -2, Flags::NONE, KeySpec::NONE, Group::Pubsub, Handler::Container).with_subcommands(PUBSUB_SUBCOMMANDS),
];

/// Makes sure other threads can wake this client before it starts receiving messages.
fn prepare_for_messages(ctx: &mut Ctx) -> CmdResult {
    ctx.client
        .handle
        .waker()
        .map_err(|e| CmdError::owned(format!("ERR cannot subscribe: {e}")))?;
    ctx.client
        .handle
        .resp3
        .store(ctx.client.resp == 3, Ordering::Relaxed);
    Ok(())
}

/// One confirmation: `[kind, name, subscription count]` (a push in RESP3). The commands that
/// send them set `reply_is_push`, so that CLIENT REPLY OFF does not hide them (Redis sends
/// them with `CLIENT_PUSHING`, in RESP2 too).
fn confirm(reply: &mut Reply, kind: &[u8], name: Option<&[u8]>, count: usize) {
    reply.push(3);
    reply.bulk(kind);
    match name {
        Some(n) => reply.bulk(n),
        None => reply.null(),
    }
    reply.int(count as i64);
}

/// ```text
/// SUBSCRIBE channel [channel ...]
/// ```
/// One `subscribe` confirmation per channel, with the client's subscription count.
pub fn subscribe(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ctx.client.reply_is_push = true;
    prepare_for_messages(ctx)?;
    for channel in argv.iter().skip(1) {
        if ctx.client.channels.insert(channel.to_vec()) {
            ctx.shared.pubsub.subscribe(channel, &ctx.client.handle);
        }
        confirm(
            reply,
            b"subscribe",
            Some(channel),
            ctx.client.subscription_count(),
        );
    }
    Ok(())
}

/// ```text
/// UNSUBSCRIBE [channel ...]
/// ```
/// One `unsubscribe` confirmation per channel (all of the client's channels when none is
/// given; a single one with a null channel if it had none).
pub fn unsubscribe(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ctx.client.reply_is_push = true;
    let channels: Vec<Vec<u8>> = if argv.len() > 1 {
        argv.iter().skip(1).map(|c| c.to_vec()).collect()
    } else {
        ctx.client.channels.iter().cloned().collect()
    };
    if channels.is_empty() {
        confirm(reply, b"unsubscribe", None, ctx.client.subscription_count());
    }
    for channel in channels {
        if ctx.client.channels.remove(&channel) {
            ctx.shared.pubsub.unsubscribe(&channel, ctx.client.id());
        }
        confirm(
            reply,
            b"unsubscribe",
            Some(&channel),
            ctx.client.subscription_count(),
        );
    }
    Ok(())
}

/// ```text
/// PSUBSCRIBE pattern [pattern ...]
/// ```
/// One `psubscribe` confirmation per pattern.
pub fn psubscribe(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ctx.client.reply_is_push = true;
    prepare_for_messages(ctx)?;
    for pattern in argv.iter().skip(1) {
        if ctx.client.patterns.insert(pattern.to_vec()) {
            ctx.shared.pubsub.psubscribe(pattern, &ctx.client.handle);
        }
        confirm(
            reply,
            b"psubscribe",
            Some(pattern),
            ctx.client.subscription_count(),
        );
    }
    Ok(())
}

/// ```text
/// PUNSUBSCRIBE [pattern ...]
/// ```
/// One `punsubscribe` confirmation per pattern (all of them when none is given).
pub(crate) fn punsubscribe(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ctx.client.reply_is_push = true;
    let patterns: Vec<Vec<u8>> = if argv.len() > 1 {
        argv.iter().skip(1).map(|c| c.to_vec()).collect()
    } else {
        ctx.client.patterns.iter().cloned().collect()
    };
    if patterns.is_empty() {
        confirm(
            reply,
            b"punsubscribe",
            None,
            ctx.client.subscription_count(),
        );
    }
    for pattern in patterns {
        if ctx.client.patterns.remove(&pattern) {
            ctx.shared.pubsub.punsubscribe(&pattern, ctx.client.id());
        }
        confirm(
            reply,
            b"punsubscribe",
            Some(&pattern),
            ctx.client.subscription_count(),
        );
    }
    Ok(())
}

/// ```text
/// SSUBSCRIBE shardchannel [shardchannel ...]
/// ```
/// One `ssubscribe` confirmation per shard channel, with the client's shard subscription
/// count (Redis counts them apart from channels and patterns).
///
/// Errors: `ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client` inside EXEC (unlike
/// SUBSCRIBE, which Redis lets through there for backward compatibility).
pub(crate) fn ssubscribe(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if ctx.in_exec {
        return Err(CmdError::msg(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    ctx.client.reply_is_push = true;
    prepare_for_messages(ctx)?;
    for channel in argv.iter().skip(1) {
        if ctx.client.shard_channels.insert(channel.to_vec()) {
            ctx.shared.pubsub.ssubscribe(channel, &ctx.client.handle);
        }
        confirm(
            reply,
            b"ssubscribe",
            Some(channel),
            ctx.client.shard_channels.len(),
        );
    }
    Ok(())
}

/// ```text
/// SUNSUBSCRIBE [shardchannel ...]
/// ```
/// One `sunsubscribe` confirmation per shard channel (all of the client's shard channels
/// when none is given; a single one with a null channel if it had none).
pub fn sunsubscribe(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    ctx.client.reply_is_push = true;
    let channels: Vec<Vec<u8>> = if argv.len() > 1 {
        argv.iter().skip(1).map(|c| c.to_vec()).collect()
    } else {
        ctx.client.shard_channels.iter().cloned().collect()
    };
    if channels.is_empty() {
        confirm(
            reply,
            b"sunsubscribe",
            None,
            ctx.client.shard_channels.len(),
        );
    }
    for channel in channels {
        if ctx.client.shard_channels.remove(&channel) {
            ctx.shared.pubsub.sunsubscribe(&channel, ctx.client.id());
        }
        confirm(
            reply,
            b"sunsubscribe",
            Some(&channel),
            ctx.client.shard_channels.len(),
        );
    }
    Ok(())
}

/// ```text
/// SPUBLISH shardchannel message
/// ```
/// Integer: the number of clients that received the message (as `smessage`).
pub(crate) fn spublish(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if !ctx.in_exec && !ctx.in_script {
        // Inside EXEC or a script the store's lock is held: no waiting for other workers.
        ctx.shared.pubsub.settle(&argv[1], true, ctx.client.id());
    }
    let limit = ctx.shared.config.read().output_limit_pubsub;
    let n = ctx
        .shared
        .pubsub
        .spublish(&argv[1], &argv[2], limit, ctx.now_ms, &ctx.shared.stats);
    reply.int(n as i64);
    Ok(())
}

/// ```text
/// PUBLISH channel message
/// ```
/// Integer: the number of clients that received the message.
pub fn publish(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if !ctx.in_exec && !ctx.in_script {
        // Inside EXEC or a script the store's lock is held: no waiting for other workers.
        ctx.shared.pubsub.settle(&argv[1], false, ctx.client.id());
    }
    let limit = ctx.shared.config.read().output_limit_pubsub;
    let n = ctx
        .shared
        .pubsub
        .publish(&argv[1], &argv[2], limit, ctx.now_ms, &ctx.shared.stats);
    reply.int(n as i64);
    Ok(())
}

/// ```text
/// PUBSUB CHANNELS [pattern]
/// ```
/// Array of the active channels (matching the pattern).
pub fn pubsub_channels(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() > 3 {
        // Redis checks this one in the handler, with its generic subcommand wording.
        return Err(CmdError::SubcommandSyntax);
    }
    let channels = ctx.shared.pubsub.channels(argv.get(2));
    reply.array(channels.len());
    for ch in channels {
        reply.bulk(&ch);
    }
    Ok(())
}

/// ```text
/// PUBSUB NUMSUB [channel ...]
/// ```
/// Flat array of channel, subscriber count pairs.
pub(crate) fn pubsub_numsub(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.array((argv.len() - 2) * 2);
    for ch in argv.iter().skip(2) {
        reply.bulk(ch);
        reply.int(ctx.shared.pubsub.numsub(ch) as i64);
    }
    Ok(())
}

/// ```text
/// PUBSUB NUMPAT
/// ```
/// Integer: the number of distinct patterns clients are subscribed to.
pub(crate) fn pubsub_numpat(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.int(ctx.shared.pubsub.numpat() as i64);
    Ok(())
}

/// ```text
/// PUBSUB SHARDCHANNELS [pattern]
/// ```
/// Array of the active shard channels (matching the pattern).
pub(crate) fn pubsub_shardchannels(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::SubcommandSyntax);
    }
    let channels = ctx.shared.pubsub.shard_channels(argv.get(2));
    reply.array(channels.len());
    for ch in channels {
        reply.bulk(&ch);
    }
    Ok(())
}

/// ```text
/// PUBSUB SHARDNUMSUB [shardchannel ...]
/// ```
/// Flat array of shard channel, subscriber count pairs.
pub(crate) fn pubsub_shardnumsub(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply.array((argv.len() - 2) * 2);
    for ch in argv.iter().skip(2) {
        reply.bulk(ch);
        reply.int(ctx.shared.pubsub.shard_numsub(ch) as i64);
    }
    Ok(())
}

/// ```text
/// PUBSUB HELP
/// ```
/// An array of simple strings, Redis 7.0.15's own.
pub(crate) fn pubsub_help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    super::connection::reply_help(
        reply,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
