#!/usr/bin/env python3
"""Fresh by default: a file changed on disk is served changed by the very next
request, in every worker, with no sleep between the change and the request:
overwritten in place (small and large, grown and shrunk), renamed into place,
deleted, made unreadable, touched, a directory republished by rename, a new
index.html in a listed directory, a new or changed pre-compressed sibling. A
notification queued in the same loop turn as a request is handled first. A file
written in place while it is being sent is cut short, never completed with
mixed bytes. Where the kernel refuses notifications (a watch limit of 0 in a
user namespace), one warning is logged and the revalidation interval bounds
staleness. The clients that showed the bug (apt, git) are in 39-fresh-clients."""

import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, Server, Skip, StartError, check, check_validators,  # noqa: E402
                          curl, each_worker, eq, exchange, expect, new_root, process_state,
                          replace_file, req, require_binary, run, set_mtime, start_server,
                          test, worker_pids, write_file)

T0 = 1615107903
BIG = 3 << 20  # sent with sendfile, not kept in memory

FILES = {
    'small.txt': b'small, version one\n',
    'large.bin': b'L1' * 6000,
    'shrink.bin': b'S1' * 6000,
    'renamed.html': b'<p>renamed, version one</p>\n',
    'deleted.txt': b'deleted soon\n',
    'locked.txt': b'readable, then not\n',
    'touched.txt': b'touched\n',
    'site/index.html': b'<p>site v1</p>\n',
    'site/deep/page.html': b'<p>deep v1</p>\n',
    'listed/a.txt': b'a file in a listed directory\n',
    'app.js': b'console.log("app");\n' * 50,
    'app.js.gz': gzip.compress(b'console.log("app");\n' * 50, mtime=0),
    'lib.js': b'console.log("lib");\n' * 50,
    'busy.bin': os.urandom(BIG),
    'queued.txt': b'queued, version one\n',
}
PARENT, ROOT = new_root(FILES)
for name in FILES:
    set_mtime(os.path.join(ROOT, name), T0)
set_mtime(os.path.join(ROOT, 'app.js.gz'), T0 + 1)
# an hour of revalidation: only a notification can make a change visible
# --compress off: the pre-compressed siblings' freshness alone (37-compress has the cache's)
srv = start_server(ROOT, '--listing', '--revalidate', '3600', '--compress', 'off')
P = srv.port


def path(name):
    return os.path.join(ROOT, name)


def warm(target, headers=(), status=200):
    """Every worker caches TARGET; returns the ETag they agree on (or None)."""
    tags = set()
    for pid, r in each_worker(srv, target, headers):
        expect(r, status)
        tags.add(r.get('etag'))
    eq(len(tags), 1, 'ETags of the workers')
    return tags.pop()


def rewrite_in_place(name, data, mtime):
    """cp NEW OLD: the same inode, truncated and written again."""
    ino = os.stat(path(name)).st_ino
    write_file(path(name), data, mtime)
    eq(os.stat(path(name)).st_ino, ino, 'the rewrite kept the inode')


def each_fresh(target, body, old_tag=None, headers=(), mtime=None, **hdrs):
    for pid, r in each_worker(srv, target, headers):
        expect(r, 200, body=body, **hdrs)
        tag = check_validators(r, mtime)
        check(tag != old_tag, 'worker %d: the old ETag %s for new bytes' % (pid, tag))
        eq(r.get('content-length'), str(len(body)), 'Content-Length (worker %d)' % pid)


@test('a small file overwritten in place: the next request in every worker is new')
def small_in_place():
    old = warm('/small.txt')
    new = b'small, version TWO, a bit longer\n'
    rewrite_in_place('small.txt', new, T0 + 10)
    each_fresh('/small.txt', new, old, mtime=T0 + 10)


@test('a file over 4 KiB overwritten in place (curl): new length, ETag and bytes at once')
def large_in_place():
    old = warm('/large.bin')
    new = b'L2' * 7000
    rewrite_in_place('large.bin', new, T0 + 10)
    rc, out, err = curl('-s', '-D', '-', '-H', 'If-None-Match: %s' % old, srv.url('/large.bin'))
    eq(rc, 0, 'curl exit status (%r)' % err)
    head, _, body = out.partition(b'\r\n\r\n')
    check(head.startswith(b'HTTP/1.1 200'), 'old ETag after the change: %r' % head[:60])
    check(body == new, 'curl got %d bytes, not the new %d' % (len(body), len(new)))
    each_fresh('/large.bin', new, old, mtime=T0 + 10)


@test('a file over 4 KiB shrunk in place: whole new file, no cut connection')
def shrunk_in_place():
    old = warm('/shrink.bin')
    new = b'now short\n'
    rewrite_in_place('shrink.bin', new, T0 + 10)
    each_fresh('/shrink.bin', new, old, mtime=T0 + 10)


@test('a file renamed into place (curl): the new version at once')
def renamed():
    old = warm('/renamed.html')
    new = b'<p>renamed, version TWO</p>\n'
    replace_file(path('renamed.html'), new, T0 + 10)
    rc, out, _ = curl('-s', srv.url('/renamed.html'))
    eq(out, new, 'curl body')
    each_fresh('/renamed.html', new, old, mtime=T0 + 10)


@test('a deleted file: 404 at once in every worker')
def deleted():
    warm('/deleted.txt')
    os.unlink(path('deleted.txt'))
    for pid, r in each_worker(srv, '/deleted.txt'):
        expect(r, 404)


@test('a file made unreadable (chmod 000): 403 at once in every worker')
def unreadable():
    if os.geteuid() == 0 and not workers_unprivileged():
        raise Skip('the workers run as root, which reads any file')
    warm('/locked.txt')
    os.chmod(path('locked.txt'), 0)
    try:
        for pid, r in each_worker(srv, '/locked.txt'):
            expect(r, 403)
    finally:
        os.chmod(path('locked.txt'), 0o644)


def workers_unprivileged():
    return all(os.stat('/proc/%d' % pid).st_uid != 0 for pid in worker_pids(srv))


@test('a file touched to a new time: its Last-Modified and ETag follow at once')
def touched():
    old = warm('/touched.txt')
    set_mtime(path('touched.txt'), T0 + 500)
    each_fresh('/touched.txt', FILES['touched.txt'], old, mtime=T0 + 500)


@test('a directory republished by rename (mv site site.old; mv new site): new pages at once')
def republished():
    warm('/site/index.html')
    old = warm('/site/deep/page.html')
    new = os.path.join(ROOT, 'site.new')
    os.makedirs(os.path.join(new, 'deep'))
    write_file(os.path.join(new, 'index.html'), b'<p>site v2</p>\n', T0 + 20)
    write_file(os.path.join(new, 'deep', 'page.html'), b'<p>deep v2</p>\n', T0 + 20)
    os.rename(path('site'), path('site.old'))
    os.rename(new, path('site'))
    each_fresh('/site/deep/page.html', b'<p>deep v2</p>\n', old, mtime=T0 + 20)
    each_fresh('/site/', b'<p>site v2</p>\n', mtime=T0 + 20)
    shutil.rmtree(path('site.old'))


@test('a new index.html in a listed directory: served instead of the listing at once')
def new_index():
    for pid, r in each_worker(srv, '/listed/'):
        expect(r, 200)
        check(b'a.txt' in r.body, 'listing without a.txt')
    write_file(path('listed/index.html'), b'<p>an index now</p>\n')
    for pid, r in each_worker(srv, '/listed/'):
        expect(r, 200, body=b'<p>an index now</p>\n')


GZ = [('Accept-Encoding', 'gzip')]


@test('a changed pre-compressed sibling: the new .gz at once, with its own ETag')
def sibling_changed():
    old = warm('/app.js', GZ)
    data = gzip.compress(b'console.log("app v2");\n' * 50, mtime=0)
    replace_file(path('app.js.gz'), data, T0 + 30)
    for pid, r in each_worker(srv, '/app.js', GZ):
        expect(r, 200, body=data, content_encoding='gzip')
        check(r.get('etag') != old, 'worker %d: the old .gz ETag' % pid)


@test('a new pre-compressed sibling: used at once in every worker')
def sibling_added():
    warm('/lib.js', GZ)
    data = gzip.compress(FILES['lib.js'], mtime=0)
    write_file(path('lib.js.gz'), data, T0 + 30)
    for pid, r in each_worker(srv, '/lib.js', GZ):
        expect(r, 200, body=data, content_encoding='gzip')


@test('a change queued while the worker was busy is handled before a request queued earlier')
def same_turn():
    s = start_server(ROOT, '--revalidate', '3600', workers=1)
    try:
        pid = sorted(s.wait_workers(1))[0]
        with Client(s.port) as c:
            c.send(req('GET', '/queued.txt'))
            expect(c.read_response(), 200, body=FILES['queued.txt'])
            os.kill(pid, signal.SIGSTOP)
            try:
                deadline = time.monotonic() + 2
                while process_state(pid) not in ('T', 't') and time.monotonic() < deadline:
                    time.sleep(0.01)
                # the request is in the worker's queue before the notification is
                c.send(req('GET', '/queued.txt'))
                time.sleep(0.05)
                replace_file(path('queued.txt'), b'queued, version TWO\n', T0 + 40)
            finally:
                os.kill(pid, signal.SIGCONT)
            expect(c.read_response(), 200, body=b'queued, version TWO\n')
    finally:
        s.stop()


@test('a connection accepted later in the same loop turn as a change: served the new file')
def accepted_same_turn():
    if not shutil.which('strace'):
        raise Skip('strace not installed (scripts/install-deps installs it)')
    s = start_server(ROOT, '--revalidate', '3600', workers=1)
    tracer = None
    try:
        pid = sorted(s.wait_workers(1))[0]
        write_file(path('accepted.txt'), b'accepted, version one\n')
        expect(exchange(s.port, req('GET', '/accepted.txt')), 200,
               body=b'accepted, version one\n')
        # every accept4 of the worker returns 0.4 s late: the turn that accepts the
        # first connection is still running when the file changes and the second comes
        tracer = subprocess.Popen(['strace', '-qq', '-p', str(pid), '-e', 'trace=accept4',
                                   '-e', 'inject=accept4:delay_exit=400000', '-o', '/dev/null'],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # not a bound: strace attaches
        with Client(s.port) as c1:
            c1.send(req('GET', '/accepted.txt'))
            time.sleep(0.1)  # not a bound: the worker is inside the first accept4 now
            replace_file(path('accepted.txt'), b'accepted, version TWO\n', T0 + 70)
            with Client(s.port) as c2:
                c2.send(req('GET', '/accepted.txt'))
                expect(c1.read_response(timeout=10), 200)
                expect(c2.read_response(timeout=10), 200, body=b'accepted, version TWO\n')
    finally:
        if tracer is not None:
            tracer.terminate()
            tracer.wait(timeout=5)
        s.stop()


@test('a file written in place during a slow download: closed short, never completed')
def changed_while_sent():
    s = start_server(ROOT, '--revalidate', '3600', workers=1)
    try:
        with Client(s.port, timeout=15) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            c.send(req('GET', '/busy.bin'))
            got = bytearray()
            while b'\r\n\r\n' not in got:
                chunk = c.sock.recv(65536)
                check(chunk, 'closed before the head')
                got.extend(chunk)
            head, body = bytes(got).split(b'\r\n\r\n', 1)
            check(b'\r\nContent-Length: %d\r' % BIG in head + b'\r', 'head %r' % head[:200])
            time.sleep(0.3)  # not a bound: the buffers fill and the worker waits to write
            with open(path('busy.bin'), 'r+b') as f:
                f.write(b'\xAA' * BIG)
            body = bytearray(body)
            while True:
                try:
                    chunk = c.sock.recv(1 << 20)
                except ConnectionResetError:
                    chunk = b''
                if not chunk:
                    break
                body.extend(chunk)
        # sendfile queues page-cache pages, so even the bytes before the write may be
        # new ones: only a short body tells the client to throw it away
        check(len(body) < BIG, 'all %d bytes of Content-Length sent over a changed file' % BIG)
        deadline = time.monotonic() + 3  # the log line is read by another thread
        while b'changed while being sent' not in s.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        check(b'changed while being sent' in s.stderr(), 'no log line: %r' % s.stderr()[-300:])
        with Client(s.port, timeout=15) as c:
            c.send(req('GET', '/busy.bin'))
            expect(c.read_response(), 200, body=b'\xAA' * BIG)
    finally:
        s.stop()


@test('a file written in place between a request\'s head and its body: answered whole, new')
def changed_before_sent():
    s = start_server(ROOT, '--revalidate', '3600', workers=1)
    try:
        write_file(path('pending.bin'), b'P1' * 40000)
        with Client(s.port) as c:
            c.send(req('GET', '/pending.bin'))
            expect(c.read_response(), 200, body=b'P1' * 40000)
            # the response is decided when the head is in, sent when the body is
            c.send(b'GET /pending.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\n')
            time.sleep(0.1)  # not a bound: lets the worker read the head first
            rewrite_in_place('pending.bin', b'P2' * 50000, T0 + 50)
            c.send(b'body')
            r = expect(c.read_response(), 200, body=b'P2' * 50000)
            check_validators(r, T0 + 50)
    finally:
        s.stop()


# ---- notifications refused by the kernel

def unshare_server(root, limit_file, *extra):
    """portico in a user namespace whose inotify LIMIT_FILE (under /proc/sys/user)
    is 0, as root of that namespace (so --user root)."""
    require_binary()
    if os.geteuid() != 0 or not shutil.which('unshare'):
        raise Skip('needs root and unshare(1) for a user namespace with its own limits')
    probe = subprocess.run(['unshare', '-U', '-r', 'sh', '-c',
                            'echo 0 > /proc/sys/user/%s' % limit_file],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise Skip('no user namespace with its own inotify limits here: %r'
                   % probe.stderr.decode(errors='replace').strip())
    s = Server(root, '--user', 'root', *extra, workers=1)
    s.cmd = ['unshare', '-U', '-r', 'sh', '-c',
             'echo 0 > /proc/sys/user/%s && exec "$@"' % limit_file, 'sh'] + s.cmd
    try:
        return s.start()
    except StartError as e:
        raise AssertionError('server start: %s' % e)


def fallback_case(limit_file, message):
    _, root = new_root({'f.txt': b'version one\n', 'dir/g.txt': b'g one\n'})
    s = unshare_server(root, limit_file, '--revalidate', '2')
    try:
        with Client(s.port) as c:
            for target in ('/f.txt', '/dir/g.txt'):
                c.send(req('GET', target))
                expect(c.read_response(), 200)
            replace_file(os.path.join(root, 'f.txt'), b'version two\n')
            c.send(req('GET', '/f.txt'))
            first = c.read_response()
        expect(first, 200)
        # within the interval the cached version may still be served; after it, never
        deadline = time.monotonic() + 8
        while True:
            with Client(s.port) as c:
                c.send(req('GET', '/f.txt'))
                r = c.read_response()
            if r.body == b'version two\n':
                break
            check(time.monotonic() < deadline, 'still the old file 8 s after the change')
            time.sleep(0.2)
        lines = [ln for ln in s.stderr().decode(errors='replace').splitlines()
                 if re.search(message, ln)]
        eq(len(lines), 1, 'warnings matching %r (stderr %r)' % (message, s.stderr()[-400:]))
        check('--revalidate' in lines[0] and 'fs.inotify' in lines[0],
              'the warning names neither the interval nor the sysctl: %r' % lines[0])
        return first
    finally:
        s.stop()


@test('watch limit 0: one warning, files still served, the interval bounds staleness')
def watch_limit_zero():
    first = fallback_case('max_inotify_watches', 'watch limit reached')
    check(first.body == b'version one\n',
          'served fresh without notifications: is the limit really in force? (%r)' % first.body)


@test('no inotify instance left: one warning, files still served, the interval bounds staleness')
def instance_limit_zero():
    fallback_case('max_inotify_instances', 'not notified')


run()
