//! LATENCY: the latency monitor's samples and advice, and the per-command latency histograms.
//!
//! Counterpart of Redis `latencyCommand` and its helpers (`latency.c`). The samples and the
//! texts are [`crate::latency`]; [`super::run_command`] records every command's duration there
//! as a `command` or `fast-command` event. The histograms are those INFO `latencystats` reads
//! ([`super::stats`]), shown the way Redis 7.0 shows its HDR histograms.

use super::connection::reply_help;
use super::introspection::lookup_full_name;
use super::{all_commands, full_name};
use super::{CmdError, CmdResult, CommandSpec, Ctx, Flags, Group, Handler, KeySpec};
use crate::config::AppendFsync;
use crate::latency::{DoctorFacts, LatencyMonitor};
use crate::protocol::{Argv, Reply};

/// Flags of the LATENCY subcommands but HELP.
const ADMIN_FLAGS: Flags = Flags::ADMIN
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);

const fn latency_sub(
    name: &'static str,
    arity: i32,
    flags: Flags,
    handler: super::ConnFn,
) -> CommandSpec {
    CommandSpec::new(
        name,
        arity,
        flags,
        KeySpec::NONE,
        Group::Server,
        Handler::Conn(handler),
    )
}

#[rustfmt::skip]
static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    latency_sub("doctor", 2, ADMIN_FLAGS, doctor),
    latency_sub("graph", 3, ADMIN_FLAGS, graph),
    latency_sub("help", 2, Flags::LOADING.union(Flags::STALE), help),
    latency_sub("histogram", -2, ADMIN_FLAGS, histogram),
    latency_sub("history", 3, ADMIN_FLAGS, history),
    latency_sub("latest", 2, ADMIN_FLAGS, latest),
    latency_sub("reset", -2, ADMIN_FLAGS, reset),
];

/// LATENCY (Redis files it under "server").
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[CommandSpec::new("latency", -2, Flags::NONE, KeySpec::NONE, Group::Server, Handler::Container).with_subcommands(LATENCY_SUBCOMMANDS)];

/// The unix time in seconds.
fn now_secs() -> i64 {
    (crate::util::now_ms() / 1000) as i64
}

/// ```text
/// LATENCY HISTORY event
/// ```
/// The event's samples, oldest first, each `[unix time, milliseconds]`; an empty array for an
/// event that has none (the name is matched exactly, as Redis does).
pub fn history(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let Some(series) = ctx.shared.latency.series(&argv[2]) else {
        reply.array(0);
        return Ok(());
    };
    let samples: Vec<_> = series.samples().collect();
    reply.array(samples.len());
    for sample in samples {
        reply.array(2);
        reply.int(sample.time);
        reply.int(i64::from(sample.latency_ms));
    }
    Ok(())
}

/// ```text
/// LATENCY LATEST
/// ```
/// One entry per event: `[name, unix time of the newest sample, its milliseconds, the worst
/// milliseconds ever]`.
pub fn latest(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let events = ctx.shared.latency.events();
    reply.array(events.len());
    for (name, series) in events {
        let newest = series.latest();
        reply.array(4);
        reply.bulk(name.as_bytes());
        reply.int(newest.time);
        reply.int(i64::from(newest.latency_ms));
        reply.int(i64::from(series.max));
    }
    Ok(())
}

/// ```text
/// LATENCY GRAPH event
/// ```
/// A verbatim text: the event's samples as an ASCII graph (see [`crate::latency::graph`]).
///
/// Errors: `ERR No samples available for event '<event>'`.
pub fn graph(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let event = &argv[2];
    let Some(series) = ctx.shared.latency.series(event) else {
        return Err(CmdError::quoting(
            "ERR No samples available for event '",
            event,
            "'",
        ));
    };
    let name = String::from_utf8_lossy(event);
    reply.verbatim(crate::latency::graph(&name, &series, now_secs()).as_bytes());
    Ok(())
}

/// ```text
/// LATENCY DOCTOR
/// ```
/// A verbatim text: each event's figures and advice (see [`crate::latency::doctor_report`]).
pub fn doctor(ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    let monitor: &LatencyMonitor = &ctx.shared.latency;
    let facts = {
        let config = ctx.shared.config.read();
        DoctorFacts {
            threshold_ms: monitor.threshold_ms(),
            slowlog_slower_than_us: config
                .kept
                .get("slowlog-log-slower-than")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000),
            hz: config.hz,
            fsync_always: config.appendfsync == AppendFsync::Always,
            anon_huge_pages: crate::latency::anon_huge_pages(),
            now: now_secs(),
        }
    };
    let report = crate::latency::doctor_report(&monitor.events(), &facts);
    reply.verbatim(report.as_bytes());
    Ok(())
}

/// ```text
/// LATENCY RESET [event ...]
/// ```
/// Forgets the named events (any case), or every event; replies how many were forgotten.
pub fn reset(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let monitor = &ctx.shared.latency;
    let forgotten = if argv.len() == 2 {
        monitor.reset(None)
    } else {
        argv.iter()
            .skip(2)
            .map(|event| monitor.reset(Some(event)))
            .sum()
    };
    reply.int(forgotten as i64);
    Ok(())
}

/// ```text
/// LATENCY HISTOGRAM [command ...]
/// ```
/// A map from command name (`set`, `client|list`) to `{calls: N, histogram_usec: {bound:
/// cumulative count, ...}}`, for every command with tracked calls, or for the named ones: a
/// container names its subcommands, an unknown name is skipped (see
/// [`super::stats::CommandStats::cumulative_histogram`] for the bounds).
pub fn histogram(ctx: &mut Ctx, argv: &Argv, reply: &mut Reply) -> CmdResult {
    let stats = &ctx.shared.stats.commands;
    let mut wanted: Vec<(&'static CommandSpec, Option<&'static CommandSpec>)> = Vec::new();
    if argv.len() == 2 {
        for spec in all_commands() {
            wanted.push((spec, None));
            wanted.extend(spec.subcommands.iter().map(|sub| (sub, Some(spec))));
        }
    } else {
        for name in argv.iter().skip(2) {
            match lookup_full_name(name) {
                Some((spec, None)) => {
                    wanted.push((spec, None));
                    wanted.extend(spec.subcommands.iter().map(|sub| (sub, Some(spec))));
                }
                Some(found) => wanted.push(found),
                None => {}
            }
        }
    }
    let with_data: Vec<_> = wanted
        .into_iter()
        .filter_map(|(spec, parent)| {
            let data = stats.cumulative_histogram(spec)?;
            Some((full_name(spec, parent), data))
        })
        .collect();
    reply.map(with_data.len());
    for (name, (calls, points)) in with_data {
        reply.bulk(name.as_bytes());
        reply.map(2);
        reply.bulk(b"calls");
        reply.int(calls as i64);
        reply.bulk(b"histogram_usec");
        reply.map(points.len());
        for (bound, count) in points {
            reply.int(bound as i64);
            reply.int(count as i64);
        }
    }
    Ok(())
}

/// ```text
/// LATENCY HELP
/// ```
pub fn help(_ctx: &mut Ctx, _argv: &Argv, reply: &mut Reply) -> CmdResult {
    reply_help(
        reply,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}
