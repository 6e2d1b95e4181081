/* The central's API as the commands of `roundhouse` call it (cli_api.h): requests and their
 * answers, failures reported the one way, paged lists, output, and the argument checks every
 * command family shares. */
#include "cli_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

void cli_answer_clear(struct cli_answer *a)
{
    http_reply_clear(&a->reply);
    json_decref(a->doc);
    a->doc = NULL;
}

/* ---- diagnostics ---- */

/* "roundhouse: " + the message + tail on c->err. */
__attribute__((format(printf, 3, 0))) static void report(struct cli *c, const char *tail,
                                                         const char *fmt, va_list ap)
{
    fputs("roundhouse: ", c->err);
    vfprintf(c->err, fmt, ap);
    fputs(tail, c->err);
}

int cli_fail(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, "\n", fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAILED;
}

int cli_usage(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, "\nTry 'roundhouse --help'.\n", fmt, ap);
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

int cli_api_fail_http(struct cli *c, long status, const json_t *doc)
{
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    const char *code = json_string_value(json_object_get(doc, "error"));
    const char *field = json_string_value(json_object_get(doc, "field"));
    char text[512];
    if (detail != NULL) {
        snprintf(text, sizeof text, "%s", detail);
        table_text_clean(text);
        detail = text;
    }
    if (detail == NULL)
        return cli_fail(c, "the central at %s answered HTTP %ld", http_client_base(c->http),
                        status);
    if (field != NULL)
        return cli_fail(c, "%s (field '%s'; HTTP %ld %s)", detail, field, status,
                        code ? code : "error");
    return cli_fail(c, "%s (HTTP %ld %s)", detail, status, code ? code : "error");
}

/* ---- requests ---- */

/* Sends one request and parses the answer (a->doc stays NULL for an empty or non-JSON body).
 * CLI_EXIT_OK whenever the central answered, whatever the status. */
int cli_api_request(struct cli *c, const char *method, const char *path, const json_t *body,
                    struct cli_answer *a)
{
    char *payload = NULL;
    if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT);
        if (payload == NULL)
            return cli_fail(c, "out of memory");
    }
    size_t len = payload ? strlen(payload) : 0;
    int rc = http_client_request(c->http, method, path, payload, len, &a->reply);
    if (payload != NULL) {
        /* It may hold a password (cli_accounts.c). */
        memset(payload, 0, len);
        free(payload);
    }
    if (rc < 0)
        return fail_transport(c, rc);
    if (a->reply.len > 0)
        a->doc = json_loadb(a->reply.body, a->reply.len, JSON_DECODE_ANY, NULL);
    return CLI_EXIT_OK;
}

/* cli_api_request(), and anything but a 2xx answer with a JSON body is a failure (reported). */
int cli_api_call(struct cli *c, const char *method, const char *path, const json_t *body,
                 struct cli_answer *a)
{
    int rc = cli_api_request(c, method, path, body, a);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (a->reply.status < 200 || a->reply.status > 299)
        return cli_api_fail_http(c, a->reply.status, a->doc);
    if (a->reply.status == 204) /* a delete: nothing to read */
        return CLI_EXIT_OK;
    if (a->doc == NULL)
        return cli_fail(c, "the answer of %s%s is not JSON (is that the Roundhouse central?)",
                        http_client_base(c->http), path);
    return CLI_EXIT_OK;
}

/* cli_api_call() with the expected JSON type of the answer checked, so views can trust it. */
int cli_api_call_typed(struct cli *c, const char *method, const char *path, const json_t *body,
                       json_type type, struct cli_answer *a)
{
    int rc = cli_api_call(c, method, path, body, a);
    if (rc == CLI_EXIT_OK && (a->doc == NULL || json_typeof(a->doc) != type))
        rc = cli_fail(c, "unexpected answer from %s%s: %s expected", http_client_base(c->http),
                      path, type == JSON_ARRAY ? "a JSON array" : "a JSON object");
    return rc;
}

int cli_api_path(struct cli *c, char *out, const char *prefix, const char *id, const char *suffix)
{
    int rc = http_client_path(c->http, out, CLI_PATH_LEN, prefix, id, suffix);
    if (rc == -ENAMETOOLONG)
        return cli_usage(c, "identifier too long: '%.60s...'", id);
    if (rc < 0)
        return cli_fail(c, "out of memory");
    return CLI_EXIT_OK;
}

/* Rows asked for per page: well below the central's 1000, so that one page of controllers
 * with their trains stays about half a megabyte. */
#define LIST_PAGE 500

/* path + "&key=" + value percent-encoded, in place. */
static int add_param(struct cli *c, char *path, const char *key, const char *value)
{
    char prefix[CLI_PATH_LEN];
    int n = snprintf(prefix, sizeof prefix, "%s&%s=", path, key);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return cli_usage(c, "--%s too long", key);
    int rc = http_client_path(c->http, path, CLI_PATH_LEN, prefix, value, NULL);
    if (rc == -ENAMETOOLONG)
        return cli_usage(c, "--%s too long: '%.60s...'", key, value);
    return rc < 0 ? cli_fail(c, "out of memory") : CLI_EXIT_OK;
}

/* Every row of a paged list (/api/controllers, /api/trains: docs/api.md "Paged lists") that
 * passes the filter, page after page, into *out (a new array), so that no answer has to
 * hold the whole registry (an answer is refused beyond HTTP_CLIENT_BODY_MAX). The pages
 * are read one after another, each in its own transaction of the central: a row renamed
 * meanwhile can appear twice or not at all, one added or removed moves nothing else. */
int cli_api_list(struct cli *c, const char *base, const struct cli_list_filter *f, json_t **out)
{
    json_t *all = json_array();
    char cursor[CLI_PATH_LEN] = "";
    int rc = all ? CLI_EXIT_OK : cli_fail(c, "out of memory");
    /* Bounded: a central that kept answering cursors would otherwise be followed forever. */
    for (long pages = 0; rc == CLI_EXIT_OK && pages < 1000000; pages++) {
        long want = LIST_PAGE;
        if (f->max > 0 && f->max - (long)json_array_size(all) < want)
            want = f->max - (long)json_array_size(all);
        if (want <= 0)
            break;
        char path[CLI_PATH_LEN];
        snprintf(path, sizeof path, "%s?limit=%ld", base, want);
        if (cursor[0] != '\0')
            rc = add_param(c, path, "cursor", cursor);
        if (rc == CLI_EXIT_OK && f->name != NULL)
            rc = add_param(c, path, "name", f->name);
        if (rc == CLI_EXIT_OK && f->presence != NULL)
            rc = add_param(c, path, "presence", f->presence);
        struct cli_answer a = {0};
        if (rc == CLI_EXIT_OK)
            rc = cli_api_call_typed(c, "GET", path, NULL, JSON_OBJECT, &a);
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
        cli_answer_clear(&a);
        if (last)
            break;
    }
    if (rc == CLI_EXIT_OK)
        *out = all;
    else
        json_decref(all);
    return rc;
}

const struct cli_list_filter *cli_list_filter_options(struct cli *c, struct cli_list_filter *f)
{
    *f = (struct cli_list_filter){
        .name = c->opt.name, .presence = c->opt.presence, .max = c->opt.limit};
    return f;
}

/* ---- output ---- */

int cli_print_json(struct cli *c, const json_t *doc)
{
    if (json_dumpf(doc, c->out, JSON_COMPACT) < 0 || fputc('\n', c->out) == EOF || ferror(c->out))
        return cli_fail(c, "cannot write the output");
    return CLI_EXIT_OK;
}

int cli_print_raw(struct cli *c, const struct http_reply *r)
{
    if (fwrite(r->body, 1, r->len, c->out) != r->len)
        return cli_fail(c, "cannot write the output");
    if (r->len == 0 || r->body[r->len - 1] != '\n')
        fputc('\n', c->out);
    return ferror(c->out) ? cli_fail(c, "cannot write the output") : CLI_EXIT_OK;
}

int cli_print_view(struct cli *c, int rc)
{
    if (rc == -ENOMEM)
        return cli_fail(c, "out of memory");
    if (rc < 0)
        return cli_fail(c, "cannot write the output");
    return CLI_EXIT_OK;
}

/* ---- argument checks (before anything is sent) ---- */

int cli_check_id(struct cli *c, const char *what, const char *id)
{
    if (id[0] == '\0')
        return cli_usage(c, "%s must not be empty", what);
    return CLI_EXIT_OK;
}

/* A controller UUID, or the name of exactly one controller. The name is looked up in the
 * list rather than guessed, and an ambiguous one is refused: commands must never reach a
 * controller the operator did not mean. name_out (may be NULL) gets the name when known. */
int cli_resolve_controller(struct cli *c, const char *arg, char id[UUIDSTR_LEN + 1], char *name_out,
                           size_t name_len)
{
    struct cli_answer a = {0};
    if (cli_check_id(c, "CONTROLLER", arg) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    if (uuidstr_normalize(arg, id) == 0)
        return CLI_EXIT_OK;
    /* The central narrows the list down to the names containing arg; the exact name is
     * compared here. */
    const struct cli_list_filter f = {.name = arg};
    int rc = cli_api_list(c, "/api/controllers", &f, &a.doc);
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
    cli_answer_clear(&a);
    return rc;
}
