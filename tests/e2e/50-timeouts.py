#!/usr/bin/env python3
"""Header and keep-alive timeouts (--header-timeout 1 --keepalive-timeout 1)."""

import os
import select
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, Closed, Server, check, check_common, expect,  # noqa: E402
                          new_root, req, run, start_server, test)

FILES = {'a.txt': b'file a\n'}
_, ROOT = new_root(FILES)
srv = start_server(ROOT, header_timeout=1, keepalive_timeout=1)
P = srv.port
A = FILES['a.txt']
BOUND = 3.0


def closed_within(c, bound, allow_408=True):
    """The server closes C within BOUND seconds, optionally after a 408."""
    t0 = time.monotonic()
    try:
        r = c.read_response(timeout=bound)
    except Closed:
        return time.monotonic() - t0
    except OSError as e:
        raise AssertionError('not closed within %.1f s (%s)' % (bound, e))
    check(allow_408 and r.status == 408, 'unexpected response %r' % r)
    check_common(r)
    check(r.closes(), '408 without Connection: close')
    c.expect_closed(timeout=max(0.5, bound - (time.monotonic() - t0)))
    return time.monotonic() - t0


@test('idle keep-alive connection is closed after ~1 s (open at 0.3 s)')
def idle_keepalive():
    with Client(P) as c:
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
        time.sleep(0.3)
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
        t0 = time.monotonic()
        try:
            rest = c.read_to_eof(timeout=BOUND)
        except OSError:
            raise AssertionError('idle keep-alive connection open after %.1f s' % BOUND)
        check(rest == b'', 'bytes on an idle keep-alive connection: %r' % rest[:200])
        check(time.monotonic() - t0 > 0.3, 'closed at once, not after the timeout')


@test('connection that never sends anything is closed within 3 s')
def silent():
    with Client(P) as c:
        closed_within(c, BOUND)


@test('partial request line, then stall -> closed (maybe 408) within 3 s')
def partial_line():
    with Client(P) as c:
        c.send(b'GET /a.txt HT')
        closed_within(c, BOUND)


@test('complete request line, partial headers, stall -> closed within 3 s')
def partial_headers():
    with Client(P) as c:
        c.send(b'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n')
        closed_within(c, BOUND)


@test('partial second request on a kept-alive connection -> closed within 3 s')
def partial_second():
    with Client(P) as c:
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
        c.send(b'GET /a')
        closed_within(c, BOUND)


@test('slowloris (a header byte every 0.2 s) is cut off within 4 s')
def slowloris():
    with Client(P) as c:
        c.sock.setsockopt(6, 1, 1)
        c.send(b'GET /a.txt HTTP/1.1\r\nHost: x\r\n')
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 4:
                c.send(b'X')
                time.sleep(0.2)
        except OSError:
            return
        closed_within(c, 1.0)


@test('while connections stall, other clients are answered before any stalled one is cut off')
def others_served():
    # order, not a stopwatch: with a 10 s header timeout, every answer must come while
    # all the stalled connections are still waiting (a server that served the others
    # only after the stalled ones timed out would answer after their 408s)
    slow = Server(ROOT, header_timeout=10).start()
    stalled = [Client(slow.port) for _ in range(6)]
    try:
        for c in stalled:
            c.send(b'GET /a.txt HTTP/1.1\r\nHo')
        results = []

        def fetch():
            try:
                with Client(slow.port) as c:
                    c.send(req('GET', '/a.txt'))
                    r = c.read_response(timeout=8)
                    waiting = all(not select.select([s.sock], [], [], 0)[0] for s in stalled)
                    results.append((r.status, r.body, waiting))
            except Exception as e:  # noqa: BLE001
                results.append(('error', str(e), False))

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(9)
        check(len(results) == 4, 'only %d of 4 fetches finished' % len(results))
        for status, body, waiting in results:
            check(status == 200 and body == A, 'fetch failed: %r' % ((status, body),))
            check(waiting, 'answered only after a stalled connection was cut off')
    finally:
        for c in stalled:
            c.close()
        slow.stop()


@test('keep-alive timeout counts from the last response: requests 0.6 s apart for 1.8 s')
def keepalive_rearmed():
    with Client(P) as c:
        for i in range(4):
            if i:
                time.sleep(0.6)
            c.send(req('GET', '/a.txt'))
            try:
                r = c.read_response()
            except Closed as e:
                raise AssertionError('request %d (%.1f s after the first): %s' % (i, 0.6 * i, e))
            expect(r, 200, body=A)


@test('after the server idled 1.5 s (> header timeout) a new connection is served')
def after_idle():
    time.sleep(1.5)
    for i in range(2):
        with Client(P) as c:
            c.send(req('GET', '/a.txt'))
            try:
                r = c.read_response()
            except Closed as e:
                raise AssertionError('connection %d: %s' % (i, e))
            expect(r, 200, body=A)


@test('server still serves after the timeouts')
def still_serving():
    with Client(P) as c:
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
    check(srv.alive(), 'server died')


run()
