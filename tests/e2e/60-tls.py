#!/usr/bin/env python3
"""HTTPS: start-up checks, protocol versions, ALPN, ciphers, groups, SNI,
HTTP semantics over TLS (curl and raw), HSTS, --redirect-https, bad input on
both ports and the generated localhost certificate.  Certificates are made
here with the openssl CLI (a test CA, an intermediate, RSA and ECDSA leaves)."""

import hashlib
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (run_portico, stderr_one_line, LazyServers, BIN, HOST, PKI, TLS_START_LINE, Client, Server, Skip,  # noqa: E402
                          StartError, TLSClient, add_case, check, check_common, client_context,
                          client_hello, closed_within, content_range, curl, eq, expect,
                          expect_304, head_equal, ManualHandshake, new_root, only_worker, openssl,
                          parse_byteranges, parse_response, req, require_binary,
                          require_openssl, run, s_client, SessionReader, set_mtime,
                          set_script_timeout, spawn,
                          stop_proc, test, tls_exchange, tls_serving_worker)

require_openssl()
require_binary()
set_script_timeout(150)

BIG = os.urandom(5 << 20)
FILES = {
    'index.html': b'<!doctype html><title>tls</title><h1>over TLS</h1>\n',
    'a.txt': b'file a\n',
    'b.txt': b'file b, a little longer\n',
    'big.bin': BIG,
    'two-records.bin': os.urandom(16384 + 100),
}
PARENT, ROOT = new_root(FILES)
HUGE = 256 << 20  # sparse: for a download that outlasts a slow reader's test
with open(os.path.join(ROOT, 'huge.bin'), 'wb') as _f:
    _f.truncate(HUGE)
OLD = time.time() - 2 * 86400
for _n in list(FILES) + ['huge.bin']:
    set_mtime(os.path.join(ROOT, _n), OLD)

# ---- certificates -------------------------------------------------------------

CERTS = os.path.join(PARENT, 'certs')
os.mkdir(CERTS)
pki = PKI(CERTS)
CA = pki.ca
LOCAL = ['DNS:localhost', 'IP:127.0.0.1']
INTER, INTER_KEY = pki.intermediate('inter')
RSA_LEAF, RSA_KEY = pki.leaf('rsa', LOCAL, kind='rsa', ca=(INTER, INTER_KEY))
RSA_CHAIN = pki.path('rsa-chain.pem')          # leaf + intermediate in one file
with open(RSA_CHAIN, 'w') as _f:
    _f.write(open(RSA_LEAF).read() + open(INTER).read())
EC_CERT, EC_KEY = pki.leaf('ec', LOCAL, kind='ec')
A_CERT, A_KEY = pki.leaf('a', ['DNS:a.test'], kind='rsa')
B_CERT, B_KEY = pki.leaf('b', ['DNS:b.test'], kind='ec')
EXP_CERT, EXP_KEY = pki.leaf('expired', LOCAL, kind='ec',
                             dates=('20200101000000Z', '20200201000000Z'))
ENC_KEY = pki.path('encrypted.key')             # RSA_KEY under a passphrase
openssl('pkey', '-in', RSA_KEY, '-aes256', '-passout', 'pass:secret', '-out', ENC_KEY)
ED_KEY = pki.path('ed25519.key')
openssl('genpkey', '-algorithm', 'ED25519', '-out', ED_KEY)
ED_CERT, _ = pki.leaf('ed25519', LOCAL, key=ED_KEY)
WEAK_KEY = pki.path('rsa1024.key')
openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', WEAK_KEY)
WEAK_CERT, _ = pki.leaf('rsa1024', LOCAL, key=WEAK_KEY)
P384_KEY = pki.path('p384.key')
openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', P384_KEY)
P384_CERT, _ = pki.leaf('p384', LOCAL, key=P384_KEY)
NOT_PEM = pki.path('not-pem.pem')
with open(NOT_PEM, 'w') as _f:
    _f.write('this is not a certificate\n')

# ---- servers, started on first use --------------------------------------------

MAIN_ARGS = ['--tls-cert', RSA_CHAIN, '--tls-key', RSA_KEY,
             '--tls-cert', A_CERT, '--tls-key', A_KEY,
             '--tls-cert', B_CERT, '--tls-key', B_KEY, '--hsts', '600']
SAVED = os.path.join(PARENT, 'generated.pem')
SERVERS = {
    # default RSA certificate with chain, a.test (RSA) and b.test (ECDSA) by SNI, HSTS
    'main': (MAIN_ARGS, {'workers': 2}),
    'ec': (['--tls-cert', EC_CERT, '--tls-key', EC_KEY], {'workers': 1}),
    'redirect': (['--tls-cert', RSA_CHAIN, '--tls-key', RSA_KEY, '--redirect-https'],
                 {'workers': 1}),
    'generated': (['--tls', '--tls-save-cert', SAVED], {'workers': 2}),
}
_servers = LazyServers(ROOT, SERVERS, common=['--tls-port', '0'])


def server(name):
    return _servers.get(name)


def tp(name='main'):
    return server(name).tls_port


def ca_ctx(**kw):
    return client_context(cafile=CA, **kw)


def run_cli(args, timeout=5):
    return run_portico(args, timeout, new_session=True)


one_error_line = stderr_one_line


LO = ['-p', '0', '-b', HOST, '-q', '-w', '1', '--tls-port', '0']

# ---- start-up ---------------------------------------------------------------------


@test('start-up line: http://127.0.0.1:P/ and https://127.0.0.1:TP/ (2 workers)')
def startup_line():
    s = server('main')
    m = TLS_START_LINE.match(s.line)
    check(m, 'start-up line %r' % s.line)
    eq(m.group('host'), HOST, 'http host')
    eq(m.group('tlshost'), HOST, 'https host')
    eq(m.group('workers'), '2', 'workers')
    check(s.tls_port not in (0, s.port), 'https port %d (http port %d)' % (s.tls_port, s.port))
    eq(s.stderr(), b'', 'stderr of a clean start')
    # both listeners answer
    expect(_plain_get(s.port, '/a.txt'), 200, body=FILES['a.txt'])
    expect(tls_exchange(s.tls_port, req('GET', '/a.txt')), 200, body=FILES['a.txt'])


def _plain_get(port, target):
    with Client(port) as c:
        c.send(req('GET', target))
        return c.read_response()


@test('without -b the https URL in the start-up line says localhost')
def startup_localhost():
    s = Server(ROOT, '--tls-port', '0', '--tls-cert', EC_CERT, '--tls-key', EC_KEY,
               workers=1, bind=None)
    try:
        try:
            s.start()
        except StartError as e:
            raise AssertionError(str(e))
        m = TLS_START_LINE.match(s.line)
        check(m, 'start-up line %r' % s.line)
        eq((m.group('host'), m.group('tlshost')), ('localhost', 'localhost'), 'hosts')
        expect(tls_exchange(s.tls_port, req('GET', '/a.txt')), 200, body=FILES['a.txt'])
    finally:
        s.stop()


@test('--help mentions every HTTPS option')
def help_text():
    code, out, err = run_cli(['--help'])
    eq(code, 0, 'exit code')
    missing = [o for o in ('--tls', '--tls-cert', '--tls-key', '--tls-port', '--tls-save-cert',
                           '--redirect-https', '--hsts') if o not in out.decode()]
    check(not missing, 'help does not mention %r' % missing)


def startup_error(args, code, *needles):
    rc, out, err = run_cli(LO + list(args) + [ROOT])
    line = one_error_line(err, rc, code)
    check(b'serving' not in out, 'it started serving: %r' % out)
    for n in needles:
        check(n.lower() in line.lower(), 'message %r lacks %r' % (line, n))


MISSING = os.path.join(CERTS, 'no-such-cert.pem')
MISSING_KEY = os.path.join(CERTS, 'no-such-key.pem')
STARTUP_ERRORS = [
    ('certificate file missing', ['--tls-cert', MISSING, '--tls-key', RSA_KEY], 1,
     'no-such-cert.pem', 'No such file'),
    ('key file missing', ['--tls-cert', RSA_CHAIN, '--tls-key', MISSING_KEY], 1,
     'no-such-key.pem', 'No such file'),
    ('certificate file is not PEM', ['--tls-cert', NOT_PEM, '--tls-key', RSA_KEY], 1,
     'not-pem.pem', 'PEM'),
    ('certificate file holds only a key', ['--tls-cert', RSA_KEY, '--tls-key', RSA_KEY], 1,
     'PEM'),
    ('key file is not PEM', ['--tls-cert', RSA_CHAIN, '--tls-key', NOT_PEM], 1, 'not-pem.pem'),
    ('key does not match the certificate', ['--tls-cert', RSA_CHAIN, '--tls-key', EC_KEY], 1,
     'does not match'),
    ('second (SNI) key does not match its certificate',
     ['--tls-cert', RSA_CHAIN, '--tls-key', RSA_KEY, '--tls-cert', A_CERT, '--tls-key', B_KEY],
     1, 'does not match'),
    ('key file is encrypted (no terminal, stdin /dev/null)',
     ['--tls-cert', RSA_CHAIN, '--tls-key', ENC_KEY], 1, 'encrypted.key'),
    ('Ed25519 key', ['--tls-cert', ED_CERT, '--tls-key', ED_KEY], 1, 'unsupported key type'),
    ('RSA key of 1024 bits', ['--tls-cert', WEAK_CERT, '--tls-key', WEAK_KEY], 1, '1024'),
    ('--tls-cert without --tls-key', ['--tls-cert', RSA_CHAIN], 2),
    ('--tls-key without --tls-cert', ['--tls-key', RSA_KEY], 2),
    ('two certificates, one key',
     ['--tls-cert', RSA_CHAIN, '--tls-key', RSA_KEY, '--tls-cert', A_CERT], 2),
    ('--tls-save-cert into a missing directory',
     ['--tls', '--tls-save-cert', os.path.join(CERTS, 'no-such-dir', 'c.pem')], 1,
     'no-such-dir', 'No such file'),
    ('--tls-port abc', ['--tls', '--tls-port', 'abc'], 2),
    ('--tls-port 70000', ['--tls', '--tls-port', '70000'], 2),
    ('--hsts abc', ['--tls', '--hsts', 'abc'], 2),
]
for _name, _args, _code, *_needles in STARTUP_ERRORS:
    add_case('start-up error: %s -> exit %d, one "portico: " line%s'
             % (_name, _code, ''.join(' with "%s"' % n for n in _needles)),
             startup_error, _args, _code, *_needles)


@test('ECDSA P-384 certificate: starts quietly and serves HTTPS, verified with the test CA')
def p384():
    s = Server(ROOT, '--tls-port', '0', '--tls-cert', P384_CERT, '--tls-key', P384_KEY,
               workers=1)
    try:
        try:
            s.start()
        except StartError as e:
            raise AssertionError(str(e))
        r = tls_exchange(s.tls_port, req('GET', '/a.txt'), context=ca_ctx())
        expect(r, 200, body=FILES['a.txt'])
        time.sleep(0.1)
        eq(s.stderr(), b'', 'stderr')
    finally:
        s.stop()


@test('-p N --tls-port N (the same port) -> exit 1, one line with "in use"')
def same_port():
    probe = socket.socket()
    probe.bind((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    args = ['-p', str(port), '--tls-port', str(port), '-b', HOST, '-q', '-w', '1', '--tls', ROOT]
    rc, out, err = run_cli(args)
    line = one_error_line(err, rc, 1)
    check('in use' in line and str(port) in line, 'message %r' % line)


@test('expired certificate: starts, warns "expired" on stderr, serves HTTPS')
def expired():
    s = Server(ROOT, '--tls-port', '0', '--tls-cert', EXP_CERT, '--tls-key', EXP_KEY,
               workers=1)
    try:
        try:
            s.start()
        except StartError as e:
            raise AssertionError(str(e))
        deadline = time.monotonic() + 2
        while b'expired' not in s.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        err = s.stderr().decode('utf-8', 'replace')
        lines = [x for x in err.split('\n') if 'expired' in x]
        check(lines, 'no warning with "expired" on stderr: %r' % err)
        check(lines[0].startswith('portico: '), 'warning %r lacks "portico: "' % lines[0])
        expect(tls_exchange(s.tls_port, req('GET', '/a.txt')), 200, body=FILES['a.txt'])
        try:
            tls_exchange(s.tls_port, req('GET', '/a.txt'), context=ca_ctx())
        except ssl.SSLCertVerificationError as e:
            check('expired' in str(e), 'verification failed, but not as expired: %s' % e)
        else:
            raise AssertionError('a verifying client accepted the expired certificate')
    finally:
        s.stop()


# ---- protocol versions ------------------------------------------------------------
# The client's own security level would refuse TLS 1.0/1.1 before asking the
# server; @SECLEVEL=0 makes it offer them, so a refusal is the server's.

def refused_version(flag):
    r = s_client(tp(), flag, '-cipher', 'DEFAULT:@SECLEVEL=0')
    check('no protocols available' not in r.text,
          'the client did not offer %s at all: %s' % (flag, r.summary()))
    check(not r.ok, 'handshake with %s succeeded: %s' % (flag, r.summary()))
    check(re.search(r'alert protocol version|unsupported protocol|wrong version', r.text),
          'refused, but not as an unsupported version: %s' % r.summary())


def accepted_version(flag, want):
    r = s_client(tp(), flag)
    check(r.ok, 'handshake with %s failed: %s' % (flag, r.summary()))
    eq(r.protocol, want, 'negotiated protocol (%s)' % r.summary())


add_case('s_client -tls1 is refused (protocol_version alert)', refused_version, '-tls1')
add_case('s_client -tls1_1 is refused (protocol_version alert)', refused_version, '-tls1_1')
add_case('s_client -tls1_2 is accepted: TLSv1.2', accepted_version, '-tls1_2', 'TLSv1.2')
add_case('s_client -tls1_3 is accepted: TLSv1.3', accepted_version, '-tls1_3', 'TLSv1.3')


@test('Python ssl: default negotiates TLSv1.3; capped at 1.2 negotiates TLSv1.2')
def py_versions():
    with TLSClient(tp()) as c:
        eq(c.sock.version(), 'TLSv1.3', 'default version')
    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with TLSClient(tp(), context=ctx) as c:
        eq(c.sock.version(), 'TLSv1.2', 'version with a 1.2 cap')
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=FILES['a.txt'])


# ---- ALPN ---------------------------------------------------------------------------

def alpn_case(offer, extra):
    r = s_client(tp(), '-alpn', offer, *extra)
    check(r.ok, 'handshake failed: %s' % r.summary())
    eq(r.alpn, 'http/1.1', 'ALPN protocol (%s)' % r.summary())


for _offer in ['http/1.1', 'h2,http/1.1', 'http/1.1,h2']:
    for _v in (['-tls1_3'], ['-tls1_2']):
        add_case('ALPN offer %s (%s) selects http/1.1' % (_offer, _v[0]), alpn_case, _offer, _v)


def alpn_h2_only(extra):
    r = s_client(tp(), '-alpn', 'h2', *extra)
    check(not r.ok, 'a client offering only h2 was accepted: %s' % r.summary())
    check('no application protocol' in r.text,
          'refused without the no_application_protocol alert: %s' % r.summary())


add_case('ALPN offer h2 only (TLS 1.3) -> no_application_protocol alert', alpn_h2_only,
         ['-tls1_3'])
add_case('ALPN offer h2 only (TLS 1.2) -> no_application_protocol alert', alpn_h2_only,
         ['-tls1_2'])


@test('no ALPN offered: handshake completes, no ALPN negotiated, request served')
def alpn_none():
    r = s_client(tp())
    check(r.ok, 'handshake failed: %s' % r.summary())
    check('No ALPN negotiated' in r.text, 'ALPN was negotiated: %s' % r.summary())
    with TLSClient(tp(), context=client_context(alpn=None)) as c:
        eq(c.sock.selected_alpn_protocol(), None, 'selected ALPN')
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=FILES['a.txt'])


@test('Python ssl offering only h2 fails with NO_APPLICATION_PROTOCOL')
def alpn_py_h2():
    try:
        with TLSClient(tp(), context=client_context(alpn=('h2',))) as c:
            got = c.sock.selected_alpn_protocol()
    except ssl.SSLError as e:
        check('NO_APPLICATION_PROTOCOL' in str(e).upper().replace(' ', '_'),
              'other TLS error: %s' % e)
        return
    raise AssertionError('handshake offering only h2 succeeded (selected %r)' % got)


# ---- TLS 1.2 cipher suites and key exchange groups -----------------------------------

def cipher_case(server_name, cipher, ok):
    r = s_client(tp(server_name), '-tls1_2', '-cipher', cipher)
    if ok:
        check(r.ok, 'handshake with %s failed: %s' % (cipher, r.summary()))
        eq(r.cipher, cipher, 'cipher')
    else:
        check(not r.ok, 'handshake with %s succeeded: %s' % (cipher, r.summary()))


CIPHERS = [
    ('main', 'AES128-SHA', False),                    # RSA key exchange, CBC
    ('main', 'AES128-GCM-SHA256', False),             # RSA key exchange, AEAD
    ('main', 'ECDHE-RSA-AES128-SHA', False),          # ECDHE, CBC
    ('main', 'ECDHE-RSA-AES256-SHA384', False),       # ECDHE, CBC
    ('main', 'ECDHE-RSA-AES128-GCM-SHA256', True),
    ('main', 'ECDHE-RSA-AES256-GCM-SHA384', True),
    ('main', 'ECDHE-RSA-CHACHA20-POLY1305', True),
    ('ec', 'ECDHE-ECDSA-AES128-GCM-SHA256', True),
    ('ec', 'ECDHE-ECDSA-AES256-GCM-SHA384', True),
    ('ec', 'ECDHE-ECDSA-CHACHA20-POLY1305', True),
    ('ec', 'ECDHE-ECDSA-AES128-SHA', False),
    ('ec', 'ECDHE-ECDSA-AES256-SHA384', False),
]
for _s, _c, _ok in CIPHERS:
    add_case('TLS 1.2 cipher %s (%s certificate) -> %s'
             % (_c, 'RSA' if _s == 'main' else 'ECDSA', 'accepted' if _ok else 'refused'),
             cipher_case, _s, _c, _ok)


@test('TLS 1.2: the server chooses the cipher (same choice for either client order)')
def server_preference():
    one, two = 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384'
    r1 = s_client(tp(), '-tls1_2', '-cipher', one + ':' + two)
    r2 = s_client(tp(), '-tls1_2', '-cipher', two + ':' + one)
    check(r1.ok and r2.ok, 'handshakes: %s / %s' % (r1.summary(), r2.summary()))
    eq(r2.cipher, r1.cipher, 'cipher chosen for the reversed client order')


@test('TLS 1.3: Mozilla\'s suite order, server preference: AES-128-GCM even for a client '
      'that lists AES-256 first; AES-256 and ChaCha20 when offered alone')
def tls13_suites():
    r = s_client(tp(), '-tls1_3', '-ciphersuites',
                 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256')
    check(r.ok, 'handshake: %s' % r.summary())
    eq(r.cipher, 'TLS_AES_128_GCM_SHA256', 'suite chosen')
    for alone in ('TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'):
        r = s_client(tp(), '-tls1_3', '-ciphersuites', alone)
        check(r.ok, 'handshake offering only %s: %s' % (alone, r.summary()))
        eq(r.cipher, alone, 'suite chosen')


def group_case(group, proto, want):
    r = s_client(tp(), proto, '-groups', group)
    if want is None:
        check(not r.ok or '521' not in (r.temp_key or ''),
              'key exchange over %s with only %s offered: %s' % (r.temp_key, group, r.summary()))
        check(not r.ok, 'handshake with only %s offered succeeded: %s' % (group, r.summary()))
    else:
        check(r.ok, 'handshake with %s failed: %s' % (group, r.summary()))
        check(want in (r.temp_key or ''), 'Server Temp Key %r, want %s' % (r.temp_key, want))


for _g, _want in [('X25519', 'X25519'), ('P-256', 'prime256v1'), ('P-521', None)]:
    for _p in ('-tls1_3', '-tls1_2'):
        add_case('group %s only (%s) -> %s' % (_g, _p, _want or 'refused'),
                 group_case, _g, _p, _want)
add_case('groups P-521:P-256 (TLS 1.3, key share P-521) -> HelloRetryRequest, P-256',
         group_case, 'P-521:P-256', '-tls1_3', 'prime256v1')

# ---- certificates and SNI -----------------------------------------------------------


def peer_names(sni, maxver=None):
    ctx = ca_ctx(check_hostname=False)
    if maxver:
        ctx.maximum_version = maxver
    with TLSClient(tp(), context=ctx, server_hostname=sni) as c:
        cert = c.sock.getpeercert()
        c.send(req('GET', '/a.txt', host=sni or HOST))
        expect(c.read_response(), 200, body=FILES['a.txt'])
    return sorted(v for k, v in cert.get('subjectAltName', ()))


SNI = [
    ('a.test', None, ['a.test']),
    ('b.test', None, ['b.test']),
    ('b.test', ssl.TLSVersion.TLSv1_2, ['b.test']),
    ('a.test', ssl.TLSVersion.TLSv1_2, ['a.test']),
    ('localhost', None, ['127.0.0.1', 'localhost']),
    ('unknown.test', None, ['127.0.0.1', 'localhost']),
    (None, None, ['127.0.0.1', 'localhost']),
]
for _sni, _maxv, _want in SNI:
    add_case('SNI %s%s -> certificate for %s (verified with the test CA)'
             % (_sni or '(none)', ' TLS 1.2' if _maxv else '', '/'.join(_want)),
             lambda sni, maxv, want: eq(peer_names(sni, maxv), want, 'subjectAltName'),
             _sni, _maxv, _want)


@test('SNI b.test with hostname check: Python verifies b.test; s_client -showcerts shows CN b.test')
def sni_verify():
    with TLSClient(tp(), context=ca_ctx(), server_hostname='b.test') as c:
        c.send(req('GET', '/a.txt', host='b.test'))
        expect(c.read_response(), 200, body=FILES['a.txt'])
    r = s_client(tp(), '-servername', 'b.test', '-showcerts')
    check(r.ok, 'handshake failed: %s' % r.summary())
    m = re.search(r'^\s*0 s:(.*)$', r.text, re.M)
    check(m and 'CN = b.test' in m.group(1), 'depth-0 subject %r' % (m and m.group(1)))


@test('SNI is case-insensitive: -servername B.TEST gets b.test')
def sni_case():
    r = s_client(tp(), '-servername', 'B.TEST', '-showcerts')
    check(r.ok, 'handshake failed: %s' % r.summary())
    m = re.search(r'^\s*0 s:(.*)$', r.text, re.M)
    check(m and 'CN = b.test' in m.group(1), 'depth-0 subject %r' % (m and m.group(1)))


@test('default certificate is sent with its intermediate (chain from the cert file)')
def chain_sent():
    r = s_client(tp(), '-servername', 'localhost', '-showcerts', '-CAfile', CA,
                 '-verify_return_error')
    check(r.ok, 'handshake failed: %s' % r.summary())
    check(re.search(r'^\s*1 s:.*CN = inter', r.text, re.M),
          'no intermediate at depth 1: %s' % r.summary())
    check('Verify return code: 0 (ok)' in r.text, 'chain does not verify: %s' % r.summary())


# ---- HTTP over TLS -------------------------------------------------------------------

def curl_tls(name, path, *args, host='localhost', cacert=CA):
    port = tp(name)
    extra = ['--resolve', 'localhost:%d:%s' % (port, HOST)] if host == 'localhost' else []
    if cacert:
        extra += ['--cacert', cacert]
    return curl('-s', *extra, *args, 'https://%s:%d%s' % (host, port, path))


@test('curl --cacert: 5 MiB file byte-exact over HTTPS (chain verified)')
def curl_big():
    rc, out, err = curl_tls('main', '/big.bin', '-f')
    eq(rc, 0, 'curl exit code (stderr %r)' % err[-300:])
    check(out == BIG, 'body differs (%d bytes)' % len(out))


@test('curl -v: TLSv1.3 and ALPN http/1.1; --http2 still gets HTTP/1.1')
def curl_verbose():
    rc, out, err = curl_tls('main', '/a.txt', '-v', '--http2')
    eq(rc, 0, 'curl exit code')
    eq(out, FILES['a.txt'], 'body')
    text = err.decode('latin-1')
    check(re.search(r'SSL connection using TLSv1\.3', text), 'not TLSv1.3: %r' % text[-800:])
    check(re.search(r'ALPN[:,].*accepted.*http/1\.1', text), 'ALPN not http/1.1: %r'
          % [x for x in text.splitlines() if 'ALPN' in x])
    check(re.search(r'^< HTTP/1\.1 200', text, re.M), 'status line not HTTP/1.1 200')


@test('curl https://127.0.0.1 (IP SAN) verifies; curl without --cacert fails (exit 60)')
def curl_verify():
    rc, out, err = curl_tls('main', '/a.txt', host=HOST)
    eq((rc, out), (0, FILES['a.txt']), 'curl to the IP address')
    rc, out, err = curl_tls('main', '/a.txt', cacert=None)
    eq(rc, 60, 'curl exit code without the test CA (stderr %r)' % err[-200:])


@test('curl -r 0-99 over HTTPS -> 206 with the first 100 bytes')
def curl_range():
    rc, out, err = curl_tls('main', '/big.bin', '-r', '0-99', '-D', '-')
    eq(rc, 0, 'curl exit code')
    head, _, body = out.partition(b'\r\n\r\n')
    check(head.startswith(b'HTTP/1.1 206'), 'status %r' % head[:40])
    check(b'content-range: bytes 0-99/%d' % len(BIG) in head.lower(), 'Content-Range in %r' % head)
    eq(body, BIG[:100], 'body')


@test('curl -z and If-None-Match over HTTPS -> 304')
def curl_304():
    r = tls_exchange(tp(), req('GET', '/a.txt'))
    etag, lm = r.get('etag'), r.get('last-modified')
    check(etag and lm, 'no validators: %r' % r)
    rc, out, err = curl_tls('main', '/a.txt', '-z', lm, '-w', '%{http_code}')
    eq((rc, out), (0, b'304'), 'curl -z')
    rc, out, err = curl_tls('main', '/a.txt', '-H', 'If-None-Match: ' + etag, '-w',
                            '%{http_code}')
    eq((rc, out), (0, b'304'), 'curl If-None-Match')


@test('curl -I over HTTPS: 200, Content-Length, HSTS')
def curl_head():
    rc, out, err = curl_tls('main', '/index.html', '-I')
    eq(rc, 0, 'curl exit code')
    lines = [x.lower() for x in out.decode('latin-1').split('\r\n')]
    check(lines[0].startswith('http/1.1 200'), 'status %r' % lines[0])
    check('content-length: %d' % len(FILES['index.html']) in lines, 'headers %r' % lines)
    check('strict-transport-security: max-age=600' in lines, 'no HSTS in %r' % lines)


@test('keep-alive: 5 requests on one TLS connection')
def keepalive():
    with TLSClient(tp()) as c:
        for i in range(5):
            name = ['a.txt', 'b.txt', 'index.html', 'a.txt', 'b.txt'][i]
            c.send(req('GET', '/' + name))
            r = c.read_response()
            expect(r, 200, body=FILES[name])
            check(not r.closes(), 'response %d closes the connection' % (i + 1))
        c.expect_open(0.2)


@test('3 pipelined requests in one TLS write -> 3 responses in order')
def pipelined():
    with TLSClient(tp()) as c:
        c.send(req('GET', '/a.txt') + req('GET', '/b.txt') + req('GET', '/index.html'))
        for name in ('a.txt', 'b.txt', 'index.html'):
            expect(c.read_response(), 200, body=FILES[name])


@test('pipelined small, 5 MiB, HEAD, small over TLS -> in order, byte-exact')
def pipelined_big():
    with TLSClient(tp()) as c:
        c.send(req('GET', '/a.txt') + req('GET', '/big.bin') + req('HEAD', '/big.bin')
               + req('GET', '/b.txt'))
        expect(c.read_response(), 200, body=FILES['a.txt'])
        r = c.read_response()
        expect(r, 200)
        check(r.body == BIG, 'big.bin differs (%d bytes)' % len(r.body))
        h = c.read_response('HEAD')
        expect(h, 200, method='HEAD')
        eq(h.get('content-length'), str(len(BIG)), 'HEAD Content-Length')
        expect(c.read_response(), 200, body=FILES['b.txt'])


@test('40 pipelined requests of 1 KB each (several TLS records) in one write -> 40 responses')
def pipelined_many():
    one = req('GET', '/a.txt', headers=[('X-Pad', 'p' * 1000)])
    with TLSClient(tp()) as c:
        c.send(one * 39 + req('GET', '/b.txt', headers=[('X-Pad', 'p' * 1000)]))
        for i in range(39):
            expect(c.read_response(), 200, body=FILES['a.txt'])
        expect(c.read_response(), 200, body=FILES['b.txt'])
        c.expect_open(0.1)


@test('a body of 2 records (corked to leave in full segments) arrives whole at once, '
      'and so does the small response after it')
def cork_lifted():
    # A cork left on holds a partial segment back for 200 ms: the best of 3
    # exchanges on one connection must be far quicker than that.
    best = {'two-records.bin': 1.0, 'a.txt': 1.0}
    with TLSClient(tp()) as c:
        for _ in range(3):
            for name in best:
                t0 = time.monotonic()
                c.send(req('GET', '/' + name))
                expect(c.read_response(), 200, body=FILES[name])
                best[name] = min(best[name], time.monotonic() - t0)
    for name, took in best.items():
        check(took < 0.18, '%s: the best of 3 took %.0f ms' % (name, took * 1000))


@test('over TLS: 2 requests in 2 records of one TCP write, then a 3rd sent while the 5 MiB '
      'answer to the 1st is still going out -> all 3 answered')
def pipelined_records_then_more():
    # the 2nd request waits in OpenSSL's read-ahead buffer, the 3rd in the socket:
    # reading the 2nd from the buffer must not make the server forget the 3rd
    with ManualHandshake(tp(), timeout=10) as m:
        obj = m.finish()
        obj.write(req('GET', '/big.bin'))
        obj.write(req('GET', '/a.txt'))
        m.sock.sendall(m.pending())
        time.sleep(0.3)  # we do not read: the server is stuck writing big.bin
        obj.write(req('GET', '/b.txt'))
        m.sock.sendall(m.pending())
        reader = SessionReader(m)
        r = reader.read_response()
        expect(r, 200)
        check(r.body == BIG, 'big.bin differs (%d bytes)' % len(r.body))
        expect(reader.read_response(), 200, body=FILES['a.txt'])
        expect(reader.read_response(), 200, body=FILES['b.txt'])


@test('10 clients that ask for 5 MiB and close at once: HTTPS still served, no crash')
def abandon():
    for i in range(10):
        c = TLSClient(tp())
        c.send(req('GET', '/big.bin'))
        if i % 2:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
        c.close()
    time.sleep(0.2)
    for _ in range(3):
        expect(tls_exchange(tp(), req('GET', '/a.txt')), 200, body=FILES['a.txt'])
    check(server('main').alive(), 'the server exited')


@test('5 MiB file byte-exact over TLS, twice on one connection')
def big_twice():
    with TLSClient(tp(), timeout=15) as c:
        for _ in range(2):
            c.send(req('GET', '/big.bin'))
            r = c.read_response()
            expect(r, 200)
            check(r.body == BIG, 'big.bin differs (%d bytes)' % len(r.body))


@test('slow reader (16 KiB receive buffer, pauses): 5 MiB byte-exact over TLS')
def slow_reader():
    with TLSClient(tp(), rcvbuf=16384, timeout=20) as c:
        c.send(req('GET', '/big.bin'))
        time.sleep(0.5)      # the server's writes block: it must retry them correctly
        got = bytearray()
        c.sock.settimeout(10)
        pauses = 3
        while True:
            data = c.sock.recv(65536)
            if not data:
                break
            got.extend(data)
            if pauses and len(got) > (4 - pauses) << 20:
                pauses -= 1
                time.sleep(0.3)
            i = got.find(b'\r\n\r\n')
            if i >= 0 and len(got) - i - 4 >= len(BIG):
                break
        i = got.find(b'\r\n\r\n')
        check(got.startswith(b'HTTP/1.1 200 '), 'status %r' % bytes(got[:40]))
        check(bytes(got[i + 4:]) == BIG, 'body differs (%d bytes)' % (len(got) - i - 4))


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(next(line for line in f if line.startswith('VmRSS:')).split()[1])


@test('a slow TLS reader of a 256 MiB file: the worker does not pile up records (RSS flat)')
def slow_reader_memory():
    with TLSClient(tp('ec'), rcvbuf=65536, timeout=20) as c:
        pid = tls_serving_worker(server('ec'), c.sock)
        if pid is None:
            raise Skip('/proc cannot tell which worker serves the connection')
        c.send(req('GET', '/huge.bin'))
        time.sleep(0.5)  # the socket fills; records wait in the worker
        before, got = rss_kib(pid), 0
        c.sock.settimeout(10)
        for _ in range(300):  # a record every 10 ms or so: about 4 MiB
            got += len(c.sock.recv(65536))
            time.sleep(0.01)
        grown = rss_kib(pid) - before
        check(got > 2 << 20, 'only %d bytes read' % got)
        check(grown < 1024, 'the worker grew by %d KiB while the client read %d KiB'
              % (grown, got >> 10))


@test('8 concurrent TLS clients each get the 5 MiB file byte-exact')
def concurrent():
    results = [None] * 8

    def one(i):
        try:
            with TLSClient(tp(), timeout=20) as c:
                c.send(req('GET', '/big.bin'))
                r = c.read_response()
                results[i] = 'ok' if r.status == 200 and r.body == BIG else (
                    'status %d, %d bytes' % (r.status, len(r.body)))
        except Exception as e:  # noqa: BLE001
            results[i] = '%s: %s' % (type(e).__name__, e)
    tls = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(8)]
    for t in tls:
        t.start()
    for t in tls:
        t.join(25)
    bad = [(i, r) for i, r in enumerate(results) if r != 'ok']
    check(not bad, 'clients failed: %r' % bad)


@test('Range bytes=1000000-3999999 and a multipart range over TLS, byte-exact')
def ranges():
    r = tls_exchange(tp(), req('GET', '/big.bin', headers=[('Range', 'bytes=1000000-3999999')]))
    expect(r, 206)
    eq(content_range(r.get('content-range')), (1000000, 3999999, len(BIG)), 'Content-Range')
    check(r.body == BIG[1000000:4000000], 'range body differs')
    r = tls_exchange(tp(), req('GET', '/big.bin', headers=[('Range', 'bytes=0-9,-10')]))
    expect(r, 206)
    parts = parse_byteranges(r)
    eq([p[2] for p in parts], [BIG[:10], BIG[-10:]], 'parts')


@test('If-None-Match over TLS -> 304; 404 over TLS')
def cond_404():
    etag = tls_exchange(tp(), req('GET', '/a.txt')).get('etag')
    expect_304(tls_exchange(tp(), req('GET', '/a.txt', headers=[('If-None-Match', etag)])),
               etag=etag)
    expect(tls_exchange(tp(), req('GET', '/missing.txt')), 404)


@test('HTTPS and plain HTTP responses have the same headers except Date and HSTS')
def same_headers():
    s = server('main')
    for target in ('/a.txt', '/index.html', '/missing.txt'):
        plain = _plain_get(s.port, target)
        tls = tls_exchange(s.tls_port, req('GET', target))
        eq(tls.body, plain.body, 'body of %s' % target)
        head_equal(tls, plain, skip=('date', 'strict-transport-security'))


# ---- HSTS ------------------------------------------------------------------------------

@test('--hsts 600: HTTPS 200, 206, 304 and 404 carry Strict-Transport-Security: max-age=600')
def hsts_on():
    etag = tls_exchange(tp(), req('GET', '/a.txt')).get('etag')
    for raw in (req('GET', '/a.txt'), req('GET', '/a.txt', headers=[('Range', 'bytes=0-1')]),
                req('GET', '/a.txt', headers=[('If-None-Match', etag)]),
                req('GET', '/missing.txt'), req('HEAD', '/a.txt')):
        r = tls_exchange(tp(), raw, method='HEAD' if raw.startswith(b'HEAD') else 'GET')
        eq(r.get_all('strict-transport-security'), ['max-age=600'],
           'HSTS on %s %d' % (raw.split(b'\r\n')[0], r.status))


@test('--hsts: no Strict-Transport-Security on plain HTTP')
def hsts_plain():
    s = server('main')
    for target in ('/a.txt', '/missing.txt'):
        r = _plain_get(s.port, target)
        eq(r.get_all('strict-transport-security'), [], 'HSTS on plain %s' % target)


@test('without --hsts: no Strict-Transport-Security on HTTPS')
def hsts_off():
    r = tls_exchange(tp('ec'), req('GET', '/a.txt'))
    expect(r, 200, body=FILES['a.txt'])
    eq(r.get_all('strict-transport-security'), [], 'HSTS header')


# ---- --redirect-https ---------------------------------------------------------------------

def redirect_case(host, target, want_location, method='GET'):
    s = server('redirect')
    with Client(s.port) as c:
        c.send(req(method, target, host=host))
        r = c.read_response(method)
    expect(r, 308, method=method)
    eq(r.get('location'), want_location % {'tp': s.tls_port}, 'Location')
    eq(r.get_all('strict-transport-security'), [], 'HSTS on plain HTTP')


REDIRECTS = [
    ('example.test:8080', '/a?x=1', 'https://example.test:%(tp)d/a?x=1', 'GET'),
    ('example.test', '/a?x=1', 'https://example.test:%(tp)d/a?x=1', 'GET'),
    ('example.test:8080', '/', 'https://example.test:%(tp)d/', 'GET'),
    ('example.test:8080', '/missing/dir/x.txt?a=%20b', 'https://example.test:%(tp)d'
     '/missing/dir/x.txt?a=%%20b', 'GET'),
    ('[::1]:8080', '/a.txt', 'https://[::1]:%(tp)d/a.txt', 'GET'),
    ('127.0.0.1:8080', '/a.txt', 'https://127.0.0.1:%(tp)d/a.txt', 'HEAD'),
]


@test('--redirect-https: absolute-form GET http://example.test:8080/a?x=1 -> 308 to its authority')
def redirect_absolute():
    s = server('redirect')
    with Client(s.port) as c:
        c.send(req('GET', 'http://example.test:8080/a?x=1', host='other.test'))
        r = c.read_response()
    expect(r, 308)
    eq(r.get('location'), 'https://example.test:%d/a?x=1' % s.tls_port, 'Location')


for _h, _t, _l, _m in REDIRECTS:
    add_case(('--redirect-https: plain %s %s, Host %s -> 308 %s' % (_m, _t, _h, _l % {'tp': 0}))
             .replace(':0/', ':<tlsport>/'), redirect_case, _h, _t, _l, _m)


@test('--redirect-https: HTTPS itself is served, not redirected')
def redirect_https_served():
    expect(tls_exchange(tp('redirect'), req('GET', '/a.txt')), 200, body=FILES['a.txt'])


@test('--redirect-https with the HTTPS port 443 (default as root): Location has no port')
def redirect_443():
    if os.geteuid() != 0:
        raise Skip('the default HTTPS port is 443 only as root')
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, 443))
    except OSError:
        raise Skip('port 443 is in use here')
    finally:
        probe.close()
    s = Server(ROOT, '--tls-cert', RSA_CHAIN, '--tls-key', RSA_KEY, '--redirect-https',
               workers=1)
    try:
        try:
            s.start()
        except StartError as e:
            raise AssertionError(str(e))
        eq(s.tls_port, 443, 'default HTTPS port as root (start-up line %r)' % s.line)
        with Client(s.port) as c:
            c.send(req('GET', '/a?x=1', host='example.test:8080'))
            r = c.read_response()
        expect(r, 308)
        eq(r.get('location'), 'https://example.test/a?x=1', 'Location')
    finally:
        s.stop()


# ---- bad input on either port ------------------------------------------------------------

def plain_to_tls(raw):
    with socket.create_connection((HOST, tp()), timeout=5) as s:
        s.sendall(raw)
        took, data = closed_within(s, 2.0)
    if data:
        check(data[:1] not in (b'\x15', b'\x16'),
              'answered with a TLS record, not a 400 in clear text or a clean close: %r'
              % data[:40])
        check(data.startswith(b'HTTP/1.1 400 '), 'not a clear-text 400: %r' % data[:200])
        r = parse_response(data)
        check_common(r)
        check(r.closes(), '400 without Connection: close')


add_case('plain HTTP GET to the TLS port -> clear-text 400 or clean close within 2 s',
         plain_to_tls, req('GET', '/a.txt'))
add_case('plain HTTP HEAD with a body of headers to the TLS port -> 400 or close within 2 s',
         plain_to_tls, req('HEAD', '/index.html', headers=[('Accept', '*/*')] * 20))


def garbage_to_tls(raw):
    with socket.create_connection((HOST, tp()), timeout=5) as s:
        s.sendall(raw)
        closed_within(s, 2.0)
    expect(tls_exchange(tp(), req('GET', '/a.txt')), 200, body=FILES['a.txt'])


GARBAGE = [
    ('64 zero bytes', b'\x00' * 64),
    ('a record header claiming 65535 bytes', b'\x16\x03\x01\xff\xff' + bytes(range(200))),
    ('a handshake record with a malformed ClientHello',
     b'\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\xff\xff'),
    ('an SSLv2-style hello', b'\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10' + b'\x07' * 40),
    ('binary noise', bytes((i * 151 + 7) % 256 for i in range(300))),
]
for _n, _raw in GARBAGE:
    add_case('garbage to the TLS port (%s) -> closed within 2 s, server still serves' % _n,
             garbage_to_tls, _raw)


@test('ClientHello then an application-data record before Finished -> closed within 2 s')
def early_appdata():
    with socket.create_connection((HOST, tp()), timeout=5) as s:
        s.sendall(client_hello())
        time.sleep(0.1)
        s.sendall(b'\x17\x03\x03\x00\x20' + b'\x41' * 32)
        closed_within(s, 2.0)
    expect(tls_exchange(tp(), req('GET', '/a.txt')), 200, body=FILES['a.txt'])


@test('TLS ClientHello to the plain port -> closed within 2 s, no TLS record back')
def hello_to_plain():
    s = server('main')
    with socket.create_connection((HOST, s.port), timeout=5) as sock:
        sock.sendall(client_hello())
        took, data = closed_within(sock, 2.0)
    check(data[:1] not in (b'\x14', b'\x15', b'\x16', b'\x17'),
          'the plain port answered with a TLS record: %r' % data[:40])
    if data:
        r = parse_response(data)
        check(400 <= r.status < 500, 'answered %r' % r)
    expect(_plain_get(s.port, '/a.txt'), 200, body=FILES['a.txt'])


# ---- the generated certificate (--tls) --------------------------------------------------------

FPR = re.compile(r'((?:[0-9A-F]{2}:){31}[0-9A-F]{2})')


def generated_output():
    s = server('generated')
    deadline = time.monotonic() + 3
    while b'--cacert' not in s.stdout() and time.monotonic() < deadline:
        time.sleep(0.05)
    return s, s.stdout().decode('utf-8', 'replace')


@test('--tls: stdout prints the SHA-256 fingerprint and a --cacert hint after the start-up line')
def gen_stdout():
    s, out = generated_output()
    check(TLS_START_LINE.match(s.line), 'start-up line %r' % s.line)
    fl = [x for x in out.splitlines() if 'SHA-256 fingerprint' in x]
    check(fl, 'no "SHA-256 fingerprint" line in %r' % out)
    check(FPR.search(fl[0]), 'no uppercase colon-separated 32-byte fingerprint in %r' % fl[0])
    check(any('--cacert' in x for x in out.splitlines()), 'no --cacert hint in %r' % out)


def gen_fingerprint():
    s, out = generated_output()
    fl = [x for x in out.splitlines() if 'SHA-256 fingerprint' in x]
    m = FPR.search(fl[0]) if fl else None
    check(m, 'no fingerprint line in %r' % out)
    return m.group(1)


@test('--tls-save-cert: printed fingerprint = openssl x509 -fingerprint -sha256 of the file')
def gen_fpr_file():
    want = gen_fingerprint()
    check(os.path.isfile(SAVED), '%s was not written' % SAVED)
    rc, text = openssl('x509', '-in', SAVED, '-noout', '-fingerprint', '-sha256')
    m = FPR.search(text.upper())
    check(m, 'openssl printed %r' % text)
    eq(m.group(1), want, 'fingerprint')


@test('--tls: the served certificate is the saved one, on every worker')
def gen_served():
    s = server('generated')
    want = gen_fingerprint()
    with open(SAVED) as f:
        saved_der = ssl.PEM_cert_to_DER_cert(f.read())
    pids = sorted(s.wait_workers(2))
    check(len(pids) == 2, 'workers %r' % pids)
    for pid in pids:
        with only_worker(s, pid):
            with TLSClient(s.tls_port, timeout=3) as c:
                der = c.sock.getpeercert(binary_form=True)
                who = tls_serving_worker(s, c.sock)
        check(who in (pid, None), 'connection served by %r, not %d' % (who, pid))
        eq(der == saved_der, True, 'worker %d serves the saved certificate' % pid)
        got = ':'.join('%02X' % b for b in hashlib.sha256(der).digest())
        eq(got, want, 'fingerprint of the certificate worker %d serves' % pid)


@test('--tls: saved file has SAN DNS:localhost, IP:127.0.0.1, IP:::1, an EC P-256 key, no private key')
def gen_cert_fields():
    server('generated')
    rc, text = openssl('x509', '-in', SAVED, '-noout', '-text')
    san = re.search(r'Subject Alternative Name:.*\n\s*(.*)', text)
    check(san, 'no subjectAltName in %r' % text[:600])
    names = sorted(x.strip() for x in san.group(1).split(','))
    eq(names, sorted(['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']),
       'subjectAltName')
    check('id-ecPublicKey' in text, 'not an EC key')
    check(re.search(r'prime256v1|P-256', text), 'not P-256')
    with open(SAVED) as f:
        pem = f.read()
    check('PRIVATE KEY' not in pem, 'the saved file contains a private key')
    eq(pem.count('BEGIN CERTIFICATE'), 1, 'certificates in the saved file')


@test('--tls: curl --cacert SAVED https://localhost:TP/ verifies (no -k) and gets 200')
def gen_curl():
    server('generated')
    rc, out, err = curl_tls('generated', '/index.html', '-f', cacert=SAVED)
    eq(rc, 0, 'curl exit code (stderr %r)' % err[-300:])
    eq(out, FILES['index.html'], 'body')


@test('--tls: Python ssl with the saved file verifies 127.0.0.1 (IP SAN)')
def gen_py_ip():
    server('generated')
    ctx = client_context(cafile=SAVED)
    with TLSClient(tp('generated'), context=ctx, server_hostname=HOST) as c:
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=FILES['a.txt'])


run()
