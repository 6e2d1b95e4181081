#include "cli_commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_accounts.h"
#include "fileio.h"
#include "http_client.h"
#include "legacy_db.h"
#include "parse.h"
#include "table.h"
#include "uuidstr.h"
#include "views.h"

#define PATH_LEN 1024
/* Import files are bounded like answers; the central refuses far less (413) anyway. */
#define IMPORT_MAX HTTP_CLIENT_BODY_MAX
/* No controller named this way can be meant: `assign TRAIN none` unassigns. */
#define UNASSIGN_WORD "none"

typedef int (*command_fn)(struct cli *c, int argc, char **argv);

struct command {
    const char *name;
    const char *args;
    const char *help;
    int min_args, max_args;
    command_fn run;
};

/* An answer of the central: the raw reply (printed as is for --json) and its parsed body. */
struct answer {
    struct http_reply reply;
    json_t *doc;
};

static void answer_clear(struct answer *a)
{
    http_reply_clear(&a->reply);
    json_decref(a->doc);
    a->doc = NULL;
}

/* ---- diagnostics ---- */

int cli_fail(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("roundhouse: ", c->err);
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
    va_end(ap);
    return CLI_EXIT_FAILED;
}

int cli_usage(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("roundhouse: ", c->err);
    vfprintf(c->err, fmt, ap);
    fputs("\nTry 'roundhouse --help'.\n", c->err);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

static int fail_transport(struct cli *c, int rc)
{
    const char *base = http_client_base(c->http);
    const char *why = http_client_error(c->http);
    switch (rc) {
    case -ETIMEDOUT:
        return cli_fail(c, "no answer from the central at %s within %.3g s (%s)", base,
                        (double)c->opt.timeout_ms / 1000.0, why);
    case -ECONNREFUSED:
        return cli_fail(c, "cannot reach the central at %s: %s", base, why);
    case -EFBIG:
        return cli_fail(c, "the answer of the central at %s is refused: %s", base, why);
    default:
        return cli_fail(c, "request to the central at %s failed: %s", base, why);
    }
}

/* The contract's error body {detail, error, field?}; anything else by its HTTP status. */
static int fail_http(struct cli *c, const struct answer *a)
{
    const char *detail = json_string_value(json_object_get(a->doc, "detail"));
    const char *code = json_string_value(json_object_get(a->doc, "error"));
    const char *field = json_string_value(json_object_get(a->doc, "field"));
    char text[512];
    if (detail != NULL) {
        snprintf(text, sizeof text, "%s", detail);
        table_text_clean(text);
        detail = text;
    }
    if (detail == NULL)
        return cli_fail(c, "the central at %s answered HTTP %ld", http_client_base(c->http),
                        a->reply.status);
    if (field != NULL)
        return cli_fail(c, "%s (field '%s'; HTTP %ld %s)", detail, field, a->reply.status,
                        code ? code : "error");
    return cli_fail(c, "%s (HTTP %ld %s)", detail, a->reply.status, code ? code : "error");
}

/* ---- requests ---- */

/* Sends one request and parses the answer (a->doc stays NULL for an empty or non-JSON body).
 * CLI_EXIT_OK whenever the central answered, whatever the status. */
static int request(struct cli *c, const char *method, const char *path, const json_t *body,
                   struct answer *a)
{
    char *payload = NULL;
    if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT);
        if (payload == NULL)
            return cli_fail(c, "out of memory");
    }
    int rc = http_client_request(c->http, method, path, payload, payload ? strlen(payload) : 0,
                                 &a->reply);
    free(payload);
    if (rc < 0)
        return fail_transport(c, rc);
    if (a->reply.len > 0)
        a->doc = json_loadb(a->reply.body, a->reply.len, JSON_DECODE_ANY, NULL);
    return CLI_EXIT_OK;
}

/* request(), and anything but a 2xx answer with a JSON body is a failure (reported). */
static int api(struct cli *c, const char *method, const char *path, const json_t *body,
               struct answer *a)
{
    int rc = request(c, method, path, body, a);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (a->reply.status < 200 || a->reply.status > 299)
        return fail_http(c, a);
    if (a->reply.status == 204) /* a delete: nothing to read */
        return CLI_EXIT_OK;
    if (a->doc == NULL)
        return cli_fail(c, "the answer of %s%s is not JSON (is that the Roundhouse central?)",
                        http_client_base(c->http), path);
    return CLI_EXIT_OK;
}

/* api() with the expected JSON type of the answer checked, so views can trust it. */
static int api_typed(struct cli *c, const char *method, const char *path, const json_t *body,
                     json_type type, struct answer *a)
{
    int rc = api(c, method, path, body, a);
    if (rc == CLI_EXIT_OK && (a->doc == NULL || json_typeof(a->doc) != type))
        rc = cli_fail(c, "unexpected answer from %s%s: %s expected", http_client_base(c->http),
                      path, type == JSON_ARRAY ? "a JSON array" : "a JSON object");
    return rc;
}

static int path_for(struct cli *c, char *out, const char *prefix, const char *id,
                    const char *suffix)
{
    int rc = http_client_path(c->http, out, PATH_LEN, prefix, id, suffix);
    if (rc == -ENAMETOOLONG)
        return cli_usage(c, "identifier too long: '%.60s...'", id);
    if (rc < 0)
        return cli_fail(c, "out of memory");
    return CLI_EXIT_OK;
}

/* Rows asked for per page: well below the central's 1000, so that one page of controllers
 * with their trains stays about half a megabyte. */
#define LIST_PAGE 500

struct list_filter {
    const char *name;     /* NULL: any */
    const char *presence; /* NULL: any */
    long max;             /* 0: every row */
};

/* path + "&key=" + value percent-encoded, in place. */
static int add_param(struct cli *c, char *path, const char *key, const char *value)
{
    char prefix[PATH_LEN];
    int n = snprintf(prefix, sizeof prefix, "%s&%s=", path, key);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return cli_usage(c, "--%s too long", key);
    int rc = http_client_path(c->http, path, PATH_LEN, prefix, value, NULL);
    if (rc == -ENAMETOOLONG)
        return cli_usage(c, "--%s too long: '%.60s...'", key, value);
    return rc < 0 ? cli_fail(c, "out of memory") : CLI_EXIT_OK;
}

/* Every row of a paged list (/api/controllers, /api/trains: docs/api.md "Paged lists") that
 * passes the filter, page after page, into *out (a new array), so that no answer has to
 * hold the whole registry (an answer is refused beyond HTTP_CLIENT_BODY_MAX). The pages
 * are read one after another, each in its own transaction of the central: a row renamed
 * meanwhile can appear twice or not at all, one added or removed moves nothing else. */
static int list_pages(struct cli *c, const char *base, const struct list_filter *f, json_t **out)
{
    json_t *all = json_array();
    char cursor[PATH_LEN] = "";
    int rc = all ? CLI_EXIT_OK : cli_fail(c, "out of memory");
    /* Bounded: a central that kept answering cursors would otherwise be followed forever. */
    for (long pages = 0; rc == CLI_EXIT_OK && pages < 1000000; pages++) {
        long want = LIST_PAGE;
        if (f->max > 0 && f->max - (long)json_array_size(all) < want)
            want = f->max - (long)json_array_size(all);
        if (want <= 0)
            break;
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s?limit=%ld", base, want);
        if (cursor[0] != '\0')
            rc = add_param(c, path, "cursor", cursor);
        if (rc == CLI_EXIT_OK && f->name != NULL)
            rc = add_param(c, path, "name", f->name);
        if (rc == CLI_EXIT_OK && f->presence != NULL)
            rc = add_param(c, path, "presence", f->presence);
        struct answer a = {0};
        if (rc == CLI_EXIT_OK)
            rc = api_typed(c, "GET", path, NULL, JSON_OBJECT, &a);
        json_t *items = json_object_get(a.doc, "items");
        json_t *next = json_object_get(a.doc, "next_cursor");
        if (rc == CLI_EXIT_OK &&
            (!json_is_array(items) || !(json_is_string(next) || json_is_null(next))))
            rc = cli_fail(c, "unexpected answer from %s%s: a page {items, next_cursor} expected",
                          http_client_base(c->http), base);
        if (rc == CLI_EXIT_OK && json_array_extend(all, items) < 0)
            rc = cli_fail(c, "out of memory");
        bool last = rc != CLI_EXIT_OK || json_is_null(next) || json_string_length(next) == 0 ||
                    json_string_length(next) >= sizeof cursor;
        if (!last)
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        answer_clear(&a);
        if (last)
            break;
    }
    if (rc == CLI_EXIT_OK)
        *out = all;
    else
        json_decref(all);
    return rc;
}

static int print_json(struct cli *c, const json_t *doc)
{
    if (json_dumpf(doc, c->out, JSON_COMPACT) < 0 || fputc('\n', c->out) == EOF || ferror(c->out))
        return cli_fail(c, "cannot write the output");
    return CLI_EXIT_OK;
}

/* ---- output ---- */

int cli_print_raw(struct cli *c, const struct http_reply *r)
{
    if (fwrite(r->body, 1, r->len, c->out) != r->len)
        return cli_fail(c, "cannot write the output");
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        fputc('\n', c->out);
    return ferror(c->out) ? cli_fail(c, "cannot write the output") : CLI_EXIT_OK;
}

static int print_view(struct cli *c, int rc)
{
    if (rc == -ENOMEM)
        return cli_fail(c, "out of memory");
    if (rc < 0)
        return cli_fail(c, "cannot write the output");
    return CLI_EXIT_OK;
}

/* ---- argument checks (before anything is sent) ---- */

static int check_id(struct cli *c, const char *what, const char *id)
{
    if (id[0] == '\0')
        return cli_usage(c, "%s must not be empty", what);
    return CLI_EXIT_OK;
}

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

/* A controller UUID, or the name of exactly one controller. The name is looked up in the
 * list rather than guessed, and an ambiguous one is refused: commands must never reach a
 * controller the operator did not mean. name_out (may be NULL) gets the name when known. */
static int resolve_controller(struct cli *c, const char *arg, char id[UUIDSTR_LEN + 1],
                              char *name_out, size_t name_len)
{
    struct answer a = {0};
    if (check_id(c, "CONTROLLER", arg) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    if (uuidstr_normalize(arg, id) == 0)
        return CLI_EXIT_OK;
    /* The central narrows the list down to the names containing arg; the exact name is
     * compared here. */
    const struct list_filter f = {.name = arg};
    int rc = list_pages(c, "/api/controllers", &f, &a.doc);
    if (rc != CLI_EXIT_OK)
        goto out;
    size_t i, matches = 0;
    json_t *ctl;
    char ids[256] = "", found[UUIDSTR_LEN + 1] = "";
    json_array_foreach(a.doc, i, ctl)
    {
        const char *name = json_string_value(json_object_get(ctl, "name"));
        const char *cid = json_string_value(json_object_get(ctl, "id"));
        if (name == NULL || cid == NULL || strcmp(name, arg) != 0)
            continue;
        /* The first match is used only when it stays the only one. */
        if (found[0] == '\0')
            snprintf(found, sizeof found, "%s", cid);
        matches++;
        size_t used = strlen(ids);
        snprintf(ids + used, sizeof ids - used, "%s%s", used ? ", " : "", cid);
    }
    if (matches == 0)
        rc = cli_fail(c,
                      "no controller is named '%s' (give its name or UUID; see `roundhouse "
                      "controllers`)",
                      arg);
    else if (matches > 1)
        rc = cli_fail(c, "%zu controllers are named '%s' (%s): give the UUID", matches, arg, ids);
    else
        snprintf(id, UUIDSTR_LEN + 1, "%s", found);
    if (rc == CLI_EXIT_OK && name_out != NULL)
        snprintf(name_out, name_len, "%s", arg);
out:
    answer_clear(&a);
    return rc;
}

/* ---- commands ---- */

static const struct list_filter *command_filter(struct cli *c, struct list_filter *f)
{
    *f =
        (struct list_filter){.name = c->opt.name, .presence = c->opt.presence, .max = c->opt.limit};
    return f;
}

/* --json prints the rows as one array, the shape of the unpaged list. */
static int cmd_controllers(struct cli *c, int argc, char **argv)
{
    struct list_filter f;
    json_t *list = NULL;
    int rc = list_pages(c, "/api/controllers", command_filter(c, &f), &list);
    if (rc == CLI_EXIT_OK)
        rc = c->opt.json ? print_json(c, list)
                         : print_view(c, views_controllers_print(c->out, list));
    json_decref(list);
    return rc;
}

static int cmd_controller(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
    char id[UUIDSTR_LEN + 1], path[PATH_LEN];
    int rc = resolve_controller(c, argv[0], id, NULL, 0);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/controllers/", id, NULL);
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "GET", path, NULL, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK)
        rc = c->opt.json ? cli_print_raw(c, &a.reply)
                         : print_view(c, views_controller_print(c->out, a.doc));
    answer_clear(&a);
    return rc;
}

/* Human views show controller names; --json needs only the one document. */
static int controllers_for_view(struct cli *c, struct answer *ctls)
{
    if (c->opt.json)
        return CLI_EXIT_OK;
    const struct list_filter all = {0};
    return list_pages(c, "/api/controllers", &all, &ctls->doc);
}

static int cmd_trains(struct cli *c, int argc, char **argv)
{
    struct answer ctls = {0};
    struct list_filter f;
    json_t *list = NULL;
    int rc = list_pages(c, "/api/trains", command_filter(c, &f), &list);
    if (rc == CLI_EXIT_OK)
        rc = controllers_for_view(c, &ctls);
    if (rc == CLI_EXIT_OK)
        rc = c->opt.json ? print_json(c, list)
                         : print_view(c, views_trains_print(c->out, list, ctls.doc));
    json_decref(list);
    answer_clear(&ctls);
    return rc;
}

static int show_train_doc(struct cli *c, const char *train, const char *suffix, bool status)
{
    struct answer a = {0}, ctls = {0};
    char path[PATH_LEN];
    int rc = check_id(c, "TRAIN", train);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/trains/", train, suffix);
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "GET", path, NULL, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK)
        rc = controllers_for_view(c, &ctls);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        rc = print_view(c, status ? views_status_print(c->out, a.doc, ctls.doc)
                                  : views_train_print(c->out, a.doc, ctls.doc));
    answer_clear(&a);
    answer_clear(&ctls);
    return rc;
}

static int cmd_train(struct cli *c, int argc, char **argv)
{
    return show_train_doc(c, argv[0], NULL, false);
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
    return show_train_doc(c, argv[0], "/status", true);
}

/* PUT /api/trains/{id} with body; prints the updated train or the given confirmation. */
static int train_put(struct cli *c, const char *train, json_t *body, struct answer *a)
{
    char path[PATH_LEN];
    int rc = body == NULL ? cli_fail(c, "out of memory") : check_id(c, "TRAIN", train);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/trains/", train, NULL);
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "PUT", path, body, JSON_OBJECT, a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a->reply);
    return rc;
}

static int cmd_assign(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
    json_t *body = NULL;
    char id[UUIDSTR_LEN + 1], name[256] = "";
    bool unassign = strcmp(argv[1], UNASSIGN_WORD) == 0;
    int rc = check_id(c, "TRAIN", argv[0]);
    if (rc == CLI_EXIT_OK && !unassign)
        rc = resolve_controller(c, argv[1], id, name, sizeof name);
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
    answer_clear(&a);
    return rc;
}

static int cmd_rename_train(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    int rc = train_put(c, argv[0], body, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json) {
        const char *name = json_string_value(json_object_get(a.doc, "name"));
        fprintf(c->out, "train %s renamed to '%s'\n", argv[0], name ? name : argv[1]);
    }
    json_decref(body);
    answer_clear(&a);
    return rc;
}

/* ---- fleet management ---- */

/* PATCH /api/controllers/{id} with body; prints `done` (with the controller's name). */
static int controller_patch(struct cli *c, const char *arg, json_t *body, const char *done)
{
    struct answer a = {0};
    char id[UUIDSTR_LEN + 1], name[256] = "", path[PATH_LEN];
    int rc = body == NULL ? cli_fail(c, "out of memory")
                          : resolve_controller(c, arg, id, name, sizeof name);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/controllers/", id, NULL);
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "PATCH", path, body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        fprintf(c->out, "controller %s (%s) %s\n",
                json_string_value(json_object_get(a.doc, "name")), id, done);
    json_decref(body);
    answer_clear(&a);
    return rc;
}

static int cmd_rename_controller(struct cli *c, int argc, char **argv)
{
    (void)argc;
    return controller_patch(c, argv[0], json_pack("{s:s}", "name", argv[1]), "renamed");
}

static int cmd_describe_controller(struct cli *c, int argc, char **argv)
{
    (void)argc;
    json_t *body = json_object();
    if (body != NULL)
        json_object_set_new(body, "description", argv[1][0] ? json_string(argv[1]) : json_null());
    return controller_patch(c, argv[0], body, argv[1][0] ? "described" : "description cleared");
}

static int cmd_enable(struct cli *c, int argc, char **argv)
{
    (void)argc;
    return controller_patch(c, argv[0], json_pack("{s:b}", "enabled", 1), "enabled");
}

static int cmd_disable(struct cli *c, int argc, char **argv)
{
    (void)argc;
    return controller_patch(c, argv[0], json_pack("{s:b}", "enabled", 0),
                            "disabled: its trains were stopped and are not driven until it is "
                            "enabled");
}

static int cmd_delete_controller(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct answer a = {0};
    char id[UUIDSTR_LEN + 1], name[256] = "", path[PATH_LEN];
    int rc = resolve_controller(c, argv[0], id, name, sizeof name);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/controllers/", id, NULL);
    if (rc == CLI_EXIT_OK)
        rc = api(c, "DELETE", path, NULL, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json)
        fprintf(c->out, "controller %s deleted; its trains were stopped and are unassigned\n", id);
    answer_clear(&a);
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

static int cmd_prune(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct answer a = {0};
    long long age = 0;
    int rc = parse_duration(c, argv[0], &age);
    json_t *body = rc == CLI_EXIT_OK ? json_pack("{s:I}", "offline_for", (json_int_t)age) : NULL;
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "POST", "/api/controllers/prune", body, JSON_OBJECT, &a);
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
    answer_clear(&a);
    return rc;
}

static int cmd_add_train(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
    char id[UUIDSTR_LEN + 1], name[256] = "", path[PATH_LEN];
    int port = 0;
    int rc = resolve_controller(c, argv[0], id, name, sizeof name);
    if (rc == CLI_EXIT_OK)
        rc = check_id(c, "TRAIN", argv[1]);
    if (rc == CLI_EXIT_OK && argc == 4 &&
        (sscanf(argv[3], "%d", &port) != 1 || port < 1 || port > 4))
        rc = cli_usage(c, "invalid MOTOR_PORT '%s': expected 1-4", argv[3]);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s}", "train_id", argv[1], "name", argv[2]);
    if (body != NULL && port > 0)
        json_object_set_new(
            body, "plugin",
            json_pack("{s:s, s:{s:i}}", "name", "dc_motor_hat", "config", "motor_port", port));
    rc = body == NULL ? cli_fail(c, "out of memory")
                      : path_for(c, path, "/api/controllers/", id, "/trains");
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "POST", path, body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        fprintf(c->out, "train %s added to %s (%s)\n", argv[1], name[0] ? name : id, id);
    json_decref(body);
    answer_clear(&a);
    return rc;
}

/* set-driving TRAIN key=value... (or none): a train's driving settings (docs/api.md). */
static int cmd_set_driving(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
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
    answer_clear(&a);
    return rc;
}

static int cmd_delete_train(struct cli *c, int argc, char **argv)
{
    (void)argc;
    struct answer a = {0};
    char path[PATH_LEN];
    int rc = check_id(c, "TRAIN", argv[0]);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/trains/", argv[0], NULL);
    if (rc == CLI_EXIT_OK)
        rc = api(c, "DELETE", path, NULL, &a);
    if (rc == CLI_EXIT_OK && !c->opt.json)
        fprintf(c->out, "train %s stopped and deleted\n", argv[0]);
    answer_clear(&a);
    return rc;
}

/* POST /api/trains/{id}/command. 202 means the broker took it, not that the train moved:
 * the confirmation says "sent" for that reason. */
static int train_command(struct cli *c, const char *train, json_t *body, const char *what)
{
    struct answer a = {0};
    char path[PATH_LEN];
    int rc = body == NULL ? cli_fail(c, "out of memory") : check_id(c, "TRAIN", train);
    if (rc == CLI_EXIT_OK)
        rc = path_for(c, path, "/api/trains/", train, "/command");
    if (rc == CLI_EXIT_OK)
        rc = api_typed(c, "POST", path, body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK && json_is_false(json_object_get(a.doc, "delivered"))) {
        /* Published, but nobody listens: the train did not get it. */
        fprintf(c->err, "roundhouse: train %s: %s\n", train,
                json_string_value(json_object_get(a.doc, "message")));
        rc = CLI_EXIT_FAILED;
    } else if (rc == CLI_EXIT_OK)
        fprintf(c->out, "train %s: %s sent\n", train, what);
    answer_clear(&a);
    return rc;
}

static int cmd_speed(struct cli *c, int argc, char **argv)
{
    int speed = 0;
    const char *dir = NULL;
    char what[64];
    int rc = check_id(c, "TRAIN", argv[0]);
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

static int cmd_stop(struct cli *c, int argc, char **argv)
{
    json_t *body = json_pack("{s:s}", "action", "stop");
    int rc = train_command(c, argv[0], body, "stop");
    json_decref(body);
    return rc;
}

static int print_confirmations(struct cli *c, const char *estop_id);

static int cmd_estop(struct cli *c, int argc, char **argv)
{
    if (argc == 1) {
        json_t *body = json_pack("{s:s}", "action", "emergencyStop");
        int rc = train_command(c, argv[0], body, "emergency stop");
        json_decref(body);
        return rc;
    }
    struct answer a = {0};
    json_t *body = json_object();
    int rc = body == NULL ? cli_fail(c, "out of memory")
                          : api_typed(c, "POST", "/api/emergency-stop", body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK) {
        fprintf(c->out,
                "emergency stop broadcast to every controller, and sent to %" JSON_INTEGER_FORMAT
                " train(s) on %" JSON_INTEGER_FORMAT " controller(s)\n",
                json_integer_value(json_object_get(a.doc, "trains")),
                json_integer_value(json_object_get(a.doc, "controllers")));
        rc = print_confirmations(c, json_string_value(json_object_get(a.doc, "estop_id")));
    }
    json_decref(body);
    answer_clear(&a);
    return rc;
}

/* Waits (at most the central's window, about 2 s) for the live controllers to confirm the stop,
 * then says who did and names who did not. */
static int print_confirmations(struct cli *c, const char *estop_id)
{
    struct answer a = {0};
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < 30; i++) {
        answer_clear(&a); /* the previous poll's answer */
        rc = api_typed(c, "GET", "/api/layout", NULL, JSON_OBJECT, &a);
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
    answer_clear(&a);
    return rc;
}

static int cmd_resume(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct answer a = {0};
    json_t *body = json_object();
    int rc = body == NULL ? cli_fail(c, "out of memory")
                          : api_typed(c, "POST", "/api/layout/resume", body, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    else if (rc == CLI_EXIT_OK)
        fputs("layout resumed: trains may be driven again (none was started)\n", c->out);
    json_decref(body);
    answer_clear(&a);
    return rc;
}

static int cmd_export(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
    const char *file = argv[0];
    if (file[0] == '\0')
        return cli_usage(c, "FILE must not be empty (use - for standard output)");
    int rc = api_typed(c, "GET", "/api/export", NULL, JSON_OBJECT, &a);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (strcmp(file, "-") == 0) {
        rc = cli_print_raw(c, &a.reply);
        goto out;
    }
    /* As received, newline-terminated; the buffer has room for the NUL it carries. */
    struct http_reply *r = &a.reply;
    if (r->body[r->len - 1] != '\n') {
        char *nb = realloc(r->body, r->len + 2);
        if (nb == NULL) {
            rc = cli_fail(c, "out of memory");
            goto out;
        }
        r->body = nb;
        r->body[r->len++] = '\n';
        r->body[r->len] = '\0';
    }
    /* Atomic: a failed or interrupted export never leaves a truncated backup behind. 0600:
     * the whole registry, addresses included; whoever needs it can widen it. */
    int wrc = fileio_write_atomic(file, r->body, r->len, 0600);
    if (wrc < 0) {
        rc = cli_fail(c, "cannot write %s: %s", file, strerror(-wrc));
        goto out;
    }
    if (!c->opt.json)
        fprintf(c->out, "exported %zu controllers, %zu trains, %zu plugins to %s\n",
                json_array_size(json_object_get(a.doc, "controllers")),
                json_array_size(json_object_get(a.doc, "trains")),
                json_array_size(json_object_get(a.doc, "plugins")), file);
out:
    answer_clear(&a);
    return rc;
}

/* Standard input, bounded like files: it may be a pipe, which fileio_read_all refuses. */
static int read_stdin(size_t max, char **out, size_t *len)
{
    size_t cap = 65536, used = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        if (used == cap) {
            if (cap > max) {
                free(buf);
                return -EFBIG;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(STDIN_FILENO, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = -errno;
            free(buf);
            return err;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used > max) {
        free(buf);
        return -EFBIG;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
}

/* Sends a registry document to POST /api/import and reports what it created or updated. */
static int import_send(struct cli *c, const json_t *doc, const char *shown)
{
    struct answer a = {0};
    /* Sent compact: a pretty-printed export keeps more room under the central's body limit. */
    int rc = api_typed(c, "POST", "/api/import", doc, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json) {
        rc = cli_print_raw(c, &a.reply);
    } else if (rc == CLI_EXIT_OK) {
        json_int_t nc = json_integer_value(json_object_get(a.doc, "controllers"));
        json_int_t nt = json_integer_value(json_object_get(a.doc, "trains"));
        json_int_t np = json_integer_value(json_object_get(a.doc, "plugins"));
        fprintf(c->out,
                "imported %" JSON_INTEGER_FORMAT " controllers, %" JSON_INTEGER_FORMAT
                " trains, %" JSON_INTEGER_FORMAT " plugins from %s\n",
                nc, nt, np, shown);
    }
    answer_clear(&a);
    return rc;
}

static int cmd_import(struct cli *c, int argc, char **argv)
{
    const char *file = argv[0];
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    json_error_t jerr;
    int rc = CLI_EXIT_OK;
    if (file[0] == '\0')
        return cli_usage(c, "FILE must not be empty (use - for standard input)");
    bool is_stdin = strcmp(file, "-") == 0;
    const char *shown = is_stdin ? "standard input" : file;
    int rrc = is_stdin ? read_stdin(IMPORT_MAX, &text, &len)
                       : fileio_read_all(file, IMPORT_MAX, &text, &len);
    if (rrc == -EFBIG) {
        rc = cli_fail(c, "cannot read %s: larger than %zu MiB", shown, IMPORT_MAX >> 20);
        goto out;
    }
    if (rrc == -EINVAL) {
        rc = cli_fail(c, "cannot read %s: not a regular file", shown);
        goto out;
    }
    if (rrc < 0) {
        rc = cli_fail(c, "cannot read %s: %s", shown, strerror(-rrc));
        goto out;
    }
    /* Checked here so that a damaged file is reported with its own line and column; the
     * central would only see (and count) a malformed request. */
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        rc = cli_fail(c, "%s is not a valid JSON document: line %d column %d: %s", shown, jerr.line,
                      jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(doc)) {
        rc = cli_fail(c, "%s is not a registry export (a JSON object is expected)", shown);
        goto out;
    }
    rc = import_send(c, doc, shown);
out:
    json_decref(doc);
    free(text);
    return rc;
}

/* roundhouse import-legacy FILE: the earlier system's SQLite database, carried over with
 * every controller UUID, train, plugin and assignment (docs/migration.md). Idempotent, as the
 * import is: a second run updates the same records. */
static int cmd_import_legacy(struct cli *c, int argc, char **argv)
{
    const char *file = argv[0];
    char err[512], warn[1024];
    json_t *doc = NULL;
    if (file[0] == '\0')
        return cli_usage(c, "FILE must not be empty");
    if (access(file, R_OK) != 0)
        return cli_fail(c, "cannot read %s: %s", file, strerror(errno));
    int rc = legacy_db_read(file, &doc, err, sizeof err, warn, sizeof warn);
    if (rc < 0)
        return cli_fail(c, "%s: %s; nothing was imported", file, err);
    if (warn[0] != '\0')
        fprintf(c->err, "roundhouse: note: %s\n", warn);
    rc = import_send(c, doc, file);
    json_decref(doc);
    return rc;
}

/* The central answers /health with 503 and a health document (not an error body) when its
 * database is unusable: that document is the answer to show, and the exit status says
 * whether everything is healthy, so that monitoring scripts can use it directly. */
static int cmd_health(struct cli *c, int argc, char **argv)
{
    struct answer a = {0};
    int rc = request(c, "GET", "/health", NULL, &a);
    if (rc != CLI_EXIT_OK)
        goto out;
    const char *status = json_string_value(json_object_get(a.doc, "status"));
    bool health_doc =
        json_is_object(a.doc) && status != NULL && (a.reply.status == 200 || a.reply.status == 503);
    if (!health_doc) {
        rc = a.reply.status >= 200 && a.reply.status <= 299
                 ? cli_fail(c, "unexpected answer from %s/health", http_client_base(c->http))
                 : fail_http(c, &a);
        goto out;
    }
    rc =
        c->opt.json ? cli_print_raw(c, &a.reply) : print_view(c, views_health_print(c->out, a.doc));
    if (rc == CLI_EXIT_OK && strcmp(status, "healthy") != 0) {
        const char *reason = json_string_value(json_object_get(a.doc, "reason"));
        rc = cli_fail(c, "the central is %s%s%s", status, reason ? ": " : "", reason ? reason : "");
    }
out:
    answer_clear(&a);
    return rc;
}

static const struct command commands[] = {
    {"controllers", "", "list controllers", 0, 0, cmd_controllers},
    {"controller", "CONTROLLER", "details of one controller and its trains", 1, 1, cmd_controller},
    {"trains", "", "list trains with their last reported status", 0, 0, cmd_trains},
    {"train", "TRAIN", "details of one train", 1, 1, cmd_train},
    {"status", "TRAIN", "last status the train reported", 1, 1, cmd_status},
    {"assign", "TRAIN CONTROLLER|none [--force]", "move a train to a controller; none unassigns it",
     2, 2, cmd_assign},
    {"rename-train", "TRAIN NAME", "change a train's display name", 2, 2, cmd_rename_train},
    {"add-train", "CONTROLLER TRAIN NAME [MOTOR_PORT]",
     "add a train to a controller (MOTOR_PORT 1-4: the DC-motor HAT's port)", 3, 4, cmd_add_train},
    {"delete-train", "TRAIN", "stop a train and delete it", 1, 1, cmd_delete_train},
    {"set-driving", "TRAIN KEY=VALUE...|none",
     "acceleration_s, braking_s (seconds for 0-100), min_speed, max_speed, start_resumes=yes|no", 2,
     6, cmd_set_driving},
    {"rename-controller", "CONTROLLER NAME", "change a controller's name", 2, 2,
     cmd_rename_controller},
    {"describe-controller", "CONTROLLER TEXT", "set a controller's description (\"\" clears it)", 2,
     2, cmd_describe_controller},
    {"enable", "CONTROLLER", "let a disabled controller drive its trains again", 1, 1, cmd_enable},
    {"disable", "CONTROLLER", "stop a controller's trains and keep them from being driven", 1, 1,
     cmd_disable},
    {"delete-controller", "CONTROLLER", "stop its trains, unassign them, delete the controller", 1,
     1, cmd_delete_controller},
    {"prune", "DURATION", "delete every controller offline for DURATION or more (90, 30m, 12h, 7d)",
     1, 1, cmd_prune},
    {"speed", "TRAIN 0-100 [--direction forward|reverse]", "set a train's speed", 2, 2, cmd_speed},
    {"stop", "TRAIN", "stop a train (ramps down)", 1, 1, cmd_stop},
    {"estop", "[TRAIN]", "emergency stop: one train, or without TRAIN every train", 0, 1,
     cmd_estop},
    {"export", "FILE|-", "write the whole registry as JSON (atomically; - = stdout)", 1, 1,
     cmd_export},
    {"import", "FILE|-", "create or update everything in an export (- = stdin)", 1, 1, cmd_import},
    {"import-legacy", "FILE", "import the earlier system's SQLite database (UUIDs kept)", 1, 1,
     cmd_import_legacy},
    {"resume", "", "let trains be driven again after a layout emergency stop", 0, 0, cmd_resume},
    {"health", "", "service health; exit 1 unless healthy", 0, 0, cmd_health},
    {"user", "list|add NAME [ROLE]|remove NAME|passwd NAME",
     "operator accounts (--auth); ROLE: viewer (default), operator, admin", 1, 3, cli_cmd_user},
    {"token", "list|create LABEL [USER]|revoke ID",
     "API tokens (--auth); create prints the token once, for ROUNDHOUSE_TOKEN", 1, 3,
     cli_cmd_token},
    {"whoami", "", "the account the central sees this command as (--auth)", 0, 0, cli_cmd_whoami},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

void cli_commands_usage(FILE *out)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char synopsis[96];
        snprintf(synopsis, sizeof synopsis, "%s%s%s", commands[i].name,
                 commands[i].args[0] ? " " : "", commands[i].args);
        /* Long synopses get their own line so that the help column stays aligned. */
        if (strlen(synopsis) > 28)
            fprintf(out, "  %s\n  %-28s  %s\n", synopsis, "", commands[i].help);
        else
            fprintf(out, "  %-28s  %s\n", synopsis, commands[i].help);
    }
}

int cli_commands_run(struct cli *c)
{
    const char *name = c->opt.argv[0];
    const struct command *cmd = NULL;
    for (size_t i = 0; i < NCOMMANDS && cmd == NULL; i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return cli_usage(c, "unknown command '%s'", name);
    int nargs = c->opt.argc - 1;
    if (nargs < cmd->min_args || nargs > cmd->max_args)
        return cli_usage(c, "wrong number of arguments; usage: roundhouse %s%s%s", cmd->name,
                         cmd->args[0] ? " " : "", cmd->args);
    if (c->opt.direction != NULL && cmd->run != cmd_speed)
        return cli_usage(c, "--direction only applies to the speed command");
    if (c->opt.force && cmd->run != cmd_assign)
        return cli_usage(c, "--force only applies to the assign command");
    if ((c->opt.limit > 0 || c->opt.name != NULL || c->opt.presence != NULL) &&
        cmd->run != cmd_controllers && cmd->run != cmd_trains)
        return cli_usage(c, "--limit, --name and --presence only apply to the controllers and "
                            "trains commands");
    return cmd->run(c, nargs, c->opt.argv + 1);
}
