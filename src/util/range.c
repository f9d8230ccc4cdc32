/* Range header parsing and clipping (RFC 9110 §14.1-14.2). Pure; decides only
 * which bytes, never reads them. */
#include "build-config.h"

#include "portico/range.h"
#include "portico/str.h"

static int parse_pos(const char *s, size_t len, uint64_t *v)
{
    return str_to_u64(s, len, v);
}

enum range_result range_parse(const char *value, size_t len, uint64_t size,
                              struct byte_range *out, int *n)
{
    const char *p = value, *end = value + len, *tok;
    size_t tlen;
    int specs = 0, i, j;

    *n = 0;
    if (len < 6 || !str_ieq(value, 5, "bytes") || value[5] != '=')
        return RANGE_IGNORE;
    p += 6;
    while (str_next_token(&p, end, &tok, &tlen)) {
        const char *dash = NULL;
        uint64_t first, last, suffix;
        size_t k;

        if (++specs > RANGE_MAX)
            return RANGE_IGNORE;
        for (k = 0; k < tlen; k++)
            if (tok[k] == '-') {
                dash = tok + k;
                break;
            }
        if (dash == NULL)
            return RANGE_IGNORE;
        if (dash == tok) { /* suffix-range: "-n" */
            if (parse_pos(dash + 1, tlen - 1, &suffix) < 0)
                return RANGE_IGNORE;
            if (size == 0)
                return RANGE_IGNORE; /* satisfiable, yet no 206 can carry 0 bytes: send 200 */
            if (suffix == 0)
                continue; /* unsatisfiable */
            out[*n].first = suffix >= size ? 0 : size - suffix;
            out[*n].last = size - 1;
            (*n)++;
            continue;
        }
        if (parse_pos(tok, (size_t)(dash - tok), &first) < 0)
            return RANGE_IGNORE;
        if (dash + 1 == tok + tlen) {
            last = UINT64_MAX;
        } else if (parse_pos(dash + 1, (size_t)(tok + tlen - dash - 1), &last) < 0 ||
                   last < first) {
            return RANGE_IGNORE;
        }
        if (first >= size)
            continue; /* unsatisfiable */
        out[*n].first = first;
        out[*n].last = last >= size ? size - 1 : last;
        (*n)++;
    }
    if (specs == 0)
        return RANGE_IGNORE;
    if (*n == 0)
        return RANGE_UNSATISFIABLE;
    /* overlapping parts would make us send the same bytes twice: send the file once */
    for (i = 0; i < *n; i++)
        for (j = i + 1; j < *n; j++)
            if (out[i].first <= out[j].last && out[j].first <= out[i].last)
                return RANGE_IGNORE;
    return RANGE_OK;
}
