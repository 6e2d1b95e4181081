/* State shared by the modules of one `roundhouse` invocation, and its exit codes. */
#ifndef ROUNDHOUSE_CLI_H
#define ROUNDHOUSE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define CLI_DEFAULT_TIMEOUT_MS 10000L

/* Exit codes (docs/cli.md): scripts branch on them, so they never change. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1, /* the central answered an error, or could not be reached */
    CLI_EXIT_USAGE = 2,  /* bad command line; nothing was sent */
};

struct cli_options {
    const char *central;   /* base URL; NULL: none given, found by DNS-SD */
    long timeout_ms;       /* per request */
    const char *ca;        /* --ca / ROUNDHOUSE_CA: PEM CA file for https; NULL: curl's store */
    bool json;             /* print the API's JSON documents instead of tables */
    const char *direction; /* `speed --direction`, NULL when not given */
    bool force;            /* `assign --force`: do not wait for the old controller's release */
    /* `controllers` and `trains`: at most limit listed (0: all), only names containing
     * name (NULL: any), only these presence states (comma-separated; NULL: any). */
    long limit;
    const char *name;
    const char *presence;
    int argc; /* the command and its arguments, options removed */
    char **argv;
};

struct http_client;
struct http_reply;

struct cli {
    struct cli_options opt;
    struct http_client *http;
    FILE *out; /* results */
    FILE *err; /* diagnostics */
};

/* "roundhouse: MESSAGE" on c->err; CLI_EXIT_FAILED. */
int cli_fail(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, with a pointer to --help; CLI_EXIT_USAGE. */
int cli_usage(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --json: the answer's body exactly as received, newline-terminated. */
int cli_print_raw(struct cli *c, const struct http_reply *r);

#endif
