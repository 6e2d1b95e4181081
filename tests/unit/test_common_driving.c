/* A train's driving settings: the one rule set the central and the edge apply (driving.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "driving.h"

static int check(const char *text, char *field)
{
    json_t *d = json_loads(text, 0, NULL);
    assert_non_null(d);
    char f[32] = "", why[96] = "";
    int rc = driving_check(d, f, sizeof f, why, sizeof why);
    if (rc < 0)
        assert_true(why[0] != '\0');
    if (field != NULL)
        strcpy(field, f);
    json_decref(d);
    return rc;
}

static void test_valid(void **state)
{
    (void)state;
    assert_int_equal(check("{}", NULL), 0);
    assert_int_equal(check("{\"acceleration_s\": 0, \"braking_s\": 2.5}", NULL), 0);
    assert_int_equal(check("{\"acceleration_s\": 600, \"braking_s\": null}", NULL), 0);
    assert_int_equal(check("{\"min_speed\": 20, \"max_speed\": 80, \"start_resumes\": true}", NULL),
                     0);
    assert_int_equal(check("{\"min_speed\": 99}", NULL), 0);
    assert_int_equal(check("{\"max_speed\": 1}", NULL), 0);
}

static void test_invalid_names_the_key(void **state)
{
    (void)state;
    char f[32];
    static const struct {
        const char *doc, *field;
    } cases[] = {
        {"{\"acceleration_s\": -1}", "acceleration_s"},
        {"{\"braking_s\": 601}", "braking_s"},
        {"{\"braking_s\": \"2\"}", "braking_s"},
        {"{\"min_speed\": 100}", "min_speed"},
        {"{\"min_speed\": 2.5}", "min_speed"},
        {"{\"max_speed\": 0}", "max_speed"},
        {"{\"min_speed\": 50, \"max_speed\": 50}", "min_speed"},
        {"{\"start_resumes\": 1}", "start_resumes"},
        {"{\"turbo\": true}", "turbo"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(check(cases[i].doc, f), -22);
        assert_string_equal(f, cases[i].field);
    }
    assert_int_equal(check("[]", f), -22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid_names_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
