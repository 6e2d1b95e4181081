/* The central's API as the commands of `roundhouse` call it: one request and its parsed
 * answer, failures reported on c->err the one way (the central's `detail` and `field` when
 * it answered an error body), the paged lists read whole, the output of answers and views,
 * and the argument checks that run before anything is sent.
 *
 * Every function returns an enum cli_exit value and has reported why when it is not
 * CLI_EXIT_OK. An answer's reply and document belong to the caller, released with
 * cli_answer_clear (also after a failure). */
#ifndef ROUNDHOUSE_CLI_API_H
#define ROUNDHOUSE_CLI_API_H

#include <stddef.h>

#include <jansson.h>

#include "cli.h"
#include "http_client.h"
#include "uuidstr.h"

/* Room for a request path with its query (percent-encoded identifiers and filters). */
#define CLI_PATH_LEN 1024

/* An answer of the central: the raw reply (printed as is for --json) and its parsed body. */
struct cli_answer {
    struct http_reply reply;
    json_t *doc; /* NULL for an empty or non-JSON body */
};

void cli_answer_clear(struct cli_answer *a);

/* The central's answer with an error status: its contract error body {detail, error, field?},
 * or anything else by the HTTP status. CLI_EXIT_FAILED. */
int cli_api_fail_http(struct cli *c, long status, const json_t *doc);

/* Sends one request (body, when not NULL, as compact JSON) and parses the answer.
 * CLI_EXIT_OK whenever the central answered, whatever the status. */
int cli_api_request(struct cli *c, const char *method, const char *path, const json_t *body,
                    struct cli_answer *a);
/* cli_api_request, and anything but a 2xx answer with a JSON body (or a 204) fails. */
int cli_api_call(struct cli *c, const char *method, const char *path, const json_t *body,
                 struct cli_answer *a);
/* cli_api_call with the JSON type of the answer checked, so views can trust it. */
int cli_api_call_typed(struct cli *c, const char *method, const char *path, const json_t *body,
                       json_type type, struct cli_answer *a);

/* out (CLI_PATH_LEN bytes) = prefix + id percent-encoded + suffix (may be NULL); an id too
 * long is a usage error. */
int cli_api_path(struct cli *c, char *out, const char *prefix, const char *id, const char *suffix);

struct cli_list_filter {
    const char *name;     /* NULL: any */
    const char *presence; /* NULL: any */
    long max;             /* 0: every row */
};

/* The filter the options --name, --presence and --limit ask for, in *f; returns f. */
const struct cli_list_filter *cli_list_filter_options(struct cli *c, struct cli_list_filter *f);
/* Every row of the paged list at base (/api/controllers, /api/trains) that passes f, into
 * *out: a new array, owned by the caller. */
int cli_api_list(struct cli *c, const char *base, const struct cli_list_filter *f, json_t **out);

/* doc as compact JSON, newline-terminated. */
int cli_print_json(struct cli *c, const json_t *doc);
/* The result of a views_*_print call (0 or a negative errno value) as an exit value. */
int cli_print_view(struct cli *c, int rc);

/* A usage error when the identifier id (named what in the message) is empty. */
int cli_check_id(struct cli *c, const char *what, const char *id);
/* A controller UUID, or the name of exactly one controller, into id; name_out (may be NULL,
 * name_len bytes) gets the name when one was given. */
int cli_resolve_controller(struct cli *c, const char *arg, char id[UUIDSTR_LEN + 1], char *name_out,
                           size_t name_len);

#endif
