/* STUB: being written. */
#include "suites.h"

Suite *netaddr_suite(void)
{
    return suite_create("netaddr");
}
