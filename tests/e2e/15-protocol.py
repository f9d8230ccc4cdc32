#!/usr/bin/env python3
"""Request targets, methods, protocol rejections, limits, bodies and Expect."""

import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (ALLOW, Client, Closed, add_case, check, check_common, eq,  # noqa: E402
                          expect, expect_reject, exchange, mkdtemp, new_root, req, run,
                          start_server, test)

MAX_BODY = 4096
FILES = {'a.txt': b'file a\n', 'index.html': b'<p>index</p>\n'}
_, ROOT = new_root(FILES)
# 16 nested directories of 250 '{' each: their percent-encoded path is ~12 KiB
DEEP = '/'.join(['{' * 250] * 16)
os.makedirs(os.path.join(ROOT, DEEP.replace('/', os.sep)))
srv = start_server(ROOT, '--max-body-size', str(MAX_BODY))
P = srv.port
A = FILES['a.txt']


def served_after(c):
    """The same connection still answers a plain GET."""
    c.send(req('GET', '/a.txt'))
    expect(c.read_response(), 200, body=A)


# ---- request targets ------------------------------------------------------

@test('absolute-form GET http://x/a.txt is served like /a.txt')
def absolute_form():
    expect(exchange(P, req('GET', 'http://x/a.txt')), 200, body=A)
    expect(exchange(P, req('GET', 'http://127.0.0.1:%d/a.txt?q=1' % P)), 200, body=A)


@test('OPTIONS * -> 204, no body, connection stays usable')
def options_star():
    with Client(P) as c:
        c.send(req('OPTIONS', '*') + req('GET', '/a.txt'))
        expect(c.read_response(), 204)
        expect(c.read_response(), 200, body=A)


for target, method in [('foo', 'GET'), ('*', 'GET'), ('*', 'HEAD'), ('a.txt', 'GET'),
                       ('?x', 'GET'), ('http:/a.txt', 'GET')]:
    add_case('%s %s -> 400' % (method, target),
             lambda t=target, m=method: check_400_any(req(m, t), m))


def check_400_any(raw, method):
    with Client(P) as c:
        c.send(raw)
        r = c.read_response(method)
        check(r.status == 400, 'want 400, got %r' % r)
        check_common(r, method)


# ---- methods --------------------------------------------------------------

@test('OPTIONS / -> 204 Allow: GET, HEAD, OPTIONS, no body, next request parses')
def options_root():
    with Client(P) as c:
        c.send(req('OPTIONS', '/') + req('GET', '/a.txt'))
        expect(c.read_response(), 204, allow=ALLOW)
        expect(c.read_response(), 200, body=A)


def method_405(method, target):
    with Client(P) as c:
        c.send(req(method, target, headers=[('Content-Length', '0')]))
        r = c.read_response()
        expect(r, 405, allow=ALLOW)
        if not r.closes():
            served_after(c)


for m in ['POST', 'PUT', 'DELETE', 'PATCH', 'TRACE']:
    add_case('%s /a.txt -> 405 Allow' % m, method_405, m, '/a.txt')
add_case('CONNECT 127.0.0.1:443 -> 405 Allow', method_405, 'CONNECT', '127.0.0.1:443')


def method_501(method):
    expect_reject(P, req(method, '/'), 501)


for m in ['FOO', 'BREW', 'GETS', 'XYZZY']:
    add_case('%s / -> 501 and close' % m, method_501, m)


# ---- protocol rejections: status, Connection: close, socket closed ---------

REJECT = [
    ('obs-fold header', b'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  b\r\n\r\n', (400,)),
    ('obs-fold with tab', b'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n', (400,)),
    ('HTTP/2.0', b'GET / HTTP/2.0\r\nHost: x\r\n\r\n', (505,)),
    ('HTTP/3.0', b'GET / HTTP/3.0\r\nHost: x\r\n\r\n', (505,)),
    ('HTTP/0.9 version', b'GET / HTTP/0.9\r\nHost: x\r\n\r\n', (505,)),
    ('HTTP/1.1 without Host', b'GET / HTTP/1.1\r\n\r\n', (400,)),
    ('two Host headers', b'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', (400,)),
    ('two equal Host headers', b'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', (400,)),
    ('Content-Length + Transfer-Encoding', b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n'
     b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', (400,)),
    ('two differing Content-Length', b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n'
     b'Content-Length: 2\r\n\r\nab', (400,)),
    ('Content-Length: abc', b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', (400,)),
    ('Content-Length: -1', b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', (400,)),
    ('space before colon', b'GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n', (400,)),
    ('bare LF line endings', b'GET / HTTP/1.1\nHost: x\n\n', (400,)),
    ('bare LF after the request line', b'GET / HTTP/1.1\nHost: x\r\n\r\n', (400,)),
    ('bare CR in a header', b'GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n', (400,)),
    ('unknown Transfer-Encoding', b'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
     (400, 501)),
    ('header without colon', b'GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n', (400,)),
    ('lower-case protocol', b'GET / http/1.1\r\nHost: x\r\n\r\n', (400,)),
]


def reject_case(raw, statuses):
    expect_reject(P, raw, statuses[0], statuses=statuses)


for name, raw, st in REJECT:
    add_case('%s -> %s and close' % (name, '/'.join(map(str, st))), reject_case, raw, st)


@test('HTTP/1.0 without Host -> 200')
def http10_nohost():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', version='HTTP/1.0', host=None))
        expect(c.read_response(), 200, body=A)
        c.expect_closed()


@test('TLS ClientHello bytes -> 400 or close without a response')
def tls_garbage():
    hello = bytes.fromhex('16030100a5010000a10303') + os.urandom(32) + b'\x00' * 120
    with Client(P) as c:
        c.send(hello)
        try:
            data = c.read_to_eof()
        except socket.timeout:
            raise AssertionError('connection still open 5 s after TLS bytes')
        if data:
            check(data.startswith(b'HTTP/1.1 400 '), 'not a 400: %r' % data[:100])
            check(b'\r\nConnection: close\r\n' in data.split(b'\r\n\r\n')[0] + b'\r\n',
                  'no Connection: close: %r' % data[:300])
    expect(exchange(P, req('GET', '/a.txt')), 200, body=A)


@test('binary garbage line -> 400 or close; server keeps serving')
def binary_garbage():
    with Client(P) as c:
        c.send(b'\x00\x01\x02\xff\xfe\r\n\r\n')
        data = c.read_to_eof()
        check(data == b'' or data.startswith(b'HTTP/1.1 400 '), 'got %r' % data[:100])
    expect(exchange(P, req('GET', '/a.txt')), 200, body=A)


# ---- limits -----------------------------------------------------------------

def hdrs(n, size):
    """N header lines of about SIZE bytes each."""
    return ['X-H%03d: %s' % (i, 'v' * max(1, size - 9)) for i in range(n)]


@test('100 headers of 100 bytes (> 8 KiB) -> 431 and close')
def big_header_block():
    expect_reject(P, req('GET', '/a.txt', headers=hdrs(100, 100)), 431)


@test('20 headers of 500 bytes (> 8 KiB, few fields) -> 431 and close')
def big_header_block_few():
    expect_reject(P, req('GET', '/a.txt', headers=hdrs(20, 500)), 431)


@test('one 9000-byte header -> 431 and close')
def one_big_header():
    expect_reject(P, req('GET', '/a.txt', headers=[('X-Big', 'b' * 9000)]), 431)


@test('URI over 8 KiB -> 414 and close')
def long_uri():
    expect_reject(P, req('GET', '/' + 'a' * 9000), 414)


@test('URI just under the limit (7000 bytes) -> 404')
def long_uri_ok():
    with Client(P) as c:
        c.send(req('GET', '/' + 'a' * 7000))
        expect(c.read_response(), 404)
        served_after(c)


@test('101 header fields (Host + 100, < 8 KiB) -> 431 and close')
def too_many_headers():
    raw = req('GET', '/a.txt', headers=hdrs(100, 12))
    check(len(raw) < 8192, 'test bug: request is %d bytes' % len(raw))
    expect_reject(P, raw, 431)


@test('exactly 100 header fields (Host + 99) -> 200')
def hundred_headers():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=hdrs(99, 12)))
        expect(c.read_response(), 200, body=A)
        served_after(c)


def body_sender(c, data):
    def run_():
        try:
            c.sock.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=run_, daemon=True)
    t.start()
    return t


@test('Content-Length above --max-body-size (headers only) -> 413 and close')
def too_big_cl_nobody():
    expect_reject(P, req('GET', '/a.txt', headers=[('Content-Length', str(MAX_BODY + 1))]), 413)


@test('Content-Length above --max-body-size with the body sent -> 413 readable (lingering close)')
def too_big_cl_body():
    n = 300000
    with Client(P) as c:
        t = body_sender(c, req('GET', '/a.txt', headers=[('Content-Length', str(n))]) +
                        os.urandom(n))
        r = c.read_response()
        expect(r, 413)
        check(r.closes(), 'no Connection: close')
        try:
            c.read_to_eof()
        except socket.timeout:
            raise AssertionError('connection still open 5 s after a 413')
        t.join(5)


@test('chunked body above --max-body-size -> 413 and close')
def too_big_chunked():
    chunk = b'%x\r\n%s\r\n' % (1000, b'c' * 1000)
    body = chunk * 6 + b'0\r\n\r\n'
    with Client(P) as c:
        t = body_sender(c, req('GET', '/a.txt', headers=[('Transfer-Encoding', 'chunked')]) + body)
        r = c.read_response()
        expect(r, 413)
        check(r.closes(), 'no Connection: close')
        c.read_to_eof()
        t.join(5)


@test('body of exactly --max-body-size is accepted')
def body_at_limit():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=[('Content-Length', str(MAX_BODY))]) +
               b'x' * MAX_BODY)
        expect(c.read_response(), 200, body=A)
        served_after(c)


# ---- bodies are read and discarded -------------------------------------------

BODY_CASES = [
    ('GET with Content-Length: 10', 'GET', [('Content-Length', '10')], b'0123456789', 200),
    ('POST with Content-Length: 10', 'POST', [('Content-Length', '10')], b'0123456789', 405),
    ('GET with a chunked body', 'GET', [('Transfer-Encoding', 'chunked')],
     b'5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n', 200),
    ('GET chunked with a trailer', 'GET', [('Transfer-Encoding', 'chunked')],
     b'3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n', 200),
    ('POST with a chunked body', 'POST', [('Transfer-Encoding', 'chunked')],
     b'A\r\n0123456789\r\n0\r\n\r\n', 405),
    ('GET body that looks like a request', 'GET', [('Content-Length', '32')],
     b'GET /secret HTTP/1.1\r\nHost: x\r\n\r\n'[:32], 200),
]


def body_case(method, headers, body, status):
    with Client(P) as c:
        # A body that is a request itself must not be answered as one.
        c.send(req(method, '/a.txt', headers=headers) + body + req('GET', '/index.html'))
        r = c.read_response()
        expect(r, status, body=A if status == 200 else None)
        expect(c.read_response(), 200, body=FILES['index.html'])
        served_after(c)


for name, m, h, b, s in BODY_CASES:
    add_case('%s -> %d, then the next request on the socket' % (name, s), body_case, m, h, b, s)


@test('Expect: 100-continue on GET: 100 Continue first, 200 after the body')
def expect_continue():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=[('Content-Length', '10'),
                                             ('Expect', '100-continue')]))
        r = c.read_response()
        eq(r.head, b'HTTP/1.1 100 Continue\r\n\r\n', 'interim response')
        c.send(b'0123456789')
        expect(c.read_response(), 200, body=A)
        served_after(c)


@test('Expect: 100-continue on POST: 405 at once, no 100, then close')
def expect_continue_405():
    with Client(P) as c:
        c.send(req('POST', '/a.txt', headers=[('Content-Length', '100'),
                                              ('Expect', '100-continue')]))
        r = c.read_response(timeout=3)
        expect(r, 405, allow=ALLOW)
        check(r.closes(), 'no Connection: close')
        c.expect_closed()


@test('Expect: something -> 417')
def expect_unknown():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=[('Expect', 'something')]))
        r = c.read_response()
        expect(r, 417)
        if not r.closes():
            served_after(c)


@test('Expect: 100-continue twice on one connection: 100 Continue both times')
def expect_continue_twice():
    with Client(P) as c:
        for _ in range(2):
            c.send(req('GET', '/a.txt', headers=[('Content-Length', '5'),
                                                 ('Expect', '100-continue')]))
            r = c.read_response(timeout=2)
            eq(r.head, b'HTTP/1.1 100 Continue\r\n\r\n', 'interim response')
            c.send(b'hello')
            expect(c.read_response(), 200, body=A)


@test('Expect: 100-continue with trailing whitespace is still understood')
def expect_continue_ows():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=['Content-Length: 3', 'Expect: 100-continue \t']))
        eq(c.read_response(timeout=2).head, b'HTTP/1.1 100 Continue\r\n\r\n', 'interim')
        c.send(b'abc')
        expect(c.read_response(), 200, body=A)


@test('Host with trailing whitespace is valid (OWS is not part of the value)')
def host_ows():
    expect(exchange(P, req('GET', '/a.txt', host='127.0.0.1 ')), 200, body=A)


@test('chunked body with a trailer split across two writes -> 200, then next request')
def trailer_split():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', headers=[('Transfer-Encoding', 'chunked')]) +
               b'0\r\nX-Trailer: a')
        time.sleep(0.2)
        c.send(b'bcdefgh\r\n\r\n')
        expect(c.read_response(), 200, body=A)
        served_after(c)


@test('HTTP/1.0 with Transfer-Encoding is answered, then closed (RFC 9112 6.1)')
def http10_chunked():
    with Client(P) as c:
        c.send(req('GET', '/a.txt', version='HTTP/1.0',
                   headers=[('Connection', 'keep-alive'), ('Transfer-Encoding', 'chunked')]) +
               b'0\r\n\r\n')
        r = expect(c.read_response(), 200, body=A)
        check(r.closes(), 'no Connection: close: %r' % r.head)
        c.expect_closed()


@test('a transfer coding other than chunked -> 501')
def te_unknown():
    expect_reject(P, req('GET', '/a.txt', headers=[('Transfer-Encoding', 'gzip, chunked')]) +
                  b'0\r\n\r\n', 501)


@test('HTTP/1.2 is answered as HTTP/1.1 (RFC 9110 2.5), and logged as HTTP/1.2')
def http12():
    log = os.path.join(mkdtemp(), 'access.log')
    s = start_server(ROOT, '--access-log', log, workers=1)
    try:
        with Client(s.port) as c:
            c.send(req('GET', '/a.txt', version='HTTP/1.2') + req('GET', '/a.txt'))
            r = expect(c.read_response(), 200, body=A)
            eq(r.version, 'HTTP/1.1', 'the version answered')
            expect(c.read_response(), 200, body=A)
        deadline = time.monotonic() + 3  # the worker writes its line after the response
        while (not os.path.exists(log) or open(log).read().count('\n') < 2) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        lines = open(log).read().splitlines()
        check(len(lines) == 2 and '"GET /a.txt HTTP/1.2"' in lines[0]
              and '"GET /a.txt HTTP/1.1"' in lines[1], 'access log %r' % lines)
    finally:
        s.stop()


@test('a fragment in the request target -> 400')
def fragment():
    expect_reject(P, req('GET', '/a.txt#top'), 400)


@test('a redirect whose Location would not fit -> 414, pipelined request still framed')
def long_location():
    with Client(P) as c:
        c.send(req('GET', '/' + DEEP + '?' + 'q' * 4000) + req('GET', '/a.txt'))
        r = c.read_response()
        check(r.status in (414,), 'status: want 414, got %r' % r)
        check_common(r)
        if not r.closes():
            expect(c.read_response(), 200, body=A)


@test('worker still serves after all rejections')
def still_serving():
    try:
        expect(exchange(P, req('GET', '/a.txt')), 200, body=A)
    except Closed as e:
        raise AssertionError(str(e))
    check(srv.alive(), 'server died')


run()
