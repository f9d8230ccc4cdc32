/* --dev's addresses and --open's browser, once the master listens. It never touches
 * a listener or a worker: the browser is a child of its own, in a session of its own,
 * with nothing of the server's but stdio pointed at /dev/null. */
#include "build-config.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/devstart.h"
#include "portico/listener.h"
#include "portico/log.h"
#include "portico/netaddr.h"

/* Every interface address a phone on the same network could reach: up, neither
 * loopback nor link-local (fe80::/10 needs a zone no URL bar takes). */
static int reachable(const struct ifaddrs *ifa, int want_v6)
{
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ifa->ifa_addr;

    if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK))
        return 0;
    if (ifa->ifa_addr->sa_family == AF_INET)
        return 1;
    return want_v6 && ifa->ifa_addr->sa_family == AF_INET6 &&
           !IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr) && !IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

static void network_lines(const struct settings *s, const char *scheme, int port)
{
    struct ifaddrs *all, *ifa;
    const char *b = s->bind_addr;
    char addr[INET6_ADDRSTRLEN];

    /* a listener on one address is reached at that address only */
    if (!listeners_bind_any(b))
        return;
    if (getifaddrs(&all) < 0)
        return;
    for (ifa = all; ifa != NULL; ifa = ifa->ifa_next) {
        int v6;
        if (!reachable(ifa, b == NULL || strcmp(b, "0.0.0.0") != 0))
            continue;
        v6 = ifa->ifa_addr->sa_family == AF_INET6;
        netaddr_format(ifa->ifa_addr, addr, sizeof(addr));
        printf("  Network: %s://%s%s%s:%d/\n", scheme, v6 ? "[" : "", addr, v6 ? "]" : "", port);
    }
    freeifaddrs(all);
}

void devstart_banner(const struct settings *s, const char *host)
{
    printf("  Local:   http://%s:%d/\n", host, s->port);
    network_lines(s, "http", s->port);
    if (s->tls) {
        printf("  Local:   https://%s:%d/\n", host, s->tls_port);
        network_lines(s, "https", s->tls_port);
    }
    printf("  Pages reload when files beneath %s change.\n", s->root_abs);
    fflush(stdout);
}

/* xdg-open somewhere in PATH. */
static int have_opener(void)
{
    const char *path = getenv("PATH");
    char dir[4096], full[4200];

    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof(dir), "%.*s", (int)(n < sizeof(dir) ? n : sizeof(dir) - 1), path);
        snprintf(full, sizeof(full), "%s/xdg-open", n ? dir : ".");
        if (access(full, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* In the child: nothing of the server's, and not root when sudo tells who asked. */
static void become_opener(void)
{
    const char *uid = getenv("SUDO_UID"), *gid = getenv("SUDO_GID");
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    setsid();
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    close_range(3, ~0u, 0);
    if (geteuid() == 0 && uid != NULL && gid != NULL &&
        (setgid((gid_t)atol(gid)) < 0 || setuid((uid_t)atol(uid)) < 0))
        _exit(1);
}

void devstart_open(const struct settings *s, const char *host)
{
    char url[400];
    pid_t pid;

    snprintf(url, sizeof(url), "http://%s:%d/", host, s->port);
    if (!have_opener()) {
        log_warnx("--open: there is no xdg-open here (package xdg-utils); open %s yourself",
                  url);
        return;
    }
    pid = fork();
    if (pid < 0) {
        log_warn("--open: fork");
        return;
    }
    if (pid == 0) {
        become_opener();
        execlp("xdg-open", "xdg-open", url, (char *)NULL);
        _exit(127);
    }
}
