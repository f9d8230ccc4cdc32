#!/usr/bin/env python3
"""Behind a load balancer: the PROXY protocol (v1 and v2, split headers, bad
headers, untrusted peers, the header timeout, the SSL TLV, PROXY before TLS),
X-Forwarded-For and Forwarded from trusted proxies, --health and the drain of a
graceful stop (SIGQUIT), --metrics (counts across workers, reloads and worker
restarts; who may read them), --max-connections-per-ip (with and without PROXY)
and the JSON access log."""

import json
import os
import re
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, Client, Closed, LazyServers, ManualHandshake,  # noqa: E402
                          Server, SessionReader, TLSClient, add_case, check, client_context,
                          client_hello, closed_within, eq, expect, new_root, pinned_get,
                          process_alive, req, require_binary, run, set_script_timeout, test,
                          tls_exchange, wait_until, worker_pids)

require_binary()
set_script_timeout(120)   # a dozen servers, a drain of 3 s and two header timeouts

FILES = {
    'index.html': b'<!doctype html><title>lb</title><p>behind a balancer</p>\n',
    'a.txt': b'file a\n',
    'b.txt': b'file b, somewhat longer than a\n',
}
PARENT, ROOT = new_root(FILES)
A = FILES['a.txt']
INDEX = FILES['index.html']


def log_path(name):
    return os.path.join(PARENT, name + '.log')


PROXY_LOG = log_path('proxy')
XFF_LOG = log_path('xff')
FWD_LOG = log_path('fwd')
PLAIN_LOG = log_path('plain')
HTTPS_LOG = log_path('https')
TRUST_LB = ['--trusted-proxy', '127.0.0.0/8']
JSON = ['--log-format', 'json']

SERVERS = LazyServers(ROOT, {
    # a PROXY listener: a long header timeout, so that "closed at once" and "closed by
    # the timeout" cannot be confused
    'proxy': (['--proxy-protocol'] + TRUST_LB + JSON +
              ['--access-log', PROXY_LOG, '--metrics', '/metrics'],
              {'header_timeout': 10, 'keepalive_timeout': 10}),
    'proxy-t2': (['--proxy-protocol'] + TRUST_LB, {'header_timeout': 2}),
    'untrusted': (['--proxy-protocol', '--trusted-proxy', '10.0.0.0/8'], {'header_timeout': 10}),
    # the PROXY header on the plain listener only; --redirect-https shows whether a
    # request counts as https
    'tls-proxy-http': (['--tls', '--tls-port', '0', '--proxy-protocol=http', '--hsts', '60',
                        '--redirect-https'] + TRUST_LB, {'header_timeout': 10}),
    'tls-proxy-https': (['--tls', '--tls-port', '0', '--proxy-protocol=https'] + TRUST_LB + JSON +
                        ['--access-log', HTTPS_LOG], {'header_timeout': 10}),
    'xff': (TRUST_LB + ['--trusted-proxy', '10.0.0.0/8'] + JSON + ['--access-log', XFF_LOG], {}),
    'fwd': (TRUST_LB + ['--trusted-proxy', '10.0.0.0/8', '--forwarded-header', 'forwarded'] +
            JSON + ['--access-log', FWD_LOG], {}),
    'plain': (JSON + ['--access-log', PLAIN_LOG, '--metrics', '/metrics'], {}),
    'health': (['--health', '/healthz', '--tls', '--tls-port', '0', '--redirect-https'], {}),
    'metrics': (['--metrics', '/metrics', '--tls', '--tls-port', '0'], {'keepalive_timeout': 10}),
    'metrics-deny': (['--metrics', '/metrics', '--metrics-allow', '10.0.0.0/8'], {}),
    'per-ip': (['--max-connections-per-ip', '3'], {'keepalive_timeout': 20}),
    'per-ip-proxy': (['--proxy-protocol', '--max-connections-per-ip', '2'] + TRUST_LB,
                     {'keepalive_timeout': 20, 'header_timeout': 20}),
})


def server(name):
    return SERVERS.get(name)


# ---- PROXY headers ---------------------------------------------------------------

V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'
PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP, PP2_TYPE_UNIQUE_ID = 0x02, 0x04, 0x05
PP2_TYPE_SSL, PP2_SUBTYPE_SSL_VERSION, PP2_CLIENT_SSL = 0x20, 0x21, 0x01


def v1(src, dst='127.0.0.1', sport=56324, dport=80, proto=None):
    proto = proto or ('TCP6' if ':' in src else 'TCP4')
    return ('PROXY %s %s %s %d %d\r\n' % (proto, src, dst, sport, dport)).encode()


def tlv(kind, value):
    return struct.pack('!BH', kind, len(value)) + value


def ssl_tlv(client=PP2_CLIENT_SSL, version=None):
    """PP2_TYPE_SSL: client bits, verify (0: a verified client certificate or
    none), optionally the PP2_SUBTYPE_SSL_VERSION sub-TLV HAProxy adds."""
    value = struct.pack('!BI', client, 0)
    if version is not None:
        value += tlv(PP2_SUBTYPE_SSL_VERSION, version.encode())
    return tlv(PP2_TYPE_SSL, value)


def v2(src=None, dst=None, sport=56324, dport=80, command=0x21, tlvs=b'', length=None,
       version=0x20):
    """A version 2 header: PROXY (0x21) or LOCAL (0x20) with the addresses of
    SRC and DST (IPv4 or IPv6; none: AF_UNSPEC), then TLVS."""
    if src is None:
        fam, addrs = 0x00, b''
    elif ':' in src:
        fam = 0x21
        addrs = (socket.inet_pton(socket.AF_INET6, src) +
                 socket.inet_pton(socket.AF_INET6, dst or '::1') + struct.pack('!HH', sport, dport))
    else:
        fam = 0x11
        addrs = (socket.inet_pton(socket.AF_INET, src) +
                 socket.inet_pton(socket.AF_INET, dst or '127.0.0.1') +
                 struct.pack('!HH', sport, dport))
    body = addrs + tlvs
    return V2_SIG + struct.pack('!BBH', version | (command & 0x0f),
                                fam, len(body) if length is None else length) + body


def marked(tag, **kw):
    """A GET of /a.txt?TAG that closes the connection: TAG finds its log line."""
    headers = list(kw.pop('headers', [])) + [('Connection', 'close')]
    return req('GET', '/a.txt?' + tag, headers=headers, **kw)


def send_quietly(sock, data):
    """Send DATA; a server that already closed is what some cases expect."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def exchange_pieces(port, pieces, pause=0.0, method='GET'):
    """Send PIECES on one new connection, PAUSE seconds apart, and read one
    response; the connection must then close (the requests ask for it)."""
    with Client(port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, p in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            c.send(p)
        r = c.read_response(method)
        c.expect_closed()
        return r


def expect_silent_close(port, data, bound=5.0, what='connection'):
    """Send DATA on a new connection: the server closes it (EOF or reset) within
    BOUND seconds, sending nothing at all. Returns the seconds it took."""
    s = socket.create_connection((HOST, port), timeout=bound)
    try:
        send_quietly(s, data)
        try:
            secs, got = closed_within(s, bound)
        except AssertionError as e:
            raise AssertionError('%s: %s' % (what, e))
        eq(got, b'', '%s: bytes sent before the close' % what)
        return secs
    finally:
        s.close()


def log_lines(path):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return []
    return [ln for ln in data.split(b'\n') if ln]


def log_entry(path, tag, timeout=3.0):
    """The JSON access-log line of the request whose target ends with ?TAG, parsed."""
    want = ('?%s"' % tag).encode()
    found = wait_until(lambda: [ln for ln in log_lines(path) if want in ln], timeout)
    check(found, 'no access-log line for ?%s in %s (last lines %r)'
          % (tag, os.path.basename(path), log_lines(path)[-3:]))
    eq(len(found), 1, 'access-log lines for ?%s' % tag)
    return json.loads(found[0].decode('utf-8'))


def logged_client(path, tag):
    return log_entry(path, tag)['client']


# ---- PROXY protocol: valid headers -------------------------------------------------

def proxied_client(tag, header, want_client):
    s = server('proxy')
    r = exchange_pieces(s.port, [header + marked(tag)])
    expect(r, 200, body=A)
    eq(logged_client(PROXY_LOG, tag), want_client, 'client in the access log')


for _tag, _name, _hdr, _client in [
    ('v1-tcp4', 'v1 TCP4', v1('203.0.113.9'), '203.0.113.9'),
    ('v1-tcp6', 'v1 TCP6', v1('2001:db8::9', '2001:db8::80', 443, 8443), '2001:db8::9'),
    ('v1-unknown', 'v1 UNKNOWN (the peer stands)', b'PROXY UNKNOWN\r\n', '127.0.0.1'),
    ('v1-unknown-addr', 'v1 UNKNOWN with addresses (ignored)',
     b'PROXY UNKNOWN 203.0.113.1 127.0.0.1 1000 80\r\n', '127.0.0.1'),
    ('v1-max', 'v1 TCP6 of the longest form (107 bytes)',
     v1('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe',
        65535, 65535), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'),
    ('v2-ipv4', 'v2 PROXY IPv4', v2('203.0.113.10'), '203.0.113.10'),
    ('v2-ipv6', 'v2 PROXY IPv6', v2('2001:db8::a', '2001:db8::1', 40000, 443), '2001:db8::a'),
    ('v2-tlvs', 'v2 PROXY IPv4 with AUTHORITY, UNIQUE_ID and NOOP TLVs (skipped)',
     v2('203.0.113.11', tlvs=tlv(PP2_TYPE_AUTHORITY, b'www.example.com') +
        tlv(PP2_TYPE_UNIQUE_ID, os.urandom(32)) + tlv(PP2_TYPE_NOOP, b'\0' * 7)), '203.0.113.11'),
    ('v2-local', 'v2 LOCAL (a health check of the balancer: the peer stands)',
     v2(command=0x20), '127.0.0.1'),
    ('v2-local-addr', 'v2 LOCAL with an IPv4 address block (ignored)',
     v2('203.0.113.12', command=0x20), '127.0.0.1'),
    ('v2-unspec', 'v2 PROXY with AF_UNSPEC (the peer stands)', v2(), '127.0.0.1'),
]:
    add_case('PROXY %s header and a request in one send -> 200, the access log names %s'
             % (_name, _client), proxied_client, _tag, _hdr, _client)


@test('PROXY v1: every request of the connection is logged with the header\'s client '
      '(keep-alive, pipelined)')
def proxy_keepalive():
    s = server('proxy')
    with Client(s.port) as c:
        c.send(v1('203.0.113.21') + req('GET', '/a.txt?ka-1') + req('GET', '/b.txt?ka-2'))
        expect(c.read_response(), 200, body=A)
        expect(c.read_response(), 200, body=FILES['b.txt'])
        c.send(req('GET', '/a.txt?ka-3', headers=[('Connection', 'close')]))
        expect(c.read_response(), 200, body=A)
        c.expect_closed()
    for tag in ('ka-1', 'ka-2', 'ka-3'):
        eq(logged_client(PROXY_LOG, tag), '203.0.113.21', 'client of ?%s' % tag)


def split_header(tag, header, cuts):
    s = server('proxy')
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(header[last:cut])
        last = cut
    pieces.append(header[last:] + marked(tag))
    r = exchange_pieces(s.port, pieces, pause=0.2)
    expect(r, 200, body=A)
    return logged_client(PROXY_LOG, tag)


@test('PROXY v1 header in 3 pieces 0.2 s apart (the last with the request) -> served')
def split_v1():
    eq(split_header('split-v1', v1('203.0.113.31'), [4, 17]), '203.0.113.31', 'client')


@test('PROXY v2 header in 3 pieces 0.2 s apart, cut inside the signature and the addresses '
      '-> served')
def split_v2():
    eq(split_header('split-v2', v2('203.0.113.32'), [5, 20]), '203.0.113.32', 'client')


def header_then_request(tag, header, client):
    s = server('proxy')
    r = exchange_pieces(s.port, [header, marked(tag)], pause=0.5)
    expect(r, 200, body=A)
    eq(logged_client(PROXY_LOG, tag), client, 'client')


add_case('PROXY v1 header, then the request 0.5 s later -> served', header_then_request,
         'later-v1', v1('203.0.113.33'), '203.0.113.33')
add_case('PROXY v2 header, then the request 0.5 s later -> served', header_then_request,
         'later-v2', v2('2001:db8::33'), '2001:db8::33')


# ---- PROXY protocol: what is closed on, with nothing sent ----------------------------

def silent_close(data):
    s = server('proxy')
    # the header timeout is 10 s: a close within 5 s is the parser's verdict
    expect_silent_close(s.port, data, bound=5.0)
    # and the listener still serves a good one
    expect(exchange_pieces(s.port, [v1('203.0.113.40') + marked('after-bad')]), 200, body=A)


REQ = req('GET', '/a.txt')
_v2ok = v2('203.0.113.41')
for _name, _data in [
    ('a v2 header with a bad signature', b'\r\n\r\n\x00\r\nQUIX\n' + _v2ok[12:] + REQ),
    ('"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80" (port out of range)',
     b'PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n' + REQ),
    ('PROXY TCP4 with IPv6 addresses', b'PROXY TCP4 2001:db8::1 2001:db8::2 1000 80\r\n' + REQ),
    ('PROXY TCP6 with IPv4 addresses', b'PROXY TCP6 1.2.3.4 5.6.7.8 1000 80\r\n' + REQ),
    ('PROXY TCP4 with a bad address (1.2.3.256)',
     b'PROXY TCP4 1.2.3.256 5.6.7.8 1000 80\r\n' + REQ),
    ('PROXY UDP4 (an unknown protocol)', b'PROXY UDP4 1.2.3.4 5.6.7.8 1000 80\r\n' + REQ),
    ('a v1 line of 120 bytes without its end', b'PROXY TCP4 ' + b'1' * 109),
    ('a plain "GET / HTTP/1.1" without a header', REQ),
    ('a lower-case "proxy tcp4 ..."', b'proxy tcp4 1.2.3.4 5.6.7.8 1000 80\r\n' + REQ),
    ('a v2 header of version 1 (0x11)', v2('203.0.113.41', version=0x10) + REQ),
    ('a v2 header with command 0x2', v2('203.0.113.41', command=0x22) + REQ),
    ('a v2 TCP4 header whose length is shorter than the addresses',
     v2('203.0.113.41', length=4)[:20] + REQ),
    ('a v2 header announcing 65535 bytes (oversized)',
     V2_SIG + struct.pack('!BBH', 0x21, 0x11, 0xffff) + b'\0' * 200),
    ('a TLS ClientHello instead of a header', b'\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03'
     + os.urandom(100)),
]:
    add_case('PROXY listener: %s -> closed at once, nothing sent' % _name, silent_close, _data)


@test('PROXY listener, nothing sent: closed by the header timeout (2 s), nothing sent')
def proxy_missing():
    s = server('proxy-t2')
    c = socket.create_connection((HOST, s.port), timeout=10)
    try:
        secs, got = closed_within(c, 8)
    finally:
        c.close()
    eq(got, b'', 'bytes sent before the close')
    # the deadline starts when the kernel hands the connection over (with its first
    # bytes or about a second after the handshake: TCP_DEFER_ACCEPT); not before 2 s
    check(secs >= 1.5, 'closed after %.2f s, before the 2 s header timeout' % secs)


@test('PROXY listener, half a header then nothing: closed by the header timeout, nothing sent')
def proxy_partial():
    s = server('proxy-t2')
    c = socket.create_connection((HOST, s.port), timeout=10)
    try:
        c.sendall(b'PROXY TCP4 203.0.')
        secs, got = closed_within(c, 8)
    finally:
        c.close()
    eq(got, b'', 'bytes sent before the close')
    check(secs >= 1.5, 'closed after %.2f s, before the 2 s header timeout' % secs)


@test('PROXY listener, peer not in --trusted-proxy: a valid header and request -> closed, '
      'nothing sent')
def proxy_untrusted():
    s = server('untrusted')
    expect_silent_close(s.port, v1('203.0.113.50') + REQ)
    expect_silent_close(s.port, v2(command=0x20) + REQ, what='a LOCAL header')


@test('PROXY: /metrics sees the header\'s client (203.0.113.9: 403), a LOCAL header\'s peer '
      '(127.0.0.1: 200)')
def proxy_metrics_access():
    s = server('proxy')
    r = exchange_pieces(s.port, [v1('203.0.113.9') + req('GET', '/metrics',
                                                          headers=[('Connection', 'close')])])
    expect(r, 403)
    r = exchange_pieces(s.port, [v2(command=0x20) + req('GET', '/metrics',
                                                         headers=[('Connection', 'close')])])
    expect(r, 200)
    check(b'portico_requests_total' in r.body, 'not the metrics: %r' % r.body[:200])


# ---- PROXY and TLS ----------------------------------------------------------------

def ssl_case(tlvs, secure):
    """Two requests on a connection whose v2 header carries TLVS: both https
    (200 and HSTS, no --redirect-https 308) when SECURE, else both plain."""
    s = server('tls-proxy-http')
    with Client(s.port) as c:
        c.send(v2('203.0.113.60', tlvs=tlvs) + req('GET', '/a.txt'))
        first = c.read_response()
        c.send(req('GET', '/a.txt', headers=[('Connection', 'close')]))
        second = c.read_response()
    for which, r in (('first', first), ('second', second)):
        if secure:
            check(r.status == 200, '%s request: want 200 (https), got %r' % (which, r))
            expect(r, 200, body=A)
            eq(r.get('strict-transport-security'), 'max-age=60',
               '%s request: Strict-Transport-Security' % which)
        else:
            check(r.status == 308, '%s request: want the --redirect-https 308, got %r' % (which, r))
            eq(r.get('strict-transport-security'), None,
               '%s request: Strict-Transport-Security on plain HTTP' % which)


add_case('PROXY v2 with PP2_TYPE_SSL (client SSL) -> https, every request of the connection: '
         '200 with HSTS, no redirect',
         ssl_case, ssl_tlv(), True)
add_case('PROXY v2 with PP2_TYPE_SSL and an SSL_VERSION sub-TLV, as HAProxy sends it -> https',
         ssl_case, tlv(PP2_TYPE_AUTHORITY, b'localhost') + ssl_tlv(version='TLSv1.3'), True)
add_case('PROXY v2 without an SSL TLV -> plain: the --redirect-https 308, no HSTS',
         ssl_case, tlv(PP2_TYPE_AUTHORITY, b'localhost'), False)
add_case('PROXY v2 with PP2_TYPE_SSL whose client byte lacks PP2_CLIENT_SSL -> plain (308)',
         ssl_case, ssl_tlv(client=0), False)


@test('--proxy-protocol=http: the HTTPS port takes TLS without a header')
def proxy_http_tls_port():
    s = server('tls-proxy-http')
    r = tls_exchange(s.tls_port, req('GET', '/a.txt'))
    expect(r, 200, body=A)
    eq(r.get('strict-transport-security'), 'max-age=60', 'Strict-Transport-Security')


@test('--proxy-protocol=https: the plain port serves without a header; the HTTPS port takes '
      'the header, then the TLS handshake')
def proxy_https():
    s = server('tls-proxy-https')
    expect(exchange_pieces(s.port, [marked('pp-https-plain')]), 200, body=A)
    raw = socket.create_connection((HOST, s.tls_port), timeout=5)
    try:
        raw.sendall(v1('203.0.113.61', dport=443))
        time.sleep(0.1)   # the header and the ClientHello in two packets
        with client_context().wrap_socket(raw, server_hostname='localhost') as t:
            t.sendall(marked('pp-https-tls'))
            data = bytearray()
            while True:
                try:
                    chunk = t.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                data.extend(chunk)
    finally:
        raw.close()
    check(bytes(data).startswith(b'HTTP/1.1 200 '), 'response over TLS: %r' % bytes(data[:200]))
    check(bytes(data).endswith(b'\r\n\r\n' + A), 'body over TLS: %r' % bytes(data[-100:]))
    e = log_entry(HTTPS_LOG, 'pp-https-tls')
    eq(e['client'], '203.0.113.61', 'client of the request over TLS')
    check(e['tls'] and e['tls'].startswith('TLS'), 'tls in the log: %r' % e['tls'])
    eq(log_entry(HTTPS_LOG, 'pp-https-plain')['client'], '127.0.0.1', 'client on the plain port')


@test('--proxy-protocol=https: the header and the ClientHello in one packet -> the header is '
      'taken to its last byte, the handshake and request go on')
def proxy_https_one_packet():
    s = server('tls-proxy-https')
    with ManualHandshake(s.tls_port) as m:
        check(not m.step(), 'handshake done before any byte was sent')
        m.sock.sendall(v2('2001:db8::62', '2001:db8::1', 50000, 443, tlvs=ssl_tlv()) + m.pending())
        m.finish()
        m.obj.write(marked('pp-https-one'))
        m.sock.sendall(m.pending())
        expect(SessionReader(m).read_response(), 200, body=A)
    eq(log_entry(HTTPS_LOG, 'pp-https-one')['client'], '2001:db8::62', 'client')


@test('--proxy-protocol=https: a ClientHello without a header on the HTTPS port -> closed, '
      'nothing sent')
def proxy_https_no_header():
    s = server('tls-proxy-https')
    expect_silent_close(s.tls_port, client_hello())


# ---- X-Forwarded-For and Forwarded -------------------------------------------------

def forwarded(tag, headers, want, name='xff', path=XFF_LOG):
    s = server(name)
    with Client(s.port) as c:
        c.send(marked(tag, headers=headers))
        expect(c.read_response(), 200, body=A)
        c.expect_closed()
    eq(logged_client(path, tag), want, 'client in the access log')


for _tag, _name, _headers, _want in [
    ('xff-1', 'X-Forwarded-For: 203.0.113.7, 10.9.9.9 (a trusted hop on the right)',
     [('X-Forwarded-For', '203.0.113.7, 10.9.9.9')], '203.0.113.7'),
    ('xff-2', 'X-Forwarded-For: 1.1.1.1, 198.51.100.2 (a spoofed leftmost)',
     [('X-Forwarded-For', '1.1.1.1, 198.51.100.2')], '198.51.100.2'),
    ('xff-3', 'X-Forwarded-For over two lines: 203.0.113.8 / 10.0.0.1',
     [('X-Forwarded-For', '203.0.113.8'), ('X-Forwarded-For', '10.0.0.1')], '203.0.113.8'),
    ('xff-4', 'X-Forwarded-For: 2001:db8::7 (IPv6)', [('X-Forwarded-For', '2001:db8::7')],
     '2001:db8::7'),
    ('xff-5', 'X-Forwarded-For: 203.0.113.7, garbage (an unreadable hop: nothing left of it '
     'is believed)', [('X-Forwarded-For', '203.0.113.7, garbage')], '127.0.0.1'),
    ('xff-6', 'X-Forwarded-For: 10.1.1.1, 10.2.2.2 (all trusted: the leftmost, as nginx)',
     [('X-Forwarded-For', '10.1.1.1, 10.2.2.2')], '10.1.1.1'),
    ('xff-fwd', 'Forwarded alone (not the header asked for) is ignored',
     [('Forwarded', 'for=203.0.113.9')], '127.0.0.1'),
    ('xff-both', 'X-Forwarded-For (the balancer\'s) and a Forwarded a client forged',
     [('Forwarded', 'for=192.0.2.1'), ('X-Forwarded-For', '203.0.113.10')], '203.0.113.10'),
]:
    add_case('trusted 127.0.0.0/8 and 10.0.0.0/8: %s -> client %s' % (_name, _want),
             forwarded, _tag, _headers, _want)

for _tag, _name, _headers, _want in [
    ('fwd-1', 'Forwarded: for="[2001:db8::1]:443"', [('Forwarded', 'for="[2001:db8::1]:443"')],
     '2001:db8::1'),
    ('fwd-2', 'Forwarded: for=192.0.2.60;proto=http, for=10.0.0.2',
     [('Forwarded', 'for=192.0.2.60;proto=http, for=10.0.0.2')], '192.0.2.60'),
    # a balancer that writes Forwarded: what a client adds as X-Forwarded-For, even an
    # empty one, does not choose the header
    ('fwd-xff', 'the balancer\'s Forwarded and an X-Forwarded-For a client forged',
     [('X-Forwarded-For', '192.0.2.1'), ('Forwarded', 'for=203.0.113.5')], '203.0.113.5'),
    ('fwd-xff-empty', 'the balancer\'s Forwarded and an empty X-Forwarded-For',
     [('X-Forwarded-For', ''), ('Forwarded', 'for=203.0.113.6')], '203.0.113.6'),
]:
    add_case('--forwarded-header forwarded: %s -> client %s' % (_name, _want),
             forwarded, _tag, _headers, _want, 'fwd', FWD_LOG)


@test('PROXY and X-Forwarded-For: the client a header names is no proxy, even at a trusted '
      'address; its X-Forwarded-For is ignored')
def proxy_then_xff():
    s = server('proxy')
    r = exchange_pieces(s.port, [v1('127.0.0.5') +
                                 marked('pp-xff', headers=[('X-Forwarded-For', '192.0.2.1')])])
    expect(r, 200, body=A)
    eq(logged_client(PROXY_LOG, 'pp-xff'), '127.0.0.5', 'client in the access log')

add_case('no --trusted-proxy: X-Forwarded-For and Forwarded are ignored -> client 127.0.0.1',
         forwarded, 'xff-none', [('X-Forwarded-For', '203.0.113.7'),
                                 ('Forwarded', 'for=203.0.113.8')], '127.0.0.1', 'plain',
         PLAIN_LOG)


# ---- health -----------------------------------------------------------------------

@test('--health: GET 200 "ok", Cache-Control: no-store; HEAD alike without a body; any Host; '
      'a query; over TLS; POST 405')
def health():
    s = server('health')
    for host in ('127.0.0.1', 'any-name.example', 'localhost:1'):
        r = expect(exchange_pieces(s.port, [req('GET', '/healthz', host=host,
                                                headers=[('Connection', 'close')])]),
                   200, body=b'ok\n', cache_control='no-store')
        check((r.get('content-type') or '').startswith('text/plain'),
              'Content-Type %r' % r.get('content-type'))
    r = exchange_pieces(s.port, [req('HEAD', '/healthz', headers=[('Connection', 'close')])],
                        method='HEAD')
    expect(r, 200, method='HEAD', content_length='3', cache_control='no-store')
    eq(r.body, b'', 'HEAD body')
    expect(exchange_pieces(s.port, [req('GET', '/healthz?from=lb',
                                        headers=[('Connection', 'close')])]), 200, body=b'ok\n')
    expect(tls_exchange(s.tls_port, req('GET', '/healthz')), 200, body=b'ok\n',
           cache_control='no-store')
    r = exchange_pieces(s.port, [req('POST', '/healthz', body=b'x',
                                     headers=[('Content-Length', '1'), ('Connection', 'close')])])
    expect(r, 405)
    check('GET' in (r.get('allow') or ''), 'Allow %r' % r.get('allow'))


@test('--health with --redirect-https: the health path is answered on plain HTTP, the rest '
      'is redirected')
def health_no_redirect():
    s = server('health')
    expect(exchange_pieces(s.port, [marked('health-redirect')]), 308)
    expect(exchange_pieces(s.port, [req('GET', '/healthz', headers=[('Connection', 'close')])]),
           200, body=b'ok\n')


def fresh_get(port, target, timeout=3.0):
    """(status, body) of GET TARGET on a new connection, or None when refused."""
    try:
        with Client(port, timeout=timeout) as c:
            c.send(req('GET', target, headers=[('Connection', 'close')]))
            r = c.read_response()
            return r.status, r.body
    except (ConnectionRefusedError, ConnectionResetError, Closed):
        return None


def refused(port):
    try:
        socket.create_connection((HOST, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def metric_value(port, name):
    r = fresh_get(port, '/metrics')
    check(r is not None and r[0] == 200, 'scrape: %r' % (r,))
    return parse_metrics(r[1]).get(name)


@test('SIGQUIT with --health --drain-time 3: /healthz 503 "draining" at once, other requests '
      'served (new and kept-alive connections), then the listener closes and exit 0')
def drain():
    s = Server(ROOT, '--health', '/healthz', '--drain-time', '3', '--metrics', '/metrics',
               workers=2, keepalive_timeout=10).start()
    kept = None
    try:
        worker_pids(s)
        kept = Client(s.port)
        kept.send(req('GET', '/a.txt'))
        expect(kept.read_response(), 200, body=A)
        eq(fresh_get(s.port, '/healthz'), (200, b'ok\n'), 'health before SIGQUIT')
        eq(metric_value(s.port, 'portico_draining'), 0, 'portico_draining before SIGQUIT')
        s.signal(signal.SIGQUIT)
        t0 = time.monotonic()
        seen = [None]

        def draining():
            seen[0] = fresh_get(s.port, '/healthz')
            return seen[0] == (503, b'draining\n')
        check(wait_until(draining, 1.5, 0.02),
              'health 1.5 s after SIGQUIT: %r' % (seen[0],))
        kept.send(req('GET', '/b.txt'))
        r = expect(kept.read_response(), 200, body=FILES['b.txt'])
        check(not r.closes(), 'the kept-alive connection was told to close while draining')
        expect(_get_close(s.port, '/a.txt'), 200, body=A)
        eq(metric_value(s.port, 'portico_draining'), 1, 'portico_draining while draining')
        # (each of these takes milliseconds: all of them fall inside the 3 s drain)
        check(time.monotonic() - t0 < 2.8, 'the checks while draining ended after %.1f s, too '
              'late to tell' % (time.monotonic() - t0))
        kept.close()
        gone = wait_until(lambda: refused(s.port), 10, 0.05)
        took = time.monotonic() - t0
        check(gone, 'still accepting 10 s after SIGQUIT')
        check(took >= 2.5, 'listener closed %.2f s after SIGQUIT, before the 3 s drain' % took)
        eq(s.wait(10), 0, 'master exit code after the drain')
    finally:
        if kept is not None:
            kept.close()
        s.stop()


def _get_close(port, target):
    with Client(port) as c:
        c.send(req('GET', target, headers=[('Connection', 'close')]))
        return c.read_response()


@test('SIGQUIT without --health: no drain, the listener closes at once (within 3 s), exit 0')
def quit_at_once():
    s = Server(ROOT, '--drain-time', '30', workers=2).start()
    try:
        worker_pids(s)
        expect(_get_close(s.port, '/a.txt'), 200, body=A)
        s.signal(signal.SIGQUIT)
        t0 = time.monotonic()
        check(wait_until(lambda: refused(s.port), 3, 0.02),
              'still accepting %.1f s after SIGQUIT' % (time.monotonic() - t0))
        eq(s.wait(10), 0, 'master exit code after SIGQUIT')
    finally:
        s.stop()


# ---- metrics ----------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse_metrics(body):
    """The text exposition as {'name{labels}': number}; every line must be a
    comment or a sample."""
    out = {}
    for ln in body.decode('utf-8').split('\n'):
        if not ln or ln.startswith('#'):
            continue
        m = SAMPLE.match(ln)
        check(m, 'bad exposition line %r' % ln)
        key = m.group(1) + (m.group(2) or '')
        check(key not in out, 'duplicate sample %r' % key)
        out[key] = float(m.group(3)) if '.' in m.group(3) else int(m.group(3))
    return out


def scrape(port):
    """GET /metrics on a new connection read to its close (so the scrape has been
    counted when this returns): (parsed samples, bytes received)."""
    with Client(port) as c:
        c.send(req('GET', '/metrics', headers=[('Connection', 'close')]))
        r = c.read_response()
        c.expect_closed()
    expect(r, 200)
    return parse_metrics(r.body), len(r.head) + len(r.body)


def rq(method, code):
    return 'portico_requests_total{method="%s",code="%s"}' % (method, code)


@test('--metrics: text/plain version 0.0.4; 25 GET, 5 HEAD and 3 404 (new connections) move '
      'the counters exactly; bytes are what the client received')
def metrics_counts():
    s = server('metrics')
    with Client(s.port) as c:
        c.send(req('GET', '/metrics', headers=[('Connection', 'close')]))
        r = c.read_response()
        c.expect_closed()
    expect(r, 200, cache_control='no-store')
    ct = r.get('content-type') or ''
    check(ct.startswith('text/plain') and 'version=0.0.4' in ct, 'Content-Type %r' % ct)
    text = r.body.decode()
    for fam, kind in [('portico_requests_total', 'counter'),
                      ('portico_sent_bytes_total', 'counter'),
                      ('portico_connections_accepted_total', 'counter'),
                      ('portico_open_connections', 'gauge'),
                      ('portico_tls_handshakes_total', 'counter'),
                      ('portico_worker_restarts_total', 'counter'),
                      ('portico_reloads_total', 'counter'), ('portico_draining', 'gauge'),
                      ('portico_uptime_seconds', 'gauge')]:
        check('\n# TYPE %s %s\n' % (fam, kind) in '\n' + text, 'no "# TYPE %s %s"' % (fam, kind))
    before = parse_metrics(r.body)
    received = len(r.head) + len(r.body)   # the first scrape is counted after it is sent
    for i in range(25):
        with Client(s.port) as c:
            c.send(req('GET', '/index.html' if i % 2 else '/a.txt',
                       headers=[('Connection', 'close')]))
            r = expect(c.read_response(), 200)
            c.expect_closed()   # counted before the close: see finish_response
        received += len(r.head) + len(r.body)
    for i in range(5):
        with Client(s.port) as c:
            c.send(req('HEAD', '/b.txt', headers=[('Connection', 'close')]))
            r = expect(c.read_response('HEAD'), 200, method='HEAD')
            c.expect_closed()
        received += len(r.head)
    for i in range(3):
        with Client(s.port) as c:
            c.send(req('GET', '/missing-%d' % i, headers=[('Connection', 'close')]))
            r = expect(c.read_response(), 404)
            c.expect_closed()
        received += len(r.head) + len(r.body)
    after, _ = scrape(s.port)
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    eq(d[rq('GET', '2xx')], 25 + 1, 'GET 2xx moved by (25 and the first scrape)')
    eq(d[rq('HEAD', '2xx')], 5, 'HEAD 2xx moved by')
    eq(d[rq('GET', '4xx')], 3, 'GET 4xx moved by')
    others = {k: v for k, v in d.items() if k.startswith('portico_requests_total') and v and
              k not in (rq('GET', '2xx'), rq('HEAD', '2xx'), rq('GET', '4xx'))}
    eq(others, {}, 'other request counters that moved')
    eq(d['portico_sent_bytes_total'], received, 'portico_sent_bytes_total moved by (bytes the '
       'client received)')
    accepted = d['portico_connections_accepted_total']
    check(accepted >= 33, 'connections accepted moved by %d, not at least 33' % accepted)
    check(after['portico_open_connections'] >= 1, 'open connections %r while one is open'
          % after['portico_open_connections'])


@test('--metrics: 3 new TLS connections without session reuse -> tls_handshakes{kind="full"} '
      'moved by 3, resumed by 0')
def metrics_tls():
    s = server('metrics')
    before, _ = scrape(s.port)
    for _ in range(3):
        with TLSClient(s.tls_port) as c:
            c.send(req('GET', '/a.txt', headers=[('Connection', 'close')]))
            expect(c.read_response(), 200, body=A)
            c.expect_closed()
    after, _ = scrape(s.port)
    full = 'portico_tls_handshakes_total{kind="full"}'
    resumed = 'portico_tls_handshakes_total{kind="resumed"}'
    eq(after[full] - before[full], 3, 'full handshakes moved by')
    eq(after[resumed] - before[resumed], 0, 'resumed handshakes moved by')
    eq(after[rq('GET', '2xx')] - before[rq('GET', '2xx')], 3 + 1, 'GET 2xx moved by')


def wait_metric(port, name, want, timeout=8.0):
    last = [None]

    def probe():
        r = fresh_get(port, '/metrics')
        if r is None or r[0] != 200:
            return False
        last[0] = parse_metrics(r[1])
        return last[0].get(name) == want
    wait_until(probe, timeout, 0.1)
    return last[0]


@test('--metrics: after SIGHUP the counters go on from where they were; reloads_total 1, '
      'no worker restart counted')
def metrics_reload():
    s = server('metrics')
    old = worker_pids(s)
    before, _ = scrape(s.port)
    s.signal(signal.SIGHUP)
    after = wait_metric(s.port, 'portico_reloads_total', before['portico_reloads_total'] + 1)
    check(after is not None, 'no scrape after SIGHUP')
    eq(after['portico_reloads_total'], before['portico_reloads_total'] + 1, 'reloads_total')
    # the old workers leave; their counts stay
    wait_until(lambda: not any(process_alive(p) for p in old), 10)
    after, _ = scrape(s.port)
    for k, v in before.items():
        if k.startswith(('portico_requests_total', 'portico_sent_bytes_total',
                         'portico_connections_accepted_total', 'portico_tls_handshakes_total')):
            check(after[k] >= v, '%s went back from %r to %r after the reload' % (k, v, after[k]))
    check(after[rq('GET', '2xx')] >= before[rq('GET', '2xx')] + 1, 'GET 2xx did not move')
    eq(after['portico_worker_restarts_total'], before['portico_worker_restarts_total'],
       'worker restarts counted by a reload')


@test('--metrics: a worker killed with SIGKILL is restarted: worker_restarts_total moves by 1, '
      'its counts stay')
def metrics_restart():
    s = server('metrics')
    pids = worker_pids(s)
    victim = pids[0]
    for _ in range(4):
        expect(pinned_get(s, victim, '/a.txt'), 200, body=A)
    before, _ = scrape(s.port)
    os.kill(victim, signal.SIGKILL)
    want = before['portico_worker_restarts_total'] + 1
    after = wait_metric(s.port, 'portico_worker_restarts_total', want)
    check(after is not None, 'no scrape after the kill')
    eq(after['portico_worker_restarts_total'], want, 'worker_restarts_total')
    check(len(s.wait_workers(2, exclude=(victim,))) >= 2, 'the worker was not replaced')
    after, _ = scrape(s.port)
    for k, v in before.items():
        if k.startswith(('portico_requests_total', 'portico_sent_bytes_total',
                         'portico_connections_accepted_total')):
            check(after[k] >= v, '%s went back from %r to %r after the kill' % (k, v, after[k]))
    check(after[rq('GET', '2xx')] >= before[rq('GET', '2xx')] + 1, 'GET 2xx did not move')
    eq(after['portico_reloads_total'], before['portico_reloads_total'], 'reloads_total')


@test('--metrics-allow 10.0.0.0/8: a scrape from 127.0.0.1 is 403, with no counters in it')
def metrics_deny():
    s = server('metrics-deny')
    r = expect(_get_close(s.port, '/metrics'), 403)
    check(b'portico_' not in r.body, 'counters in a 403: %r' % r.body[:200])


# ---- per-address limit ------------------------------------------------------------

def idle_keepalive(port, header=b''):
    """A connection that made one request and is now idle (keep-alive)."""
    c = Client(port)
    try:
        c.send(header + req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
    except BaseException:
        c.close()
        raise
    return c


def idle_keepalive_soon(port, header=b'', timeout=5.0):
    """idle_keepalive, tried again while refused: a connection's count is given
    back just after its close reaches the client."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return idle_keepalive(port, header)
        except (Closed, ConnectionResetError, BrokenPipeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@test('--max-connections-per-ip 3: 3 idle connections, the 4th is closed with nothing sent; '
      'after one closes a new one is served')
def per_ip():
    s = server('per-ip')
    held = []
    try:
        for _ in range(3):
            held.append(idle_keepalive(s.port))
        expect_silent_close(s.port, req('GET', '/a.txt'), what='the 4th connection')
        for c in held:
            c.expect_open(0.05)
        held.pop(0).close()
        # the server sees the close a moment later: a new connection is served soon
        held.append(idle_keepalive_soon(s.port))
        # and the limit holds again with 3
        expect_silent_close(s.port, req('GET', '/a.txt'), what='a 4th connection again')
    finally:
        for c in held:
            c.close()


@test('--max-connections-per-ip 2 behind PROXY: the header\'s client is limited (203.0.113.5: '
      '2 served, the 3rd closed), not the balancer; a LOCAL header is not limited')
def per_ip_proxy():
    s = server('per-ip-proxy')
    held = []
    try:
        for _ in range(2):
            held.append(idle_keepalive(s.port, v1('203.0.113.5')))
        expect_silent_close(s.port, v1('203.0.113.5') + req('GET', '/a.txt'),
                            what='a 3rd connection of 203.0.113.5')
        expect_silent_close(s.port, v2('203.0.113.5') + req('GET', '/a.txt'),
                            what='a 3rd connection of 203.0.113.5 (v2)')
        held.append(idle_keepalive(s.port, v1('203.0.113.6')))
        held.append(idle_keepalive(s.port, v2('203.0.113.6')))
        for _ in range(3):   # the balancer's own checks: more than 2 from 127.0.0.1
            held.append(idle_keepalive(s.port, v2(command=0x20)))
        for c in held:
            c.expect_open(0.05)
    finally:
        for c in held:
            c.close()


# ---- the JSON access log ------------------------------------------------------------

KEYS = ['time', 'client', 'host', 'method', 'path', 'status', 'bytes', 'duration_us',
        'user_agent', 'referer', 'tls']
RFC3339 = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$')


@test('JSON access log: one object a line, keys in order, values of the request')
def json_line():
    s = server('plain')
    with Client(s.port) as c:
        c.send(req('GET', '/index.html?json-keys', host='site.example',
                   headers=[('User-Agent', 'probe/1.0'), ('Referer', 'http://ref.example/x'),
                            ('Connection', 'close')]))
        expect(c.read_response(), 200, body=INDEX)
        c.expect_closed()
    line = [ln for ln in log_lines(PLAIN_LOG) if b'?json-keys' in ln]
    eq(len(line), 1, 'lines')
    pairs = json.loads(line[0].decode('utf-8'), object_pairs_hook=lambda p: p)
    eq([k for k, _ in pairs], KEYS, 'keys in order')
    e = dict(pairs)
    check(RFC3339.match(e['time']), 'time %r' % e['time'])
    eq((e['client'], e['host'], e['method'], e['path'], e['status'], e['bytes']),
       ('127.0.0.1', 'site.example', 'GET', '/index.html?json-keys', 200, len(INDEX)), 'values')
    check(isinstance(e['duration_us'], int) and 0 <= e['duration_us'] < 10 ** 8,
          'duration_us %r' % e['duration_us'])
    eq((e['user_agent'], e['referer'], e['tls']), ('probe/1.0', 'http://ref.example/x', None),
       'user_agent, referer, tls')


def json_escape(tag, ua, want):
    s = server('plain')
    with Client(s.port) as c:
        c.send(b'GET /a.txt?' + tag.encode() + b' HTTP/1.1\r\nHost: h\r\nUser-Agent: ' + ua +
               b'\r\nConnection: close\r\n\r\n')
        expect(c.read_response(), 200, body=A)
        c.expect_closed()
    lines = [ln for ln in log_lines(PLAIN_LOG) if ('?%s"' % tag).encode() in ln]
    eq(len(lines), 1, 'lines')
    check(b'\n' not in lines[0] and all(b >= 0x20 for b in lines[0]),
          'raw control bytes in the line %r' % lines[0])
    e = json.loads(lines[0].decode('utf-8'))
    eq(e['user_agent'], want, 'user_agent')


for _tag, _name, _ua, _want in [
    ('esc-1', 'a quote, a backslash and a tab', b'a "quoted" \\ back\tslash',
     'a "quoted" \\ back\tslash'),
    ('esc-2', 'UTF-8 (round-trips)', b'caf\xc3\xa9 \xe2\x9c\x93', 'caf\u00e9 \u2713'),
    ('esc-3', 'a byte that is not UTF-8 (\\xff: \\u00FF)', b'x\xffy', 'x\u00ffy'),
    ('esc-4', 'U+2028 (escaped, still round-trips)', b'a\xe2\x80\xa8b', 'a\u2028b'),
]:
    add_case('JSON access log: a User-Agent with %s stays one valid JSON line' % _name,
             json_escape, _tag, _ua, _want)


@test('JSON access log: a GET refused with 400 before its head ends (a \\x01 in User-Agent) '
      'is logged, and counted, as a GET')
def json_bad_request():
    s = server('plain')
    before, _ = scrape(s.port)
    with Client(s.port) as c:
        c.send(b'GET /a.txt?bad-ua HTTP/1.1\r\nHost: h\r\nUser-Agent: a\x01b\r\n'
               b'Connection: close\r\n\r\n')
        expect(c.read_response(), 400)
        c.expect_closed()
    after, _ = scrape(s.port)
    e = log_entry(PLAIN_LOG, 'bad-ua')
    eq((e['client'], e['status'], e['path']), ('127.0.0.1', 400, '/a.txt?bad-ua'),
       'client, status, path')
    eq(e['method'], 'GET', 'method of a GET refused with 400')
    eq(after[rq('GET', '4xx')] - before[rq('GET', '4xx')], 1, 'GET 4xx moved by')


run()
