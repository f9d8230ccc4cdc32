#!/usr/bin/env python3
"""Virtual hosts: [site NAME...] sections chosen by Host (exact names, any case,
ports and trailing dots ignored, the longest *.wildcard, else the default site),
each with its own root, freshness and error pages, inheriting what it does not
set; mistakes as FILE:LINE at start, at -t and at reload; SIGHUP applies changed
sites."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, Server, StartError, add_case, check, eq, exchange,  # noqa: E402
                          expect, get, mkdtemp, make_tree, req, require_binary, run,
                          run_portico, set_script_timeout, stderr_one_line, test,
                          write_config)

require_binary()
set_script_timeout(120)

BASE = mkdtemp()
ROOTS = {}
for name in ('default', 'example', 'org', 'deep', 'shared'):
    ROOTS[name] = make_tree(os.path.join(BASE, name), {
        'index.html': ('%s\n' % name).encode(),
        'only-%s.txt' % name: name.encode(),
        'dir/x.txt': b'x',
    })
make_tree(ROOTS['example'], {'404.html': b'<h1>example has no such page</h1>\n'})
CONF = os.path.join(BASE, 'portico.conf')

LINES = [
    'root %s' % ROOTS['default'],
    'cache-control max-age=60',
    '',
    '[site example.com www.example.com]',
    'root %s' % ROOTS['example'],
    'listing on',
    '[site *.example.org]',
    'root %s' % ROOTS['org'],
    'cache-control no-store',
    '[site *.deep.example.org]',
    'root %s' % ROOTS['deep'],
    '[site shared.test]  # the default root, its own settings',
    'listing on',
]
write_config(CONF, LINES)
SERVER = Server(None, '-c', CONF).start()
PORT = SERVER.port


def body_for(host, target='/'):
    r = get(PORT, target, host=host)
    return r.status, r.body


HOSTS = [
    ('example.com', b'example\n'),
    ('www.example.com', b'example\n'),
    ('EXAMPLE.Com', b'example\n'),
    ('example.com:8080', b'example\n'),
    ('example.com.', b'example\n'),
    ('a.example.org', b'org\n'),
    ('a.b.c.example.org', b'org\n'),
    ('example.org', b'default\n'),        # a wildcard is never the bare name
    ('x.deep.example.org', b'deep\n'),     # the longest wildcard wins
    ('deep.example.org', b'org\n'),
    ('other.test', b'default\n'),
    ('127.0.0.1', b'default\n'),
    ('shared.test', b'default\n'),
    ('www.example.com.evil', b'default\n'),
]


def host_case(host, want):
    status, body = body_for(host)
    eq(status, 200, 'status for Host %s' % host)
    eq(body, want, 'site for Host %s' % host)


for _h, _w in HOSTS:
    add_case('Host %s is served by its site' % _h, host_case, _h, _w)


@test('an absolute-form target chooses the site by its authority, not Host')
def absolute_form():
    r = exchange(PORT, req('GET', 'http://www.example.com/', host='other.test'))
    eq(r.body, b'example\n', 'body')


@test('HTTP/1.0 without Host is served by the default site')
def http10_no_host():
    r = exchange(PORT, req('GET', '/', version='HTTP/1.0', host=None))
    eq(r.body, b'default\n', 'body')


@test('each site serves its own root and nothing of another')
def own_root():
    eq(body_for('example.com', '/only-example.txt'), (200, b'example'), 'own file')
    eq(body_for('example.com', '/only-default.txt')[0], 404, "the default site's file")
    eq(body_for('a.example.org', '/only-example.txt')[0], 404, "another site's file")
    eq(body_for('other.test', '/only-default.txt'), (200, b'default'), 'default site')


@test('a site inherits the global settings it does not set, and overrides the others')
def inheritance():
    expect(get(PORT, '/only-example.txt', host='example.com'), 200, cache_control='max-age=60')
    expect(get(PORT, '/only-org.txt', host='a.example.org'), 200, cache_control='no-store')
    expect(get(PORT, '/only-default.txt', host='x'), 200, cache_control='max-age=60')
    # listing: on for example.com and shared.test (the default root), off elsewhere
    eq(get(PORT, '/dir/', host='example.com').status, 200, 'listing on')
    eq(get(PORT, '/dir/', host='shared.test').status, 200, 'listing on, same root')
    eq(get(PORT, '/dir/', host='other.test').status, 403, 'listing off, same root')
    eq(get(PORT, '/dir/', host='a.example.org').status, 403, 'listing off')


@test("an error page comes from the site's own root")
def error_page():
    r = get(PORT, '/missing', host='example.com')
    eq(r.status, 404, 'status')
    eq(r.body, b'<h1>example has no such page</h1>\n', 'body')
    r = get(PORT, '/missing', host='a.example.org')
    eq(r.status, 404, 'status')
    check(b'example has no such page' not in r.body, 'another site\'s 404 page')


@test("a changed file in a site's root is served changed at once")
def fresh():
    path = os.path.join(ROOTS['deep'], 'only-deep.txt')
    eq(body_for('a.deep.example.org', '/only-deep.txt'), (200, b'deep'), 'before')
    for i in range(3):
        with open(path + '.tmp', 'wb') as f:
            f.write(b'deep, version %d' % i)
        os.rename(path + '.tmp', path)
        eq(body_for('a.deep.example.org', '/only-deep.txt'), (200, b'deep, version %d' % i),
           'after change %d' % i)


@test('-t reports the sites it read')
def check_reports():
    code, out, err = run_portico(['-c', CONF, '-t'])
    eq(code, 0, 'exit code (stderr %r)' % err)
    text = out.decode()
    for name in ('example.com www.example.com', '*.example.org', '*.deep.example.org',
                 'shared.test', ROOTS['example'], ROOTS['org']):
        check(name in text, '%r not in %r' % (name, text))
    check(text.rstrip().endswith('portico: configuration OK'), 'last line: %r' % text)


ERRORS = [
    (['root /tmp', '[site a.test]', 'port 80'], 3, "'port' is a global setting"),
    (['root /tmp', '[site a.test b.test]', '[site x.test B.test]'], 3,
     "'b.test' is already a name of the site on line 2"),
    (['root /tmp', '[site a.test]', 'root %s/nonexistent' % BASE], 2, 'nonexistent'),
    (['root /tmp', '[site]'], 2, '[site] with no host name'),
    (['root /tmp', '[site a.test:8080]'], 2, 'no host name'),
    (['root /tmp', '[site a.test]', 'bogus on'], 3, "unknown key 'bogus'"),
]


def start_error(lines, lineno, needle):
    path = os.path.join(BASE, 'bad-%d.conf' % lineno)
    write_config(path, lines)
    for args in (['-c', path, '-t'], ['-c', path, '-p', '0', '-b', HOST, '-q', '-w', '1']):
        code, out, err = run_portico(args)
        line = stderr_one_line(err, code, 1)
        prefix = 'portico: %s:%d: ' % (path, lineno)
        check(line.startswith(prefix), 'want %r..., got %r' % (prefix, line))
        check(needle in line, '%r not in %r' % (needle, line))
        check(b'serving' not in out, 'a server started: %r' % out)


for _l, _n, _m in ERRORS:
    add_case('a mistake in a site is one line FILE:LINE: %s' % _m, start_error, _l, _n, _m)


@test('SIGHUP applies changed sites; a broken file keeps the running ones')
def reload_sites():
    conf = os.path.join(BASE, 'reload.conf')
    write_config(conf, ['root %s' % ROOTS['default'], '[site a.test]',
                        'root %s' % ROOTS['example']])
    s = Server(None, '-c', conf).start()
    try:
        eq(get(s.port, '/', host='a.test').body, b'example\n', 'before')
        write_config(conf, ['root %s' % ROOTS['default'], '[site a.test]',
                            'root %s' % ROOTS['org'], '[site b.test]',
                            'root %s' % ROOTS['deep']])
        s.reload()   # until the old workers stop accepting, one may answer as before
        body = get(s.port, '/', host='a.test').body
        eq(body, b'org\n', 'a.test after reload' if body == b'org\n' else
           'a.test after reload (stderr %r; %s)' % (s.stderr()[-400:], s.describe()))
        eq(get(s.port, '/', host='b.test').body, b'deep\n', 'b.test after reload')
        write_config(conf, ['root %s' % ROOTS['default'], '[site a.test]', 'port 1'])
        s.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while b'reload failed' not in s.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        check(b"'port' is a global setting" in s.stderr(), 'stderr: %r' % s.stderr())
        eq(get(s.port, '/', host='b.test').body, b'deep\n', 'still served after a bad reload')
    finally:
        s.stop()


run()
