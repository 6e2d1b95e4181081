#include "identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache.h"
#include "canon.h"
#include "fileio.h"
#include "timeutil.h"

const char *identity_origin_name(enum identity_origin o)
{
    switch (o) {
    case IDENTITY_LOADED:
        return "loaded";
    case IDENTITY_RECOVERED:
        return "recovered";
    default:
        return "none";
    }
}

int identity_parse(const char *text, size_t len, char uuid[UUIDSTR_LEN + 1])
{
    json_t *doc = cache_read_sealed(text, len, IDENTITY_FILE_MAX);
    const char *u = json_string_value(json_object_get(doc, "uuid"));
    int rc = u != NULL && uuidstr_valid(u) ? 0 : -EINVAL;
    if (rc == 0)
        memcpy(uuid, u, UUIDSTR_LEN + 1);
    json_decref(doc);
    return rc;
}

int identity_save(const char *dir, const char *uuid, int64_t now_ms)
{
    char path[1024], ts[32];
    json_t *doc = NULL;
    int rc = cache_path(path, sizeof path, dir, IDENTITY_FILE);
    if (rc < 0)
        goto out;
    if (!uuidstr_valid(uuid)) {
        rc = -EINVAL;
        goto out;
    }
    rc = timeutil_format_ms(now_ms, ts, sizeof ts);
    if (rc < 0)
        goto out;
    doc = json_pack("{s:i, s:s, s:s}", "format", 1, "uuid", uuid, "created_at", ts);
    rc = cache_write_sealed(dir, path, doc);
out:
    json_decref(doc);
    return rc;
}

int identity_load(const char *dir, const char *fallback_uuid, int64_t now_ms,
                  char uuid[UUIDSTR_LEN + 1], enum identity_origin *origin)
{
    char path[1024];
    char *text = NULL;
    size_t len = 0;
    int rc = cache_path(path, sizeof path, dir, IDENTITY_FILE);
    if (rc < 0)
        return rc;
    if (fileio_read_all(path, IDENTITY_FILE_MAX, &text, &len) == 0 &&
        identity_parse(text, len, uuid) == 0) {
        free(text);
        *origin = IDENTITY_LOADED;
        return 0;
    }
    free(text);
    if (fallback_uuid == NULL || !uuidstr_valid(fallback_uuid)) {
        /* Never invented here: only the central hands out new identities. */
        uuid[0] = '\0';
        *origin = IDENTITY_NONE;
        return 0;
    }
    memcpy(uuid, fallback_uuid, UUIDSTR_LEN + 1);
    *origin = IDENTITY_RECOVERED;
    return identity_save(dir, uuid, now_ms);
}
