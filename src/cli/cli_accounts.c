/* Operator accounts in `roundhouse` (cli_accounts.h). */
#include "cli_accounts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_api.h"
#include "http_client.h"
#include "table.h"

/* The central's limits (auth.h): checked here too, so nothing is sent for a bad one. */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

static bool logged_in;

/* One line from the terminal with echo off, or from stdin. 0, or -1 after reporting. */
static int read_password(struct cli *c, const char *prompt, char *out, size_t outlen)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fputs(prompt, stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        } else {
            tty = false;
        }
    }
    char *line = fgets(out, (int)outlen, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (line == NULL) {
        cli_fail(c, "no password given (%s)", tty ? "end of input" : "stdin is empty");
        return -1;
    }
    size_t n = strlen(out);
    bool whole = n > 0 && out[n - 1] == '\n';
    if (!whole && !feof(stdin)) {
        /* Longer than the buffer: refused rather than cut. */
        memset(out, 0, outlen);
        cli_fail(c, "the password is longer than %d bytes", PASSWORD_MAX);
        return -1;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

/* A new password: asked twice on a terminal, and within the central's limits. */
static int new_password(struct cli *c, const char *who, char *out, size_t outlen)
{
    char prompt[128];
    snprintf(prompt, sizeof prompt, "New password for %s: ", who);
    if (read_password(c, prompt, out, outlen) < 0)
        return -1;
    size_t n = strlen(out);
    if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
        cli_fail(c, "a password must be %d-%d bytes long", PASSWORD_MIN, PASSWORD_MAX);
        return -1;
    }
    if (isatty(STDIN_FILENO)) {
        char again[PASSWORD_MAX + 2];
        if (read_password(c, "Again: ", again, sizeof again) < 0)
            return -1;
        bool same = strcmp(out, again) == 0;
        memset(again, 0, sizeof again);
        if (!same) {
            cli_fail(c, "the two passwords differ; nothing was changed");
            return -1;
        }
    }
    return 0;
}

/* ---- the credential ---- */

int cli_accounts_begin(struct cli *c)
{
    const char *token = getenv("ROUNDHOUSE_TOKEN");
    if (token != NULL && token[0] != '\0') {
        if (http_client_set_token(c->http, token) < 0)
            return cli_usage(c,
                             "ROUNDHOUSE_TOKEN is longer than 512 bytes: not a Roundhouse token");
        return CLI_EXIT_OK;
    }
    const char *user = getenv("ROUNDHOUSE_USER");
    if (user == NULL || user[0] == '\0')
        return CLI_EXIT_OK;
    char pw[PASSWORD_MAX + 2], prompt[160];
    snprintf(prompt, sizeof prompt, "Password for %.64s at %.64s: ", user,
             http_client_base(c->http));
    if (read_password(c, prompt, pw, sizeof pw) < 0)
        return CLI_EXIT_FAILED;
    json_t *body = json_pack("{s:s, s:s}", "username", user, "password", pw);
    memset(pw, 0, sizeof pw);
    if (body == NULL)
        return cli_fail(c, "out of memory");
    struct cli_answer a = {0};
    int rc = cli_api_call_typed(c, "POST", "/api/login", body, JSON_OBJECT, &a);
    json_decref(body); /* jansson keeps its copy of the password until here */
    cli_answer_clear(&a);
    if (rc == CLI_EXIT_OK)
        logged_in = true;
    else
        cli_fail(c, "could not log in as %.64s (ROUNDHOUSE_USER); nothing else was sent", user);
    return rc;
}

void cli_accounts_end(struct cli *c)
{
    if (!logged_in)
        return;
    struct cli_answer a = {0};
    json_t *body = json_object();
    if (body != NULL && cli_api_call_typed(c, "POST", "/api/logout", body, JSON_OBJECT, &a) != 0)
        fputs("roundhouse: (the session could not be closed; it expires by itself)\n", c->err);
    json_decref(body);
    cli_answer_clear(&a);
    logged_in = false;
}

/* ---- commands ---- */

static bool role_valid(const char *r)
{
    return strcmp(r, "viewer") == 0 || strcmp(r, "operator") == 0 || strcmp(r, "admin") == 0;
}

static int list(struct cli *c, const char *path, const char *const *keys,
                const char *const *headers, size_t ncols)
{
    struct cli_answer a = {0};
    int rc = cli_api_call_typed(c, "GET", path, NULL, JSON_ARRAY, &a);
    if (rc == CLI_EXIT_OK && c->opt.json) {
        rc = cli_print_raw(c, &a.reply);
    } else if (rc == CLI_EXIT_OK) {
        struct table *t = table_new(ncols, headers);
        size_t i;
        json_t *row;
        json_array_foreach(a.doc, i, row)
        {
            const char *cells[8] = {0};
            for (size_t k = 0; k < ncols && k < 8; k++)
                cells[k] = json_string_value(json_object_get(row, keys[k]));
            if (t != NULL && table_add_row(t, cells) < 0)
                break;
        }
        if (t == NULL || table_print(t, c->out) < 0)
            rc = cli_fail(c, "cannot write the output");
        table_free(t);
    }
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_user(struct cli *c, int argc, char **argv)
{
    const char *sub = argv[0];
    char path[CLI_PATH_LEN], pw[PASSWORD_MAX + 2] = "";
    struct cli_answer a = {0};
    json_t *body = NULL;
    int rc;
    if (strcmp(sub, "list") == 0 && argc == 1) {
        static const char *const keys[] = {"username", "role", "created_at"};
        static const char *const heads[] = {"USER", "ROLE", "CREATED"};
        return list(c, "/api/users", keys, heads, 3);
    }
    if (strcmp(sub, "add") == 0 && (argc == 2 || argc == 3)) {
        const char *role = argc == 3 ? argv[2] : "viewer";
        if (!role_valid(role))
            return cli_usage(c, "invalid ROLE '%s': expected viewer, operator or admin", role);
        if (new_password(c, argv[1], pw, sizeof pw) < 0)
            return CLI_EXIT_FAILED;
        body = json_pack("{s:s, s:s, s:s}", "username", argv[1], "password", pw, "role", role);
        memset(pw, 0, sizeof pw);
        rc = body == NULL ? cli_fail(c, "out of memory")
                          : cli_api_call_typed(c, "POST", "/api/users", body, JSON_OBJECT, &a);
        if (rc == CLI_EXIT_OK && !c->opt.json)
            fprintf(c->out, "user %s created (%s)\n", argv[1], role);
    } else if (strcmp(sub, "remove") == 0 && argc == 2) {
        if ((rc = cli_api_path(c, path, "/api/users/", argv[1], NULL)) != CLI_EXIT_OK)
            return rc;
        rc = cli_api_call_typed(c, "DELETE", path, NULL, JSON_OBJECT, &a);
        if (rc == CLI_EXIT_OK && !c->opt.json)
            fprintf(c->out, "user %s removed, with their sessions and tokens\n", argv[1]);
    } else if (strcmp(sub, "passwd") == 0 && argc == 2) {
        if ((rc = cli_api_path(c, path, "/api/users/", argv[1], NULL)) != CLI_EXIT_OK)
            return rc;
        if (new_password(c, argv[1], pw, sizeof pw) < 0)
            return CLI_EXIT_FAILED;
        body = json_pack("{s:s}", "password", pw);
        memset(pw, 0, sizeof pw);
        rc = body == NULL ? cli_fail(c, "out of memory")
                          : cli_api_call_typed(c, "PATCH", path, body, JSON_OBJECT, &a);
        if (rc == CLI_EXIT_OK && !c->opt.json)
            fprintf(c->out, "password of %s changed; their web sessions are closed\n", argv[1]);
    } else {
        return cli_usage(c, "usage: roundhouse user list | add NAME [viewer|operator|admin] | "
                            "remove NAME | passwd NAME");
    }
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_token(struct cli *c, int argc, char **argv)
{
    const char *sub = argv[0];
    char path[CLI_PATH_LEN];
    struct cli_answer a = {0};
    json_t *body = NULL;
    int rc;
    if (strcmp(sub, "list") == 0 && argc == 1) {
        static const char *const keys[] = {"id", "name", "username", "created_at", "expires_at"};
        static const char *const heads[] = {"ID", "LABEL", "USER", "CREATED", "EXPIRES"};
        return list(c, "/api/tokens", keys, heads, 5);
    }
    if (strcmp(sub, "create") == 0 && (argc == 2 || argc == 3)) {
        body = json_pack("{s:s}", "name", argv[1]);
        if (body != NULL && argc == 3)
            json_object_set_new(body, "username", json_string(argv[2]));
        rc = body == NULL ? cli_fail(c, "out of memory")
                          : cli_api_call_typed(c, "POST", "/api/tokens", body, JSON_OBJECT, &a);
        if (rc == CLI_EXIT_OK && !c->opt.json) {
            /* Only the token on stdout, for TOKEN=$(roundhouse token create ...). */
            fprintf(c->out, "%s\n", json_string_value(json_object_get(a.doc, "token")));
            fprintf(c->err,
                    "roundhouse: token %s (%s) for %s created; it is shown only this once\n",
                    json_string_value(json_object_get(a.doc, "id")), argv[1],
                    json_string_value(json_object_get(a.doc, "username")));
        }
    } else if (strcmp(sub, "revoke") == 0 && argc == 2) {
        if ((rc = cli_api_path(c, path, "/api/tokens/", argv[1], NULL)) != CLI_EXIT_OK)
            return rc;
        rc = cli_api_call_typed(c, "DELETE", path, NULL, JSON_OBJECT, &a);
        if (rc == CLI_EXIT_OK && !c->opt.json)
            fprintf(c->out, "token %s revoked\n", argv[1]);
    } else {
        return cli_usage(c, "usage: roundhouse token list | create LABEL [USER] | revoke ID");
    }
    if (rc == CLI_EXIT_OK && c->opt.json)
        rc = cli_print_raw(c, &a.reply);
    json_decref(body);
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_whoami(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct cli_answer a = {0};
    int rc = cli_api_call_typed(c, "GET", "/api/me", NULL, JSON_OBJECT, &a);
    if (rc == CLI_EXIT_OK && c->opt.json) {
        rc = cli_print_raw(c, &a.reply);
    } else if (rc == CLI_EXIT_OK) {
        const char *user = json_string_value(json_object_get(a.doc, "username"));
        if (!json_is_true(json_object_get(a.doc, "auth")))
            fputs("operator accounts are off on this central: everyone may do everything\n",
                  c->out);
        else if (user == NULL)
            fputs("not logged in (set ROUNDHOUSE_TOKEN or ROUNDHOUSE_USER)\n", c->out);
        else
            fprintf(c->out, "%s (%s)\n", user, json_string_value(json_object_get(a.doc, "role")));
    }
    cli_answer_clear(&a);
    return rc;
}
