/* Every registration matching rule of docs/api.md, and the placement status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "registry.h"
#include "secret.h"

static void test_rule1_known_uuid_reactivates(void **state)
{
    struct registry_decision d = registry_match(true, true, NULL, 0);
    assert_int_equal(d.action, REGISTRY_REACTIVATE);
    assert_string_equal(registry_status_name(d.action), "reactivated");
}

static void test_rule1_ignores_name_candidates(void **state)
{
    /* A UUID wins over any name match, even an offline one with the same name. */
    struct registry_candidate c[] = {{PRESENCE_OFFLINE, false, false}};
    struct registry_decision d = registry_match(true, true, c, 1);
    assert_int_equal(d.action, REGISTRY_REACTIVATE);
}

static void test_rule2_unknown_uuid_restores(void **state)
{
    struct registry_candidate c[] = {{PRESENCE_OFFLINE, false, false}};
    struct registry_decision d = registry_match(true, false, c, 1);
    assert_int_equal(d.action, REGISTRY_RESTORE);
    assert_string_equal(registry_status_name(d.action), "restored");
}

static void test_rule3_adopts_offline_name(void **state)
{
    struct registry_candidate c[] = {{PRESENCE_OFFLINE, false, false}};
    struct registry_decision d = registry_match(false, false, c, 1);
    assert_int_equal(d.action, REGISTRY_ADOPT);
    assert_int_equal(d.adopt_index, 0);
    assert_string_equal(registry_status_name(d.action), "existing");
}

static void test_rule3_adopts_stale_and_never_seen(void **state)
{
    struct registry_candidate stale[] = {{PRESENCE_STALE, false, false}};
    assert_int_equal(registry_match(false, false, stale, 1).action, REGISTRY_ADOPT);
    struct registry_candidate never[] = {{PRESENCE_UNKNOWN, false, false}};
    assert_int_equal(registry_match(false, false, never, 1).action, REGISTRY_ADOPT);
}

static void test_rule3_never_shares_live_controller(void **state)
{
    struct registry_candidate c[] = {{PRESENCE_ONLINE, false, false}};
    struct registry_decision d = registry_match(false, false, c, 1);
    assert_int_equal(d.action, REGISTRY_CREATE);
}

static void test_rule3_skips_live_picks_first_not_online(void **state)
{
    struct registry_candidate c[] = {{PRESENCE_ONLINE, false, false},
                                     {PRESENCE_STALE, false, false},
                                     {PRESENCE_OFFLINE, false, false}};
    struct registry_decision d = registry_match(false, false, c, 3);
    assert_int_equal(d.action, REGISTRY_ADOPT);
    assert_int_equal(d.adopt_index, 1);
}

/* The same device restarting: same name, same address, record still live (an earlier edge
 * whose container lost its cache registers again within seconds). */
static void test_rule3_same_address_adopts_live(void **state)
{
    struct registry_candidate c[] = {{PRESENCE_ONLINE, false, false},
                                     {PRESENCE_ONLINE, true, false}};
    struct registry_decision d = registry_match(false, false, c, 2);
    assert_int_equal(d.action, REGISTRY_ADOPT);
    assert_int_equal(d.adopt_index, 1);
    /* Preferred over a record of that name that is not online but came from elsewhere. */
    struct registry_candidate e[] = {{PRESENCE_OFFLINE, false, false},
                                     {PRESENCE_STALE, true, false}};
    d = registry_match(false, false, e, 2);
    assert_int_equal(d.adopt_index, 1);
    /* With a uuid the address plays no part. */
    assert_int_equal(registry_match(true, false, c, 2).action, REGISTRY_RESTORE);
}

/* A controller holding a secret is never adopted by name, not even from its own address: a
 * device without its UUID is not known to be it. The next candidate may still be. */
static void test_rule3_never_adopts_secured(void **state)
{
    struct registry_candidate c[] = {{PRESENCE_OFFLINE, false, true}};
    assert_int_equal(registry_match(false, false, c, 1).action, REGISTRY_CREATE);
    struct registry_candidate same[] = {{PRESENCE_ONLINE, true, true}};
    assert_int_equal(registry_match(false, false, same, 1).action, REGISTRY_CREATE);
    struct registry_candidate mixed[] = {{PRESENCE_OFFLINE, true, true},
                                         {PRESENCE_OFFLINE, false, false}};
    struct registry_decision d = registry_match(false, false, mixed, 2);
    assert_int_equal(d.action, REGISTRY_ADOPT);
    assert_int_equal(d.adopt_index, 1);
}

static void test_same_address(void **state)
{
    assert_true(registry_same_address("10.0.0.7", "10.0.0.7"));
    assert_false(registry_same_address("10.0.0.7", "10.0.0.8"));
    assert_false(registry_same_address(NULL, "10.0.0.7"));
    assert_false(registry_same_address("10.0.0.7", NULL));
    assert_false(registry_same_address("", ""));
    assert_false(registry_same_address("unknown", "unknown"));
    assert_false(registry_same_address("Unknown", "Unknown"));
}

static void test_rule4_no_candidates_creates(void **state)
{
    struct registry_decision d = registry_match(false, false, NULL, 0);
    assert_int_equal(d.action, REGISTRY_CREATE);
    assert_string_equal(registry_status_name(d.action), "registered");
}

static void test_seed_config_version(void **state)
{
    assert_int_equal(registry_seed_config_version(1, -1), 1);
    assert_int_equal(registry_seed_config_version(0, -1), 1);
    assert_int_equal(registry_seed_config_version(1, 7), 8); /* restored from old backup */
    assert_int_equal(registry_seed_config_version(9, 7), 9); /* already ahead */
    assert_int_equal(registry_seed_config_version(7, 7), 7); /* a restart: nothing new */
    assert_int_equal(registry_restore_config_version(-1), 1);
    assert_int_equal(registry_restore_config_version(0), 1);
    assert_int_equal(registry_restore_config_version(7), 8); /* restored: above applied */
}

static void test_reassignment_status(void **state)
{
    const char *a = "aaaaaaaa-0000-4000-8000-000000000001";
    const char *b = "bbbbbbbb-0000-4000-8000-000000000002";
    assert_string_equal(registry_reassignment_status(a, a, false), "complete");
    assert_string_equal(registry_reassignment_status(NULL, NULL, false), "complete");
    assert_string_equal(registry_reassignment_status(b, a, false), "pending");
    assert_string_equal(registry_reassignment_status(NULL, a, false), "pending");
    assert_string_equal(registry_reassignment_status(b, NULL, false), "in_progress");
    assert_string_equal(registry_reassignment_status(a, a, true), "conflict");
}

static void test_handover_deliverable(void **state)
{
    const char *a = "aaaaaaaa-0000-4000-8000-000000000001";
    const char *b = "bbbbbbbb-0000-4000-8000-000000000002";
    /* Not held by anyone, or held by b itself: b runs it. */
    assert_true(registry_train_deliverable(b, NULL, PRESENCE_UNKNOWN));
    assert_true(registry_train_deliverable(b, b, PRESENCE_ONLINE));
    /* Still held by a live a (online or only stale): b waits for a to release it. */
    assert_false(registry_train_deliverable(b, a, PRESENCE_ONLINE));
    assert_false(registry_train_deliverable(b, a, PRESENCE_STALE));
    /* a is gone: b may take over. */
    assert_true(registry_train_deliverable(b, a, PRESENCE_OFFLINE));
    assert_true(registry_train_deliverable(b, a, PRESENCE_UNKNOWN));
}

/* A new session is above the one on record and at least the one the edge announced. */
static void test_session_epoch(void **state)
{
    assert_int_equal(registry_session_epoch(0, -1), 1); /* new record, nothing announced */
    assert_int_equal(registry_session_epoch(0, 0), 1);  /* new record, announced 0 */
    assert_int_equal(registry_session_epoch(0, 1), 1);  /* new record, announced 1 */
    assert_int_equal(registry_session_epoch(0, 7), 7);  /* new record after a reset */
    assert_int_equal(registry_session_epoch(4, -1), 5); /* known, nothing announced */
    assert_int_equal(registry_session_epoch(4, 3), 5);  /* announced an older one */
    assert_int_equal(registry_session_epoch(4, 5), 5);  /* announced the next one */
    assert_int_equal(registry_session_epoch(4, 9), 9);  /* announced further ahead */
}

static void test_secret_check(void **state)
{
    char secret[SECRET_HEX_LEN + 1], other[SECRET_HEX_LEN + 1], hash[SHA256_HEX_LEN + 1];
    assert_int_equal(secret_generate(secret), 0);
    assert_int_equal(secret_generate(other), 0);
    secret_hash(secret, hash);
    /* None on record: whatever is presented, or nothing. */
    assert_int_equal(registry_secret_check(NULL, NULL), REGISTRY_SECRET_OK);
    assert_int_equal(registry_secret_check(NULL, secret), REGISTRY_SECRET_OK);
    /* One on record: only that one. */
    assert_int_equal(registry_secret_check(hash, secret), REGISTRY_SECRET_OK);
    assert_int_equal(registry_secret_check(hash, NULL), REGISTRY_SECRET_MISSING);
    assert_int_equal(registry_secret_check(hash, other), REGISTRY_SECRET_WRONG);
    assert_int_equal(registry_secret_check(hash, "not-a-secret"), REGISTRY_SECRET_WRONG);
}

static void test_secret_step(void **state)
{
    /* Rule 1 with one on record keeps it, whatever the edge presents or asks. */
    assert_int_equal(registry_secret_step(REGISTRY_REACTIVATE, true, true, true),
                     REGISTRY_SECRET_KEEP);
    assert_int_equal(registry_secret_step(REGISTRY_REACTIVATE, true, false, false),
                     REGISTRY_SECRET_KEEP);
    /* Rules 1 (none on record) and 2 adopt the presented one, asked or not. */
    assert_int_equal(registry_secret_step(REGISTRY_REACTIVATE, false, true, false),
                     REGISTRY_SECRET_ADOPT);
    assert_int_equal(registry_secret_step(REGISTRY_RESTORE, false, true, true),
                     REGISTRY_SECRET_ADOPT);
    /* on_record means nothing beyond rule 1. */
    assert_int_equal(registry_secret_step(REGISTRY_RESTORE, true, true, false),
                     REGISTRY_SECRET_ADOPT);
    /* Without one presented: issued when asked. */
    assert_int_equal(registry_secret_step(REGISTRY_REACTIVATE, false, false, true),
                     REGISTRY_SECRET_ISSUE);
    assert_int_equal(registry_secret_step(REGISTRY_RESTORE, false, false, true),
                     REGISTRY_SECRET_ISSUE);
    assert_int_equal(registry_secret_step(REGISTRY_RESTORE, false, false, false),
                     REGISTRY_SECRET_KEEP);
    /* Rules 3 and 4 never adopt a presented secret (there is no UUID it goes with). */
    assert_int_equal(registry_secret_step(REGISTRY_ADOPT, false, true, false),
                     REGISTRY_SECRET_KEEP);
    assert_int_equal(registry_secret_step(REGISTRY_ADOPT, false, true, true),
                     REGISTRY_SECRET_ISSUE);
    assert_int_equal(registry_secret_step(REGISTRY_CREATE, false, true, false),
                     REGISTRY_SECRET_KEEP);
    assert_int_equal(registry_secret_step(REGISTRY_CREATE, false, false, true),
                     REGISTRY_SECRET_ISSUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule1_known_uuid_reactivates),
        cmocka_unit_test(test_rule1_ignores_name_candidates),
        cmocka_unit_test(test_rule2_unknown_uuid_restores),
        cmocka_unit_test(test_rule3_adopts_offline_name),
        cmocka_unit_test(test_rule3_adopts_stale_and_never_seen),
        cmocka_unit_test(test_rule3_never_shares_live_controller),
        cmocka_unit_test(test_rule3_skips_live_picks_first_not_online),
        cmocka_unit_test(test_rule3_same_address_adopts_live),
        cmocka_unit_test(test_rule3_never_adopts_secured),
        cmocka_unit_test(test_same_address),
        cmocka_unit_test(test_rule4_no_candidates_creates),
        cmocka_unit_test(test_seed_config_version),
        cmocka_unit_test(test_reassignment_status),
        cmocka_unit_test(test_handover_deliverable),
        cmocka_unit_test(test_session_epoch),
        cmocka_unit_test(test_secret_check),
        cmocka_unit_test(test_secret_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
