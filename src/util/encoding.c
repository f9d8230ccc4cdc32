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

unsigned encoding_choose(const char *value, size_t len, unsigned available)
{
    const char *p = value, *tok;
    size_t tlen;
    int q_gzip = -1, q_br = -1, q_star = -1;

    if (value == NULL || available == 0)
        return ENCODING_IDENTITY;
    while (str_next_token(&p, value + len, &tok, &tlen)) {
        const char *semi = memchr(tok, ';', tlen);
        size_t nlen = semi ? (size_t)(semi - tok) : tlen;
        int q = 1000;

        while (nlen > 0 && (tok[nlen - 1] == ' ' || tok[nlen - 1] == '\t'))
            nlen--;
        if (semi != NULL) {
            const char *a = semi + 1, *e = tok + tlen;
            while (a < e && (*a == ' ' || *a == '\t'))
                a++;
            if (e - a < 2 || (a[0] != 'q' && a[0] != 'Q') || a[1] != '=')
                continue; /* a parameter we do not know: skip the element */
            q = encoding_parse_q(a + 2, (size_t)(e - a - 2));
            if (q < 0)
                continue;
        }
        if (str_ieq(tok, nlen, "gzip") || str_ieq(tok, nlen, "x-gzip"))
            q_gzip = q;
        else if (str_ieq(tok, nlen, "br"))
            q_br = q;
        else if (str_ieq(tok, nlen, "*"))
            q_star = q;
    }
    if (q_gzip < 0)
        q_gzip = q_star < 0 ? 0 : q_star;
    if (q_br < 0)
        q_br = q_star < 0 ? 0 : q_star;
    if (!(available & ENCODING_GZIP))
        q_gzip = 0;
    if (!(available & ENCODING_BR))
        q_br = 0;
    if (q_br > 0 && q_br >= q_gzip)
        return ENCODING_BR;
    if (q_gzip > 0)
        return ENCODING_GZIP;
    return ENCODING_IDENTITY;
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
