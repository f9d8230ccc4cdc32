/* Accept-Encoding parsing with q-values. Pure; knows nothing of files. */
#include "build-config.h"

#include <string.h>

#include "portico/encoding.h"
#include "portico/str.h"

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths */
int encoding_parse_q(const char *s, size_t len)
{
    int q, i, scale = 100;

    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    q = (s[0] - '0') * 1000;
    if (len == 1)
        return q;
    if (s[1] != '.' || len > 5)
        return -1;
    for (i = 2; i < (int)len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The codings we know, in the order that breaks a tie of q (smallest output first);
 * gzip last (settle() knows its place). */
static const struct {
    unsigned bit;
    const char *name;
} codings[ENCODING_COUNT] = {
    {ENCODING_BR, "br"},
    {ENCODING_ZSTD, "zstd"},
    {ENCODING_GZIP, "gzip"},
};

/* The q of one list element "name[;q=v]"; -1 for an element to skip. */
static int element_q(const char *tok, size_t tlen, size_t *nlen)
{
    const char *semi = memchr(tok, ';', tlen);
    const char *a, *e = tok + tlen;

    *nlen = semi ? (size_t)(semi - tok) : tlen;
    while (*nlen > 0 && (tok[*nlen - 1] == ' ' || tok[*nlen - 1] == '\t'))
        (*nlen)--;
    if (semi == NULL)
        return 1000;
    for (a = semi + 1; a < e && (*a == ' ' || *a == '\t'); a++)
        ;
    if (e - a < 2 || (a[0] != 'q' && a[0] != 'Q') || a[1] != '=')
        return -1; /* a parameter we do not know: skip the element */
    return encoding_parse_q(a + 2, (size_t)(e - a - 2));
}

/* What a list says: the q of each coding we know (by the table's order), of the
 * alias x-gzip, of identity and of "*"; -1 where it says nothing. */
struct said {
    int q[ENCODING_COUNT], x_gzip, identity, star;
};

/* Notes the q of each element of one field line; a later mention wins. */
static void line_q(struct str line, struct said *w)
{
    const char *p = line.p, *tok;
    size_t tlen, nlen;
    int i;

    while (str_next_token(&p, line.p + line.len, &tok, &tlen)) {
        int v = element_q(tok, tlen, &nlen);
        if (v < 0)
            continue;
        if (str_ieq(tok, nlen, "*"))
            w->star = v;
        else if (str_ieq(tok, nlen, "identity"))
            w->identity = v;
        else if (str_ieq(tok, nlen, "x-gzip"))
            w->x_gzip = v;
        for (i = 0; i < ENCODING_COUNT; i++)
            if (str_ieq(tok, nlen, codings[i].name))
                w->q[i] = v;
    }
}

/* The q each coding gets: its own (gzip: the better of gzip and x-gzip), else that
 * of "*", else 0; and 0 below an identity the client named as better. */
static void settle(struct said *w, unsigned available)
{
    int i;

    if (w->x_gzip > w->q[2])
        w->q[2] = w->x_gzip;
    for (i = 0; i < ENCODING_COUNT; i++) {
        if (w->q[i] < 0)
            w->q[i] = w->star < 0 ? 0 : w->star;
        if (!(available & codings[i].bit) || w->q[i] < w->identity)
            w->q[i] = 0;
    }
}

int encoding_rank(const struct str *lines, int nlines, unsigned available,
                  unsigned out[ENCODING_COUNT])
{
    struct said w = {{-1, -1, -1}, -1, -1, -1};
    int i, j, n = 0;

    if (nlines == 0 || available == 0)
        return 0;
    /* RFC 9110 §5.3: several field lines of a list are one list */
    for (i = 0; i < nlines; i++)
        line_q(lines[i], &w);
    settle(&w, available);
    /* insertion by q: a stable sort keeps the tie order of the table */
    for (i = 0; i < ENCODING_COUNT; i++) {
        if (w.q[i] == 0)
            continue;
        for (j = n; j > 0 && w.q[out[j - 1] >> 8] < w.q[i]; j--)
            out[j] = out[j - 1];
        out[j] = (unsigned)i << 8 | codings[i].bit;
        n++;
    }
    for (i = 0; i < n; i++)
        out[i] &= 0xff;
    return n;
}

unsigned encoding_choose(const struct str *lines, int nlines, unsigned available)
{
    unsigned ranked[ENCODING_COUNT];

    return encoding_rank(lines, nlines, available, ranked) > 0 ? ranked[0] : ENCODING_IDENTITY;
}

const char *encoding_name(unsigned coding)
{
    int i;

    for (i = 0; i < ENCODING_COUNT; i++)
        if (codings[i].bit == coding)
            return codings[i].name;
    return NULL;
}

int encoding_index(unsigned coding)
{
    int i;

    for (i = 0; i < ENCODING_COUNT; i++)
        if (codings[i].bit == coding)
            return i;
    return -1;
}

int encoding_weight(const char *params, size_t len)
{
    const char *p = params, *end = params + len;

    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p)), *next;
        next = semi ? semi + 1 : end;
        while (p < next && (*p == ' ' || *p == '\t' || *p == ';'))
            p++;
        if (next - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            size_t n = (size_t)((semi ? semi : end) - p - 2);
            while (n > 0 && (p[2 + n - 1] == ' ' || p[2 + n - 1] == '\t'))
                n--;
            return encoding_parse_q(p + 2, n);
        }
        p = next;
    }
    return 1000;
}
