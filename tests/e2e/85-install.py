#!/usr/bin/env python3
"""make install DESTDIR=... lays out the binary, manual, example configuration,
systemd units and default site where an operator looks for them; uninstall
takes them away again."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import Skip, check, eq, run, test  # noqa: E402

BUILDDIR = os.environ.get('PORTICO_BUILDDIR')
MAKE = os.environ.get('MAKE', 'make')
DEST = tempfile.mkdtemp(prefix='portico-install-')


def make(*targets):
    env = dict(os.environ)
    env.pop('MAKEFLAGS', None)  # a plain sub-make, not a slot of the parent's jobs
    env.pop('MFLAGS', None)
    r = subprocess.run([MAKE, '-s', '-C', BUILDDIR] + list(targets) + ['DESTDIR=' + DEST],
                       capture_output=True, timeout=120, env=env)
    check(r.returncode == 0, 'make %s failed: %r' % (' '.join(targets), r.stderr[-500:]))


def installed():
    out = set()
    for d, _, files in os.walk(DEST):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), DEST))
    return out


def find(suffix):
    hits = [p for p in installed() if p.endswith(suffix)]
    check(len(hits) == 1, 'want one installed %s, got %r' % (suffix, hits))
    return os.path.join(DEST, hits[0])


@test('make install DESTDIR=... puts every piece in place')
def install_tree():
    if not BUILDDIR:
        raise Skip('PORTICO_BUILDDIR not set (run under make check)')
    make('install')
    files = installed()
    for want in ('sbin/portico', 'share/man/man8/portico.8', 'etc/portico/portico.conf.example',
                 'lib/systemd/system/portico.service', 'lib/systemd/system/portico.socket',
                 'share/portico/www/index.html', 'share/portico/www/style.css',
                 'share/portico/www/img/logo.svg'):
        check(any(f.endswith(want) for f in files), '%s not installed: %r' % (want, sorted(files)))


@test('the installed binary runs and its unit points at it and at the configuration')
def installed_binary():
    if not BUILDDIR:
        raise Skip('PORTICO_BUILDDIR not set')
    binary = find('sbin/portico')
    r = subprocess.run([binary, '--version'], capture_output=True, timeout=10)
    eq(r.returncode, 0, 'portico --version exit code')
    check(r.stdout.startswith(b'portico '), 'version output %r' % r.stdout)
    unit = open(find('portico.service')).read()
    check('@sbindir@' not in unit and '@sysconfdir@' not in unit, 'unsubstituted unit: %r' % unit)
    exec_start = [line for line in unit.splitlines() if line.startswith('ExecStart=')]
    check(exec_start and exec_start[0].split('=', 1)[1].split()[0].endswith('/sbin/portico'),
          'ExecStart %r' % exec_start)
    check('Type=notify' in unit and 'ExecReload=' in unit, 'unit lacks notify/reload')
    check('portico.conf' in unit, 'unit does not name the configuration file')


@test('the example configuration passes portico -t')
def example_config_checks():
    if not BUILDDIR:
        raise Skip('PORTICO_BUILDDIR not set')
    binary = find('sbin/portico')
    site = find('share/portico/www/index.html')
    r = subprocess.run([binary, '-t', '-c', find('portico.conf.example'), '-r',
                        os.path.dirname(site), '-p', '0'], capture_output=True, timeout=10)
    eq(r.returncode, 0, 'exit code of -t (stderr %r)' % r.stderr)
    check(b'configuration OK' in r.stdout, 'stdout %r' % r.stdout)


@test('the manual documents every option of --help')
def manual_complete():
    if not BUILDDIR:
        raise Skip('PORTICO_BUILDDIR not set')
    text = open(find('man8/portico.8'), errors='replace').read().replace('\\-', '-')
    helptext = subprocess.run([find('sbin/portico'), '--help'], capture_output=True,
                              timeout=10).stdout.decode()
    opts = {w.rstrip(',') for w in helptext.split() if w.startswith('--') and len(w) > 3}
    missing = sorted(o for o in opts if o not in text)
    check(not missing, 'options missing from portico.8: %r' % missing)


@test('make uninstall removes every file it installed')
def uninstall():
    if not BUILDDIR:
        raise Skip('PORTICO_BUILDDIR not set')
    make('uninstall')
    eq(sorted(installed()), [], 'files left after uninstall')


try:
    run()
finally:
    shutil.rmtree(DEST, ignore_errors=True)
