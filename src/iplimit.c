/* Connections per client address across every worker, in one shared table of 64-bit
 * words: a 28-bit key (a hash of the address), the 12-bit owner (the worker's slot,
 * metrics.h) and a 24-bit count, claimed by compare-and-swap, so that no lock is
 * needed. A worker counts only in words it owns, and the master empties a worker's
 * words when it is gone, so that a crash or a kill loses no count for good. A word
 * whose count is 0 is free for any address. An address lives in two neighbouring
 * buckets of 16 words (two cache lines each), placed by a hash with a random seed of
 * the instance's, so that no one can aim addresses at one bucket; its count is the sum
 * of its words, and two workers racing to add it may pass the limit by one each. An
 * IPv6 client counts by its /64, what one host or home usually gets, as an IPv4
 * client behind NAT counts by its one address. */
#include "build-config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "portico/iplimit.h"
#include "portico/log.h"
#include "portico/metrics.h"
#include "portico/netaddr.h"

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
    uint64_t seed; /* written once by the master, before any worker forks */
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
    if (getrandom(&t->seed, sizeof(t->seed), 0) != sizeof(t->seed))
        t->seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    return t;
}

/* The address as counted: IPv4 whole (in its mapped form, however it came), IPv6 by
 * its first 64 bits. FNV-1a from the seed, then a finaliser (splitmix64's) so that
 * every bit of the bucket's number depends on the seed and the whole address. */
static uint64_t address_hash(uint64_t seed, const struct sockaddr *sa)
{
    uint8_t a[16] = {0};
    size_t len = netaddr_bytes(sa, a) == 4 ? 16 : 8, i;
    uint64_t h = seed ^ 14695981039346656037ull;

    for (i = 0; i < len; i++)
        h = (h ^ a[i]) * 1099511628211ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* Word i (0 to 2 * BUCKET - 1) of the address's two buckets. */
static uint64_t *word_at(struct iplimit *t, uint64_t h, int i)
{
    uint64_t b = (h + (uint64_t)(i / BUCKET)) % BUCKETS;

    return &t->word[b * BUCKET + (uint64_t)(i % BUCKET)];
}

static int try_add(uint64_t *w, uint64_t seen, uint64_t want)
{
    return __atomic_compare_exchange_n(w, &seen, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

int iplimit_enter(struct iplimit *t, const struct sockaddr *sa, unsigned limit, int owner)
{
    uint64_t h = address_hash(t->seed, sa), key = h >> (COUNT_BITS + OWNER_BITS);
    uint64_t mine_tag = key << (COUNT_BITS + OWNER_BITS) | (uint64_t)owner << COUNT_BITS;
    int tries, i;

    if (owner < 0)
        return IPLIMIT_UNTRACKED;
    for (tries = 0; tries < MAX_RETRIES; tries++) {
        uint64_t total = 0, w, *mine = NULL, *empty = NULL;
        for (i = 0; i < 2 * BUCKET; i++) {
            uint64_t *p = word_at(t, h, i);
            w = __atomic_load_n(p, __ATOMIC_ACQUIRE);
            if ((w & COUNT_MASK) == 0) {
                empty = empty != NULL ? empty : p;
            } else if (KEY_OF(w) == key) {
                total += w & COUNT_MASK;
                if (OWNER_OF(w) == (uint64_t)owner)
                    mine = p;
            }
        }
        if (total >= limit)
            return IPLIMIT_OVER;
        if (mine != NULL) { /* only this worker changes its words (the master, once it is gone) */
            __atomic_fetch_add(mine, 1, __ATOMIC_ACQ_REL);
            return (int)(mine - t->word);
        }
        if (empty == NULL)
            return IPLIMIT_UNTRACKED;
        w = __atomic_load_n(empty, __ATOMIC_ACQUIRE);
        if ((w & COUNT_MASK) == 0 && try_add(empty, w, mine_tag | 1))
            return (int)(empty - t->word);
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
