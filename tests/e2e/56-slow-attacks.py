#!/usr/bin/env python3
"""Slow-client attacks with Debian's slowhttptest (issue 6): slowloris (-H),
slow body (-B) and slow read (-X), each with PORTICO_ATTACK_CONNECTIONS
connections (300 under make check, 1,500 under make stress).  During each
attack a normal client's GETs must be answered in < 200 ms, and the server
itself must close every attack connection through its timeouts while the
attacker would still hold them open (counted from the server's side of the
sockets, not from what slowhttptest believes).  Figures print as '# ...'."""

import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (HOST, Skip, SlowDownload, check, measure_latency,  # noqa: E402
                          new_root, percentile, req, run, set_script_timeout, skip_all,
                          spawn, start_server, stop_proc, tcp_socket_fields, test, wait_until)

N = int(os.environ.get('PORTICO_ATTACK_CONNECTIONS', '300'))
# the server's header, body and send timeouts (seconds): longer than slowhttptest
# takes to open all its connections (about 1,000 a second), so that they are all
# open at once before the first is cut
TIMEOUT = 2 + N // 500
LENGTH = TIMEOUT + 12  # slowhttptest's test length: far longer than the timeouts
A = b'file a\n'
BIG = os.urandom(1 << 20)
HUGE = 16 << 20
PARENT, ROOT = new_root({'a.txt': A, 'big.bin': BIG, 'huge.bin': os.urandom(HUGE)})
TOOL = shutil.which('slowhttptest')
if not TOOL:
    skip_all('slowhttptest not installed (scripts/install-deps installs it)')
set_script_timeout(3 * (LENGTH + 15) + 20)

_srv = {}


def note(fmt, *args):
    print('# ' + (fmt % args if args else fmt), flush=True)


def server():
    if 'srv' not in _srv:
        _srv['srv'] = start_server(ROOT, '--send-timeout', str(TIMEOUT), '--body-timeout',
                                   str(TIMEOUT), header_timeout=TIMEOUT,
                                   keepalive_timeout=TIMEOUT, workers=2)
    return _srv['srv']


# TCP states that hold a server resource: everything but LISTEN, TIME_WAIT, CLOSE
_HOLDING = {'01', '02', '03', '04', '05', '08', '09', '0B'}


def server_sockets(port):
    """Sockets on our side of PORT that still hold something: established,
    or closed by us with data the kernel is still sending (an orphan)."""
    want = ':%04X' % port
    n = 0
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split(None, 4)
                    if fields[1].endswith(want) and fields[3] in _HOLDING:
                        n += 1
        except FileNotFoundError:
            pass
    return n


def tcp_memory():
    """Bytes of memory the kernel's TCP stack holds now (all sockets)."""
    with open('/proc/net/sockstat') as f:
        m = re.search(r'^TCP:.* mem (\d+)', f.read(), re.M)
    return int(m.group(1)) * resource.getpagesize() if m else 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def attack(name, mode_args, target, max_kib_each=None):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < N + 100:
        raise Skip('the descriptor limit (%d) is below %d attack connections' % (hard, N))
    s = server()
    out_dir = os.path.join(PARENT, name)
    os.mkdir(out_dir)
    url = 'http://%s:%d%s' % (HOST, s.port, target)
    p = spawn([TOOL, '-c', str(N), '-r', str(min(N, 1000)), '-l', str(LENGTH), '-g', '-o',
               os.path.join(out_dir, 'stats'), '-u', url] + mode_args,
              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=out_dir,
              preexec_fn=raise_nofile)
    t0 = time.monotonic()
    lat, lat_err, peak = [], [], [0, 0.0]
    mem0, mem_peak = tcp_memory(), [0]
    # a normal client, every 100 ms through the attack
    probe = threading.Thread(target=measure_latency,
                             args=(s.port, '/a.txt', A, int((LENGTH - 2) / 0.1), 0.1, lat,
                                   lat_err), daemon=True)
    probe.start()
    try:
        def attack_over():
            n = server_sockets(s.port)
            mem_peak[0] = max(mem_peak[0], tcp_memory() - mem0)
            if n > peak[0]:
                peak[:] = [n, time.monotonic() - t0]
            # the attack has peaked and the server has let go of (almost) all of it
            return peak[0] >= 0.9 * N and n <= N // 100
        cleared = wait_until(attack_over, LENGTH - 1, 0.1)
        cleared_at = time.monotonic() - t0
        running = 'still running' if p.poll() is None else 'stopped: all its connections closed'
        probe.join(LENGTH + 5)
        try:
            out, _ = p.communicate(timeout=LENGTH + 10)
        except subprocess.TimeoutExpired:
            stop_proc(p)
            out, _ = p.communicate(timeout=5)
    finally:
        stop_proc(p)
    text = re.sub(r'\x1b\[[0-9;]*m', '', out.decode('utf-8', 'replace'))  # its colours
    exit_status = (re.findall(r'Exit status:\s*(.*)', text) or ['no exit status'])[-1].strip()
    rows = []
    try:
        with open(os.path.join(out_dir, 'stats.csv')) as f:
            rows = list(csv.DictReader(f))
    except OSError:
        pass
    last = rows[-1] if rows else {}
    note('%s: %d connections; at most %d open on the server at once (%.1f s in); '
         'the server had closed all but %d by %.1f s (timeouts %d s); the attacker was %s',
         name, N, peak[0], peak[1], server_sockets(s.port), cleared_at, TIMEOUT, running)
    note('%s: kernel TCP memory at most %.1f MiB above the start (%.0f KiB an attack '
         'connection, both ends)', name, mem_peak[0] / 1048576, mem_peak[0] / 1024 / N)
    note('%s: slowhttptest: last second closed %s, connected %s; exit status: %s', name,
         last.get('Closed', '?'), last.get('Connected', '?'), exit_status)
    note('%s: normal GET during the attack: %d requests, p50 %.1f ms, p99 %.1f ms, '
         'max %.1f ms, %d failed', name, len(lat), (percentile(lat, 50) or 0) * 1000,
         (percentile(lat, 99) or 0) * 1000, max(lat or [0]) * 1000, len(lat_err))
    check(peak[0] >= 0.9 * N, 'the attack never held %d connections (peak %d)' % (N, peak[0]))
    # slowhttptest holds its connections for LENGTH s unless the server closes them
    # (then it stops early: 'No open connections left'); crashing would also stop it
    check(exit_status in ('No open connections left', 'Hit test time limit'),
          'slowhttptest ended with %r' % exit_status)
    check(cleared and cleared_at < LENGTH - 3,
          'the server did not close the attack connections by itself while the attack ran')
    check(not lat_err, 'the normal client failed during the attack: %r' % lat_err[:3])
    check(len(lat) >= 50, 'only %d normal requests were made' % len(lat))
    # held up by the attack, it would wait for the timeouts (>= 2 s): half of that holds
    # under ASan on two busy cores
    check(max(lat) < 1.0, 'a normal request took %.0f ms during the attack' % (max(lat) * 1000))
    if max_kib_each is not None:
        check(mem_peak[0] / 1024 / N < max_kib_each, 'the kernel held %.0f KiB for each attack '
              'connection (limit %d)' % (mem_peak[0] / 1024 / N, max_kib_each))
    check(s.alive(), 'server died')


@test('slowloris (slowhttptest -H): %d connections trickling headers are cut by the '
      'header timeout; normal GETs < 200 ms' % N)
def slow_headers():
    attack('slowloris', ['-H', '-i', '1'], '/a.txt')


@test('slow body (slowhttptest -B): %d POSTs trickling a 100 kB body are cut by the '
      'body timeout; normal GETs < 200 ms' % N)
def slow_body():
    attack('slow body', ['-B', '-i', '1', '-s', '100000'], '/a.txt')


@test('slow read (slowhttptest -X): %d connections reading 32 bytes a second through a '
      'tiny window are reset by the send timeout, holding < 1 MiB of kernel memory each; '
      'normal GETs < 200 ms' % N)
def slow_read():
    # TCP_NOTSENT_LOWAT keeps what a stalled socket queues small (~0.3 MiB a
    # connection here, both ends); without it each one queued ~3.8 MiB
    attack('slow read', ['-X', '-k', '2', '-n', '1', '-z', '32', '-w', '512', '-y', '1024'],
           '/big.bin', max_kib_each=1024)


def queued_after(port, c, wait=0.5):
    """Bytes our side of C's connection holds unacknowledged or unsent, after WAIT
    seconds in which the server fills what the kernel lets it queue."""
    time.sleep(wait)
    fields = tcp_socket_fields(port, c.sock.getsockname()[1])
    return int(fields[4].split(':')[0], 16) if fields else None


@test('send queue: a reader that took 2 MiB quickly and then stalls may have up to 4 MiB '
      'queued; one that never reads keeps the low-water mark (< 512 KiB)')
def lowat_raised_for_fast_readers():
    port = server().port
    # a modest window each; the fast one reads its first 2 MiB at full speed
    fast = SlowDownload(port, '/huge.bin', HUGE, rcvbuf=256 << 10).start(first=2 << 20)
    stalled = SlowDownload(port, '/huge.bin', HUGE, rcvbuf=256 << 10)
    queued = {'fast': queued_after(port, fast.c), 'stalled': queued_after(port, stalled.c, 0)}
    fast.close()
    stalled.close()
    note('server-side send queue: %s', queued)
    check(queued['stalled'] is not None and queued['stalled'] < 512 << 10,
          'a reader that never read has %r bytes queued' % queued['stalled'])
    check(queued['fast'] is not None and 1 << 20 < queued['fast'] < 6 << 20,
          'a fast reader that stalled has %r bytes queued (want 1-6 MiB)' % queued['fast'])


@test('send queue: the raised mark lasts one response; the next one on the connection, '
      'never read, keeps < 512 KiB queued')
def lowat_back_after_the_response():
    port = server().port
    d = SlowDownload(port, '/huge.bin', HUGE, rcvbuf=256 << 10)
    d.start().finish(slow_until=0)  # all of it at full speed: the mark is raised
    d.c.send(req('GET', '/huge.bin'))
    queued = queued_after(port, d.c)
    d.close()
    note('server-side send queue for the second, unread response: %s', queued)
    check(queued is not None and queued < 512 << 10,
          'the second response has %r bytes queued' % queued)


run()
