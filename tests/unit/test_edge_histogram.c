/* The config download-time histogram: cumulative buckets, sum and count in the Prometheus
 * text format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"

static char *render(const struct histogram *h)
{
    size_t len = 0, cap = 16; /* small: the buffer must grow */
    char *buf = malloc(cap);
    assert_non_null(buf);
    buf[0] = '\0';
    assert_int_equal(histogram_render(h, "x_seconds", "Test.", &buf, &len, &cap), 0);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static void test_empty(void **state)
{
    (void)state;
    struct histogram h = {0};
    char *t = render(&h);
    assert_non_null(strstr(t, "# HELP x_seconds Test.\n# TYPE x_seconds histogram\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"10\"} 0\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"+Inf\"} 0\nx_seconds_sum 0.000000\n"
                              "x_seconds_count 0\n"));
    free(t);
}

static void test_cumulative(void **state)
{
    (void)state;
    struct histogram h = {0};
    histogram_observe(&h, 0.001);
    histogram_observe(&h, 0.005); /* le is inclusive */
    histogram_observe(&h, 0.3);
    histogram_observe(&h, 42.0); /* only +Inf */
    histogram_observe(&h, -1.0); /* counts as 0 */
    histogram_observe(&h, NAN);  /* ignored */
    assert_int_equal(h.count, 5);
    char *t = render(&h);
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.005\"} 3\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.25\"} 3\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.5\"} 4\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"10\"} 4\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(t, "x_seconds_sum 42.306000\n"));
    assert_non_null(strstr(t, "x_seconds_count 5\n"));
    free(t);
    /* Bounds rise. */
    for (size_t i = 1; i < HISTOGRAM_BUCKETS; i++)
        assert_true(histogram_bound(i) > histogram_bound(i - 1));
    assert_true(isinf(histogram_bound(HISTOGRAM_BUCKETS)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_cumulative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
