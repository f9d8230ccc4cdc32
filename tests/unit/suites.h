/* Every unit suite, one per module with pure logic; check_main.c runs them all. */
#ifndef PORTICO_TEST_SUITES_H
#define PORTICO_TEST_SUITES_H

#include <check.h>

Suite *path_suite(void);
Suite *mime_suite(void);
Suite *http_suite(void);
Suite *httpdate_suite(void);
Suite *config_suite(void);
Suite *beneath_suite(void);
Suite *cond_suite(void);
Suite *range_suite(void);
Suite *listing_suite(void);
Suite *configfile_suite(void);
Suite *response_suite(void);
Suite *filecache_suite(void);
Suite *conn_suite(void);
Suite *settings_suite(void);
Suite *rules_suite(void);
Suite *site_suite(void);
Suite *auth_suite(void);
Suite *codec_suite(void);
Suite *cachedir_suite(void);
Suite *proxyproto_suite(void);
Suite *netaddr_suite(void);
Suite *log_suite(void);
Suite *balancer_suite(void);
Suite *livebatch_suite(void);
Suite *live_suite(void);

/* check_beneath.c: 1 when openat2 is allowed here, so symlinks inside the root are
 * followed (else the fallback walk refuses them all). */
int kernel_has_openat2(void);

#endif
