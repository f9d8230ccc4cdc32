/* The benchmark's "floor": the least a server can do to answer a keep-alive request.
 *
 * One process, one epoll loop on 127.0.0.1:PORT. Each read() that returns data is
 * answered with one fixed 200 response with a 1,024-byte body: no parsing, no file,
 * no timers. What is left is the cost of the syscalls (epoll_wait, read, write) that
 * any server has to make, so bench/run can say how close a real server gets to it.
 *
 * Connections are edge-triggered, with one read per event and no second read to see
 * EAGAIN: a benchmark client sends its next request only after the answer, so one
 * read of up to 16 KiB always empties the socket, and the next request raises a new
 * edge. Level-triggered would poll every returned socket again in the next
 * epoll_wait: a few per cent more per request here.
 *
 * Built by bench/run: cc -O2 -Wall -Wextra -o floor floor.c; run: floor PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_SIZE 1024
#define MAX_EVENTS 512

static const char head[] = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           "Content-Length: 1024\r\n"
                           "Connection: keep-alive\r\n"
                           "\r\n";

static char response[sizeof head - 1 + BODY_SIZE];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(fd, 4096) < 0) /* the kernel caps it at net.core.somaxconn */
        die("listen");
    return fd;
}

/* Takes every pending connection: the listener is level-triggered, but draining it
 * here saves one epoll_wait round per connection under a burst of connects. */
static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or EMFILE: the rest stay in the backlog */
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            close(fd);
    }
}

/* One read, one answer. Closing a socket removes it from the epoll set. */
static void serve(int fd)
{
    static char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* A response this small fits in an empty socket buffer, and a client that sends
     * the next request has read the previous answer: a short write means the client
     * is not behaving like a benchmark client, so drop it. */
    if (n <= 0 || write(fd, response, sizeof response) != (ssize_t)sizeof response)
        close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memcpy(response, head, sizeof head - 1);
    memset(response + sizeof head - 1, 'x', BODY_SIZE);

    int lfd = listen_on(atoi(argv[1]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.fd == lfd)
                accept_all(ep, lfd);
            else
                serve(events[i].data.fd);
        }
    }
}
