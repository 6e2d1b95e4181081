#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_rules.h"
#include "jsonw.h"
#include "log.h"
#include "strbuf.h"
#include "timeutil.h"

/* One per connection (MHD's socket context): which server it belongs to, for a resume from
 * any thread, and since when it has been waiting for a whole request. */
struct conn_info {
    struct http_server *srv;
    struct MHD_Connection *conn;
    int64_t since_ms;   /* accepted, or its last request completed */
    bool parked;        /* a long poll, event stream or deferred request: no deadline */
    char client_ip[64]; /* the peer's address as text, made at its first request */
    struct conn_info *prev, *next;
};

_Static_assert(sizeof((struct conn_info *)0)->client_ip ==
                   sizeof((struct http_request *)0)->client_ip,
               "the cached address is copied whole");

/* A request handed to the worker thread (http_request_defer). */
struct job {
    struct MHD_Connection *conn;
    http_handler_fn fn;
    void *ctx;
    struct http_request req;
    struct http_response resp;
    _Alignas(max_align_t) unsigned char arg[HTTP_DEFER_ARG_MAX];
    bool started, done;
    struct job *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    pthread_t thread;
    bool thread_started;
    /* eventfd that wakes the server's thread: a connection was resumed from another thread
     * (MHD has no wake-up channel of its own in external-polling mode), or it should stop. */
    int wake_fd;
    atomic_bool stopping;
    /* A large answer was sent: its memory goes back to the system after this round. */
    bool trim_pending;
    struct http_server_config cfg;
    char *cors; /* copy of cfg.cors_origins */
    int port;
    struct conn_info *conns; /* only touched by the server's thread */
    unsigned closed;         /* connections closed since the last malloc_trim */
    int64_t swept_ms;
    /* Deferred requests, queued, running or answered but not yet sent (oldest first). */
    pthread_mutex_t job_lock;
    pthread_cond_t job_cond;
    struct job *jobs;
    unsigned njobs;
    bool worker_stop;
    atomic_bool worker_started;
    pthread_t worker;
};

/* Per-request state, created when MHD has read the request line (uri_seen) or, failing
 * that, on the first callback. */
struct request_state {
    bool begun;      /* the first callback has run */
    bool nul_in_uri; /* the raw URI held %00: MHD's decoded path would end there */
    bool large;      /* its answer or body was large: trim malloc when it is done */
    struct job *job; /* deferred to the worker; its answer is sent when it is done */
    char *body;
    size_t len;
    size_t cap;
    bool too_large;
    bool raw; /* a raw-bytes route (http_server_config.raw_body) */
    size_t max_body;
    int64_t started_ms;
    struct timespec started; /* precise, for the latency histogram */
};

void http_request_suspend(const struct http_request *req, struct http_response *resp)
{
    if (req->conn != NULL)
        MHD_suspend_connection(req->conn);
    resp->suspended = true;
}

static void wake(struct http_server *srv)
{
    uint64_t one = 1;
    if (write(srv->wake_fd, &one, sizeof one) != sizeof one && errno != EAGAIN)
        log_event(RH_LOG_ERROR, "http_wake_failed", "{s:s}", "error", strerror(errno));
}

static struct conn_info *conn_info_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

void http_connection_resume(struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    struct conn_info *ci = conn_info_of(conn);
    if (ci != NULL)
        wake(ci->srv);
}

/* Every connection carries its server, so that a resume from any thread can wake it, and
 * the time since it has owed us a request. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_info *ci = calloc(1, sizeof *ci);
        *socket_context = ci;
        if (ci == NULL)
            return;
        ci->srv = srv;
        ci->conn = conn;
        ci->since_ms = timeutil_mono_ms();
        ci->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = ci;
        srv->conns = ci;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
        struct conn_info *ci = *socket_context;
        if (ci->prev != NULL)
            ci->prev->next = ci->next;
        else
            srv->conns = ci->next;
        if (ci->next != NULL)
            ci->next->prev = ci->prev;
        free(ci);
        *socket_context = NULL;
        srv->closed++; /* see sweep_slow */
    }
}

/* A slow client (a byte every few seconds keeps MHD's idle timeout from firing) may hold a
 * connection only for request_timeout seconds: its socket is shut down, and MHD closes it. */
static void sweep_slow(struct http_server *srv)
{
    int64_t now = timeutil_mono_ms();
    if (srv->cfg.request_timeout == 0 || now - srv->swept_ms < 1000)
        return;
    srv->swept_ms = now;
    /* Hundreds of connections going at once (a host that held many) leave their buffers in
     * malloc's arenas: give them back, at most once a second. */
    if (srv->closed >= 64)
        srv->trim_pending = true;
    int64_t limit = (int64_t)srv->cfg.request_timeout * 1000;
    for (struct conn_info *ci = srv->conns; ci != NULL; ci = ci->next) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(ci->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci->parked && fd != NULL) {
            /* MHD does not watch a suspended connection: a client that left an event stream
             * would hold its slot until a write failed. Shut down, the next write fails at
             * once (the stream's keepalive). */
            char b;
            if (recv(fd->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
                shutdown(fd->connect_fd, SHUT_RDWR);
            continue;
        }
        if (ci->parked || now - ci->since_ms <= limit)
            continue;
        if (fd != NULL && shutdown(fd->connect_fd, SHUT_RDWR) == 0)
            log_event(RH_LOG_DEBUG, "http_request_timeout", "{s:I}", "open_ms",
                      (json_int_t)(now - ci->since_ms));
        ci->since_ms = now; /* once */
    }
}

static unsigned jobs_from(const struct http_server *srv, const char *ip)
{
    unsigned n = 0;
    for (const struct job *j = srv->jobs; j != NULL; j = j->next)
        n += strcmp(j->req.client_ip, ip) == 0;
    return n;
}

void http_request_defer(const struct http_request *req, struct http_response *resp,
                        http_handler_fn fn, void *ctx)
{
    http_request_defer_arg(req, resp, fn, ctx, NULL, 0);
}

void http_request_defer_arg(const struct http_request *req, struct http_response *resp,
                            http_handler_fn fn, void *ctx, const void *arg, size_t arglen)
{
    if (arglen > HTTP_DEFER_ARG_MAX) {
        http_response_error(resp, 500, "internal_error", NULL, "deferred argument too large");
        return;
    }
    struct conn_info *ci = req->conn != NULL ? conn_info_of(req->conn) : NULL;
    if (ci == NULL || req->state == NULL || !ci->srv->worker_started) {
        struct http_request copy = *req;
        copy.defer_arg = arg;
        fn(ctx, &copy, resp);
        return;
    }
    struct http_server *srv = ci->srv;
    pthread_mutex_lock(&srv->job_lock);
    bool per_ip = jobs_from(srv, req->client_ip) >= HTTP_DEFER_MAX_PER_IP;
    if (per_ip || srv->njobs >= HTTP_DEFER_MAX) {
        pthread_mutex_unlock(&srv->job_lock);
        http_response_error(resp, per_ip ? 429 : 503, "too_busy", NULL,
                            "%d requests of this kind are already running%s; try again later",
                            per_ip ? HTTP_DEFER_MAX_PER_IP : HTTP_DEFER_MAX,
                            per_ip ? " for this address" : "");
        resp->retry_after = 1;
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        pthread_mutex_unlock(&srv->job_lock);
        http_response_error(resp, 503, "unavailable", NULL, "out of memory");
        return;
    }
    j->conn = req->conn;
    j->fn = fn;
    j->ctx = ctx;
    j->req = *req;
    j->req.conn = NULL;
    j->req.state = NULL;
    j->req.fake_headers = NULL;
    j->req.fake_query = NULL;
    j->req.defer_arg = NULL;
    if (arg != NULL && arglen > 0) {
        memcpy(j->arg, arg, arglen);
        j->req.defer_arg = j->arg;
    }
    j->resp = (struct http_response){.status = 500, .retry_after = -1, .route = resp->route};
    struct job **tail = &srv->jobs;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = j;
    srv->njobs++;
    req->state->job = j;
    /* Suspended under the lock: the worker resumes only after taking it. */
    MHD_suspend_connection(req->conn);
    resp->suspended = true;
    pthread_cond_signal(&srv->job_cond);
    pthread_mutex_unlock(&srv->job_lock);
}

/* Caller holds job_lock. */
static void job_unlink(struct http_server *srv, struct job *j)
{
    for (struct job **p = &srv->jobs; *p != NULL; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            srv->njobs--;
            return;
        }
    }
}

static void *work(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->job_lock);
    for (;;) {
        struct job *j = srv->jobs;
        while (j != NULL && j->started)
            j = j->next;
        if (j == NULL) {
            if (srv->worker_stop)
                break;
            pthread_cond_wait(&srv->job_cond, &srv->job_lock);
            continue;
        }
        j->started = true;
        pthread_mutex_unlock(&srv->job_lock);
        j->fn(j->ctx, &j->req, &j->resp);
        pthread_mutex_lock(&srv->job_lock);
        j->done = true;
        MHD_resume_connection(j->conn);
        wake(srv);
    }
    pthread_mutex_unlock(&srv->job_lock);
    return NULL;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    if (req->conn == NULL) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)req->fake_headers, key, v)
        {
            if (strcasecmp(key, name) == 0)
                return json_string_value(v);
        }
        return NULL;
    }
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    if (req->conn == NULL)
        return json_string_value(json_object_get(req->fake_query, name));
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_response_file(struct http_response *resp, unsigned status, int fd, uint64_t len,
                        const char *content_type)
{
    json_decref(resp->json);
    resp->json = NULL;
    free(resp->text);
    resp->text = NULL;
    resp->status = status;
    resp->file = true;
    resp->file_fd = fd;
    resp->file_len = len;
    resp->content_type = content_type;
}

void http_response_json(struct http_response *resp, unsigned status, json_t *body)
{
    json_decref(resp->json);
    resp->status = status;
    resp->json = body;
}

void http_response_pack(struct http_response *resp, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = strbuf_append(&text, &len, &cap, "{", 1);
    if (rc == 0)
        rc = jsonw_vmembers(&text, &len, &cap, 1, fmt, &ap);
    json_t *packed = NULL;
    if (rc == -ENOTSUP) { /* a format jsonw does not write: jansson's tree, dumped when sent */
        json_error_t jerr;
        packed = json_vpack_ex(&jerr, 0, fmt, ap);
        rc = packed != NULL ? 0 : -EINVAL;
        free(text);
        text = NULL;
    }
    va_end(ap);
    if (packed != NULL) {
        http_response_json(resp, status, packed);
        return;
    }
    if (rc == 0)
        rc = strbuf_append(&text, &len, &cap, "}", 1);
    json_decref(resp->json);
    resp->json = NULL;
    free(resp->text);
    resp->text = NULL;
    if (rc < 0) { /* a value that cannot be written: no body, and send_response's 500 */
        free(text);
        resp->status = 500;
        return;
    }
    resp->status = status;
    resp->text = text;
    resp->text_len = len;
    resp->content_type = "application/json";
}

void http_response_error(struct http_response *resp, unsigned status, const char *code,
                         const char *field, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    http_utf8_scrub(detail);
    json_t *body = json_pack("{s:s, s:s}", "detail", detail, "error", code);
    if (field != NULL && body != NULL) {
        char f[128];
        snprintf(f, sizeof f, "%s", field);
        http_utf8_scrub(f);
        json_object_set_new(body, "field", json_string(f));
    }
    http_response_json(resp, status, body);
}

static void add_cors(const struct http_server *srv, struct MHD_Connection *conn,
                     struct MHD_Response *r)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    bool wildcard;
    if (!http_origin_listed(srv->cors, origin, &wildcard))
        return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", wildcard ? "*" : origin);
    if (!wildcard)
        MHD_add_response_header(r, "Vary", "Origin");
    MHD_add_response_header(r, "Access-Control-Expose-Headers", "ETag, Retry-After");
}

/* CORS only decides what a page may read; a browser still sends a "simple" cross-origin
 * POST (a form, fetch with mode no-cors, an empty body) without asking, and the server would
 * act on it. So a request that may change something is refused when the browser says it
 * comes from a page of another origin that is not allowed. Requests without Origin (curl,
 * the CLI, edges) are not a browser's cross-origin requests and pass. */
static bool origin_may_change(const struct http_server *srv, struct MHD_Connection *conn,
                              const char *method)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0)
        return true;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (origin == NULL) {
        /* Fetch metadata without Origin (an older or unusual browser): it still says so. */
        const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
        return site == NULL || strcasecmp(site, "cross-site") != 0 ||
               (srv->cors != NULL && strcmp(srv->cors, "*") == 0);
    }
    bool wildcard;
    return http_same_origin(origin, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")) ||
           http_origin_listed(srv->cors, origin, &wildcard);
}

/* Answers this large (the controller list of a big layout) leave megabytes of freed
 * jansson nodes in malloc's arenas, which glibc keeps unless asked to give them back. */
#define LARGE_ANSWER (1024 * 1024)

static enum MHD_Result send_response(struct http_server *srv, struct MHD_Connection *conn,
                                     struct request_state *rs, struct http_response *resp)
{
    char *text = NULL;
    const char *ctype = "application/json";
    if (resp->status >= 400 && resp->json == NULL && resp->text == NULL)
        resp->json = json_pack("{s:s, s:s}", "detail", "the request could not be answered", "error",
                               resp->status >= 500 ? "internal_error" : "bad_request");
    if (resp->json != NULL) {
        text = json_dumps(resp->json, JSON_COMPACT);
    } else if (resp->text != NULL) {
        text = resp->text;
        resp->text = NULL;
        ctype = resp->content_type ? resp->content_type : "text/plain; charset=utf-8";
    }
    size_t len = text ? (resp->text_len > 0 ? resp->text_len : strlen(text)) : 0;
    if (len >= LARGE_ANSWER)
        rs->large = true; /* trimmed once sent, in on_completed */
    bool has_body = len > 0;
    struct MHD_Response *r;
    if (resp->file) { /* MHD closes the file with the response */
        resp->file = false;
        has_body = resp->file_len > 0;
        ctype = resp->content_type;
        r = MHD_create_response_from_fd64(resp->file_len, resp->file_fd);
        if (r == NULL)
            close(resp->file_fd);
    } else {
        r = MHD_create_response_from_buffer(len, text ? text : (void *)"",
                                            text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    if (has_body || resp->status >= 400)
        MHD_add_response_header(r, "Content-Type", ctype);
    if (resp->etag[0])
        MHD_add_response_header(r, "ETag", resp->etag);
    if (resp->retry_after > 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%d", resp->retry_after);
        MHD_add_response_header(r, "Retry-After", buf);
    }
    if (resp->allow[0])
        MHD_add_response_header(r, "Allow", resp->allow);
    if (resp->set_cookie[0])
        MHD_add_response_header(r, "Set-Cookie", resp->set_cookie);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    /* Every answer is what its Content-Type says: a browser never guesses (a photo's bytes
     * are never run as a script or page). */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    add_cors(srv, conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static bool is_json_type(const char *ctype)
{
    if (ctype == NULL)
        return false;
    size_t n = strcspn(ctype, ";");
    while (n > 0 && ctype[n - 1] == ' ')
        n--;
    return n == strlen("application/json") && strncasecmp(ctype, "application/json", n) == 0;
}

static void client_ip(struct MHD_Connection *conn, char *out, size_t len)
{
    snprintf(out, len, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

static void observe(struct http_server *srv, const struct request_state *rs, const char *method,
                    const char *route, unsigned status)
{
    if (srv->cfg.observe == NULL)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double s = (double)(now.tv_sec - rs->started.tv_sec) +
               (double)(now.tv_nsec - rs->started.tv_nsec) / 1e9;
    srv->cfg.observe(srv->cfg.ctx, method, route, status, s);
}

/* Called by MHD with the raw request line's URI, before it decodes it: the only place that
 * sees a %00, after which the decoded path handed to on_request would silently end. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct request_state *rs = calloc(1, sizeof *rs);
    if (rs != NULL && uri != NULL)
        rs->nul_in_uri = strstr(uri, "%00") != NULL;
    return rs;
}

struct framing {
    unsigned content_lengths;
    bool lengths_differ;
    const char *first_length;
    bool transfer_encoding;
    bool host_invalid;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct framing *f = cls;
    (void)kind;
    if (key == NULL || value == NULL)
        return MHD_YES;
    if (strcasecmp(key, "Content-Length") == 0) {
        if (f->content_lengths++ == 0)
            f->first_length = value;
        else if (strcmp(f->first_length, value) != 0)
            f->lengths_differ = true;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->transfer_encoding = true;
    } else if (strcasecmp(key, "Host") == 0) {
        f->host_invalid = f->host_invalid || !http_utf8_valid(value);
    }
    return MHD_YES;
}

/* Requests whose meaning is ambiguous are refused before any body is read (RFC 9112 §6.3:
 * two different Content-Lengths, or one beside Transfer-Encoding, frame the body in two
 * ways, the classic request smuggling); MHD closes the connection after the answer. */
static bool refuse_early(struct MHD_Connection *conn, const struct request_state *rs,
                         struct http_response *resp)
{
    struct framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &f);
    if (rs->nul_in_uri)
        http_response_error(resp, 400, "invalid_path", "path",
                            "the request URI contains an encoded NUL byte (%%00)");
    else if (f.lengths_differ)
        http_response_error(resp, 400, "invalid_header", "Content-Length",
                            "the request has Content-Length headers with different values");
    else if (f.content_lengths > 0 && f.transfer_encoding)
        http_response_error(resp, 400, "invalid_header", "Content-Length",
                            "the request has both Content-Length and Transfer-Encoding");
    else if (f.host_invalid)
        http_response_error(resp, 400, "invalid_header", "Host",
                            "the Host header is not valid UTF-8");
    else
        return false;
    return true;
}

/* The first call for a request: its limits chosen, and a request refused before any body is
 * read (refuse_early, an announced oversized body). */
static enum MHD_Result begin_request(struct http_server *srv, struct MHD_Connection *conn,
                                     struct request_state *rs, const char *url, const char *method)
{
    rs->begun = true;
    rs->started_ms = timeutil_mono_ms();
    clock_gettime(CLOCK_MONOTONIC, &rs->started);
    rs->max_body = srv->cfg.max_body;
    if (srv->cfg.bulk_path != NULL && strcmp(url, srv->cfg.bulk_path) == 0)
        rs->max_body = srv->cfg.bulk_max_body;
    rs->raw = srv->cfg.raw_body != NULL && srv->cfg.raw_body(method, url);
    if (rs->raw)
        rs->max_body = srv->cfg.raw_max_body;
    struct http_response early = {.status = 500, .retry_after = -1};
    if (refuse_early(conn, rs, &early)) {
        enum MHD_Result ret = send_response(srv, conn, rs, &early);
        observe(srv, rs, method, NULL, early.status);
        json_decref(early.json);
        return ret;
    }
    /* Refuse an announced oversized body before reading it. */
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) > rs->max_body)
        rs->too_large = true;
    return MHD_YES;
}

/* A piece of the body: kept up to max_body, past which the request is only marked too large
 * (and answered 413 once the body has gone by). */
static enum MHD_Result take_upload(struct request_state *rs, const char *data, size_t *size)
{
    size_t need = rs->len + *size;
    if (rs->too_large || need > rs->max_body) {
        rs->too_large = true;
        *size = 0;
        return MHD_YES;
    }
    if (strbuf_append(&rs->body, &rs->len, &rs->cap, data, *size) < 0)
        return MHD_NO;
    *size = 0;
    return MHD_YES;
}

/* A CORS preflight (OPTIONS): 204 with what the API accepts. */
static enum MHD_Result answer_preflight(struct http_server *srv, struct MHD_Connection *conn,
                                        const struct request_state *rs, const char *method)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Access-Control-Allow-Methods",
                            "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Content-Type, If-None-Match, X-Registration-Token");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    MHD_add_response_header(r, "Allow", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    add_cors(srv, conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    observe(srv, rs, method, NULL, MHD_HTTP_NO_CONTENT);
    return ret;
}

/* The answer of the worker's job for this request, when it is done: false while it runs. */
static bool job_collect(struct http_server *srv, struct request_state *rs,
                        struct http_response *resp)
{
    pthread_mutex_lock(&srv->job_lock);
    struct job *j = rs->job;
    bool done = j->done;
    if (done) {
        job_unlink(srv, j);
        rs->job = NULL;
    }
    pthread_mutex_unlock(&srv->job_lock);
    if (!done)
        return false;
    *resp = j->resp;
    free(j);
    return true;
}

/* The request, its body complete, through the checks every route shares and then the
 * handler. */
static void handle(struct http_server *srv, struct MHD_Connection *conn, struct request_state *rs,
                   const char *url, const char *method, struct http_response *resp)
{
    if (rs->too_large) {
        http_response_error(resp, 413, "payload_too_large", NULL,
                            "request body is larger than %zu bytes", rs->max_body);
    } else if (!origin_may_change(srv, conn, method)) {
        const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        log_event(RH_LOG_WARNING, "origin_refused", "{s:s, s:s, s:s?, s:s?}", "method", method,
                  "path", url, "origin", origin, "sec_fetch_site",
                  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site"));
        http_response_error(resp, 403, "origin_not_allowed", "Origin",
                            "requests that change something are not accepted from pages of "
                            "another origin (%.200s); the operator may allow it with "
                            "--cors-origins",
                            origin ? origin : "a cross-site page");
    } else if (rs->len > 0 && !rs->raw &&
               !is_json_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"))) {
        http_response_error(resp, 415, "unsupported_media_type", NULL,
                            "request body must be sent as Content-Type: application/json");
    } else {
        struct http_request req = {.method = method,
                                   .path = url,
                                   .body = rs->body ? rs->body : "",
                                   .body_len = rs->len,
                                   .started_ms = rs->started_ms,
                                   .conn = conn,
                                   .state = rs,
                                   .tls = srv->cfg.tls_cert_pem != NULL};
        /* Formatted once per connection: a kept-alive client sends many requests. */
        struct conn_info *cinfo = conn_info_of(conn);
        if (cinfo != NULL && cinfo->client_ip[0] == '\0')
            client_ip(conn, cinfo->client_ip, sizeof cinfo->client_ip);
        if (cinfo != NULL)
            memcpy(req.client_ip, cinfo->client_ip, sizeof req.client_ip);
        else
            client_ip(conn, req.client_ip, sizeof req.client_ip);
        srv->cfg.handler(srv->cfg.ctx, &req, resp);
    }
}

/* The answer queued: parked (suspended, or a stream that stays open), or sent. */
static enum MHD_Result finish(struct http_server *srv, struct MHD_Connection *conn,
                              struct request_state *rs, const char *url, const char *method,
                              struct http_response *resp)
{
    if (resp->suspended || resp->stream != NULL) {
        struct conn_info *ci = conn_info_of(conn);
        if (ci != NULL)
            ci->parked = true;
    }
    if (resp->suspended) {
        json_decref(resp->json);
        free(resp->text);
        return MHD_YES;
    }
    enum MHD_Result ret;
    if (resp->stream != NULL) {
        add_cors(srv, conn, resp->stream);
        ret = MHD_queue_response(conn, resp->status ? resp->status : 200, resp->stream);
        MHD_destroy_response(resp->stream);
        observe(srv, rs, method, resp->route, resp->status ? resp->status : 200);
        return ret;
    }
    ret = send_response(srv, conn, rs, resp);
    observe(srv, rs, method, resp->route, resp->status);
    log_event(RH_LOG_DEBUG, "http_request", "{s:s, s:s, s:i, s:I}", "method", method, "path", url,
              "code", (int)resp->status, "duration_ms",
              (json_int_t)(timeutil_mono_ms() - rs->started_ms));
    json_decref(resp->json);
    free(resp->text);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct request_state *rs = *con_cls;
    (void)version;
    if (rs == NULL) {
        rs = calloc(1, sizeof *rs);
        if (rs == NULL)
            return MHD_NO;
        *con_cls = rs;
    }
    if (!rs->begun)
        return begin_request(srv, conn, rs, url, method);
    if (*upload_data_size > 0)
        return take_upload(rs, upload_data, upload_data_size);
    struct http_response resp = {.status = 500, .retry_after = -1};
    if (rs->job != NULL) {
        if (!job_collect(srv, rs, &resp))
            return MHD_YES;
    } else if (!rs->too_large && strcmp(method, "OPTIONS") == 0) {
        return answer_preflight(srv, conn, rs, method);
    } else {
        handle(srv, conn, rs, url, method, &resp);
    }
    return finish(srv, conn, rs, url, method, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct request_state *rs = *con_cls;
    (void)toe;
    struct conn_info *ci = conn_info_of(conn);
    if (ci != NULL) {
        ci->since_ms = timeutil_mono_ms();
        ci->parked = false;
    }
    if (rs != NULL) {
        if (rs->job != NULL) { /* done, but the client left (or shutdown): never sent */
            pthread_mutex_lock(&srv->job_lock);
            job_unlink(srv, rs->job);
            pthread_mutex_unlock(&srv->job_lock);
            json_decref(rs->job->resp.json);
            free(rs->job->resp.text);
            if (rs->job->resp.file)
                close(rs->job->resp.file_fd);
            free(rs->job);
        }
        /* A large request body (an import) leaves its parsed tree's memory in malloc. */
        if (rs->cap >= LARGE_ANSWER || rs->large)
            srv->trim_pending = true;
        free(rs->body);
        free(rs);
        *con_cls = NULL;
    }
}

/* The server's thread. MHD runs in external-polling epoll mode, and this loop waits on MHD's
 * epoll descriptor and on the wake-up descriptor itself. MHD's own polling thread (0.9.75)
 * called epoll_wait again, with the full timeout, whenever one call had returned exactly its
 * batch of 128 events, before serving any of them: with 128 busy keep-alive connections
 * every round did, and the server all but stopped. MHD_run never blocks, so here that
 * second call returns at once. */
static void *serve(void *arg)
{
    struct http_server *srv = arg;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd fds[2] = {{.fd = di->epoll_fd, .events = POLLIN},
                            {.fd = srv->wake_fd, .events = POLLIN}};
    for (;;) {
        MHD_UNSIGNED_LONG_LONG wait_ms;
        int timeout = -1;
        if (MHD_get_timeout(srv->daemon, &wait_ms) == MHD_YES)
            timeout = wait_ms > INT_MAX ? INT_MAX : (int)wait_ms;
        if (srv->conns != NULL && (timeout < 0 || timeout > 1000))
            timeout = 1000; /* sweep_slow */
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            log_event(RH_LOG_ERROR, "http_poll_failed", "{s:s}", "error", strerror(errno));
            usleep(10000); /* never spin on a persistent error */
        }
        if (fds[1].revents != 0) {
            uint64_t n;
            if (read(srv->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
                log_event(RH_LOG_ERROR, "http_wake_failed", "{s:s}", "error", strerror(errno));
            if (atomic_load(&srv->stopping)) {
                log_hold_free();
                return NULL;
            }
        }
        /* The round's access and registration lines go out in one write, after its answers. */
        log_hold();
        MHD_run(srv->daemon);
        log_release();
        sweep_slow(srv);
        if (srv->trim_pending) {
            srv->trim_pending = false;
            srv->closed = 0;
            malloc_trim(0);
        }
    }
}

static void server_free(struct http_server *srv)
{
    if (srv->daemon != NULL)
        MHD_stop_daemon(srv->daemon);
    pthread_mutex_destroy(&srv->job_lock);
    pthread_cond_destroy(&srv->job_cond);
    if (srv->wake_fd >= 0)
        close(srv->wake_fd);
    free(srv->cors);
    free(srv);
}

/* The socket address of cfg's numeric host and port; MHD_USE_IPv6 added to *flags for an
 * IPv6 one. -EINVAL with err written for anything else. */
static int listen_address(const struct http_server_config *cfg, struct sockaddr_storage *ss,
                          unsigned *flags, char *err, size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, cfg->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->port);
        *flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "listen address '%s' is not a numeric IPv4 or IPv6 address",
                 cfg->host);
        return -EINVAL;
    }
    return 0;
}

int http_server_start(const struct http_server_config *cfg, struct http_server **out, char *err,
                      size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    int rc = listen_address(cfg, &ss, &flags, err, errlen);
    if (rc < 0)
        return rc;
    bool tls = cfg->tls_cert_pem != NULL && cfg->tls_key_pem != NULL;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen,
                 "this libmicrohttpd was built without TLS support: HTTPS "
                 "(--tls-cert) is not available");
        return -EPROTONOSUPPORT;
    }
    if (tls)
        flags |= MHD_USE_TLS;
    struct http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return -ENOMEM;
    srv->cfg = *cfg;
    if (!tls)
        srv->cfg.tls_cert_pem = srv->cfg.tls_key_pem = NULL;
    srv->cors = cfg->cors_origins ? strdup(cfg->cors_origins) : NULL;
    pthread_mutex_init(&srv->job_lock, NULL);
    pthread_cond_init(&srv->job_cond, NULL);
    srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->wake_fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create the server's wake-up descriptor: %s", strerror(-rc));
        server_free(srv);
        return rc;
    }
    /* The per-connection memory pool holds request and response headers (bodies go to
     * request_state). MHD zeroes all of it for every request on a kept-alive connection,
     * so it is kept small: at 64 KiB that memset was 6 % of the CPU under registrations. */
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->max_connections_per_ip ? cfg->max_connections_per_ip : cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->request_timeout ? cfg->request_timeout : 60U,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
        /* MHD reads its options up to MHD_OPTION_END: without TLS the certificate options
         * are left out that way. */
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cfg->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use or not permitted%s)",
                 cfg->host, cfg->port,
                 tls ? ", or the TLS certificate or key was refused by GnuTLS" : "");
        server_free(srv);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    rc = pthread_create(&srv->thread, NULL, serve, srv);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the HTTP thread: %s", strerror(rc));
        server_free(srv);
        return -rc;
    }
    srv->thread_started = true;
    rc = pthread_create(&srv->worker, NULL, work, srv);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the HTTP worker thread: %s", strerror(rc));
        http_server_stop(srv);
        return -rc;
    }
    srv->worker_started = true;
    *out = srv;
    return 0;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stop(struct http_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->worker_started) {
        pthread_mutex_lock(&srv->job_lock);
        srv->worker_stop = true;
        pthread_cond_broadcast(&srv->job_cond);
        pthread_mutex_unlock(&srv->job_lock);
        pthread_join(srv->worker, NULL);
        /* What never ran is answered 503, so no connection stays suspended. */
        pthread_mutex_lock(&srv->job_lock);
        for (struct job *j = srv->jobs; j != NULL; j = j->next) {
            if (j->done)
                continue;
            http_response_error(&j->resp, 503, "shutting_down", NULL, "the server is stopping");
            j->done = true;
            MHD_resume_connection(j->conn);
        }
        pthread_mutex_unlock(&srv->job_lock);
    }
    if (srv->thread_started) {
        atomic_store(&srv->stopping, true);
        wake(srv);
        pthread_join(srv->thread, NULL);
    }
    server_free(srv);
}
