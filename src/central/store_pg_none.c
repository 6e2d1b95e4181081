/* The PostgreSQL half of the store's dispatch (store_backend.h) in a build without libpq
 * (cmake -DROUNDHOUSE_POSTGRES=OFF: the ARM cross builds, where Debian's libpq-dev cannot be
 * installed beside the host's). Opening a postgresql:// database says so; nothing else can
 * be reached, because st->pg stays NULL. Generated from store_backend.h's pg_ prototypes. */
#include "store_backend.h"

#include <errno.h>
#include <stdio.h>

#define NO_PG                                                                                      \
    "this roundhouse-central was built without PostgreSQL support (ROUNDHOUSE_POSTGRES=OFF)"

int pg_open(struct store *st, const char *url, int max_version, bool maintenance, char *err,
            size_t errlen)
{
    (void)st;
    (void)url;
    (void)max_version;
    (void)maintenance;
    snprintf(err, errlen, "%s", NO_PG);
    return -EPROTONOSUPPORT;
}

int pg_controller_get(struct pg_store *st, const char *id, json_t **out)
{
    (void)st;
    (void)id;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_controller_list(struct pg_store *st, json_t **out)
{
    (void)st;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_controller_foreach(struct pg_store *st, int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    (void)st;
    (void)fn;
    (void)ctx;
    return -EPROTONOSUPPORT;
}

int pg_controller_foreach_after(struct pg_store *st, int64_t created_at, int64_t rowid, int limit,
                                int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    (void)st;
    (void)created_at;
    (void)rowid;
    (void)limit;
    (void)fn;
    (void)ctx;
    return -EPROTONOSUPPORT;
}

int pg_page(struct pg_store *st, const struct store_table *t, const struct store_page_query *q,
            int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    (void)st;
    (void)t;
    (void)q;
    (void)fn;
    (void)ctx;
    return -EPROTONOSUPPORT;
}

int pg_controller_presence_scan(struct pg_store *st, store_presence_fn fn, void *ctx)
{
    (void)st;
    (void)fn;
    (void)ctx;
    return -EPROTONOSUPPORT;
}

int pg_controller_find_by_name(struct pg_store *st, const char *name, json_t **out)
{
    (void)st;
    (void)name;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_controller_insert(struct pg_store *st, const json_t *row)
{
    (void)st;
    (void)row;
    return -EPROTONOSUPPORT;
}

int pg_controller_update(struct pg_store *st, const char *id, const json_t *fields)
{
    (void)st;
    (void)id;
    (void)fields;
    return -EPROTONOSUPPORT;
}

int pg_controller_bump_config(struct pg_store *st, const char *id, int64_t now)
{
    (void)st;
    (void)id;
    (void)now;
    return -EPROTONOSUPPORT;
}

int pg_controller_delete(struct pg_store *st, const char *id)
{
    (void)st;
    (void)id;
    return -EPROTONOSUPPORT;
}

int pg_train_get(struct pg_store *st, const char *id, json_t **out)
{
    (void)st;
    (void)id;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_train_list(struct pg_store *st, const char *controller_id, json_t **out)
{
    (void)st;
    (void)controller_id;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_train_list_for(struct pg_store *st, const json_t *controller_ids, json_t **out)
{
    (void)st;
    (void)controller_ids;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_train_list_actual(struct pg_store *st, const char *controller_id, json_t **out)
{
    (void)st;
    (void)controller_id;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_train_insert(struct pg_store *st, const json_t *row)
{
    (void)st;
    (void)row;
    return -EPROTONOSUPPORT;
}

int pg_train_update(struct pg_store *st, const char *id, const json_t *fields)
{
    (void)st;
    (void)id;
    (void)fields;
    return -EPROTONOSUPPORT;
}

int pg_train_find_by_address(struct pg_store *st, int address, json_t **out)
{
    (void)st;
    (void)address;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_train_assign_addresses(struct pg_store *st)
{
    (void)st;
    return -EPROTONOSUPPORT;
}

int pg_train_delete(struct pg_store *st, const char *id)
{
    (void)st;
    (void)id;
    return -EPROTONOSUPPORT;
}

int pg_train_photo_put(struct pg_store *st, const char *train_id, const char *media_type,
                       const void *data, size_t len, int64_t now)
{
    (void)st;
    (void)train_id;
    (void)media_type;
    (void)data;
    (void)len;
    (void)now;
    return -EPROTONOSUPPORT;
}

int pg_train_photo_get(struct pg_store *st, const char *train_id, char *media_type, size_t typelen,
                       void **data, size_t *len)
{
    (void)st;
    (void)train_id;
    (void)media_type;
    (void)typelen;
    (void)data;
    (void)len;
    return -EPROTONOSUPPORT;
}

int pg_train_photo_delete(struct pg_store *st, const char *train_id)
{
    (void)st;
    (void)train_id;
    return -EPROTONOSUPPORT;
}

int pg_status_get(struct pg_store *st, const char *train_id, json_t **out)
{
    (void)st;
    (void)train_id;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_status_upsert(struct pg_store *st, const json_t *row)
{
    (void)st;
    (void)row;
    return -EPROTONOSUPPORT;
}

int pg_plugin_list(struct pg_store *st, json_t **out)
{
    (void)st;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_plugin_get(struct pg_store *st, const char *name, json_t **out)
{
    (void)st;
    (void)name;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_plugin_upsert(struct pg_store *st, const json_t *row)
{
    (void)st;
    (void)row;
    return -EPROTONOSUPPORT;
}

int pg_setting_get(struct pg_store *st, const char *key, json_t **value)
{
    (void)st;
    (void)key;
    (void)value;
    return -EPROTONOSUPPORT;
}

int pg_setting_put(struct pg_store *st, const char *key, const json_t *value)
{
    (void)st;
    (void)key;
    (void)value;
    return -EPROTONOSUPPORT;
}

int pg_user_get(struct pg_store *st, const char *username, json_t **out)
{
    (void)st;
    (void)username;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_user_list(struct pg_store *st, json_t **out)
{
    (void)st;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_user_put(struct pg_store *st, const json_t *row)
{
    (void)st;
    (void)row;
    return -EPROTONOSUPPORT;
}

int pg_user_delete(struct pg_store *st, const char *username)
{
    (void)st;
    (void)username;
    return -EPROTONOSUPPORT;
}

int pg_credential_get(struct pg_store *st, const char *secret_hash, json_t **out)
{
    (void)st;
    (void)secret_hash;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_credential_list(struct pg_store *st, const char *username, json_t **out)
{
    (void)st;
    (void)username;
    (void)out;
    return -EPROTONOSUPPORT;
}

int pg_credential_insert(struct pg_store *st, const json_t *row)
{
    (void)st;
    (void)row;
    return -EPROTONOSUPPORT;
}

int pg_credential_delete(struct pg_store *st, const char *secret_hash)
{
    (void)st;
    (void)secret_hash;
    return -EPROTONOSUPPORT;
}

int pg_credential_prune(struct pg_store *st, int64_t now)
{
    (void)st;
    (void)now;
    return -EPROTONOSUPPORT;
}
