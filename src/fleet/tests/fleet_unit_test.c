/* Unit tests of roundhouse-fleet's pure parts: identities, percentiles, /proc parsers and
 * the command line. No network, no clocks. */
#include <errno.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fleet_options.h"
#include "procstat.h"
#include "simid.h"
#include "stats.h"
#include "uuidstr.h"

static void simid_is_deterministic_and_valid(void **state)
{
    (void)state;
    char a[UUIDSTR_LEN + 1], b[UUIDSTR_LEN + 1], c[UUIDSTR_LEN + 1];
    simid_uuid(7, 42, a);
    simid_uuid(7, 42, b);
    simid_uuid(7, 43, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    for (long i = 0; i < 1000; i++) {
        simid_uuid(1, i, a);
        assert_true(uuidstr_valid(a));
        assert_int_equal(a[14], '4');
        assert_non_null(strchr("89ab", a[19]));
    }
    char name[SIMID_NAME_MAX], prefix[SIMID_NAME_MAX], train[SIMID_TRAIN_MAX + 1];
    assert_int_equal(simid_name(7, 42, name, sizeof name), 0);
    assert_int_equal(simid_name_prefix(7, prefix, sizeof prefix), 0);
    assert_string_equal(name, "fleet-7-42");
    assert_int_equal(strncmp(name, prefix, strlen(prefix)), 0);
    assert_int_equal(simid_train_id(7, 42, 3, train, sizeof train), 0);
    assert_string_equal(train, "fl7-c42-t3");
    char tiny[4];
    assert_int_equal(simid_name(7, 42, tiny, sizeof tiny), -ENAMETOOLONG);
}

static void stats_nearest_rank(void **state)
{
    (void)state;
    struct stats s;
    struct stats_summary m;
    stats_init(&s, 1000);
    stats_summarize(&s, &m);
    assert_int_equal(m.count, 0);
    for (int i = 100; i >= 1; i--)
        stats_add(&s, i * 1000); /* 1..100 ms, unsorted */
    stats_summarize(&s, &m);
    assert_int_equal(m.count, 100);
    assert_true(m.p50_ms == 50.0);
    assert_true(m.p90_ms == 90.0);
    assert_true(m.p99_ms == 99.0);
    assert_true(m.max_ms == 100.0);
    int64_t one[] = {7};
    assert_int_equal(stats_percentile_sorted(one, 1, 99), 7);
    assert_int_equal(stats_percentile_sorted(one, 0, 50), 0);
    stats_free(&s);
}

static void stats_reservoir_keeps_exact_count_and_max(void **state)
{
    (void)state;
    struct stats s;
    struct stats_summary m;
    stats_init(&s, 100);
    for (int i = 0; i < 10000; i++)
        stats_add(&s, i % 10 == 0 ? 5000 : 1000);
    stats_add(&s, 900000);
    stats_summarize(&s, &m);
    assert_int_equal(m.count, 10001);
    assert_true(m.max_ms == 900.0);
    assert_true(s.n == 100);
    assert_true(m.p50_ms == 1.0);
    stats_free(&s);
}

static void procstat_parsers(void **state)
{
    (void)state;
    uint64_t ticks = 0;
    /* A command name with spaces and parentheses: fields count from the last ')'. */
    const char *stat = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
                       "250 50 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
    assert_int_equal(procstat_parse_stat(stat, &ticks), 0);
    assert_int_equal(ticks, 300);
    assert_int_equal(procstat_parse_stat("garbage", &ticks), -EINVAL);
    assert_int_equal(procstat_parse_stat("1 (x) S 1 2", &ticks), -EINVAL);

    long rss = 0, hwm = 0;
    const char *status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t1\n";
    assert_int_equal(procstat_parse_status(status, &rss, &hwm), 0);
    assert_int_equal(rss, 1024);
    assert_int_equal(hwm, 2048);
    assert_int_equal(procstat_parse_status("Name:\tx\n", &rss, &hwm), -EINVAL);

    unsigned long inode = 0;
    const char *tcp =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0    "
        "    0 111 1 0000000000000000 20 4 30 10 -1\n"
        "   1: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0    "
        "    0 222 1 0000000000000000 100 0 0 10 0\n";
    assert_int_equal(procstat_parse_listener(tcp, 8000, &inode), 0);
    assert_int_equal(inode, 222); /* the LISTEN row, not the established one */
    assert_int_equal(procstat_parse_listener(tcp, 8001, &inode), -ENOENT);
}

/* fleet_options_parse on the NULL-terminated args after the program name. */
static int parse_list(struct fleet_options *o, char **args)
{
    char *argv[32] = {"roundhouse-fleet"};
    int argc = 1;
    while (argc < 31 && args[argc - 1] != NULL) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    FILE *null = fopen("/dev/null", "w");
    int rc = fleet_options_parse(argc, argv, o, null, null);
    fclose(null);
    return rc;
}

static void options(void **state)
{
    (void)state;
    struct fleet_options o;
    memset(&o, 0, sizeof o);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://127.0.0.1:8000/", "--mqtt", "127.0.0.1:1883",
                                  "--controllers", "20", "--scenario", "reassign", "--duration",
                                  "2.5", "--shard", "1/3", "--json", NULL}),
        0);
    assert_string_equal(o.central, "http://127.0.0.1:8000");
    assert_string_equal(o.mqtt_host, "127.0.0.1");
    assert_int_equal(o.mqtt_port, 1883);
    assert_int_equal(o.controllers, 20);
    assert_int_equal(o.scenario, FLEET_REASSIGN);
    assert_true(o.json);
    assert_int_equal(o.shard, 1);
    assert_int_equal(o.shards, 3);
    assert_int_equal(o.trains_per_controller, 1);

    assert_int_equal(parse_list(&o, (char *[]){"--help", NULL}), 1);
    assert_int_equal(parse_list(&o, (char *[]){"--version", NULL}), 1);
    assert_int_equal(parse_list(&o, (char *[]){"--controllers", "5", NULL}), -EINVAL);
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "0", NULL}),
                     -EINVAL);
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "5", "--shard", "3/3", NULL}),
                     -EINVAL);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "1",
                                  "--scenario", "reassign", NULL}),
        -EINVAL);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "5",
                                  "--trains-per-controller", "65", NULL}),
        -EINVAL);
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "5", "extra", NULL}),
                     -EINVAL);
}

static void options_trained_controllers(void **state)
{
    (void)state;
    struct fleet_options o;
    memset(&o, 0, sizeof o);
    /* Default: every controller carries its trains. */
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "20", NULL}),
                     0);
    assert_int_equal(o.trained_controllers, 20);
    assert_int_equal(fleet_trains_of(&o, 0), 1);
    assert_int_equal(fleet_trains_of(&o, 19), 1);
    /* Only the first N; the slice of a shard counts by the fleet-wide index. */
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "10000", "--trained-controllers",
                                               "9999", "--shard", "1/2", NULL}),
                     0);
    assert_int_equal(o.trained_controllers, 9999);
    assert_int_equal(fleet_trains_of(&o, 9998), 1);
    assert_int_equal(fleet_trains_of(&o, 9999), 0);
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "100000", "--trained-controllers",
                                               "1000", "--trains-per-controller", "3", NULL}),
                     0);
    assert_int_equal(fleet_trains_of(&o, 999), 3);
    assert_int_equal(fleet_trains_of(&o, 1000), 0);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "5",
                                  "--trained-controllers", "0", NULL}),
        0);
    assert_int_equal(fleet_trains_of(&o, 0), 0);
    /* More trains than the central can number (addresses 1-9999): refused up front, instead
     * of a boot storm whose last controller never gets ready. */
    assert_int_equal(parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1",
                                               "--controllers", "10000", NULL}),
                     -EINVAL);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "5000",
                                  "--trains-per-controller", "2", NULL}),
        -EINVAL);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers",
                                  "10000", "--trains-per-controller", "0", NULL}),
        0);
    /* More than --controllers, or not a count. */
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "5",
                                  "--trained-controllers", "6", NULL}),
        -EINVAL);
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "5",
                                  "--trained-controllers", "-1", NULL}),
        -EINVAL);
    /* reassign needs trained controllers. */
    assert_int_equal(
        parse_list(&o, (char *[]){"--central", "http://x", "--mqtt", "h:1", "--controllers", "5",
                                  "--trained-controllers", "0", "--scenario", "reassign", NULL}),
        -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simid_is_deterministic_and_valid),
        cmocka_unit_test(stats_nearest_rank),
        cmocka_unit_test(stats_reservoir_keeps_exact_count_and_max),
        cmocka_unit_test(procstat_parsers),
        cmocka_unit_test(options),
        cmocka_unit_test(options_trained_controllers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
