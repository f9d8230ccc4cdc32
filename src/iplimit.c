/* Connections per client address across every worker, in one shared table of 64-bit
 * words: a 28-bit key (a hash of the address), the 12-bit owner (the worker's slot,
 * metrics.h) and a 24-bit count, claimed by compare-and-swap, so that no lock is
 * needed. A worker counts only in words it owns, and the master empties a worker's
 * words when it is gone, so that a crash or a kill loses no count for good. A word
 * whose count is 0 is free for any address. An address lives in one bucket of 16 words
 * (two cache lines) and its count is the sum of its words; two workers racing to add
 * it may pass the limit by one each. */
#include "build-config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "portico/iplimit.h"
#include "portico/log.h"
#include "portico/metrics.h"

#define BUCKET      16
#define BUCKETS     4096 /* 512 KiB; only the pages of buckets in use are ever touched */
#define COUNT_BITS  24
#define OWNER_BITS  12
#define COUNT_MASK  ((1ull << COUNT_BITS) - 1)
#define OWNER_MASK  ((1ull << OWNER_BITS) - 1)
#define MAX_RETRIES 16

_Static_assert(METRICS_SLOTS <= (1 << OWNER_BITS), "a worker's slot fits a word's owner");

#define KEY_OF(w)   ((w) >> (COUNT_BITS + OWNER_BITS))
#define OWNER_OF(w) (((w) >> COUNT_BITS) & OWNER_MASK)

struct iplimit {
    uint64_t word[BUCKETS * BUCKET];
};

struct iplimit *iplimit_create(void)
{
    struct iplimit *t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (t == MAP_FAILED) {
        log_error("mapping the per-address connection counts");
        return NULL;
    }
    return t;
}

/* 64 bits of FNV-1a over the address, IPv4 as itself whether it came mapped or not */
static uint64_t address_hash(const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *p;
    size_t len, i;
    uint64_t h = 14695981039346656037ull;

    if (sa->sa_family == AF_INET6) {
        p = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        len = 16;
        if (memcmp(p, mapped, sizeof(mapped)) == 0) {
            p += 12;
            len = 4;
        }
    } else {
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        len = 4;
    }
    for (i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h ^ len;
}

static int try_add(uint64_t *w, uint64_t seen, uint64_t want)
{
    return __atomic_compare_exchange_n(w, &seen, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

int iplimit_enter(struct iplimit *t, const struct sockaddr *sa, unsigned limit, int owner)
{
    uint64_t h = address_hash(sa), key = h >> (COUNT_BITS + OWNER_BITS);
    uint64_t *b = &t->word[(h % BUCKETS) * BUCKET];
    uint64_t mine_tag = key << (COUNT_BITS + OWNER_BITS) | (uint64_t)owner << COUNT_BITS;
    int tries, i;

    if (owner < 0)
        return IPLIMIT_UNTRACKED;
    for (tries = 0; tries < MAX_RETRIES; tries++) {
        uint64_t total = 0, w;
        int mine = -1, empty = -1;
        for (i = 0; i < BUCKET; i++) {
            w = __atomic_load_n(&b[i], __ATOMIC_ACQUIRE);
            if ((w & COUNT_MASK) == 0) {
                empty = empty < 0 ? i : empty;
            } else if (KEY_OF(w) == key) {
                total += w & COUNT_MASK;
                if (OWNER_OF(w) == (uint64_t)owner)
                    mine = i;
            }
        }
        if (total >= limit)
            return IPLIMIT_OVER;
        if (mine >= 0) { /* only this worker changes its words (the master, once it is gone) */
            __atomic_fetch_add(&b[mine], 1, __ATOMIC_ACQ_REL);
            return (int)(b + mine - t->word);
        }
        if (empty < 0)
            return IPLIMIT_UNTRACKED;
        w = __atomic_load_n(&b[empty], __ATOMIC_ACQUIRE);
        if ((w & COUNT_MASK) == 0 && try_add(&b[empty], w, mine_tag | 1))
            return (int)(b + empty - t->word);
    }
    return IPLIMIT_UNTRACKED;
}

void iplimit_leave(struct iplimit *t, int place)
{
    /* the word holds at least this connection's count: no other address can take it */
    if (t != NULL && place >= 0)
        __atomic_fetch_sub(&t->word[place], 1, __ATOMIC_ACQ_REL);
}

void iplimit_forget(struct iplimit *t, int owner)
{
    size_t i;

    for (i = 0; t != NULL && owner >= 0 && i < sizeof(t->word) / sizeof(t->word[0]); i++) {
        uint64_t w = __atomic_load_n(&t->word[i], __ATOMIC_ACQUIRE);
        if ((w & COUNT_MASK) != 0 && OWNER_OF(w) == (uint64_t)owner)
            __atomic_store_n(&t->word[i], 0, __ATOMIC_RELEASE);
    }
}
