/* Driving: a train's status, commands, the layout emergency stop and resume, and the earlier
 * system's status push (docs/api.md). */
#include "api_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api_views.h"
#include "central.h"
#include "command.h"
#include "layout.h"
#include "protocol.h"
#include "store.h"

/* GET /api/trains/{id}/status: what the train last reported, or its zero status when it never
 * did; a status row of a train that is not (or no longer) registered is still shown. */
void h_train_status(struct call *k)
{
    struct central *c = k->c;
    if (!api_begin(k, false))
        return;
    json_t *row = NULL, *train = NULL, *view = NULL;
    int rc = store_train_get(c->store, k->arg[0], &train);
    if (rc == 0) {
        rc = view_train_status(c, train, &view);
    } else if (rc == -ENOENT && (rc = store_status_get(c->store, k->arg[0], &row)) == 0) {
        view = view_status_live(c, row, NULL);
        rc = view ? 0 : -ENOMEM;
    }
    store_rollback(c->store);
    if (rc == -ENOENT)
        api_not_found_train(k, k->arg[0]);
    else if (rc < 0)
        api_db_failed(k, rc);
    else if (rc == 0)
        http_response_json(k->resp, 200, view);
    json_decref(row);
    json_decref(train);
}

/* The action of a command body: `action`, or the earlier forms the edges also take,
 * `{"command": A}` (both must agree when both are given) and `{"speed": N}` (setSpeed); any
 * case, answered with the canonical name. 1 with *out set, or -1 with err naming the field. */
static int command_action(const json_t *b, const char **out, struct jsonx_err *err)
{
    const char *action = NULL, *command = NULL;
    int a = jsonx_string(b, "action", 1, 32, false, &action, err);
    int m = a < 0 ? 0 : jsonx_string(b, "command", 1, 32, false, &command, err);
    if (a < 0 || m < 0)
        return -1;
    if (a == 1 && m == 1 && strcasecmp(action, command) != 0) {
        jsonx_err_set(err, "command", "'action' and 'command' name different actions");
        return -1;
    }
    const char *name = a == 1 ? action : command;
    const char *field = a == 1 ? "action" : "command";
    if (name == NULL && json_object_get(b, "speed") != NULL)
        name = "setSpeed";
    if (name == NULL) {
        jsonx_err_set(err, "action", "'action' is required: one of " PROTO_ACTION_WORDS);
        return -1;
    }
    int act = proto_action_parse(name);
    if (act >= 0) {
        *out = proto_action_name((enum proto_action)act);
        return 1;
    }
    jsonx_err_set(err, field, "unknown action '%.40s': use " PROTO_ACTION_WORDS, name);
    return -1;
}

/* A command body, validated into cmd (command.h): the canonical action, the speed (-1: not
 * given) and the direction ("FORWARD", "REVERSE", NULL: not given). */
static int parse_command(const json_t *b, struct command *cmd, struct jsonx_err *err)
{
    const char *dir = NULL;
    int64_t speed = -1;
    cmd->direction = NULL;
    if (command_action(b, &cmd->action, err) != 1 ||
        jsonx_int(b, "speed", 0, 100, &speed, err) < 0 ||
        jsonx_string(b, "direction", 1, 16, false, &dir, err) < 0)
        return -1;
    cmd->speed = (int)speed;
    if (dir != NULL) {
        if (strcasecmp(dir, "FORWARD") == 0)
            cmd->direction = "FORWARD";
        else if (strcasecmp(dir, "REVERSE") == 0 || strcasecmp(dir, "BACKWARD") == 0)
            cmd->direction = "REVERSE";
        else {
            jsonx_err_set(err, "direction", "'direction' must be FORWARD or REVERSE");
            return -1;
        }
    }
    if (strcmp(cmd->action, "setSpeed") == 0 && cmd->speed < 0) {
        jsonx_err_set(err, "speed", "setSpeed needs 'speed' (0-100)");
        return -1;
    }
    if (strcmp(cmd->action, "setDirection") == 0 && cmd->direction == NULL) {
        jsonx_err_set(err, "direction", "setDirection needs 'direction' (FORWARD or REVERSE)");
        return -1;
    }
    return 0;
}

/* 202 for a command the broker took: whether it reaches a controller, and which. */
static void command_answer(struct call *k, const char *tid, const char *action,
                           const struct command_target *t)
{
    bool listening = t->presence == PRESENCE_ONLINE || t->presence == PRESENCE_STALE;
    char msg[200];
    if (listening)
        snprintf(msg, sizeof msg, "Command sent");
    else if (t->id[0] == '\0')
        snprintf(msg, sizeof msg,
                 "Command published, but the train is on no controller: not delivered");
    else
        snprintf(msg, sizeof msg, "Command published, but controller %.100s is %s: not delivered",
                 t->name != NULL ? t->name : t->id, presence_name(t->presence));
    http_response_pack(k->resp, 202, "{s:s, s:s, s:s, s:s?, s:s, s:b}", "message", msg, "train_id",
                       tid, "action", action, "controller_id", t->id[0] ? t->id : NULL,
                       "controller_status", presence_name(t->presence), "delivered", listening);
}

/* POST /api/trains/{id}/command: validated here, so that the edge only ever receives commands
 * it can apply whole; published with QoS 1. 202: the broker has it, not that a train moved
 * (the status topic says that). */
void h_command(struct call *k)
{
    const char *tid = k->arg[0];
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    struct command cmd;
    struct command_target t = {0};
    json_t *payload = NULL;
    if (parse_command(b, &cmd, &err) < 0) {
        api_invalid(k, &err);
        json_decref(b);
        return;
    }
    int store_rc;
    switch (command_send(k->c, tid, &cmd, k->now, &t, &payload, &store_rc)) {
    case COMMAND_SENT:
        command_answer(k, tid, cmd.action, &t);
        log_event(RH_LOG_INFO, "command_relayed", "{s:s, s:O}", "train_id", tid, "command",
                  payload);
        break;
    case COMMAND_LAYOUT_STOPPED:
        http_response_error(k->resp, 409, "layout_stopped", "action",
                            "the layout is stopped after an emergency stop: resume it (POST "
                            "/api/layout/resume, the web UI's Resume) before driving");
        break;
    case COMMAND_NO_TRAIN:
        api_not_found_train(k, tid);
        break;
    case COMMAND_DISABLED:
        http_response_error(k->resp, 409, "controller_disabled", "action",
                            "the train's controller is disabled: enable it to drive the train");
        break;
    case COMMAND_NO_BROKER:
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the MQTT broker is not reachable; the command was not sent");
        break;
    case COMMAND_FAILED:
        if (store_rc < 0)
            api_db_failed(k, store_rc);
        else
            http_response_error(k->resp, 503, "broker_unavailable", NULL,
                                "the command could not be published");
        break;
    }
    json_decref(payload);
    command_target_clear(&t);
    json_decref(b);
}

/* POST /api/emergency-stop: the broadcast that Roundhouse edges obey for all their trains, and
 * an emergencyStop on the command topic of every train, because edges of the earlier system
 * listen only there (every train, not only assigned ones: an earlier edge never follows a
 * changed assignment). The layout stays stopped until POST /api/layout/resume (layout.h).
 * The answer counts the trains and the controllers (desired or actual) it was sent to, and
 * the live controllers asked to confirm; GET /api/layout tells who did. */
void h_emergency_stop(struct call *k)
{
    json_t *b = api_body_object(k, true);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *reason = NULL;
    if (jsonx_string(b, "reason", 0, 200, true, &reason, &err) < 0) {
        api_invalid(k, &err);
        json_decref(b);
        return;
    }
    char origin[96];
    snprintf(origin, sizeof origin, "api %s", k->req->client_ip);
    struct layout_stop_result r;
    if (layout_emergency_stop(k->c, reason ? reason : "operator", origin, &r) < 0)
        http_response_error(k->resp, 503, "broker_unavailable", NULL,
                            "the MQTT broker is not reachable; the emergency stop was NOT sent");
    else
        http_response_json(k->resp, 202,
                           json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:b}", "message",
                                     "Emergency stop sent", "reason", reason ? reason : "operator",
                                     "trains", (json_int_t)r.trains, "controllers",
                                     (json_int_t)r.controllers, "trains_failed",
                                     (json_int_t)r.trains_failed, "estop_id", r.estop_id,
                                     "expected", (json_int_t)r.expected, "layout_stopped", 1));
    json_decref(b);
}

/* GET /api/layout: stopped or not, and who confirmed the last emergency stop. */
void h_layout(struct call *k)
{
    http_response_json(k->resp, 200, layout_view(k->c));
}

/* POST /api/layout/resume: driving commands go through again; no train starts. */
void h_layout_resume(struct call *k)
{
    char origin[96];
    snprintf(origin, sizeof origin, "api %s", k->req->client_ip);
    int rc = layout_resume(k->c, origin);
    if (rc < 0)
        api_db_failed(k, rc);
    else if (rc == 0)
        http_response_json(k->resp, 200, layout_view(k->c));
}

/* With --auth, a status report without an operator account comes from the train's
 * controller (the one running it, else the one it is assigned to), which its secret proves
 * when it holds one. false with the answer set. */
static bool reporter_authorized(struct call *k, const json_t *train)
{
    const char *holder = json_string_value(json_object_get(train, "actual_controller_id"));
    if (holder == NULL)
        holder = json_string_value(json_object_get(train, "desired_controller_id"));
    json_t *row = NULL;
    int rc = holder != NULL ? store_controller_get(k->c->store, holder, &row) : -ENOENT;
    bool ok = rc == 0 && api_controller_authorized(k, row);
    if (rc == -ENOENT)
        http_response_error(k->resp, 403, "forbidden", "train_id",
                            "train '%s' is on no controller: reporting its status needs an "
                            "operator account",
                            json_string_value(json_object_get(train, "id")));
    else if (rc < 0)
        api_db_failed(k, rc);
    json_decref(row);
    return ok;
}

/* POST /api/status/update (compat): an HTTP way to report a train's status. */
void h_status_update(struct call *k)
{
    struct central *c = k->c;
    enum api_caller caller = api_shared_caller(k, AUTH_ROLE_OPERATOR);
    if (caller == API_CALLER_REFUSED)
        return;
    json_t *b = api_body_object(k, false);
    if (b == NULL)
        return;
    struct jsonx_err err;
    const char *tid = NULL, *dir = NULL, *position = NULL;
    int64_t speed = 0;
    int rc = api_get_train_id(b, "train_id", &tid, &err);
    if (rc == 0)
        jsonx_err_set(&err, "train_id", "'train_id' is required");
    json_t *voltage = json_object_get(b, "voltage"), *current = json_object_get(b, "current");
    if (rc != 1 || jsonx_int(b, "speed", 0, 100, &speed, &err) < 0 ||
        jsonx_string(b, "direction", 0, 16, true, &dir, &err) < 0 ||
        jsonx_string(b, "position", 0, 100, true, &position, &err) < 0) {
        api_invalid(k, &err);
        json_decref(b);
        return;
    }
    if ((voltage && !json_is_number(voltage)) || (current && !json_is_number(current))) {
        http_response_error(k->resp, 422, "invalid_field",
                            voltage && !json_is_number(voltage) ? "voltage" : "current",
                            "voltage and current must be numbers");
        json_decref(b);
        return;
    }
    json_t *row = json_pack("{s:s, s:I, s:I}", "train_id", tid, "speed", (json_int_t)speed,
                            "updated_at", (json_int_t)k->now);
    if (dir)
        json_object_set_new(row, "direction", json_string(dir));
    const char *ts = NULL;
    if (jsonx_string(b, "timestamp", 0, 64, true, &ts, &err) == 1 && ts != NULL)
        json_object_set_new(row, "reported_at", json_string(ts));
    if (position)
        json_object_set_new(row, "position", json_string(position));
    if (voltage)
        json_object_set_new(row, "voltage", json_real(json_number_value(voltage)));
    if (current)
        json_object_set_new(row, "current", json_real(json_number_value(current)));
    json_t *train = NULL;
    bool refused = false;
    rc = store_begin(c->store, true);
    if (rc == 0) {
        rc = store_train_get(c->store, tid, &train);
        refused = rc == 0 && caller == API_CALLER_CONTROLLER && !reporter_authorized(k, train);
        if (refused)
            rc = -EACCES;
        if (rc == 0)
            rc = store_status_upsert(c->store, row);
        rc = store_end(c->store, rc);
    }
    if (rc == -ENOENT)
        api_not_found_train(k, tid);
    else if (rc < 0 && !refused) /* reporter_authorized answered a refusal */
        api_db_failed(k, rc);
    else if (rc == 0)
        http_response_json(k->resp, 200,
                           json_pack("{s:s, s:s}", "message", "Status updated", "train_id", tid));
    json_decref(train);
    json_decref(row);
    json_decref(b);
}
