/* The registry's backup commands of `roundhouse` (cli_backup.h): export, import, and the
 * import of the earlier system's database. */
#include "cli_backup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_api.h"
#include "fileio.h"
#include "legacy_db.h"

/* Import files are bounded like answers; the central refuses far less (413) anyway. */
#define IMPORT_MAX HTTP_CLIENT_BODY_MAX

int cli_cmd_export(struct cli *c, int argc, char **argv)
{
    struct cli_answer a = {0};
    const char *file = argv[0];
    if (file[0] == '\0')
        return cli_usage(c, "FILE must not be empty (use - for standard output)");
    int rc = cli_api_call_typed(c, "GET", "/api/export", NULL, JSON_OBJECT, &a);
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
    cli_answer_clear(&a);
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
    struct cli_answer a = {0};
    /* Sent compact: a pretty-printed export keeps more room under the central's body limit. */
    int rc = cli_api_call_typed(c, "POST", "/api/import", doc, JSON_OBJECT, &a);
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
    cli_answer_clear(&a);
    return rc;
}

int cli_cmd_import(struct cli *c, int argc, char **argv)
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
int cli_cmd_import_legacy(struct cli *c, int argc, char **argv)
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
