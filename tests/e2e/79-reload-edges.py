#!/usr/bin/env python3
"""Reload corner cases: a port given up is closed for good once its workers are
gone (and can be taken back), a failed reload leaves no listener behind, the
HTTPS port survives an HTTP port change, the generated certificate stays, and
the master's memory settles over many reloads."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Server, address_sanitized, check, expect, fd_count,  # noqa
                          free_port, get, get_fresh, mkdtemp, new_root, proc_status, req, run,
                          set_script_timeout, test, tls_exchange, wait_until, write_config)

set_script_timeout(150)  # 200 reloads: ~15 s plain, ~20 s under ASan, more on busy cores

FILES = {'a.txt': b'file a\n'}
PARENT, ROOT = new_root(FILES)
A = FILES['a.txt']


def conf(lines):
    return write_config(os.path.join(mkdtemp(), 'p.conf'), lines)


def start(path, extra=()):
    s = Server(None, '-c', path, *extra, port=None, workers=1)
    s.start()
    return s


def refused(port):
    return get_fresh(port, '/a.txt', timeout=1) is None


@test('a port given up on reload refuses connections once drained, and can be taken back')
def port_back_and_forth():
    p1, p2 = free_port(), free_port()
    path = conf(['root %s' % ROOT, 'port %d' % p1, 'bind 127.0.0.1'])
    s = start(path)
    try:
        write_config(path, ['root %s' % ROOT, 'port %d' % p2, 'bind 127.0.0.1'])
        s.signal(signal.SIGHUP)
        check(wait_until(lambda: get_fresh(p2, '/a.txt'), 5), 'port %d never served' % p2)
        check(wait_until(lambda: refused(p1), 8), 'old port %d still accepts (held by a worker?)'
              % p1)
        write_config(path, ['root %s' % ROOT, 'port %d' % p1, 'bind 127.0.0.1'])
        s.signal(signal.SIGHUP)
        r = wait_until(lambda: get_fresh(p1, '/a.txt'), 5)
        check(r is not None, 'port %d could not be taken back (stderr %r)' % (p1, s.stderr()[-300:]))
        expect(r, 200, body=A)
    finally:
        s.stop()


@test('failed reloads (port taken) leave the master no extra descriptors or listeners')
def failed_reload_no_leak():
    p1 = free_port()
    path = conf(['root %s' % ROOT, 'port %d' % p1, 'bind 127.0.0.1', 'tls on',
                 'tls-port 0'])
    s = start(path)
    try:
        s.wait_workers(1)
        expect(get(p1, '/a.txt'), 200, body=A)
        # the most before and the least after: a process of the master's that is being
        # started again (its control socket) cannot pass for a leak, while a descriptor
        # kept by each failed reload (6 of them) still shows
        before = max(fd_count(s.pid) for _ in range(3))
        for i in range(6):
            p = free_port()
            write_config(path, ['root %s' % ROOT, 'port %d' % p, 'bind 127.0.0.1', 'tls on',
                                'tls-port %d' % p1])  # the plain port: this reload must fail
            s.signal(signal.SIGHUP)
            # measure only once the master has said this reload failed
            check(wait_until(lambda: s.stderr().count(b'reload failed') > i, 5),
                  'reload %d was not refused (stderr %r)' % (i + 1, s.stderr()[-300:]))
            check(refused(p), 'port %d of a failed reload accepts connections' % p)
        after = min(fd_count(s.pid) for _ in range(3))
        check(after <= before, 'master descriptors grew from %d to %d over 6 failed reloads'
              % (before, after))
        expect(get(p1, '/a.txt'), 200, body=A)
    finally:
        s.stop()


@test('changing only the HTTP port keeps HTTPS on its port and the generated certificate')
def http_port_change_keeps_tls():
    p1, p2, tp = free_port(), free_port(), free_port()
    path = conf(['root %s' % ROOT, 'port %d' % p1, 'bind 127.0.0.1', 'tls on',
                 'tls-port %d' % tp])
    s = start(path)
    try:
        fingerprint = [x for x in s.stdout().decode().splitlines() if 'fingerprint' in x]
        write_config(path, ['root %s' % ROOT, 'port %d' % p2, 'bind 127.0.0.1', 'tls on',
                            'tls-port %d' % tp])
        s.signal(signal.SIGHUP)
        check(wait_until(lambda: get_fresh(p2, '/a.txt'), 5),
              'reload failed (stderr %r)' % s.stderr()[-300:])
        check(b'reload failed' not in s.stderr(), 'stderr %r' % s.stderr()[-300:])
        import ssl
        import socket
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(socket.create_connection(('127.0.0.1', tp), timeout=5)) as c:
            der = c.getpeercert(binary_form=True)
        import hashlib
        fp = ':'.join('%02X' % b for b in hashlib.sha256(der).digest())
        check(fingerprint and fp in fingerprint[0] if fingerprint else True,
              'certificate changed across the reload: %s vs %r' % (fp, fingerprint))
    finally:
        s.stop()


def rss_kib(pid):
    return int(proc_status(pid)['VmRSS'].split()[0])


def reload_once(s, n, old):
    """SIGHUP number N; returns the new workers once the master has reaped OLD
    (so their generation is freed) and the new generation answers over TLS."""
    s.signal(signal.SIGHUP)
    check(wait_until(lambda: s.stderr().count(b'reloaded:') >= n, 10),
          'reload %d not done (stderr %r)' % (n, s.stderr()[-300:]))
    new = wait_until(lambda: (lambda w: w if w and not w & old else None)(s.workers()), 10)
    check(new, 'reload %d: workers %r, old %r' % (n, s.workers(), old))
    expect(tls_exchange(s.tls_port, req('GET', '/a.txt')), 200, body=A)
    return new


@test('reloads with TLS: the master\'s RSS settles (the last 150 reloads grow it < 240 KiB)')
def reload_rss_settles():
    # Nothing of a generation outlives it, but glibc keeps up to 7 freed chunks
    # of each small size for reuse (234 KiB at most) and a reload's OpenSSL
    # objects come in many sizes: the RSS creeps for a few hundred reloads, then
    # stays (here 36-44 KiB from reload 50 to 200; nginx 1.22's master: 112).
    # A leak of ~6 KiB a reload adds ~900 KiB over 150 reloads; one kept
    # SSL_CTX, ~2,600 KiB.
    env = os.environ.get('ASAN_OPTIONS')
    reloads, window = 200, 150
    if address_sanitized():
        # ASan parks freed memory in a quarantine (256 MiB): without it, its RSS
        # settles too, but later: it grew 272-324 KiB from reload 50 to 200 and
        # not at all from 200 to 600, so judge reloads 250 to 400
        reloads = 400
        os.environ['ASAN_OPTIONS'] = ':'.join(
            x for x in (env, 'quarantine_size_mb=0', 'thread_local_quarantine_size_kb=0') if x)
    s = Server(ROOT, '--tls', '--tls-port', '0', workers=1)
    try:
        s.start(timeout=15)
    finally:
        if env is None:
            os.environ.pop('ASAN_OPTIONS', None)
        else:
            os.environ['ASAN_OPTIONS'] = env
    try:
        old = s.wait_workers(1)
        rss = {0: rss_kib(s.pid)}
        for n in range(1, reloads + 1):
            old = reload_once(s, n, old)
            if n % 50 == 0 or n == 1:
                rss[n] = rss_kib(s.pid)
        print('# master VmRSS (KiB) by reload: %s'
              % ', '.join('%d: %d' % kv for kv in sorted(rss.items())), flush=True)
        first = reloads - window
        grown = rss[reloads] - rss[first]
        check(grown < 240, 'master RSS grew %d KiB from reload %d to %d (%d -> %d KiB): a leak '
              'of ~%.1f KiB a reload' % (grown, first, reloads, rss[first], rss[reloads],
                                         grown / window))
    finally:
        s.stop()


run()
