/* The Prometheus text writer: family headers, samples with and without labels, histograms
 * with cumulative buckets, and the sticky error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static const double le[] = {0.005, 0.25, 0.5, 10};
static const struct prom_buckets buckets = {le, sizeof le / sizeof le[0]};

static void test_samples(void **state)
{
    (void)state;
    struct prom p;
    prom_init(&p);
    prom_counter(&p, "a_total", "Things done.", 42);
    prom_gauge(&p, "b", "A level.", -3);
    prom_family(&p, "c_total", "counter", "By kind.");
    prom_u64(&p, "c_total", "kind=\"x\"", UINT64_MAX);
    prom_i64(&p, "c_total", "", 7);
    char *t = prom_finish(&p);
    assert_non_null(t);
    assert_string_equal(t, "# HELP a_total Things done.\n# TYPE a_total counter\na_total 42\n"
                           "# HELP b A level.\n# TYPE b gauge\nb -3\n"
                           "# HELP c_total By kind.\n# TYPE c_total counter\n"
                           "c_total{kind=\"x\"} 18446744073709551615\nc_total 7\n");
    assert_null(p.buf);
    free(t);
}

static void test_histogram(void **state)
{
    (void)state;
    struct prom_histogram h = {0};
    prom_observe(&h, &buckets, 0.001);
    prom_observe(&h, &buckets, 0.005); /* le is inclusive */
    prom_observe(&h, &buckets, 0.3);
    prom_observe(&h, &buckets, 42.0); /* only +Inf */
    prom_observe(&h, &buckets, -1.0); /* counts as 0 */
    prom_observe(&h, &buckets, NAN);  /* ignored */
    assert_int_equal(h.count, 5);
    struct prom p;
    prom_init(&p);
    prom_histogram(&p, "x_seconds", NULL, &h, &buckets);
    prom_histogram(&p, "y_seconds", "route=\"/r\"", &h, &buckets);
    char *t = prom_finish(&p);
    assert_non_null(t);
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.005\"} 3\n"
                              "x_seconds_bucket{le=\"0.25\"} 3\n"
                              "x_seconds_bucket{le=\"0.5\"} 4\n"
                              "x_seconds_bucket{le=\"10\"} 4\n"
                              "x_seconds_bucket{le=\"+Inf\"} 5\n"
                              "x_seconds_sum 42.306000\nx_seconds_count 5\n"));
    assert_non_null(strstr(t, "y_seconds_bucket{route=\"/r\",le=\"0.005\"} 3\n"));
    assert_non_null(strstr(t, "y_seconds_bucket{route=\"/r\",le=\"+Inf\"} 5\n"
                              "y_seconds_sum{route=\"/r\"} 42.306000\n"
                              "y_seconds_count{route=\"/r\"} 5\n"));
    free(t);
}

static void test_grows_and_sticks(void **state)
{
    (void)state;
    struct prom p;
    prom_init(&p);
    for (int i = 0; i < 2000; i++) /* well past the first 4 KiB */
        prom_u64(&p, "many_total", "i=\"0123456789\"", (uint64_t)i);
    assert_int_equal(p.rc, 0);
    assert_int_equal(strlen(p.buf), p.len);
    p.rc = -12; /* as after a failed realloc: the rest is skipped, finish gives NULL */
    size_t len = p.len;
    prom_counter(&p, "late_total", "Not written.", 1);
    assert_int_equal(p.len, len);
    assert_null(prom_finish(&p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_grows_and_sticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
