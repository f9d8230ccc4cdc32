/* Token, number and base64 helpers for header parsing. Pure functions: no I/O, no allocation. */
#include "build-config.h"

#include <string.h>

#include "portico/str.h"

int str_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int str_to_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int str_next_token(const char **p, const char *end, const char **tok, size_t *toklen)
{
    const char *s = *p;

    for (;;) {
        const char *e;
        while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
            s++;
        if (s == end) {
            *p = s;
            return 0;
        }
        e = s;
        while (e < end && *e != ',')
            e++;
        *p = e;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > s) {
            *tok = s;
            *toklen = (size_t)(e - s);
            return 1;
        }
        s = *p;
    }
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long str_base64_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t i, n = 0, pad = 0;

    if (len % 4 != 0)
        return -1;
    if (len > 0 && in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    if (len / 4 * 3 - pad > cap)
        return -1;
    for (i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t k, nbytes = i + 4 == len ? 3 - pad : 3;

        for (k = i; k < i + 4; k++) {
            int d = k < len - pad ? base64_value((unsigned char)in[k]) : 0;
            if (d < 0)
                return -1; /* also an '=' before the end */
            v = v << 6 | (uint32_t)d;
        }
        /* the bits the padding leaves over: one '=' leaves 2, two leave 4 */
        if (nbytes < 3 && (v & (nbytes == 2 ? 0xffu : 0xffffu)) != 0)
            return -1;
        out[n] = (char)(v >> 16);
        if (nbytes > 1)
            out[n + 1] = (char)(v >> 8);
        if (nbytes > 2)
            out[n + 2] = (char)v;
        n += nbytes;
    }
    return (long)n;
}

int str_has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return 1;
    return 0;
}
