/* Token and number helpers for header parsing. Pure functions: no I/O, no allocation. */
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
