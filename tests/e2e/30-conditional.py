#!/usr/bin/env python3
"""Validators (ETag, Last-Modified) and conditional requests (RFC 9110 sections
8.8 and 13): If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since in
the order of section 13.2.2, the three date formats, 304 and 412 responses,
--cache-control, curl -z."""

import email.utils
import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, add_case, asctime_date, check, check_validators,  # noqa: E402
                          curl, eq, exchange, expect, expect_304, get, http_date, mkdtemp,
                          new_root, only_worker, req, rfc850_date, run, serving_worker,
                          set_mtime, start_server, test, write_file)

T0 = 1615107903                    # Sun, 07 Mar 2021 09:05:03 GMT (one-digit day)
DAY = 86400
FILES = {
    'f.txt': b'conditional requests\n',
    'frac.txt': b'mtime with a fraction of a second\n',
    'index.html': b'<!doctype html><title>i</title><p>index</p>\n',
    'other.txt': b'another file\n',
}
_, ROOT = new_root(FILES)
for name in FILES:
    set_mtime(os.path.join(ROOT, name), T0)
set_mtime(os.path.join(ROOT, 'frac.txt'), T0 + 0.75)
with open(os.path.join(ROOT, 'future.txt'), 'wb') as _f:
    _f.write(b'mtime in the future\n')
set_mtime(os.path.join(ROOT, 'future.txt'), time.time() + DAY)
srv = start_server(ROOT)
P = srv.port
CC = 'public, max-age=60'
srv_cc = start_server(ROOT, '--cache-control', CC)
_, ROOT2 = new_root({'m.txt': b'version one\n'})
set_mtime(os.path.join(ROOT2, 'm.txt'), T0)
srv_mut = start_server(ROOT2, '--revalidate', '0')

F = FILES['f.txt']
LM = http_date(T0)
TXT = 'text/plain; charset=utf-8'


def etag(port=P, target='/f.txt'):
    return check_validators(get(port, target), T0)


E = etag()


def send(headers, target='/f.txt', method='GET', port=P):
    return exchange(port, req(method, target, headers=headers), method)


@test('GET: strong ETag and Last-Modified (the file\'s mtime as IMF-fixdate)')
def validators_get():
    r = expect(get(P, '/f.txt'), 200, body=F, ctype=TXT)
    eq(check_validators(r, T0), E, 'ETag')


@test('HEAD: the same ETag and Last-Modified as GET')
def validators_head():
    r = expect(get(P, '/f.txt', method='HEAD'), 200, method='HEAD')
    eq(check_validators(r, T0), E, 'ETag')


@test('index.html served for / carries validators')
def validators_index():
    r = expect(get(P, '/'), 200, body=FILES['index.html'])
    check_validators(r, T0)


@test('different files get different ETags')
def etag_per_file():
    check(etag(P, '/other.txt') != E, 'two files share the ETag %s' % E)


@test('mtime with a fraction of a second: Last-Modified truncated to the second')
def frac_lm():
    r = expect(get(P, '/frac.txt'), 200, body=FILES['frac.txt'])
    check_validators(r, T0)


@test('mtime in the future: Last-Modified not later than Date (RFC 9110 8.8.2.1)')
def future_lm():
    r = expect(get(P, '/future.txt'), 200, body=b'mtime in the future\n')
    check_validators(r)
    lm = email.utils.parsedate_to_datetime(r.get('last-modified'))
    date = email.utils.parsedate_to_datetime(r.get('date'))
    check(lm <= date, 'Last-Modified %s is later than Date %s' % (r.get('last-modified'),
                                                                 r.get('date')))


@test('ETag stable over 10 requests on fresh connections')
def etag_stable():
    for _ in range(10):
        eq(etag(), E, 'ETag')


@test('ETag identical from each worker (requests pinned with SIGSTOP on the others)')
def etag_workers():
    pids = srv.wait_workers(2)
    check(len(pids) >= 2, 'want 2 workers, have %r' % pids)
    seen = {}
    for pid in sorted(pids):
        with only_worker(srv, pid):
            with Client(P) as c:
                c.send(req('GET', '/f.txt'))
                r = expect(c.read_response(), 200, body=F)
                who = serving_worker(srv, c)
        check(who in (pid, None), 'request was served by %r, not the pinned worker %d'
              % (who, pid))
        seen[pid] = check_validators(r, T0)
    eq(set(seen.values()), {E}, 'ETags by worker %r' % seen)


@test('ETag identical after a server restart')
def etag_restart():
    s = start_server(ROOT)
    first = etag(s.port)
    s.stop()
    s = start_server(ROOT)
    second = etag(s.port)
    s.stop()
    eq(first, E, 'ETag from a second server')
    eq(second, E, 'ETag after restarting it')


# ---- the precondition table.  {E} in a header value is replaced by the
# current ETag, {LM} by its Last-Modified.

CASES = [
    # If-None-Match
    ([('If-None-Match', '{E}')], 304),
    ([('If-None-Match', '"nope"')], 200),
    ([('If-None-Match', '"nope", {E}')], 304),
    ([('If-None-Match', '"a" ,  {E} , "b"')], 304),
    ([('If-None-Match', '*')], 304),
    ([('If-None-Match', 'W/{E}')], 304),
    ([('If-None-Match', '"nope"'), ('If-None-Match', '{E}')], 304),
    ([('If-None-Match', '"nope", W/"other"')], 200),
    ([('If-None-Match', ', '.join('"tag-%03d"' % i for i in range(100)) + ', {E}')], 304),
    ([('If-None-Match', ', '.join('"tag-%03d"' % i for i in range(100)))], 200),
    ([('If-None-Match', '"unterminated')], 200),
    # If-Modified-Since
    ([('If-Modified-Since', '{LM}')], 304),
    ([('If-Modified-Since', http_date(T0 + DAY))], 304),
    ([('If-Modified-Since', http_date(T0 - 1))], 200),
    ([('If-Modified-Since', http_date(T0 - 365 * DAY))], 200),
    ([('If-Modified-Since', rfc850_date(T0))], 304),
    ([('If-Modified-Since', rfc850_date(T0 + DAY))], 304),
    ([('If-Modified-Since', asctime_date(T0))], 304),
    ([('If-Modified-Since', asctime_date(T0 + 3 * DAY))], 304),
    ([('If-Modified-Since', 'garbage')], 200),
    ([('If-Modified-Since', 'Sun, 07 Mar 2021 09:05:03')], 200),
    ([('If-Modified-Since', 'Sun, 07 Mar 2021 25:05:03 GMT')], 200),
    ([('If-Modified-Since', 'Sun, 32 Mar 2021 09:05:03 GMT')], 200),
    ([('If-Modified-Since', '1615107903')], 200),
    ([('If-Modified-Since', '')], 200),
    ([('If-Modified-Since', '{LM}, {LM}')], 200),
    # a two-digit year 94 is 1994, not 2094 (RFC 9110 section 5.6.7)
    ([('If-Modified-Since', 'Sunday, 06-Nov-94 08:49:37 GMT')], 200),
    # If-Modified-Since is ignored when If-None-Match is present
    ([('If-None-Match', '"nope"'), ('If-Modified-Since', http_date(T0 + DAY))], 200),
    ([('If-None-Match', '{E}'), ('If-Modified-Since', http_date(T0 - DAY))], 304),
    # If-Match (strong comparison)
    ([('If-Match', '{E}')], 200),
    ([('If-Match', '*')], 200),
    ([('If-Match', '"nope"')], 412),
    ([('If-Match', 'W/{E}')], 412),
    ([('If-Match', '"nope", {E}')], 200),
    ([('If-Match', '"nope"'), ('If-Match', '{E}')], 200),
    ([('If-Match', '"nope"'), ('If-None-Match', '{E}')], 412),
    ([('If-Match', '"nope"'), ('If-Modified-Since', '{LM}')], 412),
    # If-Unmodified-Since: only without If-Match
    ([('If-Unmodified-Since', '{LM}')], 200),
    ([('If-Unmodified-Since', http_date(T0 + DAY))], 200),
    ([('If-Unmodified-Since', http_date(T0 - 1))], 412),
    ([('If-Unmodified-Since', rfc850_date(T0 - DAY))], 412),
    ([('If-Unmodified-Since', asctime_date(T0 - DAY))], 412),
    ([('If-Unmodified-Since', rfc850_date(T0))], 200),
    ([('If-Unmodified-Since', asctime_date(T0))], 200),
    ([('If-Unmodified-Since', 'garbage')], 200),
    ([('If-Unmodified-Since', 'Sunday, 06-Nov-94 08:49:37 GMT')], 412),
    ([('If-Unmodified-Since', 'Sun Nov  6 08:49:37 1994')], 412),
    ([('If-Match', '{E}'), ('If-Unmodified-Since', http_date(T0 - DAY))], 200),
    ([('If-Unmodified-Since', http_date(T0 - DAY)), ('If-None-Match', '{E}')], 412),
    ([('If-Unmodified-Since', http_date(T0 + DAY)), ('If-None-Match', '{E}')], 304),
    ([('If-Match', '{E}'), ('If-None-Match', '{E}')], 304),
    ([('If-Match', '{E}'), ('If-None-Match', '"nope"')], 200),
    # preconditions come before Range
    ([('If-None-Match', '{E}'), ('Range', 'bytes=0-3')], 304),
    ([('If-Match', '"nope"'), ('Range', 'bytes=0-3')], 412),
    ([('If-Match', '{E}'), ('Range', 'bytes=0-3')], 206),
    ([('If-Modified-Since', '{LM}'), ('Range', 'bytes=0-3')], 304),
]


def subst(v):
    return v.replace('{LM}', LM).replace('{E}', E)


def cond_case(headers, status, method):
    hs = [(k, subst(v)) for k, v in headers]
    with Client(P) as c:
        # a pipelined GET after it proves a 304/412/HEAD sent no body
        c.send(req(method, '/f.txt', headers=hs) + req('GET', '/other.txt'))
        r = c.read_response(method)
        if status == 304:
            expect_304(r, method, etag=E, last_modified=LM)
        elif status == 200:
            expect(r, 200, body=F if method == 'GET' else None, method=method,
                   etag=E, last_modified=LM)
        elif status == 206:
            expect(r, 206, body=F[0:4], method=method, etag=E,
                   content_range='bytes 0-3/%d' % len(F))
        else:
            expect(r, status, method=method)
        check(not r.closes(), '%d closed the connection' % status)
        expect(c.read_response(), 200, body=FILES['other.txt'])


def label(headers):
    return ', '.join('%s: %s' % (k, v if len(v) < 32 else v[:29] + '...') for k, v in headers)


for hs, st in CASES:
    add_case('GET %s -> %d' % (label(hs), st), cond_case, hs, st, 'GET')
for hs, st in CASES:
    if not any(k == 'Range' for k, _ in hs) and st != 200:
        add_case('HEAD %s -> %d' % (label(hs), st), cond_case, hs, st, 'HEAD')


@test('If-Modified-Since: the Last-Modified of a file with a fractional mtime -> 304')
def frac_ims():
    r = get(P, '/frac.txt')
    lm = r.get('last-modified')
    expect_304(send([('If-Modified-Since', lm)], '/frac.txt'))


@test('If-None-Match on / (index.html) -> 304')
def index_inm():
    e = check_validators(get(P, '/'))
    expect_304(send([('If-None-Match', e)], '/'), etag=e)


@test('If-None-Match: * on a missing file -> 404')
def inm_missing():
    expect(send([('If-None-Match', '*')], '/missing.txt'), 404)


@test('412 keeps the connection open and has an error body')
def precondition_body():
    r = send([('If-Match', '"nope"')])
    expect(r, 412)
    check(r.body != F, '412 sent the file')


# ---- Cache-Control

@test('no Cache-Control by default (200, 206, 304)')
def no_cc():
    for hs in ([], [('Range', 'bytes=0-1')], [('If-None-Match', E)]):
        r = send(hs)
        check(r.status in (200, 206, 304), 'status %d' % r.status)
        eq(r.get('cache-control'), None, 'Cache-Control on %d' % r.status)


@test('--cache-control: on 200, HEAD, 206 and 304, exactly once')
def with_cc():
    for method, hs, st in (('GET', [], 200), ('HEAD', [], 200),
                           ('GET', [('Range', 'bytes=0-1')], 206),
                           ('GET', [('If-None-Match', E)], 304),
                           ('HEAD', [('If-Modified-Since', LM)], 304)):
        r = send(hs, method=method, port=srv_cc.port)
        eq(r.status, st, 'status of %s %r' % (method, hs))
        eq(r.get_all('cache-control'), [CC], 'Cache-Control on %s %d' % (method, st))
        eq(r.get('etag'), E, 'ETag with --cache-control')


@test('--cache-control: not on a 404')
def cc_404():
    r = expect(send([], '/missing.txt', port=srv_cc.port), 404)
    eq(r.get('cache-control'), None, 'Cache-Control on a 404')


@test('--cache-control: 304 carries ETag, Last-Modified and Cache-Control, no body')
def cc_304():
    expect_304(send([('If-None-Match', E)], port=srv_cc.port), etag=E, last_modified=LM,
               cache_control=CC)


# ---- changes to the file (--revalidate 0)

def mut_path():
    return os.path.join(ROOT2, 'm.txt')


@test('ETag and Last-Modified change when the file changes; old ETag no longer matches')
def etag_changes():
    r1 = expect(get(srv_mut.port, '/m.txt'), 200, body=b'version one\n')
    e1 = check_validators(r1, T0)
    write_file(mut_path(), b'version two\n', mtime=T0 + 60)   # same size, new mtime
    r2 = expect(get(srv_mut.port, '/m.txt'), 200, body=b'version two\n')
    e2 = check_validators(r2, T0 + 60)
    check(e1 != e2, 'ETag unchanged (%s) after the file changed' % e1)
    r = send([('If-None-Match', e1)], '/m.txt', port=srv_mut.port)
    expect(r, 200, body=b'version two\n', etag=e2)
    expect_304(send([('If-None-Match', e2)], '/m.txt', port=srv_mut.port), etag=e2)
    r = send([('If-Match', e1)], '/m.txt', port=srv_mut.port)
    expect(r, 412)
    r = send([('If-Range', e1), ('Range', 'bytes=0-2')], '/m.txt', port=srv_mut.port)
    expect(r, 200, body=b'version two\n')


@test('ETag changes when only the sub-second part of the mtime changes')
def etag_ns():
    write_file(mut_path(), b'version ns\n', mtime=T0 + 120)
    e1 = check_validators(get(srv_mut.port, '/m.txt'), T0 + 120)
    write_file(mut_path(), b'version NS\n', mtime=T0 + 120.5)
    r = expect(get(srv_mut.port, '/m.txt'), 200, body=b'version NS\n')
    e2 = check_validators(r, T0 + 120)
    check(e1 != e2, 'ETag unchanged (%s) after a change within the same second' % e1)
    # the date alone cannot tell: If-Modified-Since still says not modified
    expect_304(send([('If-Modified-Since', http_date(T0 + 120))], '/m.txt',
                    port=srv_mut.port))


@test('If-Unmodified-Since after a change -> 412; before -> 200')
def ius_after_change():
    write_file(mut_path(), b'version three\n', mtime=T0 + 3600)
    expect(send([('If-Unmodified-Since', http_date(T0 + 3599))], '/m.txt',
                port=srv_mut.port), 412)
    expect(send([('If-Unmodified-Since', http_date(T0 + 3600))], '/m.txt',
                port=srv_mut.port), 200, body=b'version three\n')


# ---- curl

@test('curl -z FILE (newer than the served file) -> not modified: empty output, exit 0')
def curl_z_newer():
    d = mkdtemp()
    ref = os.path.join(d, 'ref')
    write_file(ref, b'x', mtime=T0 + DAY)
    rc, out, err = curl('-sf', '-z', ref, srv.url('/f.txt'))
    eq((rc, out), (0, b''), 'curl exit code and output (stderr %r)' % err)


@test('curl -z FILE (older than the served file) -> the whole file')
def curl_z_older():
    d = mkdtemp()
    ref = os.path.join(d, 'ref')
    write_file(ref, b'x', mtime=T0 - DAY)
    rc, out, err = curl('-sf', '-z', ref, srv.url('/f.txt'))
    eq((rc, out), (0, F), 'curl exit code and output (stderr %r)' % err)


@test('curl -z "date" -D -: the 304 status line is shown')
def curl_z_date():
    rc, out, err = curl('-s', '-D', '-', '-z', http_date(T0 + 10), srv.url('/f.txt'))
    eq(rc, 0, 'curl exit code (stderr %r)' % err)
    check(out.startswith(b'HTTP/1.1 304'), 'curl output %r' % out[:200])


@test('curl --etag-save then --etag-compare -> 304')
def curl_etag():
    d = mkdtemp()
    tags = os.path.join(d, 'etags')
    rc, out, err = curl('-sf', '--etag-save', tags, srv.url('/f.txt'))
    eq((rc, out), (0, F), 'first curl')
    rc, out, err = curl('-s', '-D', '-', '--etag-compare', tags, srv.url('/f.txt'))
    eq(rc, 0, 'second curl exit code (stderr %r)' % err)
    check(out.startswith(b'HTTP/1.1 304'), 'curl --etag-compare output %r' % out[:200])


run()
