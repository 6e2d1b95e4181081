/* Trains: lists, one train, registration by a controller or the operator, PUT with the move
 * rules, delete, and the train photo (docs/api.md "Trains", "Train photos"). */
#include "api_internal.h"
#include "http_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api_views.h"
#include "central.h"
#include "driving.h"
#include "paging.h"
#include "events.h"
#include "placement.h"
#include "protocol.h"
#include "registry.h"
#include "registry_io.h"
#include "runtime_config.h"
#include "store.h"

/* ---- trains ---- */

static void h_trains_list(struct call *k, const char *controller_id, bool with_status)
{
    struct central *c = k->c;
    int rc = 0;
    if (!api_begin(k, false))
        return;
    json_t *rows = NULL;
    if (controller_id != NULL && !api_controller_exists(k, controller_id)) {
        store_rollback(c->store);
        return;
    }
    rc = store_train_list(c->store, controller_id, &rows);
    if (rc < 0) {
        store_rollback(c->store);
        api_db_failed(k, rc);
        return;
    }
    json_t *out = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_array_append_new(out, view_train(c, row, with_status));
    store_rollback(c->store);
    json_decref(rows);
    http_response_json(k->resp, 200, out);
}

static void trains_page_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    api_page_work(ctx, req, resp, PAGING_TRAINS);
}

/* Without a paging parameter, every train as a bare array, as before paging; with one, a
 * page (api_paging.c). */
void h_trains(struct call *k)
{
    struct paging_args a;
    int paged = api_paging_args(k, PAGING_TRAINS, &a);
    if (paged == 0)
        h_trains_list(k, NULL, true);
    else if (paged == 1)
        http_request_defer_arg(k->req, k->resp, trains_page_work, k->c, &a, sizeof a);
}

void h_config_trains(struct call *k)
{
    h_trains_list(k, NULL, false);
}

void h_controller_trains(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (api_path_uuid(k, k->arg[0], id))
        h_trains_list(k, id, true);
}

static void train_get(struct call *k, const char *controller_id, const char *train_id,
                      bool with_status)
{
    struct central *c = k->c;
    int rc = 0;
    if (!api_begin(k, false))
        return;
    json_t *row = NULL;
    if (controller_id != NULL && !api_controller_exists(k, controller_id)) {
        store_rollback(c->store);
        return;
    }
    rc = store_train_get(c->store, train_id, &row);
    const char *owner =
        row ? json_string_value(json_object_get(row, "desired_controller_id")) : NULL;
    if (rc == -ENOENT ||
        (rc == 0 && controller_id != NULL && (owner == NULL || strcmp(owner, controller_id) != 0)))
        api_not_found_train(k, train_id);
    else if (rc < 0)
        api_db_failed(k, rc);
    else
        http_response_json(k->resp, 200, view_train(c, row, with_status));
    store_rollback(c->store);
    json_decref(row);
}

void h_train_get(struct call *k)
{
    train_get(k, NULL, k->arg[0], true);
}

void h_config_train_get(struct call *k)
{
    train_get(k, NULL, k->arg[0], false);
}

void h_controller_train_get(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (api_path_uuid(k, k->arg[0], id))
        train_get(k, id, k->arg[1], true);
}

/* Validated body of a train registration. */
struct train_req {
    const char *train_id, *name, *description, *model, *plugin_name;
    json_t *plugin_config;
    bool reassign;
    bool invert; /* invert_directions: only for a train this request creates */
    bool has_description, has_model;
    int64_t address;       /* 0: not given, assigned */
    const json_t *driving; /* borrowed; NULL: none */
};

/* "driving" (driving.h): 1 with *out borrowed (an object; null means {}), 0 absent, -1 bad. */
static int parse_driving(const json_t *b, const json_t **out, struct jsonx_err *err)
{
    const json_t *d = json_object_get(b, "driving");
    if (d == NULL)
        return 0;
    if (json_is_null(d)) {
        *out = NULL;
        return 1;
    }
    char field[32] = "", why[96];
    if (driving_check(d, field, sizeof field, why, sizeof why) < 0) {
        jsonx_err_set(err, "driving", "'driving%s%s': %s", field[0] ? "." : "", field, why);
        return -1;
    }
    *out = d;
    return 1;
}

static int parse_plugin(const json_t *b, const char **name, json_t **config, struct jsonx_err *err)
{
    json_t *plugin = NULL;
    int rc = jsonx_object(b, "plugin", true, &plugin, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || plugin == NULL)
        return 0;
    /* A NULL name: the caller's default applies. */
    return registry_io_plugin_parse(plugin, name, config, err) < 0 ? -1 : 1;
}

static int parse_train_req(const json_t *b, struct train_req *r, struct jsonx_err *err)
{
    memset(r, 0, sizeof *r);
    int rc = api_get_train_id(b, "train_id", &r->train_id, err);
    if (rc == 0) {
        jsonx_err_set(err, "train_id", "'train_id' is required");
        return -1;
    }
    if (rc < 0)
        return -1;
    rc = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &r->name, err);
    if (rc == 0) {
        jsonx_err_set(err, "name", "'name' is required");
        return -1;
    }
    if (rc < 0)
        return -1;
    if ((rc = jsonx_string(b, "description", 0, PROTO_DESCRIPTION_MAX, true, &r->description,
                           err)) < 0)
        return -1;
    r->has_description = rc == 1;
    if ((rc = jsonx_string(b, "model", 0, PROTO_MODEL_MAX, true, &r->model, err)) < 0)
        return -1;
    r->has_model = rc == 1;
    if (parse_plugin(b, &r->plugin_name, &r->plugin_config, err) < 0 ||
        jsonx_bool(b, "reassign", &r->reassign, err) < 0 ||
        jsonx_bool(b, "invert_directions", &r->invert, err) < 0 ||
        jsonx_int(b, "address", 1, PROTO_TRAIN_NUMBER_MAX, &r->address, err) < 0 ||
        parse_driving(b, &r->driving, err) < 0)
        return -1;
    return 0;
}

/* Inside a write transaction: true when no train but tid has this address (0: none asked).
 * Otherwise false with 409 sent; the caller rolls back. */
static bool address_free(struct call *k, int64_t address, const char *tid)
{
    json_t *holder = NULL;
    if (address == 0)
        return true;
    int rc = store_train_find_by_address(k->c->store, (int)address, &holder);
    bool free_ = rc == -ENOENT ||
                 (rc == 0 && strcmp(json_string_value(json_object_get(holder, "id")), tid) == 0);
    if (rc == 0 && !free_)
        http_response_error(k->resp, 409, "address_in_use", "address",
                            "address %lld belongs to train %s", (long long)address,
                            json_string_value(json_object_get(holder, "id")));
    else if (rc < 0 && rc != -ENOENT)
        api_db_failed(k, rc);
    json_decref(holder);
    return free_;
}

/* After inserting a train without an address. false with the answer sent when none is left. */
static bool addresses_assigned(struct call *k)
{
    int rc = store_train_assign_addresses(k->c->store);
    if (rc == -ERANGE)
        http_response_error(k->resp, 422, "no_free_address", "address",
                            "every address 1-" PROTO_STR(PROTO_TRAIN_NUMBER_MAX) " is taken");
    else if (rc < 0)
        api_db_failed(k, rc);
    return rc == 0;
}

/* After a change that puts trains on controller cid, inside its transaction: false (the 422
 * sent; the caller rolls back) when cid's runtime config would no longer be one an edge can
 * run. An edge refuses such a config and keeps driving its old one. */
static bool config_fits(struct call *k, const char *cid, const char *field)
{
    int rc = placement_config_fits(k->c, k->c->store, cid);
    if (rc == -E2BIG)
        http_response_error(k->resp, 422, "too_many_trains", field,
                            "controller %s would have more than %d trains (an edge runs at most "
                            "%d)",
                            cid, PROTO_CONTROLLER_TRAINS_MAX, PROTO_CONTROLLER_TRAINS_MAX);
    else if (rc == -EFBIG)
        http_response_error(k->resp, 422, "config_too_large", field,
                            "the runtime config of controller %s would be larger than %d bytes "
                            "(an edge downloads at most that): make plugin configs smaller",
                            cid, PROTO_RUNTIME_CONFIG_MAX);
    else if (rc < 0)
        api_db_failed(k, rc);
    return rc == 0;
}

/* What the steps of a train change return beside 0 and a store error: the answer is sent
 * (a refusal), and the caller rolls back. */
#define ANSWERED 1

/* A train registered that was not on record, assigned to cid. */
static int insert_train(struct call *k, const char *cid, const struct train_req *r)
{
    struct central *c = k->c;
    json_t *cfg = r->plugin_config ? json_incref(r->plugin_config) : json_object();
    json_t *row = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:o, s:b, s:s, s:n, s:s, s:I, s:I}", "id",
                            r->train_id, "name", r->name, "description", r->description, "model",
                            r->model, "plugin_name", r->plugin_name ? r->plugin_name : "dc_motor",
                            "plugin_config", cfg, "invert_directions", r->invert,
                            "desired_controller_id", cid, "actual_controller_id",
                            "reassignment_status", registry_reassignment_status(cid, NULL, false),
                            "created_at", (json_int_t)k->now, "updated_at", (json_int_t)k->now);
    if (r->address > 0)
        json_object_set_new(row, "address", json_integer(r->address));
    if (r->driving != NULL)
        json_object_set(row, "driving", (json_t *)r->driving);
    int rc = store_train_insert(c->store, row);
    json_decref(row);
    if (rc == 0)
        rc = store_controller_bump_config(c->store, cid, k->now);
    if (rc < 0)
        return rc;
    if (!addresses_assigned(k))
        return ANSWERED;
    log_event(RH_LOG_INFO, "train_registered", "{s:s, s:s}", "train_id", r->train_id, "controller",
              cid);
    return 0;
}

/* 409: train tid is another controller's, and the request did not ask to move it. */
static void refuse_assigned_elsewhere(struct call *k, const char *tid, const char *owner)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "detail", "", "error",
                             "train_assigned_elsewhere", "owner", owner, "field", "train_id");
    char detail[200];
    snprintf(detail, sizeof detail,
             "train %s is assigned to controller %s; send reassign: true to move it", tid, owner);
    json_object_set_new(body, "detail", json_string(detail));
    http_response_json(k->resp, 409, body);
}

/* The train (its row) moves to controller cid from owner (NULL: none): both owners'
 * config_version rise. */
static int take_train(struct call *k, const char *cid, const char *tid, const json_t *train,
                      const char *owner)
{
    struct central *c = k->c;
    if (!api_stop_before_leaving(k, tid, train))
        return ANSWERED;
    const char *actual = json_string_value(json_object_get(train, "actual_controller_id"));
    json_t *f = json_pack("{s:s, s:s, s:I}", "desired_controller_id", cid, "reassignment_status",
                          registry_reassignment_status(cid, actual, false), "updated_at",
                          (json_int_t)k->now);
    int rc = store_train_update(c->store, tid, f);
    json_decref(f);
    if (rc == 0 && owner != NULL)
        rc = store_controller_bump_config(c->store, owner, k->now);
    if (rc == 0)
        rc = store_controller_bump_config(c->store, cid, k->now);
    if (rc == 0)
        log_event(RH_LOG_INFO, "train_reassigned", "{s:s, s:s?, s:s}", "train_id", tid, "from",
                  owner, "to", cid);
    return rc;
}

/* A registration of train (its row, on record) by controller cid: placement_register's step,
 * then a new address when one is asked. *changed: whether anything was written. */
static int register_known(struct call *k, const char *cid, const struct train_req *r,
                          const json_t *train, bool *changed)
{
    const char *owner = json_string_value(json_object_get(train, "desired_controller_id"));
    int rc = 0;
    switch (placement_register(owner, cid, r->reassign)) {
    case PLACEMENT_ALREADY_HERE:
        *changed = false;
        break;
    case PLACEMENT_REFUSED:
        refuse_assigned_elsewhere(k, r->train_id, owner);
        return ANSWERED;
    case PLACEMENT_TAKE:
        *changed = true;
        if ((rc = take_train(k, cid, r->train_id, train, owner)) != 0)
            return rc;
        break;
    }
    if (r->address > 0 && r->address != json_integer_value(json_object_get(train, "address"))) {
        json_t *f = json_pack("{s:I, s:I}", "address", (json_int_t)r->address, "updated_at",
                              (json_int_t)k->now);
        rc = store_train_update(k->c->store, r->train_id, f);
        json_decref(f);
        *changed = true;
    }
    return rc;
}

/* Inside the transaction, after the change: the train's view, committed, published when it
 * changed, and answered with status. */
static void commit_train(struct call *k, const char *tid, bool changed, unsigned status)
{
    struct central *c = k->c;
    json_t *train = NULL;
    int rc = store_train_get(c->store, tid, &train);
    if (rc < 0) {
        api_db_failed(k, rc);
        store_rollback(c->store);
        return;
    }
    json_t *view = view_train(c, train, true);
    json_decref(train);
    rc = store_commit(c->store);
    if (rc < 0) {
        json_decref(view);
        api_db_failed(k, rc);
        return;
    }
    if (changed)
        events_publish(c->events, "train", json_incref(view));
    http_response_json(k->resp, status, view);
}

/* A train registration that carries no operator account while --auth is on: the
 * controller's own, which its secret proves when it holds one. It may not take a train from
 * another controller (reassign); an admin account does that. */
static bool controller_may_register(struct call *k, const json_t *ctl, const struct train_req *r)
{
    if (!api_controller_authorized(k, ctl))
        return false;
    if (!r->reassign)
        return true;
    http_response_error(k->resp, 403, "forbidden", "reassign",
                        "moving a train from another controller needs an admin account (a "
                        "login or an API token)");
    return false;
}

/* Registers a train for controller cid (docs/api.md): 201 new, 200 already there, 409 on
 * another controller unless reassign (then moved, 200). Both owners' config_version rise on
 * a move, in the same transaction. */
static void register_train(struct call *k, const char *cid, const json_t *b, enum api_caller caller)
{
    struct central *c = k->c;
    struct train_req r;
    struct jsonx_err err;
    if (parse_train_req(b, &r, &err) < 0) {
        api_invalid(k, &err);
        return;
    }
    json_t *ctl = NULL, *train = NULL;
    if (!api_begin(k, true))
        return;
    ctl = api_load_controller(k, cid);
    if (ctl == NULL || (caller == API_CALLER_CONTROLLER && !controller_may_register(k, ctl, &r)))
        goto rollback;
    int rc = store_train_get(c->store, r.train_id, &train);
    if (rc < 0 && rc != -ENOENT)
        goto db_fail;
    if (!address_free(k, r.address, r.train_id))
        goto rollback;
    bool created = rc == -ENOENT, changed = true;
    /* Numbering a new train: two centrals doing it at once would read the same free
     * address and fail each other. */
    if (created && api_serialize_from_now(k))
        goto rollback;
    rc = created ? insert_train(k, cid, &r) : register_known(k, cid, &r, train, &changed);
    if (rc < 0)
        goto db_fail;
    if (rc == ANSWERED)
        goto rollback;
    if (changed && !config_fits(k, cid, created ? "plugin.config" : "controller_id"))
        goto rollback;
    commit_train(k, r.train_id, changed, created ? 201 : 200);
    goto out;
db_fail:
    api_db_failed(k, rc);
rollback:
    store_rollback(c->store);
out:
    json_decref(ctl);
    json_decref(train);
}

void h_controller_train_post(struct call *k)
{
    char id[UUIDSTR_LEN + 1];
    if (!api_path_uuid(k, k->arg[0], id))
        return;
    enum api_caller caller = api_shared_caller(k, AUTH_ROLE_ADMIN);
    if (caller == API_CALLER_REFUSED)
        return;
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    register_train(k, id, b, caller);
    json_decref(b);
}

void h_train_post(struct call *k)
{
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    char id[UUIDSTR_LEN + 1];
    struct jsonx_err err;
    int rc = jsonx_uuid(b, "controller_uuid", false, id, NULL, &err);
    if (rc == 0)
        jsonx_err_set(&err, "controller_uuid", "'controller_uuid' is required");
    if (rc != 1)
        api_invalid(k, &err);
    else
        register_train(k, id, b, API_CALLER_ACCOUNT); /* an admin route */
    json_decref(b);
}

/* The body of PUT /api/trains/{id}, validated; borrowed from it. has_*: 1 when the field was
 * sent. */
struct train_put {
    const char *name, *desc, *model, *plugin_name;
    json_t *plugin_config;
    bool invert, ctl_null, force;
    const json_t *driving;
    int64_t address; /* 0: not sent */
    char ctl[UUIDSTR_LEN + 1];
    int has_name, has_desc, has_model, has_invert, has_ctl, has_plugin, has_driving;
};

static int parse_train_put(const json_t *b, struct train_put *p, struct jsonx_err *err)
{
    memset(p, 0, sizeof *p);
    if ((p->has_name = jsonx_string(b, "name", 1, PROTO_NAME_MAX, false, &p->name, err)) < 0 ||
        (p->has_desc =
             jsonx_string(b, "description", 0, PROTO_DESCRIPTION_MAX, true, &p->desc, err)) < 0 ||
        (p->has_model = jsonx_string(b, "model", 0, PROTO_MODEL_MAX, true, &p->model, err)) < 0 ||
        (p->has_invert = jsonx_bool(b, "invert_directions", &p->invert, err)) < 0 ||
        (p->has_plugin = parse_plugin(b, &p->plugin_name, &p->plugin_config, err)) < 0 ||
        (p->has_ctl = jsonx_uuid(b, "controller_id", true, p->ctl, &p->ctl_null, err)) < 0 ||
        jsonx_bool(b, "force", &p->force, err) < 0 ||
        jsonx_int(b, "address", 1, PROTO_TRAIN_NUMBER_MAX, &p->address, err) < 0 ||
        (p->has_driving = parse_driving(b, &p->driving, err)) < 0)
        return -1;
    return 0;
}

/* Who has a train, copied out of its row (which is replaced before the log line after the
 * commit), and who is to have it after the PUT. */
struct train_owners {
    char owner_buf[UUIDSTR_LEN + 1], actual_buf[UUIDSTR_LEN + 1];
    const char *owner;     /* desired_controller_id, NULL: none */
    const char *actual;    /* actual_controller_id, NULL: none */
    const char *new_owner; /* owner, or the PUT's controller_id */
};

static const char *copy_id(const json_t *row, const char *key, char buf[UUIDSTR_LEN + 1])
{
    const json_t *v = json_object_get(row, key);
    if (!json_is_string(v))
        return NULL;
    snprintf(buf, UUIDSTR_LEN + 1, "%s", json_string_value(v));
    return buf;
}

/* o filled from train and p: -ENOENT (the 422 sent) when p names a controller that does not
 * exist, or a store error. */
static int put_owners(struct call *k, const json_t *train, const struct train_put *p,
                      struct train_owners *o)
{
    o->owner = copy_id(train, "desired_controller_id", o->owner_buf);
    o->actual = copy_id(train, "actual_controller_id", o->actual_buf);
    o->new_owner = o->owner;
    if (!p->has_ctl)
        return 0;
    o->new_owner = p->ctl_null ? NULL : p->ctl;
    if (o->new_owner == NULL)
        return 0;
    json_t *nc = NULL;
    int rc = store_controller_get(k->c->store, o->new_owner, &nc);
    json_decref(nc);
    if (rc == -ENOENT)
        http_response_error(k->resp, 422, "invalid_field", "controller_id",
                            "controller %s does not exist", o->new_owner);
    return rc;
}

/* The plugin fields of a PUT into fields: {"plugin": {"config": ...}} keeps the plugin. true
 * when the owner's runtime config changes with them. */
static bool put_plugin(const json_t *train, const struct train_put *p, json_t *fields)
{
    json_t *cfg = p->plugin_config ? json_incref(p->plugin_config) : json_object();
    const char *was = json_string_value(json_object_get(train, "plugin_name"));
    const char *name = p->plugin_name != NULL ? p->plugin_name : was;
    bool changed =
        strcmp(name, was) != 0 || !json_equal(cfg, json_object_get(train, "plugin_config"));
    json_object_set_new(fields, "plugin_name", json_string(name));
    json_object_set_new(fields, "plugin_config", cfg);
    return changed;
}

/* The train's own fields of a PUT into fields. *config_changed: what the owner's runtime
 * config contains changed (name, plugin, invert_directions, driving). ANSWERED (409 or 503
 * sent) when the address asked for is not free. */
static int put_fields(struct call *k, const char *tid, const json_t *train,
                      const struct train_put *p, json_t *fields, bool *config_changed)
{
    bool cc = false;
    if (p->has_name && strcmp(p->name, json_string_value(json_object_get(train, "name"))) != 0) {
        json_object_set_new(fields, "name", json_string(p->name));
        cc = true;
    }
    if (p->has_desc)
        json_object_set_new(fields, "description", p->desc ? json_string(p->desc) : json_null());
    if (p->has_model)
        json_object_set_new(fields, "model", p->model ? json_string(p->model) : json_null());
    if (p->address > 0 && p->address != json_integer_value(json_object_get(train, "address"))) {
        if (!address_free(k, p->address, tid))
            return ANSWERED;
        json_object_set_new(fields, "address", json_integer(p->address));
    }
    if (p->has_invert && p->invert != json_is_true(json_object_get(train, "invert_directions"))) {
        json_object_set_new(fields, "invert_directions", json_boolean(p->invert));
        cc = true;
    }
    if (p->has_driving == 1) {
        json_t *want = p->driving ? json_deep_copy(p->driving) : json_object();
        if (!json_equal(want, json_object_get(train, "driving")))
            cc = true;
        json_object_set_new(fields, "driving", want);
    }
    if (p->has_plugin == 1 && put_plugin(train, p, fields))
        cc = true;
    *config_changed = cc;
    return 0;
}

/* The move of a PUT (placement_put) written with the train's fields, the owners' config
 * versions raised. ANSWERED when the stop before leaving or the new owner's config refused
 * it. */
static int put_move(struct call *k, const char *tid, const json_t *train,
                    const struct train_owners *o, const struct placement_move *m, json_t *fields)
{
    struct central *c = k->c;
    if (m->moved && !api_stop_before_leaving(k, tid, train))
        return ANSWERED;
    if (m->moved) {
        json_object_set_new(fields, "desired_controller_id",
                            o->new_owner ? json_string(o->new_owner) : json_null());
        json_object_set_new(fields, "reassignment_status", json_string(m->status));
    }
    if (m->forced) {
        json_object_set_new(fields, "actual_controller_id", json_null());
        log_event(RH_LOG_WARNING, "train_move_forced", "{s:s, s:s, s:s?}", "train_id", tid,
                  "holder", o->actual, "to", o->new_owner);
    }
    if (json_object_size(fields) > 0)
        json_object_set_new(fields, "updated_at", json_integer(k->now));
    int rc = store_train_update(c->store, tid, fields);
    if (rc == 0 && m->bump_old)
        rc = store_controller_bump_config(c->store, o->owner, k->now);
    if (rc == 0 && m->bump_new)
        rc = store_controller_bump_config(c->store, o->new_owner, k->now);
    if (rc < 0)
        return rc;
    if (m->check_new && !config_fits(k, o->new_owner, m->moved ? "controller_id" : "plugin.config"))
        return ANSWERED;
    return 0;
}

/* Inside the transaction: the PUT of train tid (its row) carried out. */
static int put_train(struct call *k, const char *tid, const json_t *train,
                     const struct train_put *p, struct train_owners *o, bool *moved)
{
    json_t *fields = json_object();
    bool config_changed = false;
    int rc = put_owners(k, train, p, o);
    if (rc == -ENOENT)
        rc = ANSWERED;
    if (rc == 0)
        rc = put_fields(k, tid, train, p, fields, &config_changed);
    if (rc == 0) {
        struct placement_move m =
            placement_put(o->owner, o->new_owner, o->actual, p->force, config_changed);
        *moved = m.moved;
        rc = put_move(k, tid, train, o, &m, fields);
    }
    json_decref(fields);
    return rc;
}

void h_train_put(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct train_put p;
    struct jsonx_err err;
    json_t *train = NULL, *view = NULL;
    if (parse_train_put(b, &p, &err) < 0) {
        api_invalid(k, &err);
        goto out;
    }
    if (!api_begin(k, true))
        goto out;
    int rc = store_train_get(c->store, tid, &train);
    if (rc == -ENOENT) {
        store_rollback(c->store);
        api_not_found_train(k, tid);
        goto out;
    }
    struct train_owners o;
    bool moved = false;
    if (rc == 0)
        rc = put_train(k, tid, train, &p, &o, &moved);
    json_decref(train);
    train = NULL;
    if (rc == 0)
        rc = store_train_get(c->store, tid, &train);
    if (rc != 0) {
        store_rollback(c->store);
        if (rc < 0)
            api_db_failed(k, rc);
        goto out;
    }
    view = view_train(c, train, true);
    if ((rc = store_commit(c->store)) < 0) {
        api_db_failed(k, rc);
        goto out;
    }
    if (moved)
        log_event(RH_LOG_INFO, "train_reassigned", "{s:s, s:s?, s:s?}", "train_id", tid, "from",
                  o.owner, "to", o.new_owner);
    events_publish(c->events, "train", json_incref(view));
    http_response_json(k->resp, 200, json_incref(view));
out:
    json_decref(b);
    json_decref(train);
    json_decref(view);
}

void h_train_delete(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    json_t *train = NULL;
    int rc = 0;
    if (!api_begin(k, true))
        return;
    rc = store_train_get(c->store, tid, &train);
    if (rc == 0 && !api_stop_before_leaving(k, tid, train)) {
        json_decref(train);
        store_rollback(c->store);
        return;
    }
    if (rc == 0) {
        const char *owner = json_string_value(json_object_get(train, "desired_controller_id"));
        rc = store_train_delete(c->store, tid);
        if (rc == 0 && owner != NULL)
            rc = store_controller_bump_config(c->store, owner, k->now);
    }
    json_decref(train);
    if (rc == -ENOENT) {
        store_rollback(c->store);
        api_not_found_train(k, tid);
        return;
    }
    if (rc < 0) {
        store_rollback(c->store);
        api_db_failed(k, rc);
        return;
    }
    if ((rc = store_commit(c->store)) < 0) {
        api_db_failed(k, rc);
        return;
    }
    log_event(RH_LOG_INFO, "train_deleted", "{s:s}", "train_id", tid);
    events_publish(c->events, "train", json_pack("{s:s, s:b}", "id", tid, "deleted", 1));
    k->resp->status = 204;
}

/* ---- train photos ---- */

/* The type of a photo from its first bytes (PNG signature, JPEG start-of-image marker), so
 * that what is stored and served is what the bytes are, whatever a client claimed. */
static const char *photo_type(const char *b, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *u = (const unsigned char *)b;
    if (n >= sizeof png && memcmp(u, png, sizeof png) == 0)
        return "image/png";
    if (n >= 4 && u[0] == 0xFF && u[1] == 0xD8 && u[2] == 0xFF)
        return "image/jpeg";
    return NULL;
}

bool http_api_raw_body(const char *method, const char *url)
{
    static const char prefix[] = "/api/trains/", suffix[] = "/photo";
    size_t n = strlen(url), np = sizeof prefix - 1, ns = sizeof suffix - 1;
    if (strcmp(method, "PUT") != 0 || n <= np + ns || strncmp(url, prefix, np) != 0 ||
        strcmp(url + n - ns, suffix) != 0)
        return false;
    /* Exactly one segment, the train id, between them. */
    return strchr(url + np, '/') == url + n - ns;
}

void h_train_photo_put(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    const char *declared = http_request_header(k->req, "Content-Type");
    char want[32] = "";
    if (declared != NULL)
        snprintf(want, sizeof want, "%.*s", (int)strcspn(declared, "; "), declared);
    if (strcasecmp(want, "image/png") != 0 && strcasecmp(want, "image/jpeg") != 0) {
        http_response_error(k->resp, 415, "unsupported_media_type", "Content-Type",
                            "a photo is sent as Content-Type: image/png or image/jpeg");
        return;
    }
    const char *type = photo_type(k->req->body, k->req->body_len);
    if (type == NULL || strcasecmp(type, want) != 0) {
        http_response_error(k->resp, 415, "unsupported_media_type", "photo",
                            "the body is not a %s image (checked from its bytes)",
                            strcasecmp(want, "image/png") == 0 ? "PNG" : "JPEG");
        return;
    }
    if (!api_begin(k, true))
        return;
    int rc = store_train_photo_put(c->store, tid, type, k->req->body, k->req->body_len, k->now);
    json_t *row = NULL, *view = NULL;
    if (rc == 0 && (rc = store_train_get(c->store, tid, &row)) == 0)
        view = view_train(c, row, true);
    json_decref(row);
    if (rc < 0) {
        store_rollback(c->store);
        if (rc == -ENOENT)
            api_not_found_train(k, tid);
        else
            api_db_failed(k, rc);
        return;
    }
    if ((rc = store_commit(c->store)) < 0) {
        json_decref(view);
        api_db_failed(k, rc);
        return;
    }
    log_event(RH_LOG_INFO, "train_photo_set", "{s:s, s:s, s:I}", "train_id", tid, "media_type",
              type, "bytes", (json_int_t)k->req->body_len);
    if (view != NULL)
        events_publish(c->events, "train", json_incref(view));
    http_response_json(k->resp, 200, view != NULL ? view : json_object());
}

/* A photo that is not there: the train itself may be missing, or only its photo. */
static void photo_not_found(struct call *k, const char *tid)
{
    json_t *row = NULL;
    if (store_train_get(k->c->store, tid, &row) == -ENOENT)
        api_not_found_train(k, tid);
    else
        http_response_error(k->resp, 404, "not_found", NULL, "train %s has no photo", tid);
    json_decref(row);
}

void h_train_photo_get(struct call *k)
{
    struct central *c = k->c;
    char type[32];
    void *data = NULL;
    size_t len = 0;
    if (!api_begin(k, false))
        return;
    int rc = store_train_photo_get(c->store, k->arg[0], type, sizeof type, &data, &len);
    if (rc == -ENOENT)
        photo_not_found(k, k->arg[0]);
    store_rollback(c->store);
    if (rc == -ENOENT)
        return;
    if (rc < 0) {
        api_db_failed(k, rc);
        return;
    }
    /* Only the two types photo_type admits are ever stored: the answer names one of them. */
    k->resp->status = 200;
    k->resp->text = data;
    k->resp->text_len = len;
    k->resp->content_type = strcmp(type, "image/png") == 0 ? "image/png" : "image/jpeg";
}

void h_train_photo_delete(struct call *k)
{
    struct central *c = k->c;
    const char *tid = k->arg[0];
    if (!api_begin(k, true))
        return;
    int rc = store_train_photo_delete(c->store, tid);
    json_t *row = NULL, *view = NULL;
    if (rc == 0 && store_train_get(c->store, tid, &row) == 0)
        view = view_train(c, row, true);
    json_decref(row);
    if (rc < 0) {
        if (rc == -ENOENT)
            photo_not_found(k, tid);
        else
            api_db_failed(k, rc);
        store_rollback(c->store);
        return;
    }
    if ((rc = store_commit(c->store)) < 0) {
        json_decref(view);
        api_db_failed(k, rc);
        return;
    }
    log_event(RH_LOG_INFO, "train_photo_removed", "{s:s}", "train_id", tid);
    if (view != NULL)
        events_publish(c->events, "train", view);
    k->resp->status = 204;
}
