/* STUB: being written (PROXY protocol parser). */
#include "build-config.h"

#include "portico/proxyproto.h"

enum proxy_result proxy_parse(const void *buf, size_t len, struct proxy_info *out)
{
    (void)buf;
    (void)len;
    (void)out;
    return PROXY_INVALID;
}
