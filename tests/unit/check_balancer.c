/* The shared counts behind a balancer: connections per address (iplimit.c) and the
 * metrics' slots and exposition (metrics.c), in this process's shared mappings. */
#include "build-config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portico/http.h"
#include "portico/iplimit.h"
#include "portico/metrics.h"
#include "suites.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
        v6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        v4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, text, &v4->sin_addr), 1);
    }
    return ss;
}

static int enter_as(struct iplimit *t, const char *text, unsigned limit, int owner)
{
    struct sockaddr_storage ss = addr(text);

    return iplimit_enter(t, (struct sockaddr *)&ss, limit, owner);
}

static int enter(struct iplimit *t, const char *text, unsigned limit)
{
    return enter_as(t, text, limit, 7);
}

/* Up to the limit, then refused; a connection that leaves makes room; an IPv4
 * client counts the same whether its socket saw it mapped or not. */
START_TEST(test_iplimit)
{
    struct iplimit *t = iplimit_create();
    int a = enter(t, "203.0.113.5", 3), b, c;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b = enter(t, "::ffff:203.0.113.5", 3), 0);
    ck_assert_int_ge(c = enter(t, "203.0.113.5", 3), 0);
    ck_assert_int_eq(enter(t, "203.0.113.5", 3), IPLIMIT_OVER);
    ck_assert_int_eq(enter(t, "::ffff:203.0.113.5", 3), IPLIMIT_OVER);
    ck_assert_int_ge(enter(t, "203.0.113.6", 3), 0);
    ck_assert_int_ge(enter(t, "2001:db8::5", 1), 0);
    ck_assert_int_eq(enter(t, "2001:db8::5", 1), IPLIMIT_OVER);
    /* an IPv6 client counts by its /64 */
    ck_assert_int_eq(enter(t, "2001:db8::ffff:6", 1), IPLIMIT_OVER);
    ck_assert_int_ge(enter(t, "2001:db8:0:1::5", 1), 0);
    iplimit_leave(t, b);
    ck_assert_int_ge(b = enter(t, "203.0.113.5", 3), 0);
    ck_assert_int_eq(enter(t, "203.0.113.5", 3), IPLIMIT_OVER);
    iplimit_leave(t, a);
    iplimit_leave(t, b);
    iplimit_leave(t, c);
    ck_assert_int_ge(enter(t, "203.0.113.5", 1), 0);
}
END_TEST

/* Two workers count one address together; when one is gone (a crash, a kill, a stop
 * with connections open) the master forgets its share and the other's stays. */
START_TEST(test_iplimit_owners)
{
    struct iplimit *t = iplimit_create();

    ck_assert_int_ge(enter_as(t, "198.51.100.1", 3, 1), 0);
    ck_assert_int_ge(enter_as(t, "198.51.100.1", 3, 2), 0);
    ck_assert_int_ge(enter_as(t, "198.51.100.1", 3, 2), 0);
    ck_assert_int_eq(enter_as(t, "198.51.100.1", 3, 1), IPLIMIT_OVER);
    iplimit_forget(t, 2);
    ck_assert_int_ge(enter_as(t, "198.51.100.1", 3, 1), 0);
    ck_assert_int_ge(enter_as(t, "198.51.100.1", 3, 3), 0);
    ck_assert_int_eq(enter_as(t, "198.51.100.1", 3, 3), IPLIMIT_OVER);
    ck_assert_int_eq(enter_as(t, "198.51.100.1", 3, -1), IPLIMIT_UNTRACKED);
}
END_TEST

/* Many addresses at once: each is counted apart from the others (or, in a crowded
 * bucket, let in untracked), never refused for another's connections. */
START_TEST(test_iplimit_many)
{
    struct iplimit *t = iplimit_create();
    char text[32];
    int i, untracked = 0;

    for (i = 0; i < 20000; i++) {
        int r;
        snprintf(text, sizeof(text), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        r = enter(t, text, 1);
        ck_assert_int_ne(r, IPLIMIT_OVER);
        untracked += r == IPLIMIT_UNTRACKED;
    }
    ck_assert_int_lt(untracked, 20); /* two buckets of 16 for each: a crowded one spills */
}
END_TEST

/* The value of a sample line "SERIES VALUE" (not the # HELP line naming it) */
static unsigned long long value_of(const char *text, const char *series)
{
    char line[160];
    const char *p;

    snprintf(line, sizeof(line), "\n%s ", series);
    p = strstr(text, line);
    ck_assert_msg(p != NULL, "no %s", series);
    return strtoull(p + strlen(line), NULL, 10);
}

/* Each worker counts in its own slot; a scrape sums every slot ever taken, so the
 * counts of a worker that is gone stay, and its successor counts on from them. */
START_TEST(test_metrics_slots)
{
    struct metrics *m = metrics_create();
    char text[8192];
    struct buf b;
    int s0, s1;

    ck_assert_ptr_nonnull(m);
    s0 = metrics_slot_take(m);
    s1 = metrics_slot_take(m);
    ck_assert_int_ne(s0, s1);
    metrics_use_slot(m, s0);
    metrics_response(HTTP_GET, 200, 1000);
    metrics_response(HTTP_GET, 404, 100);
    metrics_set_open(3);
    metrics_use_slot(m, s1);
    metrics_response(HTTP_HEAD, 200, 10);
    metrics_response(-1, 400, 5);
    metrics_response(-1, 0, 7); /* a response cut short: bytes only */
    metrics_handshake(1);
    metrics_set_open(2);
    metrics_slot_release(m, s0);
    ck_assert_int_eq(metrics_slot_take(m), s0);
    metrics_use_slot(m, s0);
    metrics_response(HTTP_GET, 204, 1);
    metrics_count_reload(m);
    buf_init(&b, text, sizeof(text) - 1);
    metrics_render(m, time(NULL), &b);
    ck_assert(!b.overflow);
    text[b.len] = '\0';
    ck_assert_uint_eq(value_of(text, "portico_requests_total{method=\"GET\",code=\"2xx\"}"), 2);
    ck_assert_uint_eq(value_of(text, "portico_requests_total{method=\"GET\",code=\"4xx\"}"), 1);
    ck_assert_uint_eq(value_of(text, "portico_requests_total{method=\"HEAD\",code=\"2xx\"}"), 1);
    ck_assert_uint_eq(value_of(text, "portico_requests_total{method=\"other\",code=\"4xx\"}"), 1);
    ck_assert_uint_eq(value_of(text, "portico_sent_bytes_total"), 1123);
    ck_assert_uint_eq(value_of(text, "portico_open_connections"), 2); /* s0's went with it */
    ck_assert_uint_eq(value_of(text, "portico_tls_handshakes_total{kind=\"resumed\"}"), 1);
    ck_assert_uint_eq(value_of(text, "portico_reloads_total"), 1);
    ck_assert_uint_eq(value_of(text, "portico_draining"), 0);
    metrics_set_draining(m);
    ck_assert_int_eq(metrics_draining(m), 1);
    metrics_use_slot(NULL, -1);
}
END_TEST

/* Every slot taken (workers of generations still draining): the next worker gets none
 * and counts nothing, and the slot a gone worker gives back is found again. */
START_TEST(test_metrics_slots_full)
{
    struct metrics *m = metrics_create();
    int i;

    ck_assert_ptr_nonnull(m);
    for (i = 0; i < METRICS_SLOTS; i++)
        ck_assert_int_eq(metrics_slot_take(m), i);
    ck_assert_int_eq(metrics_slot_take(m), -1);
    ck_assert_int_eq(metrics_slot_take(m), -1);
    metrics_slot_release(m, 1234);
    ck_assert_int_eq(metrics_slot_take(m), 1234);
    ck_assert_int_eq(metrics_slot_take(m), -1);
}
END_TEST

Suite *balancer_suite(void)
{
    Suite *s = suite_create("balancer");
    TCase *tc = tcase_create("shared");

    tcase_add_test(tc, test_iplimit);
    tcase_add_test(tc, test_iplimit_owners);
    tcase_add_test(tc, test_iplimit_many);
    tcase_add_test(tc, test_metrics_slots);
    tcase_add_test(tc, test_metrics_slots_full);
    suite_add_tcase(s, tc);
    return s;
}
