#!/usr/bin/env python3
"""A real browser: headless Chromium against portico serving a copy of www/.

The page renders with its stylesheet and logo (checked in the DOM and in the
pixels of a screenshot), no request fails, an <audio> element is fetched
and seeked with byte ranges (the access log shows 206), and a page and its
stylesheet saved on disk show changed on the browser's very next reload, and the
stylesheet and a script arrive compressed (br or zstd) and still work.  Chromium talks only
to 127.0.0.1.  Skipped (exit 77) where no Chromium is installed.
"""

import collections
import json
import math
import os
import re
import shutil
import struct
import sys
import time
import wave
import zlib

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import browser  # noqa: E402
import portico_test  # noqa: E402
from browser import DevTools, chromium, result_json  # noqa: E402
from portico_test import (check, eq, mkdtemp, run, skip_all, start_server,  # noqa: E402
                          test)

if not browser.CHROMIUM:
    skip_all('no chromium or chromium-browser in PATH (scripts/install-deps installs it)')

portico_test.SCRIPT_TIMEOUT = 130  # six browser starts, each bounded below
WWW = os.path.normpath(os.path.join(HERE, '..', '..', 'www'))   # srcdir-relative

# What www/style.css sets, for light and dark colour schemes (headless is light):
# body { background: var(--bg) }, .wrap { max-width: 44rem }, .brand { font-weight: 700 }
BG = {'light': (0xfb, 0xfa, 0xf7), 'dark': (0x14, 0x18, 0x1a)}
# The logo's columns (.c in www/img/logo.svg)
LOGO_COLUMN = {'light': (0x2b, 0x8a, 0x98), 'dark': (0x5b, 0xbf, 0xcc)}


def css_rgb(c):
    return 'rgb(%d, %d, %d)' % c


# --------------------------------------------------------------------------
# the document root: a copy of www/ plus the test pages and a media file

def write_wav(path, seconds, rate=8000):
    """A valid PCM WAV (mono, 16 bit): a 440 Hz tone, SECONDS long."""
    one = b''.join(struct.pack('<h', int(6000 * math.sin(2 * math.pi * 440 * i / rate)))
                   for i in range(rate))
    with wave.open(path, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(one * seconds)


MEDIA_SECONDS = 120          # 1.9 MB: big enough that Chromium cannot have it all
SEEK_TO = MEDIA_SECONDS - 3  # before the seek, so the seek needs a new range

# Facts written as JSON into <pre id="result"> once the page has loaded.
CHECK_PAGE = b'''<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>portico browser check</title>
<link rel="icon" href="/img/logo.svg" type="image/svg+xml">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header class="site"><div class="wrap">
  <a class="brand" href="/"><img id="logo" src="/img/logo.svg" alt="">portico</a>
</div></header>
<main class="wrap">
<audio id="media" src="/media/tone.wav" preload="auto"></audio>
<pre id="result">pending</pre>
</main>
<script>
addEventListener('load', function () {
  var logo = document.getElementById('logo');
  var r = {
    compatMode: document.compatMode,
    dark: matchMedia('(prefers-color-scheme: dark)').matches,
    logoComplete: logo.complete,
    logoWidth: logo.naturalWidth,
    bodyBackground: getComputedStyle(document.body).backgroundColor,
    wrapMaxWidth: getComputedStyle(document.querySelector('main.wrap')).maxWidth,
    brandWeight: getComputedStyle(document.querySelector('.brand')).fontWeight,
    sheets: Array.prototype.map.call(document.styleSheets, function (s) {
      var n = -1;
      try { n = s.cssRules.length; } catch (e) {}
      return [s.href, n];
    }),
    resources: performance.getEntriesByType('resource').map(function (e) {
      return [new URL(e.name).pathname, e.responseStatus === undefined ? null : e.responseStatus];
    })
  };
  document.getElementById('result').textContent = JSON.stringify(r);
});
</script>
</body>
</html>
'''

# The same stylesheet served as text/plain: a standards-mode page must refuse
# it.  This proves that the computed-style checks above depend on portico's
# Content-Type for .css, not just on the bytes arriving.
AUDIO_TAG = b'<audio id="media" src="/media/tone.wav" preload="auto"></audio>\n'
CONTROL_PAGE = CHECK_PAGE.replace(b'href="/style.css"', b'href="/style-as-text.txt"') \
                         .replace(AUDIO_TAG, b'')

# Loads the metadata, seeks near the end and reports where it landed.
SEEK_PAGE = (b'''<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>portico seek check</title>
<link rel="icon" href="/img/logo.svg" type="image/svg+xml">
</head>
<body>
<audio id="media" src="/media/tone.wav" preload="metadata"></audio>
<pre id="result">pending</pre>
<script>
var m = document.getElementById('media'), ev = [];
function done() {
  var s = [];
  for (var i = 0; i < m.seekable.length; i++) s.push([m.seekable.start(i), m.seekable.end(i)]);
  document.getElementById('result').textContent =
    JSON.stringify({events: ev, duration: m.duration, currentTime: m.currentTime,
                    seekable: s, readyState: m.readyState});
}
m.addEventListener('loadedmetadata', function () {
  ev.push('loadedmetadata');
  m.currentTime = SEEK_TO;
});
m.addEventListener('seeked', function () { ev.push('seeked'); done(); });
m.addEventListener('error', function () {
  ev.push('error ' + (m.error && m.error.code)); done();
});
</script>
</body>
</html>
''').replace(b'SEEK_TO', str(SEEK_TO).encode())

PARENT = mkdtemp()
ROOT = os.path.join(PARENT, 'root')
shutil.copytree(WWW, ROOT)
for dirpath, dirnames, filenames in os.walk(ROOT):   # distcheck's srcdir is read-only
    os.chmod(dirpath, 0o755)
    for f in filenames:
        os.chmod(os.path.join(dirpath, f), 0o644)
with open(os.path.join(ROOT, 'browser-check.html'), 'wb') as f:
    f.write(CHECK_PAGE)
with open(os.path.join(ROOT, 'control.html'), 'wb') as f:
    f.write(CONTROL_PAGE)
with open(os.path.join(ROOT, 'seek.html'), 'wb') as f:
    f.write(SEEK_PAGE)
shutil.copyfile(os.path.join(WWW, 'style.css'), os.path.join(ROOT, 'style-as-text.txt'))
os.mkdir(os.path.join(ROOT, 'media'))
MEDIA = os.path.join(ROOT, 'media', 'tone.wav')
write_wav(MEDIA, MEDIA_SECONDS)

ACCESS_LOG = os.path.join(PARENT, 'access.log')
srv = start_server(ROOT, '--access-log', ACCESS_LOG, quiet=False)


# --------------------------------------------------------------------------
# the access log (Combined Log Format)

LOG_LINE = re.compile(r'^(?P<host>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+) '
                      r'(?P<proto>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                      r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


def log_entries(settle=0.3, timeout=3.0):
    """Parsed access-log lines, once the file has stopped growing for SETTLE s
    (a worker logs a response when it is finished or aborted)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        size = os.path.getsize(ACCESS_LOG) if os.path.exists(ACCESS_LOG) else 0
        now = time.monotonic()
        if size != last:
            last, since = size, now
        elif now - since >= settle or now > deadline:
            break
        time.sleep(0.05)
    with open(ACCESS_LOG, encoding='utf-8', errors='replace') as f:
        lines = [x for x in f.read().splitlines() if x.strip()]
    out = []
    for x in lines:
        m = LOG_LINE.match(x)
        check(m, 'access-log line is not in Combined Log Format: %r' % x)
        out.append(m.groupdict())
    return out


def page_url(path):
    return srv.url(path)


def from_page(entries, page):
    """Requests made by PAGE: the page itself and everything it referred to."""
    url = page_url(page)
    return [e for e in entries if e['referer'] == url or
            (e['path'] == page and e['referer'] == '-')]


def statuses(entries, path):
    return [int(e['status']) for e in entries if e['path'] == path]


# --------------------------------------------------------------------------
# PNG decoding (RGB/RGBA, 8 bits, not interlaced: what Chromium writes)

def png_pixels(data):
    check(data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG: %r' % data[:16])
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
        pos += 12 + n
    check(ihdr, 'PNG without IHDR')
    width, height, depth, ctype, _, _, interlace = ihdr
    check(depth == 8 and ctype in (2, 6) and interlace == 0,
          'unsupported PNG (depth %d, colour type %d, interlace %d)' % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * bpp
    eq(len(raw), height * (stride + 1), 'decompressed PNG size')
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        off = y * (stride + 1)
        ftype = raw[off]
        cur = bytearray(raw[off + 1:off + 1 + stride])
        if ftype == 1:      # Sub
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 0xff
        elif ftype == 2:    # Up
            for i in range(stride):
                cur[i] = (cur[i] + prev[i]) & 0xff
        elif ftype == 3:    # Average
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                cur[i] = (cur[i] + ((a + prev[i]) >> 1)) & 0xff
        elif ftype == 4:    # Paeth
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pred) & 0xff
        else:
            check(ftype == 0, 'bad PNG filter type %d in row %d' % (ftype, y))
        rows.append(bytes(cur))
        prev = cur
    return width, height, bpp, rows


def near(a, b, tol=3):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


# --------------------------------------------------------------------------
# the cases

SCHEME = ['light']   # set from what the browser reports


@test('page: style.css and the logo load and apply (DOM facts after load)')
def page_facts():
    html = chromium('--dump-dom', '--virtual-time-budget=5000', page_url('/browser-check.html'))
    r = result_json(html)
    SCHEME[0] = 'dark' if r['dark'] else 'light'
    # Standards mode: Chromium then refuses a stylesheet whose Content-Type is
    # not text/css, so the style checks below fail if portico's MIME map breaks
    # (shown by the control case).
    eq(r['compatMode'], 'CSS1Compat', 'document.compatMode')
    check(r['logoComplete'] and r['logoWidth'] == 64,
          'logo <img> not decoded: complete=%r naturalWidth=%r (logo.svg is 64 wide)'
          % (r['logoComplete'], r['logoWidth']))
    eq(r['bodyBackground'], css_rgb(BG[SCHEME[0]]), 'body background-color (style.css --bg)')
    eq(r['wrapMaxWidth'], '704px', '.wrap max-width (style.css: 44rem)')
    eq(r['brandWeight'], '700', '.brand font-weight (style.css)')
    sheets = [(s[0], s[1]) for s in r['sheets']]
    check(len(sheets) == 1 and sheets[0][0] == page_url('/style.css') and sheets[0][1] > 20,
          'document.styleSheets: want style.css with its rules, got %r' % sheets)
    res = dict((p, s) for p, s in r['resources'])
    for path in ('/style.css', '/img/logo.svg'):
        check(path in res, 'no resource-timing entry for %s: %r' % (path, r['resources']))
        if res[path] is not None:   # responseStatus: Chromium >= 109
            eq(res[path], 200, 'resource-timing responseStatus of ' + path)


@test('control: the same CSS served as text/plain is refused (so the CSS check sees Content-Type)')
def control_page():
    html = chromium('--dump-dom', '--virtual-time-budget=5000', page_url('/control.html'))
    r = result_json(html)
    eq(statuses(log_entries(), '/style-as-text.txt'), [200], 'log status of /style-as-text.txt')
    check(r['bodyBackground'] != css_rgb(BG[SCHEME[0]]),
          'a text/plain stylesheet was applied (%r): the CSS checks would not notice a wrong '
          'Content-Type' % r['bodyBackground'])
    eq(r['wrapMaxWidth'], 'none', '.wrap max-width without style.css')
    check(r['logoComplete'] and r['logoWidth'] == 64, 'logo not decoded on the control page')


@test('screenshot of / : styled background, logo pixels, not blank')
def screenshot():
    shot = os.path.join(mkdtemp(), 'index.png')
    chromium('--screenshot=' + shot, '--window-size=1024,768', '--hide-scrollbars',
             page_url('/'))
    check(os.path.isfile(shot), 'chromium wrote no screenshot')
    with open(shot, 'rb') as f:
        width, height, bpp, rows = png_pixels(f.read())
    eq((width, height), (1024, 768), 'screenshot size')
    counts = collections.Counter()
    logo_xs, logo_ys = [], []
    want_logo = LOGO_COLUMN[SCHEME[0]]
    for y, row in enumerate(rows):
        for x in range(width):
            px = tuple(row[x * bpp:x * bpp + 3])
            counts[px] += 1
            if near(px, want_logo):
                logo_xs.append(x)
                logo_ys.append(y)
    total = width * height
    bg, n = counts.most_common(1)[0]
    check(near(bg, BG[SCHEME[0]]),
          'most common colour is %r, not style.css\'s background %r (stylesheet not applied?)'
          % (bg, BG[SCHEME[0]]))
    check(n < total, 'the screenshot is one flat colour %r' % (bg,))
    check(n > total * 0.3, 'background covers only %d of %d pixels' % (n, total))
    check(len(counts) >= 30, 'only %d distinct colours: no text rendered?' % len(counts))
    # The hero logo is 128 px: four columns of 14 x 50 px in the logo's column
    # colour, centred in the upper part of the page (header logo adds a few).
    check(len(logo_xs) >= 2000, 'only %d pixels of the logo\'s colour %r: logo not drawn'
          % (len(logo_xs), want_logo))
    hero = [(x, y) for x, y in zip(logo_xs, logo_ys) if y > 80]
    check(len(hero) >= 2000, 'the hero logo is missing below the header (%d pixels)' % len(hero))
    cx = sum(x for x, _ in hero) / len(hero)
    cy = sum(y for _, y in hero) / len(hero)
    check(abs(cx - 512) < 40 and 80 < cy < 350,
          'the hero logo is not centred near the top: centre (%.0f, %.0f)' % (cx, cy))


@test('audio: Chromium\'s Range request for the media gets 206')
def media_range():
    entries = from_page(log_entries(), '/browser-check.html')
    st = statuses(entries, '/media/tone.wav')
    check(st, 'the <audio preload=auto> was never fetched: %r' % entries)
    check(206 in st, 'no 206 for /media/tone.wav (Chromium sends Range: bytes=0-), statuses %r'
          % st)


@test('audio: seeking near the end lands there (byte ranges, seekable = whole duration)')
def media_seek():
    dt = DevTools()
    try:
        target = dt.call('Target.createTarget', {'url': page_url('/seek.html')})['targetId']
        session = dt.call('Target.attachToTarget',
                          {'targetId': target, 'flatten': True})['sessionId']
        text = 'pending'
        while text in ('pending', None):
            v = dt.call('Runtime.evaluate', {
                'expression': "(document.getElementById('result') || {}).textContent",
                'returnByValue': True}, session)
            text = v['result'].get('value')
            if text in ('pending', None):
                check(time.monotonic() < dt.deadline - 2, 'the seek never completed')
                time.sleep(0.1)
    finally:
        dt.close()
    r = json.loads(text)
    check(r['events'] == ['loadedmetadata', 'seeked'], 'media events: %r' % r)
    check(abs(r['duration'] - MEDIA_SECONDS) < 0.5, 'duration %r, want %d' % (r['duration'],
                                                                             MEDIA_SECONDS))
    check(r['seekable'] and r['seekable'][-1][1] > MEDIA_SECONDS - 1,
          'seekable %r: Chromium found the file not seekable (no byte ranges?)' % r['seekable'])
    check(abs(r['currentTime'] - SEEK_TO) < 1,
          'seek to %d landed at %r' % (SEEK_TO, r['currentTime']))
    st = statuses(from_page(log_entries(), '/seek.html'), '/media/tone.wav')
    check(206 in st, 'no 206 for the seek page\'s media requests: %r' % st)


EDIT_PAGE = b'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>editing</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/edit/edit.css"></head>
<body><p id="v">VERSION</p></body></html>
'''


def page_state(dt, session):
    v = dt.call('Runtime.evaluate', {'expression': """JSON.stringify({
        ready: document.readyState, old: window.__old === 1,
        text: (document.getElementById('v') || {}).textContent || null,
        color: getComputedStyle(document.body).color,
        background: getComputedStyle(document.body).backgroundColor})""",
        'returnByValue': True}, session)
    # between two documents there is no context to evaluate in: not loaded yet
    return json.loads(v['result'].get('value') or '{"ready": "navigating"}')


def wait_loaded(dt, session, what):
    while True:
        st = page_state(dt, session)
        if st['ready'] == 'complete' and not st['old'] and st['text'] is not None:
            return st
        check(time.monotonic() < dt.deadline - 2, '%s never finished loading' % what)
        time.sleep(0.05)


@test('edit and reload: a page saved in place and a stylesheet saved by rename show on the '
      'very next reload')
def edit_reload():
    d = os.path.join(ROOT, 'edit')
    os.mkdir(d)
    with open(os.path.join(d, 'index.html'), 'wb') as f:
        f.write(EDIT_PAGE.replace(b'VERSION', b'first draft'))
    with open(os.path.join(d, 'edit.css'), 'wb') as f:
        f.write(b'body { color: rgb(1, 2, 3) }\n')
    # an hour of revalidation: only a notification can make the edit visible. no-cache:
    # a reload revalidates the page but takes a subresource from Chromium's cache while
    # it is heuristically fresh (a tenth of its age since Last-Modified), so the
    # stylesheet must be asked for each time for the server to be what is tested
    s = start_server(ROOT, '--revalidate', '3600', '--cache-control', 'no-cache')
    dt = DevTools()
    try:
        target = dt.call('Target.createTarget', {'url': s.url('/edit/')})['targetId']
        session = dt.call('Target.attachToTarget',
                          {'targetId': target, 'flatten': True})['sessionId']
        st = wait_loaded(dt, session, 'the first load')
        eq((st['text'], st['color']), ('first draft', 'rgb(1, 2, 3)'), 'before the edit')
        dt.call('Runtime.evaluate', {'expression': 'window.__old = 1'}, session)
        with open(os.path.join(d, 'index.html'), 'wb') as f:      # an editor saving in place
            f.write(EDIT_PAGE.replace(b'VERSION', b'second draft, longer'))
        with open(os.path.join(d, 'edit.css.tmp'), 'wb') as f:    # ... and one saving by rename
            f.write(b'body { color: rgb(4, 5, 6) }\n')
        os.rename(os.path.join(d, 'edit.css.tmp'), os.path.join(d, 'edit.css'))
        dt.call('Page.reload', {}, session)
        st = wait_loaded(dt, session, 'the reload')
        eq((st['text'], st['color']), ('second draft, longer', 'rgb(4, 5, 6)'), 'after the reload')
    finally:
        dt.close()
        s.stop()


# A page with the site's stylesheet and a script, as a site has them: both go out
# compressed (Chromium asks for gzip, deflate, br, zstd) and work once decoded.
ZIP_SCRIPT = b''.join(b'window.app_%d = function (x) { return x + %d; };\n' % (i, i)
                      for i in range(120)) + \
    b'document.getElementById("v").textContent = "script ran " + window.app_119(1);\n'
ZIP_PAGE = b'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>compressed</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/style.css"></head>
<body><div class="wrap"><p id="v">no script</p></div><script src="/zip/app.js"></script>
</body></html>
'''


@test('compression: the site\'s CSS and a script arrive as br or zstd, and the page renders')
def compressed_assets():
    if not {'br', 'zstd'} & portico_test.codings():
        raise portico_test.Skip('portico was built without brotli and zstd')
    d = os.path.join(ROOT, 'zip')
    os.mkdir(d)
    for name, data in (('index.html', ZIP_PAGE), ('app.js', ZIP_SCRIPT)):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
    dt = DevTools()
    try:
        target = dt.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        session = dt.call('Target.attachToTarget',
                          {'targetId': target, 'flatten': True})['sessionId']
        dt.call('Network.enable', {}, session)
        dt.call('Page.navigate', {'url': srv.url('/zip/')}, session)
        st = wait_loaded(dt, session, 'the compressed page')
        eq(st['text'], 'script ran 120', 'what the decoded script wrote')
        eq(st['background'], css_rgb(BG[SCHEME[0]]), 'body background (the decoded style.css)')
        got = {}
        for e in dt.events:
            if e.get('method') == 'Network.responseReceived':
                r = e['params']['response']
                h = dict((k.lower(), v) for k, v in r['headers'].items())
                got[r['url']] = (r['status'], h.get('content-encoding'), h.get('vary'))
        for path in ('/style.css', '/zip/app.js'):
            status, coding, vary = got.get(srv.url(path), (None, None, None))
            eq(status, 200, 'status of ' + path)
            check(coding in ('br', 'zstd'), '%s came with Content-Encoding %r, want br or zstd'
                  % (path, coding))
            check('accept-encoding' in (vary or '').lower(), '%s: Vary %r' % (path, vary))
    finally:
        dt.close()


@test('access log: style.css and the logo 200, no request failed (no favicon.ico miss)')
def access_log():
    entries = log_entries()
    for e in entries:
        eq(e['host'], '127.0.0.1', 'client address in the log')
    # Each Chromium run has a new profile, so the first fetch of a file is a
    # 200; a repeat fetch in the same run may be a revalidation (the files were
    # just copied, so their heuristic freshness is about zero): 304 is fine.
    for path in ('/style.css', '/img/logo.svg', '/browser-check.html', '/'):
        st = statuses(entries, path)
        check(200 in st and all(s in (200, 304) for s in st),
              '%s statuses %r, want 200 (or 304 on a repeat)' % (path, st))
    bad = ['%s %s -> %s (referer %s)' % (e['method'], e['path'], e['status'], e['referer'])
           for e in entries if int(e['status']) >= 400]
    check(not bad, 'failed requests: %s' % ', '.join(bad))
    media = statuses(entries, '/media/tone.wav')
    check(all(s in (200, 206, 304) for s in media), 'media statuses %r' % media)


run()
