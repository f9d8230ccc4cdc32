#!/usr/bin/env python3
"""Behind a real load balancer: Debian's HAProxy in front of two portico
instances, A and B, that speak the PROXY protocol (v2, send-proxy-v2), answer
HAProxy's health checks on --health and log in JSON.  Requests are served
through it by both; the access log names the client's own address, not the
balancer's; while A reloads and B drains (SIGQUIT: health 503 for --drain-time,
then its listeners close), is started again on the same port and reloads, a
client under load sees no failed request and HAProxy never meets a refused or
broken connection to B; a file fetched in ranges with If-Range, spread over
both instances serving cp -a copies of one tree, comes back byte-exact (the
validators name no inode); curl --compressed works through it."""

import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, IO_TIMEOUT, Client, Closed, Server, Skip,  # noqa: E402
                          StartError, check, cleanup, codings, content_range, curl, eq,
                          expect, free_port, mkdtemp, new_root, read_text, req,
                          require_binary, run, set_mtime, set_script_timeout, skip_all,
                          spawn, stop_proc, test, wait_until)

HAPROXY = shutil.which('haproxy') or next(
    (p for p in ('/usr/sbin/haproxy', '/usr/local/sbin/haproxy') if os.access(p, os.X_OK)), None)
if HAPROXY is None:
    skip_all('haproxy is not installed (Debian package haproxy; scripts/install-deps '
             'installs it)')
require_binary()
# the load test alone runs LOAD_SECONDS, B's drain and restart included; under ASan
# on two busy cores every bound below may be reached
set_script_timeout(200)

DRAIN = 3               # --drain-time of both instances
INTER_MS = 300          # HAProxy's check interval; fall 2, rise 2
LOAD_SECONDS = 15.0     # case 3's load, at least; it runs on until B is back and reloaded
LOAD_THREADS = 4
STATE_WAIT = 15.0       # HAProxy marking a server UP or DOWN (normally < 1 s)
EXIT_WAIT = 25.0        # B's exit after SIGQUIT: DRAIN + 1 s idle grace, + slack for ASan
CLIENT2 = '127.0.0.2'   # a second loopback address for the client

BIG = os.urandom(4 << 20)
MID = os.urandom(200 << 10)
CSS = b''.join(b'.c%d { color: #%06x; margin: %dpx %dpx; }\n' % (i, i * 2654435 & 0xffffff,
                                                                  i % 17, i % 23)
               for i in range(400))
FILES = {
    'index.html': b'<!doctype html><title>portico behind haproxy</title><p>hello\n',
    'a.txt': b'file a\n',
    'mid.bin': MID,
    'big.bin': BIG,
    'style.css': CSS,
}
PARENT, ROOT_A = new_root(FILES)
# an old modification time with nanoseconds: the copy keeps it (cp -a), and an
# If-Range date is only a validator for a file not changed in the last second
MTIME = int(time.time()) - 86400 + 0.123456789
for _name in FILES:
    set_mtime(os.path.join(ROOT_A, _name), MTIME)
ROOT_B = os.path.join(PARENT, 'root-b')
subprocess.run(['cp', '-a', ROOT_A, ROOT_B], check=True, timeout=30)
LOGS = mkdtemp()
LOG_A = os.path.join(LOGS, 'a.log')
LOG_B = os.path.join(LOGS, 'b.log')


def instance_args(log):
    return ['--proxy-protocol', '--trusted-proxy', '127.0.0.0/8', '--health', '/healthz',
            '--drain-time', str(DRAIN), '--access-log', log, '--log-format', 'json']


def start_instance(root, log, port='0'):
    s = Server(root, *instance_args(log), workers=2, port=port)
    try:
        s.start(timeout=10)
    except StartError as e:
        raise AssertionError('portico on port %s did not start: %s' % (port, e))
    return s


def setup_failed(msg):
    print('FAIL - set-up: %s' % msg, flush=True)
    cleanup()
    print('0 passed, 1 failed')
    sys.exit(1)


try:
    SRV = {'a': start_instance(ROOT_A, LOG_A), 'b': start_instance(ROOT_B, LOG_B)}
except AssertionError as e:
    setup_failed(str(e))
PORT = {k: s.port for k, s in SRV.items()}
LOG = {'a': LOG_A, 'b': LOG_B}

PH = free_port()        # HAProxy's frontend
PS = free_port()        # its statistics page, read as CSV: server states and error counts
while PS == PH:
    PS = free_port()
HCFG = os.path.join(LOGS, 'haproxy.cfg')
HAPROXY_CONFIG = '''\
global
    # no daemon, no log, no stats socket: run in the foreground (-db) as a child

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # read timeout of a health check (its connect timeout is min(connect, inter))
    timeout check 2s

frontend fe
    bind 127.0.0.1:{ph}
    default_backend portico

backend portico
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    retry-on all-retryable-errors
    retries 3
    option redispatch
    server a 127.0.0.1:{pa} check send-proxy-v2 inter {inter}ms fall 2 rise 2
    server b 127.0.0.1:{pb} check send-proxy-v2 inter {inter}ms fall 2 rise 2

listen stats
    bind 127.0.0.1:{ps}
    stats enable
    stats uri /stats
'''.format(ph=PH, ps=PS, pa=PORT['a'], pb=PORT['b'], inter=INTER_MS)
with open(HCFG, 'w') as _f:
    _f.write(HAPROXY_CONFIG)
HLOG = os.path.join(LOGS, 'haproxy.out')

_r = subprocess.run([HAPROXY, '-c', '-f', HCFG], capture_output=True, timeout=30)
if _r.returncode != 0:
    setup_failed('haproxy -c rejects the generated configuration: %s'
                 % (_r.stdout + _r.stderr).decode('utf-8', 'replace').strip()[-600:])
with open(HLOG, 'wb') as _out:
    HAPROXY_PROC = spawn([HAPROXY, '-db', '-f', HCFG], stdin=subprocess.DEVNULL,
                         stdout=_out, stderr=subprocess.STDOUT)


def haproxy_output():
    return read_text(HLOG).strip()


# --------------------------------------------------------------------------
# helpers

class From(Client):
    """A connection to 127.0.0.1:PORT from the address SRC (any port)."""

    def __init__(self, port, src=HOST, timeout=IO_TIMEOUT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            if src != HOST:
                # bind(port 0) takes a local port for good, where connect() may share
                # one among destinations: only for the few connections from SRC
                self.sock.bind((src, 0))
            self.sock.connect((HOST, port))
        except OSError:
            self.sock.close()
            raise
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.reset = False


def proxy_v2(src, sport, dst, dport):
    """A PROXY protocol v2 header: PROXY command, TCP over IPv4."""
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!HH', sport, dport)
    return (b'\r\n\r\n\x00\r\nQUIT\n' + bytes([0x21, 0x11]) + struct.pack('!H', len(addrs))
            + addrs)


def direct(name, raw, method='GET'):
    """RAW sent straight to instance NAME behind a PROXY v2 header naming a
    client 127.0.0.9."""
    port = PORT[name]
    with Client(port) as c:
        c.send(proxy_v2('127.0.0.9', 40000, HOST, port) + raw)
        return c.read_response(method)


def via(raw, method='GET', src=HOST, timeout=10):
    """One request through HAProxy on a new connection."""
    with From(PH, src, timeout=timeout) as c:
        c.send(raw)
        return c.read_response(method, timeout)


def log_entries(name, offset=0):
    """The JSON lines of instance NAME's access log from byte OFFSET on (a line
    not JSON fails; one still being written is left for later)."""
    try:
        with open(LOG[name], 'rb') as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        data = b''
    out = []
    for ln in data[:data.rfind(b'\n') + 1].decode('utf-8', 'replace').splitlines():
        if not ln.strip():
            continue
        try:
            out.append(json.loads(ln))
        except ValueError:
            raise AssertionError('%s access log line is not JSON: %r' % (name.upper(), ln[:300]))
    return out


def logged(name, marker):
    """Access-log entries of NAME whose path contains MARKER."""
    return [e for e in log_entries(name) if marker in str(e.get('path', ''))]


def logged_both(marker, n, timeout=5.0):
    """Entries of A and of B whose path contains MARKER, once they are N in all
    (a line is written after its response is sent) or after TIMEOUT."""
    got = {}

    def probe():
        got['a'], got['b'] = logged('a', marker), logged('b', marker)
        return len(got['a']) + len(got['b']) >= n
    wait_until(probe, timeout, 0.05)
    return got['a'], got['b']


def stats():
    """HAProxy's CSV statistics: {svname: {field: value}} for backend portico."""
    with Client(PS, timeout=5) as c:
        c.send(req('GET', '/stats;csv'))
        r = c.read_response(timeout=5)
    eq(r.status, 200, 'HAProxy statistics status')
    lines = r.body.decode('utf-8', 'replace').splitlines()
    check(lines and lines[0].startswith('# '), 'statistics are not CSV: %r' % r.body[:200])
    keys = lines[0][2:].split(',')
    out = {}
    for ln in lines[1:]:
        row = dict(zip(keys, ln.split(',')))
        if row.get('pxname') == 'portico':
            out[row['svname']] = row
    return out


def server_state(name):
    try:
        row = stats().get(name, {})
    except (OSError, Closed, AssertionError):
        return None, None
    return row.get('status'), row.get('check_status')


def wait_state(name, want, timeout=STATE_WAIT):
    """Wait until HAProxy says server NAME is WANT ('UP' or 'DOWN'), after a
    check; returns the seconds it took."""
    t0 = time.monotonic()
    seen = [None]

    def probe():
        seen[0] = server_state(name)
        st, chk = seen[0]
        return st == want and (want != 'UP' or chk == 'L7OK')
    if not wait_until(probe, timeout, 0.05):
        raise AssertionError('HAProxy does not see server %s %s after %.0f s: status %r, last '
                             'check %r (portico stderr %r; haproxy: %r)'
                             % (name, want, timeout, seen[0][0], seen[0][1],
                                SRV[name].stderr()[-300:], haproxy_output()[-300:]))
    return time.monotonic() - t0


ERROR_FIELDS = ('econ', 'eresp', 'wretr', 'wredis')


def error_counts(name):
    row = stats().get(name, {})
    return {k: int(row.get(k) or 0) for k in ERROR_FIELDS}


def haproxy_ready():
    if HAPROXY_PROC.poll() is not None:
        return False
    try:
        socket.create_connection((HOST, PH), timeout=1).close()
        socket.create_connection((HOST, PS), timeout=1).close()
        return True
    except OSError:
        return False


if not wait_until(haproxy_ready, 10):
    setup_failed('haproxy did not listen on %d and %d within 10 s (exit %r): %s'
                 % (PH, PS, HAPROXY_PROC.poll(), haproxy_output()[-600:]))


def both_up():
    for name in ('a', 'b'):
        wait_state(name, 'UP')


# --------------------------------------------------------------------------
# 1. serving through HAProxy

@test('HAProxy checks A and B (GET /healthz behind a PROXY v2 LOCAL header) and finds both '
      'UP; GET / through it is the index; both instances serve requests')
def serves_through_haproxy():
    both_up()
    for name in ('a', 'b'):
        checks = [e for e in log_entries(name) if e.get('path') == '/healthz']
        check(any(e.get('status') == 200 for e in checks),
              'no 200 /healthz line in %s\'s access log' % name.upper())
        # a LOCAL header names nobody: the connection's peer, HAProxy, stands
        eq({e.get('client') for e in checks}, {HOST}, 'clients of %s\'s health checks'
           % name.upper())
    for i in range(6):
        r = via(req('GET', '/?c1=%d' % i))
        expect(r, 200, body=FILES['index.html'])
    got = dict(zip('ab', logged_both('c1=', 6)))
    for name in ('a', 'b'):
        check(got[name], '%s served none of 6 requests (round robin); its log: %r'
              % (name.upper(), read_text(LOG[name])[-400:]))
        check(all(e.get('status') == 200 and e.get('method') == 'GET' for e in got[name]),
              '%s logged %r' % (name.upper(), got[name]))
    eq(len(got['a']) + len(got['b']), 6, 'requests logged by A and B')


# --------------------------------------------------------------------------
# 2. the client's own address in the access log

@test('a client connecting to HAProxy from 127.0.0.2 is logged as "client":"127.0.0.2" '
      '(the PROXY header\'s source), not as HAProxy\'s 127.0.0.1')
def client_address():
    try:
        From(PH, CLIENT2).close()
    except OSError as e:
        raise Skip('cannot connect from %s here: %s' % (CLIENT2, e))
    for i in range(4):
        expect(via(req('GET', '/a.txt?c2=%d' % i), src=CLIENT2), 200, body=FILES['a.txt'])
    # one more from 127.0.0.1 for contrast
    expect(via(req('GET', '/a.txt?c2=local')), 200, body=FILES['a.txt'])
    in_a, in_b = logged_both('c2=', 5)
    eq(len(in_a) + len(in_b), 5, 'requests logged (A and B)')
    for e in in_a + in_b:
        want = HOST if e['path'].endswith('c2=local') else CLIENT2
        eq(e.get('client'), want, 'client of %s in the JSON access log (line %r)'
           % (e['path'], e))
    check(in_a and in_b, 'the requests did not reach both: %r' % (in_a + in_b))


# --------------------------------------------------------------------------
# 4. ranges with If-Range over both instances

def fetch_in_ranges(if_range, marker, parts=8):
    """BIG in PARTS ranges on new connections through HAProxy, each with
    If-Range IF_RANGE; every answer must be a 206 of exactly that range."""
    size = len(BIG)
    step = -(-size // parts)
    out = bytearray()
    for i in range(parts):
        a, b = i * step, min(size, (i + 1) * step) - 1
        r = via(req('GET', '/big.bin?%s=%d' % (marker, i),
                    headers=[('Range', 'bytes=%d-%d' % (a, b)), ('If-Range', if_range)]),
                timeout=15)
        check(r.status == 206, 'range %d-%d with If-Range %s: want 206, got %d (%s bytes)'
              % (a, b, if_range, r.status, len(r.body)))
        eq(content_range(r.get('content-range')), (a, b, size), 'Content-Range of part %d' % i)
        eq(len(r.body), b - a + 1, 'length of part %d' % i)
        out.extend(r.body)
    check(bytes(out) == BIG, 'the assembled file differs from big.bin (sha256 %s vs %s)'
          % (hashlib.sha256(out).hexdigest()[:16], hashlib.sha256(BIG).hexdigest()[:16]))
    got = dict(zip('ab', logged_both(marker + '=', parts)))
    served = {name: len(got[name]) for name in got}
    for name in ('a', 'b'):
        check(all(e.get('status') == 206 for e in got[name]),
              '%s logged %r' % (name.upper(), got[name]))
    check(served['a'] and served['b'], 'both instances should have served parts: %r' % served)
    eq(served['a'] + served['b'], parts, 'parts logged')


@test('the cp -a copies have one ETag and Last-Modified on A and B (asked directly, behind a '
      'PROXY v2 header, and through HAProxy)')
def same_validators():
    seen = {}
    for name in ('a', 'b'):
        r = direct(name, req('HEAD', '/big.bin'), 'HEAD')
        eq(r.status, 200, 'HEAD /big.bin on %s directly' % name.upper())
        seen[name] = (r.get('etag'), r.get('last-modified'), r.get('content-length'))
    check(seen['a'][0], 'no ETag: %r' % seen)
    eq(seen['b'], seen['a'], 'validators of B vs A')
    for i in range(4):
        r = via(req('HEAD', '/big.bin'), 'HEAD')
        eq(r.status, 200, 'HEAD through HAProxy')
        eq((r.get('etag'), r.get('last-modified'), r.get('content-length')), seen['a'],
           'validators through HAProxy, request %d' % i)


def validators():
    r = via(req('HEAD', '/big.bin'), 'HEAD')
    eq(r.status, 200, 'HEAD /big.bin through HAProxy')
    eq(r.get('content-length'), str(len(BIG)), 'Content-Length')
    return r.get('etag'), r.get('last-modified')


@test('big.bin in 8 ranges with If-Range: <ETag> on new connections, over A and B: all 206, '
      'byte-exact')
def ranges_etag():
    etag, _ = validators()
    check(etag and etag.startswith('"'), 'strong ETag %r' % etag)
    fetch_in_ranges(etag, 'c4e')


@test('big.bin in 8 ranges with If-Range: <Last-Modified> on new connections, over A and B: '
      'all 206, byte-exact')
def ranges_date():
    _, lm = validators()
    check(lm, 'no Last-Modified')
    fetch_in_ranges(lm, 'c4d')


@test('If-Range with another ETag gets the whole file (200), on A and on B')
def ranges_stale():
    for i in range(2):
        r = via(req('GET', '/big.bin?c4s=%d' % i,
                    headers=[('Range', 'bytes=0-99'), ('If-Range', '"not-this-one"')]), timeout=15)
        eq(r.status, 200, 'status with a stale If-Range')
        check(r.body == BIG, 'body of the 200 is not big.bin')
    in_a, in_b = logged_both('c4s=', 2)
    check(in_a and in_b, 'the requests did not reach both: %r' % (in_a + in_b))


# --------------------------------------------------------------------------
# 5. curl --compressed

@test('curl --compressed through HAProxy: a CSS file decodes to the file; a compressed '
      'coding within 10 s')
def curl_compressed():
    url = 'http://127.0.0.1:%d/style.css' % PH
    want_coding = bool(codings())
    seen = []
    deadline = time.monotonic() + 10
    while True:
        hdr = os.path.join(LOGS, 'curl-head')
        code, out, err = curl('-s', '-S', '--compressed', '-D', hdr, url)
        eq(code, 0, 'curl exit code (stderr %r)' % err[:300])
        eq(out, CSS, 'curl --compressed body')
        head = read_text(hdr).lower()
        check(head.startswith('http/1.1 200'), 'curl saw %r' % head[:200])
        ce = [ln.split(':', 1)[1].strip() for ln in head.splitlines()
              if ln.startswith('content-encoding:')]
        seen.append(ce[0] if ce else 'identity')
        if not want_coding or ce or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if want_coding:
        check(seen[-1] != 'identity', 'never compressed in 10 s: %r' % seen)


# --------------------------------------------------------------------------
# 3. reload, drain, restart under load

class Load:
    """LOAD_THREADS threads of GETs through HAProxy (half keep-alive, half a new
    connection each), every answer checked (status 200, the file's bytes)."""

    TARGETS = [('/a.txt', FILES['a.txt']), ('/index.html', FILES['index.html']),
               ('/mid.bin', MID), ('/style.css', CSS)]

    def __init__(self):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.slowest = 0.0
        self.connections = 0
        self.threads = [threading.Thread(target=self.loop, args=(i % 2 == 0, i), daemon=True)
                        for i in range(LOAD_THREADS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def note(self, ok, what=None, took=0.0):
        with self.lock:
            self.slowest = max(self.slowest, took)
            if ok:
                self.ok += 1
            else:
                self.failed += 1
                if len(self.errors) < 10:
                    self.errors.append('%.1fs: %s' % (time.monotonic() - self.t0, what))

    def loop(self, keepalive, n):
        c = None
        i = n
        fresh = 0
        while not self.stop.is_set():
            target, body = self.TARGETS[i % len(self.TARGETS)]
            i += 1
            t0 = time.monotonic()
            try:
                if c is None:
                    c = From(PH, timeout=20)
                c.send(req('GET', '%s?load=%d' % (target, i)))
                r = c.read_response(timeout=20)
                good = r.status == 200 and r.body == body
                self.note(good, None if good else '%s: %d, %d bytes' % (
                    target, r.status, len(r.body)), time.monotonic() - t0)
                if not keepalive or r.closes() or not good:
                    c.close()
                    c = None
                    fresh += 1
            except (OSError, Closed, AssertionError) as e:
                self.note(False, '%s: %s: %s' % (target, type(e).__name__, e),
                          time.monotonic() - t0)
                if c is not None:
                    c.close()
                c = None
            # a breath: thousands of requests, not tens of thousands (nor as many
            # client ports in TIME_WAIT)
            time.sleep(0.001 if keepalive else 0.004)
        if c is not None:
            c.close()
        with self.lock:
            self.connections += fresh

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        check(not any(t.is_alive() for t in self.threads), 'a load thread is stuck')


@test('under load through HAProxy: SIGHUP A; SIGQUIT B (drains %d s, HAProxy takes it out, '
      'it exits 0); B again on the same port, back UP; SIGHUP B: no failed request, and '
      'HAProxy met no refused or broken connection to B' % DRAIN)
def reload_drain_restart():
    both_up()
    load = Load()
    load.t0 = time.monotonic()
    load.start()
    notes = []
    mark = 0
    out_first = None
    try:
        time.sleep(1.0)
        SRV['a'].signal(signal.SIGHUP)
        time.sleep(1.0)
        before = error_counts('b')
        b = SRV['b']
        t_quit = time.monotonic()
        b.signal(signal.SIGQUIT)
        # which comes first: HAProxy taking B out, or B closing its port?
        first = wait_until(lambda: ('down' if server_state('b')[0] == 'DOWN' else
                                    'exit' if not b.alive() else None),
                           DRAIN + STATE_WAIT, 0.02)
        check(first, 'B neither DOWN in HAProxy nor gone %.0f s after SIGQUIT (status %r)'
              % (DRAIN + STATE_WAIT, server_state('b')))
        out_first = first == 'down'
        notes.append('%s first, %.1f s after SIGQUIT' % (
            'HAProxy took B out' if out_first else 'B exited', time.monotonic() - t_quit))
        code = b.wait(EXIT_WAIT)
        check(code is not None, 'B still running %.0f s after SIGQUIT' % EXIT_WAIT)
        eq(code, 0, 'B exit code after SIGQUIT')
        gone = time.monotonic() - t_quit
        notes.append('B exited after %.1f s' % gone)
        check(gone >= DRAIN - 0.5, 'B exited %.1f s after SIGQUIT, before its %d s drain'
              % (gone, DRAIN))
        wait_state('b', 'DOWN')
        mark = os.path.getsize(LOG_B)
        try:
            nb = start_instance(ROOT_B, LOG_B, port=str(PORT['b']))
        except AssertionError as e:
            raise AssertionError('B could not start again on port %d: %s' % (PORT['b'], e))
        SRV['b'] = nb
        eq(nb.port, PORT['b'], 'port of the restarted B')
        up = wait_state('b', 'UP')
        notes.append('UP %.1f s after its restart' % up)
        after = error_counts('b')
        nb.signal(signal.SIGHUP)
        # the load goes on for at least 2 s after the reload, LOAD_SECONDS in all
        time.sleep(max(2.0, LOAD_SECONDS - (time.monotonic() - load.t0)))
    finally:
        load.finish()
    served_after = [e for e in log_entries('b', mark) if 'load=' in str(e.get('path', ''))]
    print('# case 3: %d requests ok, %d failed in %.1f s, %d of them on new connections '
          '(slowest %.2f s); %s; HAProxy\'s errors with b before SIGQUIT %r, when back UP %r, '
          'at the end %r; with a at the end %r'
          % (load.ok, load.failed, time.monotonic() - load.t0, load.connections, load.slowest,
             ', '.join(notes), before, after, error_counts('b'), error_counts('a')), flush=True)
    check(load.failed == 0, '%d of %d requests failed: %s'
          % (load.failed, load.ok + load.failed, ' | '.join(load.errors)))
    check(load.ok > 200, 'only %d requests served' % load.ok)
    eq(after, before, 'HAProxy\'s errors with server b (econ: connections that failed, eresp: '
       'broken responses, wretr: retries, wredis: redispatches) from SIGQUIT until B was '
       'back UP')
    check(out_first, 'B closed its port before HAProxy took it out (drain-time %d, checks '
          'every %d ms, fall 2)' % (DRAIN, INTER_MS))
    check(served_after, 'B served none of the load after its restart')


@test('HAProxy ran throughout, stops on SIGTERM, and printed no ALERT')
def haproxy_throughout():
    check(HAPROXY_PROC.poll() is None, 'haproxy exited with %r: %s'
          % (HAPROXY_PROC.returncode, haproxy_output()[-600:]))
    stop_proc(HAPROXY_PROC)
    text = haproxy_output()
    if os.environ.get('PORTICO_TEST_HAPROXY_LOG'):
        print('# haproxy said:\n# ' + text.replace('\n', '\n# '), flush=True)
    alerts = [ln for ln in text.splitlines() if 'ALERT' in ln]
    check(not alerts, 'haproxy: %s' % ' | '.join(alerts)[:600])


run()
