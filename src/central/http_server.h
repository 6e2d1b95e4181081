/* The central's HTTP front: libmicrohttpd driven by its own thread (external epoll), request bodies
 * collected up to a limit, the cross-cutting rules applied before any handler runs:
 *   - a body larger than max_body -> 413;
 *   - a non-empty body whose Content-Type is not application/json -> 415;
 *   - CORS: Access-Control-Allow-Origin for allowed origins, preflight OPTIONS -> 204.
 * Handlers fill a struct http_response; the server owns sending it. */
#ifndef ROUNDHOUSE_HTTP_SERVER_H
#define ROUNDHOUSE_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct http_server;
struct request_state;

struct http_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated, body_len bytes; "" when none */
    size_t body_len;
    char client_ip[64];
    bool tls;           /* arrived over HTTPS (a session cookie is then marked Secure) */
    int64_t started_ms; /* monotonic time of the request's arrival (kept across resumes) */
    /* For a deferred request: the copy of the arg given to http_request_defer_arg (owned by
     * the server, valid while fn runs); NULL otherwise. */
    const void *defer_arg;
    struct MHD_Connection *conn;
    struct request_state *state; /* the server's, for http_request_defer */
    /* Without a connection (fuzzing and unit tests drive the handlers directly), headers
     * and query arguments come from these objects of strings. */
    const json_t *fake_headers;
    const json_t *fake_query;
};

struct MHD_Response;

struct http_response {
    unsigned status;
    json_t *json;                /* owned; sent as application/json */
    char *text;                  /* owned; alternative raw body */
    const char *content_type;    /* for text */
    size_t text_len;             /* bytes of text when it is binary; 0: strlen(text) */
    char etag[96];               /* sent as ETag when non-empty */
    int retry_after;             /* seconds; sent when > 0 */
    char allow[128];             /* Allow header (405) when non-empty */
    char set_cookie[192];        /* Set-Cookie header when non-empty */
    const char *route;           /* route label for metrics/logs (static string) */
    struct MHD_Response *stream; /* a streaming response (SSE) queued instead of a body */
    uint64_t file_len;           /* with file: the body is file_len bytes of file_fd */
    int file_fd;                 /* owned when file: closed once sent, or dropped */
    bool file;                   /* set by http_response_file */
    bool suspended;              /* set by http_request_suspend: answer later */
};

typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
                                struct http_response *resp);

struct http_server_config {
    const char *host; /* numeric address, e.g. "0.0.0.0", "127.0.0.1", "::" */
    int port;         /* 0: the kernel picks one (see http_server_port) */
    size_t max_body;
    /* One route may take larger bodies (the registry import): its path and limit. */
    const char *bulk_path;
    size_t bulk_max_body;
    /* Routes whose body is raw bytes rather than JSON (a train's photo): the handler checks
     * the type itself, and the body may be up to raw_max_body. NULL: none. */
    bool (*raw_body)(const char *method, const char *url);
    size_t raw_max_body;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    /* Seconds a request may take to arrive whole (headers and body) and an idle connection
     * may stay open; parked requests (long polls, event streams, deferred work) are exempt. */
    unsigned request_timeout;
    const char *cors_origins; /* "*" or comma-separated list; NULL/empty: no CORS headers */
    /* HTTPS: PEM certificate (chain) and private key, in memory (libmicrohttpd's GnuTLS
     * reads them; tls_server_files_load checked them). NULL: plain HTTP. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    http_handler_fn handler;
    void *ctx;
    /* Called once per response sent (also 413, 415 and preflights), with the route pattern
     * the handler set in resp->route (NULL: none) and the time since the request arrived. */
    void (*observe)(void *ctx, const char *method, const char *route, unsigned status,
                    double seconds);
};

int http_server_start(const struct http_server_config *cfg, struct http_server **out, char *err,
                      size_t errlen);
int http_server_port(const struct http_server *srv);
void http_server_stop(struct http_server *srv);

/* Parks the request (long poll): no response is sent now; when the connection is resumed
 * with http_connection_resume, the handler runs again for the same request (same
 * started_ms). Must be called from the handler, before it returns. */
void http_request_suspend(const struct http_request *req, struct http_response *resp);
void http_connection_resume(struct MHD_Connection *conn);

/* Runs fn(ctx, copy of req, resp) on the server's worker thread and sends what it answers,
 * so that a slow request (a list of ten thousand controllers, an export, an import) never
 * holds up the requests behind it. fn must not read headers or query arguments (its copy
 * of req has none). At most HTTP_DEFER_MAX such requests wait or run at once, and
 * HTTP_DEFER_MAX_PER_IP from one client address: beyond that resp becomes 429 (per
 * address) or 503 too_busy with Retry-After. Without a connection (fuzzing, unit tests) fn
 * runs at once. Must be called from the handler, before it returns. */
#define HTTP_DEFER_MAX 4
#define HTTP_DEFER_MAX_PER_IP 2
void http_request_defer(const struct http_request *req, struct http_response *resp,
                        http_handler_fn fn, void *ctx);
/* The same, handing fn a copy of arg (at most HTTP_DEFER_ARG_MAX bytes, else 500) as
 * req->defer_arg: what the handler learnt from the headers, which fn cannot read. */
#define HTTP_DEFER_ARG_MAX 2048
void http_request_defer_arg(const struct http_request *req, struct http_response *resp,
                            http_handler_fn fn, void *ctx, const void *arg, size_t arglen);

const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_query(const struct http_request *req, const char *name);

/* Sets resp to an error: {"detail": ..., "error": code, "field": field (when not NULL)}. */
void http_response_error(struct http_response *resp, unsigned status, const char *code,
                         const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void http_response_json(struct http_response *resp, unsigned status, json_t *body);
/* Sets resp to the len bytes of the open file fd, sent as content_type (a static string);
 * resp owns fd from here on. */
void http_response_file(struct http_response *resp, unsigned status, int fd, uint64_t len,
                        const char *content_type);
/* Sets resp to the object of a json_pack format, written as text without building the object
 * when jsonw.h writes that format (the routes every controller calls often), through json_pack
 * otherwise. The body is the same either way; a value that cannot be written (a string that is
 * not UTF-8) makes the answer a 500 without a body of its own, either way. */
void http_response_pack(struct http_response *resp, unsigned status, const char *fmt, ...);

#endif
