#!/usr/bin/env python3
"""A single-page app in a real browser: headless Chromium against portico with
`spa`. The app routes on the client with history.pushState; loading (or
reloading) a deep route renders the app, while a missing script and a data fetch
for a missing file stay 404 in the browser's own record of its requests (resource
timing and fetch). Skipped (exit 77) where no Chromium is installed."""

import json
import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import browser  # noqa: E402
import portico_test  # noqa: E402
from browser import DevTools, chromium, result_json  # noqa: E402
from portico_test import (check, eq, mkdtemp, make_tree, run, skip_all, start_server,  # noqa: E402
                          test)

if not browser.CHROMIUM:
    skip_all('no chromium or chromium-browser in PATH (scripts/install-deps installs it)')
portico_test.SCRIPT_TIMEOUT = 90

SHELL = b'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>spa</title>
<link rel="icon" href="data:,">
<script src="/assets/app.js"></script>
<script src="/assets/missing.js" onerror="window.missingFailed = true"></script>
</head><body><main id="view">loading</main><pre id="result">pending</pre></body></html>
'''

# The app: renders the route it was loaded at, then navigates on the client with
# pushState, then reports what the browser saw of its requests.
APP = b'''
function render() { document.getElementById('view').textContent = 'route:' + location.pathname; }
window.addEventListener('load', async function () {
  render();
  var loaded = document.getElementById('view').textContent;
  history.pushState({}, '', '/settings/profile?tab=2');
  render();
  var pushed = document.getElementById('view').textContent;
  var data = await fetch('/api/users.json', {headers: {Accept: 'application/json'}});
  var entry = performance.getEntriesByName(new URL('/assets/missing.js', location).href)[0];
  document.getElementById('result').textContent = JSON.stringify({
    loaded: loaded, pushed: pushed, dataStatus: data.status,
    missingFailed: window.missingFailed === true,
    missingStatus: entry ? entry.responseStatus : null,
    shellTitle: document.title});
});
'''

PARENT = mkdtemp()
ROOT = make_tree(os.path.join(PARENT, 'root'), {'index.html': SHELL, 'assets/app.js': APP})
srv = start_server(ROOT, '--spa')


def load(path):
    html = chromium('--dump-dom', '--virtual-time-budget=5000', srv.url(path))
    return result_json(html)


ROUTES = ['/', '/settings/profile', '/deep/nested/route', '/settings/profile?tab=2']


def route_case(path):
    r = load(path)
    eq(r['shellTitle'], 'spa', 'the app shell was served')
    eq(r['loaded'], 'route:' + path.split('?')[0], 'the route rendered on load')
    eq(r['pushed'], 'route:/settings/profile', 'the route after pushState')
    eq(r['dataStatus'], 404, 'fetch of a missing JSON file (Accept: application/json)')
    eq(r['missingFailed'], True, 'the missing script fired onerror')
    eq(r['missingStatus'], 404, 'resource-timing status of /assets/missing.js')


for _p in ROUTES:
    portico_test.add_case('loading %s renders the app; missing files stay 404' % _p,
                          route_case, _p)


@test('reloading a route reached with pushState renders the app there')
def reload_after_push():
    dt = DevTools()
    try:
        target = dt.call('Target.createTarget', {'url': srv.url('/')})['targetId']
        session = dt.call('Target.attachToTarget',
                          {'targetId': target, 'flatten': True})['sessionId']

        def state():
            v = dt.call('Runtime.evaluate', {'expression': '''JSON.stringify({
                ready: document.readyState, path: location.pathname, old: window.__old === 1,
                view: (document.getElementById('view') || {}).textContent || null,
                result: (document.getElementById('result') || {}).textContent || null})''',
                                             'returnByValue': True}, session)
            return json.loads(v['result'].get('value') or '{}')

        def wait(what, fn):
            while True:
                st = state()
                if fn(st):
                    return st
                check(time.monotonic() < dt.deadline - 2, '%s never happened: %r' % (what, st))
                time.sleep(0.05)

        wait('the first load', lambda st: st.get('result') not in (None, 'pending'))
        dt.call('Runtime.evaluate', {'expression': 'window.__old = 1'}, session)
        dt.call('Page.reload', {}, session)   # now at /settings/profile?tab=2
        st = wait('the reload', lambda st: st.get('ready') == 'complete' and not st.get('old')
                  and st.get('view') not in (None, 'loading'))
        eq(st['path'], '/settings/profile', 'location after the reload')
        eq(st['view'], 'route:/settings/profile', 'the app rendered the route it was reloaded at')
    finally:
        dt.close()


try:
    run()
finally:
    srv.stop()
