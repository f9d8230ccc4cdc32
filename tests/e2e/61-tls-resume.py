#!/usr/bin/env python3
"""HTTPS session resumption across pre-forked workers (TLS 1.2 and 1.3, openssl
s_client and Python ssl), and handshakes that stall: they cost other clients
nothing and are closed by the header timeout (--header-timeout 1)."""

import os
import socket
import ssl
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (LazyServers, HOST, PKI, Closed, ManualHandshake, Server, StartError,  # noqa: E402
                          TLSClient, add_case, check, check_common, client_context,
                          client_hello, closed_within, eq, expect, new_root, only_worker,
                          req, require_binary, require_openssl, run, s_client,
                          set_script_timeout, test, tls_serving_worker)

require_openssl()
require_binary()
set_script_timeout(150)

FILES = {'a.txt': b'file a\n', 'index.html': b'<!doctype html><title>r</title>\n'}
PARENT, ROOT = new_root(FILES)
A = FILES['a.txt']
CERTS = os.path.join(PARENT, 'certs')
os.mkdir(CERTS)
pki = PKI(CERTS)
CERT, KEY = pki.leaf('ec', ['DNS:localhost', 'IP:127.0.0.1'], kind='ec')
RSA_CERT, RSA_KEY = pki.leaf('rsa', ['DNS:localhost', 'IP:127.0.0.1'], kind='rsa')

SERVERS = {
    'resume': (['--tls-cert', CERT, '--tls-key', KEY], {'workers': 2}),
    # a second, independent server with the same certificate
    'other': (['--tls-cert', CERT, '--tls-key', KEY], {'workers': 1}),
    'rsa': (['--tls-cert', RSA_CERT, '--tls-key', RSA_KEY], {'workers': 2}),
    # one worker: a handshake that blocked it would delay everyone
    'stall': (['--tls-cert', CERT, '--tls-key', KEY],
              {'workers': 1, 'header_timeout': 1, 'keepalive_timeout': 1}),
}
_servers = LazyServers(ROOT, SERVERS, common=['--tls-port', '0'])


def server(name):
    return _servers.get(name)


def two_workers(s):
    pids = sorted(s.wait_workers(2))
    check(len(pids) == 2, 'want 2 workers, found %r' % pids)
    return pids


REQUEST = b'GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'

# ---- resumption with openssl s_client ---------------------------------------------------


def sclient_resume(name, proto):
    """Save a session from worker 1, then resume it 10 times on worker 2
    only and 10 times on worker 1 only: Reused every time."""
    s = server(name)
    w1, w2 = two_workers(s)
    sess = os.path.join(PARENT, 'sess-%s%s.pem' % (name, proto))
    with only_worker(s, w1):
        # read the whole response so a TLS 1.3 NewSessionTicket has arrived
        r = s_client(s.tls_port, proto, '-sess_out', sess, '-ign_eof', input=REQUEST)
    check(r.ok and not r.reused, 'first handshake: %s' % r.summary())
    check(A in r.text.encode(), 'the response body did not arrive: %s' % r.summary())
    check(os.path.isfile(sess) and os.path.getsize(sess) > 0, 'no session saved')
    bad = []
    for worker in (w2, w1):
        with only_worker(s, worker):
            for i in range(10):
                r = s_client(s.tls_port, proto, '-sess_in', sess)
                if not (r.ok and r.reused):
                    bad.append('worker %d, connection %d: %s' % (worker, i + 1, r.summary()))
    check(not bad, '%d of 20 not resumed; first: %s' % (len(bad), bad[:1]))


add_case('s_client TLS 1.3: session from worker 1 resumed 20/20 (10 on worker 2, 10 on 1)',
         sclient_resume, 'resume', '-tls1_3')
add_case('s_client TLS 1.2: session from worker 1 resumed 20/20 (10 on worker 2, 10 on 1)',
         sclient_resume, 'resume', '-tls1_2')
add_case('s_client TLS 1.3 with an RSA certificate: resumed 20/20 across workers',
         sclient_resume, 'rsa', '-tls1_3')


@test('s_client TLS 1.3: 20 resumptions with both workers running are all Reused')
def sclient_free():
    s = server('resume')
    sess = os.path.join(PARENT, 'sess-free.pem')
    r = s_client(s.tls_port, '-tls1_3', '-sess_out', sess, '-ign_eof', input=REQUEST)
    check(r.ok, 'first handshake: %s' % r.summary())
    bad = []
    for i in range(20):
        r = s_client(s.tls_port, '-tls1_3', '-sess_in', sess)
        if not (r.ok and r.reused):
            bad.append('connection %d: %s' % (i + 1, r.summary()))
    check(not bad, '%d of 20 not resumed; first: %s' % (len(bad), bad[:1]))


def sclient_foreign(proto):
    """A session issued by another portico process (same certificate) is not
    resumed: the ticket keys are made per server, not fixed."""
    s, other = server('resume'), server('other')
    sess = os.path.join(PARENT, 'sess-foreign%s.pem' % proto)
    r = s_client(s.tls_port, proto, '-sess_out', sess, '-ign_eof', input=REQUEST)
    check(r.ok, 'first handshake: %s' % r.summary())
    r = s_client(s.tls_port, proto, '-sess_in', sess)
    check(r.ok and r.reused, 'not resumed on its own server: %s' % r.summary())
    r = s_client(other.tls_port, proto, '-sess_in', sess)
    check(r.ok, 'handshake with a foreign session failed: %s' % r.summary())
    check(not r.reused, 'a session from another server process was resumed: %s' % r.summary())


add_case('TLS 1.3 session from another server process -> full handshake (New)',
         sclient_foreign, '-tls1_3')
add_case('TLS 1.2 session from another server process -> full handshake (New)',
         sclient_foreign, '-tls1_2')

# ---- resumption with Python ssl -----------------------------------------------------------


def py_context(version):
    ctx = client_context()
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def py_session(s, ctx, worker):
    """A session from a full handshake served by WORKER."""
    with only_worker(s, worker):
        with TLSClient(s.tls_port, context=ctx) as c:
            who = tls_serving_worker(s, c.sock)
            c.send(REQUEST)
            expect(c.read_response(), 200, body=A)
            c.read_to_eof()            # the 1.3 ticket arrives with the data
            check(not c.sock.session_reused, 'the first handshake was a resumption')
            sess = c.sock.session
    check(who in (worker, None), 'first connection served by %r, not %d' % (who, worker))
    check(sess is not None and sess.has_ticket, 'no session ticket received: %r' % sess)
    return sess


def py_resume(version):
    s = server('resume')
    w1, w2 = two_workers(s)
    ctx = py_context(version)
    sess = py_session(s, ctx, w1)
    served = []
    for worker in (w2, w1, w2):
        with only_worker(s, worker):
            for _ in range(3):
                with TLSClient(s.tls_port, context=ctx, session=sess) as c:
                    served.append(tls_serving_worker(s, c.sock))
                    check(c.sock.session_reused, 'not resumed on worker %d' % worker)
                    c.send(req('GET', '/a.txt'))
                    expect(c.read_response(), 200, body=A)
    want = [w2] * 3 + [w1] * 3 + [w2] * 3
    check(served == want or None in served, 'serving workers %r, want %r' % (served, want))


add_case('Python ssl TLS 1.3: session from worker 1 resumed on worker 2 and 1 (session_reused)',
         py_resume, ssl.TLSVersion.TLSv1_3)
add_case('Python ssl TLS 1.2: session from worker 1 resumed on worker 2 and 1 (session_reused)',
         py_resume, ssl.TLSVersion.TLSv1_2)

# ---- handshakes that stall ---------------------------------------------------------------------

FAST = 0.5     # another client's whole HTTPS request must take less than this
BOUND = 3.0    # a stalled connection is closed within this (--header-timeout 1)


def timed_request(port):
    t0 = time.monotonic()
    try:
        with TLSClient(port, timeout=FAST * 4) as c:
            c.send(req('GET', '/a.txt'))
            r = c.read_response()
    except (socket.timeout, TimeoutError) as e:
        raise AssertionError('another client\'s HTTPS request did not complete within %.1f s '
                             '(%s)' % (FAST * 4, e))
    took = time.monotonic() - t0
    expect(r, 200, body=A)
    check(took < FAST, 'another client\'s HTTPS request took %.2f s' % took)
    return took


def stall_case(setup):
    """SETUP(port) opens a stalled connection and returns its socket; another
    client is served fast while it stalls; it is closed within BOUND."""
    s = server('stall')
    t0 = time.monotonic()
    sock = setup(s.tls_port)
    try:
        time.sleep(0.1)
        timed_request(s.tls_port)
        took, _ = closed_within(sock, BOUND - (time.monotonic() - t0))
    finally:
        sock.close()
    return time.monotonic() - t0


def half_hello(port):
    hello = client_hello()
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(hello[:len(hello) // 2])
    return sock


def just_header(port):
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(client_hello()[:3])
    return sock


def silent(port):
    return socket.create_connection((HOST, port), timeout=5)


def record_short(port):
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(b'\x16\x03\x01\x40\x00' + b'\x01\x00\x3f\xfc\x03\x03')
    return sock


def no_finished(version):
    def setup(port):
        ctx = client_context()
        ctx.maximum_version = version
        h = ManualHandshake(port, context=ctx)
        h.step()
        h.sock.sendall(h.pending())
        # read the server's flight (for 1.2 up to ServerHelloDone) and stop there
        deadline = time.monotonic() + 2
        got = b''
        while time.monotonic() < deadline:
            data = h.recv_some(timeout=max(0.05, deadline - time.monotonic()))
            if not data:
                raise Closed('closed during the handshake')
            got += data
            if h.step():
                break
            if h.bio_out.pending:
                break
        check(h.bio_out.pending, 'the client has nothing to answer (server flight %d bytes)'
              % len(got))
        return h.sock            # the client's answer is never sent
    return setup


STALLS = [
    ('silent TCP connection to the TLS port', silent),
    ('5 bytes of a record header, then nothing', just_header),
    ('half a ClientHello, then nothing', half_hello),
    ('a record header announcing 16 KiB, 6 bytes sent', record_short),
    ('TLS 1.3: ClientHello, server flight read, no client Finished',
     no_finished(ssl.TLSVersion.TLSv1_3)),
    ('TLS 1.2: ClientHello, server flight read, no ClientKeyExchange',
     no_finished(ssl.TLSVersion.TLSv1_2)),
]
for _n, _setup in STALLS:
    add_case('stalled handshake (%s): another HTTPS request < %.1f s; closed within %.0f s'
             % (_n, FAST, BOUND), stall_case, _setup)


@test('50 stalled half-ClientHellos at once: another HTTPS request < 0.5 s; all closed within 3 s')
def many_stalls():
    s = server('stall')
    t0 = time.monotonic()
    socks = []
    try:
        for _ in range(50):
            socks.append(half_hello(s.tls_port))
        time.sleep(0.1)
        timed_request(s.tls_port)
        still = []
        for i, sock in enumerate(socks):
            try:
                closed_within(sock, max(0.1, BOUND + 0.5 - (time.monotonic() - t0)))
            except AssertionError:
                still.append(i)
        check(not still, '%d of 50 stalled connections still open after %.1f s'
              % (len(still), time.monotonic() - t0))
    finally:
        for sock in socks:
            sock.close()


@test('ClientHello in 3 pieces 0.3 s apart: the handshake completes and a request is served')
def slow_hello():
    s = server('stall')
    h = ManualHandshake(s.tls_port)
    with h:
        h.step()
        hello = h.pending()
        n = len(hello) // 3
        for piece in (hello[:n], hello[n:2 * n]):
            h.sock.sendall(piece)
            time.sleep(0.3)
        h.sock.sendall(hello[2 * n:])
        h.finish(timeout=3)
        # the request over the memory BIO
        h.obj.write(req('GET', '/a.txt'))
        h.sock.sendall(h.pending())
        got = b''
        deadline = time.monotonic() + 3
        while b'\r\n\r\n' not in got or not got.endswith(A):
            check(time.monotonic() < deadline, 'no full response: %r' % got[:200])
            try:
                got += h.obj.read(65536)
            except ssl.SSLWantReadError:
                check(h.recv_some(timeout=max(0.05, deadline - time.monotonic())),
                      'closed before the response (have %r)' % got[:200])
        check(got.startswith(b'HTTP/1.1 200 '), 'response %r' % got[:100])


@test('TLS connection with a finished handshake and no request: closed within 3 s')
def idle_after_handshake():
    s = server('stall')
    with TLSClient(s.tls_port) as c:
        t0 = time.monotonic()
        c.expect_open(0.3)
        try:
            rest = c.read_to_eof(timeout=BOUND)
        except socket.timeout:
            raise AssertionError('still open after %.1f s' % (time.monotonic() - t0))
        check(rest == b'' or rest.startswith(b'HTTP/1.1 408 '), 'got %r' % rest[:200])


@test('TLS connection with half a request head: 408 or close within 3 s')
def partial_head():
    s = server('stall')
    with TLSClient(s.tls_port) as c:
        c.send(b'GET /a.txt HTTP/1.1\r\nHost: localhost\r\n')
        t0 = time.monotonic()
        try:
            r = c.read_response(timeout=BOUND)
        except Closed:
            return
        except socket.timeout:
            raise AssertionError('still open after %.1f s' % (time.monotonic() - t0))
        eq(r.status, 408, 'status')
        check_common(r)
        c.expect_closed(timeout=1)


@test('idle keep-alive TLS connection is closed after ~1 s (--keepalive-timeout 1)')
def keepalive_timeout():
    s = server('stall')
    with TLSClient(s.tls_port) as c:
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
        time.sleep(0.3)
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
        t0 = time.monotonic()
        try:
            rest = c.read_to_eof(timeout=BOUND)
        except socket.timeout:
            raise AssertionError('idle keep-alive TLS connection open after %.1f s' % BOUND)
        eq(rest, b'', 'bytes on an idle connection')
        check(time.monotonic() - t0 > 0.3, 'closed at once, not after the timeout')


@test('a stalled handshake on the TLS port does not delay a plain HTTP request')
def stall_plain():
    s = server('stall')
    sock = half_hello(s.tls_port)
    try:
        time.sleep(0.1)
        t0 = time.monotonic()
        with socket.create_connection((HOST, s.port), timeout=2) as c:
            c.sendall(req('GET', '/a.txt', headers=[('Connection', 'close')]))
            _, data = closed_within(c, 2)
        took = time.monotonic() - t0
        check(data.startswith(b'HTTP/1.1 200 ') and data.endswith(A), 'response %r' % data[:100])
        check(took < FAST, 'plain request took %.2f s' % took)
    finally:
        sock.close()


@test('concurrent full handshakes from 16 threads all succeed (one worker)')
def concurrent_handshakes():
    s = server('stall')
    results = [None] * 16

    def one(i):
        try:
            with TLSClient(s.tls_port, timeout=5) as c:
                c.send(req('GET', '/a.txt'))
                r = c.read_response()
                results[i] = 'ok' if r.status == 200 and r.body == A else repr(r)
        except Exception as e:  # noqa: BLE001
            results[i] = '%s: %s' % (type(e).__name__, e)
    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    bad = [(i, r) for i, r in enumerate(results) if r != 'ok']
    check(not bad, 'failed: %r' % bad)


run()
