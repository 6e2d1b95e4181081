/* Operator accounts, the pure part (auth.h): the role decision for every route class, the
 * parsing of Cookie and Authorization headers, user names; and the login limiter's peek
 * (ratelimit_available), which counts only failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "ratelimit.h"

static void test_roles_parse_and_name(void **state)
{
    (void)state;
    enum auth_role r = AUTH_ROLE_NONE;
    assert_int_equal(auth_role_parse("viewer", &r), 0);
    assert_int_equal(r, AUTH_ROLE_VIEWER);
    assert_int_equal(auth_role_parse("operator", &r), 0);
    assert_int_equal(r, AUTH_ROLE_OPERATOR);
    assert_int_equal(auth_role_parse("admin", &r), 0);
    assert_int_equal(r, AUTH_ROLE_ADMIN);
    assert_int_equal(auth_role_parse("Admin", &r), -EINVAL);
    assert_int_equal(auth_role_parse("none", &r), -EINVAL);
    assert_int_equal(auth_role_parse("", &r), -EINVAL);
    assert_int_equal(auth_role_parse(NULL, &r), -EINVAL);
    assert_string_equal(auth_role_name(AUTH_ROLE_OPERATOR), "operator");
    assert_string_equal(auth_role_name(AUTH_ROLE_NONE), "none");
    assert_string_equal(auth_role_name((enum auth_role)42), "none");
}

static void test_decide_every_class(void **state)
{
    (void)state;
    /* [access][role] for public_read off: 0 allowed, else the status. */
    static const struct {
        enum route_access access;
        unsigned none, viewer, operator, admin;
    } table[] = {
        {ACCESS_PUBLIC, 0, 0, 0, 0},      {ACCESS_CONTROLLER, 0, 0, 0, 0},
        {ACCESS_READ, 401, 0, 0, 0},      {ACCESS_USER, 401, 0, 0, 0},
        {ACCESS_STOP, 401, 0, 0, 0},      {ACCESS_DRIVE, 401, 403, 0, 0},
        {ACCESS_ADMIN, 401, 403, 403, 0}, {(enum route_access)99, 401, 403, 403, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        assert_int_equal(auth_decide(table[i].access, AUTH_ROLE_NONE, false), table[i].none);
        assert_int_equal(auth_decide(table[i].access, AUTH_ROLE_VIEWER, false), table[i].viewer);
        assert_int_equal(auth_decide(table[i].access, AUTH_ROLE_OPERATOR, false),
                         table[i].operator);
        assert_int_equal(auth_decide(table[i].access, AUTH_ROLE_ADMIN, false), table[i].admin);
    }
    /* --public-read opens reads only. */
    assert_int_equal(auth_decide(ACCESS_READ, AUTH_ROLE_NONE, true), 0);
    assert_int_equal(auth_decide(ACCESS_USER, AUTH_ROLE_NONE, true), 401);
    assert_int_equal(auth_decide(ACCESS_STOP, AUTH_ROLE_NONE, true), 401);
    assert_int_equal(auth_decide(ACCESS_DRIVE, AUTH_ROLE_NONE, true), 401);
    assert_int_equal(auth_decide(ACCESS_ADMIN, AUTH_ROLE_VIEWER, true), 403);
    /* A role out of range is no credential. */
    assert_int_equal(auth_decide(ACCESS_READ, (enum auth_role)7, false), 401);
    assert_int_equal(auth_role_needed(ACCESS_STOP), AUTH_ROLE_VIEWER);
    assert_int_equal(auth_role_needed(ACCESS_DRIVE), AUTH_ROLE_OPERATOR);
}

static void test_cookie_find(void **state)
{
    (void)state;
    char v[16];
    assert_int_equal(auth_cookie_find("a=1; s=abc; b=2", "s", v, sizeof v), 1);
    assert_string_equal(v, "abc");
    assert_int_equal(auth_cookie_find("s=first", "s", v, sizeof v), 1);
    assert_string_equal(v, "first");
    assert_int_equal(auth_cookie_find("x=1;s=\"quoted\"  ", "s", v, sizeof v), 1);
    assert_string_equal(v, "quoted");
    /* A name that only starts like ours, or a value-less one, is not ours. */
    assert_int_equal(auth_cookie_find("ss=1; s_x=2", "s", v, sizeof v), 0);
    assert_int_equal(auth_cookie_find("s", "s", v, sizeof v), 0);
    assert_int_equal(auth_cookie_find("", "s", v, sizeof v), 0);
    assert_int_equal(auth_cookie_find(NULL, "s", v, sizeof v), 0);
    assert_int_equal(auth_cookie_find("s=0123456789abcdef0", "s", v, sizeof v), -E2BIG);
    assert_int_equal(auth_cookie_find("s=", "s", v, sizeof v), 1);
    assert_string_equal(v, "");
}

static void test_bearer_parse(void **state)
{
    (void)state;
    char t[16];
    assert_int_equal(auth_bearer_parse("Bearer rht_abc", t, sizeof t), 1);
    assert_string_equal(t, "rht_abc");
    assert_int_equal(auth_bearer_parse("  bearer\t  tok  ", t, sizeof t), 1);
    assert_string_equal(t, "tok");
    assert_int_equal(auth_bearer_parse("Basic YWJj", t, sizeof t), 0);
    assert_int_equal(auth_bearer_parse("Bearer", t, sizeof t), 0);
    assert_int_equal(auth_bearer_parse("Bearer   ", t, sizeof t), 0);
    assert_int_equal(auth_bearer_parse("Bearertok", t, sizeof t), 0);
    assert_int_equal(auth_bearer_parse(NULL, t, sizeof t), 0);
    assert_int_equal(auth_bearer_parse("Bearer 0123456789abcdef", t, sizeof t), -E2BIG);
}

static void test_username_valid(void **state)
{
    (void)state;
    assert_true(auth_username_valid("admin"));
    assert_true(auth_username_valid("a.b_c-1"));
    assert_true(auth_username_valid("9lives"));
    assert_false(auth_username_valid(""));
    assert_false(auth_username_valid(NULL));
    assert_false(auth_username_valid(".hidden"));
    assert_false(auth_username_valid("-x"));
    assert_false(auth_username_valid("with space"));
    assert_false(auth_username_valid("a/b"));
    assert_false(auth_username_valid("ünï"));
    char longname[AUTH_USERNAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[AUTH_USERNAME_MAX] = '\0';
    assert_true(auth_username_valid(longname));
    longname[AUTH_USERNAME_MAX] = 'a';
    longname[AUTH_USERNAME_MAX + 1] = '\0';
    assert_false(auth_username_valid(longname));
}

/* The login limiter: failures take tokens; the peek refuses once they are used up, without
 * taking one itself, and frees again as the bucket refills. */
static void test_available_peeks(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(5, 5, 16); /* 5 a minute, burst 5 */
    int retry = 0;
    assert_true(ratelimit_available(rl, "user:olga", 0, &retry)); /* unseen: allowed */
    for (int i = 0; i < 100; i++)                                 /* peeking costs nothing */
        assert_true(ratelimit_available(rl, "user:olga", 0, &retry));
    for (int i = 0; i < 5; i++)
        assert_true(ratelimit_take(rl, "user:olga", 0, NULL));
    assert_false(ratelimit_available(rl, "user:olga", 0, &retry));
    assert_in_range(retry, 12, 13); /* one token per 12 s */
    assert_true(ratelimit_available(rl, "user:other", 0, &retry));
    assert_false(ratelimit_available(rl, "user:olga", 11000, &retry));
    assert_true(ratelimit_available(rl, "user:olga", 12000, &retry));
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_parse_and_name), cmocka_unit_test(test_decide_every_class),
        cmocka_unit_test(test_cookie_find),          cmocka_unit_test(test_bearer_parse),
        cmocka_unit_test(test_username_valid),       cmocka_unit_test(test_available_peeks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
