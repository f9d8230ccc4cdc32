#!/usr/bin/env python3
"""Per-path rules: header (set, replace, remove; on files, redirects and errors;
every match in order), redirect ({path}, query, status, first match, before any
file), fallback, spa (navigations only) and clean URLs; patterns match the
decoded, normalised path, so no encoding or dot segment dodges a rule; the
command-line flags take the configuration lines' text."""

import gzip
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, Server, add_case, check, eq, exchange, get,  # noqa: E402
                          mkdtemp, make_tree, req, require_binary, run, run_portico,
                          set_script_timeout, stderr_one_line, test, write_config)

require_binary()
set_script_timeout(120)

BASE = mkdtemp()
ROOT = make_tree(os.path.join(BASE, 'root'), {
    'index.html': b'<!doctype html><title>app</title>\n',
    'assets/app.3f2a.js': b'console.log(1)\n',
    'assets/style.css': b'body{}\n',
    'assets/style.css.gz': gzip.compress(b'body{}\n', mtime=0),
    'private/secret.txt': b'secret\n',
    'about.html': b'about page\n',
    'docs/index.html': b'docs shell\n',
    'docs/guide.html': b'guide\n',
    'docs/notes.txt': b'notes\n',
    'old/kept.txt': b'never served: redirected first\n',
    'app.html': b'other shell\n',
    'blog/index.html': b'blog\n',
})
CONF = os.path.join(BASE, 'portico.conf')
write_config(CONF, [
    'root %s' % ROOT,
    'cache-control max-age=60',
    'header /assets/*  Cache-Control: public, max-age=31536000, immutable',
    'header *.html     Cache-Control: no-cache',
    'header /*         -Server',
    'header /*         X-Frame-Options: DENY',
    'header /private/* X-Frame-Options: SAMEORIGIN',
    'header /private/* X-Private: yes',
    'header *.css      -ETag',
    'header *.js       Content-Type: text/javascript; charset=utf-8',
    'header /assets/style.css Vary: Origin',
    'redirect /blog/*  https://blog.example.com/{path}',
    'redirect /old/*   /new/{path} 308',
    'redirect /moved   /about?from=moved 302',
    'redirect /old/*   /never-this-one',
    'fallback /docs/*  /docs/index.html',
    'fallback /nowhere/* /missing.html',
    'spa',
    'clean-urls on',
])
SERVER = Server(None, '-c', CONF).start()
PORT = SERVER.port


def fetch(target, method='GET', headers=()):
    return exchange(PORT, req(method, target, headers=list(headers)), method)


@test('a header rule replaces the global Cache-Control on the paths it matches')
def header_replaces():
    r = fetch('/assets/app.3f2a.js')
    eq(r.status, 200, 'status')
    eq(r.get_all('cache-control'), ['public, max-age=31536000, immutable'], 'Cache-Control')
    eq(fetch('/private/secret.txt').get_all('cache-control'), ['max-age=60'], 'not matched')
    r = fetch('/about.html')
    eq((r.status, r.get('cache-control')), (301, 'no-cache'), 'the path asked for, redirected')


@test('every matching rule applies, in order; a later one replaces an earlier one')
def header_order():
    r = fetch('/private/secret.txt')
    eq(r.get_all('x-frame-options'), ['SAMEORIGIN'], 'X-Frame-Options')
    eq(r.get('x-private'), 'yes', 'X-Private')
    eq(fetch('/index.html').get_all('x-frame-options'), ['DENY'], 'elsewhere')


@test("'-Name' removes portico's own headers")
def header_removes():
    r = fetch('/assets/style.css')
    eq(r.get('server'), None, 'Server')
    eq(r.get('etag'), None, 'ETag')
    check(r.get('last-modified') is not None, 'Last-Modified kept')
    check(fetch('/docs/').get('etag') is not None, 'ETag of another file')


@test('a Content-Type rule changes the type, also on 304 and 206')
def header_content_type():
    r = fetch('/assets/app.3f2a.js')
    eq(r.get('content-type'), 'text/javascript; charset=utf-8', 'Content-Type')
    r = fetch('/assets/app.3f2a.js', headers=[('Range', 'bytes=0-3')])
    eq((r.status, r.body), (206, b'cons'), 'range')
    eq(r.get('content-type'), 'text/javascript; charset=utf-8', 'Content-Type of a 206')


@test('the same file twice gets the same headers (the composed head is reused)')
def header_memo():
    a, b = fetch('/assets/app.3f2a.js'), fetch('/assets/app.3f2a.js')
    eq(b.headers, a.headers, 'headers of the second response')


@test('a Vary rule adds to what portico varies on, never replaces it')
def header_vary():
    r = fetch('/assets/style.css', headers=[('Accept-Encoding', 'gzip')])
    eq(r.get('content-encoding'), 'gzip', 'the pre-compressed sibling')
    eq(sorted(r.tokens('vary')), ['accept-encoding', 'origin'], 'Vary')


BAD_PATHS = ['/%zz', '/a%2Fb', '/..', '/' + 'x' * 9000]


def refused_path(target):
    r = fetch(target)
    check(r.status in (400, 414), 'status %d' % r.status)
    eq(r.get('x-frame-options'), 'DENY', 'the rule of /* on a refused path')
    eq(r.get('server'), None, 'Server removed by /*')


for _t in BAD_PATHS:
    add_case('a request refused before it has a path (%s) gets the rules of /*' % _t[:12],
             refused_path, _t)


@test('header rules apply to redirects and error responses')
def header_errors():
    r = fetch('/private/none.txt')
    eq(r.status, 404, 'status')
    eq(r.get('x-private'), 'yes', 'X-Private on a 404')
    eq(r.get('server'), None, 'Server on a 404')
    r = fetch('/private')
    eq(r.status, 301, 'directory redirect')
    eq(r.get('x-frame-options'), 'DENY', 'rule on a redirect (/private is not /private/*)')


DODGES = ['/%70rivate/secret.txt', '/private/../private/secret.txt', '/x/../private/secret.txt',
          '//private//secret.txt', '/private/./secret.txt', '/%2e/private/secret.txt']


def dodge(target):
    r = fetch(target)
    eq(r.status, 200, 'status')
    eq(r.body, b'secret\n', 'body')
    eq(r.get('x-private'), 'yes', 'the rule of /private/*')


for _t in DODGES:
    add_case('%s cannot dodge the rule of /private/*' % _t, dodge, _t)


REDIRECTS = [
    ('/blog/2024/a%20b.html', 301, 'https://blog.example.com/2024/a%20b.html'),
    ('/blog/x?page=2', 301, 'https://blog.example.com/x?page=2'),
    ('/blog/', 301, 'https://blog.example.com/'),
    ('/old/kept.txt', 308, '/new/kept.txt'),     # before any file: the file exists
    ('/old/%6Bept.txt?a=1', 308, '/new/kept.txt?a=1'),
    ('/moved?x=1', 302, '/about?from=moved'),    # the target's own query wins
]


def redirect_case(target, status, location):
    for method in ('GET', 'HEAD', 'POST'):
        r = exchange(PORT, req(method, target), method)
        eq(r.status, status, '%s status' % method)
        eq(r.get('location'), location, '%s Location' % method)
        eq(r.get('x-frame-options'), 'DENY', 'header rules on the redirect')


for _t, _s, _l in REDIRECTS:
    add_case('redirect %s' % _t, redirect_case, _t, _s, _l)


@test('/blog itself is no path beneath /blog/*: not redirected')
def redirect_prefix_only():
    eq(fetch('/blog').status, 301, 'the directory redirect to /blog/')
    eq(fetch('/blog').get('location'), '/blog/', 'Location')


@test('fallback: a missing path that matches gets the target with 200; others stay')
def fallback():
    r = fetch('/docs/guide/getting-started')
    eq((r.status, r.body), (200, b'docs shell\n'), 'missing → target')
    eq(fetch('/docs/notes.txt').body, b'notes\n', 'an existing file is itself')
    eq(fetch('/nowhere/x').status, 404, 'a fallback whose target is missing')
    eq(fetch('/docs/x.js', headers=[('Accept', '*/*')]).body, b'docs shell\n',
       'fallback applies whatever Accept says')


SPA = [
    # target, Accept, method, status
    ('/app/settings/profile', 'text/html,application/xhtml+xml,*/*;q=0.8', 'GET', 200),
    ('/deep/route', 'text/html', 'HEAD', 200),
    ('/route', 'TEXT/HTML;q=0.9', 'GET', 200),
    ('/app.js', 'text/html', 'GET', 404),              # a missing script stays 404
    ('/img/logo.png', 'text/html', 'GET', 404),
    ('/api/users', 'application/json', 'GET', 404),    # data, not a page
    ('/route', '*/*', 'GET', 404),                     # curl's default: not a browser
    ('/route', None, 'GET', 404),
    ('/route', 'text/html;q=0', 'GET', 404),
    ('/route', 'text/html', 'POST', 405),
]


def spa_case(target, accept, method, status):
    headers = [('Accept', accept)] if accept else []
    r = exchange(PORT, req(method, target, headers=headers), method)
    eq(r.status, status, 'status')
    if status in (200, 404) and '.' not in target.rsplit('/', 1)[1]:
        check('accept' in r.tokens('vary'), 'Vary: Accept (Vary %r)' % r.get_all('vary'))
    if status == 200:
        eq(r.get('cache-control'), 'no-cache', 'Cache-Control of the app shell')
        if method == 'GET':
            eq(r.body, b'<!doctype html><title>app</title>\n', 'body')


for _c in SPA:
    add_case('spa: %s %s Accept %s → %d' % (_c[2], _c[0], _c[1], _c[3]), spa_case, *_c)


@test('spa: a conditional request for the shell gets 304')
def spa_304():
    r = fetch('/some/route', headers=[('Accept', 'text/html')])
    r2 = fetch('/other/route', headers=[('Accept', 'text/html'),
                                        ('If-None-Match', r.get('etag'))])
    eq(r2.status, 304, 'status')


@test('clean URLs: /about serves about.html, /about.html redirects to /about')
def clean_urls():
    r = fetch('/about')
    eq((r.status, r.body), (200, b'about page\n'), '/about')
    eq(r.get('cache-control'), 'max-age=60', 'rules match /about, not about.html')
    r = fetch('/about.html?x=1')
    eq((r.status, r.get('location')), (301, '/about?x=1'), '/about.html')
    r = fetch('/docs/index.html')
    eq((r.status, r.get('location')), (301, '/docs/'), '/docs/index.html')
    eq(fetch('/index.html').get('location'), '/', '/index.html')
    eq(fetch('/about/').status, 404, 'no clean URL for a directory path')


@test('command-line flags take the text of a configuration line')
def flags():
    s = Server(ROOT, '--header', '/assets/* Cache-Control: max-age=5', '--header',
               '*.txt -Server', '--redirect', '/go /about 307', '--spa=/app.html',
               '--clean-urls', '--fallback', '/docs/* /docs/guide.html').start()
    try:
        eq(get(s.port, '/assets/style.css').get('cache-control'), 'max-age=5', 'header')
        eq(get(s.port, '/private/secret.txt').get('server'), None, 'header removal')
        r = get(s.port, '/go')
        eq((r.status, r.get('location')), (307, '/about'), 'redirect')
        r = exchange(s.port, req('GET', '/x', headers=[('Accept', 'text/html')]))
        eq(r.body, b'other shell\n', 'spa=FILE')
        eq(get(s.port, '/about').body, b'about page\n', 'clean-urls')
        eq(get(s.port, '/docs/missing').body, b'guide\n', 'fallback')
    finally:
        s.stop()


BAD_FLAGS = [
    (['--header', 'assets/* X: y'], 'no pattern'),
    (['--header', '/* Content-Length: 1'], 'frames the message'),
    (['--redirect', '/a /b 200'], '301, 302, 303, 307 or 308'),
    (['--spa=index.html'], 'no path beneath the root'),
    (['--header', '/* X-A: a\nInjected: yes'], 'a control character'),
    (['--redirect', '/a /b\r\nX: y'], 'a control character'),
]


def bad_flag(args, needle):
    code, out, err = run_portico(['-p', '0', '-b', HOST, '-q', '-w', '1'] + args + [ROOT])
    line = stderr_one_line(err, code, 2)
    check(needle in line, '%r not in %r' % (needle, line))


for _a, _n in BAD_FLAGS:
    add_case('a bad flag is one line: %r' % ' '.join(_a), bad_flag, _a, _n)


run()
