/* Owns giving up privileges: the user workers become when started as root (never
 * root unless asked for by name) and the chroot. It never opens sockets or files. */
#include "build-config.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "portico/log.h"
#include "portico/privilege.h"

/* A chroot confines the workers to one directory: every site must be served from it. */
static int chroot_possible(const struct settings *s)
{
    int i;

    if (!s->chroot)
        return 0;
    if (geteuid() != 0) {
        log_errorx("--chroot needs root (chroot is a privileged call); start as root or drop it");
        return -1;
    }
    for (i = 0; i < s->nsites; i++)
        if (strcmp(s->sites[i].root_abs, s->root_abs) != 0) {
            log_errorx("%s:%d: chroot confines workers to %s, but this site is served from "
                       "%s: drop chroot, or serve every site from one root", s->config_file,
                       s->sites[i].site_line, s->root_abs, s->sites[i].root_abs);
            return -1;
        }
    return 0;
}

/* Started as root, workers become --user (www-data, else nobody); never root
 * unless that is asked for by name. */
int privilege_resolve(const struct settings *s, struct privilege *p)
{
    const char *name = s->user;
    struct passwd *pw;

    p->drop = 0;
    if (chroot_possible(s) < 0)
        return -1;
    if (geteuid() != 0)
        return 0;
    if (name == NULL)
        name = getpwnam("www-data") ? "www-data" : "nobody";
    pw = getpwnam(name);
    if (pw == NULL) {
        log_errorx("user '%s' does not exist; give another with --user", name);
        return -1;
    }
    if (pw->pw_uid == 0 && (s->user == NULL || strcmp(s->user, "root") != 0)) {
        log_errorx("user '%s' is root; workers run as root only with --user root", name);
        return -1;
    }
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    p->drop = pw->pw_uid != 0;
    return 0;
}

int privilege_drop(const struct settings *s, const struct privilege *p)
{
    if (s->chroot && (chroot(s->root_abs) < 0 || chdir("/") < 0)) {
        log_error("chroot %s", s->root_abs);
        return -1;
    }
    if (!p->drop)
        return 0;
    if (setgroups(1, &p->gid) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0) {
        log_error("cannot switch to uid %ld", (long)p->uid);
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        log_errorx("root could be regained after dropping privileges; refusing to serve");
        return -1;
    }
    return 0;
}
