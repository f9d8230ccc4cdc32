#!/usr/bin/env python3
"""Sites over HTTPS: each site's certificate is chosen by SNI for its names (a site
without one gets the global certificate), a site's tls-cert turns HTTPS on, and a
request whose Host names another site with a certificate of its own than the one
SNI named is answered 421 Misdirected Request."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (PKI, Server, TLSClient, add_case, client_context, eq,  # noqa: E402
                          mkdtemp, make_tree, req, require_binary, run, set_script_timeout,
                          test, write_config)

require_binary()
set_script_timeout(120)

BASE = mkdtemp()
PKIDIR = os.path.join(BASE, 'pki')
os.mkdir(PKIDIR)
CA = PKI(PKIDIR)
GLOBAL = CA.leaf('global', ['DNS:localhost', 'DNS:*.shared.test'], kind='ec')
A = CA.leaf('a', ['DNS:a.test', 'DNS:www.a.test'], kind='ec')
B = CA.leaf('b', ['DNS:*.b.test'], kind='ec')
ROOTS = {n: make_tree(os.path.join(BASE, n), {'index.html': ('%s\n' % n).encode()})
         for n in ('default', 'a', 'b', 'c')}
CONF = os.path.join(BASE, 'portico.conf')
write_config(CONF, [
    'root %s' % ROOTS['default'],
    'tls-port 0',
    'tls-cert %s' % GLOBAL[0], 'tls-key %s' % GLOBAL[1],
    '[site a.test www.a.test]', 'root %s' % ROOTS['a'],
    'tls-cert %s' % A[0], 'tls-key %s' % A[1], 'hsts 600',
    '[site *.b.test]', 'root %s' % ROOTS['b'],
    'tls-cert %s' % B[0], 'tls-key %s' % B[1],
    '[site c.shared.test]', 'root %s' % ROOTS['c'],
])
SERVER = Server(None, '-c', CONF).start()


def fetch(sni, host, port=None):
    """GET / over TLS with SNI (verified against the test CA); (names, status, body, r)."""
    ctx = client_context(cafile=CA.ca, check_hostname=False)
    with TLSClient(port or SERVER.tls_port, context=ctx, server_hostname=sni) as c:
        names = sorted(v for k, v in c.sock.getpeercert().get('subjectAltName', ()))
        c.send(req('GET', '/', host=host))
        r = c.read_response()
    return names, r.status, r.body, r


CASES = [
    # SNI, Host, certificate names, status, body
    ('a.test', 'a.test', ['a.test', 'www.a.test'], 200, b'a\n'),
    ('WWW.A.TEST', 'www.a.test', ['a.test', 'www.a.test'], 200, b'a\n'),
    ('x.b.test', 'x.b.test', ['*.b.test'], 200, b'b\n'),
    ('c.shared.test', 'c.shared.test', ['*.shared.test', 'localhost'], 200, b'c\n'),
    ('localhost', 'localhost', ['*.shared.test', 'localhost'], 200, b'default\n'),
    ('unknown.test', 'unknown.test', ['*.shared.test', 'localhost'], 200, b'default\n'),
    # a connection made for one site, a request for another that has its own certificate
    ('a.test', 'x.b.test', ['a.test', 'www.a.test'], 421, None),
    ('localhost', 'a.test', ['*.shared.test', 'localhost'], 421, None),
    # ... but a site with no certificate of its own may share any connection
    ('a.test', 'c.shared.test', ['a.test', 'www.a.test'], 200, b'c\n'),
    ('x.b.test', 'unknown.test', ['*.b.test'], 200, b'default\n'),
]


def case(sni, host, names, status, body):
    got_names, got_status, got_body, _ = fetch(sni, host)
    eq(got_names, names, 'certificate for SNI %s' % sni)
    eq(got_status, status, 'status for Host %s' % host)
    if body is not None:
        eq(got_body, body, 'body')


for _c in CASES:
    add_case('SNI %s, Host %s: %d' % (_c[0], _c[1], _c[3]), case, *_c)


@test("a site's own hsts: Strict-Transport-Security on its responses only")
def site_hsts():
    eq(fetch('a.test', 'a.test')[3].get('strict-transport-security'), 'max-age=600', 'a.test')
    eq(fetch('x.b.test', 'x.b.test')[3].get('strict-transport-security'), None, 'b.test')


@test("a site's tls-cert alone turns HTTPS on (the global default is generated)")
def site_cert_turns_tls_on():
    conf = os.path.join(BASE, 'only-site.conf')
    write_config(conf, ['root %s' % ROOTS['default'], 'tls-port 0', '[site a.test]',
                        'root %s' % ROOTS['a'], 'tls-cert %s' % A[0], 'tls-key %s' % A[1]])
    s = Server(None, '-c', conf).start()
    try:
        names, status, body, _ = fetch('a.test', 'a.test', port=s.tls_port)
        eq((names, status, body), (['a.test', 'www.a.test'], 200, b'a\n'), 'a.test')
    finally:
        s.stop()


run()
