#!/usr/bin/env python3
"""Basic authentication (auth PATTERN FILE [REALM]) with real `htpasswd` files
(apache2-utils): 401 with the challenge, the right user and password go through,
wrong, unknown and malformed ones do not, no encoding dodges the rule, responses
are private to caches, the log names the user (never the password), a verified
credential is remembered (the worker's CPU time shows it), preflights come before
auth, forms libcrypt cannot verify are refused at start with the fix, SIGHUP
re-reads the file, and plain HTTP on a public address gets a warning."""

import base64
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, Server, add_case, check, eq, exchange, mkdtemp,  # noqa: E402
                          make_tree, req, require_binary, run, run_portico, set_script_timeout,
                          skip_all, stderr_one_line, test, write_config)

require_binary()
set_script_timeout(120)
HTPASSWD = shutil.which('htpasswd')
if not HTPASSWD:
    skip_all('no htpasswd (apache2-utils; scripts/install-deps installs it)')

BASE = mkdtemp()
ROOT = make_tree(os.path.join(BASE, 'root'), {
    'index.html': b'public\n',
    'private/secret.txt': b'the secret\n',
    'private/index.html': b'private index\n',
    'team/notes.txt': b'team notes\n',
})


def htpasswd(path, flags, user, password):
    """htpasswd FLAGS PATH USER PASSWORD (the -b form: the password on the command line)."""
    subprocess.run([HTPASSWD, *flags, path, user, password], check=True, capture_output=True,
                   timeout=60)


USERS = os.path.join(BASE, 'users.htpasswd')
htpasswd(USERS, ['-cbB', '-C', '5'], 'alice', 'open sesame')
htpasswd(USERS, ['-bB', '-C', '5'], 'bob', 'hunter2:with:colons')
htpasswd(USERS, ['-b5'], 'carol', 'sha-512 password')     # SHA-512-crypt
htpasswd(USERS, ['-b2'], 'dave', 'sha-256 password')      # SHA-256-crypt
TEAM = os.path.join(BASE, 'team.htpasswd')
htpasswd(TEAM, ['-cbB', '-C', '5'], 'erin', 'team pass')

ACCESS_LOG = os.path.join(BASE, 'access.log')
CONF = os.path.join(BASE, 'portico.conf')
write_config(CONF, [
    'root %s' % ROOT,
    'cache-control max-age=60',
    'auth /private/* %s "Private area"' % USERS,
    'auth /team/* %s' % TEAM,
    'header /team/* Cache-Control: no-store',
    'cors https://app.example',
])
SERVER = Server(None, '-c', CONF, '--access-log', ACCESS_LOG, quiet=False).start()
PORT = SERVER.port


def basic(user, password):
    return 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


def fetch(target, authorization=None, method='GET', headers=(), port=None):
    h = list(headers) + ([('Authorization', authorization)] if authorization else [])
    return exchange(port or PORT, req(method, target, headers=h), method)


@test('no credentials: 401 with the realm, UTF-8, and Cache-Control: private')
def challenge():
    r = fetch('/private/secret.txt')
    eq(r.status, 401, 'status')
    eq(r.get('www-authenticate'), 'Basic realm="Private area", charset="UTF-8"', 'challenge')
    eq(r.get('cache-control'), 'private', 'Cache-Control')
    check(b'the secret' not in r.body, 'the file leaked into the 401')
    eq(fetch('/team/notes.txt').get('www-authenticate'),
       'Basic realm="portico", charset="UTF-8"', 'the default realm')


CREDENTIALS = [
    # user, password, status
    ('alice', 'open sesame', 200),
    ('bob', 'hunter2:with:colons', 200),   # a ':' in the password
    ('carol', 'sha-512 password', 200),
    ('dave', 'sha-256 password', 200),
    ('alice', 'open sesame ', 401),
    ('alice', '', 401),
    ('ALICE', 'open sesame', 401),         # user names are exact
    ('mallory', 'open sesame', 401),       # unknown: the same answer as a wrong password
    ('erin', 'team pass', 401),            # a user of another rule's file
]


def credential_case(user, password, status):
    r = fetch('/private/secret.txt', basic(user, password))
    eq(r.status, status, 'status')
    if status == 200:
        eq(r.body, b'the secret\n', 'body')
        eq(r.get('cache-control'), 'private', 'Cache-Control of a protected file')
    else:
        check(r.get('www-authenticate', ) is not None, 'a 401 without a challenge')


for _c in CREDENTIALS:
    add_case('%s / %r: %d' % _c, credential_case, *_c)


MALFORMED = ['Basic', 'Basic !!!!', 'Bearer abc', 'Digest username="alice"',
             'Basic ' + base64.b64encode(b'no-colon').decode(), 'basic ' + 'x' * 3000]


def malformed_case(value):
    eq(fetch('/private/secret.txt', value).status, 401, 'status')


for _v in MALFORMED:
    add_case('malformed Authorization %r: 401' % _v[:30], malformed_case, _v)


@test('the scheme is case-insensitive')
def scheme_case():
    eq(fetch('/private/secret.txt', 'bAsIc ' + basic('alice', 'open sesame')[6:]).status, 200,
       'status')


DODGES = ['/%70rivate/secret.txt', '/x/../private/secret.txt', '//private/secret.txt',
          '/private/./secret.txt', '/private/', '/private/index.html']


def dodge(target):
    eq(fetch(target).status, 401, 'status without credentials')


for _t in DODGES:
    add_case('%s is covered by auth /private/*' % _t, dodge, _t)


@test('paths no rule covers need no credentials; a HEAD is covered too')
def unprotected():
    eq(fetch('/').status, 200, '/')
    eq(fetch('/private').status, 301, '/private (the directory redirect: not beneath it)')
    eq(fetch('/private/secret.txt', method='HEAD').status, 401, 'HEAD')


@test('a header rule has the last word on Cache-Control')
def header_rule_wins():
    r = fetch('/team/notes.txt', basic('erin', 'team pass'))
    eq((r.status, r.get('cache-control')), (200, 'no-store'), 'status, Cache-Control')


@test('a CORS preflight is answered before auth (browsers send it without credentials)')
def preflight_first():
    r = fetch('/private/secret.txt', method='OPTIONS',
              headers=[('Origin', 'https://app.example'),
                       ('Access-Control-Request-Method', 'GET'),
                       ('Access-Control-Request-Headers', 'authorization')])
    eq(r.status, 204, 'status')
    eq(r.get('access-control-allow-headers'), 'authorization', 'Allow-Headers')


@test('the access log names the user, never the password or the credential')
def access_log():
    fetch('/private/secret.txt', basic('bob', 'hunter2:with:colons'))
    time.sleep(0.3)
    text = open(ACCESS_LOG, encoding='utf-8', errors='replace').read()
    line = [x for x in text.splitlines() if ' bob ' in x]
    check(line and '"GET /private/secret.txt HTTP/1.1" 200' in line[-1], 'log: %r' % text[-500:])
    check('hunter2' not in text and basic('bob', 'hunter2:with:colons')[6:] not in text,
          'the password or the credential is in the log')
    check(any(x.startswith('127.0.0.1 - - ') and '" 401 ' in x for x in text.splitlines()),
          'a 401 names no user')


def worker_cpu(server):
    ticks = 0
    for pid in server.workers():
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf('SC_CLK_TCK')


@test('a verified credential is remembered: 40 requests cost about one bcrypt run')
def remembered():
    slow = os.path.join(BASE, 'slow.htpasswd')
    htpasswd(slow, ['-cbB', '-C', '12'], 'zoe', 'slow pass')   # ~0.25 s a verification
    conf = os.path.join(BASE, 'slow.conf')
    write_config(conf, ['root %s' % ROOT, 'auth /private/* %s' % slow])
    s = Server(None, '-c', conf, workers=1).start()
    try:
        t0 = time.monotonic()
        eq(fetch('/private/secret.txt', basic('zoe', 'slow pass'), port=s.port).status, 200, '1st')
        one = time.monotonic() - t0
        before = worker_cpu(s)
        for i in range(40):
            eq(fetch('/private/secret.txt', basic('zoe', 'slow pass'), port=s.port).status, 200,
               'request %d' % i)
        spent = worker_cpu(s) - before
        # without the cache: 40 bcrypt runs of cost 12, at least 40 x 0.1 s on any machine
        check(spent < 2.0, '40 remembered requests took %.2f s of worker CPU (one '
              'verification took %.2f s)' % (spent, one))
        eq(fetch('/private/secret.txt', basic('zoe', 'wrong'), port=s.port).status, 401, 'wrong')
    finally:
        s.stop()


REFUSED = [
    ('apr1', ['-bm'], 'an apr1-MD5 hash, which libcrypt cannot verify; make it with htpasswd -B'),
    ('plain', ['-bp'], 'a plaintext password; make it with htpasswd -B'),
    ('sha1', ['-bs'], 'make it with htpasswd -B'),
]


def refused_case(name, args, needle):
    path = os.path.join(BASE, name + '.htpasswd')
    open(path, 'w').close()
    htpasswd(path, [*args], 'zed', 'pw')
    conf = os.path.join(BASE, name + '.conf')
    write_config(conf, ['root %s' % ROOT, '# a comment', 'auth /x/* %s' % path])
    for extra in (['-t'], ['-p', '0', '-b', HOST, '-q', '-w', '1']):
        code, out, err = run_portico(['-c', conf] + extra)
        line = stderr_one_line(err, code, 1)
        check(line.startswith('portico: %s:3: %s:1: ' % (conf, path)), 'prefix: %r' % line)
        check(needle in line, '%r not in %r' % (needle, line))
        check(b'serving' not in out, 'a server started')


for _r in REFUSED:
    add_case('htpasswd %s refused at start: %s' % (' '.join(_r[1]), _r[2]), refused_case, *_r)


@test('a missing htpasswd file is FILE:LINE at start')
def missing_file():
    conf = os.path.join(BASE, 'missing.conf')
    write_config(conf, ['root %s' % ROOT, 'auth /x/* %s/nowhere' % BASE])
    code, out, err = run_portico(['-c', conf, '-t'])
    line = stderr_one_line(err, code, 1)
    check(line.startswith('portico: %s:2: %s/nowhere: ' % (conf, BASE)), 'line: %r' % line)


@test('SIGHUP re-reads the htpasswd file: a changed password works, the old one not')
def reload_file():
    path = os.path.join(BASE, 'reload.htpasswd')
    htpasswd(path, ['-cbB', '-C', '5'], 'ann', 'first')
    conf = os.path.join(BASE, 'reload.conf')
    write_config(conf, ['root %s' % ROOT, 'auth /private/* %s' % path])
    s = Server(None, '-c', conf).start()
    try:
        eq(fetch('/private/secret.txt', basic('ann', 'first'), port=s.port).status, 200, 'before')
        htpasswd(path, ['-bB', '-C', '5'], 'ann', 'second')
        s.reload()   # until the old workers stop accepting, one may answer as before
        eq(fetch('/private/secret.txt', basic('ann', 'second'), port=s.port).status, 200, 'new')
        eq(fetch('/private/secret.txt', basic('ann', 'first'), port=s.port).status, 401, 'old')
    finally:
        s.stop()


@test('-t warns when auth is served over plain HTTP on every address; not on loopback')
def plain_warning():
    code, out, err = run_portico(['-c', CONF, '-t'])
    eq(code, 0, 'exit code')
    check(b'passwords cross the network readable' in err, 'no warning: %r' % err)
    code, out, err = run_portico(['-c', CONF, '-t', '-b', '127.0.0.1'])
    eq((code, err), (0, b''), 'loopback: no warning')


run()
