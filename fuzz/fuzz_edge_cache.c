/* The edge's cache file (docs/edge-state.md), as read at boot: the input is the whole file.
 * Whatever it holds, the verdict is one of the four, and a file found usable holds a runtime
 * config that passes validation on its own and survives being written back and read again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "canon.h"

/* 2026-11-18; the seeds' cached_at are around it (some stale, some in the future). */
#define NOW_MS 1795000000000LL
#define MAX_AGE_MS (7LL * 24 * 3600 * 1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_usable(const json_t *cfg, int64_t at)
{
    char *text = NULL;
    size_t len = 0;
    json_t *again = NULL;
    int64_t at2 = 0;
    if (cache_config_validate(cfg, NULL, 0) < 0)
        abort();
    if (cache_entry_build(cfg, at, &text, &len) < 0)
        abort();
    enum cache_verdict v = cache_entry_check(text, len, NOW_MS, 0, &again, &at2, NULL, 0);
    if (v != CACHE_VALID || at2 != at || !json_equal(again, cfg))
        abort();
    json_decref(again);
    free(text);
}

static void check_file(const char *data, size_t size)
{
    static const int64_t ages[] = {MAX_AGE_MS, 0};
    for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++) {
        json_t *cfg = NULL;
        int64_t at = -1;
        char reason[160] = "";
        enum cache_verdict v =
            cache_entry_check(data, size, NOW_MS, ages[i], &cfg, &at, reason, sizeof reason);
        if (reason[0] == '\0' || memchr(reason, '\0', sizeof reason) == NULL)
            abort();
        switch (v) {
        case CACHE_VALID:
        case CACHE_STALE:
            if (cfg == NULL || (v == CACHE_STALE && ages[i] == 0))
                abort();
            check_usable(cfg, at);
            break;
        case CACHE_INVALID:
            if (cfg != NULL || at != -1)
                abort(); /* outputs untouched */
            break;
        default:
            abort(); /* MISSING is for files that are not there */
        }
        json_decref(cfg);
    }
}

static void resum(json_t *doc)
{
    char sum[CANON_CHECKSUM_LEN + 1];
    if (json_is_object(doc) && canon_checksum(doc, sum) == 0)
        json_object_set_new(doc, "checksum", json_string(sum));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_file((const char *)data, size);
    /* The checks behind the checksums (cached_at, the runtime config's schema), reached
     * whatever the input's checksums say: the fuzzer cannot forge a SHA-256. */
    json_t *env = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(env)) {
        resum(json_object_get(env, "config"));
        resum(env);
        char *text = json_dumps(env, JSON_COMPACT);
        if (text != NULL)
            check_file(text, strlen(text));
        free(text);
    }
    json_decref(env);
    return 0;
}
