#!/usr/bin/env python3
"""Persistent connections (RFC 9112 section 9), HTTP/1.0, pipelining, slow writers."""

import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, Skip, check, eq, exchange, expect, new_root, req,  # noqa: E402
                          run, start_server, test)

BIG = os.urandom(300000)
FILES = {
    'a.txt': b'file a\n',
    'b.css': b'b { }\n',
    'big.bin': BIG,
    'index.html': b'<p>index</p>\n',
    'sub/index.html': b'<p>sub</p>\n',
}
PARENT, ROOT = new_root(FILES)
srv = start_server(ROOT, header_timeout=5, keepalive_timeout=5)
P = srv.port
A = FILES['a.txt']


@test('HTTP/1.1 keeps the connection open: 5 requests on one socket')
def five_requests():
    with Client(P) as c:
        for i in range(5):
            c.send(req('GET', '/a.txt' if i % 2 == 0 else '/b.css'))
            r = expect(c.read_response(), 200,
                       body=A if i % 2 == 0 else FILES['b.css'])
            check(not r.closes(), 'response %d says Connection: close' % i)
        c.expect_open()


@test('keep-alive survives 404, 301 and HEAD')
def survives_errors():
    with Client(P) as c:
        for method, target, status in [('GET', '/nope', 404), ('GET', '/sub', 301),
                                       ('HEAD', '/a.txt', 200), ('GET', '/a.txt', 200)]:
            c.send(req(method, target))
            r = expect(c.read_response(method), status, method=method)
            check(not r.closes(), '%s %s closed the connection' % (method, target))


@test('Connection: close -> response says close, server closes')
def conn_close():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=[('Connection', 'close')]))
        r = expect(c.read_response(), 200, body=A)
        check(r.closes(), 'no Connection: close in %r' % r.head)
        c.expect_closed()


def segments_in(sock):
    """Segments the client's socket received (tcp_info's tcpi_segs_in, Linux 4.2+)."""
    return struct.unpack_from('I', sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 140)[0]


@test('Connection: close -> a small response leaves with the FIN: SYN-ACK, ACK, data+FIN')
def close_with_fin():
    for target, body in (('/a.txt', A), ('/nope', None)):
        with Client(P) as c:
            c.send(req('GET', target, headers=[('Connection', 'close')]))
            expect(c.read_response(), 200 if body else 404, body=body)
            c.expect_closed()
            n = segments_in(c.sock)
            check(n <= 3, '%s: %d segments reached the client, not 3 (data and FIN apart?)'
                  % (target, n))


@test('Connection: Close (any case, in a list) -> close')
def conn_close_case():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=[('Connection', 'TE, Close')]))
        r = expect(c.read_response(), 200, body=A)
        check(r.closes(), 'no Connection: close in %r' % r.head)
        c.expect_closed()


@test('pipelined Connection: close in the middle: later requests unanswered')
def close_in_middle():
    with Client(P) as c:
        c.send(req('GET', '/a.txt') + req('GET', '/b.css', headers=[('Connection', 'close')]) +
               req('GET', '/index.html'))
        expect(c.read_response(), 200, body=A)
        r = expect(c.read_response(), 200, body=FILES['b.css'])
        check(r.closes(), 'second response lacks Connection: close')
        c.expect_closed()


@test('HTTP/1.0 closes by default')
def http10_close():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', version='HTTP/1.0'))
        r = expect(c.read_response(), 200, body=A)
        check('keep-alive' not in r.tokens('connection'), 'keep-alive offered: %r' % r.head)
        c.expect_closed()


@test('HTTP/1.0 + Connection: keep-alive stays open, answered with keep-alive')
def http10_keepalive():
    with Client(P) as c:
        for _ in range(3):
            c.send(req('GET', '/a.txt', version='HTTP/1.0',
                       headers=[('Connection', 'keep-alive')]))
            r = expect(c.read_response(), 200, body=A)
            check('keep-alive' in r.tokens('connection'), 'no Connection: keep-alive: %r' % r.head)
        c.expect_open()
        c.send(req('GET', '/b.css', version='HTTP/1.0'))
        expect(c.read_response(), 200, body=FILES['b.css'])
        c.expect_closed()


@test('HTTP/1.0 keep-alive with HEAD and 404 keeps the framing')
def http10_keepalive_errors():
    ka = [('Connection', 'keep-alive')]
    with Client(P) as c:
        c.send(req('HEAD', '/big.bin', version='HTTP/1.0', headers=ka) +
               req('GET', '/missing', version='HTTP/1.0', headers=ka) +
               req('GET', '/a.txt', version='HTTP/1.0', headers=ka))
        r = expect(c.read_response('HEAD'), 200, method='HEAD')
        eq(r.get('content-length'), str(len(BIG)), 'HEAD Content-Length')
        expect(c.read_response(), 404)
        expect(c.read_response(), 200, body=A)


@test('pipelining: GET, HEAD, 404, big, 301, GET in one send -> in order, byte-exact')
def pipeline_mixed():
    plan = [('GET', '/a.txt', 200, A), ('HEAD', '/big.bin', 200, b''),
            ('GET', '/nothing-here', 404, None), ('GET', '/big.bin', 200, BIG),
            ('GET', '/sub', 301, None), ('HEAD', '/index.html', 200, b''),
            ('GET', '/index.html', 200, FILES['index.html'])]
    with Client(P) as c:
        c.send(b''.join(req(m, t) for m, t, _, _ in plan))
        for m, t, status, body in plan:
            r = expect(c.read_response(m), status, method=m)
            if body is not None:
                check(r.body == body, '%s %s: body differs (%d bytes)' % (m, t, len(r.body)))
        c.expect_open()


@test('pipelining: 30 requests in one send')
def pipeline_many():
    names = ['a.txt', 'b.css', 'index.html']
    with Client(P) as c:
        c.send(b''.join(req('GET', '/' + names[i % 3]) for i in range(30)))
        for i in range(30):
            expect(c.read_response(), 200, body=FILES[names[i % 3]])


@test('request sent one byte at a time -> 200')
def byte_at_a_time():
    with Client(P) as c:
        c.sock.setsockopt(6, 1, 1)  # TCP_NODELAY: one segment per byte
        for b in req('GET', '/a.txt', headers=[('X-Slow', 'yes')]):
            c.send(bytes([b]))
            time.sleep(0.001)
        expect(c.read_response(), 200, body=A)


@test('two pipelined requests in random fragments -> both answered')
def random_fragments():
    rnd = random.Random(42)
    data = req('GET', '/a.txt') + req('GET', '/b.css', headers=[('X-Pad', 'p' * 300)])
    with Client(P) as c:
        c.sock.setsockopt(6, 1, 1)
        i = 0
        while i < len(data):
            n = rnd.randint(1, 40)
            c.send(data[i:i + n])
            i += n
            time.sleep(0.002)
        expect(c.read_response(), 200, body=A)
        expect(c.read_response(), 200, body=FILES['b.css'])


@test('60 idle connections do not stall a new client')
def idle_sockets():
    idle = []
    try:
        for _ in range(60):
            idle.append(Client(P))
        # half of them send a partial request
        for c in idle[::2]:
            c.send(b'GET /a.txt HT')
        t0 = time.monotonic()
        with Client(P) as c:
            c.send(req('GET', '/a.txt'))
            expect(c.read_response(timeout=3), 200, body=A)
        check(time.monotonic() - t0 < 3, 'slow answer')
        # the partial ones can still complete
        for c in idle[:10:2]:
            c.send(b'TP/1.1\r\nHost: x\r\n\r\n')
            expect(c.read_response(), 200, body=A)
    finally:
        for c in idle:
            c.close()


@test('client half-close after a request still gets the response')
def half_close():
    import socket as s
    with Client(P) as c:
        c.send(req('GET', '/a.txt'))
        c.sock.shutdown(s.SHUT_WR)
        expect(c.read_response(), 200, body=A)


def worker_cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@test('a new connection reaches the worker with its request (TCP_DEFER_ACCEPT): read at once, '
      'never registered to wait for it')
def deferred_accept():
    if not shutil.which('strace'):
        raise Skip('strace not installed (scripts/install-deps installs it)')
    s = start_server(ROOT, workers=1)
    trace = os.path.join(PARENT, 'deferred.strace')
    tracer = None
    try:
        pid = sorted(s.wait_workers(1))[0]
        tracer = subprocess.Popen(['strace', '-qq', '-p', str(pid), '-e', 'trace=accept4,epoll_ctl',
                                   '-o', trace], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # not a bound: strace attaches
        with Client(s.port) as c:
            time.sleep(0.3)  # not a bound: the request comes well after the handshake
            c.send(req('GET', '/a.txt', headers=[('Connection', 'close')]))
            expect(c.read_response(), 200, body=A)
            c.expect_closed()
    finally:
        if tracer is not None:
            tracer.terminate()
            tracer.wait(timeout=5)
        s.stop()
    with open(trace) as f:
        calls = f.read()
    # the accepted descriptors; a worker still setting up when strace attached may
    # register its listeners and watches meanwhile: those are not the connection
    accepted = re.findall(r'^accept4\(.*\) = (\d+)$', calls, re.M)
    check(accepted, 'strace saw no accept4 return a connection: %r' % calls[:300])
    waits = [line for line in calls.splitlines()
             if re.match(r'epoll_ctl\(\d+, EPOLL_CTL_ADD, (%s),' % '|'.join(accepted), line)]
    check(not waits, 'the connection was registered to wait: %r' % waits)


@test('--max-connections: a full worker closes its longest-idle connection for a new one')
def reclaim_idle():
    small = start_server(ROOT, '--max-connections', '2', workers=1, keepalive_timeout=30)
    try:
        old, newer = Client(small.port), Client(small.port)
        for c in (old, newer):
            c.send(req('GET', '/a.txt'))
            expect(c.read_response(), 200, body=A)
            time.sleep(0.05)
        expect(exchange(small.port, req('GET', '/a.txt')), 200, body=A)
        old.expect_closed(timeout=2, what='the longest-idle connection')
        newer.send(req('GET', '/a.txt'))
        expect(newer.read_response(), 200, body=A)
        newer.close()
    finally:
        small.stop()


@test('--max-connections: full of busy clients, a worker waits without spinning')
def full_no_spin():
    small = start_server(ROOT, '--max-connections', '2', workers=1, keepalive_timeout=30,
                         header_timeout=30)
    try:
        busy = [Client(small.port) for _ in range(2)]
        for c in busy:
            c.send(b'GET /a.txt HTTP/1.1\r\n')  # a head that never ends
        time.sleep(0.2)
        worker = next(iter(small.wait_workers(1)))
        waiting = Client(small.port)
        waiting.send(req('GET', '/a.txt'))
        before = worker_cpu_ticks(worker)
        time.sleep(1.0)
        spent = worker_cpu_ticks(worker) - before
        check(spent < 20, 'a full worker used %d CPU ticks in 1 s' % spent)
        busy[0].close()  # a slot frees: the waiting client is served
        expect(waiting.read_response(timeout=3), 200, body=A)
        for c in busy[1:] + [waiting]:
            c.close()
    finally:
        small.stop()


run()
