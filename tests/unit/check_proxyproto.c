/* STUB: being written. */
#include "suites.h"

Suite *proxyproto_suite(void)
{
    return suite_create("proxyproto");
}
