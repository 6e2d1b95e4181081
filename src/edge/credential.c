#include "credential.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache.h"
#include "canon.h"
#include "fileio.h"
#include "timeutil.h"

const char *credential_state_name(enum credential_state s)
{
    switch (s) {
    case CREDENTIAL_LOADED:
        return "loaded";
    case CREDENTIAL_INVALID:
        return "invalid";
    default:
        return "none";
    }
}

int credential_parse(const char *text, size_t len, char uuid[UUIDSTR_LEN + 1],
                     char secret[SECRET_HEX_LEN + 1])
{
    json_t *doc = cache_read_sealed(text, len, CREDENTIAL_FILE_MAX);
    const char *u = json_string_value(json_object_get(doc, "uuid"));
    const char *s = json_string_value(json_object_get(doc, "secret"));
    int rc = u != NULL && uuidstr_valid(u) && secret_valid(s) ? 0 : -EINVAL;
    if (rc == 0) {
        memcpy(uuid, u, UUIDSTR_LEN + 1);
        memcpy(secret, s, SECRET_HEX_LEN + 1);
    }
    json_decref(doc);
    return rc;
}

enum credential_state credential_load(const char *dir, const char *uuid,
                                      char secret[SECRET_HEX_LEN + 1], char *why, size_t whylen)
{
    char path[1024], fuuid[UUIDSTR_LEN + 1], fsecret[SECRET_HEX_LEN + 1];
    char *text = NULL;
    size_t len = 0;
    secret[0] = '\0';
    why[0] = '\0';
    int rc = cache_path(path, sizeof path, dir, CREDENTIAL_FILE);
    if (rc == 0)
        rc = fileio_read_all(path, CREDENTIAL_FILE_MAX, &text, &len);
    if (rc == -ENOENT)
        return CREDENTIAL_NONE;
    if (rc < 0) {
        snprintf(why, whylen, "cannot read %.400s: %s", path, strerror(-rc));
        return CREDENTIAL_INVALID;
    }
    rc = credential_parse(text, len, fuuid, fsecret);
    free(text);
    if (rc < 0) {
        snprintf(why, whylen, "%.400s is corrupt (bad JSON, secret or checksum)", path);
        return CREDENTIAL_INVALID;
    }
    if (uuid == NULL || strcmp(fuuid, uuid) != 0) {
        /* Issued to another identity (this one was replaced): worthless for this UUID. */
        snprintf(why, whylen, "%.400s belongs to controller %s", path, fuuid);
        return CREDENTIAL_NONE;
    }
    memcpy(secret, fsecret, SECRET_HEX_LEN + 1);
    return CREDENTIAL_LOADED;
}

int credential_save(const char *dir, const char *uuid, const char *secret, int64_t now_ms)
{
    char path[1024], ts[32];
    json_t *doc = NULL;
    int rc = cache_path(path, sizeof path, dir, CREDENTIAL_FILE);
    if (rc < 0)
        goto out;
    if (!uuidstr_valid(uuid) || !secret_valid(secret)) {
        rc = -EINVAL;
        goto out;
    }
    rc = timeutil_format_ms(now_ms, ts, sizeof ts);
    if (rc < 0)
        goto out;
    doc = json_pack("{s:i, s:s, s:s, s:s}", "format", 1, "uuid", uuid, "secret", secret,
                    "issued_at", ts);
    rc = cache_write_sealed(dir, path, doc); /* mode 0600 */
out:
    json_decref(doc);
    return rc;
}
