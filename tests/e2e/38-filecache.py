#!/usr/bin/env python3
"""The per-worker open-file cache: files replaced, modified, deleted or
created are served fresh, in every worker, at the latest once the revalidation
interval (default 1 s) has passed (notifications make it at once: 39-fresh
checks that with no wait); --revalidate 0 sees changes at once; a file changed
just before a request is never sent with broken framing; long runs of requests
are byte-exact; the cache is bounded and survives a low descriptor limit."""

import gzip
import os
import resource
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, Closed, check, check_validators, each_worker, eq,  # noqa: E402
                          exchange, expect, fd_count, get, new_root, replace_file, req, run,
                          set_mtime, start_server, test, write_file)

T0 = 1615107903
STALE_WAIT = 1.6        # > the default 1 s interval, as a client would wait
MID = os.urandom(65536)
JS = b'console.log("app");\n' * 40
FILES = {
    'replaced.txt': b'replaced: version one\n',
    'inplace.txt': b'in place: version one\n',
    'grown.txt': b'grown: v1\n',
    'deleted.txt': b'deleted soon\n',
    'shrunk.txt': b'shrunk inside the interval: ' + b'x' * 5000 + b'\n',
    'swapped.txt': b'swapped inside the interval: old\n',
    'small.txt': b'a small hot file\n',
    'mid.bin': MID,
    'app.js': JS,
    'lib.js': JS + b'// lib\n',
    'lib.js.gz': gzip.compress(JS + b'// lib\n', mtime=0),
    'morph': b'a file that becomes a directory\n',
}
_, ROOT = new_root(FILES)
for n in FILES:
    set_mtime(os.path.join(ROOT, n), T0)
set_mtime(os.path.join(ROOT, 'lib.js.gz'), T0 + 1)
srv = start_server(ROOT, '--compress', 'off')  # default --revalidate (1 s); siblings only
P = srv.port

_, ROOT0 = new_root({k: v for k, v in FILES.items()})
for n in FILES:
    set_mtime(os.path.join(ROOT0, n), T0)
set_mtime(os.path.join(ROOT0, 'lib.js.gz'), T0 + 1)
srv0 = start_server(ROOT0, '--revalidate', '0', '--compress', 'off')
P0 = srv0.port


def path(name, root=ROOT):
    return os.path.join(root, name)


# ---- changes inside the interval: never a broken response

@test('file replaced (rename) inside the interval: old or new version, framing intact')
def swapped_inside():
    old = FILES['swapped.txt']
    new = b'swapped inside the interval: the NEW version, longer\n'
    with Client(P) as c:
        c.send(req('GET', '/swapped.txt'))
        expect(c.read_response(), 200, body=old)
        replace_file(path('swapped.txt'), new, mtime=T0 + 50)
        for _ in range(3):
            c.send(req('GET', '/swapped.txt'))
            r = expect(c.read_response(), 200)
            check(r.body in (old, new), 'neither the old nor the new file: %r' % r.body[:80])
        c.send(req('GET', '/small.txt'))
        expect(c.read_response(), 200, body=FILES['small.txt'])


@test('file truncated in place inside the interval: no hang, no padding; then fresh')
def shrunk_inside():
    new = b'shrunk\n'
    with Client(P) as c:
        c.send(req('GET', '/shrunk.txt'))
        expect(c.read_response(), 200, body=FILES['shrunk.txt'])
    write_file(path('shrunk.txt'), new, mtime=T0 + 60)          # same inode, shorter
    for _ in range(4):
        with Client(P) as c:
            c.send(req('GET', '/shrunk.txt'))
            try:
                r = c.read_response(timeout=3)
            except socket.timeout:
                raise AssertionError('the response for a file truncated under the cache hangs')
            except (AssertionError, Closed) as e:
                # a short body must end in a close, never in a stall or padding
                check('closed' in str(e), 'unexpected failure: %s' % e)
                continue
            check(r.status == 200 and r.body == new,
                  'truncated file served as %r (body %r)' % (r, r.body[:60]))
    time.sleep(STALE_WAIT)
    for pid, r in each_worker(srv, '/shrunk.txt'):
        expect(r, 200, body=new)


# ---- changes outside the interval, checked in every worker

STATE = {}


@test('warm-up: every file (and a missing one) requested from each worker')
def warm():
    for t in ('/replaced.txt', '/inplace.txt', '/grown.txt', '/deleted.txt', '/small.txt',
              '/app.js', '/lib.js', '/morph'):
        for pid, r in each_worker(srv, t):
            expect(r, 200, body=FILES[t[1:]])
            STATE[(t, pid)] = check_validators(r)
    for pid, r in each_worker(srv, '/created.txt'):
        expect(r, 404)
    for pid, r in each_worker(srv, '/app.js', [('Accept-Encoding', 'gzip')]):
        expect(r, 200, body=JS, content_encoding=None)
    for pid, r in each_worker(srv, '/lib.js', [('Accept-Encoding', 'gzip')]):
        expect(r, 200, body=FILES['lib.js.gz'], content_encoding='gzip')


CHANGED = {
    'replaced.txt': b'replaced: version two, by rename\n',
    'inplace.txt': b'in place: version two\n',                 # same size
    'grown.txt': b'grown: version two is much longer than one\n' * 20,
    'created.txt': b'created after a 404\n',
}


@test('apply changes: rename over, rewrite in place, grow, delete, create, add/remove .gz')
def change():
    replace_file(path('replaced.txt'), CHANGED['replaced.txt'], mtime=T0 + 100)
    ino = os.stat(path('inplace.txt')).st_ino
    write_file(path('inplace.txt'), CHANGED['inplace.txt'], mtime=T0 + 100)
    eq(os.stat(path('inplace.txt')).st_ino, ino, 'in-place write kept the inode')
    write_file(path('grown.txt'), CHANGED['grown.txt'], mtime=T0 + 100)
    os.unlink(path('deleted.txt'))
    write_file(path('created.txt'), CHANGED['created.txt'], mtime=T0 + 100)
    write_file(path('app.js.gz'), gzip.compress(JS, mtime=0), mtime=T0 + 100)
    os.unlink(path('lib.js.gz'))
    os.unlink(path('morph'))
    os.mkdir(path('morph'))
    write_file(path('morph/index.html'), b'<p>morph is a directory now</p>\n')
    time.sleep(STALE_WAIT)


def fresh_case(name):
    t = '/' + name
    for pid, r in each_worker(srv, t):
        expect(r, 200, body=CHANGED[name])
        tag = check_validators(r, T0 + 100)
        old = STATE.get((t, pid))
        check(old is None or old != tag, 'worker %d: ETag unchanged (%s)' % (pid, tag))


@test('after the interval: a file replaced by rename is served fresh by every worker')
def fresh_replaced():
    fresh_case('replaced.txt')


@test('after the interval: a file rewritten in place (same size) is fresh in every worker')
def fresh_inplace():
    fresh_case('inplace.txt')


@test('after the interval: a file grown in place is fresh, Content-Length right')
def fresh_grown():
    fresh_case('grown.txt')


@test('after the interval: a deleted file is 404 in every worker')
def fresh_deleted():
    for pid, r in each_worker(srv, '/deleted.txt'):
        expect(r, 404)


@test('after the interval: a file created after a 404 is 200 in every worker')
def fresh_created():
    fresh_case('created.txt')


@test('after the interval: an added app.js.gz is used, in every worker')
def fresh_gz_added():
    for pid, r in each_worker(srv, '/app.js', [('Accept-Encoding', 'gzip')]):
        expect(r, 200, body=gzip.compress(JS, mtime=0), content_encoding='gzip')


@test('after the interval: a removed lib.js.gz is no longer used, in every worker')
def fresh_gz_removed():
    for pid, r in each_worker(srv, '/lib.js', [('Accept-Encoding', 'gzip')]):
        expect(r, 200, body=FILES['lib.js'], content_encoding=None)


@test('after the interval: a file that became a directory -> 301 to the slash form')
def fresh_morph():
    for pid, r in each_worker(srv, '/morph'):
        expect(r, 301, location='/morph/')
    expect(get(P, '/morph/'), 200, body=b'<p>morph is a directory now</p>\n')


@test('after the interval: the old ETag of a replaced file no longer gives 304')
def fresh_inm():
    old = [v for (t, _), v in STATE.items() if t == '/replaced.txt']
    check(old, 'no ETag recorded in the warm-up')
    for pid, r in each_worker(srv, '/replaced.txt', [('If-None-Match', old[0])]):
        expect(r, 200, body=CHANGED['replaced.txt'])


# ---- --revalidate 0

@test('--revalidate 0: replace, rewrite, grow, delete and create are visible at once')
def immediate():
    for t in ('/replaced.txt', '/inplace.txt', '/grown.txt', '/deleted.txt'):
        expect(get(P0, t), 200, body=FILES[t[1:]])
    expect(get(P0, '/created.txt'), 404)
    with Client(P0) as c:                  # a kept-alive connection sees them too
        c.send(req('GET', '/replaced.txt'))
        expect(c.read_response(), 200, body=FILES['replaced.txt'])
        replace_file(path('replaced.txt', ROOT0), CHANGED['replaced.txt'], mtime=T0 + 100)
        write_file(path('inplace.txt', ROOT0), CHANGED['inplace.txt'], mtime=T0 + 100)
        write_file(path('grown.txt', ROOT0), CHANGED['grown.txt'], mtime=T0 + 100)
        os.unlink(path('deleted.txt', ROOT0))
        write_file(path('created.txt', ROOT0), CHANGED['created.txt'], mtime=T0 + 100)
        for name in ('replaced.txt', 'inplace.txt', 'grown.txt', 'created.txt'):
            c.send(req('GET', '/' + name))
            r = expect(c.read_response(), 200, body=CHANGED[name])
            check_validators(r, T0 + 100)
        c.send(req('GET', '/deleted.txt'))
        expect(c.read_response(), 404)
    for name in ('replaced.txt', 'inplace.txt', 'grown.txt', 'created.txt'):
        for pid, r in each_worker(srv0, '/' + name):
            expect(r, 200, body=CHANGED[name])


@test('--revalidate 0: an added .gz sibling is used at once, a removed one dropped')
def immediate_gz():
    gz = [('Accept-Encoding', 'gzip')]
    expect(exchange(P0, req('GET', '/app.js', headers=gz)), 200, body=JS, content_encoding=None)
    expect(exchange(P0, req('GET', '/lib.js', headers=gz)), 200, body=FILES['lib.js.gz'],
           content_encoding='gzip')
    write_file(path('app.js.gz', ROOT0), gzip.compress(JS, mtime=0), mtime=T0 + 100)
    os.unlink(path('lib.js.gz', ROOT0))
    expect(exchange(P0, req('GET', '/app.js', headers=gz)), 200,
           body=gzip.compress(JS, mtime=0), content_encoding='gzip')
    expect(exchange(P0, req('GET', '/lib.js', headers=gz)), 200, body=FILES['lib.js'],
           content_encoding=None)


# ---- hot files

@test('200 requests in a row for one small file on one connection: all byte-exact')
def hot_small():
    with Client(P) as c:
        for _ in range(200):
            c.send(req('GET', '/small.txt'))
            expect(c.read_response(), 200, body=FILES['small.txt'])


@test('200 requests in a row for a 64 KiB file, HEAD and Range mixed in: byte-exact')
def hot_mid():
    with Client(P) as c:
        for i in range(200):
            if i % 10 == 3:
                c.send(req('HEAD', '/mid.bin'))
                r = expect(c.read_response('HEAD'), 200, method='HEAD')
                eq(r.get('content-length'), str(len(MID)), 'HEAD Content-Length')
            elif i % 10 == 7:
                c.send(req('GET', '/mid.bin', headers=[('Range', 'bytes=%d-%d' % (i, i * 100))]))
                r = expect(c.read_response(), 206)
                check(r.body == MID[i:i * 100 + 1], 'range %d body differs' % i)
            else:
                c.send(req('GET', '/mid.bin'))
                r = expect(c.read_response(), 200)
                check(r.body == MID, 'request %d: body differs' % i)


@test('100 pipelined requests alternating two files: byte-exact, in order')
def hot_pipelined():
    with Client(P) as c:
        c.send(b''.join(req('GET', '/small.txt' if i % 2 else '/mid.bin') for i in range(100)))
        for i in range(100):
            r = expect(c.read_response(), 200)
            check(r.body == (FILES['small.txt'] if i % 2 else MID), 'response %d differs' % i)


# ---- many files: the cache is bounded

NMANY = 3000


def many_root(n):
    _, root = new_root({})
    for i in range(n):
        with open(os.path.join(root, 'f%05d.txt' % i), 'wb') as f:
            f.write(b'file number %d\n' % i)
    return root


def fetch_all(port, n, rounds=1, batch=100):
    with Client(port, timeout=10) as c:
        for _ in range(rounds):
            for start in range(0, n, batch):
                idx = range(start, min(n, start + batch))
                c.send(b''.join(req('GET', '/f%05d.txt' % i) for i in idx))
                for i in idx:
                    r = c.read_response()
                    check(r.status == 200 and r.body == b'file number %d\n' % i,
                          'file %d: %r' % (i, r))
        return c


@test('%d distinct files on one connection: all byte-exact; no worker keeps them all open'
      % NMANY)
def many_files():
    root = many_root(NMANY)
    s = start_server(root)
    try:
        fetch_all(s.port, NMANY)
        counts = {pid: fd_count(pid) or 0 for pid in s.workers()}
        check(counts, 'no workers found')
        check(max(counts.values()) < NMANY - 500,
              'a worker holds %r descriptors after %d distinct files: cache unbounded?'
              % (counts, NMANY))
        fetch_all(s.port, 300)
    finally:
        s.stop()


@test('low descriptor limit (256): 600 distinct files, twice, from several connections')
def low_fd_limit():
    root = many_root(600)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        s = start_server(root, '--max-connections', '64')
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        fetch_all(s.port, 600, rounds=2)
        clients = [Client(s.port) for _ in range(20)]
        try:
            for k, c in enumerate(clients):
                c.send(req('GET', '/f%05d.txt' % (k * 29)))
            for k, c in enumerate(clients):
                r = c.read_response()
                check(r.status == 200 and r.body == b'file number %d\n' % (k * 29),
                      'client %d: %r' % (k, r))
        finally:
            for c in clients:
                c.close()
    finally:
        s.stop()


run()
