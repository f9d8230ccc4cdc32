#!/usr/bin/env python3
"""Files, media types, HEAD, directories (301/403/index), 404, big files, curl."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HTML_TYPE, Client, add_case, check, curl, eq, exchange,  # noqa: E402
                          expect, get, head_equal, new_root, req, run, start_server, test)

BIG = os.urandom(1 << 20)
FILES = {
    'index.html': b'<!doctype html><title>home</title><h1>home</h1>\n',
    'style.css': b'body { color: red }\n',
    'app.js': b'console.log("app");\n',
    'mod.mjs': b'export const x = 1;\n',
    'data.json': b'{"a": 1}\n',
    'pic.svg': b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    'img.png': b'\x89PNG\r\n\x1a\n' + os.urandom(100),
    'mod.wasm': b'\x00asm\x01\x00\x00\x00',
    'font.woff2': b'wOF2' + os.urandom(60),
    'readme.txt': b'plain text\n',
    'IMAGE.PNG': b'\x89PNG upper',
    'Page.HTML': b'<p>upper html</p>',
    'noext': b'no extension',
    'blob.xyz': b'unknown extension',
    'with space.txt': b'a file with a space\n',
    'empty.txt': b'',
    'big.bin': BIG,
    'sub/index.html': b'<p>sub index</p>\n',
    'sub/inner.txt': b'inner\n',
    'noindex/file.txt': b'listing must be off\n',
}
_, ROOT = new_root(FILES)
srv = start_server(ROOT)
P = srv.port

TXT = 'text/plain; charset=utf-8'
MIME = [
    ('/index.html', 'index.html', HTML_TYPE),
    ('/style.css', 'style.css', 'text/css; charset=utf-8'),
    ('/app.js', 'app.js', 'text/javascript; charset=utf-8'),
    ('/mod.mjs', 'mod.mjs', 'text/javascript; charset=utf-8'),
    ('/data.json', 'data.json', 'application/json'),
    ('/pic.svg', 'pic.svg', 'image/svg+xml'),
    ('/img.png', 'img.png', 'image/png'),
    ('/mod.wasm', 'mod.wasm', 'application/wasm'),
    ('/font.woff2', 'font.woff2', 'font/woff2'),
    ('/readme.txt', 'readme.txt', TXT),
    ('/IMAGE.PNG', 'IMAGE.PNG', 'image/png'),
    ('/Page.HTML', 'Page.HTML', HTML_TYPE),
    ('/noext', 'noext', 'application/octet-stream'),
    ('/blob.xyz', 'blob.xyz', 'application/octet-stream'),
    ('/with%20space.txt', 'with space.txt', TXT),
    ('/empty.txt', 'empty.txt', TXT),
    ('/big.bin', 'big.bin', 'application/octet-stream'),
    ('/sub/inner.txt', 'sub/inner.txt', TXT),
    ('/readme.txt?v=1', 'readme.txt', TXT),
]


def file_case(target, name, ctype):
    expect(get(P, target), 200, body=FILES[name], ctype=ctype)


for t, n, ct in MIME:
    add_case('GET %s -> 200 %s' % (t, ct), file_case, t, n, ct)


def head_case(target):
    """HEAD has GET's headers (except Date) and no body: a pipelined GET for
    /readme.txt right after it must parse."""
    g = get(P, target)
    with Client(P) as c:
        c.send(req('HEAD', target) + req('GET', '/readme.txt'))
        h = c.read_response('HEAD')
        nxt = c.read_response()
    eq(h.status, g.status, 'HEAD status')
    expect(h, g.status, method='HEAD')
    head_equal(h, g)
    expect(nxt, 200, body=FILES['readme.txt'])


for t in ['/index.html', '/big.bin', '/empty.txt', '/sub', '/noindex/', '/missing.txt']:
    add_case('HEAD %s has GET headers, no body' % t, head_case, t)

DIRS = [
    # target, status, body, Location
    ('/', 200, FILES['index.html'], None),
    ('/sub/', 200, FILES['sub/index.html'], None),
    ('/sub/?q=1', 200, FILES['sub/index.html'], None),
    ('/sub', 301, None, '/sub/'),
    ('/sub?x=1', 301, None, '/sub/?x=1'),
    ('/noindex', 301, None, '/noindex/'),
    ('/noindex/', 403, None, None),
    ('/missing.txt', 404, None, None),
    ('/sub/missing/', 404, None, None),
    ('/readme.txt/', 404, None, None),
]


def dir_case(target, status, body, location):
    r = get(P, target)
    expect(r, status, body=body, location=location)
    if body is not None:
        eq(r.get('content-type'), HTML_TYPE, 'Content-Type')
    if status == 403:
        check(b'listing must be off' not in r.body and b'file.txt' not in r.body,
              '403 body reveals the directory contents')


for t, s, b, loc in DIRS:
    add_case('GET %s -> %d%s' % (t, s, ' ' + loc if loc else ''), dir_case, t, s, b, loc)


@test('1 MiB random file byte-exact over a kept-alive connection, twice')
def big_twice():
    with Client(P) as c:
        for _ in range(2):
            c.send(req('GET', '/big.bin'))
            r = c.read_response()
            expect(r, 200)
            check(r.body == BIG, 'big.bin body differs (%d bytes)' % len(r.body))


@test('GET with HTTP/1.1 and Host header names an unknown host: still served')
def any_host():
    expect(exchange(P, req('GET', '/readme.txt', host='example.org')), 200,
           body=FILES['readme.txt'])


@test('curl -sf URL gets a page byte-exact')
def curl_get():
    rc, out, err = curl('-sf', srv.url('/big.bin'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    check(out == BIG, 'curl body differs (%d bytes)' % len(out))
    rc, out, err = curl('-sf', srv.url('/with%20space.txt'))
    eq((rc, out), (0, FILES['with space.txt']), 'curl exit code and body')


@test('curl -sI URL shows 200 and Content-Length')
def curl_head():
    rc, out, err = curl('-sI', srv.url('/index.html'))
    eq(rc, 0, 'curl exit code')
    lines = out.decode('latin-1').split('\r\n')
    check(lines[0].startswith('HTTP/1.1 200'), 'status line %r' % lines[0])
    check('content-length: %d' % len(FILES['index.html']) in [x.lower() for x in lines],
          'no matching Content-Length in %r' % out)


@test('curl -s --http1.0 URL works')
def curl_10():
    rc, out, err = curl('-s', '--http1.0', srv.url('/readme.txt'))
    eq((rc, out), (0, FILES['readme.txt']), 'curl exit code and body')


@test('curl -sf on a missing page exits 22')
def curl_404():
    rc, out, err = curl('-sf', srv.url('/nope.html'))
    eq(rc, 22, 'curl exit code')


run()
