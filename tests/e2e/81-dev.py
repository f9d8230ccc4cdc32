#!/usr/bin/env python3
"""Local development (--dev, --watch, --no-cache, --open): the reserved paths
/.portico/live and /.portico/live.js, the script injected into HTML (where it
goes, Content-Length, ETag, HEAD, 304, ranges, no compression, listings, big
pages, HTTPS, the default site only), Cache-Control: no-store on every
response, the watcher's events (one per burst, stylesheets and images in
place, new and moved directories, ignored paths, deletions), its polling
fallback when inotify is refused, event streams that outlive every timeout,
200 streams on 2 workers through a change and a SIGHUP, the end of the
streams at a stop, the start-up banner and --open."""

import gzip
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (BIN, HOST, HTML_TYPE, IO_TIMEOUT, WATCHER_NAME,  # noqa: E402
                          Client, LazyServers, Server, Skip, SocketOwner, StartError, add_case,
                          check, children, client_context, codings, content_range, eq, expect,
                          expect_304, get, head_equal, mkdtemp, new_root, only_worker,
                          parse_response, process_alive, process_name, req, require_binary, run,
                          run_portico, serving_worker, set_script_timeout, spawn, stderr_one_line,
                          stop_proc, test, tls_exchange, wait_until, write_config, write_file)

require_binary()
set_script_timeout(420)   # ~2.5 min: 20 servers, 400 streams, a 20 s ping, polling at 1 s

TAG = b'<script src="/.portico/live.js"></script>'
LIVE, LIVE_JS = '/.portico/live', '/.portico/live.js'
RETRY = b'retry: 1000\n\n'
WATCH_NAME = WATCHER_NAME         # the watcher's /proc/PID/comm
EVENT_WAIT = 5.0                  # an event goes out 75 ms after a burst, at most 1 s after it
POLL_WAIT = 8.0                   # polling every second, then the debounce, under ASan
QUIET = 1.5                       # how long "no (second) event" is watched for
DEBOUNCE = 0.075                  # a pause this long between two changes makes two events
AE = ('Accept-Encoding', 'br, gzip, zstd')

# ---- the sites ------------------------------------------------------------------------

PAGE_BODY = (b'<!DOCTYPE html>\n<html><head><title>body</title></head>\n<BODY>\n<p>' +
             b'lorem ipsum dolor sit amet ' * 20 +
             b'</p>\n<script>var s = "</body>";</script>\n</Body>\n</html>\n')
PAGE_HEAD = (b'<html><head><title>head</title>\n</HEAD><p>no end of body, a second '
             b'&lt;/head&gt;: </head></p>\n')
PAGE_NONE = b'<p>a fragment: neither an end of head nor of body</p>\n'
INDEX = b'<!doctype html><html><head><title>index</title></head><body>index</body></html>\n'
STATIC = {
    'a.txt': b'file a\n',
    'style.css': b'body { color: #123456 }\n' * 20,
    'app.js': b'console.log("app");\n' * 20,
    'data.json': b'{"a": 1}\n',
}
# beyond the first and last 64 KiB: a page read in pieces, sent with sendfile
PAGE_BIG = (b'<!doctype html><html><head><title>big</title></head><body>\n' +
            b'<p>a long page of a static site generator</p>\n' * 5000 + b'</body></html>\n')
# its </body> followed by 100 KB (a big comment, trailing scripts)
PAGE_TAIL = (b'<html><head><title>tail</title></head><body><p>t</p></body>\n<!--' +
             b' trailing ' * 10000 + b'-->\n</html>\n')
# its place is byte 0, and it is no small file kept in memory: the tag, then all of it
PAGE_ZERO = b'</head>' + b'<p>a page that starts with its place</p>\n' * 200
PAGE_PRE = (b'<html><head><title>pre</title></head><body>' + b'precompressed page ' * 40 +
            b'</body></html>\n')
FILES = dict(STATIC, **{
    'index.html': INDEX,
    'big.html': PAGE_BIG,
    'tail.html': PAGE_TAIL,
    'empty.html': b'',
    'pre.html': PAGE_PRE,
    'pre.html.gz': gzip.compress(PAGE_PRE),
    'edit.html': b'<html><body>version one</body></html>\n',
    'body.html': PAGE_BODY,
    'head.html': PAGE_HEAD,
    'none.html': PAGE_NONE,
    'zero.html': PAGE_ZERO,
    'listdir/one.txt': b'one\n',
    'listdir/two.txt': b'two\n',
    '_probe/': None,
})
_, ROOT = new_root({k.rstrip('/'): v for k, v in FILES.items()})

SERVERS = LazyServers(ROOT, {
    'off': (['--listing'], {}),
    'watch': (['--watch'], {}),
    'dev': (['--dev'], {}),
    'nocache': (['--no-cache'], {}),
})


def server(name):
    return SERVERS.get(name)


def injected(data):
    """DATA as --dev serves it: the tag before the last </body>, else before
    the first </head>, else at the end (any case)."""
    low = data.lower()
    i = low.rfind(b'</body>')
    if i < 0:
        i = low.find(b'</head>')
    if i < 0:
        i = len(data)
    return data[:i] + TAG + data[i:]


def live_etag(etag):
    check(etag and etag.endswith('"'), 'ETag %r' % etag)
    return etag[:-1] + '-live"'


# ---- an event stream on a raw socket -----------------------------------------------

# When each path beneath the watcher's root was last written by this script: a
# worker may hand a stream the batch that was already on its way when the stream came
# (it delivers rather than drops what may be news to the page), so an event that names
# only paths written before the stream opened is no news, and is skipped.
_written = {}


def stale(ev, opened):
    """EV names only files this script wrote, each last before OPENED (by the absolute
    path that ends in the URL path: servers of other roots have the same names)."""
    def last(p):
        return max([t for k, t in _written.items() if k.endswith(p)], default=opened)
    return bool(ev) and all(last(p) < opened for p in ev[1])


class Stream(SocketOwner):
    """GET /.portico/live on its own connection: the head is read at once (and,
    by default, the first bytes of the body, which must be 'retry: 1000');
    the body is then decoded (chunked or until the close) as it arrives."""

    def __init__(self, port, version='HTTP/1.1', timeout=IO_TIMEOUT, first=True, tls=False):
        self.opened = time.monotonic()
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        if tls:
            try:
                self.sock = client_context().wrap_socket(self.sock, server_hostname='localhost')
            except BaseException:
                self.sock.close()
                raise
        self.chunked = False
        self.raw = bytearray()      # bytes received, not yet decoded
        self.body = bytearray()     # decoded body not yet parsed into blocks
        self.seen = bytearray()     # the whole decoded body, for messages
        self.after = b''            # bytes after the terminating chunk
        self.ended = self.eof = self.reset = False
        self.r = None               # the response head, once read
        try:
            self.sock.sendall(req('GET', LIVE, version=version,
                                  headers=[('Accept', 'text/event-stream')]))
            deadline = time.monotonic() + timeout
            while b'\r\n\r\n' not in self.raw:
                check(self._fill(deadline) is not None, 'no response head within %.0f s: %r'
                      % (timeout, bytes(self.raw[:200])))
                check(not self.eof, 'closed before a response head: %r' % bytes(self.raw[:200]))
            i = self.raw.find(b'\r\n\r\n') + 4
            self.r = parse_response(bytes(self.raw[:i]), 'HEAD')
            del self.raw[:i]
            check(self.r.status == 200, 'GET %s: want 200, got %r' % (LIVE, self.r))
            self.chunked = 'chunked' in self.r.tokens('transfer-encoding')
            self._decode()
            if first:
                while len(self.seen) < len(RETRY) and not (self.eof or self.ended):
                    check(self._fill(deadline) is not None, 'no %r within %.0f s (have %r)'
                          % (RETRY, timeout, bytes(self.seen)))
                check(self.seen.startswith(RETRY), 'the stream does not start with %r: %r'
                      % (RETRY, bytes(self.seen[:100])))
        except BaseException:
            self.close()
            raise

    def _fill(self, deadline):
        """One recv until DEADLINE: the bytes (b'' at EOF), None on time-out."""
        if self.eof:
            return b''
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            self.reset = True
            data = b''
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b''          # with or without its close_notify: the TCP close is clean
        if not data:
            self.eof = True
            return b''
        self.raw.extend(data)
        if self.r is not None:
            self._decode()
        return data

    def _decode(self):
        if not self.chunked:
            self.body.extend(self.raw)
            self.seen.extend(self.raw)
            self.raw.clear()
            return
        while not self.ended:
            i = self.raw.find(b'\r\n')
            if i < 0:
                return
            line = bytes(self.raw[:i])
            try:
                size = int(line.split(b';')[0], 16)
            except ValueError:
                raise AssertionError('bad chunk-size line %r' % line)
            if size == 0:
                j = self.raw.find(b'\r\n\r\n', i)     # the last chunk, (trailers,) CRLF
                if j < 0:
                    return
                self.ended = True
                self.after = bytes(self.raw[j + 4:])
                self.raw.clear()
                return
            if len(self.raw) < i + 2 + size + 2:
                return
            data = bytes(self.raw[i + 2:i + 2 + size])
            check(self.raw[i + 2 + size:i + 4 + size] == b'\r\n',
                  'chunk data not followed by CRLF: %r' % bytes(self.raw[:i + 8 + size]))
            del self.raw[:i + 4 + size]
            self.body.extend(data)
            self.seen.extend(data)

    def _block(self):
        """One complete block of lines (up to a blank line) of the body, or None."""
        text = bytes(self.body).replace(b'\r\n', b'\n')
        i = text.find(b'\n\n')
        if i < 0:
            return None
        self.body = bytearray(text[i + 2:])
        return text[:i]

    @staticmethod
    def parse(block):
        """(event name, (data lines)) of a block, or None for a block without
        data (a comment, the retry line)."""
        name, data = 'message', []
        for ln in block.decode('utf-8').split('\n'):
            if ln.startswith(':'):
                continue
            field, _, value = ln.partition(':')
            value = value[1:] if value.startswith(' ') else value
            if field == 'event':
                name = value
            elif field == 'data':
                data.append(value)
        return (name, tuple(data)) if data else None

    def _why(self):
        return ('%s; received %r' % ('reset' if self.reset else
                                     'terminating chunk' if self.ended else 'EOF',
                                     bytes(self.seen[-300:])))

    def event(self, timeout=EVENT_WAIT):
        """The next event, as (name, (data, ...)); comments are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            b = self._block()
            if b is not None:
                ev = self.parse(b)
                if ev and not stale(ev, self.opened):
                    return ev
                continue
            if self.ended or self.eof:
                raise AssertionError('the stream ended before an event (%s)' % self._why())
            if self._fill(deadline) is None:
                raise AssertionError('no event within %.1f s (received %r)'
                                     % (timeout, bytes(self.seen[-300:])))

    def quiet(self, wait=QUIET, what='event'):
        """No event arrives within WAIT seconds, and the stream stays open."""
        deadline = time.monotonic() + wait
        while True:
            b = self._block()
            if b is not None:
                ev = self.parse(b)
                check(not ev or stale(ev, self.opened), 'unexpected %s %r' % (what, ev))
                continue
            check(not (self.ended or self.eof), 'the stream ended (%s)' % self._why())
            if self._fill(deadline) is None:
                return

    def drain(self, gap=1.0, limit=10.0):
        """Read (and drop) events until none came for GAP seconds."""
        stop = time.monotonic() + limit
        while time.monotonic() < stop:
            try:
                self.event(gap)
            except AssertionError:
                return
        raise AssertionError('events kept coming for %.0f s' % limit)

    def expect_end(self, timeout=10.0):
        """The server ends the stream cleanly within TIMEOUT: (chunked) the
        terminating chunk, then the close (an EOF, not a reset); nothing after."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if self._fill(deadline) is None:
                raise AssertionError('the stream is still open %.0f s on (%s)'
                                     % (timeout, 'terminating chunk seen' if self.ended
                                        else 'no terminating chunk'))
        check(not self.reset, 'the connection was reset (received %r)' % bytes(self.seen[-200:]))
        if self.chunked:
            check(self.ended, 'closed without the terminating chunk (undecoded %r)'
                  % bytes(self.raw[-100:]))
            eq(self.after, b'', 'bytes after the terminating chunk')


def expect_event(s, name, data, timeout=EVENT_WAIT):
    ev = s.event(timeout)
    eq((ev[0], sorted(ev[1])), (name, sorted(data)), 'event (name, data)')
    return ev


def one_event(srv, action, timeout=EVENT_WAIT, quiet=QUIET):
    """Open a stream, run ACTION: the one event that follows (none other for
    QUIET seconds). When ACTION itself took longer than the debounce (this
    process stalled between two of its writes), two events are right: the
    second is then not looked for."""
    with Stream(srv.port) as s:
        t0 = time.monotonic()
        action()
        took = time.monotonic() - t0
        ev = s.event(timeout)
        try:
            s.quiet(quiet, 'second event')
        except AssertionError:
            if took < DEBOUNCE:
                raise
    return ev


def saved(path, data):
    """Write PATH as an editor's atomic save does: a dot temporary (ignored)
    renamed over it. One change the watcher cannot see in two halves, however
    slowly this process runs."""
    tmp = os.path.join(os.path.dirname(path), '.%s.save-%d' % (os.path.basename(path),
                                                              os.getpid()))
    write_file(tmp, data)
    os.rename(tmp, path)
    _written[os.path.abspath(path)] = time.monotonic()


def watcher_ready(srv, root, period=1.5, timeout=20.0):
    """Wait until SRV's watcher reports changes (it starts beside the workers):
    write _probe/probe.txt again every PERIOD s until a stream hears of it, then
    let the events settle."""
    probe = os.path.join(root, '_probe', 'probe.txt')
    os.makedirs(os.path.dirname(probe), exist_ok=True)
    deadline = time.monotonic() + timeout
    n = 0
    with Stream(srv.port) as s:
        while True:
            n += 1
            saved(probe, b'probe %d\n' % n)
            try:
                s.event(period)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise AssertionError('a stream (held by worker %r) heard of no change within '
                                         '%.0f s (stderr %r)' % (serving_worker(srv, s), timeout,
                                                                 srv.stderr()[-400:]))
        s.drain(gap=period)


# ---- helpers for processes ----------------------------------------------------------

def workers_of(srv):
    """SRV's workers: its children but the compressor and the watcher."""
    return srv.workers()


def wait_workers(srv, n, exclude=(), timeout=10.0):
    """At least N live workers of SRV not in EXCLUDE (a generation's), sorted."""
    def found():
        pids = {p for p in workers_of(srv) if p not in exclude and process_alive(p)}
        return pids if len(pids) >= n else None
    pids = wait_until(found, timeout)
    check(pids, 'want %d workers (not %r), have %r' % (n, sorted(exclude),
                                                       sorted(workers_of(srv))))
    return sorted(pids)


def watch_pids(srv):
    pids = children(srv.pid) if srv.alive() else set()
    return {p for p in pids if process_name(p) == WATCH_NAME}


def stderr_lines(srv):
    return [x for x in srv.stderr().decode('utf-8', 'replace').split('\n') if x.strip()]


# ==== the reserved paths ===============================================================

for _name in ('off', 'nocache'):
    for _path in (LIVE, LIVE_JS):
        add_case('without --watch (%s): GET %s -> 404' % (_name, _path),
                 lambda n, p: expect(get(server(n).port, p), 404), _name, _path)


@test('--watch: GET /.portico/live.js -> 200 text/javascript, no-store, an EventSource on '
      '/.portico/live; HEAD has the same headers')
def live_js():
    s = server('watch')
    r = expect(get(s.port, LIVE_JS), 200, ctype='text/javascript; charset=utf-8')
    eq(r.get_all('cache-control'), ['no-store'], 'Cache-Control')
    check(b'EventSource' in r.body and LIVE.encode() in r.body,
          'the script does not listen on %s with EventSource: %r' % (LIVE, r.body[:300]))
    h = expect(get(s.port, LIVE_JS, method='HEAD'), 200, method='HEAD')
    head_equal(r, h)


@test('--watch: GET /.portico/live -> 200 text/event-stream, no-store, X-Accel-Buffering: '
      'no, chunked, no Content-Length, Connection: close; the body starts with "retry: 1000"')
def live_head():
    with Stream(server('watch').port) as st:
        r = st.r
        eq(r.version, 'HTTP/1.1', 'version')
        eq(r.get('content-type'), 'text/event-stream', 'Content-Type')
        eq(r.get_all('cache-control'), ['no-store'], 'Cache-Control')
        eq(r.get('x-accel-buffering'), 'no', 'X-Accel-Buffering')
        eq(r.tokens('transfer-encoding'), ['chunked'], 'Transfer-Encoding')
        eq(r.get_all('content-length'), [], 'Content-Length')
        # (the connection ends with the stream: its head says so)
        check(r.closes(), 'no Connection: close on a stream: %r' % r.head)
        st.quiet(0.3)


def live_method(path, method, status):
    s = server('watch')
    r = get(s.port, path, method=method, headers=[('Content-Length', '0')] if method in
            ('POST', 'PUT') else [])
    check(r.status == status, '%s %s: want %d, got %r' % (method, path, status, r))
    allow = [t.strip() for t in (r.get('allow') or '').split(',')]
    check('GET' in allow and 'HEAD' in allow, 'Allow %r' % r.get('allow'))
    if status == 204:
        eq(r.body, b'', 'body of a 204')


for _path in (LIVE, LIVE_JS):
    add_case('--watch: OPTIONS %s -> 204 with Allow' % _path, live_method, _path, 'OPTIONS', 204)
    for _m in ('POST', 'PUT', 'DELETE'):
        add_case('--watch: %s %s -> 405 with Allow' % (_m, _path), live_method, _path, _m, 405)


@test('--watch: HEAD /.portico/live -> 200 text/event-stream without a Content-Length (the GET '
      'has none), and the connection goes on')
def live_head_method():
    with Client(server('watch').port) as c:
        c.send(req('HEAD', LIVE) + req('GET', '/a.txt'))
        r = c.read_response('HEAD')
        eq((r.status, r.get('content-type')), (200, 'text/event-stream'), 'status, Content-Type')
        eq(r.get_all('content-length'), [], 'Content-Length of a HEAD of the stream')
        expect(c.read_response(), 200, body=FILES['a.txt'])


@test('--watch: another name beneath /.portico/ -> 404 (only the two paths are reserved)')
def live_other():
    expect(get(server('watch').port, '/.portico/other'), 404)


@test('--watch: an HTTP/1.0 GET /.portico/live -> 200, no chunking, no Content-Length; '
      'the body starts with "retry: 1000" and an event arrives as it is')
def live_http10():
    srv = wserver()
    with Stream(srv.port, version='HTTP/1.0') as st:
        eq(st.r.get_all('transfer-encoding'), [], 'Transfer-Encoding')
        eq(st.r.get_all('content-length'), [], 'Content-Length')
        saved(os.path.join(WROOT, 'h10.txt'), b'h10 %f\n' % time.time())
        expect_event(st, 'reload', ['/h10.txt'])
        check(b'event: reload\ndata: /h10.txt\n\n' in st.seen,
              'the event is not in the raw body: %r' % bytes(st.seen[-200:]))


# ==== injection ============================================================================

def inject_case(name, raw):
    r = expect(get(server('dev').port, '/' + name), 200, body=injected(raw), ctype=HTML_TYPE)
    eq(int(r.get('content-length')), len(raw) + len(TAG), 'Content-Length: file + tag')
    eq(r.body.count(TAG), 1, 'tags in the body')


add_case('--dev: a page with </body> twice (<script>"</body>", then </Body>): the tag goes '
         'before the last', inject_case, 'body.html', PAGE_BODY)
add_case('--dev: a page with </HEAD> (twice) and no </body>: the tag goes before the first',
         inject_case, 'head.html', PAGE_HEAD)
add_case('--dev: a page with neither </head> nor </body>: the tag goes at the end',
         inject_case, 'none.html', PAGE_NONE)
add_case('--dev: GET / (index.html) carries the tag', lambda: expect(
    get(server('dev').port, '/'), 200, body=injected(INDEX)))
add_case('--dev: an empty page gets the tag alone', inject_case, 'empty.html', b'')
add_case('--dev: a %d-byte page that starts with </head>: the tag, then the whole file'
         % len(PAGE_ZERO), inject_case, 'zero.html', PAGE_ZERO)
add_case('--dev: a page of %d KB (read in pieces, sent with sendfile): the tag before its '
         '</body>' % (len(PAGE_BIG) // 1000), inject_case, 'big.html', PAGE_BIG)
add_case('--dev: a page whose last </body> is followed by 100 KB: the tag still goes before '
         'that </body>', inject_case, 'tail.html', PAGE_TAIL)
add_case('--watch alone injects too', lambda: expect(
    get(server('watch').port, '/body.html'), 200, body=injected(PAGE_BODY)))


@test('--dev: an HTTP/1.0 GET of a page -> the injected page with its Content-Length')
def inject_http10():
    with Client(server('dev').port) as c:
        c.send(req('GET', '/body.html', version='HTTP/1.0'))
        r = c.read_response()
    eq((r.status, r.body), (200, injected(PAGE_BODY)), 'status, body')
    eq(r.get('content-length'), str(len(PAGE_BODY) + len(TAG)), 'Content-Length')


@test('dev on in a configuration file with a [site]: the default site has the reserved paths '
      'and injects; the other site has neither')
def other_site():
    parent, other = new_root({'index.html': INDEX, 'a.txt': b'other\n'})
    conf = write_config(os.path.join(parent, 'p.conf'),
                        ['root %s' % ROOT, 'dev on', '[site other.test]', 'root %s' % other])
    s = Server(None, '-c', conf).start()
    try:
        expect(get(s.port, '/'), 200, body=injected(INDEX))
        expect(get(s.port, LIVE_JS), 200)
        expect(get(s.port, '/', host='other.test'), 200, body=INDEX)
        expect(get(s.port, LIVE_JS, host='other.test'), 404)
        expect(get(s.port, LIVE, host='other.test'), 404)
    finally:
        s.stop()


@test('--dev: the ETag of an injected page is the file\'s with -live before the closing quote; '
      'Last-Modified is the file\'s')
def inject_etag():
    for name in ('body.html', 'none.html'):
        raw = expect(get(server('off').port, '/' + name), 200, body=FILES[name])
        dev = expect(get(server('dev').port, '/' + name), 200)
        eq(dev.get('etag'), live_etag(raw.get('etag')), 'ETag of /%s' % name)
        eq(dev.get('last-modified'), raw.get('last-modified'), 'Last-Modified')


@test('--dev: HEAD of an injected page has the same headers as GET (Content-Length '
      'included), no body')
def inject_head():
    port = server('dev').port
    for name in ('body.html', 'head.html', 'none.html', ''):
        g = expect(get(port, '/' + name), 200)
        with Client(port) as c:
            c.send(req('HEAD', '/' + name) + req('GET', '/a.txt'))
            h = expect(c.read_response('HEAD'), 200, method='HEAD')
            # the next response follows at once: the HEAD had no body
            expect(c.read_response(), 200, body=FILES['a.txt'])
        head_equal(g, h)


@test('--dev: If-None-Match with the injected ETag -> 304 with that ETag and '
      'Cache-Control: no-store; with the file\'s own ETag -> 200 injected')
def inject_304():
    port = server('dev').port
    g = expect(get(port, '/body.html'), 200)
    tag = g.get('etag')
    r = expect_304(get(port, '/body.html', headers=[('If-None-Match', tag)]), etag=tag)
    eq(r.get_all('cache-control'), ['no-store'], 'Cache-Control of the 304')
    raw_tag = expect(get(server('off').port, '/body.html'), 200).get('etag')
    expect(get(port, '/body.html', headers=[('If-None-Match', raw_tag)]), 200,
           body=injected(PAGE_BODY))


@test('--dev: a Range request gets the file\'s own bytes with the file\'s own ETag '
      '(bytes=0-15 and the suffix bytes=-10)')
def inject_range():
    port = server('dev').port
    raw_tag = expect(get(server('off').port, '/none.html'), 200).get('etag')
    r = get(port, '/none.html', headers=[('Range', 'bytes=0-15')])
    expect(r, 206, body=PAGE_NONE[:16])
    eq(content_range(r.get('content-range')), (0, 15, len(PAGE_NONE)), 'Content-Range')
    eq(r.get('etag'), raw_tag, 'ETag of the 206')
    r = get(port, '/none.html', headers=[('Range', 'bytes=-10')])
    expect(r, 206, body=PAGE_NONE[-10:])
    eq(r.get('etag'), raw_tag, 'ETag of the suffix 206')


@test('--dev: a page with a pre-compressed sibling (pre.html.gz), Accept-Encoding: gzip -> '
      'the page, injected, not the sibling')
def inject_precompressed():
    r = expect(get(server('dev').port, '/pre.html', headers=[('Accept-Encoding', 'gzip')]),
               200, body=injected(PAGE_PRE))
    eq(r.get('content-encoding'), None, 'Content-Encoding')
    r = get(server('off').port, '/pre.html', headers=[('Accept-Encoding', 'gzip')])
    eq(r.get('content-encoding'), 'gzip', 'Content-Encoding without --dev (the control)')


@test('--dev: a page edited in place (same size, </body> moved) is served at once with the '
      'tag at its new place')
def inject_after_edit():
    port = server('dev').port
    path = os.path.join(ROOT, 'edit.html')
    v1 = FILES['edit.html']
    expect(get(port, '/edit.html'), 200, body=injected(v1))
    v2 = b'<html><body>v2</body>' + b' ' * (len(v1) - 29) + b'</html>\n'
    check(len(v2) == len(v1) and v2.find(b'</body>') != v1.find(b'</body>'), 'the two versions')
    write_file(path, v2)
    expect(get(port, '/edit.html'), 200, body=injected(v2))


@test('--dev: Accept-Encoding: br, gzip, zstd -> an injected page is never compressed '
      '(while the same page is, without --dev)')
def inject_no_compression():
    port = server('dev').port
    for _ in range(4):          # a compressed variant, once made, would show up
        r = expect(get(port, '/body.html', headers=[AE]), 200, body=injected(PAGE_BODY))
        eq(r.get('content-encoding'), None, 'Content-Encoding of an injected page')
        time.sleep(0.3)
    if codings():
        off = server('off').port
        r = wait_until(lambda: get(off, '/body.html', headers=[AE]).get('content-encoding'), 5)
        check(r, 'the control: without --dev the page is never compressed either')


@test('without --watch (plain, --no-cache): every HTML page is byte-identical to the file, '
      'its ETag without -live')
def no_injection():
    for name in ('off', 'nocache'):
        port = server(name).port
        for page in ('body.html', 'head.html', 'none.html', 'index.html'):
            r = expect(get(port, '/' + page), 200, body=FILES[page])
            check('-live' not in (r.get('etag') or ''), 'ETag %r' % r.get('etag'))


@test('--dev: a directory listing carries the tag once (before its last </body> if any), '
      'its Content-Length counts it; a listing without --dev does not')
def inject_listing():
    r = expect(get(server('dev').port, '/listdir/'), 200, ctype=HTML_TYPE)
    eq(r.body.count(TAG), 1, 'tags in the listing')
    eq(int(r.get('content-length')), len(r.body), 'Content-Length')
    check(b'one.txt' in r.body and b'two.txt' in r.body, 'not a listing: %r' % r.body[:200])
    low = r.body.lower()
    if b'</body>' in low:
        eq(r.body.index(TAG) + len(TAG), low.rfind(b'</body>'), 'the tag\'s place')
    off = expect(get(server('off').port, '/listdir/'), 200)
    check(TAG not in off.body, 'a tag in a listing without --dev')


def untouched(name):
    dev = expect(get(server('dev').port, '/' + name), 200, body=FILES[name])
    raw = expect(get(server('off').port, '/' + name), 200, body=FILES[name])
    eq(dev.get('etag'), raw.get('etag'), 'ETag')


for _n in sorted(STATIC):
    add_case('--dev: a non-HTML file (%s) is served as it is, its own ETag' % _n, untouched, _n)


# ==== --no-cache ===========================================================================

def no_store(name, status):
    port = server(name).port
    if status == 200:
        r = expect(get(port, '/a.txt'), 200)
    elif status == 404:
        r = expect(get(port, '/missing.txt'), 404)
    elif status == 304:
        tag = expect(get(port, '/a.txt'), 200).get('etag')
        r = expect_304(get(port, '/a.txt', headers=[('If-None-Match', tag)]))
    elif status == 301:
        r = expect(get(port, '/listdir'), 301, location='/listdir/')
    elif status == 405:
        r = expect(get(port, '/a.txt', method='DELETE'), 405)
    eq(r.get_all('cache-control'), ['no-store'], 'Cache-Control of the %d' % status)


for _name, _flag in (('nocache', '--no-cache'), ('dev', '--dev')):
    for _st, _what in ((200, 'a file'), (404, 'a missing file'), (304, 'a 304'),
                       (301, 'a directory without its slash'), (405, 'a DELETE')):
        add_case('%s: Cache-Control: no-store on %s (%d)' % (_flag, _what, _st),
                 no_store, _name, _st)


@test('without --no-cache (plain, --watch): no Cache-Control on a file')
def no_no_store():
    for name in ('off', 'watch'):
        eq(expect(get(server(name).port, '/a.txt'), 200).get_all('cache-control'), [],
           'Cache-Control (%s)' % name)


# ==== the watcher ==========================================================================

IGNORE = ['--watch-ignore', 'drafts', '--watch-ignore', '/build/out', '--watch-ignore', '*.tmp']
WFILES = {
    'index.html': INDEX,
    'css/site.css': b'body { color: red }\n',
    'css/other.css': b'p { color: blue }\n',
    'img/logo.png': b'\x89PNG\r\n\x1a\nnot really\n',
    'burst/': None,
    'many/': None,
    'del/gone.txt': b'soon gone\n',
    'emptydir/': None,
    'touch.txt': b'touched\n',
    'chmod.txt': b'chmodded\n',
    'ren-a.txt': b'renamed\n',
    'node_modules/lib/x.js': b'x\n',
    '.git/config': b'[core]\n',
    'drafts/post.html': b'draft\n',
    'blog/drafts/x.html': b'draft\n',
    'build/out/app.js': b'built\n',
    'src/build/out/app.js': b'source\n',
    'x/': None,
    '_probe/': None,
}
WPARENT, WROOT = new_root({k.rstrip('/'): v for k, v in WFILES.items()})
_wsrv = []


def wserver():
    """The --dev server of the watcher's cases, its watcher known to be ready."""
    if not _wsrv:
        try:
            s = Server(WROOT, '--dev', *IGNORE).start()
        except StartError as e:
            _wsrv.append(e)
        else:
            _wsrv.append(s)
            watcher_ready(s, WROOT)
    s = _wsrv[0]
    if isinstance(s, Exception):
        raise AssertionError('the --dev server did not start: %s' % s)
    return s


def wpath(rel):
    return os.path.join(WROOT, rel)


def changed(rel, data=None):
    """Write REL beneath the watcher's root (by default, different bytes each time)."""
    if data is None:
        data = b'%s at %f\n' % (rel.encode(), time.time())
    write_file(wpath(rel), data)
    _written[os.path.abspath(wpath(rel))] = time.monotonic()


@test('watcher: a burst of 40 file writes -> exactly one event (reload, the first path)')
def burst():
    def act():
        for i in range(40):
            changed('burst/f%02d.txt' % i)
    eq(one_event(wserver(), act), ('reload', ('/burst/f00.txt',)), 'event')


@test('watcher: 33 stylesheets at once (more than 32 paths) -> one reload')
def burst_css():
    def act():
        for i in range(33):
            changed('many/s%02d.css' % i)
    ev = one_event(wserver(), act)
    eq(ev[0], 'reload', 'event name (%r)' % (ev,))


@test('watcher: editing a stylesheet -> "event: update" with "data: /css/site.css"')
def edit_css():
    eq(one_event(wserver(), lambda: changed('css/site.css', b'body { color: green }\n')),
       ('update', ('/css/site.css',)), 'event')


@test('watcher: editing an image -> update /img/logo.png')
def edit_png():
    eq(one_event(wserver(), lambda: changed('img/logo.png')), ('update', ('/img/logo.png',)),
       'event')


@test('watcher: two stylesheets in one save -> one update naming both')
def edit_two_css():
    def act():
        changed('css/site.css')
        changed('css/other.css')
    ev = one_event(wserver(), act)
    eq((ev[0], sorted(ev[1])), ('update', ['/css/other.css', '/css/site.css']), 'event')


@test('watcher: editing an HTML page -> "event: reload" with "data: /index.html"')
def edit_html():
    eq(one_event(wserver(), lambda: changed('index.html', INDEX + b'<!-- edited -->\n')),
       ('reload', ('/index.html',)), 'event')


@test('watcher: a stylesheet and a page in one batch -> reload, the data the first path')
def edit_mixed():
    def act():
        changed('css/site.css')
        changed('index.html', INDEX)
    eq(one_event(wserver(), act), ('reload', ('/css/site.css',)), 'event')


@test('watcher: an editor\'s atomic save (a dot temporary renamed over the stylesheet) '
      '-> update /css/site.css')
def atomic_css():
    def act():
        tmp = wpath('css/.site.css.swp')
        write_file(tmp, b'body { color: purple }\n')
        os.rename(tmp, wpath('css/site.css'))
        _written[os.path.abspath(wpath('css/site.css'))] = time.monotonic()
    eq(one_event(wserver(), act), ('update', ('/css/site.css',)), 'event')


@test('watcher: a name with a space and non-ASCII -> its decoded path (/x/sp ace \u00e9.css)')
def decoded_path():
    eq(one_event(wserver(), lambda: changed('x/sp ace \u00e9.css')),
       ('update', ('/x/sp ace \u00e9.css',)), 'event')


@test('watcher: mkdir of a new tree and a file in it at once -> an event; a later write '
      'in the new directory -> an event (it is watched)')
def new_dir():
    def act():
        os.makedirs(wpath('new1/deep/er'))
        changed('new1/deep/er/first.html')
    ev = one_event(wserver(), act)
    eq(ev[0], 'reload', 'event name (%r)' % (ev,))
    check(len(ev[1]) == 1 and ev[1][0].startswith('/new1'), 'event data %r' % (ev[1],))
    time.sleep(0.5)
    eq(one_event(wserver(), lambda: changed('new1/deep/er/later.css')),
       ('update', ('/new1/deep/er/later.css',)), 'event of a later write')
    eq(one_event(wserver(), lambda: changed('new1/deep/er/first.html')),
       ('reload', ('/new1/deep/er/first.html',)), 'event of a rewrite of the first file')


@test('watcher: deleting a file -> reload /del/gone.txt')
def delete_file():
    eq(one_event(wserver(), lambda: os.unlink(wpath('del/gone.txt'))),
       ('reload', ('/del/gone.txt',)), 'event')


@test('watcher: removing an empty directory -> reload /emptydir')
def delete_dir():
    eq(one_event(wserver(), lambda: os.rmdir(wpath('emptydir'))), ('reload', ('/emptydir',)),
       'event')


@test('watcher: touch (utime) of a file -> reload /touch.txt')
def touch_file():
    eq(one_event(wserver(), lambda: os.utime(wpath('touch.txt'), (1e9, 1e9))),
       ('reload', ('/touch.txt',)), 'event')


@test('watcher: chmod of a file -> reload /chmod.txt')
def chmod_file():
    eq(one_event(wserver(), lambda: os.chmod(wpath('chmod.txt'), 0o600)),
       ('reload', ('/chmod.txt',)), 'event')


@test('watcher: renaming a file -> one reload naming the old or the new name')
def rename_file():
    ev = one_event(wserver(), lambda: os.rename(wpath('ren-a.txt'), wpath('ren-b.txt')))
    check(ev[0] == 'reload' and ev[1] in (('/ren-a.txt',), ('/ren-b.txt',)), 'event %r' % (ev,))


@test('watcher: a directory moved into the root (made elsewhere, as an unzip or a build does) '
      '-> an event; a later write in it -> an event (it is watched)')
def dir_moved_in():
    outside = os.path.join(WPARENT, 'made-elsewhere')
    os.makedirs(os.path.join(outside, 'inner'))
    write_file(os.path.join(outside, 'inner', 'a.txt'), b'a\n')
    ev = one_event(wserver(), lambda: os.rename(outside, wpath('moved-in')))
    eq(ev, ('reload', ('/moved-in',)), 'event')
    eq(one_event(wserver(), lambda: changed('moved-in/inner/b.css')),
       ('update', ('/moved-in/inner/b.css',)), 'event of a write in it')


@test('watcher: a directory moved out of the root -> an event; writes in it afterwards -> '
      'no event')
def dir_moved_out():
    os.makedirs(wpath('leaving/inner'))
    changed('leaving/inner/a.txt')
    time.sleep(0.5)
    outside = os.path.join(WPARENT, 'left')
    ev = one_event(wserver(), lambda: os.rename(wpath('leaving'), outside))
    eq(ev, ('reload', ('/leaving',)), 'event')
    with Stream(wserver().port) as st:
        write_file(os.path.join(outside, 'inner', 'a.txt'), b'written after it left\n')
        write_file(os.path.join(outside, 'b.txt'), b'new after it left\n')
        st.quiet(QUIET)


@test('watcher: a symlink to a directory outside the root is not followed: writes there -> '
      'no event')
def symlink_out():
    outside = os.path.join(WPARENT, 'linked-target')
    os.makedirs(outside)
    os.symlink(outside, wpath('x/link'))
    time.sleep(0.5)    # the link's own creation is a change: let it pass
    with Stream(wserver().port) as st:
        write_file(os.path.join(outside, 'f.txt'), b'outside\n')
        st.quiet(QUIET)


_visible = [0]


def ignored(rel):
    srv = wserver()
    with Stream(srv.port) as s:
        os.makedirs(os.path.dirname(wpath(rel)), exist_ok=True)
        changed(rel)
        s.quiet(QUIET)
        # the watcher still works, and nothing ignored was held back for the next batch
        _visible[0] += 1
        name = 'visible-%d.txt' % _visible[0]
        saved(wpath(name), b'visible\n')
        expect_event(s, 'reload', ['/' + name])


for _rel, _why in [
    ('.hidden', 'a dotfile'),
    ('x/.env', 'a dotfile in a directory'),
    ('.git/config', 'a file in .git'),
    ('.cache/new/f.txt', 'a new dot-directory and a file in it'),
    ('node_modules/lib/x.js', 'a file in node_modules'),
    ('x/a.txt~', 'an editor backup (*~)'),
    ('x/.a.txt.swp', 'a vim swap file'),
    ('x/a.swx', 'a *.swx'),
    ('x/#a.txt#', 'an Emacs autosave (#*#)'),
    ('x/4913', 'vim\'s write test (4913)'),
    ('drafts/post.html', '--watch-ignore drafts'),
    ('blog/drafts/x.html', '--watch-ignore drafts, below the root'),
    ('drafts/new/deep.html', '--watch-ignore drafts, a new directory beneath it'),
    ('build/out/app.js', '--watch-ignore /build/out (from the root)'),
    ('x/y.tmp', '--watch-ignore *.tmp'),
]:
    add_case('watcher: a write to %s (%s) -> no event in %.1f s; then a visible write -> one'
             % (_rel, _why, QUIET), ignored, _rel)


@test('--watch-ignore given 33 times (at most 32) -> refused at start-up with one line')
def too_many_patterns():
    args = ['-t', '--dev'] + [a for i in range(33) for a in ('--watch-ignore', 'p%d' % i)]
    code, out, err = run_portico(args + [WROOT])
    check(code != 0, 'exit code 0 with 33 patterns (stdout %r, stderr %r)' % (out, err))
    line = stderr_one_line(err, code, code)
    check('32' in line, 'the line does not give the bound: %r' % line)


def not_ignored(rel, kind):
    os.makedirs(os.path.dirname(wpath(rel)), exist_ok=True)
    eq(one_event(wserver(), lambda: changed(rel)), (kind, ('/' + rel,)), 'event')


add_case('watcher: src/build/out/app.js is not matched by /build/out (anchored) -> reload',
         not_ignored, 'src/build/out/app.js', 'reload')
add_case('watcher: drafts.html is not matched by the pattern drafts -> reload',
         not_ignored, 'drafts.html', 'reload')


@test('watcher: a file name with a newline -> one reload, the stream\'s framing intact (the '
      'next change is an event of its own)')
def newline_name():
    srv = wserver()
    with Stream(srv.port) as st:
        changed('x/bad\nname.txt')
        ev = st.event()
        check(ev[0] == 'reload' and len(ev[1]) == 1, 'event %r' % (ev,))
        st.quiet(QUIET, 'second event')
        saved(wpath('x/after-newline.css'), b'a {}\n')
        expect_event(st, 'update', ['/x/after-newline.css'])


@test('watcher: a write every 50 ms for 4 s -> events while it goes on (each at most 1 s '
      'after its burst began), not one at the end')
def continuous():
    srv = wserver()
    got = []
    with Stream(srv.port) as st:
        end = time.monotonic() + 4.0
        i = 0
        while time.monotonic() < end:
            i += 1
            changed('x/busy.txt', b'%d\n' % i)
            try:
                got.append(st.event(0.05))
            except AssertionError:
                pass
        check(got, 'no event during 4 s of writes every 50 ms')
        st.drain(gap=QUIET)
    check(all(ev == ('reload', ('/x/busy.txt',)) for ev in got), 'events %r' % got)


# ==== the polling fallback ======================================================================

def userns_ok():
    if not shutil.which('unshare'):
        return 'unshare (util-linux) is not installed'
    try:
        r = subprocess.run(['unshare', '--user', '--map-root-user', 'sh', '-c',
                            'echo 0 > /proc/sys/user/max_inotify_instances && '
                            'exec unshare --user true'], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return 'unshare: %s' % e
    if r.returncode != 0:
        return ('no user namespace with its own inotify limits here (unshare: %s)'
                % r.stderr.decode('utf-8', 'replace').strip()[:200])
    return None


PFILES = {'index.html': INDEX, 'css/p.css': b'a { color: red }\n', 'del.txt': b'gone\n',
          'node_modules/m.js': b'm\n', '_probe/': None}
for _i in range(6):
    PFILES['d%d/e%d/f.txt' % (_i, _i)] = b'deep\n'
_, PROOT = new_root({k.rstrip('/'): v for k, v in PFILES.items()})
_psrv = {}


def limited_server(knob, value):
    """A --dev server whose user namespace allows VALUE of /proc/sys/user/KNOB
    (max_inotify_instances, max_inotify_watches); the server runs as an unmapped
    user of a namespace below it (not root: it drops no privileges). Ready when its
    watcher reports changes."""
    if knob not in _psrv:
        why = userns_ok()
        if why:
            _psrv[knob] = Skip(why)
        else:
            s = Server(PROOT, '--dev')
            s.cmd = ['unshare', '--user', '--map-root-user', 'sh', '-c',
                     'echo %d > /proc/sys/user/%s && exec unshare --user "$@"' % (value, knob),
                     'sh'] + s.cmd
            try:
                _psrv[knob] = s.start()
                watcher_ready(s, PROOT, period=3.0, timeout=30.0)
            except (StartError, AssertionError) as e:
                _psrv[knob] = AssertionError('the server under %s=%d: %s' % (knob, value, e))
    s = _psrv[knob]
    if isinstance(s, Exception):
        raise s
    return s


def warning_of_watcher(srv, sysctl):
    """The stderr lines of SRV's watcher naming SYSCTL: exactly one."""
    wp = watch_pids(srv)
    check(wp, 'no %s process among the master\'s children' % WATCH_NAME)
    lines = wait_until(lambda: [x for x in stderr_lines(srv) if sysctl in x], 5)
    mine = [x for x in lines if any(x.startswith('portico[%d]' % p) for p in wp)]
    check(len(mine) == 1, 'want one warning of the watcher (pid %r) naming %s, got %r '
          '(all lines naming it: %r)' % (sorted(wp), sysctl, mine, lines))
    return mine[0]


@test('inotify refused (max_user_instances 0): the watcher warns once, naming '
      'fs.inotify.max_user_instances')
def poll_warning():
    warning_of_watcher(limited_server('max_inotify_instances', 0),
                       'fs.inotify.max_user_instances')


@test('polling: a stylesheet edit -> update /css/p.css within a few seconds, one event')
def poll_css():
    s = limited_server('max_inotify_instances', 0)
    eq(one_event(s, lambda: write_file(os.path.join(PROOT, 'css/p.css'), b'a { color: #0f0 }\n'),
                 POLL_WAIT, 2.5), ('update', ('/css/p.css',)), 'event')


@test('polling: a new directory and a file in it -> an event; a later file in it -> an event')
def poll_new_dir():
    s = limited_server('max_inotify_instances', 0)

    def act():
        os.makedirs(os.path.join(PROOT, 'pnew/sub'))
        write_file(os.path.join(PROOT, 'pnew/sub/a.txt'), b'a\n')
    ev = one_event(s, act, POLL_WAIT, 2.5)
    check(ev[0] == 'reload' and len(ev[1]) == 1 and ev[1][0].startswith('/pnew'),
          'event %r' % (ev,))
    eq(one_event(s, lambda: write_file(os.path.join(PROOT, 'pnew/sub/b.css'), b'b\n'),
                 POLL_WAIT, 2.5), ('update', ('/pnew/sub/b.css',)), 'event of a later file')


@test('polling: .hidden and node_modules/ are ignored (nothing in 3 s), then a visible '
      'write and a deletion -> an event each')
def poll_ignored():
    s = limited_server('max_inotify_instances', 0)
    with Stream(s.port) as st:
        write_file(os.path.join(PROOT, '.hidden'), b'h\n')
        write_file(os.path.join(PROOT, 'node_modules/m.js'), b'changed, longer\n')
        st.quiet(3.0)
        saved(os.path.join(PROOT, 'seen.txt'), b's\n')
        expect_event(st, 'reload', ['/seen.txt'], POLL_WAIT)
        st.quiet(2.5, 'second event')
        os.unlink(os.path.join(PROOT, 'del.txt'))
        expect_event(st, 'reload', ['/del.txt'], POLL_WAIT)


@test('inotify watch limit (max_user_watches 2) with 12 directories: the watcher warns '
      'once, naming fs.inotify.max_user_watches; a change deep down still -> an event')
def watch_limit():
    s = limited_server('max_inotify_watches', 2)
    warning_of_watcher(s, 'fs.inotify.max_user_watches')
    eq(one_event(s, lambda: write_file(os.path.join(PROOT, 'd5/e5/g.css'), b'g\n'),
                 POLL_WAIT, 2.5), ('update', ('/d5/e5/g.css',)), 'event')


# ==== streams and timeouts ================================================================

@test('--send-timeout 1 --keepalive-timeout 1 --header-timeout 1: a stream stays open (an idle '
      'keep-alive connection does not), gets ": ping" within 25 s, then still hears a change')
def stream_outlives_timeouts():
    _, root = new_root({'a.txt': b'a\n', '_probe/': None})
    s = Server(root, '--dev', '--send-timeout', '1', header_timeout=1,
               keepalive_timeout=1).start()
    try:
        watcher_ready(s, root)
        with Stream(s.port) as st, Client(s.port) as idle:
            idle.send(req('GET', '/a.txt'))
            expect(idle.read_response(), 200, body=b'a\n')
            st.quiet(4.5)
            idle.expect_closed(0.5, 'the idle keep-alive connection (the control)')
            # the keep-alive comment, about every 20 s
            deadline = time.monotonic() + 25
            while b'\n: ping\n\n' not in st.seen:
                check(st._fill(deadline) is not None, 'no ": ping" within 30 s: %r'
                      % bytes(st.seen))
                check(not st.eof, 'the stream ended (%s)' % st._why())
            saved(os.path.join(root, 'late.txt'), b'late\n')
            expect_event(st, 'reload', ['/late.txt'])
    finally:
        s.stop()


# ==== 200 streams on 2 workers, a change, a SIGHUP ===========================================

PER_WORKER = 100


def open_streams(srv, pids):
    """PER_WORKER streams accepted by each worker of PIDS (the others stopped
    meanwhile); a sample checked through /proc."""
    streams = []
    for pid in pids:
        with only_worker(srv, pid):
            for i in range(PER_WORKER):
                st = Stream(srv.port)
                st.pid = pid
                streams.append(st)
                if i in (0, PER_WORKER // 2, PER_WORKER - 1):
                    who = serving_worker(srv, st)
                    check(who in (pid, None), 'stream %d held by %r, not the pinned worker %d'
                          % (i, who, pid))
    return streams


def all_hear(streams, want, timeout=20.0):
    """Every stream gets the event WANT, and no second one."""
    deadline = time.monotonic() + timeout
    bad = []
    for i, st in enumerate(streams):
        try:
            ev = st.event(max(0.1, deadline - time.monotonic()))
            if ev != want:
                bad.append('stream %d (worker %d): %r' % (i, st.pid, ev))
        except AssertionError as e:
            bad.append('stream %d (worker %d): %s' % (i, st.pid, e))
    time.sleep(1.0)
    for i, st in enumerate(streams):
        try:
            st.quiet(0.01, 'second event')
        except AssertionError as e:
            bad.append('stream %d (worker %d): %s' % (i, st.pid, e))
    check(not bad, '%d of %d streams: %s' % (len(bad), len(streams), '; '.join(bad[:4])))


def close_all(streams):
    for st in streams:
        st.close()


@test('200 streams, 100 on each of 2 workers: one change reaches each exactly once; SIGHUP '
      'ends all 200 cleanly (last chunk, then EOF); 200 new streams on the new workers hear '
      'the next change')
def many_streams():
    _, root = new_root({'a.txt': b'a\n', 'css/m.css': b'a {}\n', '_probe/': None})
    s = Server(root, '--dev', workers=2).start()
    streams = []
    try:
        watcher_ready(s, root)
        old = wait_workers(s, 2)
        streams = open_streams(s, old)
        saved(os.path.join(root, 'css/m.css'), b'a { color: red }\n')
        all_hear(streams, ('update', ('/css/m.css',)))
        s.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        bad = []
        for i, st in enumerate(streams):
            try:
                st.expect_end(max(0.1, deadline - time.monotonic()))
            except AssertionError as e:
                bad.append('stream %d (worker %d): %s' % (i, st.pid, e))
        check(not bad, 'after SIGHUP, %d of %d streams: %s'
              % (len(bad), len(streams), '; '.join(bad[:4])))
        close_all(streams)
        new = wait_workers(s, 2, exclude=old)
        watcher_ready(s, root)
        streams = open_streams(s, new)
        saved(os.path.join(root, 'a.txt'), b'after the reload\n')
        all_hear(streams, ('reload', ('/a.txt',)))
    finally:
        close_all(streams)
        s.stop()


# ==== a stop ends the streams ================================================================

def stop_ends_streams(sig):
    _, root = new_root({'a.txt': b'a\n'})
    s = Server(root, '--dev', workers=2).start()
    streams = []
    try:
        streams = open_streams_few(s, 3)
        s.signal(sig)
        for st in streams:
            st.expect_end(10)
        code = s.wait(10)
        check(code is not None, 'the master still runs 10 s after %s' % sig.name)
    finally:
        close_all(streams)
        s.stop()


def open_streams_few(srv, n):
    streams = []
    for pid in wait_workers(srv, 2):
        with only_worker(srv, pid):
            for _ in range(n):
                st = Stream(srv.port)
                st.pid = pid
                streams.append(st)
    return streams


for _sig in (signal.SIGTERM, signal.SIGQUIT):
    add_case('%s of the master: streams on both workers end with the last chunk, then EOF; '
             'the master exits' % _sig.name, stop_ends_streams, _sig)


# ==== the banner and --open ================================================================

LOCAL = re.compile(r'^\s+Local:\s+(https?)://([^/]+):(\d+)/$')
NETWORK = re.compile(r'^\s+Network:\s+(https?)://(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)/$')


def stdout_lines(srv):
    return [x for x in srv.stdout().decode('utf-8', 'replace').split('\n') if x.strip()]


def banner_problems(s, root, want_local, host='localhost'):
    """How SRV's banner differs from the one portico prints: on stdout, below the
    start-up line, a Local line per (scheme, port) of WANT_LOCAL naming HOST (localhost,
    or the address given to --bind), and '  Pages reload when files beneath ROOT
    change.' Returns (problems, Network lines)."""
    wait_until(lambda: [x for x in stdout_lines(s) if x.startswith('  Pages reload')], 5)
    out = stdout_lines(s)
    problems = []
    local = [LOCAL.match(x).groups() for x in out if LOCAL.match(x)]
    if any(LOCAL.match(x) for x in stderr_lines(s)):
        problems.append('a Local line on stderr: %r' % stderr_lines(s)[:6])
    if sorted((sch, int(port)) for sch, _, port in local) != sorted(want_local):
        problems.append('Local lines %r, want %r' % (local, want_local))
    hosts = sorted({h for _, h, _ in local})
    if hosts and hosts != [host]:
        problems.append('Local URLs name %r, not %s' % (hosts, host))
    if not any(x == '  Pages reload when files beneath %s change.' % root for x in out):
        problems.append('no line "  Pages reload when files beneath %s change." (stdout %r)'
                        % (root, out[:8]))
    return problems, [x for x in out if 'Network:' in x]


def banner(bind):
    _, root = new_root({'a.txt': b'a\n'})
    s = Server(root, '--dev', bind=bind, quiet=False).start()
    try:
        expect(get(s.port, '/a.txt'), 200, body=b'a\n')
        problems, net = banner_problems(s, root, [('http', s.port)],
                                        host=bind if bind else 'localhost')
        for x in net:
            m = NETWORK.match(x)
            if not m:
                problems.append('bad Network line %r' % x)
                continue
            addr = m.group(2).strip('[]').lower()
            if int(m.group(3)) != s.port or addr.startswith(('127.', 'fe80:')) or addr == '::1':
                problems.append('a wrong port, a loopback or link-local address: %r' % x)
            if (':' in addr) != m.group(2).startswith('['):
                problems.append('IPv6 without brackets: %r' % x)
        check(not problems, '; '.join(problems))
        return net
    finally:
        s.stop()


@test('--dev -b 127.0.0.1: the banner has "Local:   http://127.0.0.1:PORT/" and no '
      'Network line')
def banner_loopback():
    eq(banner(HOST), [], 'Network lines when bound to loopback')


@test('--dev on every address: the Local line, and one Network line per global address of '
      'an interface that is up (none needed), IPv6 in brackets')
def banner_all():
    net = banner(None)
    if not shutil.which('ip'):
        return
    out = subprocess.run(['ip', '-o', 'addr', 'show', 'up', 'scope', 'global'],
                         capture_output=True, text=True, timeout=10).stdout
    mine = {m.group(1).lower() for m in re.finditer(r'inet6? ([0-9a-fA-F:.]+)/', out)}
    listed = [NETWORK.match(x).group(2).strip('[]').lower() for x in net]
    eq(sorted(listed), sorted(mine), 'addresses of the Network lines')


@test('--dev --tls: pages over HTTPS (a small and a %d KB one) carry the tag; the banner has '
      'Local lines for http://127.0.0.1:PORT/ and https://127.0.0.1:TLSPORT/'
      % (len(PAGE_BIG) // 1000))
def banner_tls():
    _, root = new_root({'index.html': INDEX, 'big.html': PAGE_BIG})
    s = Server(root, '--dev', '--tls', '--tls-port', '0', quiet=False).start()
    try:
        check(s.tls_port, 'no https URL in the start-up line %r' % s.line)
        expect(tls_exchange(s.tls_port, req('GET', '/')), 200, body=injected(INDEX))
        expect(tls_exchange(s.tls_port, req('GET', '/big.html')), 200, body=injected(PAGE_BIG))
        problems, _ = banner_problems(s, root, [('http', s.port), ('https', s.tls_port)],
                                      host=HOST)
        check(not problems, '; '.join(problems))
    finally:
        s.stop()


@test('--dev --tls: an event stream over HTTPS hears a change, and ends with the last chunk '
      'at SIGTERM')
def tls_stream():
    _, root = new_root({'a.txt': b'a\n', '_probe/': None})
    s = Server(root, '--dev', '--tls', '--tls-port', '0').start()
    try:
        check(s.tls_port, 'no https URL in the start-up line %r' % s.line)
        watcher_ready(s, root)
        with Stream(s.tls_port, tls=True) as st:
            eq(st.r.tokens('transfer-encoding'), ['chunked'], 'Transfer-Encoding')
            saved(os.path.join(root, 'tls.css'), b'a {}\n')
            expect_event(st, 'update', ['/tls.css'])
            s.signal(signal.SIGTERM)
            st.expect_end(10)
    finally:
        s.stop()


def with_path(srv, path):
    srv.cmd = ['/usr/bin/env', 'PATH=' + path] + srv.cmd
    return srv


@test('--open without xdg-open in PATH: one warning line naming xdg-open, still serving')
def open_missing():
    _, root = new_root({'a.txt': b'a\n'})
    s = with_path(Server(root, '--dev', '--open'), mkdtemp()).start()
    try:
        lines = wait_until(lambda: [x for x in stderr_lines(s) if 'xdg-open' in x], 5)
        check(lines, 'no warning naming xdg-open: %r' % stderr_lines(s))
        expect(get(s.port, '/a.txt'), 200, body=b'a\n')
        time.sleep(1.0)
        lines = [x for x in stderr_lines(s) if 'xdg-open' in x]
        eq(len(lines), 1, 'lines naming xdg-open (%r)' % lines)
        check(s.alive(), 'the server exited')
    finally:
        s.stop()


@test('--open with an xdg-open in PATH: run once with the server\'s URL, no warning')
def open_runs():
    _, root = new_root({'a.txt': b'a\n'})
    bindir = mkdtemp()
    log = os.path.join(mkdtemp(), 'opened')
    os.chmod(os.path.dirname(log), 0o777)       # whatever user runs it
    fake = os.path.join(bindir, 'xdg-open')
    with open(fake, 'w') as f:
        f.write('#!/bin/sh\necho "$@" >> %s\n' % log)
    os.chmod(fake, 0o755)
    s = with_path(Server(root, '--dev', '--open'), bindir + ':/usr/bin:/bin').start()
    try:
        check(wait_until(lambda: os.path.exists(log), 5), 'xdg-open was not run (stderr %r)'
              % stderr_lines(s))
        time.sleep(1.0)
        with open(log) as f:
            calls = f.read().splitlines()
        eq(len(calls), 1, 'xdg-open runs (%r)' % calls)
        check(re.match(r'^http://(localhost|127\.0\.0\.1):%d/$' % s.port, calls[0]),
              'xdg-open ran with %r' % calls[0])
        eq([x for x in stderr_lines(s) if 'xdg-open' in x], [], 'warnings naming xdg-open')
        expect(get(s.port, '/a.txt'), 200, body=b'a\n')
    finally:
        s.stop()


@test('--dev with stdout sent to a file beneath the root (portico --dev . > server.log): '
      'requests write it, and no event follows')
def stdout_in_root():
    _, root = new_root({'index.html': INDEX})
    log = os.path.join(root, 'server.log')
    with open(log, 'wb') as out:
        p = spawn([BIN, '--dev', '-p', '0', '-b', HOST, '-w', '1', '.'], cwd=root,
                  stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        check(wait_until(lambda: re.search(rb'http://[^:]+:(\d+)/', open(log, 'rb').read()), 10),
              'no start-up line in %s' % log)
        port = int(re.search(rb'http://[^:]+:(\d+)/', open(log, 'rb').read()).group(1))
        with Stream(port) as st:
            # the watcher is ready once a write is heard of
            os.makedirs(os.path.join(root, 'p'))
            for n in range(20):
                saved(os.path.join(root, 'p', 'probe.txt'), b'%d\n' % n)
                try:
                    st.event(1.0)
                    break
                except AssertionError:
                    continue
            else:
                raise AssertionError('the watcher reported no change within 20 s')
            st.drain(gap=1.0)
            for _ in range(3):
                expect(get(port, '/'), 200, body=injected(INDEX))
            st.quiet(QUIET)
        check(os.path.getsize(log) > 0 and b'GET / ' in open(log, 'rb').read(),
              'the access log did not go to %s' % log)
    finally:
        stop_proc(p)


run()
