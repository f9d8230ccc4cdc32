#!/usr/bin/env python3
"""The shape of the source tree, checked: no file in src/ over 700 lines, no
function over 80, no include cycle between modules, pure modules that do not
reach llhttp.h, and a connection module that speaks only through its transport.
Reads the sources only; prints one line per problem and exits 1 if there is one."""

import os
import re
import sys
from pathlib import Path

SRCDIR = Path(os.environ.get('srcdir', Path(__file__).resolve().parents[2]))
SRC, INC = SRCDIR / 'src', SRCDIR / 'include' / 'portico'
MAX_FILE_LINES, MAX_FUNCTION_LINES = 700, 80
# modules that decide or compose without knowing the parser
PURE = ('cond', 'response', 'filecache', 'listing', 'status', 'mime', 'send', 'transport',
        'watch', 'beneath', 'util/path', 'util/range', 'util/httpdate', 'util/str',
        'util/buf', 'util/encoding')
INCLUDE = re.compile(r'^#include "portico/([a-z_]+)\.h"', re.M)
problems = []


def sources():
    return sorted(p for p in SRC.rglob('*.c') if 'llhttp' not in p.parts)


def module(path):
    return str(path.relative_to(SRC).with_suffix(''))


def functions(text):
    """(name, first line, length) of each function defined at the top level."""
    lines = text.split('\n')
    for i, line in enumerate(lines):
        if line != '{':
            continue
        j = i - 1
        while j > 0 and '(' not in lines[j]:
            j -= 1
        name = re.search(r'(\w+)\s*\(', lines[j])
        end = next(k for k in range(i, len(lines)) if lines[k] == '}')
        yield (name.group(1) if name else '?'), j + 1, end - j + 1


def headers_reached(name, seen):
    """Every portico header name reaches, itself included, and whether llhttp.h is one."""
    if name in seen:
        return
    seen.add(name)
    path = INC / (name + '.h')
    if path.exists():
        text = path.read_text()
        if '<llhttp.h>' in text:
            seen.add('<llhttp>')
        for sub in INCLUDE.findall(text):
            headers_reached(sub, seen)


def main():
    graph = {}
    by_name = {p.stem: module(p) for p in sources()}
    for path in sources():
        text = path.read_text()
        mod = module(path)
        n = text.count('\n')
        if n > MAX_FILE_LINES:
            problems.append(f'{mod}.c: {n} lines (at most {MAX_FILE_LINES})')
        for name, line, length in functions(text):
            if length > MAX_FUNCTION_LINES:
                problems.append(f'{mod}.c:{line}: {name} is {length} lines '
                                f'(at most {MAX_FUNCTION_LINES})')
        direct = INCLUDE.findall(text)
        graph[mod] = {by_name[h] for h in direct if h in by_name and by_name[h] != mod}
        if mod in PURE:
            reached = set()
            for h in direct:
                headers_reached(h, reached)
            if '<llhttp>' in reached or '<llhttp.h>' in text:
                problems.append(f'{mod}.c: a pure module reaches llhttp.h')
    for a, deps in graph.items():
        for b in deps:
            if a in graph.get(b, ()):
                if a < b:
                    problems.append(f'{a}.c and {b}.c include each other\'s headers')
    conn = (SRC / 'conn.c').read_text()
    for pattern in (r'(?<![>.\w])recv\(', r'(?<![>.\w])send\(', r'(?<![>.\w])sendfile\(', r'\bSSL_', r'\btls_', r'->ssl\b',
                    r'\bsetsockopt\(', r'\bshutdown\(SHUT'):
        if re.search(pattern, conn):
            problems.append(f'conn.c: {pattern} (it must speak only through its transport)')
    for p in problems:
        print(p)
    print(f'{len(sources())} source files checked: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
