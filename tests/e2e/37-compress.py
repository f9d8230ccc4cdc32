#!/usr/bin/env python3
"""On-the-fly compression (issue 16): which files (by extension, at least
--compress-min bytes) and which requests (Accept-Encoding with q-values: br,
zstd, gzip) get a compressed response; every byte sent decodes to the file;
Vary: Accept-Encoding on every response for a compressible file; the two
stages (a small file compressed inline at a fast level, then the compressor's
high-level variant from the cache; a big file identity until that is ready);
the cache directory (names, empty "not worth it" files, persistence across
restarts, LRU eviction under --compress-cache-size, an unwritable directory,
two workers racing for one variant); validators, ranges and HEAD on the
representation sent; a replaced file; --compress off; curl --compressed.
Pre-compressed siblings are 35-precompressed's."""

import gzip
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (COMPRESSOR_NAME, Client, Skip, add_case, check,  # noqa: E402
                          codec_versions, codings, require_binary,
                          check_validators, children, cpu_ticks, curl, each_worker, eq,
                          exchange, expect, expect_304, head_equal, mkdtemp, new_root,
                          only_worker, parse_byteranges, proc_ids, process_name,
                          process_state, replace_file, req, run, serving_worker, set_mtime,
                          set_script_timeout, skip_all, start_server, test, wait_until,
                          worker_pids, write_file)

try:
    import brotli
    import zstandard
except ImportError as e:
    # Debian's modules are for Debian's python3: run under it when this one (a
    # pyenv or venv python3 first in PATH) lacks them
    DEBIAN_PYTHON = '/usr/bin/python3'
    if os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON) and \
            os.access(DEBIAN_PYTHON, os.X_OK) and not os.environ.get('PORTICO_REEXEC'):
        os.environ['PORTICO_REEXEC'] = '1'
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)
    skip_all('decoding needs the brotli and zstandard modules (python3-brotli, '
             'python3-zstandard; scripts/install-deps installs them): %s' % e)

require_binary()
if codings() != {'br', 'zstd', 'gzip'}:
    skip_all('portico was built without some of brotli, zstd and gzip (%s): '
             'scripts/install-deps installs their libraries' % sorted(codings()))

set_script_timeout(150)   # several servers, and waits for the compressor under ASan

T0 = 1615107903
FINAL_WAIT = 15.0         # the compressor's variant: well under a second, unless ASan and busy
QUIET_WAIT = 1.0          # to see that something does NOT happen (nothing asserted on time)
INLINE_MAX = 16 << 10     # files up to this are compressed inline while the variant is made
FAST = {'br': ('5',), 'zstd': ('3',), 'gzip': ('6',)}
FINAL = {'br': ('11',), 'zstd': ('19',), 'gzip': ('12', '9')}  # gzip 9 when built with zlib
AE_ALL = 'br, zstd, gzip'
TXT = 'text/plain; charset=utf-8'
WORDS = [b'portico', b'serves', b'static', b'files', b'quickly', b'and', b'correctly',
         b'compressed', b'once', b'cached', b'for', b'every', b'worker']


def text(tag, size):
    """SIZE bytes of compressible text, different for each TAG."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += b'%s %d: %s %s %s\n' % (tag.encode(), i, WORDS[i % 13], WORDS[(i * 7) % 13],
                                       WORDS[(i * 5 + len(tag)) % 13])
        i += 1
    return bytes(out[:size])


def hexfile(size):
    """SIZE bytes of random hex digits: a text file that compresses to about half."""
    return os.urandom(size // 2 + 1).hex().encode()[:size]


COMPRESSIBLE_EXT = ['html', 'htm', 'css', 'js', 'mjs', 'cjs', 'json', 'map', 'svg', 'xml',
                    'txt', 'md', 'csv', 'wasm', 'ico', 'ttf', 'otf', 'webmanifest', 'rss',
                    'atom', 'yaml', 'toml', 'vtt', 'ics', 'xhtml', 'jsonld', 'HTML', 'Js']
PLAIN_EXT = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'avif', 'mp4', 'mp3', 'webm', 'pdf', 'gz',
             'zip', 'zst', 'br', 'xz', 'woff', 'woff2', 'svgz', 'bin', 'xyz', None]


def plain_name(ext):
    return 'plain/f.' + ext if ext else 'plain/README'


FILES = {
    'neg.txt': text('negotiation', 6000),
    'stage.js': text('stage', 9000),
    'big.css': text('big', 80000),
    'val.js': text('validators', 60000),
    'range-small.txt': text('range small', 7000),
    'range-inline.txt': text('range inline', 7000),
    'head.html': text('head small', 5000),
    'head.json': text('head big', 70000),
    'tiny.txt': text('tiny', 100),
    'edge255.txt': text('edge', 255),
    'edge256.txt': text('edge', 256),
    'min3k.txt': text('min', 3000),
    'min5k.txt': text('min', 5000),
    'random.txt': os.urandom(40000),
    'random-small.txt': os.urandom(4000),
    'replace-small.txt': text('replace small v1', 8000),
    'replace-big.txt': text('replace big v1', 60000),
    'inplace.txt': text('in place v1', 8000),
    'inplace-same.txt': text('in place, same size and mtime v1', 8000),
    'ifrange-date.js': text('if-range by date', 9000),
    'persist.txt': text('persist', 8000),
    'persist-big.txt': text('persist big', 50000),
    'persist-other.txt': text('persist other', 8000),
    'sib.js': text('sibling', 6000),
    'pipe.js': text('pipelined', 6000),
    'curl.html': text('curl small', 6000),
    'curl-big.html': text('curl big', 90000),
    'unwritable-small.js': text('unwritable small', 6000),
    'unwritable-big.js': text('unwritable big', 60000),
    'race.txt': text('race', 200000),
    'slow.txt': text('slow', 500000),
}
FILES['sib.js.gz'] = gzip.compress(FILES['sib.js'], mtime=0)
for ext in COMPRESSIBLE_EXT:
    FILES['ext/f.' + ext] = text('extension ' + ext, 3000)
for ext in PLAIN_EXT:   # (plain/f.gz and f.br are no siblings: there is no plain/f)
    FILES[plain_name(ext)] = text('not compressed ' + str(ext), 3000)
_, ROOT = new_root(FILES)
for name in FILES:
    set_mtime(os.path.join(ROOT, name), T0)
set_mtime(os.path.join(ROOT, 'sib.js.gz'), T0 + 10)

SERVERS = {}      # port -> Server, for the compressor's state in failure messages


def start(*args, **kw):
    s = start_server(*args, **kw)
    SERVERS[s.port] = s
    # at nice 19 the compressor may wait tens of seconds for a core that other tests
    # keep busy (make -j2 check beside Chromium): as root, the test lifts it to 0
    pid = wait_until(s.compressor, 5) if os.geteuid() == 0 else None
    try:
        # after it has lowered itself, which it does right after the fork
        if pid and wait_until(lambda: os.getpriority(os.PRIO_PROCESS, pid) >= 10, 5):
            os.setpriority(os.PRIO_PROCESS, pid, 0)
    except OSError:
        pass
    return s


srv = start(ROOT, workers=1)     # one worker: its stages are seen in order
P = srv.port
srv_off = start(ROOT, '--compress', 'off', workers=1)
srv_min = start(ROOT, '--compress-min', '4k', workers=1)


# --------------------------------------------------------------------------
# helpers

def fetch(target, value=None, method='GET', port=P, extra=()):
    """One request on a fresh connection; VALUE is the Accept-Encoding (None: no header;
    a list: one field line each)."""
    hs = list(extra)
    for v in (value if isinstance(value, list) else [] if value is None else [value]):
        hs.append(('Accept-Encoding', v))
    return exchange(port, req(method, target, headers=hs), method)


def decode(coding, data):
    if coding == 'gzip':
        return gzip.decompress(data)
    if coding == 'br':
        return brotli.decompress(data)
    if coding == 'zstd':
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise AssertionError('unknown Content-Encoding %r' % coding)


def varies(r):
    return 'accept-encoding' in r.tokens('vary')


def level_of(etag):
    """(coding, level) named at the end of a variant's ETag, or None."""
    m = re.search(r'-(br|zstd|gzip)(\d+)-[\d.]+"$', etag or '')
    return (m.group(1), m.group(2)) if m else None


VERSIONS = codec_versions()
BR11 = '.br11-' + VERSIONS.get('br', '')   # a cache file's name ends with the library's version


def variant_tag(itag, coding, level, name):
    """The variant's ETag: the identity one (size and mtime), then coding, level and
    the library's version: nothing local to this machine, so copies agree."""
    return '%s-%s%s-%s"' % (itag[:-1], coding, level, VERSIONS[coding])


def itag_of(name, port=P):
    """The identity ETag of NAME (a request without Accept-Encoding)."""
    return check_validators(fetch('/' + name, None, port=port))


def expect_rep(r, name, coding, vary=True, stage='any', itag=None, ctype=None):
    """R is the whole of file NAME in CODING (None: identity): Content-Encoding,
    Vary: Accept-Encoding iff VARY, a body that decodes to exactly the file,
    Content-Length the length sent, the Content-Type of the file, and an ETag that
    is the identity one with the coding's fast or final level (STAGE: 'fast',
    'final' or 'any') inserted."""
    content = FILES[name]
    expect(r, 200, content_encoding=coding, ctype=ctype)
    eq(varies(r), vary, 'Vary: Accept-Encoding present (Vary: %r)' % r.get_all('vary'))
    eq(r.get('content-length'), str(len(r.body)), 'Content-Length')
    if coding is None:
        check(r.body == content, 'identity body differs from the file (%d bytes, starts %r)'
              % (len(r.body), r.body[:30]))
    else:
        check(len(r.body) < len(content), '%s body not smaller than the file: %d >= %d'
              % (coding, len(r.body), len(content)))
        try:
            plain = decode(coding, r.body)
        except Exception as e:  # noqa: BLE001
            raise AssertionError('%s body does not decode: %s: %s (starts %r)'
                                 % (coding, type(e).__name__, e, r.body[:20]))
        check(plain == content, '%s body decodes to other bytes than the file (%d bytes, '
              'starts %r)' % (coding, len(plain), plain[:40]))
    tag = check_validators(r)
    if itag is not None:
        if coding is None:
            eq(tag, itag, 'ETag of the identity response')
        else:
            levels = {'fast': FAST, 'final': FINAL,
                      'any': {c: FAST[c] + FINAL[c] for c in FAST}}[stage][coding]
            ok = [variant_tag(itag, coding, lv, name) for lv in levels]
            check(tag in ok, 'ETag %s is not one of %s' % (tag, ok))
    return r


def is_final(r, coding):
    lv = level_of(r.get('etag'))
    return r.status == 200 and lv is not None and lv[0] == coding and lv[1] in FINAL[coding]


def wait_final(name, coding='br', port=P, timeout=FINAL_WAIT, itag=None):
    """Poll NAME with Accept-Encoding: CODING until the response is the cache's
    variant (the final level); every response on the way must be right too."""
    deadline = time.monotonic() + timeout
    while True:
        r = fetch('/' + name, coding, port=port)
        expect_rep(r, name, r.get('content-encoding') and coding, itag=itag)
        if is_final(r, coding):
            return r
        check(time.monotonic() < deadline, 'no %s variant of %s after %.0f s (%s); last %r'
              % (coding, name, timeout, compressor_note(port), r))
        time.sleep(0.05)


def stem(path):
    """The cache's name for the version of PATH, without the coding:
    dev-ino-size-ctime.nsec in hex (the nanoseconds in decimal)."""
    st = os.stat(path)
    return '%x-%x-%x-%x.%09d' % (st.st_dev, st.st_ino, st.st_size, st.st_ctime_ns // 10**9,
                                 st.st_ctime_ns % 10**9)


VARIANT_NAME = re.compile(r'^[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+\.\d{9}\.(br|zstd|gzip)\d+'
                          r'-[\d.]+$')
TMP_PREFIX = '.tmp-portico-'


def listing(d):
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def variants_of(d, path):
    """Names in cache directory D for the current version of PATH."""
    s = stem(path) + '.'
    return [n for n in listing(d) if n.startswith(s)]


def wait_cache_file(d, name, timeout=FINAL_WAIT, port=P):
    path = os.path.join(d, name)
    check(wait_until(lambda: os.path.exists(path), timeout),
          'no %s in the cache after %.0f s (%s; it holds %r)'
          % (name, timeout, compressor_note(port), listing(d)))
    return path


def compressor_note(port):
    """The compressor's state, for a wait that timed out: it runs at idle
    priority, so CPUs kept busy by others starve it (not a server bug)."""
    s = SERVERS.get(port)
    pid = s and s.compressor()
    if not pid:
        return 'no compressor process'
    return ('compressor %d: state %s, %s CPU ticks; load average %.1f %.1f %.1f'
            % ((pid, process_state(pid), cpu_ticks(pid)) + os.getloadavg()))


def cache_bytes(d):
    """Bytes in the variant files of cache directory D (what its bound counts)."""
    total = 0
    for n in listing(d):
        if VARIANT_NAME.match(n):
            try:
                total += os.path.getsize(os.path.join(d, n))
            except FileNotFoundError:
                pass
    return total


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def root(name):
    return os.path.join(ROOT, name)


# --------------------------------------------------------------------------
# negotiation: a small file, so the chosen coding is there on the first request

NEGOTIATION = [
    # Accept-Encoding (None: no header), Content-Encoding chosen (None: identity)
    (None, None),
    ('', None),
    ('gzip', 'gzip'),
    ('br', 'br'),
    ('zstd', 'zstd'),
    ('br;q=0.5, zstd;q=0.5', 'br'),
    ('zstd, gzip', 'zstd'),
    ('gzip, zstd', 'zstd'),
    ('gzip, br', 'br'),
    ('gzip, deflate, br, zstd', 'br'),
    ('*', 'br'),
    ('*;q=0.1, gzip', 'gzip'),
    ('br;q=0, *', 'zstd'),
    ('br;q=0, zstd;q=0, *', 'gzip'),
    ('*;q=0.5, zstd', 'zstd'),
    ('*;q=0', None),
    ('identity;q=0', None),
    ('identity', None),
    ('BR', 'br'),
    ('Zstd', 'zstd'),
    ('X-GZIP', 'gzip'),
    ('x-gzip;q=0.6, br;q=0.5', 'gzip'),
    ('deflate', None),
    ('compress, deflate, xz', None),
    ('foo, gzip;q=0.2', 'gzip'),
    ('br;q=0', None),
    ('br;q=0, gzip;q=0', None),
    ('br;q=0.000', None),
    ('br;q=0.001', 'br'),
    ('gzip;q=0.5, br;q=0.4', 'gzip'),
    ('zstd;q=1.0, br;q=0.999', 'zstd'),
    ('gzip ; q=0.8 , zstd ; q=0.9', 'zstd'),
    ('gzip;q=1, *;q=0.5', 'gzip'),
    # RFC 9110 §5.3: several field lines are one list
    (['gzip;q=0', 'zstd'], 'zstd'),
    (['br;q=0.1', 'gzip'], 'gzip'),
    (['br', 'br;q=0'], None),
]


def negotiate_case(value, coding):
    itag = itag_of('neg.txt')
    expect_rep(fetch('/neg.txt', value), 'neg.txt', coding, itag=itag, ctype=TXT)


for v, c in NEGOTIATION:
    add_case('Accept-Encoding: %s -> %s' % ('absent' if v is None else repr(v), c or 'identity'),
             negotiate_case, v, c)


@test('HEAD of a compressed response has the GET headers, no body')
def head_compressed():
    # the final variant first, so that GET and HEAD describe the same bytes
    g = wait_final('neg.txt', 'zstd')
    h = fetch('/neg.txt', 'zstd', method='HEAD')
    expect(h, 200, method='HEAD', content_encoding='zstd')
    eq(h.body, b'', 'HEAD body')
    head_equal(h, g)


# --------------------------------------------------------------------------
# which files

def ext_case(name):
    ident = expect_rep(fetch('/' + name, None), name, None)
    ctype = ident.get('content-type')
    check(ctype, 'no Content-Type for %s' % name)
    expect_rep(fetch('/' + name, 'br'), name, 'br', itag=ident.get('etag'), ctype=ctype)


for ext in COMPRESSIBLE_EXT:
    add_case('.%s is compressed (br), Content-Type kept' % ext, ext_case, 'ext/f.' + ext)


def plain_case(name):
    r = expect_rep(fetch('/' + name, AE_ALL), name, None, vary=False)
    check(level_of(r.get('etag')) is None, 'variant ETag %r on a file sent as it is'
          % r.get('etag'))
    expect_rep(fetch('/' + name, 'gzip'), name, None, vary=False)


for ext in PLAIN_EXT:
    add_case('%s is never compressed: no Content-Encoding, no Vary'
             % ('.' + ext if ext else 'a name without extension'), plain_case, plain_name(ext))

for n, what in [('tiny.txt', 'a 100-byte .txt (under --compress-min 256)'),
                ('edge255.txt', 'a 255-byte .txt (one under --compress-min 256)')]:
    add_case('%s is sent as it is, no Vary' % what, plain_case, n)


@test('a 256-byte .txt (exactly --compress-min) is compressed, with Vary')
def edge_256():
    expect_rep(fetch('/edge256.txt', 'br'), 'edge256.txt', 'br', itag=itag_of('edge256.txt'))


@test('--compress-min 4k: a 3000-byte file as it is (no Vary), a 5000-byte one compressed')
def compress_min():
    expect_rep(fetch('/min3k.txt', AE_ALL, port=srv_min.port), 'min3k.txt', None, vary=False)
    expect_rep(fetch('/min5k.txt', AE_ALL, port=srv_min.port), 'min5k.txt', 'br',
               itag=itag_of('min5k.txt', port=srv_min.port))
    expect_rep(fetch('/min5k.txt', None, port=srv_min.port), 'min5k.txt', None)


@test('no variant was made for the files sent as they are')
def nothing_cached_for_plain():
    time.sleep(QUIET_WAIT)
    for name in FILES:
        if name.startswith('plain/') or name in ('tiny.txt', 'edge255.txt'):
            eq(variants_of(srv.cache_dir, root(name)), [], 'cache files for %s' % name)


@test('a file with a pre-compressed sibling: the sibling or identity, never the cache')
def sibling_wins():
    itag = itag_of('sib.js')
    expect_rep(fetch('/sib.js', 'br'), 'sib.js', None, itag=itag)
    r = fetch('/sib.js', 'gzip')
    expect(r, 200, body=FILES['sib.js.gz'], content_encoding='gzip')
    check(varies(r), 'no Vary on the sibling')
    expect_rep(fetch('/sib.js', 'zstd, br'), 'sib.js', None, itag=itag)
    time.sleep(QUIET_WAIT)
    eq(variants_of(srv.cache_dir, root('sib.js')), [], 'cache files for sib.js')


# --------------------------------------------------------------------------
# --compress off

def off_case(name, value):
    expect_rep(fetch('/' + name, value, port=srv_off.port), name, None, vary=False)


for n, v in [('neg.txt', 'br'), ('neg.txt', AE_ALL), ('big.css', 'gzip'),
             ('ext/f.json', 'zstd'), ('neg.txt', None)]:
    add_case('--compress off: %s, Accept-Encoding: %s -> identity, no Vary' % (n, v),
             off_case, n, v)


@test('--compress off: no compressor process, no cache directory, identity ETag')
def off_nothing():
    wait_until(lambda: len(children(srv_off.pid)) >= 1, 5)
    time.sleep(0.3)
    eq(srv_off.compressor(), None, 'compressor of the --compress off server')
    kids = children(srv_off.pid)
    eq(len(kids), 1, 'children of the --compress off master with -w 1 (%r)'
       % {k: process_name(k) for k in kids})
    check(not os.path.exists(srv_off.cache_dir),
          '--compress off made its cache directory %s' % srv_off.cache_dir)
    eq(check_validators(fetch('/neg.txt', 'br', port=srv_off.port)),
       check_validators(fetch('/neg.txt', None, port=srv_off.port)), 'ETag')


# --------------------------------------------------------------------------
# the compressor and the two stages

@test('the compressor: a low-priority child of the master named portico-zip, not a worker')
def compressor_process():
    s = start_server(ROOT, workers=1)   # not start(): its compressor keeps its priority
    try:
        pid = wait_until(s.compressor, 5)
        check(pid, 'no child named %s among %r' % (COMPRESSOR_NAME,
                                                   {k: process_name(k) for k in children(s.pid)}))
        check(pid not in s.workers(), 'the compressor is counted as a worker')
        eq(len(s.workers()), 1, 'workers besides the compressor with -w 1')
        # (it lowers itself right after the fork)
        idle = wait_until(lambda: os.sched_getscheduler(pid) == os.SCHED_IDLE or
                          os.getpriority(os.PRIO_PROCESS, pid) >= 10, 5)
        check(idle,
              'compressor at normal priority (policy %d, nice %d)'
              % (os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid)))
        if os.geteuid() == 0:
            w = next(iter(s.workers()))
            uid = proc_ids(w)[0][0]
            # (found right after its fork, it may not have dropped privileges yet)
            wait_until(lambda: proc_ids(pid)[0] == proc_ids(w)[0], 5)
            eq(proc_ids(pid)[0], proc_ids(w)[0], 'uids of the compressor and a worker')
            check(uid != 0, 'the compressor runs as root')
            eq(os.stat(s.cache_dir).st_uid, uid, 'owner of the cache directory the master made')
    finally:
        s.stop()


@test('small file: inline fast level first (-br5), then the cache variant (-br11)')
def small_stages():
    name = 'stage.js'
    itag = itag_of(name)
    r = expect_rep(fetch('/' + name, 'br'), name, 'br', itag=itag)
    eq(r.get('etag'), variant_tag(itag, 'br', '5', name), 'ETag of the first br response')
    f = wait_final(name, 'br', itag=itag)
    expect_rep(f, name, 'br', itag=itag, stage='final')
    cached = wait_cache_file(srv.cache_dir, stem(root(name)) + BR11)
    check(read(cached) == f.body, 'the -br11 body is not the cache file (%d vs %d bytes)'
          % (len(f.body), os.path.getsize(cached)))
    for _ in range(3):      # it stays
        expect_rep(fetch('/' + name, 'br'), name, 'br', itag=itag, stage='final')


@test('small file in zstd and gzip: -zstd3 then -zstd19, -gzip6 then the best gzip')
def small_stages_other():
    name = 'range-small.txt'
    itag = itag_of(name)
    for coding in ('zstd', 'gzip'):
        expect_rep(fetch('/' + name, coding), name, coding, itag=itag, stage='fast')
        expect_rep(wait_final(name, coding, itag=itag), name, coding, itag=itag,
                   stage='final')
    got = variants_of(srv.cache_dir, root(name))
    check(any(re.search(r'\.zstd19-[\d.]+$', n) for n in got) and
          any(re.search(r'\.gzip(12|9)-[\d.]+$', n) for n in got), 'cache files %r' % got)


@test('big file (> 16 KiB): identity (with Vary) until the variant is ready, then br')
def big_stages():
    name = 'big.css'
    check(len(FILES[name]) > INLINE_MAX, 'test premise: a big file')
    itag = itag_of(name)
    expect_rep(fetch('/' + name, 'br'), name, None, itag=itag)
    f = wait_final(name, 'br', itag=itag)
    cached = wait_cache_file(srv.cache_dir, stem(root(name)) + BR11)
    check(read(cached) == f.body, 'the -br11 body is not the cache file')
    eq(f.get('content-type'), 'text/css; charset=utf-8', 'Content-Type')


@test('cache file names: dev-ino-size-ctime.nsec.codingLEVEL of the file version')
def cache_names():
    wait_final('stage.js', 'br')
    names = listing(srv.cache_dir)
    check(names, 'empty cache directory')
    for n in names:
        if n.startswith(TMP_PREFIX):
            continue            # the compressor may be at work on another file
        check(VARIANT_NAME.match(n), 'unexpected name %r in the cache directory' % n)
    want = stem(root('stage.js')) + BR11
    check(want in names, '%s not in %r' % (want, names))
    check(os.path.getsize(os.path.join(srv.cache_dir, want)) > 0, 'empty variant of stage.js')


@test('a variant is written under a temporary name, then renamed into place')
def temporary_then_rename():
    name = 'slow.txt'         # big enough for brotli 11 to take a while
    final = stem(root(name)) + BR11
    expect_rep(fetch('/' + name, 'br'), name, None)
    seen_tmp = False
    deadline = time.monotonic() + 2 * FINAL_WAIT
    while True:
        names = listing(srv.cache_dir)
        if final in names:
            break
        seen_tmp = seen_tmp or any(n.startswith(TMP_PREFIX) for n in names)
        check(time.monotonic() < deadline, 'no %s after %.0f s (%s)'
              % (final, 2 * FINAL_WAIT, compressor_note(P)))
        time.sleep(0.005)
    check(seen_tmp, 'no %s* file seen while the variant was made' % TMP_PREFIX)
    expect_rep(wait_final(name, 'br'), name, 'br')
    check(wait_until(lambda: not [n for n in listing(srv.cache_dir) if n.startswith(TMP_PREFIX)],
                     FINAL_WAIT), 'temporary files left: %r' % listing(srv.cache_dir))


@test('an incompressible .txt: an empty cache file ("not worth it"), sent as it is')
def not_worth_it():
    for name in ('random.txt', 'random-small.txt'):
        itag = itag_of(name)
        expect_rep(fetch('/' + name, 'br'), name, None, itag=itag)
        empty = wait_cache_file(srv.cache_dir, stem(root(name)) + BR11)
        eq(os.path.getsize(empty), 0, 'size of the "not worth it" file of %s' % name)
        time.sleep(0.25)            # past the worker's 100 ms between looks
        for _ in range(2):
            expect_rep(fetch('/' + name, 'br'), name, None, itag=itag)


# --------------------------------------------------------------------------
# validators and ranges on the representation sent (a big file, its final variant)

def val_state():
    f = wait_final('val.js', 'br')
    return itag_of('val.js'), f.get('etag'), f.body


COND = [
    # name, Accept-Encoding, conditional header, tag ('id', 'br', or a list form),
    # status, coding of the representation (its ETag is on the 304)
    ('If-None-Match: br tag, Accept-Encoding: br', 'br', 'If-None-Match', 'br', 304, 'br'),
    ('If-None-Match: W/br tag, Accept-Encoding: br', 'br', 'If-None-Match', 'W/br', 304, 'br'),
    ('If-None-Match: identity tag, br tag; Accept-Encoding: br', 'br', 'If-None-Match', 'id, br',
     304, 'br'),
    ('If-None-Match: *, Accept-Encoding: br', 'br', 'If-None-Match', '*', 304, 'br'),
    ('If-None-Match: identity tag, Accept-Encoding: br', 'br', 'If-None-Match', 'id', 200, 'br'),
    ('If-None-Match: br tag, no Accept-Encoding', None, 'If-None-Match', 'br', 200, None),
    ('If-None-Match: identity tag, no Accept-Encoding', None, 'If-None-Match', 'id', 304, None),
    ('If-None-Match: br tag, Accept-Encoding: identity', 'identity', 'If-None-Match', 'br', 200,
     None),
    ('If-Match: br tag, Accept-Encoding: br', 'br', 'If-Match', 'br', 200, 'br'),
    ('If-Match: identity tag, Accept-Encoding: br', 'br', 'If-Match', 'id', 412, None),
    ('If-Match: br tag, no Accept-Encoding', None, 'If-Match', 'br', 412, None),
]


def cond_case(value, header, which, status, coding):
    itag, btag, _ = val_state()
    tags = {'id': itag, 'br': btag}
    field = ', '.join(('W/' + tags[t[2:]]) if t.startswith('W/') else tags.get(t, t)
                      for t in which.split(', '))
    r = fetch('/val.js', value, extra=[(header, field)])
    if status == 304:
        expect_304(r, etag=btag if coding else itag)
        check(varies(r), 'a 304 must carry the Vary its 200 would have: %r' % r.head)
        check(r.get('content-encoding') in (None, coding), 'Content-Encoding %r on the 304'
              % r.get('content-encoding'))
    elif status == 200:
        expect_rep(r, 'val.js', coding, itag=itag, stage='final')
    else:
        expect(r, status, content_encoding=None)


for c in COND:
    add_case(c[0] + ' -> %d' % c[4], cond_case, *c[1:])


@test('Range: bytes=0-99 with br -> 206 of the compressed bytes')
def range_br():
    itag, btag, full = val_state()
    r = fetch('/val.js', 'br', extra=[('Range', 'bytes=0-99')])
    expect(r, 206, body=full[:100], content_encoding='br', etag=btag,
           content_range='bytes 0-99/%d' % len(full))
    check(varies(r), 'no Vary on the 206')
    r = fetch('/val.js', 'br', extra=[('Range', 'bytes=-10')])
    expect(r, 206, body=full[-10:], content_range='bytes %d-%d/%d'
           % (len(full) - 10, len(full) - 1, len(full)))


@test('Range: two ranges with br -> multipart of the compressed bytes')
def range_multi():
    itag, btag, full = val_state()
    r = fetch('/val.js', 'br', extra=[('Range', 'bytes=0-3,20-29')])
    expect(r, 206, content_encoding='br')
    parts = parse_byteranges(r)
    eq([p[2] for p in parts], [full[0:4], full[20:30]], 'parts')
    eq([p[1][2] for p in parts], [len(full)] * 2, 'complete lengths')


@test('Range past the compressed length (inside the file) -> 416 bytes */compressed length')
def range_416():
    itag, btag, full = val_state()
    check(len(full) + 100 < len(FILES['val.js']), 'test premise')
    r = fetch('/val.js', 'br', extra=[('Range', 'bytes=%d-%d' % (len(full), len(full) + 99))])
    expect(r, 416, content_range='bytes */%d' % len(full), content_encoding=None)


@test('Range without Accept-Encoding -> 206 of the file, with Vary')
def range_identity():
    r = fetch('/val.js', None, extra=[('Range', 'bytes=100-199')])
    expect(r, 206, body=FILES['val.js'][100:200], content_encoding=None,
           content_range='bytes 100-199/%d' % len(FILES['val.js']))
    check(varies(r), 'no Vary on the 206 of the identity representation')


@test('If-Range with the br tag -> 206; with the identity (stale) tag -> 200 whole br')
def if_range():
    itag, btag, full = val_state()
    r = fetch('/val.js', 'br', extra=[('Range', 'bytes=0-99'), ('If-Range', btag)])
    expect(r, 206, body=full[:100], content_encoding='br')
    r = fetch('/val.js', 'br', extra=[('Range', 'bytes=0-99'), ('If-Range', itag)])
    expect_rep(r, 'val.js', 'br', itag=itag, stage='final')
    eq(r.body, full, 'whole br body')


@test('Range on an inline variant of a small file: bytes of that variant')
def range_inline():
    name = 'range-inline.txt'
    with Client(P) as c:
        c.send(req('GET', '/' + name, headers=[('Accept-Encoding', 'br')]) +
               req('GET', '/' + name, headers=[('Accept-Encoding', 'br'),
                                               ('Range', 'bytes=0-9')]) +
               req('GET', '/' + name, headers=[('Accept-Encoding', 'br')]))
        a, rr, b = c.read_response(), c.read_response(), c.read_response()
    expect_rep(a, name, 'br')
    expect_rep(b, name, 'br')
    eq(rr.status, 206, 'status of the range request (%r)' % rr)
    whole = a if rr.get('etag') == a.get('etag') else b
    eq(rr.get('etag'), whole.get('etag'), 'ETag of the 206')
    eq(rr.body, whole.body[:10], 'first 10 bytes of the variant')
    eq(rr.get('content-range'), 'bytes 0-9/%d' % len(whole.body), 'Content-Range')


# --------------------------------------------------------------------------
# HEAD costs nothing

@test('HEAD of never-requested files: identity headers with Vary, no compression started')
def head_no_compression():
    for name in ('head.html', 'head.json'):
        for _ in range(2):
            h = fetch('/' + name, 'br', method='HEAD')
            expect(h, 200, method='HEAD', content_encoding=None)
            check(varies(h), 'no Vary on HEAD of %s: %r' % (name, h.head))
            eq(h.get('content-length'), str(len(FILES[name])), 'Content-Length of HEAD')
    time.sleep(QUIET_WAIT)
    for name in ('head.html', 'head.json'):
        h = fetch('/' + name, 'br', method='HEAD')
        expect(h, 200, method='HEAD', content_encoding=None)
        eq(variants_of(srv.cache_dir, root(name)), [],
           'cache files after HEAD only of %s' % name)
    # then a GET does compress
    expect_rep(fetch('/head.html', 'br'), 'head.html', 'br', stage='fast',
               itag=itag_of('head.html'))
    expect_rep(fetch('/head.json', 'br'), 'head.json', None)
    f = wait_final('head.json', 'br')
    wait_cache_file(srv.cache_dir, stem(root('head.json')) + BR11)
    h = fetch('/head.json', 'br', method='HEAD')
    expect(h, 200, method='HEAD', content_encoding='br')
    head_equal(h, f)


# --------------------------------------------------------------------------
# a replaced file gets a fresh variant

def replaced_case(name, how):
    old = FILES[name]
    # cp -p, rsync -t, tar: the same size and mtime, other bytes (only ctime moves)
    same = how == 'in place, same size and mtime'
    new = text(name + ' v2 NEW', len(old) + (0 if how.startswith('in place') else 1234))
    itag0 = itag_of(name)
    old_final = wait_final(name, 'br', itag=itag0)
    if how.startswith('in place'):
        write_file(root(name), new, mtime=T0 if same else T0 + 100)
    else:
        replace_file(root(name), new, mtime=T0 + 100)
    FILES[name] = new
    deadline = time.monotonic() + FINAL_WAIT
    seen = []
    while True:
        r = fetch('/' + name, 'br')
        check(r.body != old_final.body, 'the old variant sent after the file changed')
        expect_rep(r, name, r.get('content-encoding') and 'br')
        tag = r.get('etag')
        # (validators are size and mtime: a rewrite that keeps both keeps the ETag,
        # as in nginx; the bytes are still the new ones, from a new variant)
        check(same or (tag != old_final.get('etag') and tag != itag0), 'the old ETag %s after '
              'the file changed' % tag)
        seen.append(tag)
        if is_final(r, 'br'):
            break
        check(time.monotonic() < deadline, 'no new br variant after %.0f s: %r'
              % (FINAL_WAIT, seen[-5:]))
        time.sleep(0.05)
    itag1 = itag_of(name)
    check(same or itag1 != itag0, 'same identity ETag for the new version')
    eq(r.get('etag'), variant_tag(itag1, 'br', '11', name), 'ETag of the new variant')
    eq(len(variants_of(srv.cache_dir, root(name))), 1, 'cache files of the new version')


for n, how in [('replace-small.txt', 'renamed over'), ('replace-big.txt', 'renamed over'),
               ('inplace.txt', 'in place'),
               ('inplace-same.txt', 'in place, same size and mtime')]:
    add_case('%s %s: next responses decode to the new bytes, new variant ETag'
             % (n, how), replaced_case, n, how)


@test('If-Range by date never joins two compressions: a variant\'s date is no strong '
      'validator (200 whole); by its ETag, 206')
def if_range_date():
    name = 'ifrange-date.js'
    itag = itag_of(name)
    for stage in ('first', 'final'):
        r = fetch('/' + name, 'br') if stage == 'first' else wait_final(name, 'br', itag=itag)
        expect_rep(r, name, 'br', itag=itag)
        lm = r.get('last-modified')
        check(lm is not None, 'no Last-Modified on the %s br response' % stage)
        by_date = fetch('/' + name, 'br', extra=[('Range', 'bytes=100-'), ('If-Range', lm)])
        expect_rep(by_date, name, 'br', itag=itag)   # 200, the whole variant
        by_tag = fetch('/' + name, 'br', extra=[('Range', 'bytes=100-'),
                                                ('If-Range', by_date.get('etag'))])
        expect(by_tag, 206, content_encoding='br')
        check(by_tag.body == by_date.body[100:], 'the 206 is not the rest of the variant')


# --------------------------------------------------------------------------
# one connection, several representations

@test('keep-alive: identity, br, zstd, gzip, 304 pipelined on one connection')
def pipeline():
    name = 'pipe.js'
    itag = itag_of(name)
    with Client(P) as c:
        c.send(req('GET', '/' + name) +
               req('GET', '/' + name, headers=[('Accept-Encoding', 'br')]) +
               req('GET', '/' + name, headers=[('Accept-Encoding', 'zstd')]) +
               req('GET', '/' + name, headers=[('Accept-Encoding', 'gzip')]) +
               req('GET', '/' + name, headers=[('If-None-Match', itag)]) +
               req('GET', '/tiny.txt'))
        expect_rep(c.read_response(), name, None, itag=itag)
        for coding in ('br', 'zstd', 'gzip'):
            expect_rep(c.read_response(), name, coding, itag=itag)
        expect_304(c.read_response(), etag=itag)
        expect_rep(c.read_response(), 'tiny.txt', None, vary=False)


# --------------------------------------------------------------------------
# curl

@test('curl --compressed: the body decoded is the file (small and big)')
def curl_compressed():
    for name in ('curl.html', 'curl-big.html'):
        if len(FILES[name]) > INLINE_MAX:
            wait_final(name, 'br')
        rc, out, err = curl('-sf', '--compressed', '-D', '-', srv.url('/' + name))
        eq(rc, 0, 'curl exit code (stderr %r)' % err)
        head, _, body = out.partition(b'\r\n\r\n')
        check(re.search(rb'(?im)^content-encoding: (br|zstd|gzip)\r?$', head),
              'curl --compressed got no compressed response: %r' % head)
        check(body == FILES[name], 'curl --compressed output differs from %s (%d bytes)'
              % (name, len(body)))


# --------------------------------------------------------------------------
# the cache across restarts

@test('a second server with the same --compress-cache serves -br11 on its first request')
def persistent():
    cache = os.path.join(mkdtemp(), 'cache')
    a = start(ROOT, '--compress-cache', cache, workers=1)
    for name in ('persist.txt', 'persist-big.txt'):
        wait_final(name, 'br', port=a.port)
    a.stop()
    names = listing(cache)
    b = start(ROOT, '--compress-cache', cache, workers=1)
    for name in ('persist.txt', 'persist-big.txt'):
        expect_rep(fetch('/' + name, 'br', port=b.port), name, 'br', stage='final',
                   itag=itag_of(name, port=b.port))
    # a file the first server never compressed starts inline, as usual
    expect_rep(fetch('/persist-other.txt', 'br', port=b.port), 'persist-other.txt', 'br',
               stage='fast', itag=itag_of('persist-other.txt', port=b.port))
    check(set(names) <= set(listing(cache)), 'the restart removed cache files: %r -> %r'
          % (names, listing(cache)))


# --------------------------------------------------------------------------
# the size bound: least recently used first

@test('--compress-cache-size 1m: the cache stays under 1 MiB, the oldest go first')
def eviction():
    n, size, bound = 9, 300 * 1024, 1 << 20
    names = ['ev%d.txt' % i for i in range(n)]
    files = {nm: hexfile(size) for nm in names}
    _, evroot = new_root(files)
    FILES.update(files)
    ev = start(evroot, '--compress-cache-size', '1m', workers=1)
    made = 0
    for nm in names:
        expect_rep(fetch('/' + nm, 'br', port=ev.port), nm, None)
        made += len(wait_final(nm, 'br', port=ev.port).body)
        # a new variant is renamed into place, then the oldest go: a moment later
        check(wait_until(lambda: cache_bytes(ev.cache_dir) <= bound, FINAL_WAIT),
              'the cache holds %d bytes > %d after %s (%s)'
              % (cache_bytes(ev.cache_dir), bound, nm, compressor_note(ev.port)))
    check(made > bound + size // 2, 'test premise: variants of %d bytes in all' % made)
    present = [bool(variants_of(ev.cache_dir, os.path.join(evroot, nm))) for nm in names]
    check(not present[0], 'the least recently used variant is still there: %r' % present)
    check(present[-1], 'the newest variant was evicted: %r' % present)
    first_kept = present.index(True)
    check(all(present[first_kept:]), 'evicted out of order (LRU): %r' % present)
    for nm in names:        # every file still right, compressed or not
        r = fetch('/' + nm, 'br', port=ev.port)
        expect_rep(r, nm, r.get('content-encoding') and 'br')
        r = fetch('/' + nm, None, port=ev.port)
        expect_rep(r, nm, None)


@test('--compress-cache-size 1m: a variant requested again outlives older unused ones')
def eviction_by_use():
    n, size = 9, 300 * 1024
    names = ['lru%d.txt' % i for i in range(n)]
    files = {nm: hexfile(size) for nm in names}
    _, lruroot = new_root(files)
    FILES.update(files)
    ev = start(lruroot, '--compress-cache-size', '1m', workers=1)
    for nm in names[:6]:                # 6 x ~150 KiB: under the bound
        wait_final(nm, 'br', port=ev.port)
    time.sleep(1.1)                     # uses are told apart by the second
    for _ in range(3):                  # lru0 is now the most recently used
        expect_rep(fetch('/lru0.txt', 'br', port=ev.port), 'lru0.txt', 'br', stage='final')
    for nm in names[6:]:                # these push the older ones out
        wait_final(nm, 'br', port=ev.port)
    check(wait_until(lambda: cache_bytes(ev.cache_dir) <= 1 << 20, FINAL_WAIT),
          'the cache holds %d bytes > 1 MiB' % cache_bytes(ev.cache_dir))
    present = [bool(variants_of(ev.cache_dir, os.path.join(lruroot, nm))) for nm in names]
    check(not all(present), 'nothing was evicted: %r' % present)
    check(present[0], 'the variant requested last among the first six was evicted before '
          'older unused ones (present: %r)' % present)
    check(not present[1], 'the least recently used variant is still there: %r' % present)


# --------------------------------------------------------------------------
# a cache directory the workers cannot write

@test('an unwritable --compress-cache: one warning naming it, files still served')
def unwritable():
    if os.geteuid() != 0:
        raise Skip('needs root (the workers run as another user than the directory owner)')
    d = os.path.join(mkdtemp(), 'root-owned')
    os.mkdir(d)
    os.chmod(d, 0o755)
    s = start(ROOT, '--compress-cache', d, workers=1)
    itag_of('unwritable-small.js', port=s.port)     # a worker that served has its user
    if proc_ids(next(iter(s.wait_workers(1))))[0][0] == 0:
        raise Skip('the workers run as root here (no www-data or nobody): they write anywhere')
    check(wait_until(lambda: d.encode() in s.stderr(), 5),
          'no warning naming %s on stderr (%r)' % (d, s.stderr()))
    for name, coding in (('unwritable-small.js', 'br'), ('unwritable-big.js', None)):
        for _ in range(3):
            expect_rep(fetch('/' + name, 'br', port=s.port), name, coding,
                       itag=itag_of(name, port=s.port), stage='fast')
    time.sleep(QUIET_WAIT)
    for name, coding in (('unwritable-small.js', 'br'), ('unwritable-big.js', None)):
        expect_rep(fetch('/' + name, 'br', port=s.port), name, coding, stage='fast',
                   itag=itag_of(name, port=s.port))
    eq(listing(d), [], 'files in the unwritable directory')
    lines = [x for x in s.stderr().decode('utf-8', 'replace').splitlines() if x.strip()]
    eq(len(lines), 1, 'stderr lines (%r)' % lines)
    check(d in lines[0] and '--compress-cache' in lines[0],
          'the warning does not name the directory and the fix: %r' % lines[0])
    check(s.alive() and s.compressor(), 'master or compressor gone')


@test('a cache directory others may write is not used: one warning, nothing read from it')
def untrusted():
    d = os.path.join(mkdtemp(), 'open-to-all')
    os.mkdir(d)
    os.chmod(d, 0o777)
    name = 'unwritable-small.js'
    # a variant planted under the name the cache would look for
    with open(os.path.join(d, stem(root(name)) + BR11), 'wb') as f:
        f.write(brotli.compress(b'alert("planted");'))
    s = start(ROOT, '--compress-cache', d, workers=1)
    check(wait_until(lambda: b'others may write' in s.stderr(), 5),
          'no warning about %s (%r)' % (d, s.stderr()))
    for _ in range(3):
        r = fetch('/' + name, 'br', port=s.port)
        expect_rep(r, name, 'br', stage='fast', itag=itag_of(name, port=s.port))
    time.sleep(QUIET_WAIT)
    expect_rep(fetch('/' + name, 'br', port=s.port), name, 'br', stage='fast',
               itag=itag_of(name, port=s.port))
    eq(len(listing(d)), 1, 'files in the directory (only the planted one)')


@test('reloads: each generation has its compressor, the old one goes, the master keeps no '
      'descriptor of it')
def reloads():
    s = start(ROOT, workers=1)
    try:
        def fds():
            return len(os.listdir('/proc/%d/fd' % s.pid))
        first = wait_until(s.compressor, 5)
        before = fds()
        for _ in range(12):
            old = s.compressor()
            s.signal(signal.SIGHUP)
            check(wait_until(lambda: s.compressor() not in (None, old), 10),
                  'no new compressor after a reload (still %r)' % old)
        check(wait_until(lambda: len([p for p in children(s.pid)
                                      if process_name(p) == COMPRESSOR_NAME]) == 1, 10),
              'old compressors left: %r' % children(s.pid))
        check(first not in children(s.pid), 'the first compressor outlived its generation')
        check(wait_until(lambda: fds() <= before, 10),
              "the master's descriptors grew over 12 reloads: %d -> %d" % (before, fds()))
        expect_rep(fetch('/neg.txt', 'br', port=s.port), 'neg.txt', 'br')
    finally:
        s.stop()


# --------------------------------------------------------------------------
# two workers, one variant

def pin_connection(s, pid):
    """A connection accepted by worker PID (the others stopped meanwhile)."""
    with only_worker(s, pid):
        c = Client(s.port)
        who = wait_until(lambda: serving_worker(s, c), 3)
    if who != pid:
        c.close()
        raise AssertionError('connection held by %r, not worker %d' % (who, pid))
    return c


@test('two workers ask for one variant at once: one cache file, no temporary, same ETag')
def race():
    s = start(ROOT, workers=2)
    check(wait_until(s.compressor, 5), 'no compressor')
    a, b = worker_pids(s, 2)
    name = 'race.txt'
    ca, cb = pin_connection(s, a), pin_connection(s, b)
    try:
        raw = req('GET', '/' + name, headers=[('Accept-Encoding', 'br')])
        ca.send(raw)
        cb.send(raw)
        for c in (ca, cb):
            expect_rep(c.read_response(), name, None)
    finally:
        ca.close()
        cb.close()
    deadline = time.monotonic() + FINAL_WAIT
    while True:
        got = each_worker(s, '/' + name, headers=[('Accept-Encoding', 'br')])
        if all(is_final(r, 'br') for _, r in got):
            break
        check(time.monotonic() < deadline, 'not every worker has the variant (%s): %r'
              % (compressor_note(s.port), [(p, r.get('etag')) for p, r in got]))
        time.sleep(0.1)
    for pid, r in got:
        expect_rep(r, name, 'br', itag=itag_of(name, port=s.port), stage='final')
    eq(got[0][1].get('etag'), got[1][1].get('etag'), 'ETags of the two workers')
    eq(got[0][1].body, got[1][1].body, 'bodies of the two workers')
    eq(variants_of(s.cache_dir, root(name)), [stem(root(name)) + BR11], 'cache files')
    check(wait_until(lambda: not [x for x in listing(s.cache_dir)
                                  if x.startswith(TMP_PREFIX)], 5),
          'temporary files left: %r' % listing(s.cache_dir))


run()
