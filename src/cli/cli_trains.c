/* The train commands of `roundhouse` (cli_trains.h): list, show, status, assign, rename,
 * driving settings, delete. */
#include "cli_trains.h"

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

/* No controller named this way can be meant: `assign TRAIN none` unassigns. */
#define UNASSIGN_WORD "none"

/* Human views show controller names; --json needs only the one document. */
static int controllers_for_view(struct cli *c, struct cli_answer *ctls)
{
    if (c->opt.json)
        return CLI_EXIT_OK;
    const struct cli_list_filter all = {0};
    return cli_api_list(c, "/api/controllers", &all, &ctls->doc);
}

int cli_cmd_trains(struct cli *c, int argc, char **argv)
{
    struct cli_answer ctls = {0};
    struct cli_list_filter f;
    json_t *list = NULL;
    int rc = cli_api_list(c, "/api/trains", cli_list_filter_options(c, &f), &list);
    if (rc == CLI_EXIT_OK)
        rc = controllers_for_view(c, &ctls);
    if (rc == CLI_EXIT_OK)
        rc = c->opt.json ? cli_print_json(c, list)
                         : cli_print_view(c, views_trains_print(c->out, list, ctls.doc));
    json_decref(list);
    cli_answer_clear(&ctls);
    return rc;
}

static int show_train_doc(struct cli *c, const char *train, const char *suffix, bool status)
{
    struct cli_answer a = {0}, ctls = {0};
    char path[CLI_PATH_LEN];
    int rc = cli_check_id(c, "TRAIN", train);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/trains/", train, suffix);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "GET", path, NULL, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK)
        rc = controllers_for_view(c, &ctls);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        rc = cli_print_view(c, status ? views_status_print(c->out, a.doc, ctls.doc)
                                      : views_train_print(c->out, a.doc, ctls.doc));
    cli_answer_clear(&a);
    cli_answer_clear(&ctls);
    return rc;
}

int cli_cmd_train(struct cli *c, int argc, char **argv)
{
    return show_train_doc(c, argv[0], NULL, false);
}

int cli_cmd_status(struct cli *c, int argc, char **argv)
{
    return show_train_doc(c, argv[0], "/status", true);
}

/* PUT /api/trains/{id} with body; prints the updated train or the given confirmation. */
static int train_put(struct cli *c, const char *train, json_t *body, struct cli_answer *a)
{
    char path[CLI_PATH_LEN];
    int rc = body == NULL ? cli_fail(c, "out of memory") : cli_check_id(c, "TRAIN", train);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/trains/", train, NULL);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "PUT", path, body, JSON_OBJECT, a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a->reply);
    return rc;
}

int cli_cmd_assign(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    json_t *body = NULL;
    char id[UUIDSTR_LEN + 1], name[256] = "";
    bool unassign = strcmp(argv[1], UNASSIGN_WORD) == 0;
    int rc = cli_check_id(c, "TRAIN", argv[0]);
    if (rc == CLI_EXIT_OK && !unassign)
        rc = cli_resolve_controller(c, argv[1], id, name, sizeof name);
    if (rc != CLI_EXIT_OK)
        goto out;
    body = json_pack("{s:o}", "controller_id", unassign ? json_null() : json_string(id));
    if (c->opt.force)
        json_object_set_new(body, "force", json_true());
    rc = train_put(c, argv[0], body, &a);
    if (rc != CLI_EXIT_OK || c->opt.json)
        goto out;
    if (unassign) {
        fprintf(c->out, "train %s unassigned\n", argv[0]);
    } else {
        const char *placement = json_string_value(json_object_get(a.doc, "reassignment_status"));
        const char *why = json_string_value(json_object_get(a.doc, "reassignment_reason"));
        fprintf(c->out, "train %s assigned to %s%s%s%s (placement: %s)\n", argv[0], name,
                name[0] ? " (" : "", id, name[0] ? ")" : "", placement ? placement : "-");
        if (why != NULL)
            fprintf(c->out, "  %s\n", why);
    }
out:
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_rename_train(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    int rc = train_put(c, argv[0], body, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json) {
        const char *name = json_string_value(json_object_get(a.doc, "name"));
        fprintf(c->out, "train %s renamed to '%s'\n", argv[0], name ? name : argv[1]);
    }
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

/* set-address TRAIN N: the train's number (1-9999) for throttles (docs/throttles.md). */
int cli_cmd_set_address(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct cli_answer a = {0};
    int n = 0;
    if (parse_int(argv[1], 1, PROTO_TRAIN_NUMBER_MAX, &n) < 0)
        return cli_usage(c, "invalid address '%s': expected 1-" PROTO_STR(PROTO_TRAIN_NUMBER_MAX),
                         argv[1]);
    json_t *body = json_pack("{s:i}", "address", n);
    int rc = train_put(c, argv[0], body, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json)
        fprintf(c->out, "train %s has address %lld\n", argv[0],
                (long long)json_integer_value(json_object_get(a.doc, "address")));
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

/* set-driving TRAIN key=value... (or none): a train's driving settings (docs/api.md). */
int cli_cmd_set_driving(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    json_t *driving = json_object(), *body = NULL;
    int rc = driving == NULL ? cli_fail(c, "out of memory") : CLI_EXIT_OK;
    bool clear = argc == 2 && strcmp(argv[1], "none") == 0;
    for (int i = 1; rc == CLI_EXIT_OK && !clear && i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char key[32];
        if (eq == NULL || (size_t)(eq - argv[i]) >= sizeof key) {
            rc = cli_usage(c, "expected KEY=VALUE, not '%s'", argv[i]);
            break;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        const char *v = eq + 1;
        char *end = NULL;
        double num = strtod(v, &end);
        if (strcmp(key, "start_resumes") == 0 && (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0))
            json_object_set_new(driving, key, json_boolean(strcmp(v, "yes") == 0));
        else if (end != v && *end == '\0' &&
                 (strcmp(key, "min_speed") == 0 || strcmp(key, "max_speed") == 0))
            json_object_set_new(driving, key, json_integer((json_int_t)num));
        else if (end != v && *end == '\0')
            json_object_set_new(driving, key, json_real(num));
        else
            rc = cli_usage(c, "invalid value in '%s'", argv[i]);
    }
    if (rc == CLI_EXIT_OK) {
        body = json_pack("{s:O}", "driving", clear ? json_null() : driving);
        rc = train_put(c, argv[0], body, &a);
    }
    if (rc == CLI_EXIT_OK && !c->opt.json) {
        char *text = json_dumps(json_object_get(a.doc, "driving"), JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(c->out, "train %s driving settings: %s\n", argv[0], text ? text : "?");
        free(text);
    }
    json_decref(driving);
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_delete_train(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct cli_answer a = {0};
    char path[CLI_PATH_LEN];
    int rc = cli_check_id(c, "TRAIN", argv[0]);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/trains/", argv[0], NULL);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call(c, "DELETE", path, NULL, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json)
        fprintf(c->out, "train %s stopped and deleted\n", argv[0]);
    cli_answer_clear(&a);
    return rc;
}
