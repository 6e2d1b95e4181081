/* The driving commands of `roundhouse` (cli_drive.h): speed, stop, the emergency stops and
 * resume. */
#include "cli_drive.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "cli_api.h"
#include "parse.h"

/* 0-100, digits only: "+5", " 5" or "5.0" are refused rather than guessed at. */
static int parse_speed(struct cli *c, const char *s, int *out)
{
    bool digits = s[0] != '\0';
    for (const char *p = s; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    if (!digits || parse_int(s, 0, 100, out) < 0)
        return cli_usage(c, "invalid speed '%s': expected a whole number 0-100", s);
    return CLI_EXIT_OK;
}

static int parse_direction(struct cli *c, const char *s, const char **out)
{
    if (strcasecmp(s, "forward") == 0)
        *out = "FORWARD";
    else if (strcasecmp(s, "reverse") == 0)
        *out = "REVERSE";
    else
        return cli_usage(c, "invalid --direction '%s': expected forward or reverse", s);
    return CLI_EXIT_OK;
}

/* POST /api/trains/{id}/command. 202 means the broker took it, not that the train moved:
 * the confirmation says "sent" for that reason. */
static int train_command(struct cli *c, const char *train, json_t *body, const char *what)
{
    struct cli_answer a = {0};
    char path[CLI_PATH_LEN];
    int rc = body == NULL ? cli_fail(c, "out of memory") : cli_check_id(c, "TRAIN", train);
    if (rc == CLI_EXIT_OK)
        rc = cli_api_path(c, path, "/api/trains/", train, "/command");
    if (rc == CLI_EXIT_OK)
        rc = cli_api_call_typed(c, "POST", path, body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK && json_is_false(json_object_get(a.doc, "delivered"))) {
        /* Published, but nobody listens: the train did not get it. */
        fprintf(c->err, "roundhouse: train %s: %s\n", train,
                json_string_value(json_object_get(a.doc, "message")));
        rc = CLI_EXIT_FAILED;
    } else if (rc == CLI_EXIT_OK)
        fprintf(c->out, "train %s: %s sent\n", train, what);
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_speed(struct cli *c, int argc, char **argv)
{
    int speed = 0;
    const char *dir = NULL;
    char what[64];
    int rc = cli_check_id(c, "TRAIN", argv[0]);
    if (rc == CLI_EXIT_OK)
        rc = parse_speed(c, argv[1], &speed);
    if (rc == CLI_EXIT_OK && c->opt.direction != NULL)
        rc = parse_direction(c, c->opt.direction, &dir);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:i}", "action", "setSpeed", "speed", speed);
    if (body != NULL && dir != NULL)
        json_object_set_new(body, "direction", json_string(dir));
    snprintf(what, sizeof what, "speed %d%s%s", speed, dir ? " " : "",
             dir ? (dir[0] == 'F' ? "forward" : "reverse") : "");
    rc = train_command(c, argv[0], body, what);
    json_decref(body);
    return rc;
}

int cli_cmd_stop(struct cli *c, int argc, char **argv)
{
    json_t *body = json_pack("{s:s}", "action", "stop");
    int rc = train_command(c, argv[0], body, "stop");
    json_decref(body);
    return rc;
}

static int print_confirmations(struct cli *c, const char *estop_id);

/* POST {} to a layout-wide path; with --json the answer is printed as received. */
static int layout_post(struct cli *c, const char *path, struct cli_answer *a)
{
    json_t *body = json_object();
    int rc = body == NULL ? cli_fail(c, "out of memory")
                          : cli_api_call_typed(c, "POST", path, body, JSON_OBJECT, a);
    json_decref(body);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a->reply);
    return rc;
}

int cli_cmd_estop(struct cli *c, int argc, char **argv)
{
    if (argc == 1) {
        json_t *body = json_pack("{s:s}", "action", "emergencyStop");
        int rc = train_command(c, argv[0], body, "emergency stop");
        json_decref(body);
        return rc;
    }
    struct cli_answer a = {0};
    int rc = layout_post(c, "/api/emergency-stop", &a);
    if (rc == CLI_EXIT_OK && !c->opt.json) {
        fprintf(c->out,
                "emergency stop broadcast to every controller, and sent to %" JSON_INTEGER_FORMAT
                " train(s) on %" JSON_INTEGER_FORMAT " controller(s)\n",
                json_integer_value(json_object_get(a.doc, "trains")),
                json_integer_value(json_object_get(a.doc, "controllers")));
        rc = print_confirmations(c, json_string_value(json_object_get(a.doc, "estop_id")));
    }
    cli_answer_clear(&a);
    return rc;
}

/* Waits (at most the central's window, about 2 s) for the live controllers to confirm the stop,
 * then says who did and names who did not. */
static int print_confirmations(struct cli *c, const char *estop_id)
{
    struct cli_answer a = {0};
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < 30; i++) {
        cli_answer_clear(&a); /* the previous poll's answer */
        rc = cli_api_call_typed(c, "GET", "/api/layout", NULL, JSON_OBJECT, &a);
        if (rc != CLI_EXIT_OK)
            break;
        const json_t *e = json_object_get(a.doc, "estop");
        const char *id = json_string_value(json_object_get(e, "id"));
        if (id == NULL || estop_id == NULL || strcmp(id, estop_id) != 0)
            break; /* another stop since: its own answer reports it */
        if (json_is_true(json_object_get(e, "settled"))) {
            char missing[512] = "";
            size_t k;
            const json_t *m;
            json_array_foreach(json_object_get(e, "unconfirmed"), k, m)
            {
                size_t used = strlen(missing);
                snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "",
                         json_string_value(json_object_get(m, "name")));
            }
            fprintf(c->out, "%zu of %" JSON_INTEGER_FORMAT " live controller(s) confirmed it%s%s\n",
                    json_array_size(json_object_get(e, "confirmed")),
                    json_integer_value(json_object_get(e, "expected")),
                    missing[0] ? "; not confirmed: " : "", missing);
            fputs("the layout is stopped until `roundhouse resume`\n", c->out);
            break;
        }
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_resume(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct cli_answer a = {0};
    int rc = layout_post(c, "/api/layout/resume", &a);
    if (rc == CLI_EXIT_OK && !c->opt.json)
        fputs("layout resumed: trains may be driven again (none was started)\n", c->out);
    cli_answer_clear(&a);
    return rc;
}
