#!/usr/bin/env python3
"""Generates src/cmd/command_docs.rs from Redis's command description files.

Redis 7.0 describes every command in src/commands/*.json and generates its command table
(src/commands.c) from them with utils/generate-command-code.py. COMMAND INFO and COMMAND DOCS
print that description, so respd takes the same files as the source of its introspection data:
this script reads them and writes, for the commands respd implements, what those two replies
need (docs, arguments tree, history, key specs, tips, the explicit ACL categories) plus what
the command table must agree with (arity, flags, group, legacy first/last/step), which a unit
test checks.

Usage:
    redis-cli -p PORT COMMAND LIST > /tmp/names      # PORT: a respd built from this tree
    tools/gen-command-docs.py REDIS/src/commands /tmp/names > src/cmd/command_docs.rs

REDIS is a checkout of Redis at tag 7.0.15. The names file holds one full command name a line
(`get`, `client|list`), as respd's COMMAND LIST prints them; the command table is the list of
what respd implements, so it is asked rather than repeated here. Nothing is downloaded.
"""

import json
import os
import sys

# Orders in which Redis prints each kind of flag (server.c addReplyFlagsForKeyArgs,
# addReplyFlagsForArg, addReplyDocFlagsForCommand).
KEY_FLAGS = ["RO", "RW", "OW", "RM", "ACCESS", "UPDATE", "INSERT", "DELETE", "NOT_KEY",
             "INCOMPLETE", "VARIABLE_FLAGS"]
DOC_FLAGS = ["DEPRECATED", "SYSCMD"]


def rs_str(s):
    out = s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
    return "\"%s\"" % out


def rs_opt(s):
    return "Some(%s)" % rs_str(s) if s else "None"


def rs_strs(items):
    return "&[%s]" % ", ".join(rs_str(i) for i in items)


def load(directory):
    """Every description, keyed by full name (`get`, `client|list`)."""
    docs = {}
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".json"):
            continue
        with open(os.path.join(directory, fname)) as f:
            for name, desc in json.load(f).items():
                full = name.lower()
                if "container" in desc:
                    full = "%s|%s" % (desc["container"].lower(), full)
                docs[full] = desc
    return docs


def arg_code(arg, indent):
    """One Arg literal (generate-command-code.py: names lowercase, tokens uppercase)."""
    flags = []
    if arg.get("optional"):
        flags.append("optional")
    if arg.get("multiple"):
        flags.append("multiple")
    if arg.get("multiple_token"):
        flags.append("multiple_token")
    pad = " " * indent
    subargs = arg.get("arguments", []) if arg["type"] in ("oneof", "block") else []
    token = arg.get("token")
    if token:
        # generate-command-code.py pastes the token between double quotes unescaped, so in
        # the C source MIGRATE's token "\"\"" is `""""`: two adjacent empty literals, and
        # Redis prints an empty token. Quotes inside a token therefore vanish.
        token = token.replace('"', "")
    return "%sArg { name: %s, kind: %s, key_spec_index: %d, token: %s, summary: %s, since: %s, deprecated_since: %s, flags: %s, arguments: %s },\n" % (
        pad,
        rs_str(arg["name"].lower()),
        rs_str(arg["type"]),
        arg.get("key_spec_index", -1),
        "Some(%s)" % rs_str(token.upper()) if token is not None else "None",
        rs_opt(arg.get("summary")),
        rs_opt(arg.get("since")),
        rs_opt(arg.get("deprecated_since")),
        rs_strs(flags),
        args_code(subargs, indent + 4),
    )


def args_code(args, indent):
    if not args:
        return "&[]"
    return "&[\n%s%s]" % ("".join(arg_code(a, indent) for a in args), " " * (indent - 4))


def key_flag_name(flag):
    """As addReplyFlagsForKeyArgs() prints it: `RO`, `RW`, `OW`, `RM` in capitals, the rest
    in lower case."""
    return flag if flag in ("RO", "RW", "OW", "RM") else flag.lower()


def key_spec_code(spec):
    flags = [f for f in KEY_FLAGS if f in spec.get("flags", [])]
    bs = spec["begin_search"]
    if bs.get("index"):
        begin = "BeginSearch::Index(%d)" % bs["index"]["pos"]
    elif bs.get("keyword"):
        begin = "BeginSearch::Keyword(%s, %d)" % (rs_str(bs["keyword"]["keyword"]),
                                                 bs["keyword"]["startfrom"])
    else:
        begin = "BeginSearch::Unknown"
    fk = spec["find_keys"]
    if fk.get("range"):
        r = fk["range"]
        find = "FindKeys::Range { lastkey: %d, keystep: %d, limit: %d }" % (
            r["lastkey"], r["step"], r["limit"])
    elif fk.get("keynum"):
        k = fk["keynum"]
        find = "FindKeys::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (
            k["keynumidx"], k["firstkey"], k["step"])
    else:
        find = "FindKeys::Unknown"
    return "KeySpecDoc { notes: %s, flags: %s, begin_search: %s, find_keys: %s }" % (
        rs_opt(spec.get("notes")), rs_strs(key_flag_name(f) for f in flags), begin, find)


def legacy_range(specs):
    """Redis populateCommandLegacyRangeSpec(): first/last/step as COMMAND INFO prints them
    (addReplyCommandInfo), and whether the command gets the movablekeys flag."""
    def is_range(s):
        return s["begin_search"].get("index") is not None and s["find_keys"].get("range") is not None
    def incomplete(s):
        return "INCOMPLETE" in s.get("flags", [])
    if not specs:
        return (0, 0, 0, False)
    if len(specs) == 1 and is_range(specs[0]):
        pos, r = specs[0]["begin_search"]["index"]["pos"], specs[0]["find_keys"]["range"]
        last = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        return (pos, last, r["step"], incomplete(specs[0]))
    first, last, prev_last, movable = None, 0, 0, False
    for s in specs:
        if not is_range(s):
            movable = True
            continue
        pos, r = s["begin_search"]["index"]["pos"], s["find_keys"]["range"]
        if r["step"] != 1 or (prev_last and prev_last != pos - 1):
            movable = True
            continue
        if incomplete(s):
            movable = True
        first = pos if first is None else min(first, pos)
        last_abs = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        # Redis compares as unsigned, so a negative (count from the end) wins.
        last = max(last, last_abs, key=lambda v: v % (1 << 32))
        prev_last = last
    if first is None:
        return (0, 0, 0, True)
    return (first, last, 1, movable)


def command_code(full, desc):
    # Redis's flags are a bit mask: a flag listed twice (XREAD's "BLOCKING") is one flag.
    flags = []
    for f in desc.get("command_flags", []):
        if f.lower() not in flags:
            flags.append(f.lower())
    first, last, step, movable = legacy_range(desc.get("key_specs", []))
    if movable:
        flags.append("movablekeys")
    history = desc.get("history") or []
    lines = [
        "    CommandDoc {",
        "        name: %s," % rs_str(full),
        "        summary: %s," % rs_opt(desc.get("summary")),
        "        since: %s," % rs_opt(desc.get("since")),
        "        group: %s," % rs_str(desc["group"].replace("_", "-")),
        "        complexity: %s," % rs_opt(desc.get("complexity")),
        "        doc_flags: %s," % rs_strs(f.lower() for f in DOC_FLAGS if f in desc.get("doc_flags", [])),
        "        deprecated_since: %s," % rs_opt(desc.get("deprecated_since")),
        "        replaced_by: %s," % rs_opt(desc.get("replaced_by")),
        "        history: &[%s]," % ", ".join("(%s, %s)" % (rs_str(a), rs_str(b)) for a, b in history),
        "        arity: %d," % desc["arity"],
        "        flags: %s," % rs_strs(flags),
        "        acl_categories: %s," % rs_strs(c.lower() for c in desc.get("acl_categories", [])),
        "        tips: %s," % rs_strs(t.lower() for t in desc.get("command_tips", [])),
        "        key_specs: &[%s]," % ", ".join(key_spec_code(s) for s in desc.get("key_specs", [])),
        "        legacy_keys: (%d, %d, %d)," % (first, last, step),
        "        arguments: %s," % args_code(desc.get("arguments", []), 12),
        "    },",
    ]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen-command-docs.py REDIS/src/commands NAMES-FILE > src/cmd/command_docs.rs")
    docs = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        names = sorted({line.strip().lower() for line in f if line.strip()})
    missing = [n for n in names if n not in docs]
    if missing:
        sys.exit("no description for: %s" % ", ".join(missing))
    out = sys.stdout
    out.write("// @generated by tools/gen-command-docs.py from Redis 7.0.15 src/commands/*.json.\n")
    out.write("// Do not edit. To regenerate (see the script's docs):\n")
    out.write("//   redis-cli -p PORT COMMAND LIST > /tmp/names   # PORT: respd built from this tree\n")
    out.write("//   tools/gen-command-docs.py REDIS/src/commands /tmp/names > src/cmd/command_docs.rs\n\n")
    out.write("//! Generated: COMMAND INFO / COMMAND DOCS data of every command respd implements,\n")
    out.write("//! sorted by full name. See [`super::introspection`] for how it is printed.\n\n")
    out.write("use super::introspection::{Arg, BeginSearch, CommandDoc, FindKeys, KeySpecDoc};\n\n")
    out.write("/// Every command and subcommand respd implements, sorted by full name.\n")
    out.write("#[rustfmt::skip]\n")
    out.write("pub static COMMAND_DOCS: &[CommandDoc] = &[\n")
    for full in names:
        out.write(command_code(full, docs[full]))
    out.write("];\n")


if __name__ == "__main__":
    main()
