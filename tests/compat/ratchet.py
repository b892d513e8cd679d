#!/usr/bin/env python3
"""The compatibility ratchet: a test of Redis's own suite that once passed must keep passing.

Redis 7.0's TCL test suite is the most complete statement of what "behaves like Redis" means.
respd does not pass all of it yet, so CI cannot simply demand a clean run. Instead
`tests/compat/passing.txt` lists, one a line, every test respd is known to pass
("<unit><TAB><test name>"). This script reads the raw runtest logs of one run (one file per
unit, as the suite runner keeps them) and:

  - fails (exit 1) when a listed test did not pass: a pass, once won, is never lost silently;
  - prints the tests that passed but are not listed yet, so the change that made them pass
    can add them (`--update` appends them to the list; removing a line is a deliberate edit).

A run may have several log directories: the suite in external mode (against one respd) and
in internal mode (the suite starts respd itself, per unit, with its own config files). A
directory given as DIR=PREFIX names its units PREFIX + unit, so `internal:unit/type/list`
and `unit/type/list` are listed apart.

Usage:  ratchet.py LOG_DIR[=PREFIX]... PASSING_FILE [--update]
"""

import os
import re
import sys

# runtest prints "[ok]: <name> (<n> ms)" for a pass; the timing changes run to run.
OK_LINE = re.compile(r"^\[ok\]: (.*?)(?: \(\d+ ms\))?$")
# The first line of each log is the runtest command, which names the unit after --single.
SINGLE = re.compile(r"--single (\S+)")


def passes_in(log_dir, prefix=""):
    """{(unit, test name)}: every test reported [ok] in the logs of one run."""
    passed = set()
    for entry in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, entry)
        if not entry.endswith(".log") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as log:
            lines = log.read().splitlines()
        unit = None
        for line in lines[:5]:
            found = SINGLE.search(line)
            if found:
                unit = found.group(1)
                break
        if unit is None:
            continue
        for line in lines:
            found = OK_LINE.match(line)
            if found:
                passed.add((prefix + unit, found.group(1)))
    return passed


def read_list(path):
    """The committed list, without comments and blank lines."""
    listed = set()
    if not os.path.exists(path):
        return listed
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            unit, _, name = line.partition("\t")
            listed.add((unit, name))
    return listed


def write_list(path, tests):
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Tests of Redis 7.0.15's suite that respd passes (external mode, default and\n")
        f.write("# extended sets; internal: units run in internal mode). CI fails when one of\n")
        f.write("# them fails; see tests/compat/ratchet.py.\n")
        for unit, name in sorted(tests):
            f.write(f"{unit}\t{name}\n")


def main(argv):
    args = argv[1:]
    update = args[-1:] == ["--update"]
    if update:
        args = args[:-1]
    if len(args) < 2 or any(a.startswith("--") for a in args):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    list_path = args[-1]
    passed = set()
    for spec in args[:-1]:
        log_dir, _, prefix = spec.partition("=")
        passed |= passes_in(log_dir, prefix)
    listed = read_list(list_path)
    lost = sorted(listed - passed)
    new = sorted(passed - listed)
    for unit, name in new:
        print(f"newly passing: {unit}: {name}")
    for unit, name in lost:
        print(f"LOST: {unit}: {name}")
    print(f"compat ratchet: {len(passed)} tests passed, {len(listed)} listed, "
          f"{len(lost)} listed tests failed, {len(new)} new passes")
    if update:
        write_list(list_path, listed | passed)
        print(f"compat ratchet: {list_path} now lists {len(listed | passed)} tests")
    if new and not update:
        print("compat ratchet: add the new passes with --update (after checking they are steady)")
    # The plain closing line CI summaries look for: listed tests that passed, and that failed.
    if lost:
        print("compat ratchet: FAILED: tests that used to pass no longer do", file=sys.stderr)
    print(f"ratchet: {len(listed & passed)} passed, {len(lost)} failed")
    if lost:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
