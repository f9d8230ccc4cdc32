#!/usr/bin/env python3
"""Live reload in a real browser: headless Chromium, driven over the DevTools
protocol, against `portico --dev` (issue 18).

A page with two stylesheets and an image: a saved stylesheet is swapped in place
(the computed style changes, window keeps a marker set before, the <link>s stay
two and in their order, the cascade between them too); a replaced image is
refreshed in place (naturalWidth changes, no reload); a saved page reloads (new
text, the marker gone). Two tabs whose event streams are held by the two
different workers both hear a change. The same over HTTPS (--tls, the generated
certificate trusted by its key for this run only). After a SIGHUP the page's
EventSource reconnects to the new workers by itself and a later save still
reaches it. Without --dev the page is served byte for byte as on disk and the
reserved paths do not exist.  Each latency (save -> seen in the page) is printed
and must stay under LATENCY_BOUND.  Chromium talks only to 127.0.0.1; each run is
stopped (its process group, by PID) when done or after its bound.  Skipped (exit
77) where no Chromium is installed.
"""

import base64
import hashlib
import json
import os
import secrets
import signal
import struct
import sys
import time
import zlib

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import browser  # noqa: E402
import portico_test  # noqa: E402
from browser import DevTools  # noqa: E402
from portico_test import (Server, StartError, check, eq, get, make_tree, mkdtemp,  # noqa: E402
                          only_worker, process_alive, process_name, run, skip_all, socket_owner,
                          start_server, tcp_sockets, test, wait_until, write_file)

if not browser.CHROMIUM:
    skip_all('no chromium or chromium-browser in PATH (scripts/install-deps installs it)')

portico_test.SCRIPT_TIMEOUT = 240   # seven browser runs, each bounded below
LATENCY_BOUND = 5.0     # save -> seen in the page (the issue: a second; ASan on 2 busy cores)
RUN_BOUND = 45          # one Chromium run (several saves, a reload, a reconnect)
LIVE_JS = '/.portico/live.js'
LIVE = '/.portico/live'
TAG = b'<script src="/.portico/live.js"></script>'


def note(fmt, *args):
    print('# ' + (fmt % args if args else fmt), flush=True)


# --------------------------------------------------------------------------
# the pages

def png(width, height, rgb=(200, 40, 40)):
    """A valid PNG: 8-bit RGB, WIDTH x HEIGHT of one colour."""
    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body +
                struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff))
    raw = b''.join(b'\0' + bytes(rgb) * width for _ in range(height))
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


PAGE = b'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>live</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="a.css">
<link rel="stylesheet" href="b.css">
</head>
<body><h1 id="t">TEXT</h1><div id="o"></div><img id="img" src="img.png" alt="">
</body></html>
'''

# a.css and b.css both set #o's width: b.css, the later <link>, wins. A swap that
# moved a stylesheet's <link> elsewhere would change which one wins.
A_CSS = b'body { background-color: rgb(10, 20, 30) }\n#o { width: 10px; height: 1px }\n'
B_CSS = b'body { color: rgb(1, 2, 3) }\n#o { width: 20px }\n'
IMG_W, IMG_W2 = 16, 40


def page(text):
    return PAGE.replace(b'TEXT', text.encode())


def site(root, d):
    """The test page and its files in ROOT/D/."""
    make_tree(root, {d + '/index.html': page('first version'), d + '/a.css': A_CSS,
                     d + '/b.css': B_CSS, d + '/img.png': png(IMG_W, 8)})
    return os.path.join(root, d)


def save(path, data):
    """Save PATH in place, as most editors do; returns the moment it was done."""
    write_file(path, data)
    return time.monotonic()


def save_by_rename(path, data):
    """Write a dot-file beside PATH (ignored by the watcher) and rename it over PATH."""
    tmp = os.path.join(os.path.dirname(path), '.%s.new' % os.path.basename(path))
    write_file(tmp, data)
    os.rename(tmp, path)
    return time.monotonic()


# --------------------------------------------------------------------------
# a browser tab

STATE = r'''JSON.stringify((function () {
  var t = document.getElementById('t'), o = document.getElementById('o'),
      img = document.getElementById('img'), b = document.body;
  return {
    ready: document.readyState, protocol: location.protocol,
    marker: window.marker === undefined ? null : String(window.marker),
    text: t ? t.textContent : null,
    color: b ? getComputedStyle(b).color : null,
    background: b ? getComputedStyle(b).backgroundColor : null,
    width: o ? getComputedStyle(o).width : null,
    links: Array.prototype.map.call(document.querySelectorAll('link[rel~="stylesheet" i]'),
      function (l) { return new URL(l.href, location.href).pathname; }),
    sheets: document.styleSheets.length,
    img: img ? [img.complete, img.naturalWidth] : null,
    live: document.querySelectorAll('script[src="/.portico/live.js"]').length
  };
})())'''


def devtools(*flags):
    """A DevTools session whose Chromium gets FLAGS too, bounded by RUN_BOUND."""
    plain = browser.browser_cmd
    browser.browser_cmd = lambda *a: plain(*(list(flags) + list(a)))
    try:
        dt = DevTools()
    finally:
        browser.browser_cmd = plain
    dt.deadline = time.monotonic() + RUN_BOUND
    return dt


class Tab:
    """One target of DT, attached (flat session), with its console, log and
    network events recorded, navigated to URL."""

    def __init__(self, dt, url, name='tab'):
        self.dt, self.url, self.name = dt, url, name
        self.ref, self.ref_what, self.marks = time.monotonic(), 'the tab opened', []
        target = dt.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        self.session = dt.call('Target.attachToTarget',
                               {'targetId': target, 'flatten': True})['sessionId']
        for domain in ('Runtime', 'Log', 'Network'):
            self.call(domain + '.enable')
        self.call('Page.navigate', {'url': url})

    def call(self, method, params=None):
        return self.dt.call(method, params, self.session)

    def events(self, method=None):
        return [e for e in self.dt.events if e.get('sessionId') == self.session and
                (method is None or e['method'] == method)]

    def state(self):
        try:
            v = self.call('Runtime.evaluate', {'expression': STATE, 'returnByValue': True})
        except AssertionError as e:
            if 'context' not in str(e):   # between two documents: no context yet
                raise
            return {'ready': 'navigating'}
        return json.loads(v['result'].get('value') or '{"ready": "navigating"}')

    def quiet(self):
        """No uncaught exception in the page, no error logged by the browser."""
        bad = [e for e in self.events('Runtime.exceptionThrown')] + \
              [e for e in self.events('Log.entryAdded') if e['params']['entry']['level'] == 'error']
        if os.environ.get('PORTICO_LIVE_DIAG'):
            note('%s', self.diag())
        check(not bad, '%s: the page threw or the browser logged an error: %s'
              % (self.name, self.diag()))

    def set_marker(self):
        self.marker = secrets.token_hex(8)
        self.call('Runtime.evaluate', {'expression': 'window.marker = "%s"' % self.marker})
        st = self.state()
        eq(st['marker'], self.marker, '%s: window.marker just set' % self.name)
        return st

    # -- the live stream as the browser saw it (Network events)

    def live_requests(self):
        """[[requestId, status or None, 'finished'|'failed: ...'|None, headers,
        sent at, ended at]] of the page's requests for the event stream, in order
        (times: Chromium's monotonic clock, which is CLOCK_MONOTONIC as ours)."""
        out, byid = [], {}
        for e in self.events():
            p = e['params']
            if e['method'] == 'Network.requestWillBeSent' and \
                    p['request']['url'].split('?')[0].endswith(LIVE):
                byid[p['requestId']] = [p['requestId'], None, None, None, p.get('timestamp'),
                                        None]
                out.append(byid[p['requestId']])
            elif p.get('requestId') in byid:
                r = byid[p['requestId']]
                if e['method'] == 'Network.responseReceived':
                    r[1] = p['response']['status']
                    r[3] = dict((k.lower(), v) for k, v in p['response']['headers'].items())
                elif e['method'] == 'Network.loadingFinished':
                    r[2], r[5] = 'finished', p.get('timestamp')
                elif e['method'] == 'Network.loadingFailed':
                    r[2], r[5] = 'failed: %s' % p.get('errorText'), p.get('timestamp')
        return out

    def at(self, t):
        return '?' if t is None else '%+.2f' % (t - self.ref)

    def streams_open(self):
        return len([r for r in self.live_requests() if r[1] == 200])

    def diag(self):
        """What the page said and heard: console, exceptions, log, the stream."""
        out = []
        for e in self.events():
            p, m = e['params'], e['method']
            if m == 'Runtime.consoleAPICalled':
                out.append('console.%s %s' % (p['type'], ' '.join(
                    str(a.get('value', a.get('description', a.get('type')))) for a in p['args'])))
            elif m == 'Runtime.exceptionThrown':
                d = p['exceptionDetails']
                out.append('exception %s %s' % (d.get('text'),
                                                 (d.get('exception') or {}).get('description')))
            elif m == 'Log.entryAdded':
                en = p['entry']
                out.append('log.%s %s %s' % (en['level'], en['text'], en.get('url', '')))
            elif m == 'Network.eventSourceMessageReceived':
                out.append('event %s %r' % (p['eventName'], p['data']))
            elif m == 'Network.loadingFailed':
                out.append('failed %s %s' % (p.get('type'), p.get('errorText')))
            if m == 'Network.eventSourceMessageReceived':
                out[-1] += ' at %s' % self.at(p.get('timestamp'))
        streams = ['%s %s (%s..%s)' % (r[1], r[2] or 'open', self.at(r[4]), self.at(r[5]))
                   for r in self.live_requests()]
        marks = ' '.join('%s at %s' % (k, self.at(t)) for k, t in self.marks)
        return '[%s, seconds since %s: streams %s; %s; %s]' % (
            self.name, self.ref_what, streams or 'none', marks or 'no marks',
            ' | '.join(out[-12:]) or 'no event, console or log output')

    def mark(self, what, t=None):
        """Note a moment (a save, a signal) for diag(); the first is its origin."""
        t = time.monotonic() if t is None else t
        if not self.marks:
            self.ref, self.ref_what = t, what
        self.marks.append((what, t))
        return t

    # -- waiting

    def wait(self, what, pred, bound, since=None):
        """Poll the page until PRED(state) within BOUND seconds (after SINCE);
        returns (state, seconds since SINCE)."""
        since = since or time.monotonic()
        deadline = min(since + bound, self.dt.deadline - 1)
        while True:
            st = self.state()
            now = time.monotonic()
            if pred(st):
                return st, now - since
            if now > deadline:
                raise AssertionError('%s: %s not seen within %.1f s; page now %s %s'
                                     % (self.name, what, now - since, json.dumps(st),
                                        self.diag()))
            time.sleep(0.02)

    def loaded(self, text='first version', width=IMG_W, color='rgb(1, 2, 3)'):
        """Wait for the page's first load with its live stream open."""
        st, _ = self.wait('the first load of %s' % self.url, lambda s: s.get('ready') == 'complete'
                          and s.get('text') == text and s.get('img') == [True, width]
                          and s.get('color') == color, 10)
        eq(st['live'], 1, '%s: <script src="%s"> elements in the page (--dev injects one)'
           % (self.name, LIVE_JS))
        self.wait('the event stream %s open (200)' % LIVE, lambda s: self.streams_open() >= 1, 10)
        return st


def holders(srv, workers):
    """PIDs of WORKERS holding each established connection to SRV's HTTP port
    (None for one /proc cannot place)."""
    held = [socket_owner(workers, f[9]) for f in tcp_sockets(srv.port) if f[3] == '01']
    return sorted(held, key=lambda x: (x is None, x))


def serving_workers(srv):
    """The master's children that serve: named as the master (not the compressor,
    nor the watcher, nor whatever else the master runs under another name)."""
    name = process_name(srv.pid)
    return sorted(p for p in srv.workers() if process_alive(p) and process_name(p) == name)


def started(root, *args, **kw):
    """A server for one case: one that does not start fails that case only."""
    portico_test.require_binary()
    try:
        srv = Server(root, *args, **kw).start()
    except StartError as e:
        raise AssertionError('portico %s did not start: %s' % (' '.join(args), e))
    if '--tls' in args and srv.tls_port is None:
        srv.stop()
        raise AssertionError('no https URL in the start-up line %r' % srv.line)
    return srv


def changed(what, old, new):
    check(old != new, 'the test is wrong: %s does not change (%r)' % (what, old))


# --------------------------------------------------------------------------
# the servers: one with --dev for most cases, each case in a directory of its own

PARENT = mkdtemp()
ROOT = os.path.join(PARENT, 'root')
os.mkdir(ROOT)
SITES = dict((d, site(ROOT, d)) for d in ('inject', 'style', 'image', 'page', 'tabs'))
# keep-alive 1 s, header timeout 2 s: idle connections go quickly (the tabs case needs
# the event streams alone on their workers); the streams must outlive both
DEV = start_server(ROOT, '--dev', workers=2, keepalive_timeout=1, header_timeout=2)


@test('--dev: the HTML gets the live script once, before </body>; live.js and the stream exist')
def injected():
    want = page('first version')
    i = want.rfind(b'</body>')
    want = want[:i] + TAG + want[i:]
    r = get(DEV.port, '/inject/')
    eq(r.status, 200, 'GET /inject/ status')
    eq(r.body, want, 'the page as served with --dev')
    eq(r.get('content-length'), str(len(want)), 'Content-Length of the injected page')
    r = get(DEV.port, LIVE_JS)
    eq(r.status, 200, 'GET %s status' % LIVE_JS)
    check('javascript' in (r.get('content-type') or ''), 'Content-Type of %s: %r'
          % (LIVE_JS, r.get('content-type')))
    check(b'EventSource' in r.body, '%s does not use EventSource: %r' % (LIVE_JS, r.body[:200]))
    with portico_test.Client(DEV.port) as c:     # held open: read its head and first chunk
        c.send(portico_test.req('GET', LIVE))
        deadline = time.monotonic() + 5
        while b'retry: ' not in c.buf and c._fill(deadline):
            pass
        head = bytes(c.buf).lower()
    check(head.startswith(b'http/1.1 200 ') and b'content-type: text/event-stream' in head
          and b'transfer-encoding: chunked' in head and b'retry: ' in head,
          'GET %s: %r' % (LIVE, head[:400]))


@test('stylesheet saved: swapped in place within the bound, no reload, <link>s two and in order')
def stylesheet_swap():
    d = SITES['style']
    dt = devtools()
    try:
        tab = Tab(dt, DEV.url('/style/'))
        st = tab.loaded()
        eq((st['background'], st['width']), ('rgb(10, 20, 30)', '20px'), 'styles before')
        links = ['/style/a.css', '/style/b.css']
        eq(st['links'], links, 'stylesheet <link>s before')
        tab.set_marker()
        # b.css: the body colour changes
        t0 = save(os.path.join(d, 'b.css'), B_CSS.replace(b'1, 2, 3', b'200, 0, 100'))
        tab.mark('saved b.css', t0)
        st, took = tab.wait('b.css\'s new colour, its old <link> removed',
                            lambda s: s.get('color') == 'rgb(200, 0, 100)'
                            and len(s.get('links') or ()) == 2, LATENCY_BOUND, t0)
        note('b.css saved -> computed style changed in %.3f s', took)
        eq(st['marker'], tab.marker, 'window.marker after the swap (a reload loses it)')
        eq(st['links'], links, '<link rel=stylesheet> pathnames after the swap of b.css')
        eq(st['sheets'], 2, 'document.styleSheets after the swap')
        eq((st['background'], st['width']), ('rgb(10, 20, 30)', '20px'),
           'a.css still applies and b.css still wins (#o width) after the swap')
        # a.css, the first <link>: its clone must stay before b.css, whose #o wins
        t0 = save(os.path.join(d, 'a.css'), A_CSS.replace(b'10, 20, 30', b'90, 80, 70'))
        tab.mark('saved a.css', t0)
        st, took = tab.wait('a.css\'s new background, its old <link> removed',
                            lambda s: s.get('background') == 'rgb(90, 80, 70)'
                            and len(s.get('links') or ()) == 2, LATENCY_BOUND, t0)
        note('a.css saved -> computed style changed in %.3f s', took)
        eq(st['marker'], tab.marker, 'window.marker after the swap of a.css')
        eq(st['links'], links, '<link rel=stylesheet> pathnames after the swap of a.css')
        eq(st['width'], '20px', '#o width after the swap of a.css (b.css, the later, must win)')
        eq(st['color'], 'rgb(200, 0, 100)', 'b.css\'s colour after the swap of a.css')
        # the stream as the browser got it
        eq(tab.streams_open(), 1, 'event streams opened by the page (no reconnect) %s'
           % tab.diag())
        h = tab.live_requests()[0][3] or {}
        check(h.get('content-type', '').startswith('text/event-stream'),
              'Content-Type of %s: %r' % (LIVE, h.get('content-type')))
        events = [e['params']['eventName'] for e in tab.events(
            'Network.eventSourceMessageReceived')]
        eq(events, ['update', 'update'], 'events the page received %s' % tab.diag())
        tab.quiet()
    finally:
        dt.close()


@test('image replaced: the <img> refreshed in place (naturalWidth), no reload')
def image_refresh():
    d = SITES['image']
    dt = devtools()
    try:
        tab = Tab(dt, DEV.url('/image/'))
        tab.loaded()
        tab.set_marker()
        changed('the image width', IMG_W, IMG_W2)
        t0 = save_by_rename(os.path.join(d, 'img.png'), png(IMG_W2, 8, (0, 120, 200)))
        tab.mark('saved img.png', t0)
        st, took = tab.wait('the new image (naturalWidth %d)' % IMG_W2,
                            lambda s: s.get('img') == [True, IMG_W2], LATENCY_BOUND, t0)
        note('img.png replaced -> naturalWidth %d in %.3f s', IMG_W2, took)
        eq(st['marker'], tab.marker, 'window.marker after the image refresh (a reload loses it)')
        eq(st['text'], 'first version', 'the page text')
        # and once more, saved in place this time
        t0 = save(os.path.join(d, 'img.png'), png(IMG_W2 + 10, 8))
        tab.mark('saved img.png', t0)
        st, took = tab.wait('the image saved again (naturalWidth %d)' % (IMG_W2 + 10),
                            lambda s: s.get('img') == [True, IMG_W2 + 10], LATENCY_BOUND, t0)
        note('img.png saved again -> naturalWidth %d in %.3f s', IMG_W2 + 10, took)
        eq(st['marker'], tab.marker, 'window.marker after the second image refresh')
        tab.quiet()
    finally:
        dt.close()


@test('page saved: the tab reloads and shows the new text (the marker gone)')
def page_reload():
    d = SITES['page']
    dt = devtools()
    try:
        tab = Tab(dt, DEV.url('/page/'))
        tab.loaded()
        tab.set_marker()
        t0 = save(os.path.join(d, 'index.html'), page('second version, saved'))
        tab.mark('saved index.html', t0)
        st, took = tab.wait('the new text after a reload',
                            lambda s: s.get('ready') == 'complete'
                            and s.get('text') == 'second version, saved', LATENCY_BOUND, t0)
        note('index.html saved -> new text shown in %.3f s', took)
        eq(st['marker'], None, 'window.marker after the page was saved (a reload clears it)')
        eq(st['live'], 1, 'live scripts in the reloaded page')
        eq(st['links'], ['/page/a.css', '/page/b.css'], 'stylesheets of the reloaded page')
        reloads = [e['params'] for e in tab.events('Network.eventSourceMessageReceived')]
        check(reloads and reloads[0]['eventName'] == 'reload',
              'the first event the page got is not a reload: %s' % tab.diag())
        eq(reloads[0]['data'], '/page/index.html', 'the reload event\'s data')
        tab.quiet()
    finally:
        dt.close()


@test('two tabs, their streams held by the two workers: both swap a saved stylesheet')
def two_tabs():
    d = SITES['tabs']
    workers = serving_workers(DEV)
    check(len(workers) == 2, 'want 2 serving workers, have %r' % workers)
    dt = devtools()
    try:
        tabs = []
        for i, w in enumerate(workers):
            # connections opened while only W runs are W's: the tab's stream too.
            # The idle ones close after the keep-alive (or header) timeout, so that
            # the next tab does not reuse a connection of W's
            with only_worker(DEV, w):
                tab = Tab(dt, DEV.url('/tabs/'), 'tab %d' % (i + 1))
                tab.loaded()
            tabs.append(tab)
            alone = wait_until(lambda: len(holders(DEV, workers)) == i + 1, 6)
            check(alone, 'connections beside the %d event stream(s) still open after 6 s '
                  '(held by %r)' % (i + 1, holders(DEV, workers)))
        held = holders(DEV, workers)
        check(held == workers or None in held,
              'the two streams should be held by workers %r, are by %r' % (workers, held))
        note('event streams held by workers %r (/proc; of %r)', held, workers)
        for tab in tabs:
            tab.set_marker()
        t0 = save(os.path.join(d, 'b.css'), B_CSS.replace(b'1, 2, 3', b'0, 150, 0'))
        for tab in tabs:
            tab.mark('saved b.css', t0)
        for tab in tabs:
            st, took = tab.wait('b.css\'s new colour', lambda s: s.get('color') == 'rgb(0, 150, 0)'
                                and len(s.get('links') or ()) == 2, LATENCY_BOUND, t0)
            note('%s (stream on worker %s): b.css saved -> style changed in %.3f s',
                 tab.name, workers[tabs.index(tab)], took)
            eq(st['marker'], tab.marker, '%s: window.marker after the swap' % tab.name)
            eq(st['links'], ['/tabs/a.css', '/tabs/b.css'], '%s: stylesheet <link>s' % tab.name)
            eq(tab.streams_open(), 1, '%s: streams opened (the idle stream must outlive the '
               '1 s keep-alive timeout) %s' % (tab.name, tab.diag()))
            tab.quiet()
    finally:
        dt.close()


def spki_sha256(pem_path):
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo (DER), for
    Chromium's --ignore-certificate-errors-spki-list."""
    import ssl
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())

    def tlv(b, i):   # (tag, start of content, end of content)
        tag, n = b[i], b[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(b[i:i + k], 'big')
            i += k
        return tag, i, i + n
    _, c, _ = tlv(der, 0)           # Certificate
    _, i, _ = tlv(der, c)           # tbsCertificate
    if der[i] == 0xa0:              # [0] version
        i = tlv(der, i)[2]
    for _ in range(5):              # serial, signature, issuer, validity, subject
        i = tlv(der, i)[2]
    _, _, e = tlv(der, i)           # subjectPublicKeyInfo
    return base64.b64encode(hashlib.sha256(der[i:e]).digest()).decode()


@test('HTTPS (--dev --tls, the generated certificate): stylesheet swapped in place, page reloads')
def over_tls():
    root = os.path.join(mkdtemp(), 'root')
    d = site(root, 'tls')
    cert = os.path.join(mkdtemp(), 'generated.pem')
    srv = started(root, '--tls-port', '0', '--dev', '--tls', '--tls-save-cert', cert)
    check(os.path.isfile(cert), '--tls-save-cert wrote no %s' % cert)
    # trust that one key for this run (the certificate names localhost, not 127.0.0.1)
    dt = devtools('--ignore-certificate-errors-spki-list=' + spki_sha256(cert))
    try:
        tab = Tab(dt, srv.tls_url('/tls/'))
        st = tab.loaded()
        eq(st['protocol'], 'https:', 'the page\'s protocol')
        url = tab.events('Network.requestWillBeSent')
        live = [e['params']['request']['url'] for e in url
                if e['params']['request']['url'].split('?')[0].endswith(LIVE)]
        check(live and all(u.startswith('https://') for u in live),
              'the event stream is not over HTTPS: %r' % live)
        tab.set_marker()
        t0 = save(os.path.join(d, 'b.css'), B_CSS.replace(b'1, 2, 3', b'7, 77, 177'))
        tab.mark('saved b.css', t0)
        st, took = tab.wait('b.css\'s new colour', lambda s: s.get('color') == 'rgb(7, 77, 177)'
                            and len(s.get('links') or ()) == 2, LATENCY_BOUND, t0)
        note('https: b.css saved -> style changed in %.3f s', took)
        eq(st['marker'], tab.marker, 'window.marker after the swap over HTTPS')
        eq(st['links'], ['/tls/a.css', '/tls/b.css'], 'stylesheet <link>s after the swap')
        t0 = save(os.path.join(d, 'index.html'), page('https, second version'))
        tab.mark('saved index.html', t0)
        st, took = tab.wait('the new text after a reload', lambda s: s.get('ready') == 'complete'
                            and s.get('text') == 'https, second version', LATENCY_BOUND, t0)
        note('https: index.html saved -> new text shown in %.3f s', took)
        eq(st['marker'], None, 'window.marker after the page was saved over HTTPS')
        tab.quiet()
    finally:
        dt.close()
        srv.stop()


@test('SIGHUP: the streams end cleanly, the page reconnects to the new workers and hears the '
      'next save')
def after_sighup():
    root = os.path.join(mkdtemp(), 'root')
    d = site(root, 'hup')
    srv = started(root, '--dev')
    dt = devtools()
    try:
        tab = Tab(dt, srv.url('/hup/'))
        tab.loaded()
        tab.set_marker()
        old = serving_workers(srv)
        t0 = tab.mark('SIGHUP')
        srv.signal(signal.SIGHUP)
        _, took = tab.wait('the event stream reopened after the SIGHUP',
                           lambda s: tab.streams_open() >= 2, 10, t0)
        note('SIGHUP -> the page\'s EventSource reconnected in %.3f s', took)
        tab.mark('connections held by %s (old workers %s)'
                 % (holders(srv, old + serving_workers(srv)), old))
        first = tab.live_requests()[0]
        eq(first[2], 'finished', 'how the first stream ended (SIGHUP must end it cleanly: '
           'the last chunk, then the close) %s' % tab.diag())
        gone = wait_until(lambda: not [p for p in old if process_alive(p)], 5)
        check(gone, 'workers of the old generation %r still alive 5 s after the SIGHUP'
              % [p for p in old if process_alive(p)])
        tab.mark('old workers gone')
        new = serving_workers(srv)
        check(new and not set(new) & set(old), 'new workers %r (old %r)' % (new, old))
        # A stream that a stopping worker took (on a connection it kept alive through its
        # grace period) is ended at once: the page tries again a retry (1 s) later, when
        # only new workers are left. Once the browser has seen that end, the open stream
        # is one of the new generation's.
        time.sleep(0.3)
        tab.wait('an open event stream once the old workers are gone',
                 lambda s: tab.live_requests()[-1][1] == 200 and
                 tab.live_requests()[-1][2] is None, 5)
        reqs = tab.live_requests()
        if len(reqs) > 2:
            note('the page needed %d reconnects after the SIGHUP: %s', len(reqs) - 1, tab.diag())
        held = holders(srv, old + new)
        check(all(h in new or h is None for h in held),
              'the open stream is held by %r, not by a new worker %r' % (held, new))
        time.sleep(0.3)   # the new generation's watcher, started with its workers
        t0 = save(os.path.join(d, 'b.css'), B_CSS.replace(b'1, 2, 3', b'33, 66, 99'))
        tab.mark('saved b.css', t0)
        st, took = tab.wait('b.css\'s new colour after the reconnect',
                            lambda s: s.get('color') == 'rgb(33, 66, 99)'
                            and len(s.get('links') or ()) == 2, LATENCY_BOUND, t0)
        note('after the SIGHUP: b.css saved -> style changed in %.3f s', took)
        eq(st['marker'], tab.marker, 'window.marker: the SIGHUP and the swap must not reload')
        tab.quiet()
    finally:
        dt.close()
        srv.stop()


@test('without --dev: the HTML is byte-identical to the file, no reserved paths')
def without_dev():
    root = os.path.join(mkdtemp(), 'root')
    site(root, 'plain')
    srv = started(root, workers=1)
    try:
        with open(os.path.join(root, 'plain', 'index.html'), 'rb') as f:
            want = f.read()
        for target in ('/plain/', '/plain/index.html'):
            r = get(srv.port, target)
            eq(r.status, 200, 'GET %s status' % target)
            eq(r.body, want, 'GET %s body (the file as it is)' % target)
            eq(r.get('content-length'), str(len(want)), 'GET %s Content-Length' % target)
            check('no-store' not in (r.get('cache-control') or ''),
                  'Cache-Control %r without --dev' % r.get('cache-control'))
        for target in (LIVE_JS, LIVE):
            eq(get(srv.port, target).status, 404, 'GET %s without --dev' % target)
    finally:
        srv.stop()


try:
    run()
finally:
    DEV.stop()
