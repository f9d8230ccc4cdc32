#!/usr/bin/env python3
"""Command line: --help, --version, start-up line, start-up errors and exit codes."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (run_portico, stderr_one_line, BIN, HOST, Client, Server, Skip, StartError, add_case,  # noqa: E402
                          check, eq, expect, new_root, req, require_binary, run, spawn,
                          stop_proc, test)

require_binary()
FILES = {'a.txt': b'file a\n'}
PARENT, ROOT = new_root(FILES)
A = FILES['a.txt']
LONG_OPTIONS = ['--root', '--port', '--bind', '--workers', '--quiet', '--access-log',
                '--header-timeout', '--keepalive-timeout', '--max-body-size', '--help',
                '--version']


run_cli = run_portico
one_error_line = stderr_one_line


# ---- help and version -----------------------------------------------------

def help_case(flag):
    code, out, err = run_cli([flag])
    eq(code, 0, 'exit code')
    text = out.decode()
    check(re.search(r'usage', text, re.I), 'no usage text on stdout: %r' % text[:200])
    missing = [o for o in LONG_OPTIONS if o not in text]
    check(not missing, 'help does not mention %r' % missing)
    eq(err, b'', 'stderr')


def version_case(flag):
    code, out, err = run_cli([flag])
    eq(code, 0, 'exit code')
    check(re.fullmatch(rb'portico \d+\.\d+\.\d+\ncompression: (none|(gzip \((libdeflate|zlib) '
                       rb'[\d.]+\) ?)?(brotli [\d.]+ ?)?(zstd [\d.]+)?)\n', out),
          'version output %r' % out)


for f in ['-h', '--help']:
    add_case('%s prints usage to stdout, exit 0' % f, help_case, f)
for f in ['-V', '--version']:
    add_case('%s prints "portico X.Y.Z" and the codings built in, exit 0' % f, version_case, f)

# ---- usage errors: exit 2 ---------------------------------------------------

LO = ['-b', HOST]
USAGE = [
    ['--bogus', ROOT],
    ['-Z', ROOT],
    ['-p', 'abc', ROOT] + LO,
    ['-p', '70000', ROOT] + LO,
    ['-p', '65536', ROOT] + LO,
    ['-p', '-1', ROOT] + LO,
    ['-p', '80x', ROOT] + LO,
    ['-p', '', ROOT] + LO,
    ['--port', 'abc', ROOT] + LO,
    ['-p', '0', '-w', '0', ROOT] + LO,
    ['-p', '0', '-w', 'abc', ROOT] + LO,
    ['-p', '0', '-w', '-2', ROOT] + LO,
    ['-p', '0', '--header-timeout', 'abc', ROOT] + LO,
    ['-p', '0', '--keepalive-timeout', 'x', ROOT] + LO,
    ['-p', '0', '--max-body-size', 'lots', ROOT] + LO,
    ['-p', '0', ROOT, '-p'] + LO,
    ['-p', '0', '-b', HOST, '-r'],
]


def usage_case(args):
    code, out, err = run_cli(args)
    one_error_line(err, code, 2)
    check(b'serving' not in out, 'it started serving: %r' % out)


for a in USAGE:
    add_case('usage error %s -> exit 2, one "portico: " line' % ' '.join(
        repr(x) if x == '' else ('ROOT' if x == ROOT else x) for x in a), usage_case, a)

# ---- runtime errors: exit 1 -------------------------------------------------


@test('root does not exist -> exit 1, message names it')
def root_missing():
    missing = os.path.join(PARENT, 'no-such-dir')
    code, out, err = run_cli(['-p', '0', '-b', HOST, '-q', missing])
    line = one_error_line(err, code, 1)
    check('no-such-dir' in line, 'message does not name the root: %r' % line)


@test('root is a file -> exit 1')
def root_file():
    code, out, err = run_cli(['-p', '0', '-b', HOST, '-q', os.path.join(ROOT, 'a.txt')])
    one_error_line(err, code, 1)


@test('port already in use -> exit 1, message contains "in use"')
def port_in_use():
    s = socket.socket()
    try:
        s.bind((HOST, 0))
        s.listen(1)
        port = s.getsockname()[1]
        code, out, err = run_cli(['-p', str(port), '-b', HOST, '-q', '-w', '1', ROOT])
        line = one_error_line(err, code, 1)
        check('in use' in line, 'message %r lacks "in use"' % line)
        check(str(port) in line, 'message %r does not name the port' % line)
    finally:
        s.close()


@test('port 80 as a non-root user -> exit 1, "needs root" and "try -p 8080"')
def low_port():
    if os.geteuid() != 0:
        raise Skip('needs root to drop privileges with setpriv')
    setpriv = shutil.which('setpriv')
    if not setpriv:
        raise Skip('setpriv not installed')
    try:
        with open('/proc/sys/net/ipv4/ip_unprivileged_port_start') as f:
            if int(f.read()) <= 80:
                raise Skip('unprivileged users may bind port 80 here')
    except (OSError, ValueError):
        pass
    code, out, err = run_cli(['-p', '80', '-b', HOST, '-q', '-w', '1', ROOT],
                             pre=[setpriv, '--reuid=65534', '--regid=65534', '--clear-groups'])
    line = one_error_line(err, code, 1)
    check('needs root' in line and 'try -p 8080' in line,
          'message %r lacks "needs root" / "try -p 8080"' % line)


# ---- successful start-ups ---------------------------------------------------

def serve_case(args, cwd=None, want_root=ROOT, want_host=HOST, want_workers=None):
    s = Server(None, *args, workers=None, quiet=False, bind=None, cwd=cwd, port=None)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        m = s.match
        check(m.group('root') in (want_root, os.path.realpath(want_root)),
              'root in the start-up line: %r' % s.line)
        eq(m.group('host'), want_host, 'host in the start-up line %r' % s.line)
        if want_workers is not None:
            check(int(m.group('workers')) in want_workers,
                  'workers in %r, want one of %r' % (s.line, want_workers))
            time.sleep(0.1)
            n = len(s.wait_workers(max(want_workers), timeout=3))
            check(n in want_workers, '%d worker processes, want %r' % (n, want_workers))
        with Client(s.port) as c:
            c.send(req('GET', '/a.txt'))
            expect(c.read_response(), 200, body=A)
        return s
    finally:
        s.stop()


SERVE = [
    ('positional ROOT, -w 1', ['-p', '0', '-b', HOST, '-q', '-w', '1', ROOT], None, HOST, {1}),
    ('-r ROOT', ['-p', '0', '-b', HOST, '-q', '-w', '1', '-r', ROOT], None, HOST, {1}),
    ('long options, --workers 3', ['--port', '0', '--bind', HOST, '--quiet', '--workers', '3',
                                   '--root', ROOT], None, HOST, {3}),
    ('relative root is printed absolute', ['-p', '0', '-b', HOST, '-q', '-w', '1', 'root'],
     PARENT, HOST, {1}),
    ('without -b the URL says localhost', ['-p', '0', '-q', '-w', '1', ROOT], None,
     'localhost', {1}),
    ('default workers = online CPUs', ['-p', '0', '-b', HOST, '-q', ROOT], None, HOST,
     {os.cpu_count(), len(os.sched_getaffinity(0))}),
    ('timeouts and body size accepted', ['-p', '0', '-b', HOST, '-q', '-w', '1',
                                         '--header-timeout', '3', '--keepalive-timeout', '4',
                                         '--max-body-size', '100', ROOT], None, HOST, {1}),
]

for name, args, cwd, host, workers in SERVE:
    add_case('start-up: %s' % name, serve_case, args, cwd, ROOT, host, workers)


@test('--access-log - writes a line per request to stdout')
def access_log_stdout():
    s = Server(ROOT, '--access-log', '-', quiet=False, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        with Client(s.port) as c:
            c.send(req('GET', '/a.txt?x=1') + req('GET', '/missing'))
            expect(c.read_response(), 200)
            expect(c.read_response(), 404)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            out = s.stdout().decode('utf-8', 'replace')
            if '/missing' in out:
                break
            time.sleep(0.05)
        lines = out.splitlines()
        check(any('/a.txt' in x and ' 200 ' in x for x in lines),
              'no log line for /a.txt 200 in %r' % out)
        check(any('/missing' in x and ' 404 ' in x for x in lines),
              'no log line for /missing 404 in %r' % out)
    finally:
        s.stop()


@test('--access-log FILE writes a line per request to the file')
def access_log_file():
    path = os.path.join(PARENT, 'access.log')
    s = Server(ROOT, '--access-log', path, quiet=False, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        with Client(s.port) as c:
            c.send(req('GET', '/a.txt'))
            expect(c.read_response(), 200)
        deadline = time.monotonic() + 3
        text = ''
        while time.monotonic() < deadline:
            try:
                with open(path, encoding='utf-8', errors='replace') as f:
                    text = f.read()
            except OSError:
                text = ''
            if '/a.txt' in text:
                break
            time.sleep(0.05)
        check(any('/a.txt' in x and ' 200 ' in x for x in text.splitlines()),
              'no log line for /a.txt 200 in %r' % text)
    finally:
        s.stop()


@test('-q: no access log on stdout')
def quiet():
    s = Server(ROOT, quiet=True, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        with Client(s.port) as c:
            c.send(req('GET', '/a.txt'))
            expect(c.read_response(), 200)
        time.sleep(0.3)
        eq(s.stdout(), b'', 'stdout after the start-up line')
    finally:
        s.stop()


run()
