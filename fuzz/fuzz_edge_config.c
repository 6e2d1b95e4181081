/* A runtime config downloaded from the central, checked as the edge does before applying it
 * (edge.c config_done): parse, own checksum, schema, owner; then the apply's first step, the
 * driver check against the trains running (none, and the seed set). The input is the HTTP
 * body. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "canon.h"
#include "trains.h"

#define OWN_UUID "0b8a3f6e-4a59-4c1e-9d2b-1f6c2f3e4a5b"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Trains already running (simulated motors, in memory): t1 on the simulator, t2 with a
 * plugin config, as the seeds name them. */
static struct trains *running_set(void)
{
    static struct trains ts;
    static int ready;
    if (!ready) {
        json_t *list = json_pack("[{s:s, s:{s:s}}, {s:s, s:{s:s, s:{s:i}}, s:b}]", "train_id", "t1",
                                 "plugin", "name", "simulator", "train_id", "t2", "plugin", "name",
                                 "dc_motor_hat", "config", "motor_port", 2, "invert_directions", 1);
        trains_init(&ts, true, 0);
        if (list == NULL || trains_configure(&ts, list, 0) != 0)
            abort();
        json_decref(list);
        ready = 1;
    }
    return &ts;
}

/* The checks behind the checksum, whatever the input's checksum says: the fuzzer cannot
 * forge a SHA-256, so the document is also tried with the right one. */
static void check_doc(json_t *doc)
{
    char reason[200] = "";
    struct trains none;
    trains_init(&none, true, 0);

    int rc = cache_config_check(doc, OWN_UUID, reason, sizeof reason);
    if (rc != 0 && rc != -EBADMSG && rc != -EINVAL)
        abort();
    /* Any owner: the schema alone decides, and it agrees with the cache's own validation. */
    int any = cache_config_check(doc, NULL, NULL, 0);
    if ((any == 0) != (cache_config_validate(doc, NULL, 0) == 0))
        abort();
    if (rc == 0) {
        const json_t *list = json_object_get(doc, "trains");
        char err[200] = "";
        /* Pure: plugin names looked up, nothing opened. */
        int c = trains_check(&none, list, err, sizeof err);
        if (c != 0 && (c != -EINVAL || err[0] == '\0'))
            abort();
        /* A train kept as it runs cannot fail the check; one that needs a driver can. */
        c = trains_check(running_set(), list, err, sizeof err);
        if (c != 0 && (c != -EINVAL || err[0] == '\0'))
            abort();
        char *text = NULL;
        size_t len = 0;
        if (cache_entry_build(doc, 1795000000000LL, &text, &len) < 0)
            abort();
        json_t *back = NULL;
        int64_t at = 0;
        if (cache_entry_check(text, len, 1795000000000LL, 0, &back, &at, NULL, 0) != CACHE_VALID ||
            !json_equal(back, doc))
            abort();
        json_decref(back);
        free(text);
    }
    trains_free(&none);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[200] = "", sum[CANON_CHECKSUM_LEN + 1];
    json_t *doc = NULL;
    int rc = cache_config_parse((const char *)data, size, &doc, reason, sizeof reason);
    if (rc < 0) {
        if (rc != -EBADMSG || doc != NULL || reason[0] == '\0')
            abort();
        return 0;
    }
    if (!json_is_object(doc))
        abort();
    check_doc(doc);
    if (canon_checksum(doc, sum) == 0 &&
        json_object_set_new(doc, "checksum", json_string(sum)) == 0) {
        if (cache_config_check(doc, NULL, NULL, 0) == -EBADMSG)
            abort(); /* the checksum is right now */
        check_doc(doc);
    }
    json_decref(doc);
    return 0;
}
