#!/usr/bin/env python3
"""CORS: Access-Control-Allow-Origin for allowed origins (echoed from a list, or
*), Vary: Origin on every response of a site with a list, the headers a range
fetch needs exposed, and preflights answered with 204 and only safe headers."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, Server, add_case, check, eq, exchange, mkdtemp,  # noqa: E402
                          make_tree, req, require_binary, run, set_script_timeout, test,
                          write_config)

require_binary()
set_script_timeout(60)

BASE = mkdtemp()
ROOT = make_tree(os.path.join(BASE, 'root'), {
    'data.json': b'{"a": 1}\n',
    'video.bin': bytes(range(256)) * 64,
})
CONF = os.path.join(BASE, 'portico.conf')
write_config(CONF, [
    'root %s' % ROOT,
    '[site api.test]',
    'cors https://app.example https://admin.example',
    'cors https://third.example',
    '[site open.test]',
    'cors *',
    '[site plain.test]',
])
SERVER = Server(None, '-c', CONF).start()
PORT = SERVER.port
EXPOSED = 'Content-Range, Content-Length, ETag, Accept-Ranges'


def fetch(host, target='/data.json', method='GET', headers=()):
    return exchange(PORT, req(method, target, host=host, headers=list(headers)), method)


ORIGINS = [
    # host, Origin, Access-Control-Allow-Origin, Vary has Origin
    ('api.test', 'https://app.example', 'https://app.example', True),
    ('api.test', 'https://third.example', 'https://third.example', True),
    ('api.test', 'https://evil.example', None, True),
    ('api.test', 'https://app.example.evil', None, True),
    ('api.test', None, None, True),
    ('open.test', 'https://anyone.example', '*', False),
    ('open.test', None, '*', False),      # the same answer for all: a cache may keep it
    ('plain.test', 'https://app.example', None, False),
]


def origin_case(host, origin, allow, vary):
    r = fetch(host, headers=[('Origin', origin)] if origin else [])
    eq(r.status, 200, 'status')
    eq(r.get_all('access-control-allow-origin'), [allow] if allow else [], 'Allow-Origin')
    eq(r.get('access-control-expose-headers'), EXPOSED if allow else None, 'Expose-Headers')
    eq('origin' in r.tokens('vary'), vary, 'Vary: Origin (Vary %r)' % r.get_all('vary'))


for _c in ORIGINS:
    add_case('%s with Origin %s' % (_c[0], _c[1]), origin_case, *_c)


@test('a malformed head with an Origin gets 400 with Vary: Origin, and the worker serves on')
def malformed_with_origin():
    s = Server(ROOT, '--cors=https://app.example', workers=1).start()
    try:
        before = sorted(s.wait_workers(1))
        for first in (True, False):   # a connection's first request, then a later one
            raw = (b'GET /data.json HTTP/1.1\r\nHost: x\r\n\r\n' if not first else b'') + \
                (b'GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://zzz.example\r\n'
                 b'Bad header\r\n\r\n')
            c = Client(s.port)
            c.send(raw)
            r = c.read_response() if first else (c.read_response(), c.read_response())[1]
            c.close()
            eq(r.status, 400, 'status')
            eq(r.get('vary'), 'Origin', 'Vary: Origin on the 400 of a site with a list')
            eq(r.get('access-control-allow-origin'), None, 'Allow-Origin for another origin')
        r = exchange(s.port, req('GET', '/data.json', headers=[('Origin', 'https://app.example')]))
        eq(r.get('access-control-allow-origin'), 'https://app.example', 'served after')
        eq(sorted(s.workers()), before, 'the workers (none died)')
    finally:
        s.stop()


@test('a range fetch from an allowed origin: 206 with Content-Range exposed')
def range_fetch():
    r = fetch('api.test', '/video.bin', headers=[('Origin', 'https://app.example'),
                                                 ('Range', 'bytes=0-9')])
    eq(r.status, 206, 'status')
    eq(r.body, bytes(range(10)), 'body')
    check('Content-Range' in r.get('access-control-expose-headers'), 'exposed')


@test('errors carry the CORS headers too, so a script can read the status')
def errors():
    r = fetch('api.test', '/missing', headers=[('Origin', 'https://app.example')])
    eq(r.status, 404, 'status')
    eq(r.get('access-control-allow-origin'), 'https://app.example', 'Allow-Origin')


PREFLIGHT = [('Origin', 'https://app.example'), ('Access-Control-Request-Method', 'GET'),
             ('Access-Control-Request-Headers', 'range, x-custom, If-None-Match, cookie')]


@test('a preflight from an allowed origin: 204, the methods, safe headers, a max-age')
def preflight():
    r = fetch('api.test', '/video.bin', 'OPTIONS', PREFLIGHT)
    eq(r.status, 204, 'status')
    eq(r.get('access-control-allow-origin'), 'https://app.example', 'Allow-Origin')
    eq(r.get('access-control-allow-methods'), 'GET, HEAD, OPTIONS', 'Allow-Methods')
    eq(r.get('access-control-allow-headers'), 'range, If-None-Match', 'Allow-Headers')
    eq(r.get('access-control-max-age'), '7200', 'Max-Age')
    eq(r.get('content-length'), None, 'no Content-Length on 204')


@test('a preflight from another origin is plain OPTIONS, without CORS headers')
def preflight_refused():
    headers = [('Origin', 'https://evil.example')] + PREFLIGHT[1:]
    r = fetch('api.test', '/video.bin', 'OPTIONS', headers)
    eq(r.status, 204, 'status')
    eq(r.get('access-control-allow-origin'), None, 'Allow-Origin')
    eq(r.get('access-control-allow-methods'), None, 'Allow-Methods')
    eq(r.get('allow'), 'GET, HEAD, OPTIONS', 'Allow')


@test('with cors *, any origin may preflight; a site without cors answers none')
def preflight_any():
    r = fetch('open.test', '/data.json', 'OPTIONS', PREFLIGHT)
    eq(r.get('access-control-allow-origin'), '*', 'Allow-Origin')
    eq(r.get('access-control-allow-headers'), 'range, If-None-Match', 'Allow-Headers')
    r = fetch('plain.test', '/data.json', 'OPTIONS', PREFLIGHT)
    eq(r.get('access-control-allow-origin'), None, 'plain.test')
    eq(r.get('access-control-allow-methods'), None, 'plain.test')


@test('--cors alone allows any origin; --cors=ORIGIN one')
def flags():
    for args, origin, want in ((['--cors'], 'https://x.example', '*'),
                               (['--cors=https://a.example'], 'https://a.example',
                                'https://a.example'),
                               (['--cors=https://a.example'], 'https://b.example', None)):
        s = Server(ROOT, *args).start()
        try:
            r = exchange(s.port, req('GET', '/data.json', headers=[('Origin', origin)]))
            eq(r.get('access-control-allow-origin'), want, ' '.join(args) + ' ' + origin)
        finally:
            s.stop()


run()
