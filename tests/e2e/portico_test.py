"""Shared harness for portico's end-to-end tests (standard library only).

Each NN-name.py script imports this module, builds a document root in a
temporary directory, starts the real binary on an ephemeral loopback port and
talks raw bytes to it.  Protocol: one line per case ("ok - name",
"FAIL - name: reason", "skip - name: reason"), then "N passed, M failed";
exit 0 = all passed, 1 = something failed, 77 = everything skipped.
"""

import atexit
import email.utils
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get('PORTICO') or os.path.normpath(
    os.path.join(HERE, '..', '..', 'src', 'portico'))

HOST = '127.0.0.1'
IO_TIMEOUT = 5.0          # every socket operation is bounded by this
SCRIPT_TIMEOUT = 55       # the whole script, enforced by SIGALRM

START_LINE = re.compile(
    r'^portico: serving (?P<root>/.*) at http://(?P<host>[^/]+):(?P<port>\d+)/ '
    r'\((?P<workers>\d+) workers?\)$')
# with HTTPS (issue 4): "... at http://H:P/ and https://H:TP/ (N workers)"
TLS_START_LINE = re.compile(
    r'^portico: serving (?P<root>/.*) at http://(?P<host>[^/]+):(?P<port>\d+)/ '
    r'and https://(?P<tlshost>[^/]+):(?P<tlsport>\d+)/ '
    r'\((?P<workers>\d+) workers?\)$')
IMF_FIXDATE = re.compile(
    r'^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} '
    r'(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} '
    r'\d{2}:\d{2}:\d{2} GMT$')
HTML_TYPE = 'text/html; charset=utf-8'
ALLOW = 'GET, HEAD, OPTIONS'


# --------------------------------------------------------------------------
# assertions

class Skip(Exception):
    """Raised by a case that cannot run here (missing tool, not root...)."""


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError('%s: want %s, got %s' % (what, short(want), short(got)))


def short(v, n=200):
    r = repr(v)
    return r if len(r) <= n else r[:n] + '...(%d chars)' % len(r)


# --------------------------------------------------------------------------
# the test runner

_cases = []
_servers = []
_tmpdirs = []
_current = [None]


def test(name):
    """Decorator: register a test case under NAME."""
    def deco(fn):
        _cases.append((name, fn, ()))
        return fn
    return deco


def add_case(name, fn, *args):
    """Register FN(*ARGS) as a case: for tables of cases."""
    _cases.append((name, fn, args))


class ScriptTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise ScriptTimeout('script exceeded %d s' % SCRIPT_TIMEOUT)


def _on_term(signum, frame):
    sys.exit(1)   # runs atexit: servers get stopped


# A worker that crashes is respawned, so a request may still succeed: the
# server's stderr is the only witness. SIGKILL (9) is what tests send on purpose.
CRASH = re.compile(rb'(Sanitizer|runtime error:|killed by signal (4|6|7|8|11) |'
                   rb'exited with status [1-9])[^\n]*')
_all_servers = []


def crash_report():
    for s in _all_servers:
        m = CRASH.search(s.stderr())
        if m:
            return one_line(m.group(0).decode('utf-8', 'replace'))
    return None


def run():
    """Run all registered cases, print the summary, exit with the code."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.alarm(SCRIPT_TIMEOUT)
    passed = failed = skipped = 0
    try:
        only = os.environ.get('PORTICO_TEST_ONLY')  # a substring of case names, to debug one
        for name, fn, args in _cases:
            if only and only not in name:
                continue
            _current[0] = name
            try:
                fn(*args)
            except Skip as e:
                skipped += 1
                print('skip - %s: %s' % (name, e), flush=True)
            except ScriptTimeout as e:
                failed += 1
                print('FAIL - %s: %s' % (name, e), flush=True)
                break
            except AssertionError as e:
                failed += 1
                print('FAIL - %s: %s' % (name, one_line(str(e))), flush=True)
            except Exception as e:  # noqa: BLE001 - any error fails the case
                failed += 1
                tb = traceback.extract_tb(e.__traceback__)
                where = '%s:%d' % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else ''
                print('FAIL - %s: %s: %s (%s)' % (name, type(e).__name__,
                                                  one_line(str(e)), where), flush=True)
            else:
                passed += 1
                print('ok - %s' % name, flush=True)
    finally:
        signal.alarm(0)
        cleanup()
    crash = crash_report()
    if crash:
        failed += 1
        print('FAIL - server stderr shows a crash or sanitizer report: %s' % crash, flush=True)
    print('%d passed, %d failed%s' % (passed, failed,
                                       ', %d skipped' % skipped if skipped else ''), flush=True)
    if failed:
        sys.exit(1)
    if passed == 0 and skipped:
        sys.exit(77)
    sys.exit(0)


def one_line(s):
    return ' | '.join(x for x in s.splitlines() if x.strip())


def skip_all(reason):
    print('skip - all: %s' % reason)
    print('0 passed, 0 failed')
    sys.exit(77)


def require_binary():
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        print('FAIL - binary: %s is not an executable file (set PORTICO)' % BIN)
        print('0 passed, 1 failed')
        sys.exit(1)


# --------------------------------------------------------------------------
# document roots

def mkdtemp():
    d = tempfile.mkdtemp(prefix='portico-e2e-')
    os.chmod(d, 0o755)
    _tmpdirs.append(d)
    return d


def make_tree(base, spec):
    """Create files under BASE. SPEC maps relative path -> bytes (a file),
    None (a directory) or ('symlink', target)."""
    for rel, val in spec.items():
        path = os.path.join(base, rel)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        if val is None:
            os.makedirs(path, exist_ok=True)
        elif isinstance(val, tuple) and val[0] == 'symlink':
            os.symlink(val[1], path)
        else:
            with open(path, 'wb') as f:
                f.write(val)
    return base


def new_root(spec):
    """A fresh temporary directory with a 'root' inside built from SPEC.
    Returns (parent, root)."""
    parent = mkdtemp()
    root = os.path.join(parent, 'root')
    os.mkdir(root)
    os.chmod(root, 0o755)
    make_tree(root, spec)
    return parent, root


# --------------------------------------------------------------------------
# the server under test

class StartError(Exception):
    pass


def _drain(fd, sink, lock):
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        with lock:
            sink.extend(data)


class Server:
    """One portico master process.  Started with -p 0 and the first stdout
    line parsed for the port."""

    def __init__(self, root, *extra, workers=2, quiet=True, bind=HOST,
                 header_timeout=None, keepalive_timeout=None, cwd=None, port='0'):
        self.root = root
        self.workers_wanted = workers if workers is not None else (os.cpu_count() or 1)
        cmd = [BIN]
        if port is not None:
            cmd += ['-p', str(port)]
        if bind:
            cmd += ['-b', bind]
        if quiet:
            cmd += ['-q']
        if workers is not None:
            cmd += ['-w', str(workers)]
        if header_timeout is not None:
            cmd += ['--header-timeout', str(header_timeout)]
        if keepalive_timeout is not None:
            cmd += ['--keepalive-timeout', str(keepalive_timeout)]
        cmd += list(extra)
        if '--compress-cache' not in extra:
            # a cache of compressed files of its own, never the system's (a command-line
            # option wins over a configuration file's): the master makes it (for the
            # workers' user) in a directory of this test's
            self.cache_dir = os.path.join(mkdtemp(), 'cache')
            cmd += ['--compress-cache', self.cache_dir]
        if root is not None:
            cmd += [root]
        self.cmd = cmd
        self.cwd = cwd
        self.proc = None
        self.port = None
        self.tls_port = None      # set when the start-up line names an https URL
        self.line = None
        self.match = None
        self.out = bytearray()
        self.err = bytearray()
        self.lock = threading.Lock()
        self.returncode = None
        self.known_workers = set()

    def start(self, timeout=5.0):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0, cwd=self.cwd)
        _servers.append(self)
        _all_servers.append(self)
        threading.Thread(target=_drain, args=(self.proc.stderr.fileno(), self.err, self.lock),
                         daemon=True).start()
        fd = self.proc.stdout.fileno()
        first = bytearray()
        deadline = time.monotonic() + timeout
        while b'\n' not in first:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise StartError('no start-up line within %.0f s (got %r; stderr %r)'
                                 % (timeout, bytes(first), self.stderr()))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            data = os.read(fd, 4096)
            if not data:
                self.proc.wait(timeout=5)
                time.sleep(0.05)
                raise StartError('exited with %s before the start-up line (stdout %r, '
                                 'stderr %r)' % (self.proc.returncode, bytes(first),
                                                 self.stderr()))
            first.extend(data)
        line, rest = bytes(first).split(b'\n', 1)
        self.out.extend(rest)
        threading.Thread(target=_drain, args=(fd, self.out, self.lock), daemon=True).start()
        self.line = line.decode('utf-8', 'replace')
        self.match = START_LINE.match(self.line) or TLS_START_LINE.match(self.line)
        if not self.match:
            self.stop()
            raise StartError('bad start-up line %r' % self.line)
        self.port = int(self.match.group('port'))
        if 'tlsport' in self.match.re.groupindex:
            self.tls_port = int(self.match.group('tlsport'))
        return self

    def stdout(self):
        with self.lock:
            return bytes(self.out)

    def stderr(self):
        with self.lock:
            return bytes(self.err)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def workers(self):
        """PIDs of the master's current children that serve (its workers): all
        but the compressor and the live-reload watcher."""
        pids = children(self.proc.pid) if self.alive() else set()
        pids = {p for p in pids if process_name(p) not in (COMPRESSOR_NAME, WATCHER_NAME)}
        self.known_workers |= pids
        return pids

    def compressor(self):
        """PID of the master's compressor process, or None."""
        pids = children(self.proc.pid) if self.alive() else set()
        return next((p for p in pids if process_name(p) == COMPRESSOR_NAME), None)

    def describe(self):
        """What the master is doing, for a failure's message: its state, where it
        sleeps, its pending and blocked signals, and its children with theirs."""
        pid = self.proc.pid
        status = read_text('/proc/%d/status' % pid)
        if not status:
            return 'master %d: gone' % pid
        wchan = read_text('/proc/%d/wchan' % pid) or '?'
        sigs = ' '.join(x.replace('\t', '') for x in status.splitlines()
                        if x.startswith(('SigPnd', 'ShdPnd', 'SigBlk')))
        kids = ', '.join('%d %s %s in %s (dirs %s)' % (c, process_name(c), process_state(c),
                                                        read_text('/proc/%d/wchan' % c) or '?',
                                                        open_dirs(c))
                         for c in sorted(children(pid)))
        held = sorted(self.listening_pids())
        return 'master %d %s in %s, %s; children: %s; listening: %s' % (
            pid, process_state(pid), wchan, sigs, kids, held)

    def wait_workers(self, n, timeout=5.0, exclude=()):
        deadline = time.monotonic() + timeout
        while True:
            pids = {p for p in self.workers() if p not in exclude and process_alive(p)}
            if len(pids) >= n or time.monotonic() > deadline:
                return pids
            time.sleep(0.05)

    def listening_pids(self):
        """PIDs among the master and its children that hold one of the server's
        listening sockets (state 0A in /proc/net/tcp)."""
        inodes = {f[9] for port in (self.port, self.tls_port) if port
                  for f in tcp_sockets(port) if f[3] == '0A'}
        return {pid for pid in children(self.proc.pid) | {self.proc.pid}
                if any(socket_owner([pid], inode) for inode in inodes)}

    def reload(self, timeout=15.0):
        """SIGHUP, then wait until the workers from before have stopped accepting: until
        then a new connection may still reach one of them and get the old settings
        (on a loaded machine a worker can take seconds to act on its SIGQUIT). Returns
        the old workers' PIDs; raises if they still accept after TIMEOUT."""
        old = self.wait_workers(self.workers_wanted)
        # the master keeps its copies of the listeners: if it is not seen holding them,
        # /proc cannot tell who listens here, and waiting on it would prove nothing
        if self.proc.pid not in self.listening_pids():
            raise AssertionError('cannot see the listeners in /proc: %s' % self.describe())
        self.signal(signal.SIGHUP)
        self.wait_workers(self.workers_wanted, exclude=old)
        if not wait_until(lambda: not (self.listening_pids() & old), timeout, 0.05):
            raise AssertionError('old workers still accept %.0f s after SIGHUP: %s'
                                 % (timeout, self.describe()))
        return old

    def signal(self, sig):
        self.workers()
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for the master to exit; return its exit code or None."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=5.0):
        """Stop by PID: SIGTERM, then SIGKILL after TIMEOUT.  Any worker left
        behind is killed by its PID too.  Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.workers()
            try:
                self.proc.terminate()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.returncode = self.proc.returncode
        for pid in self.known_workers:
            if process_alive(pid) and _parent_is_gone_or_init(pid, self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return self.returncode

    def url(self, path='/'):
        return 'http://%s:%d%s' % (HOST, self.port, path)

    def tls_url(self, path='/', host=HOST):
        return 'https://%s:%d%s' % (host, self.tls_port, path)


def start_server(root, *extra, **kw):
    """Start a server or fail the whole script with a clear line."""
    require_binary()
    try:
        return Server(root, *extra, **kw).start()
    except StartError as e:
        print('FAIL - server start: %s' % e)
        cleanup()
        print('0 passed, 1 failed')
        sys.exit(1)


def children(pid):
    out = set()
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        tasks = []
    for t in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, t)) as f:
                out |= {int(x) for x in f.read().split()}
        except OSError:
            pass
    if not tasks:
        try:
            r = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True,
                               text=True, timeout=5)
            out |= {int(x) for x in r.stdout.split()}
        except (OSError, subprocess.SubprocessError):
            pass
    return out


COMPRESSOR_NAME = 'portico-zip'  # the compressor's /proc/PID/comm
WATCHER_NAME = 'portico-watch'   # the live-reload watcher's (--watch, --dev)


def codings():
    """The content codings the binary was built with ('br', 'zstd', 'gzip'), from the
    compression line of portico --version."""
    out = subprocess.run([BIN, '--version'], capture_output=True, timeout=10).stdout
    line = next((x for x in out.decode().splitlines() if x.startswith('compression:')), '')
    return {c for w, c in (('gzip', 'gzip'), ('brotli', 'br'), ('zstd', 'zstd')) if w in line}


def codec_versions():
    """{'br': '1.0.9', ...}: the library version each coding is made with, as the
    compression line of portico --version names it (a variant's ETag ends with it)."""
    out = subprocess.run([BIN, '--version'], capture_output=True, timeout=10).stdout.decode()
    found = re.findall(r'(gzip) \((?:libdeflate|zlib) ([\d.]+)\)|(brotli|zstd) ([\d.]+)', out)
    names = {'gzip': 'gzip', 'brotli': 'br', 'zstd': 'zstd'}
    return {names[a or c]: b or d for a, b, c, d in found}


def process_name(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def process_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(')', 1)[1].split()[0]


def open_dirs(pid):
    """The directories PID holds open (its roots), by their paths' last parts."""
    names = []
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            path = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            if path.startswith('/') and os.path.isdir(path):
                names.append('%s=%s' % (fd, os.path.basename(path)))
    except OSError:
        pass
    return ' '.join(sorted(names))


def process_alive(pid):
    st = process_state(pid)
    return st is not None and st not in ('Z', 'X')


def _parent_is_gone_or_init(pid, master):
    try:
        with open('/proc/%d/stat' % pid) as f:
            ppid = int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return ppid == master or not process_alive(master)


_procs = []


def spawn(cmd, **kw):
    """Popen that cleanup() stops by PID if the test does not."""
    p = subprocess.Popen(cmd, **kw)
    _procs.append(p)
    return p


def stop_proc(p, timeout=5.0):
    """SIGTERM P (and kill its children left behind) by PID."""
    if p.poll() is None:
        kids = children(p.pid)
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        for k in kids:
            if process_alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def cleanup():
    for p in list(_procs):
        try:
            stop_proc(p)
        except Exception:  # noqa: BLE001
            pass
    _procs.clear()
    for s in list(_servers):
        try:
            s.stop()
        except Exception:  # noqa: BLE001
            pass
    for s in list(_servers):
        for stream in (s.proc.stdout, s.proc.stderr):
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
    _servers.clear()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


atexit.register(cleanup)


# --------------------------------------------------------------------------
# the raw client

class Closed(Exception):
    """The server closed the connection where a response was expected."""


class Response:
    def __init__(self, version, status, reason, headers, body, head, framed_by_close):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers        # list of (name, value) in order
        self.body = body              # bytes, b'' when the response has none
        self.head = head              # raw status line + headers + CRLFCRLF
        self.framed_by_close = framed_by_close

    def get(self, name):
        vals = self.get_all(name)
        return vals[0] if vals else None

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def tokens(self, name):
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(',') if t.strip()]

    def closes(self):
        return 'close' in self.tokens('connection')

    def __repr__(self):
        return '<%s %d %s; %s; body %d bytes %r>' % (
            self.version, self.status, self.reason,
            ', '.join('%s: %s' % h for h in self.headers), len(self.body), self.body[:80])


NO_BODY_STATUS = (204, 304)


class SocketOwner:
    """What owns self.sock: a context manager that closes it, quietly."""

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Client(SocketOwner):
    """One TCP connection to the server with a read buffer."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('timed out waiting for data (have %r)' % bytes(self.buf[:200]))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            self.reset = True
            data = b''
        except socket.timeout:
            raise socket.timeout('timed out waiting for data (have %r)'
                                 % bytes(self.buf[:200]))
        if not data:
            self.eof = True
            return False
        self.buf.extend(data)
        return True

    def read_response(self, method='GET', timeout=None):
        """Read one response.  METHOD tells whether a body follows (HEAD)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(b'\r\n\r\n')
            if i >= 0:
                break
            if not self._fill(deadline):
                if not self.buf:
                    raise Closed('connection closed%s before a response'
                                 % (' (reset)' if self.reset else ''))
                raise AssertionError('connection closed inside a response head: %r'
                                     % bytes(self.buf[:300]))
        head = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        lines = head[:-4].split(b'\r\n')
        m = re.match(rb'^(HTTP/\d\.\d) (\d{3}) (.*)$', lines[0])
        if not m:
            raise AssertionError('bad status line %r' % lines[0])
        version = m.group(1).decode()
        status = int(m.group(2))
        reason = m.group(3).decode('latin-1')
        headers = []
        for ln in lines[1:]:
            if b'\n' in ln or b'\r' in ln:
                raise AssertionError('bare CR/LF inside the head: %r' % head)
            k, sep, v = ln.partition(b':')
            if not sep or not k or k != k.strip() or b' ' in k:
                raise AssertionError('bad header line %r' % ln)
            headers.append((k.decode('latin-1'), v.strip().decode('latin-1')))
        resp = Response(version, status, reason, headers, b'', head, False)
        if method == 'HEAD' or 100 <= status < 200 or status in NO_BODY_STATUS:
            return resp
        te = resp.tokens('transfer-encoding')
        cl = resp.get_all('content-length')
        if te:
            check(te[-1] == 'chunked', 'unknown transfer coding %r' % te)
            resp.body = self._read_chunked(deadline)
        elif cl:
            check(len(cl) == 1 and cl[0].isdigit(), 'bad Content-Length %r' % cl)
            n = int(cl[0])
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise AssertionError('closed after %d of %d body bytes'
                                         % (len(self.buf), n))
            resp.body = bytes(self.buf[:n])
            del self.buf[:n]
        else:
            while self._fill(deadline):
                pass
            resp.body = bytes(self.buf)
            self.buf.clear()
            resp.framed_by_close = True
        return resp

    def _read_line(self, deadline):
        while True:
            i = self.buf.find(b'\r\n')
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if not self._fill(deadline):
                raise AssertionError('closed inside a chunked body')

    def _read_chunked(self, deadline):
        body = bytearray()
        while True:
            size = int(self._read_line(deadline).split(b';')[0], 16)
            if size == 0:
                while self._read_line(deadline):
                    pass
                return bytes(body)
            while len(self.buf) < size + 2:
                if not self._fill(deadline):
                    raise AssertionError('closed inside a chunk')
            body.extend(self.buf[:size])
            del self.buf[:size + 2]

    def read_to_eof(self, timeout=None):
        """Everything until the server closes; raises socket.timeout if it
        does not close within TIMEOUT."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def expect_closed(self, timeout=None, what='connection'):
        """Assert the server closes the connection (with nothing more to read)
        within TIMEOUT seconds."""
        try:
            rest = self.read_to_eof(timeout)
        except socket.timeout:
            raise AssertionError('%s still open after %.1f s' % (what, timeout or self.timeout))
        check(rest == b'', 'unexpected bytes before close: %r' % rest[:300])

    def expect_open(self, wait=0.2):
        """Assert nothing arrives and the connection is not closed within WAIT."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            raise AssertionError('connection was reset')
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise AssertionError('unexpected bytes on an idle connection: %r' % data[:200])
        raise AssertionError('server closed the connection')


def req(method='GET', target='/', version='HTTP/1.1', headers=(), body=b'', host='127.0.0.1'):
    """Build raw request bytes.  HEADERS: list of (name, value) or raw lines."""
    lines = ['%s %s %s' % (method, target, version)]
    if host is not None:
        lines.append('Host: %s' % host)
    for h in headers:
        lines.append(h if isinstance(h, str) else '%s: %s' % h)
    data = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')
    return data + body


def exchange(port, raw, method='GET', timeout=None):
    """Open a connection, send RAW, read one response, close."""
    with Client(port) as c:
        c.send(raw)
        return c.read_response(method, timeout)


def get(port, target, method='GET', **kw):
    return exchange(port, req(method, target, **kw), method)


# --------------------------------------------------------------------------
# checks every response must pass

def check_common(r, method='GET'):
    eq(r.version, 'HTTP/1.1', 'status-line version')
    check(r.reason.strip() != '', 'empty reason phrase in %r' % r.head[:60])
    dates = r.get_all('date')
    eq(len(dates), 1, 'number of Date headers')
    check(IMF_FIXDATE.match(dates[0]), 'Date is not an IMF-fixdate: %r' % dates[0])
    when = email.utils.parsedate_to_datetime(dates[0]).timestamp()
    check(abs(when - time.time()) < 120, 'Date %r is far from now' % dates[0])
    srv = r.get_all('server')
    check(len(srv) == 1 and srv[0].startswith('portico/'), 'Server header %r' % srv)
    cl = r.get_all('content-length')
    check(len(cl) <= 1, 'several Content-Length headers %r' % cl)
    if cl:
        check(cl[0].isdigit(), 'bad Content-Length %r' % cl[0])
    if 100 <= r.status < 200 or r.status == 204:
        check(not cl, '%d response with Content-Length %r' % (r.status, cl))
        check(not r.get_all('transfer-encoding'), '%d with Transfer-Encoding' % r.status)
    else:
        check(cl or r.get_all('transfer-encoding') or r.closes(),
              'no Content-Length and no Connection: close: %r' % r.head)
    if r.status >= 400:
        eq(r.get('content-type'), HTML_TYPE, 'Content-Type of a %d' % r.status)
        if method != 'HEAD':
            check(str(r.status).encode() in r.body,
                  'error body does not mention %d: %r' % (r.status, r.body[:200]))


def expect(r, status, body=None, ctype=None, method='GET', **headers):
    """Status, common checks, optionally exact body, Content-Type and headers
    (keyword names with _ for -, value None = must be absent)."""
    check(r.status == status, 'status: want %d, got %r' % (status, r))
    check_common(r, method)
    if body is not None:
        eq(r.body, body, 'body')
        eq(r.get('content-length'), str(len(body)), 'Content-Length')
    if ctype is not None:
        eq(r.get('content-type'), ctype, 'Content-Type')
    for k, v in headers.items():
        name = k.replace('_', '-')
        eq(r.get(name), v, name + ' header')
    return r


def expect_reject(port, raw, status, closes=True, statuses=None):
    """Send RAW on a fresh connection; expect STATUS (or one of STATUSES),
    Connection: close and the socket closed."""
    with Client(port) as c:
        c.send(raw)
        r = c.read_response()
        want = statuses or (status,)
        check(r.status in want, 'status: want %s, got %r' % ('/'.join(map(str, want)), r))
        check_common(r)
        if closes:
            check(r.closes(), 'no Connection: close on a %d: %r' % (r.status, r.head))
            c.expect_closed()
        return r


def head_equal(a, b, skip=('date',)):
    """Headers of A and B must be identical except those in SKIP."""
    ha = [(k.lower(), v) for k, v in a.headers if k.lower() not in skip]
    hb = [(k.lower(), v) for k, v in b.headers if k.lower() not in skip]
    eq(sorted(ha), sorted(hb), 'headers (HEAD vs GET)')


def have_curl():
    return shutil.which('curl') is not None


def curl(*args, timeout=15):
    if not have_curl():
        raise Skip('curl not installed')
    r = subprocess.run(['curl', '--max-time', '10'] + list(args), capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


# --------------------------------------------------------------------------
# helpers for validators, conditionals, ranges and the open-file cache
# (added for issue 3; nothing above depends on them)

STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')
_WDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
_WDAYS_LONG = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']
_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']


def http_date(ts):
    """IMF-fixdate of the whole seconds of TS: 'Sun, 06 Nov 1994 08:49:37 GMT'."""
    t = time.gmtime(int(ts // 1))
    return '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
        _WDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec)


def rfc850_date(ts):
    """Obsolete RFC 850 form: 'Sunday, 06-Nov-94 08:49:37 GMT'."""
    t = time.gmtime(int(ts // 1))
    return '%s, %02d-%s-%02d %02d:%02d:%02d GMT' % (
        _WDAYS_LONG[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year % 100,
        t.tm_hour, t.tm_min, t.tm_sec)


def asctime_date(ts):
    """ANSI C asctime() form: 'Sun Nov  6 08:49:37 1994'."""
    t = time.gmtime(int(ts // 1))
    return '%s %s %2d %02d:%02d:%02d %04d' % (
        _WDAYS[t.tm_wday], _MONTHS[t.tm_mon - 1], t.tm_mday,
        t.tm_hour, t.tm_min, t.tm_sec, t.tm_year)


def set_mtime(path, ts):
    """Set atime and mtime of PATH to TS (float seconds; nanoseconds kept)."""
    ns = int(round(ts * 1e9))
    os.utime(path, ns=(ns, ns))


def write_file(path, data, mtime=None):
    with open(path, 'wb') as f:
        f.write(data)
    if mtime is not None:
        set_mtime(path, mtime)


def replace_file(path, data, mtime=None):
    """Atomically replace PATH (new inode): write a temporary file beside it
    and rename it over PATH."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    write_file(tmp, data, mtime)
    os.rename(tmp, path)


def check_validators(r, mtime=None):
    """R carries one strong ETag and one Last-Modified (the IMF-fixdate of
    MTIME when given).  Returns the ETag."""
    tags = r.get_all('etag')
    eq(len(tags), 1, 'number of ETag headers in %r' % r.head[:300])
    check(STRONG_ETAG.match(tags[0]), 'ETag is not a strong quoted entity tag: %r' % tags[0])
    lms = r.get_all('last-modified')
    eq(len(lms), 1, 'number of Last-Modified headers')
    check(IMF_FIXDATE.match(lms[0]), 'Last-Modified is not an IMF-fixdate: %r' % lms[0])
    if mtime is not None:
        eq(lms[0], http_date(mtime), 'Last-Modified')
    return tags[0]


def expect_304(r, method='GET', **headers):
    """A 304: no body, no Content-Length, no Transfer-Encoding, the usual
    status line, Date and Server, plus HEADERS as in expect()."""
    check(r.status == 304, 'status: want 304, got %r' % r)
    eq(r.version, 'HTTP/1.1', 'status-line version')
    check(r.reason.strip() != '', 'empty reason phrase')
    dates = r.get_all('date')
    eq(len(dates), 1, 'number of Date headers')
    check(IMF_FIXDATE.match(dates[0]), 'Date is not an IMF-fixdate: %r' % dates[0])
    srv = r.get_all('server')
    check(len(srv) == 1 and srv[0].startswith('portico/'), 'Server header %r' % srv)
    check(not r.get_all('content-length'),
          '304 with Content-Length %r' % r.get_all('content-length'))
    check(not r.get_all('transfer-encoding'), '304 with Transfer-Encoding')
    eq(r.body, b'', '304 body')
    for k, v in headers.items():
        name = k.replace('_', '-')
        eq(r.get(name), v, name + ' header')
    return r


CONTENT_RANGE = re.compile(r'^bytes (\d+)-(\d+)/(\d+)$')


def content_range(value):
    """'bytes a-b/len' -> (a, b, len); anything else fails."""
    m = CONTENT_RANGE.match(value or '')
    check(m, 'bad Content-Range %r' % value)
    a, b, n = (int(x) for x in m.groups())
    check(a <= b < n, 'Content-Range out of order %r' % value)
    return a, b, n


def parse_byteranges(r):
    """Parse a multipart/byteranges body strictly (RFC 9110 section 14.6,
    RFC 2046 section 5.1.1).  Returns [(headers dict lower-case, (a, b, len),
    data)]."""
    ct = r.get('content-type') or ''
    m = re.match(r'^multipart/byteranges\s*;\s*boundary=("?)([^";]+)\1\s*$', ct, re.I)
    check(m, 'Content-Type is not multipart/byteranges with a boundary: %r' % ct)
    boundary = m.group(2).encode('latin-1')
    check(1 <= len(boundary) <= 70, 'boundary length %d' % len(boundary))
    body = r.body
    cl = r.get('content-length')
    check(cl is not None and int(cl) == len(body), 'Content-Length %r vs %d body bytes'
          % (cl, len(body)))
    delim = b'--' + boundary
    # preamble: nothing or a CRLF before the first delimiter
    if body.startswith(delim):
        pos = len(delim)
    elif body.startswith(b'\r\n' + delim):
        pos = 2 + len(delim)
    else:
        raise AssertionError('multipart body does not start with the boundary: %r' % body[:100])
    parts = []
    while True:
        check(body[pos:pos + 2] == b'\r\n', 'no CRLF after a delimiter at %d: %r'
              % (pos, body[pos:pos + 40]))
        pos += 2
        end = body.find(b'\r\n\r\n', pos)
        check(end >= 0, 'unterminated part header block at %d' % pos)
        hdrs = {}
        for ln in body[pos:end].split(b'\r\n'):
            k, sep, v = ln.partition(b':')
            check(sep and k and k == k.strip(), 'bad part header line %r' % ln)
            key = k.decode('latin-1').lower()
            check(key not in hdrs, 'duplicate part header %r' % ln)
            hdrs[key] = v.strip().decode('latin-1')
        pos = end + 4
        check('content-range' in hdrs, 'part without Content-Range: %r' % hdrs)
        a, b, n = content_range(hdrs['content-range'])
        size = b - a + 1
        data = body[pos:pos + size]
        eq(len(data), size, 'part data length')
        pos += size
        parts.append((hdrs, (a, b, n), data))
        check(body[pos:pos + 2 + len(delim)] == b'\r\n' + delim,
              'part data not followed by CRLF and the delimiter at %d: %r'
              % (pos, body[pos:pos + 40]))
        pos += 2 + len(delim)
        if body[pos:pos + 2] == b'--':
            pos += 2
            break
    check(body[pos:] in (b'', b'\r\n'),
          'bytes after the closing delimiter: %r' % body[pos:pos + 80])
    return parts


def tcp_sockets(local_port):
    """The /proc/net/tcp{,6} fields of every loopback TCP socket whose local port is
    LOCAL_PORT (the remote address is [2], the state [3], tx_queue:rx_queue [4], the
    inode [9])."""
    out = []
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for ln in lines:
            fields = ln.split()
            if int(fields[1].rsplit(':', 1)[1], 16) == local_port:
                out.append(fields)
    return out


def tcp_socket_fields(local_port, remote_port):
    """The /proc/net/tcp{,6} fields of the loopback TCP socket local_port <->
    remote_port, or None."""
    for fields in tcp_sockets(local_port):
        if int(fields[2].rsplit(':', 1)[1], 16) == remote_port:
            return fields
    return None


def _tcp_inode(local_port, remote_port):
    """Inode of the loopback TCP socket local_port <-> remote_port."""
    fields = tcp_socket_fields(local_port, remote_port)
    return fields[9] if fields else None


def socket_owner(pids, inode):
    """Which of PIDS holds the socket with INODE (as /proc/net/tcp gives it), or None."""
    want = 'socket:[%s]' % inode
    for pid in pids:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink('/proc/%d/fd/%s' % (pid, fd)) == want:
                    return pid
            except OSError:
                pass
    return None


def serving_worker(srv, client):
    """PID of the worker that holds the server side of CLIENT's connection,
    or None if it cannot be told (no /proc)."""
    return _worker_holding(srv, srv.port, client.sock.getsockname()[1])


def _worker_holding(srv, server_port, client_port):
    """PID of SRV's worker holding the socket of the connection from CLIENT_PORT
    to SERVER_PORT, found through /proc."""
    inode = _tcp_inode(server_port, client_port)
    if inode is None or inode == '0':
        return None
    return socket_owner(srv.workers(), inode)


class only_worker:
    """Context manager: SIGSTOP every worker of SRV except PID so that new
    connections are accepted by PID (the listener is shared with
    EPOLLEXCLUSIVE: a stopped worker is not waiting, so it is not woken);
    SIGCONT them on exit."""

    def __init__(self, srv, pid):
        self.srv = srv
        self.pid = pid
        self.stopped = []

    def __enter__(self):
        for w in self.srv.workers():
            if w != self.pid:
                os.kill(w, signal.SIGSTOP)
                self.stopped.append(w)
        # wait until each is really stopped (state T)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if all(process_state(w) in ('T', 't', None) for w in self.stopped):
                break
            time.sleep(0.01)
        return self

    def __exit__(self, *a):
        for w in self.stopped:
            try:
                os.kill(w, signal.SIGCONT)
            except ProcessLookupError:
                pass


def worker_pids(srv, n=2):
    """The PIDs of SRV's workers, sorted; at least N of them."""
    pids = sorted(srv.wait_workers(n))
    check(len(pids) >= n, 'want %d workers, have %r' % (n, pids))
    return pids


def pinned_get(srv, pid, target, headers=()):
    """GET TARGET on a new connection accepted by worker PID."""
    with only_worker(srv, pid):
        with Client(srv.port) as c:
            c.send(req('GET', target, headers=list(headers)))
            r = c.read_response()
            who = serving_worker(srv, c)
    check(who in (pid, None), 'served by %r, not the pinned worker %d' % (who, pid))
    return r


def each_worker(srv, target, headers=()):
    """[(pid, response)] for one GET of TARGET from each of SRV's workers."""
    return [(pid, pinned_get(srv, pid, target, headers)) for pid in worker_pids(srv)]


# --------------------------------------------------------------------------
# helpers for HTTPS (added for issue 4; nothing above depends on them)

import ssl  # noqa: E402

OPENSSL = shutil.which('openssl')


def require_openssl():
    """Skip the whole script (exit 77) when the openssl CLI is missing."""
    if not OPENSSL:
        skip_all('the openssl command-line tool is not installed')


def set_script_timeout(seconds):
    """Scripts that run many TLS handshakes may need more than the default."""
    global SCRIPT_TIMEOUT
    SCRIPT_TIMEOUT = seconds


def openssl(*args, input=b'', timeout=15, check_rc=True):
    """Run the openssl CLI; returns (code, stdout + stderr as text).  With
    CHECK_RC a non-zero exit fails the case."""
    if not OPENSSL:
        raise Skip('openssl not installed')
    try:
        r = subprocess.run([OPENSSL] + [str(a) for a in args], input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError('openssl %s still running after %d s' % (' '.join(map(str, args)), timeout))
    text = r.stdout.decode('utf-8', 'replace')
    if check_rc and r.returncode != 0:
        raise AssertionError('openssl %s exited with %d: %s'
                             % (' '.join(map(str, args)), r.returncode, one_line(text)[-600:]))
    return r.returncode, text


class PKI:
    """A throw-away test CA in DIR and leaf certificates signed by it, all
    made with the openssl CLI.  Keys: 'rsa' (2048 bits) or 'ec' (P-256)."""

    def __init__(self, base, name='portico test CA'):
        self.dir = base
        self.serial = 1
        self.ca_key = os.path.join(base, 'ca.key')
        self.ca = os.path.join(base, 'ca.pem')
        openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                '-nodes', '-keyout', self.ca_key, '-out', self.ca, '-days', '30',
                '-subj', '/CN=' + name, '-addext', 'basicConstraints=critical,CA:TRUE',
                '-addext', 'keyUsage=critical,keyCertSign,cRLSign')

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name, kind='rsa'):
        """Write a new private key NAME.key; returns its path."""
        out = self.path(name + '.key')
        if kind == 'rsa':
            openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                    '-out', out)
        elif kind == 'ec':
            openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
                    '-out', out)
        else:
            raise ValueError(kind)
        return out

    def leaf(self, name, sans, kind='rsa', ca=None, key=None, dates=None, is_ca=False):
        """A certificate NAME.pem for the subjectAltName list SANS (e.g.
        ['DNS:localhost', 'IP:127.0.0.1']) signed by CA (default: this CA; or
        a (cert, key) pair), with a new key of KIND or the key file KEY.
        DATES = (startdate, enddate) as YYYYMMDDHHMMSSZ makes it with `openssl
        ca` (for an expired certificate).  Returns (cert path, key path)."""
        key = key or self.key(name, kind)
        csr = self.path(name + '.csr')
        cn = sans[0].split(':', 1)[1] if sans else name
        openssl('req', '-new', '-key', key, '-out', csr, '-subj', '/CN=' + cn)
        ca_cert, ca_key = ca or (self.ca, self.ca_key)
        ext = self.path(name + '.ext')
        with open(ext, 'w') as f:
            f.write('[ext]\n')
            if is_ca:
                f.write('basicConstraints=critical,CA:TRUE\n'
                        'keyUsage=critical,keyCertSign,cRLSign\n')
            else:
                f.write('basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
                if sans:
                    f.write('subjectAltName=%s\n' % ','.join(sans))
            f.write('subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n')
        out = self.path(name + '.pem')
        self.serial += 1
        if dates is None:
            openssl('x509', '-req', '-in', csr, '-CA', ca_cert, '-CAkey', ca_key,
                    '-set_serial', str(self.serial), '-days', '30', '-sha256',
                    '-extfile', ext, '-extensions', 'ext', '-out', out)
        else:
            db = self.path('cadb-' + name)
            os.mkdir(db)
            open(os.path.join(db, 'index.txt'), 'w').close()
            with open(os.path.join(db, 'serial'), 'w') as f:
                f.write('%02X\n' % (self.serial + 0x1000))
            cnf = self.path(name + '.cnf')
            with open(cnf, 'w') as f:
                f.write('[ca]\ndefault_ca=tca\n[tca]\ndatabase=%s/index.txt\n'
                        'new_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\n'
                        'policy=pol\nunique_subject=no\n[pol]\ncommonName=supplied\n'
                        % (db, db, db))
                with open(ext) as e:
                    f.write(e.read())
            openssl('ca', '-batch', '-config', cnf, '-cert', ca_cert, '-keyfile', ca_key,
                    '-in', csr, '-out', out, '-startdate', dates[0], '-enddate', dates[1],
                    '-extensions', 'ext', '-notext')
        return out, key

    def intermediate(self, name):
        """An intermediate CA signed by this CA: (cert path, key path)."""
        return self.leaf(name, [], kind='ec', is_ca=True)


def client_context(cafile=None, alpn=('http/1.1',), check_hostname=None):
    """An ssl client context.  With CAFILE: verify against it (and the host
    name unless CHECK_HOSTNAME is False); without: no verification."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = check_hostname is not False
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class TLSClient(Client):
    """One TLS connection to the server's HTTPS port, with Client's reading
    helpers.  The handshake happens in the constructor (bounded by
    TIMEOUT)."""

    def __init__(self, port, context=None, server_hostname='localhost', session=None,
                 timeout=IO_TIMEOUT, rcvbuf=None):
        if rcvbuf:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            raw.settimeout(timeout)
            try:
                raw.connect((HOST, port))
            except BaseException:
                raw.close()
                raise
        else:
            raw = socket.create_connection((HOST, port), timeout=timeout)
        try:
            self.sock = (context or client_context()).wrap_socket(
                raw, server_hostname=server_hostname, session=session)
        except BaseException:
            raw.close()
            raise
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def _fill(self, deadline):
        try:
            return Client._fill(self, deadline)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.eof = True
            return False

    def expect_open(self, wait=0.2):
        try:
            return Client.expect_open(self, wait)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            raise AssertionError('server closed the TLS connection')


def tls_exchange(port, raw, method='GET', timeout=None, **kw):
    """Open a TLS connection, send RAW, read one response, close."""
    with TLSClient(port, **kw) as c:
        c.send(raw)
        return c.read_response(method, timeout)


def client_hello(server_hostname='localhost', alpn=('http/1.1',)):
    """The bytes of the first flight (a ClientHello) a Python ssl client sends."""
    bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context(alpn=alpn).wrap_bio(bio_in, bio_out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = bio_out.read()
    check(data[:1] == b'\x16' and len(data) > 50, 'odd ClientHello %r' % data[:20])
    return data


class ManualHandshake(SocketOwner):
    """A TLS client over a plain socket driven step by step through memory
    BIOs, to stall a handshake wherever a test wants."""

    def __init__(self, port, server_hostname='localhost', context=None, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.timeout = timeout
        self.bio_in, self.bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (context or client_context()).wrap_bio(
            self.bio_in, self.bio_out, server_hostname=server_hostname)

    def step(self):
        """Advance the handshake with what has arrived; returns True when done."""
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def pending(self):
        """Bytes the client wants to send now."""
        return self.bio_out.read()

    def recv_some(self, timeout=None):
        """Read what the server sends (at least one chunk) into the BIO;
        returns the bytes, b'' on EOF."""
        self.sock.settimeout(timeout or self.timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b''
        if data:
            self.bio_in.write(data)
        return data

    def finish(self, timeout=None):
        """Complete the handshake (sending everything); returns the ssl object."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            done = self.step()
            out = self.pending()
            if out:
                self.sock.sendall(out)
            if done:
                return self.obj
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout('handshake not finished')
            if not self.recv_some(left):
                raise Closed('server closed during the handshake')


class SessionReader(Client):
    """Client's reading helpers (read_response, ...) over the TLS session of a
    finished ManualHandshake: what arrives on its socket is decrypted here."""

    def __init__(self, m):
        self.m, self.sock, self.timeout = m, m.sock, m.timeout
        self.buf = bytearray()
        self.eof = self.reset = False

    def _fill(self, deadline):
        while True:
            try:
                data = self.m.obj.read(262144)
            except ssl.SSLWantReadError:
                data = None
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                data = b''
            if data is not None:
                self.buf.extend(data)
                self.eof = not data
                return bool(data)
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout('timed out waiting for data (have %r)'
                                     % bytes(self.buf[:200]))
            if not self.m.recv_some(left):  # raises socket.timeout by itself
                self.eof = True
                return False


def closed_within(sock, bound):
    """Read SOCK until the server closes it (EOF or reset) within BOUND
    seconds; returns (seconds, bytes received).  Fails if still open."""
    t0 = time.monotonic()
    got = bytearray()
    deadline = t0 + bound
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError('connection still open after %.1f s (received %r)'
                                 % (bound, bytes(got[:200])))
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            data = b''
        if not data:
            return time.monotonic() - t0, bytes(got)
        got.extend(data)


def tls_serving_worker(srv, sock):
    """PID of the worker holding the server side of SOCK, a connection to
    SRV's HTTPS port, or None if /proc cannot tell."""
    return _worker_holding(srv, srv.tls_port, sock.getsockname()[1])


def start_tls_server(root, *extra, tls_port='0', **kw):
    """Start a server with HTTPS (EXTRA holds --tls or --tls-cert/--tls-key)
    on an ephemeral TLS port; fails the script when it does not start or its
    start-up line names no https URL."""
    args = list(extra)
    if tls_port is not None:
        args = ['--tls-port', str(tls_port)] + args
    s = start_server(root, *args, **kw)
    if s.tls_port is None:
        print('FAIL - server start: no https URL in the start-up line %r' % s.line)
        cleanup()
        print('0 passed, 1 failed')
        sys.exit(1)
    return s


S_CLIENT_RESULT = re.compile(r'^(New|Reused), (\S+), Cipher is (\S+)', re.M)


class SClient:
    """The result of one `openssl s_client` run."""

    def __init__(self, rc, text):
        self.rc = rc
        self.text = text
        m = S_CLIENT_RESULT.search(text)
        self.reused = bool(m) and m.group(1) == 'Reused'
        self.cipher = m.group(3) if m else None
        m = re.search(r'^\s*Protocol\s*:\s*(\S+)', text, re.M)
        self.protocol = m.group(1) if m else None
        if self.cipher and self.cipher.startswith('TLS_'):
            self.protocol = 'TLSv1.3'
        m = re.search(r'^ALPN protocol: (\S+)', text, re.M)
        self.alpn = m.group(1) if m else None
        m = re.search(r'^Server Temp Key: ([^\n]*)', text, re.M)
        self.temp_key = m.group(1) if m else None

    @property
    def ok(self):
        """The handshake completed with a cipher."""
        return self.rc == 0 and self.cipher not in (None, '(NONE)')

    def summary(self):
        keep = [x.strip() for x in self.text.splitlines()
                if re.search(r'error|alert|Cipher is|Protocol|ALPN|Temp Key|subject=', x, re.I)
                and not re.search(r'verify (error|return)|Verification error', x)]
        return 'rc %d: %s' % (self.rc, ' | '.join(keep)[:700])


def s_client(port, *args, input=b'', timeout=10):
    """`openssl s_client -connect 127.0.0.1:PORT ARGS` with INPUT on stdin
    (it ends at EOF of stdin unless -ign_eof)."""
    rc, text = openssl('s_client', '-connect', '%s:%d' % (HOST, port), *args,
                       input=input, timeout=timeout, check_rc=False)
    return SClient(rc, text)


def parse_response(data, method='GET'):
    """Parse DATA (everything a server sent before closing) as one response."""
    c = Client.__new__(Client)
    c.sock = None
    c.timeout = 1.0
    c.buf = bytearray(data)
    c.eof = True
    c.reset = False
    return c.read_response(method)


# --------------------------------------------------------------------------
# helpers for the configuration file, reload and privileges (added for
# issue 5; nothing above depends on them)

def run_portico(args, timeout=5, cwd=None, pre=(), new_session=False):
    """Run the binary to completion; returns (code, stdout, stderr) as bytes.
    A run still going after TIMEOUT is stopped by its PID and fails.
    NEW_SESSION: no controlling terminal to prompt on, as under a service manager."""
    p = spawn(list(pre) + [BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
              start_new_session=new_session)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        stop_proc(p)
        out, err = p.communicate(timeout=5)
        raise AssertionError('portico %s still running after %d s (stdout %r, stderr %r)'
                             % (' '.join(map(str, args)), timeout, out[:200], err[:200]))
    finally:
        stop_proc(p)


def stderr_one_line(err, code, want_code=1):
    """ERR (bytes) must be exactly one line starting 'portico: ' and CODE must
    be WANT_CODE; returns the line."""
    text = err.decode('utf-8', 'replace')
    lines = [x for x in text.split('\n') if x.strip()]
    eq(code, want_code, 'exit code (stderr %r)' % text)
    check(len(lines) == 1, 'want one line on stderr, got %r' % text)
    check(lines[0].startswith('portico: '), 'stderr line %r lacks "portico: "' % lines[0])
    return lines[0]


def write_config(path, lines, crlf=False):
    """Write a configuration file from a list of lines (or one string)."""
    text = lines if isinstance(lines, str) else '\n'.join(lines) + '\n'
    if crlf:
        text = text.replace('\r\n', '\n').replace('\n', '\r\n')
    tmp = '%s.tmp-%d' % (path, os.getpid())
    with open(tmp, 'w', newline='') as f:
        f.write(text)
    os.rename(tmp, path)     # a reload never sees half a file
    return path


def free_port():
    """A loopback TCP port that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def hold_port():
    """A listening loopback socket on an ephemeral port: (socket, port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    s.listen(1)
    return s, s.getsockname()[1]


def wait_until(fn, timeout, interval=0.05):
    """Call FN until it returns something true or TIMEOUT passes; returns the
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def alive_of(pids):
    return sorted(p for p in pids if process_alive(p))


def wait_gone(pids, timeout):
    """Wait until none of PIDS is alive; returns those still alive."""
    wait_until(lambda: not alive_of(pids), timeout)
    return alive_of(pids)


def proc_status(pid):
    """/proc/PID/status as a dict of field -> value text."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for ln in f:
            k, sep, v = ln.partition(':')
            if sep:
                out[k] = v.strip()
    return out


def proc_ids(pid):
    """(uids, gids, groups) of PID: the four Uid and Gid fields (real,
    effective, saved, filesystem) and the supplementary groups, as ints."""
    st = proc_status(pid)
    return ([int(x) for x in st['Uid'].split()], [int(x) for x in st['Gid'].split()],
            [int(x) for x in st.get('Groups', '').split()])


def read_text(path):
    """The file's text, or '' when it cannot be read."""
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def get_fresh(port, target, timeout=None, **kw):
    """GET on a new connection: the Response, or None if the server could not
    be reached or closed without answering."""
    try:
        return exchange(port, req('GET', target, **kw), timeout=timeout)
    except (OSError, Closed):
        return None


class SlowDownload:
    """A GET of a large file read slowly: start() reads the head and the first
    FIRST bytes; finish() reads the rest (bounded) and returns (bytes received
    of the body, sha256 hex of it)."""

    def __init__(self, port, target, size, timeout=15, rcvbuf=65536):
        import hashlib
        self.size = size
        self.deadline = time.monotonic() + timeout
        self.c = Client(port, timeout=timeout)
        self.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.c.send(req('GET', target))
        self.h = hashlib.sha256()
        self.n = 0

    def start(self, first=1 << 20):
        got = bytearray()
        while b'\r\n\r\n' not in got or len(got) < first:
            check(time.monotonic() < self.deadline, 'first bytes not received in time')
            self.c.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            chunk = self.c.sock.recv(65536)
            check(chunk, 'closed after %d bytes' % len(got))
            got.extend(chunk)
        head, body = bytes(got).split(b'\r\n\r\n', 1)
        check(head.startswith(b'HTTP/1.1 200 '), 'status %r' % head[:40])
        check(b'\r\ncontent-length: %d\r' % self.size in head.lower() + b'\r',
              'Content-Length in %r' % head)
        self.h.update(body)
        self.n = len(body)
        return self

    def finish(self, slow_until=8 << 20):
        while self.n < self.size:
            left = self.deadline - time.monotonic()
            check(left > 0, 'download incomplete in time: %d of %d bytes' % (self.n, self.size))
            self.c.sock.settimeout(left)
            try:
                chunk = self.c.sock.recv(65536)
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                raise AssertionError('closed after %d of %d bytes' % (self.n, self.size))
            self.h.update(chunk)
            self.n += len(chunk)
            if self.n < slow_until:
                time.sleep(0.001)
        return self.n, self.h.hexdigest()

    def close(self):
        self.c.close()


# --------------------------------------------------------------------------
# helpers for hostile clients and bad days (added for issue 6; nothing above
# depends on them)

def cpu_ticks(pid):
    """utime + stime of PID in clock ticks (/proc/PID/stat), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])     # fields 14 and 15 of stat(5)


def fd_count(pid):
    """Number of open descriptors of PID, or None."""
    try:
        return len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return None


def address_sanitized():
    """True when the binary was built with AddressSanitizer (its allocator and
    shadow memory do not live under an address-space limit)."""
    require_binary()
    with open(BIN, 'rb') as f:
        return b'__asan_init' in f.read()


def start_server_nofile(nofile, root, *extra, **kw):
    """Start a server whose descriptor limit is NOFILE, soft and hard (the
    master raises its soft limit to the hard one), through prlimit(1), which
    execs the server: the PID is the master's.  Skip without prlimit."""
    require_binary()
    if not shutil.which('prlimit'):
        raise Skip('prlimit (util-linux) not installed')
    s = Server(root, *extra, **kw)
    s.cmd = ['prlimit', '--nofile=%d:%d' % (nofile, nofile), '--'] + s.cmd
    try:
        return s.start()
    except StartError as e:
        raise AssertionError('server start under nofile %d: %s' % (nofile, e))


def timed_get(port, target, body, timeout=2.0):
    """One GET TARGET on a new connection, checked for a 200 with BODY:
    seconds it took (connect included)."""
    t0 = time.monotonic()
    with Client(port, timeout=timeout) as c:
        c.send(req('GET', target))
        r = c.read_response(timeout=timeout)
    took = time.monotonic() - t0
    expect(r, 200, body=body)
    return took


def measure_latency(port, target, body, n, gap, out, errors):
    """N timed_gets GAP seconds apart (a normal client during an attack):
    seconds into OUT, failures as text into ERRORS."""
    for _ in range(n):
        try:
            out.append(timed_get(port, target, body))
        except Exception as e:  # noqa: BLE001
            errors.append('%s: %s' % (type(e).__name__, e))
        time.sleep(gap)


def percentile(values, p):
    """The P-th percentile (0..100, nearest rank) of VALUES."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, -(-p * len(v) // 100) - 1))   # ceil(p/100 * n) - 1
    return v[k]


class LazyServers:
    """Servers started on first use, by name, from a table of (args, keywords);
    a server that fails to start fails every case that asks for it."""

    def __init__(self, root, table, common=()):
        self.root, self.table, self.common = root, table, list(common)
        self.started = {}

    def get(self, name):
        if name not in self.started:
            args, kw = self.table[name]
            try:
                s = Server(self.root, *(self.common + list(args)), **kw).start()
                if '--tls-port' in self.common and s.tls_port is None:
                    s.stop()
                    raise StartError('no https URL in the start-up line %r' % s.line)
                self.started[name] = s
            except StartError as e:
                self.started[name] = e
        s = self.started[name]
        if isinstance(s, Exception):
            raise AssertionError('server %r did not start: %s' % (name, s))
        return s
