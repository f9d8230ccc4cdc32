#!/usr/bin/env python3
"""systemd integration without systemd: the sd_notify datagrams (READY, RELOADING,
STOPPING) on $NOTIFY_SOCKET, and listening sockets handed over as LISTEN_FDS."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (BIN, check, eq, expect, get, new_root, require_binary, run,  # noqa: E402
                          test)

FILES = {'a.txt': b'file a\n'}
_, ROOT = new_root(FILES)
require_binary()


def messages(sock, until, timeout=5.0):
    """Datagrams received until one contains UNTIL."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            break
        if until in got[-1]:
            return got
    raise AssertionError('no %r within %.0f s; got %r' % (until, timeout, got))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=12)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@test('NOTIFY_SOCKET: READY=1 once serving, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1')
def notify():
    d = tempfile.mkdtemp(prefix='portico-notify-')
    path = os.path.join(d, 'notify')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    p = subprocess.Popen([BIN, '-p', '0', '-b', '127.0.0.1', '-q', '-w', '1', ROOT], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = p.stdout.readline().decode()
        port = int(line.rsplit(':', 1)[1].split('/')[0])
        ready = messages(sock, 'READY=1')
        check(any('READY=1' in m for m in ready), 'messages %r' % ready)
        expect(get(port, '/a.txt'), 200, body=FILES['a.txt'])
        p.send_signal(signal.SIGHUP)
        reload_msgs = messages(sock, 'READY=1')
        check(any('RELOADING=1' in m for m in reload_msgs), 'no RELOADING=1 in %r' % reload_msgs)
        p.send_signal(signal.SIGTERM)
        check(any('STOPPING=1' in m for m in messages(sock, 'STOPPING=1')), 'no STOPPING=1')
        eq(p.wait(timeout=12), 0, 'exit status')
    finally:
        stop(p)
        sock.close()
        os.unlink(path)
        os.rmdir(d)


@test('LISTEN_FDS: a socket handed over on fd 3 is served; nothing else is bound')
def socket_activation():
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(('127.0.0.1', 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]

    # the shell moves the socket to fd 3; LISTEN_PID must be the server's own PID,
    # and the shell's $$ survives its exec
    fd = lsock.fileno()
    move = '' if fd == 3 else 'exec 3<&%d %d<&-; ' % (fd, fd)
    cmd = ['sh', '-c', move + 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"',
           BIN, '-q', '-w', '2', '-b', '127.0.0.1', '-p', '1', ROOT]
    p = subprocess.Popen(cmd, pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode()
        check(':%d/' % port in line, 'start-up line %r does not name the handed-over port %d'
              % (line, port))
        for _ in range(5):
            expect(get(port, '/a.txt'), 200, body=FILES['a.txt'])
        probe = socket.socket()
        probe.settimeout(2)
        try:
            refused = probe.connect_ex(('127.0.0.1', 1)) != 0
        finally:
            probe.close()
        check(refused, 'port 1 was bound although a socket was handed over')
    finally:
        stop(p)
        lsock.close()


run()
