#!/usr/bin/env python3
"""The master's signals with a configuration file: SIGHUP reload (new workers
with the new settings, old ones drain and exit; a broken file keeps the old
workers serving; zero failed requests under load), SIGUSR1 log reopening,
SIGQUIT graceful stop, SIGTERM, and the pid file."""

import hashlib
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, OPENSSL, PKI, Client, Closed, Server, Skip,  # noqa: E402
                          SlowDownload, StartError, TLSClient, alive_of, check, eq, expect,
                          free_port, get, get_fresh, new_root, only_worker, read_text, req,
                          require_binary, run, set_script_timeout, test, wait_gone,
                          wait_until, write_config)

require_binary()
set_script_timeout(240)

BIG = os.urandom(20 << 20)
MID = os.urandom(300 << 10)
FILES = {'a.txt': b'file a\n', 'mid.bin': MID, 'big.bin': BIG, 'dir/b.txt': b'file b\n'}
PARENT, ROOT = new_root(FILES)
A = FILES['a.txt']
CONF = os.path.join(PARENT, 'conf')
os.mkdir(CONF)
os.chmod(CONF, 0o755)
_n = [0]
OLD_GONE = 12          # seconds old workers get to drain and exit after a reload


def conf_path():
    _n[0] += 1
    return os.path.join(CONF, 'c%d.conf' % _n[0])


def start(path, *extra, **kw):
    kw.setdefault('workers', 2)
    s = Server(None, '-c', path, *extra, **kw)
    try:
        s.start()
    except StartError as e:
        raise AssertionError('server did not start: %s' % e)
    pids = s.wait_workers(kw['workers'] or 1)
    return s, pids


def cache_control_is(port, want, timeout=5.0):
    """Poll new connections until /a.txt carries Cache-Control WANT; returns
    the last value seen."""
    seen = [None]

    def probe():
        r = get_fresh(port, '/a.txt')
        seen[0] = r.get('cache-control') if r is not None else '(no response)'
        return seen[0] == want
    wait_until(probe, timeout, 0.05)
    return seen[0]


def reloaded(s, old, n, timeout=OLD_GONE):
    """After a reload: OLD all exit within TIMEOUT and N new workers run."""
    t0 = time.monotonic()
    left = wait_gone(old, timeout)
    if left:
        # say how long they really took (bounded), to make the failure precise
        later = wait_gone(left, 10)
        raise AssertionError('old workers %r still alive %d s after SIGHUP (%s)' % (
            left, timeout, 'still alive after %d s' % (timeout + 10) if later else
            'gone after %.1f s' % (time.monotonic() - t0)))
    check(s.alive(), 'master exited after SIGHUP (code %r, stderr %r)'
          % (s.proc.poll(), s.stderr()[-300:]))
    new = s.wait_workers(n, exclude=old)
    eq(len(new), n, 'new workers %r (old %r)' % (new, old))
    return new


def stderr_since(s, mark):
    return s.stderr()[mark:].decode('utf-8', 'replace')


# ---- SIGHUP with a valid file -----------------------------------------------

@test('SIGHUP with cache-control changed: new responses show it; old workers exit within '
      '12 s; same master, 2 new workers')
def hup_cache_control():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control max-age=1'])
    s, old = start(path)
    try:
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='max-age=1')
        write_config(path, ['root %s' % ROOT, 'cache-control max-age=2'])
        s.signal(signal.SIGHUP)
        got = cache_control_is(s.port, 'max-age=2')
        eq(got, 'max-age=2', 'Cache-Control 5 s after SIGHUP')
        reloaded(s, old, 2)
        for _ in range(10):
            expect(get(s.port, '/a.txt'), 200, body=A, cache_control='max-age=2')
    finally:
        s.stop()


@test('SIGHUP while a client holds an idle keep-alive connection to an old worker: the old '
      'workers still exit within 12 s (default keepalive-timeout 15)')
def hup_idle_keepalive():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control max-age=1'])
    s, old = start(path)
    idle = None
    try:
        idle = Client(s.port)
        idle.send(req('GET', '/a.txt'))
        expect(idle.read_response(), 200, cache_control='max-age=1')
        write_config(path, ['root %s' % ROOT, 'cache-control max-age=2'])
        s.signal(signal.SIGHUP)
        eq(cache_control_is(s.port, 'max-age=2'), 'max-age=2', 'Cache-Control after SIGHUP')
        reloaded(s, old, 2)
    finally:
        if idle:
            idle.close()
        s.stop()


@test('SIGHUP with listing off -> on: /dir/ goes from 403 to a listing')
def hup_listing():
    path = write_config(conf_path(), ['root %s' % ROOT, 'listing off'])
    s, old = start(path)
    try:
        expect(get(s.port, '/dir/'), 403)
        write_config(path, ['root %s' % ROOT, 'listing on'])
        s.signal(signal.SIGHUP)
        r = wait_until(lambda: (lambda r: r if r is not None and r.status == 200 else None)(
            get_fresh(s.port, '/dir/')), 5)
        check(r is not None, '/dir/ still not listed 5 s after SIGHUP')
        check(b'b.txt' in r.body, 'listing lacks b.txt: %r' % r.body[:200])
        reloaded(s, old, 2)
        expect(get(s.port, '/dir/'), 200)
    finally:
        s.stop()


@test('SIGHUP during a slow 20 MiB download: it completes byte-exact; the old worker then exits')
def hup_inflight():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control v1'])
    s, old = start(path)
    d = None
    try:
        d = SlowDownload(s.port, '/big.bin', len(BIG), timeout=20).start()
        write_config(path, ['root %s' % ROOT, 'cache-control v2'])
        s.signal(signal.SIGHUP)
        eq(cache_control_is(s.port, 'v2'), 'v2', 'Cache-Control 5 s after SIGHUP')
        n, digest = d.finish()
        eq(n, len(BIG), 'bytes received')
        check(digest == hashlib.sha256(BIG).hexdigest(), 'body differs from the file')
        d.close()
        d = None
        reloaded(s, old, 2)
    finally:
        if d:
            d.close()
        s.stop()


@test('SIGHUP twice in a row: both take effect, exactly 2 workers afterwards')
def hup_twice():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control one'])
    s, old = start(path)
    try:
        write_config(path, ['root %s' % ROOT, 'cache-control two'])
        s.signal(signal.SIGHUP)
        time.sleep(0.05)
        write_config(path, ['root %s' % ROOT, 'cache-control three'])
        s.signal(signal.SIGHUP)
        eq(cache_control_is(s.port, 'three'), 'three', 'Cache-Control after two SIGHUPs')
        left = wait_gone(old, OLD_GONE)
        check(not left, 'first-generation workers %r still alive' % left)
        # the middle generation must be gone too: only 2 children in the end
        final = wait_until(lambda: (lambda w: w if len(w) == 2 else None)(
            alive_of(s.workers())), OLD_GONE)
        check(final, 'children 12 s after two reloads: %r' % alive_of(s.workers()))
        for _ in range(10):
            expect(get(s.port, '/a.txt'), 200, body=A, cache_control='three')
    finally:
        s.stop()


@test('a worker killed after a reload is respawned with the new settings')
def respawn_after_reload():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control before'])
    s, old = start(path, workers=1)
    try:
        write_config(path, ['root %s' % ROOT, 'cache-control after'])
        s.signal(signal.SIGHUP)
        new = reloaded(s, old, 1)
        victim = sorted(new)[0]
        os.kill(victim, signal.SIGKILL)
        again = wait_until(lambda: [p for p in alive_of(s.workers()) if p != victim], 5)
        check(again, 'no worker respawned within 5 s')
        for _ in range(5):
            expect(get(s.port, '/a.txt'), 200, body=A, cache_control='after')
    finally:
        s.stop()


@test('SIGHUP with a new port in the file: the new port serves')
def hup_port():
    p1 = free_port()
    path = write_config(conf_path(), ['root %s' % ROOT, 'port %d' % p1])
    s = Server(None, '-c', path, port=None, workers=2)
    try:
        s.start()
    except StartError as e:
        raise AssertionError('server did not start: %s' % e)
    try:
        eq(s.port, p1, 'port in the start-up line')
        old = s.wait_workers(2)
        expect(get(p1, '/a.txt'), 200, body=A)
        p2 = free_port()
        while p2 == p1:
            p2 = free_port()
        write_config(path, ['root %s' % ROOT, 'port %d' % p2])
        s.signal(signal.SIGHUP)
        r = wait_until(lambda: get_fresh(p2, '/a.txt'), 5)
        check(r is not None, 'new port %d does not answer 5 s after SIGHUP (stderr %r)'
              % (p2, s.stderr()[-300:]))
        expect(r, 200, body=A)
        reloaded(s, old, 2)
        expect(get(p2, '/a.txt'), 200, body=A)
    finally:
        s.stop()


@test('SIGHUP with a new certificate in the file: new TLS connections get it')
def hup_tls_cert():
    if not OPENSSL:
        raise Skip('openssl not installed')
    certs = os.path.join(PARENT, 'certs')
    os.mkdir(certs)
    pki = PKI(certs)
    c1, k1 = pki.leaf('one', ['DNS:localhost', 'IP:127.0.0.1'])
    c2, k2 = pki.leaf('two', ['DNS:localhost', 'IP:127.0.0.1'], kind='ec')
    path = write_config(conf_path(), ['root %s' % ROOT, 'tls-port 0',
                                      'tls-cert %s' % c1, 'tls-key %s' % k1])
    s, old = start(path)
    try:
        check(s.tls_port, 'no https URL in %r' % s.line)

        def served_cert():
            try:
                with TLSClient(s.tls_port) as c:
                    der = c.sock.getpeercert(binary_form=True)
                    c.send(req('GET', '/a.txt'))
                    expect(c.read_response(), 200, body=A)
                    return der
            except (OSError, Closed):
                return None

        def der_of(pem):
            with open(pem) as f:
                return ssl.PEM_cert_to_DER_cert(f.read())
        eq(served_cert() == der_of(c1), True, 'first certificate served')
        write_config(path, ['root %s' % ROOT, 'tls-port 0', 'tls-cert %s' % c2,
                            'tls-key %s' % k2])
        s.signal(signal.SIGHUP)
        ok = wait_until(lambda: served_cert() == der_of(c2), 5, 0.1)
        check(ok, 'the new certificate is not served 5 s after SIGHUP')
        reloaded(s, old, 2)
    finally:
        s.stop()


# ---- SIGHUP with a broken file ----------------------------------------------

@test('SIGHUP with a broken file (unknown key, then missing root, then no file): stderr says '
      'why, same workers keep serving the old settings; a fixed file then applies')
def hup_broken():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control good'])
    s, old = start(path)
    try:
        expect(get(s.port, '/a.txt'), 200, body=A, cache_control='good')
        missing_root = os.path.join(PARENT, 'no-such-root')
        steps = [
            (['root %s' % ROOT, 'bogus-key 1', 'cache-control bad'],
             ['%s:2:' % path, "unknown key 'bogus-key'"]),
            (['root %s' % ROOT, 'port abc'], ['%s:2:' % path, "invalid port 'abc'"]),
            (['root %s' % missing_root, 'cache-control bad'], [missing_root]),
            (None, [path, 'No such file or directory']),
        ]
        for lines, needles in steps:
            mark = len(s.stderr())
            if lines is None:
                os.unlink(path)
            else:
                write_config(path, lines)
            s.signal(signal.SIGHUP)
            text = wait_until(lambda: (lambda t: t if all(n in t for n in needles) else None)(
                stderr_since(s, mark)), 5)
            check(text, 'stderr after SIGHUP with %r lacks %r: %r'
                  % (lines, needles, stderr_since(s, mark)))
            time.sleep(1.0)
            check(s.alive(), 'master exited after a bad reload (code %r)' % s.proc.poll())
            now = set(alive_of(s.workers()))
            eq(now, set(old), 'workers after a bad reload')
            for _ in range(5):
                expect(get(s.port, '/a.txt'), 200, body=A, cache_control='good')
        write_config(path, ['root %s' % ROOT, 'cache-control fixed'])
        s.signal(signal.SIGHUP)
        eq(cache_control_is(s.port, 'fixed'), 'fixed', 'Cache-Control after the fixed reload')
        reloaded(s, old, 2)
    finally:
        s.stop()


# ---- reload under load -------------------------------------------------------

class Load:
    """Client threads that keep making requests until stop: keep-alive
    connections of several requests and single-request connections."""

    TARGETS = [('/a.txt', A), ('/a.txt', A), ('/mid.bin', MID)]

    def __init__(self, port, nthreads=4):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.errors = []        # (kind, detail)
        self.retries = 0        # reused keep-alive closed before any byte: retried
        self.threads = [threading.Thread(target=self.loop, args=(i,), daemon=True)
                        for i in range(nthreads)]

    def error(self, kind, detail):
        with self.lock:
            self.errors.append((kind, detail))

    def count(self, conns=0, reqs=0, retries=0):
        with self.lock:
            self.connections += conns
            self.requests += reqs
            self.retries += retries

    def one(self, c, target, body, last):
        """Send one request on C and read the response; raises on trouble."""
        hdrs = [('Connection', 'close')] if last else []
        c.send(req('GET', target, headers=hdrs))
        r = c.read_response(timeout=5)
        if r.status != 200 or r.body != body:
            raise AssertionError('%s: status %d, %d body bytes (want %d)'
                                 % (target, r.status, len(r.body), len(body)))
        return r

    def fresh(self, target, body):
        """One request on a new connection; any failure is an error."""
        try:
            c = Client(self.port, timeout=5)
        except OSError as e:
            self.error('connect', repr(e))
            return
        self.count(conns=1)
        try:
            self.one(c, target, body, True)
            self.count(reqs=1)
        except Closed as e:
            self.error('closed before a response on a fresh connection', str(e))
        except (OSError, AssertionError) as e:
            self.error('bad response', '%s: %r' % (target, e))
        finally:
            c.close()

    def loop(self, seed):
        rnd = random.Random(seed)
        while not self.stop.is_set():
            n = rnd.choice([1, 3, 5, 8])
            try:
                c = Client(self.port, timeout=5)
            except OSError as e:
                self.error('connect', repr(e))
                time.sleep(0.01)
                continue
            self.count(conns=1)
            try:
                for i in range(n):
                    if self.stop.is_set():
                        break
                    target, body = rnd.choice(self.TARGETS)
                    try:
                        r = self.one(c, target, body, i == n - 1)
                    except (Closed, BrokenPipeError, ConnectionResetError) as e:
                        if i == 0:
                            self.error('closed before a response on a fresh connection',
                                       repr(e))
                        else:
                            # a reused keep-alive connection closed before any
                            # byte of the next response: retry once, fresh
                            self.count(retries=1)
                            self.fresh(target, body)
                        break
                    except (OSError, AssertionError) as e:
                        self.error('bad response', '%s (request %d on the connection): %r'
                                   % (target, i + 1, e))
                        break
                    self.count(reqs=1)
                    if r.closes():
                        break
            finally:
                c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(15)


@test('reload under load: 4 client threads for 7 s, 4 SIGHUPs; 0 errors '
      '(reused keep-alive connections closed before a response are retried and counted)')
def reload_under_load():
    path = write_config(conf_path(), ['root %s' % ROOT, 'cache-control gen-0'])
    s, first = start(path)
    try:
        every = set(first)
        with Load(s.port) as load:
            time.sleep(1.0)
            for gen in range(1, 5):
                write_config(path, ['root %s' % ROOT, 'cache-control gen-%d' % gen])
                s.signal(signal.SIGHUP)
                time.sleep(1.2)
                every |= set(alive_of(s.workers()))
            time.sleep(1.2)
        check(not any(t.is_alive() for t in load.threads), 'client threads did not finish')
        print('# reload under load: %d requests on %d connections, %d errors, '
              '%d keep-alive retries' % (load.requests, load.connections, len(load.errors),
                                         load.retries), flush=True)
        kinds = {}
        for k, d in load.errors:
            kinds.setdefault(k, []).append(d)
        check(not load.errors, '%d errors: %s' % (len(load.errors), '; '.join(
            '%d x %s (e.g. %s)' % (len(v), k, v[0]) for k, v in kinds.items())))
        check(load.requests >= 200, 'only %d requests were made' % load.requests)
        eq(cache_control_is(s.port, 'gen-4'), 'gen-4', 'Cache-Control after the last reload')
        check(len(every) >= 10, 'worker PIDs seen across 4 reloads (want 2 + 2 per reload): %r'
              % sorted(every))
        final = wait_until(lambda: (lambda w: w if len(w) == 2 else None)(
            alive_of(s.workers())), OLD_GONE)
        check(final, 'children 12 s after the last reload: %r' % alive_of(s.workers()))
        left = alive_of(every - set(final))
        check(not left, 'workers of old generations still alive: %r' % left)
    finally:
        s.stop()


# ---- SIGUSR1 -------------------------------------------------------------------

@test('SIGUSR1 reopens the access log: after rename to FILE.1, new lines (from every worker) '
      'go to a new FILE')
def usr1_reopen():
    logdir = os.path.join(PARENT, 'logs')
    os.mkdir(logdir)
    os.chmod(logdir, 0o755)
    log = os.path.join(logdir, 'access.log')
    path = write_config(conf_path(), ['root %s' % ROOT, 'access-log %s' % log])
    s, pids = start(path)
    try:
        for i in range(5):
            expect(get(s.port, '/a.txt?before-%d' % i), 200, body=A)
        ok = wait_until(lambda: read_text(log).count('before-') == 5, 3)
        check(ok, 'access log %s lacks the 5 first lines: %r' % (log, read_text(log)[:500]))
        os.rename(log, log + '.1')
        s.signal(signal.SIGUSR1)
        n = [0]

        def probe():
            n[0] += 1
            get_fresh(s.port, '/a.txt?probe-%d' % n[0])
            return 'probe-' in read_text(log)
        check(wait_until(probe, 5, 0.1), 'no new %s 5 s after SIGUSR1 (FILE.1 has %r)'
              % (log, read_text(log + '.1')[-300:]))
        time.sleep(0.5)
        check(s.alive(), 'master exited after SIGUSR1')
        eq(set(alive_of(s.workers())), set(pids), 'workers after SIGUSR1 (no restart needed)')
        for w in sorted(pids):
            with only_worker(s, w):
                for i in range(3):
                    expect(get(s.port, '/a.txt?after-%d-%d' % (w, i)), 200, body=A)
        want = 3 * len(pids)
        ok = wait_until(lambda: read_text(log).count('after-') == want, 3)
        new, old = read_text(log), read_text(log + '.1')
        check(ok, 'new %s has %d of %d "after" lines: %r' % (log, new.count('after-'), want,
                                                             new[-500:]))
        eq(old.count('after-'), 0, '"after" lines in FILE.1')
        eq(old.count('before-'), 5, '"before" lines in FILE.1')
        odd = [x for x in new.splitlines() if 'after-' in x and ' 200 ' not in x]
        check(not odd, 'log lines without status 200: %r' % odd[:3])
    finally:
        s.stop()


# ---- SIGQUIT, SIGTERM, pid file -------------------------------------------------

def read_pid_file(path):
    text = read_text(path)
    return int(text.strip()) if text.strip().isdigit() else text


@test('SIGQUIT during a slow 20 MiB download: it completes, exit 0; pid-file from the file '
      'holds the master PID and is removed')
def quit_graceful():
    pidfile = os.path.join(PARENT, 'quit.pid')
    path = write_config(conf_path(), ['root %s' % ROOT, 'pid-file %s' % pidfile])
    s, pids = start(path)
    d = None
    try:
        eq(read_pid_file(pidfile), s.pid, 'pid file contents')
        d = SlowDownload(s.port, '/big.bin', len(BIG), timeout=20).start()
        s.signal(signal.SIGQUIT)
        t0 = time.monotonic()
        n, digest = d.finish()
        eq(n, len(BIG), 'bytes received')
        check(digest == hashlib.sha256(BIG).hexdigest(), 'body differs from the file')
        d.close()
        d = None
        code = s.wait(max(1.0, 15 - (time.monotonic() - t0)))
        eq(code, 0, 'master exit code after SIGQUIT (stderr %r)' % s.stderr()[-300:])
        check(not wait_gone(pids, 2), 'workers still alive after the master exited')
        check(not os.path.exists(pidfile), 'pid file %s still there after exit' % pidfile)
        try:
            socket.create_connection((HOST, s.port), timeout=2).close()
            raise AssertionError('port %d still accepts connections' % s.port)
        except ConnectionRefusedError:
            pass
    finally:
        if d:
            d.close()
        s.stop()


@test('--pid-file holds the master PID; SIGTERM with an idle keep-alive connection: exit 0 '
      'within 11 s, pid file removed')
def term_pidfile():
    pidfile = os.path.join(PARENT, 'term.pid')
    s = Server(ROOT, '--pid-file', pidfile, workers=2)
    try:
        s.start()
    except StartError as e:
        raise AssertionError(str(e))
    idle = None
    try:
        pids = s.wait_workers(2)
        eq(read_pid_file(pidfile), s.pid, 'pid file contents')
        idle = Client(s.port)
        idle.send(req('GET', '/a.txt'))
        expect(idle.read_response(), 200, body=A)
        s.signal(signal.SIGTERM)
        code = s.wait(11)
        eq(code, 0, 'master exit code within 11 s of SIGTERM')
        check(not wait_gone(pids, 2), 'workers still alive after the master exited')
        check(not os.path.exists(pidfile), 'pid file %s still there after exit' % pidfile)
    finally:
        if idle:
            idle.close()
        s.stop()


@test('the pid file survives a SIGHUP reload unchanged')
def pidfile_reload():
    pidfile = os.path.join(PARENT, 'hup.pid')
    path = write_config(conf_path(), ['root %s' % ROOT, 'pid-file %s' % pidfile,
                                      'cache-control x'])
    s, old = start(path)
    try:
        write_config(path, ['root %s' % ROOT, 'pid-file %s' % pidfile, 'cache-control y'])
        s.signal(signal.SIGHUP)
        eq(cache_control_is(s.port, 'y'), 'y', 'Cache-Control after SIGHUP')
        eq(read_pid_file(pidfile), s.pid, 'pid file contents after SIGHUP')
    finally:
        s.stop()
    check(not os.path.exists(pidfile), 'pid file still there after exit')


run()
