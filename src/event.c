/* Thin epoll wrapper and timer queues. The only file that includes sys/epoll.h;
 * it never reads or writes a socket itself. */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "portico/event.h"

#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif

struct event_loop {
    int epfd;
    int max_events;
    struct event_handler *first; /* served before the rest of each batch */
    struct epoll_event events[];
};

struct event_loop *event_loop_new(int max_events)
{
    struct event_loop *loop = malloc(sizeof(*loop) + sizeof(struct epoll_event) * (size_t)max_events);

    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->max_events = max_events;
    return loop;
}

int event_add_conn(struct event_loop *loop, int fd, struct event_handler *h)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = h};

    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int event_add_listener(struct event_loop *loop, int fd, struct event_handler *h)
{
    /* EPOLLEXCLUSIVE wakes one of the workers sharing the listener, not all */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = h};

    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int event_add_first(struct event_loop *loop, int fd, struct event_handler *h)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};

    loop->first = h;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void event_run_first(struct event_loop *loop)
{
    if (loop->first != NULL)
        loop->first->on_event(loop->first, EVENT_READ);
}

int event_del(struct event_loop *loop, int fd)
{
    struct epoll_event ev = {0};

    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev);
}

int event_wait(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask)
{
    int n = epoll_pwait(loop->epfd, loop->events, loop->max_events, timeout_ms, sigmask);

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    return n;
}

void event_dispatch(struct event_loop *loop, int n)
{
    int i;

    for (i = 0; loop->first != NULL && i < n; i++)
        if (loop->events[i].data.ptr == loop->first)
            break;
    /* a full batch may have left it out while readied connections came in: ask it
     * anyway (its handler reads until there is nothing) */
    if (i < n || n == loop->max_events)
        event_run_first(loop);
    for (i = 0; i < n; i++) {
        struct event_handler *h = loop->events[i].data.ptr;
        uint32_t e = loop->events[i].events;
        unsigned mask = 0;

        if (h == loop->first)
            continue;
        if (e & EPOLLIN)
            mask |= EVENT_READ;
        if (e & EPOLLOUT)
            mask |= EVENT_WRITE;
        if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            mask |= EVENT_HUP | EVENT_READ;
        h->on_event(h, mask);
    }
}

void timer_queue_init(struct timer_queue *q, uint64_t duration_ms)
{
    q->head = q->tail = NULL;
    q->duration_ms = duration_ms;
}

void timer_cancel(struct timer *t)
{
    struct timer_queue *q = t->queue;

    if (q == NULL)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        q->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        q->tail = t->prev;
    t->prev = t->next = NULL;
    t->queue = NULL;
}

void timer_arm_at(struct timer_queue *q, struct timer *t, uint64_t deadline_ms)
{
    struct timer *after;

    timer_cancel(t);
    t->deadline_ms = deadline_ms;
    t->queue = q;
    /* deadlines in one queue are almost always in order; walk back for the rest */
    after = q->tail;
    while (after != NULL && after->deadline_ms > deadline_ms)
        after = after->prev;
    t->prev = after;
    t->next = after ? after->next : q->head;
    if (t->next)
        t->next->prev = t;
    else
        q->tail = t;
    if (after)
        after->next = t;
    else
        q->head = t;
}

void timer_arm(struct timer_queue *q, struct timer *t, uint64_t now_ms)
{
    timer_arm_at(q, t, now_ms + q->duration_ms);
}

void timer_init(struct timer *t, timer_fn fn)
{
    t->prev = t->next = NULL;
    t->queue = NULL;
    t->deadline_ms = 0;
    t->on_expire = fn;
}

void timer_run_expired(struct timer_queue *q, uint64_t now_ms)
{
    struct timer *t;

    while ((t = q->head) != NULL && t->deadline_ms <= now_ms) {
        timer_cancel(t);
        t->on_expire(t);
    }
}

int timer_next_ms(struct timer_queue *const *queues, int n, uint64_t now_ms)
{
    int i;
    int64_t best = -1;

    for (i = 0; i < n; i++) {
        const struct timer *t = queues[i]->head;
        int64_t d;
        if (t == NULL)
            continue;
        d = t->deadline_ms > now_ms ? (int64_t)(t->deadline_ms - now_ms) : 0;
        if (best < 0 || d < best)
            best = d;
    }
    return (int)best;
}

uint64_t event_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
