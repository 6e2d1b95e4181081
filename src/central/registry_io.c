#include "registry_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "driving.h"
#include "jsonx.h"
#include "placement.h"
#include "protocol.h"
#include "log.h"
#include "registry.h"
#include "runtime_config.h"
#include "store.h"
#include "timeutil.h"
#include "uuidstr.h"

#define FORMAT_NAME "roundhouse-registry"

static json_t *controller_export(const json_t *row)
{
    json_t *v = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:O?, s:O?, s:O?, s:O?, "
        "s:O?}",
        "id", json_object_get(row, "id"), "name", json_object_get(row, "name"), "description",
        json_object_get(row, "description"), "address", json_object_get(row, "address"), "enabled",
        json_object_get(row, "enabled"), "first_seen",
        view_time(json_object_get(row, "first_seen")), "last_seen",
        view_time(json_object_get(row, "last_seen")), "version", json_object_get(row, "version"),
        "platform", json_object_get(row, "platform"), "hardware_id",
        json_object_get(row, "hardware_id"), "config_version",
        json_object_get(row, "config_version"), "metadata", json_object_get(row, "metadata"));
    return v;
}

static json_t *train_export(const json_t *row)
{
    return json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?, s:{s:O?, s:O?}, s:O?, s:O?, s:O?}", "driving",
        json_object_get(row, "driving"), "id", json_object_get(row, "id"), "name",
        json_object_get(row, "name"), "description", json_object_get(row, "description"), "model",
        json_object_get(row, "model"), "plugin", "name", json_object_get(row, "plugin_name"),
        "config", json_object_get(row, "plugin_config"), "invert_directions",
        json_object_get(row, "invert_directions"), "controller_id",
        json_object_get(row, "desired_controller_id"), "address", json_object_get(row, "address"));
}

int registry_export(struct central *c, int64_t now, json_t **out)
{
    json_t *plugins = NULL, *ctls = NULL, *trains = NULL;
    int rc = store_begin(c->store, false);
    if (rc < 0)
        return rc;
    if ((rc = store_plugin_list(c->store, &plugins)) < 0 ||
        (rc = store_controller_list(c->store, &ctls)) < 0 ||
        (rc = store_train_list(c->store, NULL, &trains)) < 0) {
        store_rollback(c->store);
        goto out;
    }
    store_rollback(c->store);
    json_t *cout = json_array(), *tout = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(ctls, i, row) json_array_append_new(cout, controller_export(row));
    json_array_foreach(trains, i, row) json_array_append_new(tout, train_export(row));
    char ts[TIMEUTIL_ISO_LEN + 1];
    timeutil_format(now, ts);
    *out = json_pack("{s:s, s:i, s:s, s:O, s:o, s:o}", "format", FORMAT_NAME, "format_version", 1,
                     "exported_at", ts, "plugins", plugins, "controllers", cout, "trains", tout);
    rc = *out ? 0 : -ENOMEM;
out:
    json_decref(plugins);
    json_decref(ctls);
    json_decref(trains);
    return rc;
}

struct ioerr {
    char *field;
    size_t fieldlen;
    char *detail;
    size_t detaillen;
};

static int fail(struct ioerr *e, const char *field, const char *detail)
{
    snprintf(e->field, e->fieldlen, "%s", field);
    snprintf(e->detail, e->detaillen, "%s", detail);
    return -EINVAL;
}

static int fail_at(struct ioerr *e, const char *list, size_t i, const struct jsonx_err *je)
{
    char field[128];
    snprintf(field, sizeof field, "%s[%zu].%s", list, i, je->field);
    return fail(e, field, je->detail);
}

static int64_t parse_time(const json_t *v)
{
    int64_t ms;
    if (json_is_string(v) && timeutil_parse_ms(json_string_value(v), &ms) == 0)
        return ms / 1000;
    return -1;
}

/* Validates the whole document before anything is written. */
static int validate_plugin(const json_t *p, size_t i, struct ioerr *e)
{
    struct jsonx_err je;
    const char *s;
    json_t *o = NULL;
    if (!json_is_object(p))
        return fail(e, "plugins", "each plugin must be an object");
    int rc = jsonx_string(p, "name", 1, PROTO_PLUGIN_NAME_MAX, false, &s, &je);
    if (rc == 0)
        jsonx_err_set(&je, "name", "'name' is required");
    if (rc != 1 || jsonx_string(p, "description", 0, PROTO_DESCRIPTION_MAX, true, &s, &je) < 0 ||
        jsonx_object(p, "config", true, &o, &je) < 0)
        return fail_at(e, "plugins", i, &je);
    return 0;
}

static int validate_controller(const json_t *p, size_t i, struct ioerr *e)
{
    struct jsonx_err je;
    const char *s;
    char id[UUIDSTR_LEN + 1];
    bool b;
    int64_t n;
    json_t *o = NULL;
    if (!json_is_object(p))
        return fail(e, "controllers", "each controller must be an object");
    int rc = jsonx_uuid(p, "id", false, id, NULL, &je);
    if (rc == 0)
        jsonx_err_set(&je, "id", "'id' is required");
    if (rc != 1)
        return fail_at(e, "controllers", i, &je);
    rc = jsonx_string(p, "name", 1, PROTO_NAME_MAX, false, &s, &je);
    if (rc == 0)
        jsonx_err_set(&je, "name", "'name' is required");
    if (rc != 1 || jsonx_string(p, "description", 0, PROTO_DESCRIPTION_MAX, true, &s, &je) < 0 ||
        jsonx_string(p, "address", 0, PROTO_ADDRESS_MAX, true, &s, &je) < 0 ||
        jsonx_bool(p, "enabled", &b, &je) < 0 ||
        jsonx_int(p, "config_version", 0, INT64_MAX / 4, &n, &je) < 0 ||
        jsonx_object(p, "metadata", true, &o, &je) < 0)
        return fail_at(e, "controllers", i, &je);
    return 0;
}

/* A train's id: present, and by the train-id rule. 0, or -1 with je set. */
static int train_id_check(const json_t *p, struct jsonx_err *je)
{
    const char *s;
    int rc = jsonx_string(p, "id", 1, PROTO_TRAIN_ID_MAX, false, &s, je);
    if (rc == 1 && !proto_train_id_valid(s, strlen(s))) {
        jsonx_err_set(je, "id", "'id' must not contain spaces, '/', '+' or '#'");
        return -1;
    }
    if (rc == 0)
        jsonx_err_set(je, "id", "'id' is required");
    return rc == 1 ? 0 : -1;
}

/* A train's address (0: none), given to no train before it (index i) in the list. */
static int train_address_unique(const json_t *trains, int64_t address, size_t i,
                                struct jsonx_err *je)
{
    for (size_t j = 0; address > 0 && j < i; j++) {
        if (json_integer_value(json_object_get(json_array_get(trains, j), "address")) == address) {
            jsonx_err_set(je, "address", "address %lld is given to two trains", (long long)address);
            return -1;
        }
    }
    return 0;
}

int registry_io_plugin_parse(const json_t *plugin, const char **name, json_t **config,
                             struct jsonx_err *err)
{
    const char *n = NULL;
    json_t *cfg = NULL;
    if (jsonx_string(plugin, "name", 1, PROTO_PLUGIN_NAME_MAX, false, &n, err) < 0 ||
        jsonx_object(plugin, "config", true, &cfg, err) < 0) {
        char f[64];
        snprintf(f, sizeof f, "plugin.%.50s", err->field);
        snprintf(err->field, sizeof err->field, "%s", f);
        return -1;
    }
    *name = n;
    *config = cfg;
    return 0;
}

/* A train's "plugin" object (absent or null: the default), fields named plugin.*. */
static int train_plugin_check(const json_t *plugin, struct jsonx_err *je)
{
    const char *name;
    json_t *cfg;
    return plugin == NULL ? 0 : registry_io_plugin_parse(plugin, &name, &cfg, je);
}

/* Train i of the list trains. */
static int validate_train(const json_t *trains, const json_t *p, size_t i, struct ioerr *e)
{
    struct jsonx_err je;
    const char *s;
    char id[UUIDSTR_LEN + 1];
    bool b;
    int64_t address = 0;
    json_t *o = NULL;
    if (!json_is_object(p))
        return fail(e, "trains", "each train must be an object");
    if (train_id_check(p, &je) < 0)
        return fail_at(e, "trains", i, &je);
    int rc = jsonx_string(p, "name", 1, PROTO_NAME_MAX, false, &s, &je);
    if (rc == 0)
        jsonx_err_set(&je, "name", "'name' is required");
    if (rc != 1 || jsonx_string(p, "description", 0, PROTO_DESCRIPTION_MAX, true, &s, &je) < 0 ||
        jsonx_string(p, "model", 0, PROTO_MODEL_MAX, true, &s, &je) < 0 ||
        jsonx_bool(p, "invert_directions", &b, &je) < 0 ||
        jsonx_uuid(p, "controller_id", true, id, NULL, &je) < 0 ||
        jsonx_object(p, "plugin", true, &o, &je) < 0 ||
        jsonx_int(p, "address", 1, PROTO_TRAIN_NUMBER_MAX, &address, &je) < 0)
        return fail_at(e, "trains", i, &je);
    const json_t *drv = json_object_get(p, "driving");
    char dfield[32] = "", dwhy[96];
    if (drv != NULL && !json_is_null(drv) &&
        driving_check(drv, dfield, sizeof dfield, dwhy, sizeof dwhy) < 0) {
        jsonx_err_set(&je, "driving", "'driving%s%s': %s", dfield[0] ? "." : "", dfield, dwhy);
        return fail_at(e, "trains", i, &je);
    }
    if (train_address_unique(trains, address, i, &je) < 0 || train_plugin_check(o, &je) < 0)
        return fail_at(e, "trains", i, &je);
    return 0;
}

static int validate_import(const json_t *doc, struct ioerr *e)
{
    const char *fmt = NULL;
    struct jsonx_err je;
    if (jsonx_string(doc, "format", 0, 64, false, &fmt, &je) < 0)
        return fail(e, je.field, je.detail);
    if (fmt != NULL && strcmp(fmt, FORMAT_NAME) != 0)
        return fail(e, "format", "'format' must be \"" FORMAT_NAME "\"");
    static const char *const lists[] = {"plugins", "controllers", "trains"};
    for (size_t l = 0; l < 3; l++) {
        json_t *a = json_object_get(doc, lists[l]);
        if (a != NULL && !json_is_array(a)) {
            char d[96];
            snprintf(d, sizeof d, "'%s' must be a list", lists[l]);
            return fail(e, lists[l], d);
        }
    }
    size_t i;
    json_t *p;
    int rc;
    json_array_foreach(json_object_get(doc, "plugins"), i, p)
    {
        if ((rc = validate_plugin(p, i, e)) < 0)
            return rc;
    }
    json_array_foreach(json_object_get(doc, "controllers"), i, p)
    {
        if ((rc = validate_controller(p, i, e)) < 0)
            return rc;
    }
    const json_t *trains = json_object_get(doc, "trains");
    json_array_foreach(trains, i, p)
    {
        if ((rc = validate_train(trains, p, i, e)) < 0)
            return rc;
    }
    return 0;
}

static json_t *copy_keys(const json_t *src, const char *const *keys)
{
    json_t *out = json_object();
    for (; *keys; keys++) {
        json_t *v = json_object_get(src, *keys);
        if (v != NULL)
            json_object_set(out, *keys, v);
    }
    return out;
}

/* Inserts or updates one controller from an import/bootstrap entry, then makes sure its
 * config_version is above both values. */
static int upsert_controller(struct central *c, const char *id, const json_t *entry, int64_t now,
                             bool only_if_missing, bool *created)
{
    static const char *const keys[] = {"name",     "description", "address",  "enabled", "version",
                                       "platform", "hardware_id", "metadata", NULL};
    json_t *existing = NULL;
    int rc = store_controller_get(c->store, id, &existing);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    *created = rc == -ENOENT;
    int64_t imported_cv = json_integer_value(json_object_get(entry, "config_version"));
    json_t *fields = copy_keys(entry, keys);
    if (!*created && only_if_missing) {
        json_decref(existing);
        json_decref(fields);
        return 0;
    }
    if (*created) {
        int64_t fs = parse_time(json_object_get(entry, "first_seen"));
        int64_t ls = parse_time(json_object_get(entry, "last_seen"));
        json_object_set_new(fields, "id", json_string(id));
        json_object_set_new(fields, "config_version",
                            json_integer(registry_restore_config_version(imported_cv)));
        json_object_set_new(fields, "session_epoch", json_integer(0));
        if (fs >= 0)
            json_object_set_new(fields, "first_seen", json_integer(fs));
        if (ls >= 0)
            json_object_set_new(fields, "last_seen", json_integer(ls));
        json_object_set_new(fields, "created_at", json_integer(now));
        json_object_set_new(fields, "updated_at", json_integer(now));
        rc = store_controller_insert(c->store, fields);
    } else {
        int64_t cv = json_integer_value(json_object_get(existing, "config_version"));
        json_object_set_new(fields, "config_version",
                            json_integer(registry_seed_config_version(cv + 1, imported_cv)));
        json_object_set_new(fields, "updated_at", json_integer(now));
        rc = store_controller_update(c->store, id, fields);
    }
    json_decref(existing);
    json_decref(fields);
    return rc;
}

/* Creates or updates a train; bumps the config_version of the previous and new owner. */
static int upsert_train(struct central *c, const json_t *entry, const char *owner, int64_t now,
                        bool only_if_missing, bool *created)
{
    const char *tid = json_string_value(json_object_get(entry, "id"));
    json_t *existing = NULL;
    int rc = store_train_get(c->store, tid, &existing);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    *created = rc == -ENOENT;
    if (!*created && only_if_missing) {
        json_decref(existing);
        return 0;
    }
    json_t *plugin = json_object_get(entry, "plugin");
    const char *pname = json_string_value(json_object_get(plugin, "name"));
    json_t *pcfg = json_object_get(plugin, "config");
    json_t *cfg = json_is_object(pcfg) ? json_incref(pcfg) : json_object();
    json_t *fields =
        json_pack("{s:s, s:O?, s:O?, s:s, s:o, s:b, s:s?, s:I}", "name",
                  json_string_value(json_object_get(entry, "name")), "description",
                  json_object_get(entry, "description"), "model", json_object_get(entry, "model"),
                  "plugin_name", pname ? pname : "dc_motor", "plugin_config", cfg,
                  "invert_directions", json_is_true(json_object_get(entry, "invert_directions")),
                  "desired_controller_id", owner, "updated_at", (json_int_t)now);
    if (fields == NULL) {
        json_decref(existing);
        return -ENOMEM;
    }
    const char *actual =
        existing ? json_string_value(json_object_get(existing, "actual_controller_id")) : NULL;
    json_object_set_new(fields, "reassignment_status",
                        json_string(registry_reassignment_status(owner, actual, false)));
    const char *old_owner =
        existing ? json_string_value(json_object_get(existing, "desired_controller_id")) : NULL;
    const json_t *drv = json_object_get(entry, "driving");
    json_object_set_new(fields, "driving",
                        json_is_object(drv) ? json_deep_copy(drv) : json_object());
    json_t *address = json_object_get(entry, "address");
    if (json_is_integer(address)) {
        /* Whoever held it gets a new one (store_train_assign_addresses), so that a document
         * swapping two addresses imports. */
        json_t *holder = NULL;
        rc = store_train_find_by_address(c->store, (int)json_integer_value(address), &holder);
        const char *hid = rc == 0 ? json_string_value(json_object_get(holder, "id")) : NULL;
        if (hid != NULL && strcmp(hid, tid) != 0) {
            json_t *f = json_pack("{s:n}", "address");
            rc = store_train_update(c->store, hid, f);
            json_decref(f);
        } else if (rc == -ENOENT) {
            rc = 0;
        }
        json_decref(holder);
        if (rc < 0) {
            json_decref(existing);
            json_decref(fields);
            return rc;
        }
        json_object_set(fields, "address", address);
    }
    if (*created) {
        json_object_set_new(fields, "id", json_string(tid));
        json_object_set_new(fields, "created_at", json_integer(now));
        rc = store_train_insert(c->store, fields);
    } else {
        rc = store_train_update(c->store, tid, fields);
    }
    if (rc == 0 && old_owner != NULL && (owner == NULL || strcmp(old_owner, owner) != 0))
        rc = store_controller_bump_config(c->store, old_owner, now);
    json_decref(existing);
    json_decref(fields);
    return rc;
}

/* After the import's changes, inside its transaction: every controller the document puts
 * trains on still has a runtime config an edge can run (-EINVAL with the field named). */
static int import_fits(struct central *c, const json_t *doc, struct ioerr *e)
{
    json_t *checked = json_object();
    if (checked == NULL)
        return -ENOMEM;
    int rc = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "trains"), i, t)
    {
        const char *raw = json_string_value(json_object_get(t, "controller_id"));
        if (raw == NULL)
            continue;
        char owner[UUIDSTR_LEN + 1];
        uuidstr_normalize(raw, owner);
        if (json_object_get(checked, owner) != NULL)
            continue;
        json_object_set_new(checked, owner, json_true());
        rc = placement_config_fits(c, c->store, owner);
        char f[64], d[200];
        snprintf(f, sizeof f, "trains[%zu].controller_id", i);
        if (rc == -E2BIG) {
            snprintf(d, sizeof d,
                     "controller %s would have more than %d trains (an edge runs at "
                     "most %d)",
                     owner, PROTO_CONTROLLER_TRAINS_MAX, PROTO_CONTROLLER_TRAINS_MAX);
            rc = fail(e, f, d);
        } else if (rc == -EFBIG) {
            snprintf(d, sizeof d,
                     "the runtime config of controller %s would be larger than %d "
                     "bytes (an edge downloads at most that)",
                     owner, PROTO_RUNTIME_CONFIG_MAX);
            rc = fail(e, f, d);
        }
        if (rc < 0)
            break;
    }
    json_decref(checked);
    return rc;
}

int registry_import(struct central *c, const json_t *doc, int64_t now, json_t **summary,
                    char *field, size_t fieldlen, char *detail, size_t detaillen)
{
    struct ioerr e = {field, fieldlen, detail, detaillen};
    int rc = validate_import(doc, &e);
    if (rc < 0)
        return rc;
    rc = store_begin(c->store, true);
    if (rc < 0)
        return rc;
    size_t i, np = 0, nc = 0, nt = 0;
    json_t *p;
    json_array_foreach(json_object_get(doc, "plugins"), i, p)
    {
        json_t *row =
            json_pack("{s:O, s:O?, s:O?}", "name", json_object_get(p, "name"), "description",
                      json_object_get(p, "description"), "config", json_object_get(p, "config"));
        if (json_is_null(json_object_get(row, "config")))
            json_object_set_new(row, "config", json_object());
        rc = store_plugin_upsert(c->store, row);
        json_decref(row);
        if (rc < 0)
            goto fail;
        np++;
    }
    json_array_foreach(json_object_get(doc, "controllers"), i, p)
    {
        char id[UUIDSTR_LEN + 1];
        bool created;
        uuidstr_normalize(json_string_value(json_object_get(p, "id")), id);
        rc = upsert_controller(c, id, p, now, false, &created);
        if (rc < 0)
            goto fail;
        nc++;
    }
    json_array_foreach(json_object_get(doc, "trains"), i, p)
    {
        char owner[UUIDSTR_LEN + 1];
        const char *o = NULL;
        const char *raw = json_string_value(json_object_get(p, "controller_id"));
        if (raw != NULL) {
            uuidstr_normalize(raw, owner);
            json_t *ctl = NULL;
            rc = store_controller_get(c->store, owner, &ctl);
            json_decref(ctl);
            if (rc == -ENOENT) {
                store_rollback(c->store);
                char f[64];
                snprintf(f, sizeof f, "trains[%zu].controller_id", i);
                return fail(&e, f,
                            "the train's controller_id names no controller in the "
                            "document or the registry");
            }
            if (rc < 0)
                goto fail;
            o = owner;
        }
        bool created;
        rc = upsert_train(c, p, o, now, false, &created);
        if (rc == 0 && o != NULL)
            rc = store_controller_bump_config(c->store, o, now);
        if (rc < 0)
            goto fail;
        nt++;
    }
    if ((rc = store_train_assign_addresses(c->store)) == -ERANGE)
        rc = fail(&e, "trains",
                  "more trains than addresses (1-" PROTO_STR(PROTO_TRAIN_NUMBER_MAX) ")");
    if (rc < 0)
        goto fail;
    if ((rc = import_fits(c, doc, &e)) < 0)
        goto fail;
    rc = store_commit(c->store);
    if (rc < 0)
        return rc;
    *summary = json_pack("{s:s, s:I, s:I, s:I}", "status", "ok", "controllers", (json_int_t)nc,
                         "trains", (json_int_t)nt, "plugins", (json_int_t)np);
    return 0;
fail:
    store_rollback(c->store);
    return rc;
}

/* The bootstrap's plugins that are not in the store yet, added (*added counts them). */
static int bootstrap_plugins(struct central *c, const json_t *doc, size_t *added)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "plugins"), i, p)
    {
        json_t *old = NULL;
        const char *name = json_string_value(json_object_get(p, "name"));
        int rc = store_plugin_get(c->store, name, &old);
        json_decref(old);
        if (rc == 0)
            continue;
        if (rc != -ENOENT)
            return rc;
        json_t *cfg = json_object_get(p, "config");
        cfg = json_is_object(cfg) ? json_incref(cfg) : json_object();
        json_t *row = json_pack("{s:s, s:O?, s:o}", "name", name, "description",
                                json_object_get(p, "description"), "config", cfg);
        rc = store_plugin_upsert(c->store, row);
        json_decref(row);
        if (rc < 0)
            return rc;
        (*added)++;
    }
    return 0;
}

/* The bootstrap's controller p, written or found (id, *created). One without an id ("${UUID}"
 * and friends) is identified by its name, so that starting again with the same file finds the
 * one created the first time. */
static int bootstrap_controller(struct central *c, const json_t *p, int64_t now,
                                char id[UUIDSTR_LEN + 1], bool *created)
{
    const char *given = json_string_value(json_object_get(p, "id"));
    *created = false;
    if (given != NULL) {
        snprintf(id, UUIDSTR_LEN + 1, "%s", given);
        return upsert_controller(c, id, p, now, true, created);
    }
    json_t *same = NULL;
    int rc = store_controller_find_by_name(c->store, json_string_value(json_object_get(p, "name")),
                                           &same);
    if (rc == 0 && json_array_size(same) > 0) {
        snprintf(id, UUIDSTR_LEN + 1, "%s",
                 json_string_value(json_object_get(json_array_get(same, 0), "id")));
    } else if (rc == 0) {
        uuidstr_generate(id);
        rc = upsert_controller(c, id, p, now, true, created);
    }
    json_decref(same);
    return rc;
}

/* Whether controller cid has a train called name. */
static int has_train_named(struct central *c, const char *cid, const char *name, bool *exists)
{
    json_t *mine = NULL;
    int rc = store_train_list(c->store, cid, &mine);
    size_t m;
    json_t *row;
    *exists = false;
    json_array_foreach(mine, m, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
            *exists = true;
    }
    json_decref(mine);
    return rc;
}

/* The bootstrap's train t of controller cid, written; *created when it is new (cid's config
 * version then rises). A train with a generated id is recognised by its name on this
 * controller, as the controller is by its name. */
static int bootstrap_train(struct central *c, const json_t *t, const char *cid, int64_t now,
                           bool *created)
{
    *created = false;
    json_t *entry = NULL;
    if (json_is_null(json_object_get(t, "id"))) {
        bool exists = false;
        int rc = has_train_named(c, cid, json_string_value(json_object_get(t, "name")), &exists);
        if (rc < 0 || exists)
            return rc;
        char tid[UUIDSTR_LEN + 1];
        uuidstr_generate(tid);
        entry = json_deep_copy(t);
        json_object_set_new(entry, "id", json_string(tid));
    } else {
        entry = json_incref((json_t *)t);
    }
    int rc = upsert_train(c, entry, cid, now, true, created);
    json_decref(entry);
    if (rc == 0 && *created)
        rc = store_controller_bump_config(c->store, cid, now);
    return rc;
}

/* Controller p (its id) with its trains still one an edge can run; logged when not. */
static int bootstrap_fits(struct central *c, const json_t *p, const char *id)
{
    int rc = placement_config_fits(c, c->store, id);
    if (rc == -E2BIG || rc == -EFBIG)
        log_event(RH_LOG_ERROR, "bootstrap_controller_refused", "{s:s, s:s}", "controller",
                  json_string_value(json_object_get(p, "name")), "reason",
                  rc == -E2BIG ? "more trains than an edge runs ("
                                 "at most " PROTO_STR(PROTO_CONTROLLER_TRAINS_MAX) ")"
                               : "its runtime config would be larger than an edge downloads");
    return rc;
}

int registry_bootstrap(struct central *c, const json_t *doc, int64_t now, json_t **created_out)
{
    int rc = store_begin(c->store, true);
    if (rc < 0)
        return rc;
    size_t i, np = 0, nc = 0, nt = 0;
    json_t *p;
    if ((rc = bootstrap_plugins(c, doc, &np)) < 0)
        goto fail;
    json_array_foreach(json_object_get(doc, "controllers"), i, p)
    {
        char id[UUIDSTR_LEN + 1];
        bool created = false;
        if ((rc = bootstrap_controller(c, p, now, id, &created)) < 0)
            goto fail;
        nc += created;
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(p, "trains"), j, t)
        {
            if ((rc = bootstrap_train(c, t, id, now, &created)) < 0)
                goto fail;
            nt += created;
        }
        if ((rc = bootstrap_fits(c, p, id)) < 0)
            goto fail;
    }
    if ((rc = store_train_assign_addresses(c->store)) < 0)
        goto fail;
    rc = store_commit(c->store);
    if (rc < 0)
        return rc;
    *created_out = json_pack("{s:I, s:I, s:I}", "controllers", (json_int_t)nc, "trains",
                             (json_int_t)nt, "plugins", (json_int_t)np);
    return 0;
fail:
    store_rollback(c->store);
    return rc;
}
