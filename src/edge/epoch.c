#include "epoch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache.h"
#include "canon.h"
#include "fileio.h"
#include "timeutil.h"
#include "uuidstr.h"

#define EPOCH_FORMAT 1

int epoch_parse(const char *text, size_t len, const char *uuid, int64_t *epoch)
{
    if (uuid == NULL)
        return -EINVAL;
    json_t *doc = cache_read_sealed(text, len, EPOCH_FILE_MAX);
    const json_t *fmt = json_object_get(doc, "format");
    const json_t *ep = json_object_get(doc, "session_epoch");
    const char *u = json_string_value(json_object_get(doc, "uuid"));
    int rc = -EINVAL;
    if (!json_is_integer(fmt) || json_integer_value(fmt) != EPOCH_FORMAT || !json_is_integer(ep) ||
        json_integer_value(ep) < 0 || json_integer_value(ep) > EPOCH_MAX || u == NULL)
        goto out;
    /* An epoch counts only for the controller it was issued to. */
    if (strcmp(u, uuid) != 0)
        goto out;
    *epoch = json_integer_value(ep);
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

int64_t epoch_next(int64_t stored)
{
    if (stored < 1)
        return 1;
    return stored >= EPOCH_MAX ? EPOCH_MAX : stored + 1;
}

bool epoch_rearm_needed(int64_t armed, int64_t answered)
{
    return answered > 0 && answered != armed;
}

int epoch_load(const char *dir, const char *uuid, int64_t *epoch)
{
    char path[1024];
    char *text = NULL;
    size_t len = 0;
    int rc = cache_path(path, sizeof path, dir, EPOCH_FILE);
    if (rc < 0)
        return rc;
    rc = fileio_read_all(path, EPOCH_FILE_MAX, &text, &len);
    if (rc == -ENOENT)
        goto out;
    rc = rc < 0 ? -EINVAL : epoch_parse(text, len, uuid, epoch);
out:
    free(text);
    return rc;
}

int epoch_save(const char *dir, const char *uuid, int64_t epoch, int64_t now_ms)
{
    char path[1024], ts[32];
    json_t *doc = NULL;
    int rc = cache_path(path, sizeof path, dir, EPOCH_FILE);
    if (rc < 0)
        goto out;
    if (uuid == NULL || !uuidstr_valid(uuid) || epoch < 0 || epoch > EPOCH_MAX) {
        rc = -EINVAL;
        goto out;
    }
    if ((rc = timeutil_format_ms(now_ms, ts, sizeof ts)) < 0)
        goto out;
    doc = json_pack("{s:i, s:s, s:I, s:s}", "format", EPOCH_FORMAT, "uuid", uuid, "session_epoch",
                    (json_int_t)epoch, "updated_at", ts);
    rc = cache_write_sealed(dir, path, doc);
out:
    json_decref(doc);
    return rc;
}
