#!/usr/bin/env python3
"""Configuration file (-c FILE): "key value" lines, comments, booleans,
command-line options winning over the file, every error with FILE:LINE, and
-t / --check-config (validates the root and the TLS certificates, binds
nothing, starts nothing)."""

import gzip
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (BIN, HOST, OPENSSL, PKI, Server, Skip, StartError,  # noqa: E402
                          TLSClient, add_case, check, children, eq, expect, get, hold_port,
                          mkdtemp, new_root, process_alive, req, require_binary, run, run_portico,
                          set_script_timeout, spawn, stderr_one_line, stop_proc, test,
                          write_config)

require_binary()
set_script_timeout(120)

TEXT = b'plain text, long enough to be worth compressing ' * 20
FILES = {'a.txt': b'file a\n', 'dir/b.txt': b'file b\n', 'page.txt': TEXT,
         'page.txt.gz': gzip.compress(TEXT, mtime=0)}
PARENT, ROOT = new_root(FILES)
A = FILES['a.txt']
CONF = os.path.join(PARENT, 'conf')
os.mkdir(CONF)
os.chmod(CONF, 0o755)
_n = [0]

OK_LINE = 'portico: configuration OK'
LO = ['-p', '0', '-b', HOST]      # never the default port 80 when a bad run starts


def conf(lines, crlf=False, name=None):
    """A new configuration file holding LINES; returns its path."""
    _n[0] += 1
    path = os.path.join(CONF, name or 'c%d.conf' % _n[0])
    return write_config(path, lines, crlf=crlf)


def start(path, *extra, **kw):
    """A server from the file at PATH (plus EXTRA options); StartError fails the case."""
    kw.setdefault('workers', 2)
    s = Server(None, '-c', path, *extra, **kw)
    try:
        return s.start()
    except StartError as e:
        raise AssertionError('server did not start: %s' % e)


def check_ok(args, timeout=5):
    """portico ARGS (with -t added unless given) prints the OK line, exit 0."""
    args = list(args)
    if '-t' not in args and '--check-config' not in args:
        args.append('-t')
    code, out, err = run_portico(args, timeout=timeout)
    eq(code, 0, 'exit code of portico %s (stdout %r, stderr %r)' % (' '.join(args), out, err))
    eq(out.decode('utf-8', 'replace').strip(), OK_LINE, 'stdout')
    eq(err.decode('utf-8', 'replace'), '', 'stderr')


def expect_file_error(path, lineno, *needles, check_only=True):
    """portico -c PATH [-t] exits 1 with one stderr line 'portico: PATH:LINE: ...'
    containing every NEEDLE; nothing on stdout says OK."""
    args = ['-c', path] + (['-t'] if check_only else LO + ['-q', '-w', '1'])
    code, out, err = run_portico(args)
    line = stderr_one_line(err, code, 1)
    prefix = 'portico: %s:%d: ' % (path, lineno) if lineno else 'portico: '
    check(line.startswith(prefix), 'want a line starting %r, got %r' % (prefix, line))
    for n in needles:
        check(n in line, '%r not in %r' % (n, line))
    check(OK_LINE.encode() not in out, 'stdout says OK: %r' % out)
    if not check_only:
        check(b'serving' not in out, 'a server started: %r' % out)
    return line


# ---- the file is read ---------------------------------------------------------

@test('-c FILE: root, cache-control with spaces, listing on, precompressed off, compress off, '
      'a compression cache, workers 3, comments and blank lines')
def file_applies():
    path = conf(['# portico test configuration', '',
                 'root %s' % ROOT,
                 '   # an indented comment',
                 '\t',
                 'cache-control public, max-age=60   # a trailing comment',
                 'listing on',
                 'precompressed off',
                 'compress off',
                 'compress-cache %s' % os.path.join(mkdtemp(), 'unused'),
                 'workers 3'])
    s = start(path, workers=None)
    try:
        eq(s.match.group('root'), ROOT, 'root in the start-up line')
        eq(s.match.group('workers'), '3', 'workers in the start-up line')
        eq(len(s.wait_workers(3)), 3, 'worker processes')
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='public, max-age=60')
        r = expect(get(s.port, '/dir/'), 200)
        check(b'b.txt' in r.body, 'listing does not name b.txt: %r' % r.body[:300])
        r = expect(get(s.port, '/page.txt', headers=[('Accept-Encoding', 'gzip')]), 200,
                   body=TEXT)
        eq(r.get('content-encoding'), None, 'Content-Encoding with precompressed and compress off')
        eq(r.get('vary'), None, 'Vary with compress off')
    finally:
        s.stop()


@test('CRLF line endings: values carry no CR')
def crlf_file():
    path = conf(['root %s' % ROOT, 'cache-control max-age=5', 'listing yes'], crlf=True)
    with open(path, 'rb') as f:
        check(b'\r\n' in f.read(), 'test file has no CRLF')
    s = start(path)
    try:
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='max-age=5')
        expect(get(s.port, '/dir/'), 200)
    finally:
        s.stop()


@test("'#' inside a value without a space before it is kept: cache-control a#b")
def hash_in_value():
    path = conf(['root %s' % ROOT, 'cache-control a#b'])
    s = start(path)
    try:
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='a#b')
    finally:
        s.stop()


@test('tabs and several spaces between key and value; no newline after the last line')
def spacing():
    path = conf('root\t\t%s\ncache-control   \t no-cache' % ROOT)
    s = start(path)
    try:
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='no-cache')
    finally:
        s.stop()


@test('command line wins: file port P (held elsewhere) + -p 0, file workers 3 + -w 2, '
      'file cache-control + --cache-control; file listing still applies')
def cli_overrides():
    held, port = hold_port()
    try:
        path = conf(['root %s' % ROOT, 'port %d' % port, 'workers 3',
                     'cache-control from-file', 'listing on'])
        s = start(path, '--cache-control', 'from-cli', workers=2)
        try:
            check(s.port != port, 'server uses the file port %d despite -p 0' % port)
            eq(s.match.group('workers'), '2', 'workers in the start-up line')
            expect(get(s.port, '/a.txt'), 200, body=A, cache_control='from-cli')
            expect(get(s.port, '/dir/'), 200)
        finally:
            s.stop()
    finally:
        held.close()


@test('the ROOT argument wins over the file root')
def root_argument_wins():
    other_parent, other = new_root({'a.txt': b'other root\n'})
    path = conf(['root %s' % ROOT])
    s = Server(other, '-c', path, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        eq(s.match.group('root'), other, 'root in the start-up line')
        expect(get(s.port, '/a.txt'), 200, body=b'other root\n')
    finally:
        s.stop()


@test('file port is used when the command line gives none')
def file_port():
    # the port is held by a socket of ours until just before the start
    held, port = hold_port()
    held.close()
    path = conf(['root %s' % ROOT, 'port %d' % port, 'bind %s' % HOST])
    s = Server(None, '-c', path, port=None, bind=None, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        eq(s.port, port, 'port in the start-up line')
        expect(get(port, '/a.txt'), 200, body=A)
    finally:
        s.stop()


def bool_case(word, on):
    path = conf(['root %s' % ROOT, 'listing %s' % word])
    s = start(path, workers=1)
    try:
        r = get(s.port, '/dir/')
        if on:
            r = expect(r, 200)
            check(b'b.txt' in r.body, 'no listing: %r' % r.body[:200])
        else:
            expect(r, 403)
    finally:
        s.stop()


for _w, _on in [('on', 1), ('yes', 1), ('true', 1), ('1', 1),
                ('off', 0), ('no', 0), ('false', 0), ('0', 0)]:
    add_case('boolean: listing %s -> %s' % (_w, 'listing' if _on else '403'), bool_case, _w, _on)


@test('every key of the contract is accepted by -t (two files: tls-cert pair, tls + tls-save-cert)')
def every_key():
    if not OPENSSL:
        raise Skip('openssl not installed')
    certs = os.path.join(PARENT, 'every')
    os.mkdir(certs)
    pki = PKI(certs)
    cert, key = pki.leaf('leaf', ['DNS:localhost', 'IP:127.0.0.1'])
    common = ['root %s' % ROOT, 'port 0', 'bind %s' % HOST, 'workers 2', 'quiet on',
              'access-log %s' % os.path.join(PARENT, 'every.log'),
              'header-timeout 7', 'keepalive-timeout 8', 'send-timeout 9',
              'max-body-size 64k', 'max-connections 100', 'listing off',
              'cache-control public, max-age=600', 'precompressed yes', 'revalidate 2',
              'tls-port 0', 'redirect-https on', 'hsts 600', 'user nobody', 'chroot off',
              'pid-file %s' % os.path.join(PARENT, 'every.pid')]
    check_ok(['-c', conf(common + ['tls-cert %s' % cert, 'tls-key %s' % key])])
    check_ok(['-c', conf(common + ['tls on', 'tls-save-cert %s'
                                   % os.path.join(PARENT, 'saved.pem')])])
    check(not os.path.exists(os.path.join(PARENT, 'every.pid')), '-t wrote the pid file')


# ---- errors: FILE:LINE: message, one line, exit 1 ---------------------------

ERRORS = [
    # (name, lines, line number of the error, needles)
    ('unknown key', ['# c', 'root %s' % ROOT, 'foo bar'], 3, ["unknown key 'foo'"]),
    ('key without a value', ['root %s' % ROOT, 'port'], 2, ['port', 'needs a value']),
    ('key with only spaces and a comment after it', ['root %s' % ROOT, 'port    # none'], 2,
     ['port', 'needs a value']),
    ('port abc', ['root %s' % ROOT, '', 'port abc'], 3, ["invalid port 'abc'"]),
    ('port 65536 (out of range)', ['port 65536', 'root %s' % ROOT], 1, ['65536']),
    ('port -1', ['port -1'], 1, ["'-1'"]),
    ('workers 0 (out of range)', ['root %s' % ROOT, 'workers 0'], 2, ["'0'"]),
    ('workers 99999999999999999999', ['workers 99999999999999999999'], 1,
     ['99999999999999999999']),
    ('header-timeout 10s', ['header-timeout 10s'], 1, ["'10s'"]),
    ('max-body-size 1x', ['max-body-size 1x'], 1, ["'1x'"]),
    ('hsts abc', ['hsts abc'], 1, ["'abc'"]),
    ('duplicate key (line of the second)', ['port 8001', 'root %s' % ROOT, 'port 8002'], 3,
     ['port', 'set twice']),
    ('duplicate boolean', ['listing on', 'listing on'], 2, ['listing', 'set twice']),
    ('bad boolean', ['root %s' % ROOT, 'listing maybe'], 2, ["'maybe'"]),
    ('boolean without a value', ['listing'], 1, ['listing', 'needs a value']),
    ('line numbers count comments and blank lines', ['# one', '', '  # three', '', 'nope 1'],
     5, ["unknown key 'nope'"]),
    ('a command-line-only option is not a key', ['config /etc/portico.conf'], 1,
     ["unknown key 'config'"]),
]


def error_case(lines, lineno, needles, check_only, crlf=False):
    path = conf(lines, crlf=crlf)
    expect_file_error(path, lineno, *needles, check_only=check_only)


for _name, _lines, _ln, _needles in ERRORS:
    add_case('-t: %s -> FILE:%d: message, exit 1' % (_name, _ln), error_case, _lines, _ln,
             _needles, True)
for _name, _lines, _ln, _needles in ERRORS[:4] + ERRORS[11:12]:
    add_case('start: %s -> FILE:%d: message, exit 1, nothing served' % (_name, _ln), error_case,
             _lines, _ln, _needles, False)
add_case('-t: error line number in a CRLF file', error_case,
         ['root %s' % ROOT, '# c', 'bogus 1'], 3, ["unknown key 'bogus'"], True, True)


@test('missing file: "portico: FILE: No such file or directory", exit 1 (-t and start)')
def missing_file():
    path = os.path.join(CONF, 'does-not-exist.conf')
    for args in (['-c', path, '-t'], ['-c', path] + LO):
        code, out, err = run_portico(args)
        line = stderr_one_line(err, code, 1)
        eq(line, 'portico: %s: No such file or directory' % path, 'stderr line for %r' % args)


@test('tls-cert without tls-key: "each tls-cert needs its tls-key", exit 1')
def cert_without_key():
    path = conf(['root %s' % ROOT, 'tls-cert %s' % os.path.join(PARENT, 'x.pem')])
    for extra in (['-t'], LO):
        code, out, err = run_portico(['-c', path] + extra)
        line = stderr_one_line(err, code, 1)
        check('each tls-cert needs its tls-key' in line, 'stderr line %r' % line)


@test('tls-cert/tls-key repeated as pairs is no "set twice" error (-t OK)')
def cert_pairs():
    if not OPENSSL:
        raise Skip('openssl not installed')
    certs = os.path.join(PARENT, 'pairs')
    os.mkdir(certs)
    pki = PKI(certs)
    a_cert, a_key = pki.leaf('a', ['DNS:a.test'])
    b_cert, b_key = pki.leaf('b', ['DNS:b.test'], kind='ec')
    path = conf(['root %s' % ROOT, 'tls-cert %s' % a_cert, 'tls-key %s' % a_key,
                 'tls-cert %s' % b_cert, 'tls-key %s' % b_key, 'tls-port 0'])
    check_ok(['-c', path])
    # and the server serves with both, chosen by SNI
    s = start(path)
    try:
        check(s.tls_port, 'no https URL in %r' % s.line)
        for name, want in (('a.test', 'a.test'), ('b.test', 'b.test')):
            with TLSClient(s.tls_port, server_hostname=name) as c:
                der = c.sock.getpeercert(binary_form=True)
                check(want.encode() in der, 'SNI %s: certificate does not name %s' % (name, want))
                c.send(req('GET', '/a.txt', host=name))
                expect(c.read_response(), 200, body=A)
    finally:
        s.stop()


# ---- -t ---------------------------------------------------------------------

@test('-t and --check-config on a good file: "portico: configuration OK", exit 0, no server')
def check_good():
    path = conf(['root %s' % ROOT, 'port 0', 'bind %s' % HOST, 'listing on'])
    for flag in ('-t', '--check-config'):
        t0 = time.monotonic()
        check_ok(['-c', path, flag])
        check(time.monotonic() - t0 < 3, '%s took %.1f s' % (flag, time.monotonic() - t0))


@test('-t without -c checks the command line: OK for a good root, exit 1 for a missing one')
def check_cli_only():
    check_ok(['-t', '-p', '0', ROOT])
    code, out, err = run_portico(['-t', '-p', '0', os.path.join(PARENT, 'nope')])
    line = stderr_one_line(err, code, 1)
    check('nope' in line, 'message does not name the root: %r' % line)


@test('-t does not bind: OK while another socket or a running portico holds the file port; '
      'starting fails "in use"')
def check_no_bind():
    held, port = hold_port()
    try:
        path = conf(['root %s' % ROOT, 'port %d' % port, 'bind %s' % HOST])
        check_ok(['-c', path, '-t'])
        code, out, err = run_portico(['-c', path, '-q', '-w', '1'])
        line = stderr_one_line(err, code, 1)
        check('in use' in line, 'start on a held port: %r' % line)
    finally:
        held.close()
    # and while a running portico serves on the file's port
    s = Server(ROOT, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        path = conf(['root %s' % ROOT, 'port %d' % s.port, 'bind %s' % HOST])
        check_ok(['-c', path, '-t'])
        expect(get(s.port, '/a.txt'), 200, body=A)
    finally:
        s.stop()


@test('-t starts no process that outlives it and leaves nothing listening')
def check_no_children():
    path = conf(['root %s' % ROOT, 'port 0', 'bind %s' % HOST])
    p = spawn([BIN, '-c', path, '-t'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    kids = set()
    deadline = time.monotonic() + 5
    while p.poll() is None and time.monotonic() < deadline:
        kids |= children(p.pid)
        time.sleep(0.005)
    try:
        check(p.poll() is not None, '-t still running after 5 s')
        eq(p.returncode, 0, 'exit code')
        time.sleep(0.1)
        check(not [k for k in kids if process_alive(k)], 'children of -t still alive: %r' % kids)
    finally:
        stop_proc(p)


@test('-t: root in the file does not exist -> exit 1 naming it; root is a file -> exit 1')
def check_bad_root():
    missing = os.path.join(PARENT, 'no-such-root')
    code, out, err = run_portico(['-c', conf(['root %s' % missing]), '-t'])
    line = stderr_one_line(err, code, 1)
    check(missing in line, 'message does not name the root: %r' % line)
    code, out, err = run_portico(['-c', conf(['root %s' % os.path.join(ROOT, 'a.txt')]), '-t'])
    line = stderr_one_line(err, code, 1)
    check('a.txt' in line, 'message does not name the root: %r' % line)


@test('-t loads the certificates: good pair OK; key of another certificate, missing file, '
      'garbage -> exit 1')
def check_tls():
    if not OPENSSL:
        raise Skip('openssl not installed')
    certs = os.path.join(PARENT, 'tcerts')
    os.mkdir(certs)
    pki = PKI(certs)
    cert, key = pki.leaf('good', ['DNS:localhost'])
    other_cert, other_key = pki.leaf('other', ['DNS:localhost'])
    garbage = os.path.join(certs, 'garbage.pem')
    with open(garbage, 'w') as f:
        f.write('-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
    base = ['root %s' % ROOT, 'tls-port 0']
    check_ok(['-c', conf(base + ['tls-cert %s' % cert, 'tls-key %s' % key]), '-t'])
    for what, c, k, needle in (('mismatched key', cert, other_key, None),
                               ('missing certificate', os.path.join(certs, 'nope.pem'), key,
                                'nope.pem'),
                               ('missing key', cert, os.path.join(certs, 'nope.key'), 'nope.key'),
                               ('garbage certificate', garbage, key, 'garbage.pem')):
        code, out, err = run_portico(['-c', conf(base + ['tls-cert %s' % c, 'tls-key %s' % k]),
                                      '-t'])
        try:
            line = stderr_one_line(err, code, 1)
        except AssertionError as e:
            raise AssertionError('%s: %s' % (what, e))
        check(OK_LINE.encode() not in out, '%s: stdout says OK' % what)
        if needle:
            check(needle in line, '%s: message does not name %s: %r' % (what, needle, line))


@test('-t on a file that is a directory -> exit 1, one line naming it')
def conf_is_dir():
    code, out, err = run_portico(['-c', CONF, '-t'])
    line = stderr_one_line(err, code, 1)
    check(CONF in line, 'message does not name %s: %r' % (CONF, line))


@test('an empty file is a valid configuration (root from the command line)')
def empty_file():
    path = conf('')
    check_ok(['-c', path, '-t', ROOT])
    s = Server(ROOT, '-c', path, workers=1)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    try:
        expect(get(s.port, '/a.txt'), 200, body=A)
    finally:
        s.stop()


run()
