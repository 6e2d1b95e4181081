#include "registry_tx.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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

/* What one attempt looked up and is writing; every pointer owned, NULL when not. */
struct attempt {
    struct store_controller_brief row; /* the record updated (rules 1 and 3), once read */
    json_t *candidates;                /* the records with the requested name (rule 3) */
    struct registry_decision d;
    /* What is written: the fields, and the values they point at besides the request's. */
    struct store_fields fields;
    bool new_secret;
    char secret_hash[SHA256_HEX_LEN + 1];
    char *metadata; /* JSON text */
};

static void attempt_clear(struct attempt *a)
{
    store_controller_brief_clear(&a->row);
    json_decref(a->candidates);
    free(a->metadata);
    memset(a, 0, sizeof *a);
}

/* The lookups of registry.h's rules, and its decision on them. */
static int decide(struct central *c, const struct registry_request *r, int64_t now,
                  struct attempt *a)
{
    struct registry_candidate cand[REGISTER_CANDIDATES_MAX];
    size_t ncand = 0;
    bool known = false; /* a->row holds the record of the given UUID (rules 1-2) */
    if (r->has_uuid) {
        int rc = store_controller_get_brief(c->store, r->uuid, &a->row);
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
    if (a->d.action != REGISTRY_ADOPT)
        return 0;
    /* Rule 3: the candidate adopted, read as rule 1 reads its record. */
    const char *id =
        json_string_value(json_object_get(json_array_get(a->candidates, a->d.adopt_index), "id"));
    return store_controller_get_brief(c->store, id, &a->row);
}

/* The fields the edge reports, written whatever the decision (the name only when it is new
 * to the record: an unchanged one's index page is not rewritten), and the secret decided. */
static void reported_fields(const struct registry_request *r, int64_t now, bool name,
                            struct attempt *a)
{
    struct store_fields *f = &a->fields;
    if (name)
        store_fields_put(f, "name", store_text(r->name));
    store_fields_put(f, "last_seen", store_int(now));
    store_fields_put(f, "updated_at", store_int(now));
    if (r->address)
        store_fields_put(f, "address", store_text(r->address));
    if (r->version)
        store_fields_put(f, "version", store_text(r->version));
    if (r->platform)
        store_fields_put(f, "platform", store_text(r->platform));
    if (r->hardware_id)
        store_fields_put(f, "hardware_id", store_text(r->hardware_id));
    if (r->applied >= 0)
        store_fields_put(f, "applied_config_version", store_int(r->applied));
    if (a->new_secret)
        store_fields_put(f, "secret_hash", store_text(a->secret_hash));
}

/* The secret part of the registration (registry_secret_check, registry_secret_step): -EPERM
 * with out->refused or out->random_error set when it cannot go on. */
static int settle_secret(const struct registry_request *r, struct attempt *a,
                         struct registry_outcome *out)
{
    const char *on_record = NULL;
    if (a->d.action == REGISTRY_REACTIVATE) {
        on_record = a->row.secret_hash;
        /* Rule 1 for a controller that holds a secret: only with it (no takeover by UUID). */
        out->refused = registry_secret_check(on_record, r->presented_secret);
        if (out->refused != REGISTRY_SECRET_OK) {
            snprintf(out->id, sizeof out->id, "%s", a->row.id);
            return -EPERM;
        }
    }
    switch (registry_secret_step(a->d.action, on_record != NULL, r->presented_secret != NULL,
                                 r->issue_secret)) {
    case REGISTRY_SECRET_ADOPT:
        secret_hash(r->presented_secret, a->secret_hash);
        out->secret_source = "adopted";
        break;
    case REGISTRY_SECRET_ISSUE:
        out->random_error = secret_generate(out->issued);
        if (out->random_error < 0)
            return -EPERM;
        secret_hash(out->issued, a->secret_hash);
        out->secret_source = "issued";
        break;
    default:
        return 0;
    }
    a->new_secret = true;
    return 0;
}

/* Rules 1 and 3: the record a->row is updated. */
static int update_known(struct central *c, const struct registry_request *r, int64_t now,
                        struct attempt *a, struct registry_outcome *out)
{
    const struct store_controller_brief *row = &a->row;
    memcpy(out->id, row->id, sizeof out->id);
    /* The name is part of the runtime config: a rebuilt container with a new hostname gets a
     * new document version. */
    bool renamed = strcmp(row->name, r->name) != 0;
    reported_fields(r, now, renamed, a);
    out->config_version = registry_seed_config_version(row->config_version + renamed, r->applied);
    out->session_epoch = registry_session_epoch(row->session_epoch, r->epoch);
    store_fields_put(&a->fields, "config_version", store_int(out->config_version));
    store_fields_put(&a->fields, "session_epoch", store_int(out->session_epoch));
    if (!row->first_seen)
        store_fields_put(&a->fields, "first_seen", store_int(now));
    return store_controller_update_fields(c->store, out->id, &a->fields);
}

/* A restored controller that the operator had deleted: it comes back (its edge still runs,
 * and gets a config without trains), but not silently: logged, and marked in its metadata
 * (returned_after_delete) for the UI and the CLI. */
static int mark_if_deleted(struct central *c, const char *id, struct attempt *a)
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
        json_t *meta = json_pack("{s:s}", "returned_after_delete", at);
        a->metadata = meta != NULL ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(meta);
        if (a->metadata == NULL)
            rc = -ENOMEM;
        else
            store_fields_put(&a->fields, "metadata", store_text(a->metadata));
        json_object_del(doc, id);
        if (rc == 0)
            rc = store_setting_put(c->store, REGISTRY_DELETED_KEY, doc);
    }
    json_decref(doc);
    return rc;
}

/* Rules 2 and 4: a new record, with the given UUID (restored) or a new one. */
static int insert_new(struct central *c, const struct registry_request *r, int64_t now,
                      struct attempt *a, struct registry_outcome *out)
{
    bool restore = a->d.action == REGISTRY_RESTORE;
    if (restore)
        memcpy(out->id, r->uuid, sizeof out->id);
    else
        uuidstr_generate(out->id);
    reported_fields(r, now, true, a);
    out->config_version = restore ? registry_restore_config_version(r->applied) : 1;
    out->session_epoch = registry_session_epoch(0, r->epoch);
    struct store_fields *f = &a->fields;
    store_fields_put(f, "id", store_text(out->id));
    store_fields_put(f, "config_version", store_int(out->config_version));
    store_fields_put(f, "session_epoch", store_int(out->session_epoch));
    store_fields_put(f, "first_seen", store_int(now));
    store_fields_put(f, "created_at", store_int(now));
    store_fields_put(f, "enabled", (struct store_value){.kind = STORE_BOOL, .integer = 1});
    int rc = restore ? mark_if_deleted(c, out->id, a) : 0;
    return rc == 0 ? store_controller_insert_fields(c->store, f) : rc;
}

/* Inside the transaction, after the write. The answer comes from what was written, not from
 * reading the row back; the full row is read only for the event view, and views are built
 * only for open event streams: at boot storms they cost more than the registration itself. */
static int written(struct central *c, const struct registry_request *r, int64_t now,
                   const struct attempt *a, struct registry_outcome *out, json_t **event)
{
    const char *address = r->address != NULL ? r->address : a->row.address;
    out->address = address != NULL ? strdup(address) : NULL;
    out->secured = a->new_secret || a->row.secret_hash != NULL;
    *event = NULL;
    if (events_wanted(c->events)) {
        json_t *full = NULL;
        if (store_controller_get(c->store, out->id, &full) == 0)
            *event = view_controller(c, full, now, true);
        json_decref(full);
    }
    return address != NULL && out->address == NULL ? -ENOMEM : 0;
}

/* One transaction: 0 committed, else nothing written. */
static int register_once(struct central *c, const struct registry_request *r, int64_t now,
                         bool retry, struct attempt *a, struct registry_outcome *out)
{
    json_t *event = NULL;
    /* A retry after a serialization failure runs serialized (store.h). */
    int rc = retry ? store_begin_serialized(c->store) : store_begin(c->store, true);
    if (rc < 0)
        return rc;
    if ((rc = decide(c, r, now, a)) < 0)
        goto rollback;
    out->action = a->d.action;
    if ((rc = settle_secret(r, a, out)) < 0)
        goto rollback;
    if (a->d.action == REGISTRY_REACTIVATE || a->d.action == REGISTRY_ADOPT)
        rc = update_known(c, r, now, a, out);
    else
        rc = insert_new(c, r, now, a, out);
    if (rc < 0 || (rc = written(c, r, now, a, out, &event)) < 0)
        goto rollback;
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(event);
        return rc;
    }
    events_publish(c->events, "controller", event);
    atomic_fetch_add(&c->counters.registrations[a->d.action], 1);
    return 0;
rollback:
    json_decref(event);
    store_rollback(c->store);
    return rc;
}

int registry_tx_register(struct central *c, const struct registry_request *r, int64_t now,
                         struct registry_outcome *out)
{
    struct attempt a = {0};
    int rc;
    memset(out, 0, sizeof *out);
    for (int attempts = 0;;) {
        registry_outcome_clear(out);
        rc = register_once(c, r, now, attempts > 0, &a, out);
        attempt_clear(&a);
        /* A serialization failure (PostgreSQL, when another connection registered the same
         * controller at the same moment): the whole decision again, on what is committed
         * now. */
        if (rc != -EAGAIN || ++attempts >= REGISTER_ATTEMPTS)
            break;
    }
    if (rc != 0) {
        free(out->address);
        out->address = NULL;
    }
    return rc;
}

void registry_outcome_clear(struct registry_outcome *o)
{
    free(o->address);
    memset(o, 0, sizeof *o);
}
