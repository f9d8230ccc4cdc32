#!/usr/bin/env python3
"""Fresh by default, with the real clients that were served stale files: apt
against a small Debian repository republished by rename (files renamed into
place, then the whole dists/ directory swapped), and git fetching over dumb HTTP
after `git update-server-info`. Each client runs right after the change, with
no sleep in between, and must see the new version."""

import email.utils
import hashlib
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean (distcheck: read-only)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (Skip, check, eq, mkdtemp, new_root, run, set_mtime,  # noqa: E402
                          start_server, test)

PARENT, ROOT = new_root({'index.html': b'<p>a repository and a git remote</p>\n'})
# an hour of revalidation: only a notification can make a change visible
srv = start_server(ROOT, '--revalidate', '3600')
WORK = mkdtemp()
PKG = 'portico-fresh-probe'
T0 = int(time.time()) - 3600


def sh(*argv, cwd=None, env=None, timeout=30):
    r = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError('%s exited %d: %s' % (' '.join(argv[:3]), r.returncode,
                                                   (r.stderr or r.stdout).decode(errors='replace')
                                                   .strip()[-400:]))
    return r.stdout.decode(errors='replace')


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise Skip('%s not installed' % ', '.join(missing))


# ---- apt

REPO = os.path.join(ROOT, 'debian')


def build_deb(version):
    """A real, installable .deb of PKG at VERSION in the pool; its Packages stanza."""
    tree = os.path.join(WORK, 'pkg-%s' % version)
    os.makedirs(os.path.join(tree, 'DEBIAN'))
    with open(os.path.join(tree, 'DEBIAN', 'control'), 'w') as f:
        f.write('Package: %s\nVersion: %s\nArchitecture: all\n'
                'Maintainer: portico tests <tests@localhost>\n'
                'Description: a package that exists to be found\n' % (PKG, version))
    pool = os.path.join(REPO, 'pool')
    os.makedirs(pool, exist_ok=True)
    name = '%s_%s_all.deb' % (PKG, version)
    sh('dpkg-deb', '--root-owner-group', '-Zgzip', '--build', tree, os.path.join(pool, name))
    data = open(os.path.join(pool, name), 'rb').read()
    return ('Package: %s\nVersion: %s\nArchitecture: all\n'
            'Maintainer: portico tests <tests@localhost>\nFilename: pool/%s\nSize: %d\n'
            'SHA256: %s\nDescription: a package that exists to be found\n'
            % (PKG, version, name, len(data), hashlib.sha256(data).hexdigest()))


def write_dists(dists, stanza, mtime, swap_files):
    """dists/stable/{Release, main/binary-amd64/Packages}; with swap_files, each is
    written beside its place and renamed into it, as repository tools publish."""
    packages = stanza.encode()
    rel = 'main/binary-amd64/Packages'
    release = ('Origin: portico-test\nLabel: portico-test\nSuite: stable\nCodename: stable\n'
               'Date: %s\nArchitectures: amd64\nComponents: main\nSHA256:\n %s %d %s\n'
               % (email.utils.formatdate(mtime, usegmt=True),
                  hashlib.sha256(packages).hexdigest(), len(packages), rel)).encode()
    for name, data in ((os.path.join('stable', rel), packages),
                       (os.path.join('stable', 'Release'), release)):
        target = os.path.join(dists, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = target + '.new' if swap_files else target
        with open(tmp, 'wb') as f:
            f.write(data)
        set_mtime(tmp, mtime)
        if swap_files:
            os.rename(tmp, target)


class Apt:
    """apt-get and apt-cache with a private configuration, state and cache."""

    def __init__(self, url):
        base = os.path.join(WORK, 'apt')
        for d in ('state/lists/partial', 'cache/archives/partial', 'parts', 'download'):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        open(os.path.join(base, 'status'), 'w').close()
        sources = os.path.join(base, 'sources.list')
        with open(sources, 'w') as f:
            f.write('deb [trusted=yes] %s stable main\n' % url)
        self.download = os.path.join(base, 'download')
        self.opts = []
        for k, v in (('Dir::Etc::sourcelist', sources),
                     ('Dir::Etc::sourceparts', os.path.join(base, 'parts')),
                     ('Dir::Etc::preferencesparts', os.path.join(base, 'parts')),
                     ('Dir::State', os.path.join(base, 'state')),
                     ('Dir::State::status', os.path.join(base, 'status')),
                     ('Dir::Cache', os.path.join(base, 'cache')),
                     ('Debug::NoLocking', '1'), ('APT::Sandbox::User', 'root'),
                     ('Acquire::Languages', 'none'), ('Acquire::http::Proxy', 'DIRECT'),
                     ('APT::Architecture', 'amd64'), ('APT::Architectures', 'amd64')):
            self.opts += ['-o', '%s=%s' % (k, v)]

    def update(self):
        return sh('apt-get', '-q', *self.opts, 'update', timeout=60)

    def candidate(self):
        for line in sh('apt-cache', *self.opts, 'policy', PKG).splitlines():
            if line.strip().startswith('Candidate:'):
                return line.split(':', 1)[1].strip()
        return None

    def fetch(self, version):
        sh('apt-get', '-q', *self.opts, 'download', '%s=%s' % (PKG, version),
           cwd=self.download, timeout=60)
        return os.path.exists(os.path.join(self.download, '%s_%s_all.deb' % (PKG, version)))


APT = []


def apt_client():
    need('apt-get', 'apt-cache', 'dpkg-deb')
    if not APT:
        write_dists(os.path.join(REPO, 'dists'), build_deb('1.0'), T0, swap_files=False)
        APT.append(Apt(srv.url('/debian')))
        out = APT[0].update()
        check('Get:' in out, 'first update fetched nothing: %r' % out[-300:])
        eq(APT[0].candidate(), '1.0', 'candidate after the first update')
    return APT[0]


@test('apt: a repository republished by renaming its files into place, then apt-get update '
      'at once: the new version is found and downloaded')
def apt_files_renamed():
    apt = apt_client()
    write_dists(os.path.join(REPO, 'dists'), build_deb('2.0'), T0 + 60, swap_files=True)
    out = apt.update()
    check('Hit:' not in out, 'apt says "Hit" for the republished Release: %r' % out[-300:])
    eq(apt.candidate(), '2.0', 'candidate after the republish')
    check(apt.fetch('2.0'), 'the new .deb was not downloaded')


@test('apt: a repository republished by swapping dists/ for a new directory, then apt-get '
      'update at once: the new version is found')
def apt_dir_swapped():
    apt = apt_client()
    new = os.path.join(REPO, 'dists.new')
    write_dists(new, build_deb('3.0'), T0 + 120, swap_files=False)
    os.rename(os.path.join(REPO, 'dists'), os.path.join(REPO, 'dists.old'))
    os.rename(new, os.path.join(REPO, 'dists'))
    out = apt.update()
    check('Hit:' not in out, 'apt says "Hit" for the swapped Release: %r' % out[-300:])
    eq(apt.candidate(), '3.0', 'candidate after the swap')
    shutil.rmtree(os.path.join(REPO, 'dists.old'))


# ---- git over dumb HTTP

GIT_ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM='1', HOME=WORK, GIT_TERMINAL_PROMPT='0',
               GIT_AUTHOR_NAME='portico', GIT_AUTHOR_EMAIL='tests@localhost',
               GIT_COMMITTER_NAME='portico', GIT_COMMITTER_EMAIL='tests@localhost')


def git(*args, cwd=None):
    return sh('git', *args, cwd=cwd, env=GIT_ENV).strip()


def commit(work, n):
    with open(os.path.join(work, 'file.txt'), 'a') as f:
        f.write('change %d\n' % n)
    git('add', 'file.txt', cwd=work)
    git('commit', '-q', '-m', 'change %d' % n, cwd=work)
    return git('rev-parse', 'HEAD', cwd=work)


@test('git: a push, `git update-server-info`, then `git fetch` over dumb HTTP at once: the '
      'new commit arrives, twice in a row')
def git_dumb_fetch():
    need('git')
    bare = os.path.join(ROOT, 'repo.git')
    work = os.path.join(WORK, 'work')
    clone = os.path.join(WORK, 'clone')
    git('init', '-q', '--bare', '-b', 'main', bare)
    git('init', '-q', '-b', 'main', work)
    commit(work, 1)
    git('push', '-q', bare, 'main', cwd=work)
    git('update-server-info', cwd=bare)
    git('clone', '-q', srv.url('/repo.git'), clone)
    for n in (2, 3):
        head = commit(work, n)
        git('push', '-q', bare, 'main', cwd=work)
        git('update-server-info', cwd=bare)
        git('fetch', '-q', 'origin', cwd=clone)
        eq(git('rev-parse', 'origin/main', cwd=clone), head, 'origin/main after fetch %d' % n)


run()
