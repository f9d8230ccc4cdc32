#!/usr/bin/env python3
"""Master/worker supervision: respawn after a worker dies, graceful stop."""

import hashlib
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, Client, add_case, check, eq, expect, new_root,  # noqa: E402
                          process_alive, req, run, start_server, test)

BIG = os.urandom(20 << 20)
FILES = {'a.txt': b'file a\n', 'big.bin': BIG}
_, ROOT = new_root(FILES)
A = FILES['a.txt']


def fresh():
    s = start_server(ROOT, workers=2)
    pids = s.wait_workers(2)
    check(len(pids) == 2, 'want 2 workers, found %r' % pids)
    return s, pids


def gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@test('-w 2 starts exactly 2 worker processes')
def two_workers():
    s, pids = fresh()
    try:
        time.sleep(0.2)
        eq(len(s.workers()), 2, 'number of children')
        eq(s.match.group('workers'), '2', 'workers in the start-up line')
    finally:
        s.stop()


@test('SIGKILL a worker: a new one appears within 2 s, 20 requests all 200')
def respawn():
    s, pids = fresh()
    try:
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        now = set()
        while time.monotonic() < deadline:
            now = {p for p in s.workers() if process_alive(p)}
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.05)
        check(victim not in now and len(now) == 2,
              'workers after kill: %r (before %r)' % (now, pids))
        check(s.alive(), 'master died')
        for i in range(20):
            with Client(s.port) as c:
                c.send(req('GET', '/a.txt'))
                expect(c.read_response(), 200, body=A)
    finally:
        s.stop()


def refused_soon(port, timeout):
    """True once a new connection to PORT is refused (not left waiting in a backlog
    no one accepts from), within TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def stop_during_download(sig):
    """SIG during a slow 20 MiB download: new connections are refused while it is still
    in flight; it completes byte-exact; exit 0, workers gone."""
    s, pids = fresh()
    try:
        c = Client(s.port, timeout=10)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(req('GET', '/big.bin'))
        deadline = time.monotonic() + 10
        got = bytearray()
        # read the head and the first 1 MiB, then ask the master to stop
        while b'\r\n\r\n' not in got or len(got) < (1 << 20):
            check(time.monotonic() < deadline, 'first MiB not received in 10 s')
            c.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = c.sock.recv(65536)
            check(chunk, 'closed after %d bytes' % len(got))
            got.extend(chunk)
        head, body = bytes(got).split(b'\r\n\r\n', 1)
        check(head.startswith(b'HTTP/1.1 200 '), 'status %r' % head[:40])
        check(b'\r\ncontent-length: %d\r' % len(BIG) in head.lower() + b'\r',
              'Content-Length in %r' % head)
        s.signal(sig)
        t_term = time.monotonic()
        check(refused_soon(s.port, 3), 'a new connection is not refused 3 s after %s, while a '
              'download is in flight' % signal.Signals(sig).name)
        h = hashlib.sha256(body)
        n = len(body)
        while n < len(BIG):
            left = deadline - time.monotonic()
            check(left > 0, 'download incomplete after 10 s: %d of %d bytes' % (n, len(BIG)))
            c.sock.settimeout(left)
            chunk = c.sock.recv(65536)
            if not chunk:
                raise AssertionError('closed after %d of %d bytes' % (n, len(BIG)))
            h.update(chunk)
            n += len(chunk)
            if n < 8 << 20:
                time.sleep(0.001)   # read slowly for a while
        eq(n, len(BIG), 'bytes received')
        check(h.digest() == hashlib.sha256(BIG).digest(), 'body differs from the file')
        c.close()
        code = s.wait(max(0.5, 10 - (time.monotonic() - t_term)))
        eq(code, 0, 'master exit code after %s' % signal.Signals(sig).name)
        check(gone(pids, 2), 'workers still alive: %r' % [p for p in pids if process_alive(p)])
        try:
            socket.create_connection((HOST, s.port), timeout=2).close()
            raise AssertionError('port %d still accepts connections' % s.port)
        except ConnectionRefusedError:
            pass
    finally:
        s.stop()


for sig in (signal.SIGTERM, signal.SIGQUIT):
    add_case('%s during a slow 20 MiB download: new connections refused at once, the download '
             'completes byte-exact, exit 0, workers gone' % sig.name, stop_during_download, sig)


def stop_idle(sig):
    s, pids = fresh()
    idle = Client(s.port)
    try:
        idle.send(req('GET', '/a.txt'))
        expect(idle.read_response(), 200, body=A)   # now an idle keep-alive connection
        s.signal(sig)
        code = s.wait(10)
        eq(code, 0, 'master exit code after %s' % signal.Signals(sig).name)
        check(gone(pids, 2), 'workers still alive after the master exited')
    finally:
        idle.close()
        s.stop()


@test('SIGTERM with an idle keep-alive connection: exit 0 within 10 s, workers gone')
def sigterm_idle():
    stop_idle(signal.SIGTERM)


@test('SIGINT: exit 0 within 10 s, workers gone')
def sigint_idle():
    stop_idle(signal.SIGINT)


run()
