#!/usr/bin/env python3
"""Lists the functions of crates/*/src longer than a limit (default 60 lines), longest
first, tests left out: `scripts/long-functions.py [LIMIT]`.

A function's length is counted from its `fn` line to its closing brace. Test code is left
out: `#[cfg(test)]` modules and files, and `tests/` directories. Braces inside strings,
characters and comments are skipped well enough for this code base's style."""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def code_only(line, in_block_comment):
    """The line without strings, chars and comments; whether a block comment is still open."""
    out, i = [], 0
    while i < len(line):
        if in_block_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_block_comment = end + 2, False
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            in_block_comment, i = True, i + 2
            continue
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
            continue
        out.append(c)
        i += 1
    return "".join(out), in_block_comment


def functions(path):
    lines = path.read_text().splitlines()
    skip_depth = None  # brace depth at which a #[cfg(test)] item started
    depth, in_comment, pending_test = 0, False, False
    stack = []  # (name, start line, depth before its body)
    pending_fn = None  # a `fn` line whose body has not opened yet
    found = []
    multiline_string = False
    for n, raw in enumerate(lines, 1):
        if multiline_string:
            # A string spanning lines: skip until its closing quote.
            if raw.count('"') % 2 == 1:
                multiline_string = False
            continue
        code, in_comment = code_only(raw, in_comment)
        if raw.count('"') % 2 == 1 and not raw.strip().startswith("//"):
            multiline_string = True
        if "#[cfg(test)]" in raw:
            pending_test = True
        m = FN.match(code)
        if m and skip_depth is None:
            pending_fn = (m.group(6), n, depth)
        for c in code:
            if c == ";" and pending_fn and depth == pending_fn[2]:
                pending_fn = None  # a declaration without a body
            if c == "{":
                if pending_test and skip_depth is None:
                    skip_depth = depth
                    pending_test = False
                if pending_fn and depth == pending_fn[2]:
                    stack.append(pending_fn)
                    pending_fn = None
                depth += 1
            elif c == "}":
                depth -= 1
                if skip_depth is not None and depth == skip_depth:
                    skip_depth = None
                while stack and depth == stack[-1][2]:
                    name, start, _ = stack.pop()
                    found.append((n - start + 1, name, start))
        if pending_test and code.strip().endswith(";"):
            pending_test = False
    return found


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    rows = []
    for path in sorted(ROOT.glob("crates/*/src/**/*.rs")):
        if path.name == "tests.rs":
            continue
        for length, name, line in functions(path):
            if length > limit:
                rows.append((length, f"{path.relative_to(ROOT)}:{line}", name))
    for length, where, name in sorted(rows, reverse=True):
        print(f"{length:4} {name:32} {where}")


if __name__ == "__main__":
    main()
