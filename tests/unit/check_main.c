/* Runs every unit suite in Check's fork mode, so one crash fails one test. */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
    SRunner *sr = srunner_create(path_suite());
    int failed;

    srunner_add_suite(sr, mime_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, httpdate_suite());
    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, beneath_suite());
    srunner_add_suite(sr, cond_suite());
    srunner_add_suite(sr, range_suite());
    srunner_add_suite(sr, listing_suite());
    srunner_add_suite(sr, configfile_suite());
    srunner_add_suite(sr, response_suite());
    srunner_add_suite(sr, filecache_suite());
    srunner_add_suite(sr, conn_suite());
    srunner_add_suite(sr, settings_suite());
    srunner_add_suite(sr, rules_suite());
    srunner_add_suite(sr, site_suite());
    srunner_add_suite(sr, auth_suite());
    srunner_add_suite(sr, codec_suite());
    srunner_add_suite(sr, cachedir_suite());
    srunner_add_suite(sr, proxyproto_suite());
    srunner_add_suite(sr, netaddr_suite());
    srunner_add_suite(sr, log_suite());
    srunner_add_suite(sr, balancer_suite());
    srunner_add_suite(sr, livebatch_suite());
    srunner_add_suite(sr, live_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
