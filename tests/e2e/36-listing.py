#!/usr/bin/env python3
"""Directory listings (--listing): order, parent link, sizes and times,
HTML escaping and percent-encoded links followed like a browser, dotfiles;
403 without --listing; custom error pages (404.html, 403.html)."""

import html.parser
import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HTML_TYPE, Client, check, eq, exchange, expect, get,  # noqa: E402
                          head_equal, new_root, req, run, set_mtime, start_server, test)

T0 = 1615107903                    # 2021-03-07
# (a file name cannot hold '/', so no closing tags in them)
WEIRD = ['<script>alert(1).txt', '<img src=x onerror=alert(2)>.txt', 'a"b.txt', 'sp ace.txt',
         'hash#x.txt',
         '\u00fcn\u00ef.txt', 'a&b.txt', "it's.txt", 'what?.txt', 'pct%41.txt',
         'x:y.txt', 'semi;colon.txt', 'back\\slash.txt', 'plus+.txt', '%2e%2e.txt',
         'new\nline.txt', 'tab\there.txt', ' lead.txt']
PRINTABLE = [n for n in WEIRD if n.isprintable() and n == n.strip()]
WEIRD_DIRS = ['d <b>x', 'sp ace dir', 'h#d', '<script>d']
FILES = {
    'b.txt': b'b\n',
    'a.txt': b'a\n',
    'Z.txt': b'upper Z sorts first in byte order\n',
    '_u.txt': b'underscore\n',
    'zz/inner.txt': b'inner\n',
    'Adir/x.txt': b'x\n',
    'mdir/': None,
    '.hidden': b'dotfile\n',
    '.hiddendir/secret.txt': b'secret\n',
    'sub/one.txt': b'1' * 12345,
    'sub/tiny.txt': b'7 bytes',
    'sub/inner/deep.txt': b'deep\n',
    'sub/.env': b'PASSWORD=x\n',
    'withindex/index.html': b'<!doctype html><title>idx</title><p>the index page</p>\n',
    'withindex/other.txt': b'other\n',
    'empty/': None,
    'many/': None,
}
for n in WEIRD:
    FILES['weird/' + n] = ('content of %s\n' % n).encode('utf-8')
for n in WEIRD_DIRS:
    FILES['weird/%s/f.txt' % n] = ('inside %s\n' % n).encode('utf-8')
# 255-byte names (NAME_MAX) whose escaped and percent-encoded forms are
# three to five times longer
LONG = ['<' * 251 + '.txt', '\u00e9' * 127 + '.', '"' * 255, '%' * 255, '&' * 250 + '.html']
for n in LONG:
    FILES['long/' + n] = ('long name %d\n' % len(n)).encode() + n.encode('utf-8')
MANY = ['file-%04d-padding-padding-padding.txt' % i for i in range(1500)]
MANY_SET = set(MANY)
for n in MANY:
    FILES['many/' + n] = n.encode()
_, ROOT = new_root({k.rstrip('/'): v for k, v in FILES.items()})
for dirpath, dirnames, filenames in os.walk(ROOT):
    for n in dirnames + filenames:
        set_mtime(os.path.join(dirpath, n), T0)
srv = start_server(ROOT, '--listing')
P = srv.port
srv_off = start_server(ROOT)

PAGE404 = b'<!doctype html><title>Not here</title><h1>custom 404 page</h1><p>404</p>\n'
PAGE403 = b'<!doctype html><title>No</title><h1>custom 403 page</h1><p>403</p>\n'
PAGE416 = b'<!doctype html><title>Range</title><h1>custom 416 page</h1>\n'
_, EROOT = new_root({'404.html': PAGE404, '403.html': PAGE403, '416.html': PAGE416,
                     'ok.txt': b'ok\n',
                     'dir/file.txt': b'f\n', 'sub/deeper/x.txt': b'x\n'})
SECRET = b'SECRET-' + os.urandom(8).hex().encode() + b'-DO-NOT-SERVE'
EPARENT, EROOT2 = new_root({'403.html/x': b'a directory, not a page', 'dir/f.txt': b'f'})
with open(os.path.join(EPARENT, 'secret.html'), 'wb') as f:
    f.write(SECRET)
os.symlink(os.path.join(EPARENT, 'secret.html'), os.path.join(EROOT2, '404.html'))
srv_err = start_server(EROOT)
srv_err2 = start_server(EROOT2)
srv_err_listing = start_server(EROOT, '--listing')


class Links(html.parser.HTMLParser):
    """Collects every <a href>: [href, text, text after it until the next <a>]."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.in_a = False
        self.scripts = 0
        self.tags = []
        self.title = ''
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == 'a':
            href = dict(attrs).get('href')
            self.links.append([href, '', ''])
            self.in_a = True
        elif tag == 'script':
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag == 'a':
            self.in_a = False
        if tag == 'title':
            self.in_title = False

    def handle_data(self, data):
        if self.tags and self.tags[-1][0] == 'title' and not self.title:
            self.title = data
        if self.links:
            self.links[-1][1 if self.in_a else 2] += data


def listing(target, port=P):
    """GET a listing: returns (response, links, entries) where entries are
    the (text, href) of links that are neither the parent nor a '?'/'#' link."""
    r = expect(get(port, target), 200, ctype=HTML_TYPE)
    p = Links()
    p.feed(r.body.decode('utf-8'))
    p.close()
    entries = []
    for href, text, _ in p.links:
        if href is None or href.startswith(('?', '#')):
            continue
        if is_ancestor_or_self(target, href):
            continue          # parent link, breadcrumbs
        entries.append((text.strip(), href))
    return r, p, entries


def is_ancestor_or_self(target, href):
    """HREF (resolved against the directory TARGET) names TARGET or one of
    its ancestors on this server."""
    url = urllib.parse.urljoin('http://server' + target, href.replace('\\', '/'))
    parts = urllib.parse.urlsplit(url)
    if parts.netloc != 'server' or parts.query:
        return False
    path = parts.path if parts.path.endswith('/') else parts.path + '/'
    return target.startswith(path)


def byte_order(names):
    return sorted(names, key=lambda n: n.encode('utf-8'))


def follow(base, href):
    """Resolve HREF against the directory URL like a browser and return the
    request target (path, query kept)."""
    # like a browser (WHATWG URL standard): '\\' is '/' in http URLs, tabs and
    # newlines are dropped, leading and trailing spaces trimmed
    href = href.replace('\\', '/').replace('\t', '').replace('\n', '').replace('\r', '')
    url = urllib.parse.urljoin(srv.url(base), href.strip(' '))
    parts = urllib.parse.urlsplit(url)
    check(parts.scheme == 'http' and parts.netloc == '%s:%d' % ('127.0.0.1', P),
          'href %r resolves to %r, not to this server' % (href, url))
    check(not parts.fragment, 'href %r has a fragment once resolved: %r' % (href, url))
    return parts.path + ('?' + parts.query if parts.query else '')


@test('root listing: 200 text/html, directories first with /, then files, byte order')
def root_order():
    r, p, entries = listing('/')
    dirs = byte_order(['Adir', 'empty', 'long', 'many', 'mdir', 'sub', 'weird', 'withindex', 'zz'])
    files = byte_order(['Z.txt', '_u.txt', 'a.txt', 'b.txt'])
    eq([t for t, _ in entries], [d + '/' for d in dirs] + files, 'entries in order')


@test('root listing: no ../ link')
def root_no_parent():
    r, p, entries = listing('/')
    hrefs = [h for h, _, _ in p.links]
    check('../' not in hrefs and '..' not in hrefs, 'parent link in the root listing: %r'
          % hrefs[:10])


@test('dotfiles and dot-directories are not listed')
def dotfiles():
    r, p, entries = listing('/')
    for text, href in entries:
        check(not text.startswith('.'), 'dotfile listed: %r' % text)
    check(b'.hidden' not in r.body, '.hidden appears in the page')
    r, p, entries = listing('/sub/')
    check(b'.env' not in r.body, '.env appears in the sub listing')


@test('subdirectory listing: parent link ../, entries, sizes and times')
def sub_listing():
    r, p, entries = listing('/sub/')
    hrefs = [h for h, _, _ in p.links]
    check('../' in hrefs, 'no ../ link in %r' % hrefs)
    eq(follow('/sub/', '../'), '/', 'parent link target')
    eq([t for t, _ in entries], ['inner/', 'one.txt', 'tiny.txt'], 'entries')
    tails = {text.strip(): tail for _, text, tail in p.links}
    one = tails.get('one.txt', '')
    check(re.search(r'12[,.\s]?345|(?<![\d.])1[23](\.\d+)?\s?(K|KB|KiB|kB|k)(?![a-zA-Z])', one),
          'no size for one.txt (12345 bytes) in its row: %r' % one)
    check(re.search(r'(?<![\d.])7(?![\d.])', tails.get('tiny.txt', '')),
          'no size for tiny.txt (7 bytes) in its row: %r' % tails.get('tiny.txt'))
    check('2021' in one, 'no modification time (2021) in the row of one.txt: %r' % one)


@test('following every entry of the sub listing (like a browser) -> 200')
def sub_follow():
    r, p, entries = listing('/sub/')
    for text, href in entries:
        t = follow('/sub/', href)
        g = get(P, t)
        eq(g.status, 200, 'GET %s (from href %r)' % (t, href))
        if text == 'one.txt':
            eq(g.body, FILES['sub/one.txt'], 'body of one.txt')


@test('weird names: raw <script> never appears; every name shown HTML-escaped')
def weird_escaped():
    r, p, entries = listing('/weird/')
    check(b'<script>' not in r.body.lower(), 'raw <script> in the page')
    check(b'<img' not in r.body.lower(), 'raw <img from a file name in the page')
    check(p.scripts == 0, 'the page contains a <script> element')
    check(b'<b>x' not in r.body, 'raw <b> from a directory name in the page')
    eq(len(entries), len(WEIRD_DIRS) + len(WEIRD), 'number of entries')
    texts = [t for t, _ in entries]
    # names with control characters or edge spaces may be shown differently
    shown = [t for t in texts if t in set(PRINTABLE) or t[:-1] in set(WEIRD_DIRS)]
    want = [d + '/' for d in byte_order(WEIRD_DIRS)] + byte_order(PRINTABLE)
    eq(shown, want, 'entries (decoded text) in order')


@test('weird names: each href, resolved like a browser, GETs the right file')
def weird_follow():
    r, p, entries = listing('/weird/')
    by_body = {FILES['weird/' + n]: n for n in WEIRD}
    reached = set()
    for text, href in entries:
        if text.endswith('/') and text[:-1] in WEIRD_DIRS:
            continue
        t = follow('/weird/', href)
        g = get(P, t)
        check(g.status == 200 and g.body in by_body,
              'entry %r: href %r -> GET %s -> %r' % (text, href, t, g))
        reached.add(by_body[g.body])
        if text in PRINTABLE:
            eq(by_body[g.body], text, 'file reached from the entry %r' % text)
    eq(sorted(set(WEIRD) - reached), [], 'files not reachable from the listing')


@test('weird directory names: each href leads to that directory\'s listing')
def weird_dirs():
    r, p, entries = listing('/weird/')
    by_text = dict(entries)
    for name in WEIRD_DIRS:
        href = by_text.get(name + '/')
        check(href is not None, 'no entry for %r/' % name)
        t = follow('/weird/', href)
        check(t.endswith('/'), 'directory href %r does not end in /' % href)
        sub, sp, sentries = listing(t)
        check(b'<script>' not in sub.body and b'<b>x' not in sub.body,
              'raw markup from the directory name %r in its own listing page' % name)
        check(sp.scripts == 0, 'a <script> element in the listing of %r' % name)
        eq([x for x, _ in sentries], ['f.txt'], 'entries of %r' % name)
        g = get(P, follow(t, sentries[0][1]))
        eq((g.status, g.body), (200, FILES['weird/%s/f.txt' % name]), 'f.txt in %r' % name)


@test('255-byte names: listed escaped, each href GETs its file')
def long_names():
    r, p, entries = listing('/long/')
    check(b'<<<' not in r.body, 'raw < from a long name in the page')
    eq(sorted(t for t, _ in entries), sorted(LONG), 'entries')
    for text, href in entries:
        g = get(P, follow('/long/', href))
        eq((g.status, g.body), (200, FILES['long/' + text]), 'GET of %r...' % text[:10])


@test('hrefs are percent-encoded: no raw space, quote, <, #, ? or non-ASCII')
def hrefs_encoded():
    r, p, entries = listing('/weird/')
    for text, href in entries:
        for ch in ' "<>#?':
            check(ch not in href, 'raw %r in href %r' % (ch, href))
        check(all(ord(c) < 128 for c in href), 'non-ASCII in href %r' % href)


@test('listing page: doctype, title naming the directory, viewport, inline CSS only')
def page_shape():
    r, p, entries = listing('/sub/')
    check(r.body[:15].lower() == b'<!doctype html>', 'no <!doctype html>: %r' % r.body[:40])
    check('/sub/' in p.title, 'title %r does not name /sub/' % p.title)
    tags = p.tags
    check(any(t == 'meta' and a.get('name') == 'viewport' for t, a in tags),
          'no <meta name=viewport> (readable on a phone)')
    check(any(t == 'style' for t, a in tags), 'no inline <style>')
    check(not any(t == 'link' and 'stylesheet' in (a.get('rel') or '') for t, a in tags),
          'external stylesheet')
    check(not any(t in ('script', 'img', 'iframe') for t, a in tags),
          'script/img/iframe in a listing')


@test('directory with index.html still serves index.html')
def with_index():
    expect(get(P, '/withindex/'), 200, body=FILES['withindex/index.html'])


@test('empty directory: a listing with only the parent link')
def empty_dir():
    r, p, entries = listing('/empty/')
    eq(entries, [], 'entries of an empty directory')
    check('../' in [h for h, _, _ in p.links], 'no parent link')


@test('directory without slash -> 301 to the slash form (listing on)')
def redirect():
    expect(get(P, '/sub'), 301, location='/sub/')


@test('HEAD of a listing: GET\'s headers, no body')
def head_listing():
    g = get(P, '/sub/')
    with Client(P) as c:
        c.send(req('HEAD', '/sub/') + req('GET', '/a.txt'))
        h = c.read_response('HEAD')
        expect(h, 200, method='HEAD')
        head_equal(h, g)
        expect(c.read_response(), 200, body=FILES['a.txt'])


@test('listing of 1500 files: all present, in order, keep-alive intact')
def many():
    with Client(P) as c:
        c.send(req('GET', '/many/') + req('GET', '/a.txt'))
        r = expect(c.read_response(), 200, ctype=HTML_TYPE)
        expect(c.read_response(), 200, body=FILES['a.txt'])
    p = Links()
    p.feed(r.body.decode('utf-8'))
    names = [t.strip() for h, t, _ in p.links if h and not h.startswith(('?', '#', '../'))
             and t.strip() in MANY_SET]
    eq(len(names), len(MANY), 'number of entries')
    eq(names, MANY, 'order')


@test('pipelined listings on one connection')
def pipelined():
    with Client(P) as c:
        c.send(req('GET', '/sub/') + req('GET', '/weird/') + req('GET', '/sub/'))
        a = expect(c.read_response(), 200)
        expect(c.read_response(), 200)
        b = expect(c.read_response(), 200)
        eq(a.body, b.body, 'same listing twice')


@test('without --listing: a directory without index.html -> 403, contents not revealed')
def off():
    for t in ('/sub/', '/', '/weird/'):
        r = expect(get(srv_off.port, t), 403)
        check(b'one.txt' not in r.body and b'a.txt' not in r.body,
              '403 body reveals the directory: %r' % r.body[:200])


# ---- custom error pages

@test('404.html in the root: a missing file -> 404 with exactly that page')
def custom_404():
    r = expect(get(srv_err.port, '/nope.txt'), 404, body=PAGE404, ctype=HTML_TYPE)
    check(not r.closes(), 'custom 404 closed the connection')


@test('404.html also for missing files in subdirectories and missing directories')
def custom_404_deep():
    for t in ('/sub/deeper/nope.html', '/no/such/dir/', '/ok.txt/'):
        expect(get(srv_err.port, t), 404, body=PAGE404)


@test('403.html in the root: a directory without index -> 403 with that page')
def custom_403():
    expect(get(srv_err.port, '/dir/'), 403, body=PAGE403, ctype=HTML_TYPE)


@test('416.html in the root: an unsatisfiable Range -> 416 with that page, Content-Range')
def custom_416():
    r = exchange(srv_err.port, req('GET', '/ok.txt', headers=[('Range', 'bytes=10-')]))
    check(r.status == 416, 'status %r' % r)
    eq(r.body, PAGE416, '416 body')
    eq(r.get('content-range'), 'bytes */3', 'Content-Range')
    eq(r.get('content-type'), HTML_TYPE, 'Content-Type')


@test('custom 404: HEAD has its Content-Length and no body; keep-alive intact')
def custom_404_head():
    with Client(srv_err.port) as c:
        c.send(req('HEAD', '/nope') + req('GET', '/nope') + req('GET', '/ok.txt'))
        h = expect(c.read_response('HEAD'), 404, method='HEAD')
        eq(h.get('content-length'), str(len(PAGE404)), 'HEAD Content-Length')
        expect(c.read_response(), 404, body=PAGE404)
        expect(c.read_response(), 200, body=b'ok\n')


@test('custom pages are not used for other statuses (405 keeps the built-in body)')
def custom_other_status():
    r = exchange(srv_err.port, req('POST', '/ok.txt', headers=[('Content-Length', '0')]))
    check(r.status in (405, 501), 'POST status %r' % r)
    check(r.body not in (PAGE404, PAGE403), 'error page file used for %d' % r.status)


@test('with --listing and 404.html: missing file -> custom 404; directory -> listing')
def custom_with_listing():
    expect(get(srv_err_listing.port, '/missing'), 404, body=PAGE404)
    r, p, entries = listing('/dir/', port=srv_err_listing.port)
    eq([t for t, _ in entries], ['file.txt'], 'entries')


@test('404.html that is a symlink out of the root: never served; built-in 404')
def custom_404_symlink():
    r = expect(get(srv_err2.port, '/nope'), 404)
    check(SECRET not in r.body, 'the 404 page leaked a file outside the root')


@test('403.html that is a directory: built-in 403')
def custom_403_dir():
    r = expect(get(srv_err2.port, '/dir/'), 403)
    check(b'a directory, not a page' not in r.body, 'served a file inside 403.html/')


@test('without error pages: the built-in 404 body')
def builtin_404():
    r = expect(get(P, '/nope.txt'), 404)
    check(r.body != PAGE404, 'custom page without a 404.html')
    check(len(r.body) > 0, 'empty 404 body')


run()
