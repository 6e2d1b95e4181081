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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moved_away),
        cmocka_unit_test(test_reported_unheld),
        cmocka_unit_test(test_reported_already_held),
        cmocka_unit_test(test_reported_conflict),
        cmocka_unit_test(test_reported_takes_over_gone_holder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
