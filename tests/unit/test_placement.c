/* The pure placement rules (placement.h): what a heartbeat's report and a train's move write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "placement.h"

static const char *A = "aaaaaaaa-0000-4000-8000-000000000001";
static const char *B = "bbbbbbbb-0000-4000-8000-000000000002";
static const char *C = "cccccccc-0000-4000-8000-000000000003";

static void test_moved_away(void **state)
{
    assert_false(placement_moved_away(A, A));
    assert_true(placement_moved_away(A, B));
    assert_true(placement_moved_away(A, NULL)); /* unassigned */
}

/* Nobody held it: the reporter does, complete when it is the desired owner. */
static void test_reported_unheld(void **state)
{
    struct placement_claim c = placement_reported(A, A, NULL, false, "in_progress");
    assert_string_equal(c.actual, A);
    assert_string_equal(c.status, "complete");
    assert_true(c.changed);
    /* Reported by a controller it is not assigned to: pending (it still runs it). */
    c = placement_reported(A, B, NULL, false, "in_progress");
    assert_string_equal(c.actual, A);
    assert_string_equal(c.status, "pending");
    assert_true(c.changed);
}

/* The reporter already holds it: a write only when the status is not what it should be. */
static void test_reported_already_held(void **state)
{
    struct placement_claim c = placement_reported(A, A, A, false, "complete");
    assert_string_equal(c.actual, A);
    assert_string_equal(c.status, "complete");
    assert_false(c.changed);
    c = placement_reported(A, A, A, true, "complete"); /* its own presence plays no part */
    assert_false(c.changed);
    c = placement_reported(A, A, A, false, "forced");
    assert_string_equal(c.status, "complete");
    assert_true(c.changed);
    c = placement_reported(A, A, A, false, NULL); /* no status on record */
    assert_true(c.changed);
    c = placement_reported(A, B, A, false, "pending"); /* moved away, still running it */
    assert_string_equal(c.status, "pending");
    assert_false(c.changed);
}

/* Another controller holds it and is online: a conflict, and the holder keeps the train. */
static void test_reported_conflict(void **state)
{
    struct placement_claim c = placement_reported(A, A, B, true, "pending");
    assert_string_equal(c.actual, B);
    assert_string_equal(c.status, "conflict");
    assert_true(c.changed);
    c = placement_reported(A, A, B, true, "conflict"); /* already recorded */
    assert_string_equal(c.actual, B);
    assert_false(c.changed);
    c = placement_reported(A, C, B, true, "conflict"); /* desired elsewhere still */
    assert_string_equal(c.status, "conflict");
    assert_false(c.changed);
}

/* Another controller holds it but is not online: it lost the train to the reporter. */
static void test_reported_takes_over_gone_holder(void **state)
{
    struct placement_claim c = placement_reported(A, A, B, false, "pending");
    assert_string_equal(c.actual, A);
    assert_string_equal(c.status, "complete");
    assert_true(c.changed);
    c = placement_reported(A, C, B, false, "pending");
    assert_string_equal(c.actual, A);
    assert_string_equal(c.status, "pending");
    assert_true(c.changed); /* the holder changes even though the status does not */
}

static void test_register_steps(void **state)
{
    assert_int_equal(placement_register(A, A, false), PLACEMENT_ALREADY_HERE);
    assert_int_equal(placement_register(A, A, true), PLACEMENT_ALREADY_HERE);
    assert_int_equal(placement_register(B, A, false), PLACEMENT_REFUSED);
    assert_int_equal(placement_register(B, A, true), PLACEMENT_TAKE);
    /* An unassigned train goes to whoever registers it, reassign or not. */
    assert_int_equal(placement_register(NULL, A, false), PLACEMENT_TAKE);
    assert_int_equal(placement_register(NULL, A, true), PLACEMENT_TAKE);
}

/* Same owner: no move; only a change its config carries raises the owner's version. */
static void test_put_stays(void **state)
{
    struct placement_move m = placement_put(A, A, A, true, false);
    assert_false(m.moved);
    assert_false(m.forced); /* force means nothing without a move */
    assert_null(m.status);
    assert_false(m.bump_old);
    assert_false(m.bump_new);
    assert_false(m.check_new);
    m = placement_put(A, A, A, false, true);
    assert_false(m.moved);
    assert_true(m.bump_old);
    assert_false(m.bump_new);
    assert_true(m.check_new);
    /* Unassigned and staying so. */
    m = placement_put(NULL, NULL, NULL, false, true);
    assert_false(m.moved);
    assert_false(m.bump_old);
    assert_false(m.check_new);
}

static void test_put_moves(void **state)
{
    /* A to B while A still runs it: pending, both versions rise, B's config checked. */
    struct placement_move m = placement_put(A, B, A, false, false);
    assert_true(m.moved);
    assert_false(m.forced);
    assert_string_equal(m.status, "pending");
    assert_true(m.bump_old);
    assert_true(m.bump_new);
    assert_true(m.check_new);
    /* Nobody runs it: in progress until B reports it. */
    m = placement_put(A, B, NULL, false, false);
    assert_string_equal(m.status, "in_progress");
    /* Back to the one that runs it: complete. */
    m = placement_put(A, B, B, false, false);
    assert_string_equal(m.status, "complete");
    /* Assigning an unassigned train: only the new owner's version rises. */
    m = placement_put(NULL, B, NULL, false, false);
    assert_true(m.moved);
    assert_false(m.bump_old);
    assert_true(m.bump_new);
    assert_true(m.check_new);
    /* Unassigning: only the old owner's, and no config to check. */
    m = placement_put(A, NULL, A, false, false);
    assert_true(m.moved);
    assert_string_equal(m.status, "pending");
    assert_true(m.bump_old);
    assert_false(m.bump_new);
    assert_false(m.check_new);
}

static void test_put_forced(void **state)
{
    struct placement_move m = placement_put(A, B, A, true, false);
    assert_true(m.forced);
    assert_string_equal(m.status, "forced");
    m = placement_put(A, NULL, A, true, false); /* forced off the holder, to nobody */
    assert_true(m.forced);
    assert_string_equal(m.status, "forced");
    /* Nothing to force: nobody holds it, or the new owner already does. */
    m = placement_put(A, B, NULL, true, false);
    assert_false(m.forced);
    assert_string_equal(m.status, "in_progress");
    m = placement_put(A, B, B, true, false);
    assert_false(m.forced);
    assert_string_equal(m.status, "complete");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_away),
        cmocka_unit_test(test_reported_unheld),
        cmocka_unit_test(test_reported_already_held),
        cmocka_unit_test(test_reported_conflict),
        cmocka_unit_test(test_reported_takes_over_gone_holder),
        cmocka_unit_test(test_register_steps),
        cmocka_unit_test(test_put_stays),
        cmocka_unit_test(test_put_moves),
        cmocka_unit_test(test_put_forced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
