"""Headless Chromium for the browser tests: one run that prints the DOM it ends
with, or a session driven over the DevTools protocol. Each run has a new, empty
profile, talks only to the URLs it is given and is stopped (its whole process
group) when it is done or after BROWSER_TIMEOUT seconds."""

import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

from portico_test import check, mkdtemp

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
BROWSER_TIMEOUT = 20   # one Chromium run

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-extensions', '--disable-default-apps', '--mute-audio',
         '--autoplay-policy=no-user-gesture-required']


def browser_cmd(*args):
    profile = os.path.join(mkdtemp(), 'profile')   # a new empty profile each run
    os.mkdir(profile)
    return [CHROMIUM] + FLAGS + ['--user-data-dir=' + profile] + list(args)


def stop_group(p):
    """Chromium forks zygotes and renderers: it runs in a session of its own
    and the whole group (id = the PID we started) is killed by that id."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def chromium(*args):
    """Run Chromium to completion (bounded); return its stdout as text."""
    p = subprocess.Popen(browser_cmd(*args), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=BROWSER_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_group(p)
        raise AssertionError('chromium did not finish within %d s' % BROWSER_TIMEOUT)
    finally:
        stop_group(p)   # stray children of a finished run, if any
    check(p.returncode == 0, 'chromium exited with %s: %s'
          % (p.returncode, err.decode('utf-8', 'replace')[-600:]))
    return out.decode('utf-8', 'replace')


FD_WRAPPER = ('import os, sys\n'
              'r, w = int(sys.argv[1]), int(sys.argv[2])\n'
              'os.dup2(r, 3)\n'
              'os.dup2(w, 4)\n'
              'os.close(r)\n'
              'os.close(w)\n'
              'os.execv(sys.argv[3], sys.argv[3:])\n')


class DevTools:
    """Chromium under --remote-debugging-pipe: DevTools protocol messages are
    NUL-terminated JSON on fds 3 (to Chromium) and 4 (from it)."""

    def __init__(self):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        # Above 4, so that moving them onto 3 and 4 cannot clobber each other.
        hi_r = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_r)
        os.close(from_w)
        # A tiny exec wrapper (not preexec_fn: this process has threads).
        cmd = [sys.executable, '-c', FD_WRAPPER, str(hi_r), str(hi_w)] + \
            browser_cmd('--remote-debugging-pipe', 'about:blank')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(hi_r, hi_w),
                                     start_new_session=True)
        os.close(hi_r)
        os.close(hi_w)
        self.buf = b''
        self.events = []    # notifications (Network.responseReceived, ...) as they came
        self.next_id = 0
        self.deadline = time.monotonic() + BROWSER_TIMEOUT

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {'id': self.next_id, 'method': method, 'params': params or {}}
        if session:
            msg['sessionId'] = session
        os.write(self.to_w, json.dumps(msg).encode() + b'\0')
        while True:
            while b'\0' in self.buf:
                raw, self.buf = self.buf.split(b'\0', 1)
                m = json.loads(raw)
                if m.get('id') == self.next_id:
                    check('error' not in m, '%s: %s' % (method, m.get('error')))
                    return m['result']
                if 'method' in m:
                    self.events.append(m)
            left = self.deadline - time.monotonic()
            check(left > 0, 'chromium did not answer %s within %d s' % (method, BROWSER_TIMEOUT))
            r, _, _ = select.select([self.from_r], [], [], left)
            if r:
                data = os.read(self.from_r, 65536)
                check(data, 'chromium closed the DevTools pipe (exit %s)' % self.proc.poll())
                self.buf += data

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.call('Browser.close')
                    self.proc.wait(timeout=5)
                except (AssertionError, OSError, subprocess.TimeoutExpired):
                    pass
        finally:
            stop_group(self.proc)
            os.close(self.to_w)
            os.close(self.from_r)


def result_json(html):
    m = re.search(r'<pre id="result">(.*?)</pre>', html, re.S)
    check(m, 'no <pre id="result"> in the dumped DOM: %r' % html[-300:])
    text = m.group(1)
    check(text != 'pending', 'the page\'s load handler never ran (result still "pending")')
    return json.loads(text.replace('&quot;', '"').replace('&lt;', '<').replace('&gt;', '>')
                      .replace('&amp;', '&'))
