/* Connections per client address across every worker, in one shared table of 64-bit
 * words: a 40-bit key (a hash of the address) over a 24-bit count, changed only by
 * compare-and-swap, so that no lock is needed and no count is ever lost. A word whose
 * count is 0 is free for any address. An address lives in one bucket of 8 words (one
 * cache line); two workers racing to add it may each take a word, and its count is
 * the sum of its words, so the limit may be passed by at most one per worker racing. */
#include "build-config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "portico/iplimit.h"
#include "portico/log.h"

#define BUCKET      8
#define BUCKETS     8192 /* 512 KiB; only the pages of buckets in use are ever touched */
#define COUNT_BITS  24
#define COUNT_MASK  ((1ull << COUNT_BITS) - 1)
#define MAX_RETRIES 16

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

int iplimit_enter(struct iplimit *t, const struct sockaddr *sa, unsigned limit)
{
    uint64_t h = address_hash(sa), key = h >> COUNT_BITS;
    uint64_t *b = &t->word[(h % BUCKETS) * BUCKET];
    int tries, i;

    for (tries = 0; tries < MAX_RETRIES; tries++) {
        uint64_t total = 0, w;
        int mine = -1, free = -1;
        for (i = 0; i < BUCKET; i++) {
            w = __atomic_load_n(&b[i], __ATOMIC_ACQUIRE);
            if ((w & COUNT_MASK) == 0 && free < 0)
                free = i;
            else if ((w & COUNT_MASK) != 0 && w >> COUNT_BITS == key) {
                total += w & COUNT_MASK;
                mine = mine < 0 ? i : mine;
            }
        }
        if (total >= limit)
            return IPLIMIT_OVER;
        i = mine >= 0 ? mine : free;
        if (i < 0)
            return IPLIMIT_UNTRACKED;
        w = __atomic_load_n(&b[i], __ATOMIC_ACQUIRE);
        /* the word changed since it was read: look again */
        if (mine >= 0 && (w >> COUNT_BITS != key || (w & COUNT_MASK) == 0))
            continue;
        if (mine < 0 && (w & COUNT_MASK) != 0)
            continue;
        if (try_add(&b[i], w, mine >= 0 ? w + 1 : key << COUNT_BITS | 1))
            return (int)(b + i - t->word);
    }
    return IPLIMIT_UNTRACKED;
}

void iplimit_leave(struct iplimit *t, int place)
{
    /* the word holds at least this connection's count: no other address can take it */
    if (t != NULL && place >= 0)
        __atomic_fetch_sub(&t->word[place], 1, __ATOMIC_ACQ_REL);
}
