#!/usr/bin/env python3
"""Target decoding, dot segments, traversal, dotfiles and symlinks."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Client, add_case, check, check_common, expect,  # noqa: E402
                          make_tree, new_root, req, run, start_server, test)

SECRET = b'SECRET-' + os.urandom(8).hex().encode() + b'-DO-NOT-SERVE'
FILES = {
    'a.txt': b'file a\n',
    'sub/b.txt': b'file b\n',
    'sub/.hidden': b'hidden\n',
    '.env': b'PASSWORD=x\n',
    '.git/config': b'[core]\n',
    '.well-known/x.txt': b'well known\n',
    'file.with.dots.txt': b'dots inside a name\n',
    '%41.txt': b'percent-41 literal name\n',
    '%2e%2e': None,
    '%2e%2e/secret.txt': b'decoy, a literal %2e%2e directory\n',
    'caf\u00e9.txt': b'non-ascii name\n',
    'a#b.txt': b'hash in name\n',
    'a+b.txt': b'plus in name\n',
    'link-out.txt': ('symlink', '../secret.txt'),
    'link-abs.txt': None,   # replaced below by an absolute symlink
    'link-dir': None,       # replaced below by a symlink to the parent dir
    'link-in.txt': ('symlink', 'a.txt'),
    'sub/link-up.txt': ('symlink', '../a.txt'),
}
PARENT, ROOT = new_root({k: v for k, v in FILES.items() if k not in ('link-abs.txt', 'link-dir')})
make_tree(PARENT, {'secret.txt': SECRET})
os.symlink(os.path.join(PARENT, 'secret.txt'), os.path.join(ROOT, 'link-abs.txt'))
os.symlink(PARENT, os.path.join(ROOT, 'link-dir'))
srv = start_server(ROOT)
P = srv.port

A = FILES['a.txt']
CASES = [
    # target, status, body (None: an error body, not checked beyond the code)
    ('/a.txt', 200, A),
    ('//a.txt', 200, A),
    ('///a.txt', 200, A),
    ('/sub//b.txt', 200, FILES['sub/b.txt']),
    ('/./a.txt', 200, A),
    ('/sub/./b.txt', 200, FILES['sub/b.txt']),
    ('/sub/../a.txt', 200, A),
    ('/sub/%2e%2e/a.txt', 200, A),
    ('/sub/%2E%2E/a.txt', 200, A),
    ('/sub/%2e/b.txt', 200, FILES['sub/b.txt']),
    ('/%61.txt', 200, A),
    ('/%61%2E%74%78%74', 200, A),
    ('/%2541.txt', 200, FILES['%41.txt']),
    ('/file.with.dots.txt', 200, FILES['file.with.dots.txt']),
    ('/caf%C3%A9.txt', 200, FILES['caf\u00e9.txt']),
    ('/caf%c3%a9.txt', 200, FILES['caf\u00e9.txt']),
    ('/a%23b.txt', 200, FILES['a#b.txt']),
    ('/a+b.txt', 200, FILES['a+b.txt']),
    ('/a%2Bb.txt', 200, FILES['a+b.txt']),
    ('/a.txt?../../secret.txt', 200, A),
    ('/a%00.txt', 400, None),
    ('/a.txt%00', 400, None),
    ('/%00', 400, None),
    ('/sub%2Fb.txt', 400, None),
    ('/sub%2fb.txt', 400, None),
    ('/%zz', 400, None),
    ('/a%4', 400, None),
    ('/a%4.txt', 400, None),
    ('/a%', 400, None),
    ('/%g1.txt', 400, None),
    ('/../x', 400, None),
    ('/%2e%2e/x', 400, None),
    ('/%2E%2E/x', 400, None),
    ('/a/../../x', 400, None),
    ('/sub/../../a.txt', 400, None),
    ('/..', 400, None),
    ('/%252e%252e/x', 404, None),
    ('/%252e%252e/secret.txt', 200, FILES['%2e%2e/secret.txt']),
    ('/..\\..\\secret.txt', 404, None),
    ('/..%5c..%5csecret.txt', 404, None),
    ('/.env', 404, None),
    ('/.git/config', 404, None),
    ('/.git', 404, None),
    ('/.git/', 404, None),
    ('/sub/.hidden', 404, None),
    ('/%2eenv', 404, None),
    ('/sub/%2ehidden', 404, None),
    ('/.well-known/x.txt', 200, FILES['.well-known/x.txt']),
    ('/link-in.txt', 200, A),
    ('/sub/link-up.txt', 200, A),
    ('/link-out.txt', 404, None),
    ('/link-abs.txt', 404, None),
    ('/link-dir/secret.txt', 404, None),
    ('/link-dir/root/a.txt', 404, None),
]


def path_case(target, status, body):
    with Client(P) as c:
        c.send(req('GET', target))
        r = c.read_response()
    check(SECRET not in r.body, 'SECRET served for %r' % target)
    expect(r, status, body=body)


for t, s, b in CASES:
    add_case('GET %s -> %d' % (t, s), path_case, t, s, b)

# Every way out of the root: none may return the secret's bytes.
TRAVERSALS = [
    '/../secret.txt', '/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/secret.txt',
    '/%2E%2E%2Fsecret.txt', '/..%2fsecret.txt', '/..%2Fsecret.txt', '/%2e%2e%2fsecret.txt',
    '/sub/../../secret.txt', '/sub/%2e%2e/%2e%2e/secret.txt', '/./../secret.txt',
    '/%252e%252e%252fsecret.txt', '/..\\secret.txt',
    '/..\\..\\secret.txt', '/%5c..%5csecret.txt', '/..%5csecret.txt', '/..%255csecret.txt',
    '/.%2e/secret.txt', '/%2e./secret.txt', '/..;/secret.txt', '/...//secret.txt',
    '/..%00/secret.txt', '/%c0%ae%c0%ae/secret.txt', '/%c0%af../secret.txt',
    '/link-out.txt', '/link-abs.txt', '/link-dir/secret.txt', '/link-dir/./secret.txt',
    'http://x/../secret.txt', 'http://x/%2e%2e/secret.txt', 'http://127.0.0.1/../secret.txt',
    '../secret.txt', '..%2fsecret.txt', 'secret.txt',
]


def traversal_case(target, version):
    with Client(P) as c:
        c.send(req('GET', target, version=version))
        data = c.read_to_eof() if version == 'HTTP/1.0' else None
        if data is None:
            r = c.read_response()
            check(SECRET not in r.body, 'SECRET served for %r: %r' % (target, r))
            check(r.status >= 400, 'not an error: %r' % r)
            check_common(r)
        else:
            check(SECRET not in data, 'SECRET served for %r: %r' % (target, data[:300]))
            check(data.startswith(b'HTTP/1.1 4'), 'not a 4xx: %r' % data[:100])


for t in TRAVERSALS:
    add_case('traversal %s (1.1) does not leak' % t, traversal_case, t, 'HTTP/1.1')
for t in TRAVERSALS[:6] + ['http://x/../secret.txt']:
    add_case('traversal %s (1.0) does not leak' % t, traversal_case, t, 'HTTP/1.0')


@test('server still serves after the traversal attempts')
def still_serving():
    with Client(P) as c:
        c.send(req('GET', '/a.txt'))
        expect(c.read_response(), 200, body=A)
    check(srv.alive(), 'server died')


run()
