/* The paging parameters and the cursor: every bad value refused naming its parameter, a
 * cursor read back as written, and one list's cursor refused by the other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "paging.h"
#include "presence.h"

static struct paging_args args;
static struct paging_err err;

static int parse(const char *limit, const char *cursor, const char *presence, const char *name)
{
    memset(&args, 0, sizeof args);
    memset(&err, 0, sizeof err);
    return paging_parse(PAGING_CONTROLLERS, limit, cursor, presence, name, &args, &err);
}

static void test_no_parameter_is_the_whole_list(void **state)
{
    assert_int_equal(parse(NULL, NULL, NULL, NULL), 0);
}

static void test_limit(void **state)
{
    assert_int_equal(parse("1", NULL, NULL, NULL), 1);
    assert_int_equal(args.limit, 1);
    assert_int_equal(parse("1000", NULL, NULL, NULL), 1);
    assert_int_equal(args.limit, 1000);
    assert_int_equal(parse(NULL, NULL, "", NULL), 1);
    assert_int_equal(args.limit, PAGING_LIMIT_DEFAULT);
    static const char *const bad[] = {"0", "1001", "-1", "+5", " 5", "5.0", "", "x", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], NULL, NULL, NULL), -1);
        assert_string_equal(err.field, "limit");
    }
}

static void test_presence(void **state)
{
    assert_int_equal(parse(NULL, NULL, "online", NULL), 1);
    assert_int_equal(args.presence, 1u << PRESENCE_ONLINE);
    assert_int_equal(parse(NULL, NULL, "stale,offline,stale", NULL), 1);
    assert_int_equal(args.presence, (1u << PRESENCE_STALE) | (1u << PRESENCE_OFFLINE));
    assert_int_equal(parse(NULL, NULL, "", NULL), 1);
    assert_int_equal(args.presence, 0);
    static const char *const bad[] = {"on",
                                      "Online",
                                      "online,",
                                      ",online",
                                      "online,,stale",
                                      "online stale",
                                      "unknownxxxxxxxxxxxxxxxxxx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(NULL, NULL, bad[i], NULL), -1);
        assert_string_equal(err.field, "presence");
    }
}

static void test_name(void **state)
{
    assert_int_equal(parse(NULL, NULL, NULL, "Pi-\xc3\x84"), 1);
    assert_string_equal(args.name_part, "pi-\xc3\x84"); /* only ASCII letters folded */
    char longest[401];
    memset(longest, 'a', 100);
    longest[100] = '\0';
    assert_int_equal(parse(NULL, NULL, NULL, longest), 1);
    longest[100] = 'a';
    longest[101] = '\0';
    assert_int_equal(parse(NULL, NULL, NULL, longest), -1);
    assert_string_equal(err.field, "name");
    assert_int_equal(parse(NULL, NULL, NULL, "\xff"), -1);
    assert_string_equal(err.field, "name");
}

static void test_cursor_round_trip(void **state)
{
    char *c = paging_cursor(PAGING_CONTROLLERS, "pi \"1\"/\xc3\x84", "some-id");
    assert_non_null(c);
    assert_null(strpbrk(c, "+/=")); /* base64url without padding: safe in a URL as it is */
    assert_int_equal(parse("5", c, NULL, NULL), 1);
    assert_true(args.has_after);
    assert_string_equal(args.after_name, "pi \"1\"/\xc3\x84");
    assert_string_equal(args.after_id, "some-id");
    /* The other list's cursor. */
    assert_int_equal(paging_parse(PAGING_TRAINS, NULL, c, NULL, NULL, &args, &err), -1);
    assert_string_equal(err.field, "cursor");
    free(c);
}

static void test_bad_cursors(void **state)
{
    /* base64url of: [1,2,3] / ["c","a"] / {"c":1} / ["c","a\u0000b","x"] */
    static const char *const bad[] = {"",
                                      "!!!!",
                                      "WzEsMiwzXQ",
                                      "WyJjIiwiYSJd",
                                      "eyJjIjoxfQ",
                                      "WyJjIiwiYVx1MDAwMGIiLCJ4Il0",
                                      "WyJjIiwiYSIsIngiXQ=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(NULL, bad[i], NULL, NULL), -1);
        assert_string_equal(err.field, "cursor");
    }
    char *huge = malloc(PAGING_CURSOR_MAX + 2);
    memset(huge, 'A', PAGING_CURSOR_MAX + 1);
    huge[PAGING_CURSOR_MAX + 1] = '\0';
    assert_int_equal(parse(NULL, huge, NULL, NULL), -1);
    free(huge);
    char key[PAGING_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_null(paging_cursor(PAGING_CONTROLLERS, key, "id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_parameter_is_the_whole_list),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_bad_cursors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
