#include "registry_tx.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api_views.h"
#include "central.h"
#include "events.h"
#include "store.h"
#include "timeutil.h"

/* Tries of a registration whose transaction hit a serialization failure (store.h: -EAGAIN). */
#define REGISTER_ATTEMPTS 5
/* Name candidates consulted for rule 3 (most recently seen first). */
#define REGISTER_CANDIDATES_MAX 16

/* What one attempt looked up and is writing; every reference owned, NULL when not. */
struct attempt {
    json_t *existing;   /* the record of the given UUID (rules 1-2): its brief columns */
    json_t *candidates; /* the records with the requested name (rule 3) */
    json_t *fields;     /* what is written */
    const json_t *row;  /* the record being updated (existing, or one of candidates) */
    struct registry_decision d;
};

static void attempt_clear(struct attempt *a)
{
    json_decref(a->existing);
    json_decref(a->candidates);
    json_decref(a->fields);
    memset(a, 0, sizeof *a);
}

/* The lookups of registry.h's rules, and its decision on them. */
static int decide(struct central *c, const struct registry_request *r, int64_t now,
                  struct attempt *a)
{
    bool known = false;
    struct registry_candidate cand[REGISTER_CANDIDATES_MAX];
    size_t ncand = 0;
    if (r->has_uuid) {
        int rc = store_controller_get_brief(c->store, r->uuid, &a->existing);
        if (rc < 0 && rc != -ENOENT)
            return rc;
        known = rc == 0;
    } else {
        int rc = store_controller_find_by_name(c->store, r->name, &a->candidates);
        if (rc < 0)
            return rc;
        size_t i;
        json_t *row;
        json_array_foreach(a->candidates, i, row)
        {
            if (ncand == REGISTER_CANDIDATES_MAX)
                break;
            cand[ncand].presence = view_presence(c, row, now);
            cand[ncand].same_address = registry_same_address(
                json_string_value(json_object_get(row, "address")), r->address);
            cand[ncand].secured = json_is_string(json_object_get(row, "secret_hash"));
            ncand++;
        }
    }
    a->d = registry_match(r->has_uuid, known, cand, ncand);
    return 0;
}

/* The fields the edge reports, written whatever the decision. */
static json_t *reported_fields(const struct registry_request *r, int64_t now)
{
    json_t *f = json_pack("{s:s, s:I}", "name", r->name, "last_seen", (json_int_t)now);
    if (f == NULL)
        return NULL;
    if (r->address)
        json_object_set_new(f, "address", json_string(r->address));
    if (r->version)
        json_object_set_new(f, "version", json_string(r->version));
    if (r->platform)
        json_object_set_new(f, "platform", json_string(r->platform));
    if (r->hardware_id)
        json_object_set_new(f, "hardware_id", json_string(r->hardware_id));
    if (r->applied >= 0)
        json_object_set_new(f, "applied_config_version", json_integer(r->applied));
    json_object_set_new(f, "updated_at", json_integer(now));
    return f;
}

/* The secret part of the registration (registry_secret_check, registry_secret_step): -EPERM
 * with out->refused or out->random_error set when it cannot go on. */
static int settle_secret(const struct registry_request *r, struct attempt *a,
                         struct registry_outcome *out)
{
    const char *on_record = NULL;
    if (a->d.action == REGISTRY_REACTIVATE) {
        on_record = json_string_value(json_object_get(a->existing, "secret_hash"));
        /* Rule 1 for a controller that holds a secret: only with it (no takeover by UUID). */
        out->refused = registry_secret_check(on_record, r->presented_secret);
        if (out->refused != REGISTRY_SECRET_OK) {
            snprintf(out->id, sizeof out->id, "%s",
                     json_string_value(json_object_get(a->existing, "id")));
            return -EPERM;
        }
    }
    char h[SHA256_HEX_LEN + 1];
    switch (registry_secret_step(a->d.action, on_record != NULL, r->presented_secret != NULL,
                                 r->issue_secret)) {
    case REGISTRY_SECRET_ADOPT:
        secret_hash(r->presented_secret, h);
        out->secret_source = "adopted";
        break;
    case REGISTRY_SECRET_ISSUE:
        out->random_error = secret_generate(out->issued);
        if (out->random_error < 0)
            return -EPERM;
        secret_hash(out->issued, h);
        out->secret_source = "issued";
        break;
    default:
        return 0;
    }
    json_object_set_new(a->fields, "secret_hash", json_string(h));
    return 0;
}

/* Rules 1 and 3: the record a->row is updated. */
static int update_known(struct central *c, const struct registry_request *r, int64_t now,
                        struct attempt *a, char id[UUIDSTR_LEN + 1])
{
    const json_t *row = a->row;
    snprintf(id, UUIDSTR_LEN + 1, "%s", json_string_value(json_object_get(row, "id")));
    int64_t cv = json_integer_value(json_object_get(row, "config_version"));
    /* The name is part of the runtime config: a rebuilt container with a new hostname gets a
     * new document version. */
    if (strcmp(json_string_value(json_object_get(row, "name")), r->name) != 0)
        cv++;
    else
        json_object_del(a->fields, "name"); /* unchanged: its index page is not rewritten */
    json_object_set_new(a->fields, "config_version",
                        json_integer(registry_seed_config_version(cv, r->applied)));
    json_object_set_new(a->fields, "session_epoch",
                        json_integer(registry_session_epoch(
                            json_integer_value(json_object_get(row, "session_epoch")), r->epoch)));
    if (json_is_null(json_object_get(row, "first_seen")))
        json_object_set_new(a->fields, "first_seen", json_integer(now));
    return store_controller_update(c->store, id, a->fields);
}

/* A restored controller that the operator had deleted: it comes back (its edge still runs,
 * and gets a config without trains), but not silently: logged, and marked in its metadata
 * (returned_after_delete) for the UI and the CLI. */
static int mark_if_deleted(struct central *c, const char *id, json_t *fields)
{
    json_t *doc = NULL;
    int rc = store_setting_get(c->store, REGISTRY_DELETED_KEY, &doc);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    json_t *was = json_object_get(doc, id);
    if (was != NULL) {
        char at[TIMEUTIL_ISO_LEN + 1] = "";
        timeutil_format(json_integer_value(json_object_get(was, "at")), at);
        log_event(RH_LOG_WARNING, "deleted_controller_returned", "{s:s, s:s, s:s}", "uuid", id,
                  "deleted_at", at, "detail",
                  "its edge still runs: stop it, or clear its state directory, to keep it gone");
        json_object_set_new(fields, "metadata", json_pack("{s:s}", "returned_after_delete", at));
        json_object_del(doc, id);
        rc = store_setting_put(c->store, REGISTRY_DELETED_KEY, doc);
    }
    json_decref(doc);
    return rc;
}

/* Rules 2 and 4: a new record, with the given UUID (restored) or a new one. */
static int insert_new(struct central *c, const struct registry_request *r, int64_t now,
                      struct attempt *a, char id[UUIDSTR_LEN + 1])
{
    bool restore = a->d.action == REGISTRY_RESTORE;
    if (restore)
        snprintf(id, UUIDSTR_LEN + 1, "%s", r->uuid);
    else
        uuidstr_generate(id);
    json_object_set_new(a->fields, "id", json_string(id));
    json_object_set_new(a->fields, "config_version",
                        json_integer(restore ? registry_restore_config_version(r->applied) : 1));
    json_object_set_new(a->fields, "session_epoch",
                        json_integer(registry_session_epoch(0, r->epoch)));
    json_object_set_new(a->fields, "first_seen", json_integer(now));
    json_object_set_new(a->fields, "created_at", json_integer(now));
    json_object_set_new(a->fields, "enabled", json_true());
    int rc = restore ? mark_if_deleted(c, id, a->fields) : 0;
    return rc == 0 ? store_controller_insert(c->store, a->fields) : rc;
}

/* Inside the transaction, after the write. The answer comes from what was written, not from
 * reading the row back; the full row is read only for the event view, and views are built
 * only for open event streams: at boot storms they cost more than the registration itself. */
static void written(struct central *c, int64_t now, const struct attempt *a,
                    struct registry_outcome *out, json_t **event)
{
    out->saved = a->row != NULL ? json_copy((json_t *)a->row) : json_object();
    json_object_update(out->saved, a->fields);
    *event = NULL;
    if (events_wanted(c->events)) {
        json_t *full = NULL;
        if (store_controller_get(c->store, out->id, &full) == 0)
            *event = view_controller(c, full, now, true);
        json_decref(full);
    }
}

/* One transaction: 0 committed, else nothing written. */
static int register_once(struct central *c, const struct registry_request *r, int64_t now,
                         struct attempt *a, struct registry_outcome *out)
{
    json_t *event = NULL;
    int rc = store_begin(c->store, true);
    if (rc < 0)
        return rc;
    if ((rc = decide(c, r, now, a)) < 0)
        goto rollback;
    out->action = a->d.action;
    a->fields = reported_fields(r, now);
    if (a->fields == NULL) {
        rc = -ENOMEM;
        goto rollback;
    }
    if ((rc = settle_secret(r, a, out)) < 0)
        goto rollback;
    if (a->d.action == REGISTRY_REACTIVATE || a->d.action == REGISTRY_ADOPT) {
        a->row = a->d.action == REGISTRY_REACTIVATE
                     ? a->existing
                     : json_array_get(a->candidates, a->d.adopt_index);
        rc = update_known(c, r, now, a, out->id);
    } else {
        rc = insert_new(c, r, now, a, out->id);
    }
    if (rc < 0)
        goto rollback;
    written(c, now, a, out, &event);
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(event);
        json_decref(out->saved);
        out->saved = NULL;
        return rc;
    }
    events_publish(c->events, "controller", event);
    atomic_fetch_add(&c->counters.registrations[a->d.action], 1);
    return 0;
rollback:
    store_rollback(c->store);
    return rc;
}

int registry_tx_register(struct central *c, const struct registry_request *r, int64_t now,
                         struct registry_outcome *out)
{
    struct attempt a = {0};
    int rc;
    for (int attempts = 0;;) {
        memset(out, 0, sizeof *out);
        rc = register_once(c, r, now, &a, out);
        attempt_clear(&a);
        /* A serialization failure (PostgreSQL, when another connection registered the same
         * controller at the same moment): the whole decision again, on what is committed
         * now. */
        if (rc != -EAGAIN || ++attempts >= REGISTER_ATTEMPTS)
            break;
    }
    return rc;
}
