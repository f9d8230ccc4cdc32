#!/usr/bin/env python3
"""Byte ranges (RFC 9110 section 14): single, suffix, clipped, unsatisfiable,
invalid, multipart/byteranges, If-Range, HEAD, keep-alive, curl -r and -C -."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, add_case, check, check_validators, curl, eq,  # noqa: E402
                          exchange, expect, get, http_date, mkdtemp, new_root,
                          parse_byteranges, req, run, set_mtime, start_server, test)

DATA = os.urandom(1000)           # /data.bin, LEN 1000
N = len(DATA)
BIG = os.urandom(1 << 20)          # /big.bin, 1 MiB
TEXT = b''.join(b'line %04d of the text file\n' % i for i in range(200))
FILES = {
    'data.bin': DATA,
    'big.bin': BIG,
    'page.txt': TEXT,
    'index.html': b'<!doctype html><title>i</title><p>index</p>\n',
    'empty.bin': b'',
}
_, ROOT = new_root(FILES)
MTIME = 1615107903                 # Sun, 07 Mar 2021 09:05:03 GMT
for name in FILES:
    set_mtime(os.path.join(ROOT, name), MTIME)
srv = start_server(ROOT)
P = srv.port
TXT = 'text/plain; charset=utf-8'
BIN = 'application/octet-stream'


def rng(spec, target='/data.bin', method='GET', extra=()):
    return exchange(P, req(method, target, headers=[('Range', spec)] + list(extra)), method)


def expect_206(r, first, last, data=DATA, ctype=BIN, method='GET'):
    """206 with Content-Range first-last/len(data) and exactly those bytes."""
    part = data[first:last + 1]
    expect(r, 206, ctype=ctype, method=method)
    eq(r.get('content-range'), 'bytes %d-%d/%d' % (first, last, len(data)), 'Content-Range')
    eq(r.get('content-length'), str(len(part)), 'Content-Length')
    if method != 'HEAD':
        check(r.body == part, 'body is not bytes %d-%d (%d bytes, starts %r)'
              % (first, last, len(r.body), r.body[:16]))
    eq(r.get('accept-ranges'), 'bytes', 'Accept-Ranges')
    check_validators(r, MTIME)
    return r


def expect_full(r, data=DATA, ctype=BIN):
    """The Range was ignored: 200 with the whole file and no Content-Range."""
    expect(r, 200, body=data, ctype=ctype, content_range=None)
    eq(r.get('accept-ranges'), 'bytes', 'Accept-Ranges')
    return r


def expect_416(r, length=N, method='GET'):
    expect(r, 416, method=method)
    eq(r.get('content-range'), 'bytes */%d' % length, 'Content-Range')
    return r


@test('200 file response carries Accept-Ranges: bytes and validators')
def accept_ranges():
    r = expect(get(P, '/data.bin'), 200, body=DATA, ctype=BIN)
    eq(r.get('accept-ranges'), 'bytes', 'Accept-Ranges')
    check_validators(r, MTIME)
    r = expect(get(P, '/page.txt', method='HEAD'), 200, method='HEAD')
    eq(r.get('accept-ranges'), 'bytes', 'Accept-Ranges on HEAD')


SINGLE = [
    # Range value, first, last (expected after clipping)
    ('bytes=0-99', 0, 99),
    ('bytes=100-199', 100, 199),
    ('bytes=0-0', 0, 0),
    ('bytes=999-999', 999, 999),
    ('bytes=990-', 990, 999),
    ('bytes=0-', 0, 999),
    ('bytes=-10', 990, 999),
    ('bytes=-1', 999, 999),
    ('bytes=-1000', 0, 999),
    ('bytes=-5000', 0, 999),
    ('bytes=500-5000', 500, 999),
    ('bytes=0-999', 0, 999),
    ('bytes=998-1000', 998, 999),
    ('bytes=0-18446744073709551615', 0, 999),
]


def single_case(spec, first, last):
    expect_206(rng(spec), first, last)


for s, a, b in SINGLE:
    add_case('Range: %s -> 206 bytes %d-%d/%d' % (s, a, b, N), single_case, s, a, b)


@test('Range on a text file: 206 keeps the file\'s Content-Type')
def range_text():
    expect_206(rng('bytes=27-53', '/page.txt'), 27, 53, data=TEXT, ctype=TXT)


UNSAT = ['bytes=1000-', 'bytes=1000-1005', 'bytes=5000-6000', 'bytes=-0',
         'bytes=1000-999999999']


def unsat_case(spec):
    expect_416(rng(spec))


for s in UNSAT:
    add_case('Range: %s -> 416 Content-Range: bytes */%d' % (s, N), unsat_case, s)


@test('Range: bytes=0- on an empty file -> 416 Content-Range: bytes */0')
def unsat_empty():
    expect_416(rng('bytes=0-', '/empty.bin'), length=0)


@test('range unit compared case-insensitively: Range: Bytes=0-9 -> 206')
def unit_case():
    expect_206(rng('Bytes=0-9'), 0, 9)


@test('first-pos beyond 2^64 -> 416 or ignored (200), never a 206')
def overflow_first():
    r = rng('bytes=99999999999999999999999-')
    check(r.status in (200, 416), 'status %r' % r)
    if r.status == 416:
        expect_416(r)
    else:
        expect_full(r)


@test('last-pos beyond 2^64 -> clipped 206 or ignored (200)')
def overflow_last():
    r = rng('bytes=10-99999999999999999999999')
    check(r.status in (200, 206), 'status %r' % r)
    if r.status == 206:
        expect_206(r, 10, N - 1)
    else:
        expect_full(r)


@test('HEAD with an unsatisfiable Range -> 416 headers, no body')
def unsat_head():
    with Client(P) as c:
        c.send(req('HEAD', '/data.bin', headers=[('Range', 'bytes=2000-')]) +
               req('GET', '/page.txt'))
        expect_416(c.read_response('HEAD'), method='HEAD')
        expect(c.read_response(), 200, body=TEXT)


INVALID = ['bytes=a-b', 'bytes=5-2', 'items=0-1', 'bytes=', 'bytes=--1', 'bytes=1-2-3',
           'bytes=0x10-0x20', 'bytes', 'bytes=-', 'bytes=+1-2', 'bytes=1 -2', '=0-1',
           'bytes=,', 'bytes=-1-2']


def invalid_case(spec):
    expect_full(rng(spec))


for s in INVALID:
    add_case('syntactically invalid Range: %r -> ignored, 200 full body' % s, invalid_case, s)


MULTI = [
    # Range value, expected (first, last) parts
    ('bytes=0-9,20-29', [(0, 9), (20, 29)]),
    ('bytes=0-0,-1', [(0, 0), (999, 999)]),
    ('bytes=0-9, 500-509, 990-', [(0, 9), (500, 509), (990, 999)]),
    ('bytes=100-199,300-2000', [(100, 199), (300, 999)]),
    ('bytes=1-1,3-3,5-5', [(1, 1), (3, 3), (5, 5)]),
    ('bytes=0-9,\t100-109', [(0, 9), (100, 109)]),
    ('bytes=' + ','.join('%d-%d' % (i * 50, i * 50 + 9) for i in range(16)),
     [(i * 50, i * 50 + 9) for i in range(16)]),
]


def multi_case(spec, want, target='/data.bin', data=DATA, ctype=BIN):
    r = rng(spec, target)
    expect(r, 206)
    check(r.get('content-range') is None, 'a multipart 206 has a top-level Content-Range %r'
          % r.get('content-range'))
    check_validators(r, MTIME)
    parts = parse_byteranges(r)
    eq([p[1][:2] for p in parts], want, 'parts (first, last)')
    for hdrs, (a, b, n), chunk in parts:
        eq(n, len(data), 'complete length in a part\'s Content-Range')
        eq(hdrs.get('content-type'), ctype, 'part Content-Type')
        check(chunk == data[a:b + 1], 'part %d-%d bytes differ' % (a, b))


for s, w in MULTI:
    add_case('Range: %s -> 206 multipart/byteranges, %d parts byte-exact' % (s[:40], len(w)),
             multi_case, s, w)

add_case('multipart ranges of a text file: parts typed text/plain', multi_case,
         'bytes=0-26,27-53', [(0, 26), (27, 53)], '/page.txt', TEXT, TXT)
add_case('multipart ranges of the 1 MiB file', multi_case,
         'bytes=0-65535,500000-600000,-70000',
         [(0, 65535), (500000, 600000), ((1 << 20) - 70000, (1 << 20) - 1)],
         '/big.bin', BIG, BIN)


@test('two Range requests get different multipart boundaries or the same: both parse')
def boundary_twice():
    for _ in range(2):
        r = rng('bytes=0-1,3-4')
        eq([p[2] for p in parse_byteranges(r)], [DATA[0:2], DATA[3:5]], 'parts')


OVERLAP = ['bytes=0-50,40-60', 'bytes=0-,500-509', 'bytes=-100,950-960',
           'bytes=10-20,20-30', 'bytes=0-9,0-9',
           'bytes=' + ','.join('%d-%d' % (i * 50, i * 50 + 9) for i in range(17)),
           'bytes=' + ','.join('%d-%d' % (i, i) for i in range(0, 1000, 2))]


def overlap_case(spec):
    expect_full(rng(spec))


for s in OVERLAP:
    add_case('overlapping or more than 16 ranges (%s) -> 200 full body' % s[:30], overlap_case, s)


# ---- If-Range

def etag_of(target='/data.bin'):
    return check_validators(get(P, target), MTIME)


@test('If-Range: the current ETag -> 206')
def if_range_etag():
    e = etag_of()
    expect_206(rng('bytes=10-19', extra=[('If-Range', e)]), 10, 19)


@test('If-Range: another ETag -> 200 full body')
def if_range_other():
    expect_full(rng('bytes=10-19', extra=[('If-Range', '"not-the-etag"')]))


@test('If-Range: the weak form W/ of the current ETag -> 200 full body (strong match only)')
def if_range_weak():
    e = etag_of()
    expect_full(rng('bytes=10-19', extra=[('If-Range', 'W/' + e)]))


@test('If-Range: exactly the Last-Modified date -> 206')
def if_range_date():
    r = get(P, '/data.bin')
    expect_206(rng('bytes=10-19', extra=[('If-Range', r.get('last-modified'))]), 10, 19)


@test('If-Range: a later date than Last-Modified -> 200 full body (exact match only)')
def if_range_later():
    expect_full(rng('bytes=10-19', extra=[('If-Range', http_date(MTIME + 3600))]))


@test('If-Range: an earlier date than Last-Modified -> 200 full body')
def if_range_earlier():
    expect_full(rng('bytes=10-19', extra=[('If-Range', http_date(MTIME - 1))]))


@test('If-Range: the current ETag with multiple ranges -> 206 multipart')
def if_range_multi():
    e = etag_of()
    r = rng('bytes=0-1,5-6', extra=[('If-Range', e)])
    eq([p[2] for p in parse_byteranges(r)], [DATA[0:2], DATA[5:7]], 'parts')


@test('If-Range without Range -> plain 200')
def if_range_alone():
    e = etag_of()
    expect_full(exchange(P, req('GET', '/data.bin', headers=[('If-Range', e)])))


# ---- HEAD

@test('HEAD with Range -> 206 headers (Content-Range, range Content-Length), no body')
def head_range():
    with Client(P) as c:
        c.send(req('HEAD', '/data.bin', headers=[('Range', 'bytes=100-149')]) +
               req('GET', '/page.txt'))
        expect_206(c.read_response('HEAD'), 100, 149, method='HEAD')
        expect(c.read_response(), 200, body=TEXT)


@test('HEAD with multiple ranges -> 206 multipart headers, no body; framing intact')
def head_multi():
    g = rng('bytes=0-9,20-29')
    with Client(P) as c:
        c.send(req('HEAD', '/data.bin', headers=[('Range', 'bytes=0-9,20-29')]) +
               req('GET', '/page.txt'))
        h = c.read_response('HEAD')
        expect(h, 206, method='HEAD')
        check((h.get('content-type') or '').startswith('multipart/byteranges'),
              'HEAD Content-Type %r' % h.get('content-type'))
        # the boundary may differ from the GET's: correct for its length
        gb = g.get('content-type').split('boundary=', 1)[1].strip('"')
        hb = h.get('content-type').split('boundary=', 1)[1].strip('"')
        delims = len(parse_byteranges(g)) + 1
        want = int(g.get('content-length')) + delims * (len(hb) - len(gb))
        eq(h.get('content-length'), str(want), 'HEAD Content-Length (GET\'s, boundary-corrected)')
        expect(c.read_response(), 200, body=TEXT)


# ---- big file

BIG_RANGES = [(0, 0), (65535, 65536), (524288, 624287), (1, (1 << 20) - 2),
              ((1 << 20) - 1, (1 << 20) - 1), (4095, 4096 * 3), (999999, (1 << 20) - 1)]


def big_case(a, b):
    expect_206(rng('bytes=%d-%d' % (a, b), '/big.bin'), a, b, data=BIG)


for a, b in BIG_RANGES:
    add_case('1 MiB file: bytes=%d-%d byte-exact' % (a, b), big_case, a, b)


@test('1 MiB file: 20 suffix and open ranges on one connection, byte-exact')
def big_many():
    import random
    rnd = random.Random(7)
    with Client(P) as c:
        for i in range(20):
            a = rnd.randrange(len(BIG))
            if i % 2:
                c.send(req('GET', '/big.bin', headers=[('Range', 'bytes=%d-' % a)]))
                expect_206(c.read_response(), a, len(BIG) - 1, data=BIG)
            else:
                c.send(req('GET', '/big.bin', headers=[('Range', 'bytes=-%d' % (a + 1))]))
                expect_206(c.read_response(), len(BIG) - a - 1, len(BIG) - 1, data=BIG)


# ---- keep-alive

@test('keep-alive: pipelined 206, 416, 206 multipart, 200 -> all answered in order')
def keepalive_pipeline():
    with Client(P) as c:
        c.send(req('GET', '/data.bin', headers=[('Range', 'bytes=0-9')]) +
               req('GET', '/data.bin', headers=[('Range', 'bytes=5000-')]) +
               req('GET', '/data.bin', headers=[('Range', 'bytes=0-1,3-4')]) +
               req('GET', '/page.txt'))
        r = expect_206(c.read_response(), 0, 9)
        check(not r.closes(), '206 closed the connection')
        r = expect_416(c.read_response())
        check(not r.closes(), '416 closed the connection')
        r = c.read_response()
        eq([p[2] for p in parse_byteranges(r)], [DATA[0:2], DATA[3:5]], 'parts')
        expect(c.read_response(), 200, body=TEXT)
        c.expect_open()


@test('keep-alive: 416 then a sequential GET on the same connection')
def keepalive_416():
    with Client(P) as c:
        c.send(req('GET', '/big.bin', headers=[('Range', 'bytes=%d-' % len(BIG))]))
        expect_416(c.read_response(), length=len(BIG))
        c.send(req('GET', '/big.bin', headers=[('Range', 'bytes=-3')]))
        expect_206(c.read_response(), len(BIG) - 3, len(BIG) - 1, data=BIG)


@test('Range on a directory index (/) -> 206 of index.html')
def range_index():
    idx = FILES['index.html']
    r = rng('bytes=0-4', '/')
    expect(r, 206, body=idx[:5])
    eq(r.get('content-range'), 'bytes 0-4/%d' % len(idx), 'Content-Range')


@test('Range on a missing file -> 404')
def range_404():
    expect(rng('bytes=0-4', '/nope.bin'), 404)


# ---- curl

@test('curl -r 0-99 gets exactly 100 bytes')
def curl_r():
    rc, out, err = curl('-sf', '-r', '0-99', srv.url('/big.bin'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    check(out == BIG[:100], 'curl -r body differs (%d bytes)' % len(out))


@test('curl -r 1000-1999,5000-5099 gets a multipart body with both parts')
def curl_r_multi():
    rc, out, err = curl('-sf', '-r', '1000-1999,5000-5099', '-D', '-', srv.url('/big.bin'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    check(b'206' in out.split(b'\r\n', 1)[0], 'status line %r' % out[:40])
    check(BIG[1000:2000] in out and BIG[5000:5100] in out, 'parts missing from curl output')


@test('curl -C - resumes a half-downloaded file byte-exact')
def curl_resume():
    d = mkdtemp()
    out = os.path.join(d, 'big.part')
    with open(out, 'wb') as f:
        f.write(BIG[:len(BIG) // 2 + 12345])
    rc, _, err = curl('-sf', '-C', '-', '-o', out, srv.url('/big.bin'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    with open(out, 'rb') as f:
        got = f.read()
    eq(len(got), len(BIG), 'resumed file length')
    check(got == BIG, 'resumed file differs from the original')


@test('curl -C - on a complete file: nothing more to fetch, file unchanged')
def curl_resume_complete():
    d = mkdtemp()
    out = os.path.join(d, 'data.bin')
    with open(out, 'wb') as f:
        f.write(DATA)
    rc, _, err = curl('-s', '-C', '-', '-o', out, srv.url('/data.bin'))
    # curl treats the 416 for a complete download as success (exit 0)
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    with open(out, 'rb') as f:
        eq(f.read(), DATA, 'file after a no-op resume')


run()
