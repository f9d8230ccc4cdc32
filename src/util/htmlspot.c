/* Where a tag closes in a page's text, found without parsing the page: good enough
 * for the script live reload puts before </body>, never used to serve anything. */
#include "build-config.h"

#include <strings.h>

#include "portico/htmlspot.h"

/* "</name" at text[i], a whole tag name (not "</bodyx"). */
static int closes_at(const char *text, size_t len, size_t i, const char *name, size_t n)
{
    char end;

    /* the name's end must be seen: a window cut there is looked at again whole */
    if (i + 3 + n > len || text[i] != '<' || text[i + 1] != '/' ||
        strncasecmp(text + i + 2, name, n) != 0)
        return 0;
    end = text[i + 2 + n];
    return end == '>' || end == '/' || end == ' ' || end == '\t' || end == '\n' || end == '\r' ||
           end == '\f';
}

long htmlspot_last_body(const char *text, size_t len)
{
    size_t i;

    for (i = len; i-- > 0;)
        if (text[i] == '<' && closes_at(text, len, i, "body", 4))
            return (long)i;
    return -1;
}

long htmlspot_first_head(const char *text, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (text[i] == '<' && closes_at(text, len, i, "head", 4))
            return (long)i;
    return -1;
}
