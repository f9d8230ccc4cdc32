#!/usr/bin/env python3
"""Privileges when started as root: workers drop to --user (default www-data
if it exists, else nobody) with every uid/gid field and no capabilities; the
master stays root; --user root is an explicit opt-in; an unknown user is a
start-up error; --chroot confines workers to the document root.  Runs only
as root (skipped otherwise)."""

import os
import pwd
import signal
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, OPENSSL, PKI, Server, Skip, StartError, TLSClient,  # noqa: E402
                          alive_of, check, eq, expect, get, new_root, proc_ids, proc_status,
                          req, require_binary, run, run_portico, set_script_timeout, skip_all,
                          stderr_one_line, test, wait_gone, wait_until, write_config)

require_binary()
if os.geteuid() != 0:
    skip_all('the privilege tests need root (running as uid %d)' % os.geteuid())
set_script_timeout(150)


def user_or_none(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


DEFAULT_USER = user_or_none('www-data') or user_or_none('nobody')
NOBODY = user_or_none('nobody')

SECRET = b'root only\n'
FILES = {'a.txt': b'file a\n', 'secret.txt': SECRET, 'sub/b.txt': b'file b\n',
         'link.txt': ('symlink', 'a.txt'), 'sub/up.txt': ('symlink', '../a.txt')}
PARENT, ROOT = new_root(FILES)
ROOT_REAL = os.path.realpath(ROOT)
os.chmod(os.path.join(ROOT, 'sub'), 0o755)
for _f in ('a.txt', 'sub/b.txt'):
    os.chmod(os.path.join(ROOT, _f), 0o644)
os.chmod(os.path.join(ROOT, 'secret.txt'), 0o600)       # readable by root only
with open(os.path.join(PARENT, 'outside.txt'), 'wb') as _f:
    _f.write(b'outside the root\n')
os.chmod(os.path.join(PARENT, 'outside.txt'), 0o644)
os.symlink(os.path.join(PARENT, 'outside.txt'), os.path.join(ROOT, 'out-abs.txt'))
os.symlink('../outside.txt', os.path.join(ROOT, 'out-rel.txt'))
A = FILES['a.txt']
LO = ['-p', '0', '-b', HOST, '-q', '-w', '1']


def start(*extra, root=ROOT, workers=2, **kw):
    s = Server(root, *extra, workers=workers, **kw)
    try:
        s.start()
    except StartError as e:
        raise AssertionError('server did not start: %s' % e)
    pids = s.wait_workers(workers)
    eq(len(pids), workers, 'workers')
    return s, pids


def ids_text(pid):
    st = proc_status(pid)
    return 'Uid %s, Gid %s, Groups %s' % (st.get('Uid'), st.get('Gid'), st.get('Groups'))


def check_worker_is(pid, pw):
    """Every uid field is PW's uid, every gid field its gid, no supplementary
    group 0 (unless PW is root), no capabilities (unless root).  A worker
    forked a moment ago may not have dropped yet: allow it 3 s."""
    wait_until(lambda: proc_ids(pid)[:2] == ([pw.pw_uid] * 4, [pw.pw_gid] * 4), 3)
    uids, gids, groups = proc_ids(pid)
    eq(uids, [pw.pw_uid] * 4, 'Uid fields of worker %d (%s)' % (pid, ids_text(pid)))
    eq(gids, [pw.pw_gid] * 4, 'Gid fields of worker %d (%s)' % (pid, ids_text(pid)))
    if pw.pw_uid != 0:
        check(0 not in groups, 'worker %d keeps supplementary group 0: %s' % (pid, ids_text(pid)))
        st = proc_status(pid)
        for cap in ('CapEff', 'CapPrm'):
            eq(int(st.get(cap, '0'), 16), 0, '%s of worker %d' % (cap, pid))


def check_master_root(s):
    uids, _, _ = proc_ids(s.pid)
    eq(uids[1], 0, 'effective uid of the master (%s)' % ids_text(s.pid))


@test('default: workers run as %s (all four Uid and Gid fields, no capabilities), the master '
      'stays root, files are served' % (DEFAULT_USER.pw_name if DEFAULT_USER else '?'))
def default_user():
    if DEFAULT_USER is None:
        raise Skip('neither www-data nor nobody exists')
    s, pids = start()
    try:
        for p in pids:
            check_worker_is(p, DEFAULT_USER)
            uids, gids, _ = proc_ids(p)
            check(all(uids) and all(gids), 'worker %d has a zero id: %s' % (p, ids_text(p)))
        check_master_root(s)
        for t in ('/a.txt', '/link.txt', '/sub/up.txt'):
            expect(get(s.port, t), 200, body=A)
        expect(get(s.port, '/sub/b.txt'), 200, body=b'file b\n')
    finally:
        s.stop()


@test('a file only root may read (0600) -> 403; the dropped worker really cannot open it')
def root_only_file():
    s, pids = start()
    try:
        r = get(s.port, '/secret.txt')
        check(SECRET not in r.body, 'the root-only file was served: %r' % r)
        expect(r, 403)
    finally:
        s.stop()


@test('--user nobody: workers run as nobody')
def user_nobody():
    if NOBODY is None:
        raise Skip('no user nobody')
    s, pids = start('--user', 'nobody')
    try:
        for p in pids:
            check_worker_is(p, NOBODY)
        check_master_root(s)
        expect(get(s.port, '/a.txt'), 200, body=A)
    finally:
        s.stop()


@test('user nobody in a config file: workers run as nobody')
def user_in_file():
    if NOBODY is None:
        raise Skip('no user nobody')
    path = write_config(os.path.join(PARENT, 'user.conf'), ['root %s' % ROOT, 'user nobody'])
    s, pids = start('-c', path, root=None)
    try:
        for p in pids:
            check_worker_is(p, NOBODY)
        expect(get(s.port, '/a.txt'), 200, body=A)
    finally:
        s.stop()


@test('--user root: workers stay root (explicit opt-in)')
def user_root():
    s, pids = start('--user', 'root')
    try:
        for p in pids:
            uids, gids, _ = proc_ids(p)
            eq(uids, [0, 0, 0, 0], 'Uid fields of worker %d' % p)
        expect(get(s.port, '/secret.txt'), 200, body=SECRET)
    finally:
        s.stop()


@test('--user no-such-user: exit 1 naming the user (start and -t)')
def user_unknown():
    name = 'no-such-user-portico'
    check(user_or_none(name) is None, 'user %s exists' % name)
    for args in (LO + ['--user', name, ROOT], ['-t', '--user', name, ROOT]):
        code, out, err = run_portico(args)
        line = stderr_one_line(err, code, 1)
        check(name in line, 'message does not name the user: %r' % line)
        check(b'serving' not in out, 'a server started: %r' % out)


@test('a respawned worker (after SIGKILL) is unprivileged too')
def respawn_dropped():
    if DEFAULT_USER is None:
        raise Skip('neither www-data nor nobody exists')
    s, pids = start()
    try:
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        new = wait_until(lambda: [p for p in alive_of(s.workers()) if p not in pids], 5)
        check(new, 'no new worker within 5 s')
        for p in new:
            check_worker_is(p, DEFAULT_USER)
        expect(get(s.port, '/a.txt'), 200, body=A)
    finally:
        s.stop()


@test('after a SIGHUP reload the new workers are unprivileged; the master is still root')
def reload_dropped():
    if DEFAULT_USER is None:
        raise Skip('neither www-data nor nobody exists')
    path = write_config(os.path.join(PARENT, 'hup.conf'), ['root %s' % ROOT,
                                                          'cache-control one'])
    s, old = start('-c', path, root=None)
    try:
        write_config(path, ['root %s' % ROOT, 'cache-control two'])
        s.signal(signal.SIGHUP)
        left = wait_gone(old, 12)
        check(not left, 'old workers %r still alive 12 s after SIGHUP' % left)
        new = s.wait_workers(2, exclude=old)
        eq(len(new), 2, 'new workers')
        for p in new:
            check_worker_is(p, DEFAULT_USER)
        check_master_root(s)
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='two')
    finally:
        s.stop()


def proc_root(pid):
    try:
        return os.readlink('/proc/%d/root' % pid)
    except OSError as e:
        return repr(e)


def check_chrooted(s, pids):
    """Each worker of PIDS is chrooted to the document root (allowing a worker
    forked a moment ago 3 s to get there); the master is not."""
    for p in pids:
        wait_until(lambda: proc_root(p) == ROOT_REAL, 3)
        eq(proc_root(p), ROOT_REAL, '/proc/%d/root of a worker' % p)
    eq(proc_root(s.pid), '/', '/proc/PID/root of the master')


@test('--chroot: workers\' /proc/PID/root is the document root; files and symlinks inside '
      'the root are served; symlinks out of it are not')
def chroot():
    s, pids = start('--chroot')
    try:
        check_chrooted(s, pids)
        if DEFAULT_USER is not None:
            for p in pids:
                check_worker_is(p, DEFAULT_USER)
        expect(get(s.port, '/a.txt'), 200, body=A)
        expect(get(s.port, '/link.txt'), 200, body=A)
        expect(get(s.port, '/sub/up.txt'), 200, body=A)
        expect(get(s.port, '/sub/b.txt'), 200, body=b'file b\n')
        r = get(s.port, '/sub/')
        check(r.status in (403, 404), '/sub/ without listing: %r' % r)
        for t in ('/out-abs.txt', '/out-rel.txt'):
            r = get(s.port, t)
            check(b'outside the root' not in r.body, '%s served a file outside the root' % t)
            check(r.status in (403, 404), '%s: status %d' % (t, r.status))
        # keep-alive, HEAD and a range work as usual in the chroot
        r = get(s.port, '/a.txt', headers=[('Range', 'bytes=0-3')])
        expect(r, 206, body=A[:4])
    finally:
        s.stop()


@test('chroot on in a config file, then SIGHUP: the new workers are chrooted too and serve')
def chroot_reload():
    path = write_config(os.path.join(PARENT, 'chroot.conf'),
                        ['root %s' % ROOT, 'chroot on', 'cache-control one', 'listing on'])
    s, old = start('-c', path, root=None)
    try:
        check_chrooted(s, old)
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='one')
        r = expect(get(s.port, '/sub/'), 200)
        check(b'b.txt' in r.body, 'listing in the chroot lacks b.txt: %r' % r.body[:200])
        write_config(path, ['root %s' % ROOT, 'chroot on', 'cache-control two', 'listing on'])
        s.signal(signal.SIGHUP)
        left = wait_gone(old, 12)
        check(not left, 'old workers %r still alive 12 s after SIGHUP' % left)
        new = s.wait_workers(2, exclude=old)
        eq(len(new), 2, 'new workers')
        check_chrooted(s, new)
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='two')
    finally:
        s.stop()


@test('a TLS key readable only by root (0600) is loaded by the master; HTTPS works from '
      'unprivileged workers')
def tls_root_key():
    if not OPENSSL:
        raise Skip('openssl not installed')
    certs = os.path.join(PARENT, 'certs')
    os.mkdir(certs, 0o700)
    pki = PKI(certs)
    cert, key = pki.leaf('leaf', ['DNS:localhost', 'IP:127.0.0.1'])
    os.chmod(key, 0o600)
    s, pids = start('--tls-port', '0', '--tls-cert', cert, '--tls-key', key)
    try:
        if DEFAULT_USER is not None:
            for p in pids:
                check_worker_is(p, DEFAULT_USER)
        check(s.tls_port, 'no https URL in %r' % s.line)
        for _ in range(3):
            with TLSClient(s.tls_port) as c:
                c.send(req('GET', '/a.txt'))
                expect(c.read_response(), 200, body=A)
    finally:
        s.stop()


@test('access log opened by the root master in a root-owned 0755 directory gets the '
      'unprivileged workers\' lines')
def access_log_dropped():
    logdir = os.path.join(PARENT, 'logs')
    os.mkdir(logdir, 0o755)
    log = os.path.join(logdir, 'access.log')
    s, pids = start('--access-log', log)
    try:
        for i in range(4):
            expect(get(s.port, '/a.txt?n=%d' % i), 200, body=A)
        ok = wait_until(lambda: open(log).read().count('/a.txt?n=') == 4
                        if os.path.exists(log) else False, 3)
        check(ok, 'access log has %r' % (open(log).read()[-300:] if os.path.exists(log) else None))
    finally:
        s.stop()


run()
