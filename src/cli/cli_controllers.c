/* The controller commands of `roundhouse` (cli_controllers.h): list, show, rename, describe,
 * enable, disable, delete, prune, and adding a train to a controller. */
#include "cli_controllers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_api.h"
#include "parse.h"
#include "protocol.h"
#include "views.h"

/* --json prints the rows as one array, the shape of the unpaged list. */
int cli_cmd_controllers(struct cli *c, int argc, char **argv)
{
    struct cli_list_filter f;
    json_t *list = NULL;
    int rc = cli_api_list(c, "/api/controllers", cli_list_filter_options(c, &f), &list);
    if (rc == CLI_EXIT_OK)
        rc = c->opt.json ? cli_print_json(c, list)
                         : cli_print_view(c, views_controllers_print(c->out, list));
    json_decref(list);
    return rc;
}

int cli_cmd_controller(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    char id[UUIDSTR_LEN + 1], path[CLI_PATH_LEN];
    int rc = cli_resolve_controller(c, argv[0], id, NULL, 0);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/controllers/", id, NULL);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "GET", path, NULL, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK)
        rc = c->opt.json ? cli_print_raw(c, &a.reply)
                         : cli_print_view(c, views_controller_print(c->out, a.doc));
    cli_answer_clear(&a);
    return rc;
}

/* PATCH /api/controllers/{id} with body; prints `done` (with the controller's name). */
static int controller_patch(struct cli *c, const char *arg, json_t *body, const char *done)
{
    struct cli_answer a = {0};
    char id[UUIDSTR_LEN + 1], name[256] = "", path[CLI_PATH_LEN];
    int rc = body == NULL ? cli_fail(c, "out of memory")
                          : cli_resolve_controller(c, arg, id, name, sizeof name);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/controllers/", id, NULL);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "PATCH", path, body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        fprintf(c->out, "controller %s (%s) %s\n",
                json_string_value(json_object_get(a.doc, "name")), id, done);
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_rename_controller(struct cli *c, int argc, char **argv)
{
    (void)argc;
    return controller_patch(c, argv[0], json_pack("{s:s}", "name", argv[1]), "renamed");
}

int cli_cmd_describe_controller(struct cli *c, int argc, char **argv)
{
    (void)argc;
    json_t *body = json_object();
    if (body != NULL)
        json_object_set_new(body, "description", argv[1][0] ? json_string(argv[1]) : json_null());
    return controller_patch(c, argv[0], body, argv[1][0] ? "described" : "description cleared");
}

int cli_cmd_enable(struct cli *c, int argc, char **argv)
{
    (void)argc;
    return controller_patch(c, argv[0], json_pack("{s:b}", "enabled", 1), "enabled");
}

int cli_cmd_disable(struct cli *c, int argc, char **argv)
{
    (void)argc;
    return controller_patch(c, argv[0], json_pack("{s:b}", "enabled", 0),
                            "disabled: its trains were stopped and are not driven until it is "
                            "enabled");
}

int cli_cmd_delete_controller(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct cli_answer a = {0};
    char id[UUIDSTR_LEN + 1], name[256] = "", path[CLI_PATH_LEN];
    int rc = cli_resolve_controller(c, argv[0], id, name, sizeof name);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/controllers/", id, NULL);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call(c, "DELETE", path, NULL, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json)
        fprintf(c->out, "controller %s deleted; its trains were stopped and are unassigned\n", id);
    cli_answer_clear(&a);
    return rc;
}

/* "90" (seconds), "30m", "12h", "7d". */
static int parse_duration(struct cli *c, const char *s, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    long long unit = 1;
    if (end != s && end[0] != '\0' && end[1] == '\0') {
        unit = end[0] == 's'   ? 1
               : end[0] == 'm' ? 60
               : end[0] == 'h' ? 3600
               : end[0] == 'd' ? 86400
                               : 0;
        end++;
    }
    if (errno != 0 || end == s || *end != '\0' || unit == 0 || v < 0 || v > 100LL * 365 * 86400)
        return cli_usage(
            c, "invalid duration '%s': expected seconds, or a number with s, m, h or d", s);
    *out = v * unit;
    return CLI_EXIT_OK;
}

int cli_cmd_prune(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct cli_answer a = {0};
    long long age = 0;
    int rc = parse_duration(c, argv[0], &age);
    json_t *body = rc == CLI_EXIT_OK ? json_pack("{s:I}", "offline_for", (json_int_t)age) : NULL;
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "POST", "/api/controllers/prune", body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK) {
        fprintf(c->out, "%" JSON_INTEGER_FORMAT " controller(s) offline for %s or more deleted",
                json_integer_value(json_object_get(a.doc, "deleted")), argv[0]);
        size_t i;
        const json_t *g;
        json_array_foreach(json_object_get(a.doc, "controllers"), i, g)
            fprintf(c->out, "%s%s", i ? ", " : ": ", json_string_value(json_object_get(g, "name")));
        fputc('\n', c->out);
    }
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

/* One KEY=VALUE of add-train into body (plugin_config gathers config= and the port). */
static int add_train_option(struct cli *c, const char *arg, json_t *body, json_t *plugin_config,
                            const char **plugin)
{
    const char *eq = strchr(arg, '=');
    char key[16];
    if (eq == NULL || (size_t)(eq - arg) >= sizeof key)
        return cli_usage(c, "expected MOTOR_PORT or KEY=VALUE, not '%s'", arg);
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    const char *v = eq + 1;
    int n = 0;
    bool yes = false;
    /* Loaded before the test: json_is_object evaluates its argument twice. */
    json_t *cfg = strcmp(key, "config") == 0 ? json_loads(v, JSON_REJECT_DUPLICATES, NULL) : NULL;
    int rc = CLI_EXIT_OK;
    if (strcmp(key, "invert") == 0 && parse_bool(v, &yes) == 0)
        json_object_set_new(body, "invert_directions", json_boolean(yes));
    else if (strcmp(key, "address") == 0 && parse_int(v, 1, PROTO_TRAIN_NUMBER_MAX, &n) == 0)
        json_object_set_new(body, "address", json_integer(n));
    else if (strcmp(key, "model") == 0 || strcmp(key, "description") == 0)
        json_object_set_new(body, key, json_string(v));
    else if (strcmp(key, "plugin") == 0 && *v != '\0')
        *plugin = v;
    else if (json_is_object(cfg))
        json_object_update(plugin_config, cfg);
    else if (strcmp(key, "config") == 0)
        rc = cli_usage(c, "config= needs a JSON object, not '%s'", v);
    else
        rc = cli_usage(c,
                       "invalid '%s': expected invert=yes|no, address=1-" PROTO_STR(
                           PROTO_TRAIN_NUMBER_MAX) ", model=TEXT, "
                                                   "description=TEXT, plugin=NAME or config=JSON",
                       arg);
    json_decref(cfg);
    return rc;
}

/* The body of add-train: MOTOR_PORT (the DC-motor HAT's port) and the KEY=VALUEs after it. */
static int add_train_body(struct cli *c, int argc, char **argv, json_t **out)
{
    json_t *body = json_pack("{s:s, s:s}", "train_id", argv[1], "name", argv[2]);
    json_t *config = json_object();
    const char *plugin = NULL;
    int rc = body && config ? CLI_EXIT_OK : cli_fail(c, "out of memory");
    for (int i = 3; rc == CLI_EXIT_OK && i < argc; i++) {
        int port = 0;
        if (i == 3 && strchr(argv[i], '=') == NULL) {
            if (parse_int(argv[i], 1, 4, &port) < 0)
                rc = cli_usage(c, "invalid MOTOR_PORT '%s': expected 1-4", argv[i]);
            else
                json_object_set_new(config, "motor_port", json_integer(port));
        } else {
            rc = add_train_option(c, argv[i], body, config, &plugin);
        }
    }
    /* A port or a config without a plugin named is the DC-motor HAT's. */
    if (rc == CLI_EXIT_OK && (plugin != NULL || json_object_size(config) > 0))
        json_object_set_new(
            body, "plugin",
            json_pack("{s:s, s:O}", "name", plugin ? plugin : "dc_motor_hat", "config", config));
    json_decref(config);
    if (rc != CLI_EXIT_OK) {
        json_decref(body);
        body = NULL;
    }
    *out = body;
    return rc;
}

int cli_cmd_add_train(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    char id[UUIDSTR_LEN + 1], name[256] = "", path[CLI_PATH_LEN];
    json_t *body = NULL;
    int rc = cli_resolve_controller(c, argv[0], id, name, sizeof name);
    if (rc == CLI_EXIT_OK)
        rc = cli_check_id(c, "TRAIN", argv[1]);
    if (rc == CLI_EXIT_OK)
        rc = add_train_body(c, argc, argv, &body);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/controllers/", id, "/trains");
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "POST", path, body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        fprintf(c->out, "train %s added to %s (%s), address %lld\n", argv[1], name[0] ? name : id,
                id, (long long)json_integer_value(json_object_get(a.doc, "address")));
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}
