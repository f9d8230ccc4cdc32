#!/usr/bin/env python3
"""Pre-compressed siblings (FILE.gz, FILE.br): Accept-Encoding negotiation with
q-values, Content-Encoding, Vary, their own ETag, ranges and conditionals on
the representation sent, --no-precompressed, curl --compressed; all with
--compress off, which leaves the siblings on (37-compress has the cache)."""

import gzip
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, add_case, check, check_validators, curl, eq,  # noqa: E402
                          exchange, expect, expect_304, head_equal, make_tree, new_root,
                          parse_byteranges, req, run, set_mtime, start_server, test)

T0 = 1615107903
JS = b''.join(b'console.log("line %d of app.js");\n' % i for i in range(300))
LIB = b''.join(b'export function f%d() { return %d; }\n' % (i, i) for i in range(200))
CSS = b'body { color: #333; }\n' * 50
SECRET = b'SECRET-' + os.urandom(8).hex().encode() + b'-DO-NOT-SERVE'
# Brotli is not in Python's standard library and the server never decodes
# what it serves, so the .br siblings are marked stand-ins (curl is only
# pointed at gzip-only files).
FILES = {
    'app.js': JS,
    'app.js.gz': gzip.compress(JS, mtime=0),
    'app.js.br': b'\xce\xb2\x01BR-STANDIN-app.js' + os.urandom(64),
    'lib.js': LIB,
    'lib.js.gz': gzip.compress(LIB, mtime=0),
    'style.css': CSS,
    'style.css.br': b'\xce\xb2\x01BR-STANDIN-style.css' + os.urandom(32),
    'old.css': CSS + b'/* old */\n',
    'old.css.gz': gzip.compress(b'stale compressed copy', mtime=0),
    'old.css.br': b'stale br copy',
    'plain.txt': b'no compressed sibling here\n',
    'dirsib.js': b'the .gz beside me is a directory\n',
    'dirsib.js.gz/x': b'x',
    'leak.js': b'the .gz beside me is a symlink out of the root\n',
    'only.js.gz': gzip.compress(b'there is no only.js', mtime=0),
}
PARENT, ROOT = new_root(FILES)
make_tree(PARENT, {'secret.gz': SECRET})
os.symlink(os.path.join(PARENT, 'secret.gz'), os.path.join(ROOT, 'leak.js.gz'))
for name in FILES:
    set_mtime(os.path.join(ROOT, name.split('/')[0]), T0)
for name in ('app.js.gz', 'app.js.br', 'style.css.br'):
    set_mtime(os.path.join(ROOT, name), T0 + 10)          # newer: used
set_mtime(os.path.join(ROOT, 'lib.js.gz'), T0)              # same mtime: used
for name in ('old.css.gz', 'old.css.br'):
    set_mtime(os.path.join(ROOT, name), T0 - 10)          # older: never used
set_mtime(os.path.join(PARENT, 'secret.gz'), T0 + 10)

# compression off: the siblings alone (--compress off still serves them; files
# without one go as they are, which the cases below rely on)
srv = start_server(ROOT, '--compress', 'off')
P = srv.port
srv_off = start_server(ROOT, '--no-precompressed', '--compress', 'off')
JS_TYPE = 'text/javascript; charset=utf-8'
CSS_TYPE = 'text/css; charset=utf-8'
TXT = 'text/plain; charset=utf-8'


def ae(target, value, method='GET', port=P, extra=()):
    hs = list(extra)
    if value is not None:
        hs.append(('Accept-Encoding', value))
    return exchange(port, req(method, target, headers=hs), method)


def varies(r):
    return 'accept-encoding' in r.tokens('vary')


def expect_coding(r, coding, body, ctype, vary=True):
    """200 with BODY, Content-Encoding CODING (None = absent), Content-Type
    CTYPE, Vary: Accept-Encoding iff VARY (None = not checked)."""
    expect(r, 200, ctype=ctype, content_encoding=coding)
    check(r.body == body, 'body is not the %s representation (%d bytes, starts %r)'
          % (coding or 'identity', len(r.body), r.body[:20]))
    eq(r.get('content-length'), str(len(body)), 'Content-Length')
    if vary is not None:
        eq(varies(r), vary, 'Vary: Accept-Encoding present (Vary: %r)' % r.get_all('vary'))
    check_validators(r)
    return r


REP = {
    # target -> {coding: body}, Content-Type
    '/app.js': ({None: JS, 'gzip': FILES['app.js.gz'], 'br': FILES['app.js.br']}, JS_TYPE),
    '/lib.js': ({None: LIB, 'gzip': FILES['lib.js.gz']}, JS_TYPE),
    '/style.css': ({None: CSS, 'br': FILES['style.css.br']}, CSS_TYPE),
}

NEGOTIATION = [
    # target, Accept-Encoding (None: no header), coding chosen
    ('/app.js', None, None),
    ('/app.js', 'gzip', 'gzip'),
    ('/app.js', 'br', 'br'),
    ('/app.js', 'gzip, br', 'br'),
    ('/app.js', 'br, gzip', 'br'),
    ('/app.js', 'gzip, deflate, br, zstd', 'br'),
    ('/app.js', 'gzip;q=1.0, br;q=1.0', 'br'),
    ('/app.js', 'gzip;q=1, br;q=0.5', 'gzip'),
    ('/app.js', 'gzip;q=0.5, br;q=1', 'br'),
    ('/app.js', 'br;q=0.9, gzip', 'gzip'),
    ('/app.js', 'br;q=0, gzip', 'gzip'),
    ('/app.js', 'gzip;q=0', None),
    ('/app.js', 'gzip;q=0, br;q=0', None),
    ('/app.js', 'gzip;q=0.000', None),
    ('/app.js', 'gzip;q=0.001', 'gzip'),
    ('/app.js', '*;q=0.5', 'br'),
    ('/app.js', '*', 'br'),
    ('/app.js', 'gzip;q=0, *;q=0.5', 'br'),
    ('/app.js', 'br;q=0, *', 'gzip'),
    ('/app.js', '*;q=0', None),
    ('/app.js', 'identity', None),
    ('/app.js', 'deflate', None),
    ('/app.js', '', None),
    ('/app.js', 'GZIP', 'gzip'),
    ('/app.js', 'gzip ; q=0.8 , br ; q=0.9', 'br'),
    ('/app.js', 'identity;q=0, gzip', 'gzip'),
    ('/lib.js', 'gzip', 'gzip'),
    ('/lib.js', 'br', None),
    ('/lib.js', 'br, gzip;q=0.1', 'gzip'),
    ('/lib.js', '*', 'gzip'),
    ('/lib.js', None, None),
    ('/style.css', 'gzip', None),
    ('/style.css', 'gzip, br', 'br'),
    ('/style.css', 'br;q=0.1', 'br'),
]


def negotiate_case(target, value, coding):
    bodies, ctype = REP[target]
    expect_coding(ae(target, value), coding, bodies[coding], ctype, vary=True)


for t, v, c in NEGOTIATION:
    add_case('GET %s, Accept-Encoding: %s -> %s' % (t, 'absent' if v is None else repr(v),
                                                     c or 'identity'),
             negotiate_case, t, v, c)


@test('file without a sibling: identity, no Vary, no Content-Encoding')
def no_sibling():
    expect_coding(ae('/plain.txt', 'gzip, br'), None, FILES['plain.txt'], TXT, vary=False)
    expect_coding(ae('/plain.txt', None), None, FILES['plain.txt'], TXT, vary=False)


@test('siblings older than the original are not used')
def older_sibling():
    for v in ('gzip', 'br', 'gzip, br'):
        expect_coding(ae('/old.css', v), None, FILES['old.css'], CSS_TYPE, vary=None)


@test('a sibling that is a directory is not used')
def dir_sibling():
    expect_coding(ae('/dirsib.js', 'gzip'), None, FILES['dirsib.js'], JS_TYPE, vary=None)


@test('a sibling that is a symlink out of the root is never served')
def symlink_sibling():
    r = ae('/leak.js', 'gzip')
    check(SECRET not in r.body, 'served the target of a symlink outside the root')
    expect_coding(r, None, FILES['leak.js'], JS_TYPE, vary=None)


@test('a .gz without the original beside it: the original is 404')
def gz_without_original():
    expect(ae('/only.js', 'gzip'), 404)
    expect(ae('/only.js', None), 404)


@test('If-None-Match with the identity ETag, no Accept-Encoding -> 304 with Vary')
def inm_identity_vary():
    tag = check_validators(ae('/app.js', None))
    r = ae('/app.js', None, extra=[('If-None-Match', tag)])
    expect_304(r, etag=tag)
    check(varies(r), 'a 304 must carry the Vary its 200 would have: %r' % r.head)


@test('the .gz file requested by its own name: served as itself, no Content-Encoding')
def gz_direct():
    for v in (None, 'gzip'):
        r = expect(ae('/app.js.gz', v), 200, body=FILES['app.js.gz'], content_encoding=None)
        check(not (r.get('content-type') or '').startswith('text/javascript'),
              '.gz served as JavaScript: %r' % r.get('content-type'))


@test('each representation has its own strong ETag, stable across requests')
def etags():
    tags = {}
    for coding in (None, 'gzip', 'br'):
        t1 = check_validators(ae('/app.js', coding or 'identity'))
        t2 = check_validators(ae('/app.js', coding or 'identity'))
        eq(t1, t2, 'ETag of the %s representation on two requests' % (coding or 'identity'))
        tags[coding] = t1
    eq(len(set(tags.values())), 3, 'distinct ETags %r' % tags)


@test('HEAD with Accept-Encoding: gzip has the GET headers, no body')
def head_gzip():
    g = ae('/app.js', 'gzip')
    with Client(P) as c:
        c.send(req('HEAD', '/app.js', headers=[('Accept-Encoding', 'gzip')]) +
               req('GET', '/plain.txt'))
        h = c.read_response('HEAD')
        expect(h, 200, method='HEAD', content_encoding='gzip')
        head_equal(h, g)
        expect(c.read_response(), 200, body=FILES['plain.txt'])


@test('Range with Accept-Encoding: gzip -> 206 bytes of the .gz file')
def range_gzip():
    gz = FILES['app.js.gz']
    r = ae('/app.js', 'gzip', extra=[('Range', 'bytes=0-9')])
    expect(r, 206, body=gz[:10], content_encoding='gzip', ctype=JS_TYPE,
           content_range='bytes 0-9/%d' % len(gz))
    check(varies(r), 'no Vary on a 206 of the gzip representation')
    r = ae('/app.js', 'br', extra=[('Range', 'bytes=-5')])
    br = FILES['app.js.br']
    expect(r, 206, body=br[-5:], content_encoding='br',
           content_range='bytes %d-%d/%d' % (len(br) - 5, len(br) - 1, len(br)))


@test('Range without Accept-Encoding -> bytes of the original, with Vary')
def range_identity():
    r = ae('/app.js', None, extra=[('Range', 'bytes=10-19')])
    expect(r, 206, body=JS[10:20], content_encoding=None,
           content_range='bytes 10-19/%d' % len(JS))
    check(varies(r), 'no Vary on a 206 of the identity representation')


@test('Range past the end of the .gz (but inside the original) -> 416 */gz length')
def range_gzip_416():
    gz = FILES['app.js.gz']
    r = ae('/app.js', 'gzip', extra=[('Range', 'bytes=%d-' % len(gz))])
    expect(r, 416, content_range='bytes */%d' % len(gz))


@test('multipart ranges of the gzip representation')
def multi_gzip():
    gz = FILES['app.js.gz']
    r = ae('/app.js', 'gzip', extra=[('Range', 'bytes=0-3,10-13')])
    expect(r, 206, content_encoding='gzip')
    parts = parse_byteranges(r)
    eq([p[2] for p in parts], [gz[0:4], gz[10:14]], 'parts')
    eq([p[1][2] for p in parts], [len(gz)] * 2, 'complete lengths')


@test('If-None-Match with the gzip ETag + Accept-Encoding: gzip -> 304 (with Vary)')
def inm_gzip():
    tag = check_validators(ae('/app.js', 'gzip'))
    r = ae('/app.js', 'gzip', extra=[('If-None-Match', tag)])
    expect_304(r, etag=tag)
    check(varies(r), 'a 304 must carry the Vary its 200 would have (RFC 9110 15.4.5): %r'
          % r.head)


@test('If-None-Match with the gzip ETag, no Accept-Encoding -> 200 identity')
def inm_gzip_identity():
    tag = check_validators(ae('/app.js', 'gzip'))
    expect_coding(ae('/app.js', None, extra=[('If-None-Match', tag)]), None, JS, JS_TYPE)


@test('If-None-Match with the identity ETag + Accept-Encoding: gzip -> 200 gzip')
def inm_identity_gzip():
    tag = check_validators(ae('/app.js', None))
    expect_coding(ae('/app.js', 'gzip', extra=[('If-None-Match', tag)]), 'gzip',
                  FILES['app.js.gz'], JS_TYPE)


@test('If-Match with the identity ETag + Accept-Encoding: gzip -> 412')
def im_identity_gzip():
    tag = check_validators(ae('/app.js', None))
    expect(ae('/app.js', 'gzip', extra=[('If-Match', tag)]), 412)


@test('If-Range with the gzip ETag + Accept-Encoding: gzip -> 206; identity ETag -> 200 gzip')
def if_range_gzip():
    gz = FILES['app.js.gz']
    tag = check_validators(ae('/app.js', 'gzip'))
    r = ae('/app.js', 'gzip', extra=[('Range', 'bytes=0-1'), ('If-Range', tag)])
    expect(r, 206, body=gz[:2], content_encoding='gzip')
    itag = check_validators(ae('/app.js', None))
    r = ae('/app.js', 'gzip', extra=[('Range', 'bytes=0-1'), ('If-Range', itag)])
    expect_coding(r, 'gzip', gz, JS_TYPE)


@test('keep-alive: identity, gzip, br, 304 pipelined on one connection')
def pipeline():
    tag = check_validators(ae('/app.js', 'gzip'))
    with Client(P) as c:
        c.send(req('GET', '/app.js') +
               req('GET', '/app.js', headers=[('Accept-Encoding', 'gzip')]) +
               req('GET', '/app.js', headers=[('Accept-Encoding', 'br')]) +
               req('GET', '/app.js', headers=[('Accept-Encoding', 'gzip'),
                                              ('If-None-Match', tag)]) +
               req('GET', '/plain.txt'))
        expect_coding(c.read_response(), None, JS, JS_TYPE)
        expect_coding(c.read_response(), 'gzip', FILES['app.js.gz'], JS_TYPE)
        expect_coding(c.read_response(), 'br', FILES['app.js.br'], JS_TYPE)
        expect_304(c.read_response(), etag=tag)
        expect(c.read_response(), 200, body=FILES['plain.txt'])


# ---- --no-precompressed

def off_case(target, value):
    bodies, ctype = REP[target]
    expect_coding(ae(target, value, port=srv_off.port), None, bodies[None], ctype, vary=False)


for t, v in [('/app.js', 'gzip'), ('/app.js', 'br'), ('/app.js', 'gzip, br'),
             ('/lib.js', 'gzip'), ('/app.js', None)]:
    add_case('--no-precompressed: %s, Accept-Encoding: %s -> identity, no Vary' % (t, v),
             off_case, t, v)


@test('--no-precompressed: ETag is the identity ETag')
def off_etag():
    eq(check_validators(ae('/app.js', 'gzip', port=srv_off.port)),
       check_validators(ae('/app.js', None)), 'ETag')


# ---- curl

@test('curl --compressed on a .gz-backed file prints the original')
def curl_compressed():
    rc, out, err = curl('-sf', '--compressed', srv.url('/lib.js'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    check(out == LIB, 'curl --compressed output differs (%d bytes)' % len(out))
    rc, out, err = curl('-sf', '--compressed', '-D', '-', '-o', '/dev/null', srv.url('/lib.js'))
    check(b'content-encoding: gzip' in out.lower(), 'no gzip in %r' % out)


@test('curl without --compressed gets the original, no Content-Encoding')
def curl_plain():
    rc, out, err = curl('-sf', '-D', '-', srv.url('/lib.js'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    check(out.endswith(LIB), 'curl output is not the original')
    check(b'content-encoding' not in out.lower(), 'Content-Encoding without asking: %r'
          % out[:400])


run()
