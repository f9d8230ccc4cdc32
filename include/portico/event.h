/* The event loop: readiness from epoll and deadlines from timer queues.
 * event.c is the only file that knows epoll exists. */
#ifndef PORTICO_EVENT_H
#define PORTICO_EVENT_H

#include <signal.h>
#include <stdint.h>

#define EVENT_READ   0x1u
#define EVENT_WRITE  0x2u
#define EVENT_HUP    0x4u /* error or hang-up: the next read or write will tell */

struct event_loop;

/* Every registered object starts with this, so one dispatch serves listeners and
 * connections alike. */
struct event_handler {
    void (*on_event)(struct event_handler *h, unsigned events);
};

struct event_loop *event_loop_new(int max_events);
/* Edge-triggered read+write interest for a connection, registered once. */
int event_add_conn(struct event_loop *loop, int fd, struct event_handler *h);
/* Level-triggered read interest for a listener, woken in one worker at a time. */
int event_add_listener(struct event_loop *loop, int fd, struct event_handler *h);
/* Level-triggered read interest for the one source whose events are handled before
 * every other event of the same batch (change notifications: a file changed before
 * a request arrived is seen changed by that request). */
int event_add_first(struct event_loop *loop, int fd, struct event_handler *h);
/* Runs that source's handler now, as for an event: for input that arrived after the
 * batch began (a connection accepted in a loop), which the batch could not order. */
void event_run_first(struct event_loop *loop);
int event_del(struct event_loop *loop, int fd);
/* Waits up to timeout_ms (-1: forever) with sigmask in force; returns the number
 * of ready events (0 on a signal or timeout) or -1. Nothing is dispatched yet, so
 * the caller can read the clock first: handlers arm timers from it. */
int event_wait(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask);
/* Hands the n events of the last event_wait to their handlers. */
void event_dispatch(struct event_loop *loop, int n);

/* A timer queue holds timers of one duration, so arming appends at the tail and
 * the head is always the next to expire: O(1) arm, cancel and expiry. A timer
 * carries its own callback, so whoever runs the queues need not know its owner. */
struct timer;
typedef void (*timer_fn)(struct timer *t);

struct timer {
    struct timer *prev, *next;
    uint64_t deadline_ms;
    struct timer_queue *queue;
    timer_fn on_expire;
};

struct timer_queue {
    struct timer *head, *tail;
    uint64_t duration_ms;
};

void timer_queue_init(struct timer_queue *q, uint64_t duration_ms);
/* An unarmed timer that calls fn when it expires. */
void timer_init(struct timer *t, timer_fn fn);
void timer_arm(struct timer_queue *q, struct timer *t, uint64_t now_ms);
/* Like timer_arm, but with an explicit deadline no later than now + duration. */
void timer_arm_at(struct timer_queue *q, struct timer *t, uint64_t deadline_ms);
void timer_cancel(struct timer *t);
/* Removes each timer of q due by now_ms and calls its callback, which may arm
 * timers again (a later deadline goes to the tail: the loop ends). */
void timer_run_expired(struct timer_queue *q, uint64_t now_ms);
/* Milliseconds until the earliest deadline among the queues (-1: none). */
int timer_next_ms(struct timer_queue *const *queues, int n, uint64_t now_ms);

/* Monotonic milliseconds. */
uint64_t event_now_ms(void);

#endif
