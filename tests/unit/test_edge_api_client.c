/* The edge's HTTP client (api_client.h) against a real listening socket on 127.0.0.1, served
 * from the same thread: the scripted server's descriptors are the "caller's descriptors" of
 * api_client_poll, so one loop drives both ends. Also the response parser (response_parser.h)
 * fed byte by byte. Loopback only; every wait is bounded. */
/* strcasestr, accept4 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_client.h"
#include "response_parser.h"
#include "timeutil.h"

#define SRV_CONNS 4
#define RUN_LIMIT_MS 5000

enum srv_mode {
    SRV_ANSWER,        /* the answer, then keep the connection open */
    SRV_ANSWER_CLOSE,  /* the answer, then close */
    SRV_SILENT,        /* read the request, never answer */
    SRV_ECHO_REVERSED, /* wait for all expected requests, answer each with its path, last first */
};

struct srv_conn {
    int fd;
    char req[16384];
    size_t req_len;
    bool req_done;
    char *out; /* owned */
    size_t out_len, out_off;
    bool answering;
};

struct srv {
    int lfd;
    int port;
    enum srv_mode mode;
    const char *answer;
    size_t answer_len;
    size_t expect; /* SRV_ECHO_REVERSED: how many requests */
    struct srv_conn c[SRV_CONNS];
    size_t nconn;
};

struct done_log {
    int n;
    int tags[8];
    long status[8];
    char error[8][160];
    char body[8][256];
    size_t body_len[8];
    int64_t retry_after_ms[8];
    char etag[8][64];
};

static void on_done(void *ctx, int tag, const struct api_response *r)
{
    struct done_log *d = ctx;
    assert_true(d->n < 8);
    int i = d->n++;
    d->tags[i] = tag;
    d->status[i] = r->status;
    snprintf(d->error[i], sizeof d->error[i], "%s", r->error ? r->error : "");
    snprintf(d->body[i], sizeof d->body[i], "%s", r->body);
    d->body_len[i] = r->body_len;
    d->retry_after_ms[i] = r->retry_after_ms;
    snprintf(d->etag[i], sizeof d->etag[i], "%s", r->etag ? r->etag : "(none)");
    assert_non_null(r->body);
    assert_true(r->status == 0 ? r->error != NULL : r->error == NULL);
}

static void srv_open(struct srv *s, enum srv_mode mode, const char *answer, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->answer = answer;
    s->answer_len = len;
    for (int i = 0; i < SRV_CONNS; i++)
        s->c[i].fd = -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
}

static void srv_close(struct srv *s)
{
    for (size_t i = 0; i < s->nconn; i++) {
        if (s->c[i].fd >= 0)
            close(s->c[i].fd);
        free(s->c[i].out);
    }
    close(s->lfd);
}

static char *base_url(const struct srv *s, char *buf, size_t len)
{
    snprintf(buf, len, "http://127.0.0.1:%d", s->port);
    return buf;
}

/* Whether the request head and its Content-Length body have arrived. */
static bool request_complete(struct srv_conn *c)
{
    c->req[c->req_len] = '\0';
    char *end = strstr(c->req, "\r\n\r\n");
    if (end == NULL)
        return false;
    size_t head = (size_t)(end + 4 - c->req);
    long cl = 0;
    const char *h = strcasestr(c->req, "\r\nContent-Length: ");
    if (h != NULL && h < end)
        cl = strtol(h + 18, NULL, 10);
    return c->req_len >= head + (size_t)cl;
}

static void conn_answer(struct srv_conn *c, const char *data, size_t len)
{
    c->out = malloc(len);
    assert_non_null(c->out);
    memcpy(c->out, data, len);
    c->out_len = len;
    c->answering = true;
}

static void srv_echo_reversed(struct srv *s)
{
    size_t done = 0;
    for (size_t i = 0; i < s->nconn; i++)
        done += s->c[i].req_done;
    if (done < s->expect || s->c[0].answering)
        return;
    for (size_t k = s->nconn; k-- > 0;) {
        struct srv_conn *c = &s->c[k];
        char path[128], resp[256];
        assert_int_equal(sscanf(c->req, "%*s %127s", path), 1);
        int n = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(path), path);
        conn_answer(c, resp, (size_t)n);
    }
}

/* One pass of the server over the descriptors api_client_poll reported on. */
static void srv_serve(struct srv *s, struct pollfd *fds, unsigned n)
{
    if (fds[0].revents & POLLIN) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            assert_true(s->nconn < SRV_CONNS);
            s->c[s->nconn++].fd = fd;
        }
    }
    for (unsigned i = 1; i < n; i++) {
        struct srv_conn *c = NULL;
        for (size_t k = 0; k < s->nconn; k++)
            if (s->c[k].fd == fds[i].fd)
                c = &s->c[k];
        if (c == NULL || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t r = recv(c->fd, c->req + c->req_len, sizeof c->req - 1 - c->req_len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            close(c->fd); /* the client hung up */
            c->fd = -1;
            continue;
        }
        if (r > 0) {
            c->req_len += (size_t)r;
            if (!c->req_done && request_complete(c)) {
                c->req_done = true;
                if (s->mode == SRV_ANSWER || s->mode == SRV_ANSWER_CLOSE)
                    conn_answer(c, s->answer, s->answer_len);
            }
        }
    }
    if (s->mode == SRV_ECHO_REVERSED)
        srv_echo_reversed(s);
    /* Writes never block: the client reads in this same thread. */
    for (size_t k = 0; k < s->nconn; k++) {
        struct srv_conn *c = &s->c[k];
        while (c->fd >= 0 && c->answering && c->out_off < c->out_len) {
            ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0) {
                if (errno != EAGAIN) {
                    close(c->fd);
                    c->fd = -1;
                }
                break;
            }
            c->out_off += (size_t)w;
        }
        if (c->fd >= 0 && c->answering && c->out_off == c->out_len && s->mode == SRV_ANSWER_CLOSE) {
            close(c->fd);
            c->fd = -1;
        }
    }
}

/* Runs client and server until `want` callbacks came, failing after RUN_LIMIT_MS. */
static void run(struct api_client *cl, struct srv *s, struct done_log *d, int want)
{
    int64_t end = timeutil_mono_ms() + RUN_LIMIT_MS;
    while (d->n < want) {
        struct pollfd fds[1 + SRV_CONNS];
        unsigned n = 0;
        fds[n++] = (struct pollfd){.fd = s ? s->lfd : -1, .events = POLLIN};
        for (size_t k = 0; s != NULL && k < s->nconn; k++)
            if (s->c[k].fd >= 0)
                fds[n++] = (struct pollfd){.fd = s->c[k].fd, .events = POLLIN};
        int rc = api_client_poll(cl, fds, n, 5);
        assert_true(rc >= 0);
        int ready = 0;
        for (unsigned i = 0; i < n; i++)
            ready += fds[i].revents != 0;
        assert_int_equal(rc, ready);
        if (s != NULL)
            srv_serve(s, fds, n);
        assert_true(timeutil_mono_ms() < end);
    }
}

static void call_get(struct api_client *cl, struct done_log *d, const char *path, long timeout_ms)
{
    struct api_call call = {.tag = 7, .method = "GET", .path = path, .timeout_ms = timeout_ms};
    assert_int_equal(api_client_start(cl, &call, on_done, d), 0);
}

/* One GET against a server answering `answer`; the callback's record in d. */
static void get_once(enum srv_mode mode, const char *answer, size_t len, long timeout_ms,
                     struct done_log *d)
{
    struct srv s;
    char url[64];
    srv_open(&s, mode, answer, len);
    struct api_client *cl = api_client_new(base_url(&s, url, sizeof url));
    assert_non_null(cl);
    memset(d, 0, sizeof *d);
    call_get(cl, d, "/api/x", timeout_ms);
    run(cl, &s, d, 1);
    assert_int_equal(api_client_pending(cl), 0);
    api_client_free(cl);
    srv_close(&s);
}

static void test_post_200_with_content_length(void **state)
{
    (void)state;
    static const char answer[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 11\r\n\r\n{\"ok\":true}";
    struct srv s;
    struct done_log d = {0};
    char url[64];
    srv_open(&s, SRV_ANSWER, answer, sizeof answer - 1);
    struct api_client *cl = api_client_new(base_url(&s, url, sizeof url));
    assert_non_null(cl);
    json_t *body = json_pack("{s:s}", "name", "pi-1");
    struct api_call call = {.tag = 3,
                            .method = "POST",
                            .path = "/api/controllers/register",
                            .body = body,
                            .if_none_match = "\"abc\"",
                            .header = "X-Registration-Token: t0k"};
    assert_int_equal(api_client_start(cl, &call, on_done, &d), 0);
    json_decref(body);
    assert_int_equal(api_client_pending(cl), 1);
    assert_int_equal(d.n, 0); /* never called from api_client_start */
    run(cl, &s, &d, 1);
    assert_int_equal(d.tags[0], 3);
    assert_int_equal(d.status[0], 201);
    assert_string_equal(d.error[0], "");
    assert_string_equal(d.body[0], "{\"ok\":true}");
    assert_int_equal(d.body_len[0], 11);
    assert_int_equal(d.retry_after_ms[0], -1);
    assert_string_equal(d.etag[0], "(none)");
    /* What went over the wire. */
    const char *req = s.c[0].req;
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    assert_true(strncmp(req, "POST /api/controllers/register HTTP/1.1\r\n", 41) == 0);
    assert_non_null(strstr(req, host));
    assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Length: 15\r\n"));
    assert_non_null(strstr(req, "\r\nIf-None-Match: \"abc\"\r\n"));
    assert_non_null(strstr(req, "\r\nX-Registration-Token: t0k\r\n"));
    assert_non_null(strstr(req, "\r\n\r\n{\"name\":\"pi-1\"}"));
    api_client_free(cl);
    srv_close(&s);
}

static void test_chunked(void **state)
{
    (void)state;
    static const char answer[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "4\r\n{\"a\"\r\n3;ext=1\r\n:12\r\n1\r\n}\r\n0\r\n\r\n";
    struct done_log d;
    get_once(SRV_ANSWER, answer, sizeof answer - 1, 0, &d);
    assert_int_equal(d.status[0], 200);
    assert_string_equal(d.body[0], "{\"a\":12}");
    assert_int_equal(d.body_len[0], 8);
}

static void test_body_until_close(void **state)
{
    (void)state;
    static const char answer[] = "HTTP/1.1 200 OK\r\n\r\nall of it";
    struct done_log d;
    get_once(SRV_ANSWER_CLOSE, answer, sizeof answer - 1, 0, &d);
    assert_int_equal(d.status[0], 200);
    assert_string_equal(d.body[0], "all of it");
}

static void test_304_with_etag(void **state)
{
    (void)state;
    /* No body and no close: the status alone ends the answer. */
    static const char answer[] = "HTTP/1.1 304 Not Modified\r\nETag:   \"v7-abc\"  \r\n\r\n";
    struct done_log d;
    get_once(SRV_ANSWER, answer, sizeof answer - 1, 0, &d);
    assert_int_equal(d.status[0], 304);
    assert_string_equal(d.etag[0], "\"v7-abc\"");
    assert_int_equal(d.body_len[0], 0);
    assert_string_equal(d.body[0], "");
}

static void test_429_with_retry_after(void **state)
{
    (void)state;
    static const char answer[] = "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\n"
                                 "Content-Length: 2\r\n\r\n{}";
    struct done_log d;
    get_once(SRV_ANSWER, answer, sizeof answer - 1, 0, &d);
    assert_int_equal(d.status[0], 429);
    assert_int_equal(d.retry_after_ms[0], 7000);
    assert_string_equal(d.body[0], "{}");
}

static void test_closed_mid_body(void **state)
{
    (void)state;
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial";
    struct done_log d;
    get_once(SRV_ANSWER_CLOSE, answer, sizeof answer - 1, 0, &d);
    assert_int_equal(d.status[0], 0);
    assert_non_null(strstr(d.error[0], "closed before the response was complete"));
    assert_int_equal(d.body_len[0], 0);
}

static void test_malformed_answer(void **state)
{
    (void)state;
    static const char answer[] = "HTTP/1.1 2x0 OK\r\n\r\n";
    struct done_log d;
    get_once(SRV_ANSWER, answer, sizeof answer - 1, 0, &d);
    assert_int_equal(d.status[0], 0);
    assert_non_null(strstr(d.error[0], "malformed response"));
}

static void test_oversized_body_announced(void **state)
{
    (void)state;
    char answer[128];
    int n = snprintf(answer, sizeof answer, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{",
                     API_BODY_MAX + 1);
    struct done_log d;
    get_once(SRV_ANSWER, answer, (size_t)n, 0, &d);
    assert_int_equal(d.status[0], 0);
    assert_non_null(strstr(d.error[0], "response body too large"));
}

static void test_oversized_body_chunked(void **state)
{
    (void)state;
    /* No length announced: the bound is enforced as the body arrives. */
    const size_t chunk = 65536, chunks = API_BODY_MAX / 65536 + 2;
    size_t cap = 64 + chunks * (chunk + 16), len = 0;
    char *answer = malloc(cap);
    assert_non_null(answer);
    len += (size_t)snprintf(answer, cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < chunks; i++) {
        len += (size_t)snprintf(answer + len, cap - len, "%zx\r\n", chunk);
        memset(answer + len, 'x', chunk);
        len += chunk;
        memcpy(answer + len, "\r\n", 2);
        len += 2;
    }
    len += (size_t)snprintf(answer + len, cap - len, "0\r\n\r\n");
    struct done_log d;
    get_once(SRV_ANSWER, answer, len, 0, &d);
    free(answer);
    assert_int_equal(d.status[0], 0);
    assert_non_null(strstr(d.error[0], "response body too large"));
}

static void test_no_answer_times_out(void **state)
{
    (void)state;
    struct done_log d;
    int64_t t0 = timeutil_mono_ms();
    get_once(SRV_SILENT, NULL, 0, 300, &d);
    int64_t took = timeutil_mono_ms() - t0;
    assert_int_equal(d.status[0], 0);
    assert_non_null(strstr(d.error[0], "within 300 ms"));
    assert_true(took >= 300);
}

static void test_refused(void **state)
{
    (void)state;
    struct srv s;
    struct done_log d = {0};
    char url[64];
    /* A port that was just free: nothing listens on it once closed. */
    srv_open(&s, SRV_SILENT, NULL, 0);
    base_url(&s, url, sizeof url);
    srv_close(&s);
    struct api_client *cl = api_client_new(url);
    assert_non_null(cl);
    call_get(cl, &d, "/api/x", 0);
    run(cl, NULL, &d, 1);
    assert_int_equal(d.status[0], 0);
    assert_non_null(strstr(d.error[0], "Connection refused"));
    api_client_free(cl);
}

static void test_localhost_name(void **state)
{
    (void)state;
    /* Looked up with getaddrinfo_a; ::1 (refused, nothing listens there) may come first. */
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct srv s;
    struct done_log d = {0};
    char url[64];
    srv_open(&s, SRV_ANSWER, answer, sizeof answer - 1);
    snprintf(url, sizeof url, "http://localhost:%d", s.port);
    struct api_client *cl = api_client_new(url);
    assert_non_null(cl);
    call_get(cl, &d, "/a", 0);
    run(cl, &s, &d, 1);
    assert_int_equal(d.status[0], 200);
    assert_string_equal(d.body[0], "ok");
    /* The second request uses the address looked up for the first. */
    call_get(cl, &d, "/b", 0);
    run(cl, &s, &d, 2);
    assert_int_equal(d.status[1], 200);
    api_client_free(cl);
    srv_close(&s);
}

static void test_concurrent_requests(void **state)
{
    (void)state;
    struct srv s;
    struct done_log d = {0};
    char url[64];
    srv_open(&s, SRV_ECHO_REVERSED, NULL, 0);
    s.expect = 3;
    struct api_client *cl = api_client_new(base_url(&s, url, sizeof url));
    assert_non_null(cl);
    const char *paths[3] = {"/one", "/two", "/three"};
    for (int i = 0; i < 3; i++) {
        struct api_call call = {.tag = 10 + i, .method = "GET", .path = paths[i]};
        assert_int_equal(api_client_start(cl, &call, on_done, &d), 0);
    }
    assert_int_equal(api_client_pending(cl), 3);
    run(cl, &s, &d, 3);
    assert_int_equal(api_client_pending(cl), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d.status[i], 200);
        assert_string_equal(d.body[i], paths[d.tags[i] - 10]);
    }
    api_client_free(cl);
    srv_close(&s);
}

static void test_free_with_requests_in_flight(void **state)
{
    (void)state;
    struct srv s;
    struct done_log d = {0};
    char url[64];
    srv_open(&s, SRV_SILENT, NULL, 0);
    struct api_client *cl = api_client_new(base_url(&s, url, sizeof url));
    assert_non_null(cl);
    call_get(cl, &d, "/held", 0);
    for (int i = 0; i < 20 && s.nconn == 0; i++) {
        struct pollfd fd = {.fd = s.lfd, .events = POLLIN};
        assert_true(api_client_poll(cl, &fd, 1, 10) >= 0);
        srv_serve(&s, &fd, 1);
    }
    assert_int_equal(s.nconn, 1);
    api_client_free(cl); /* no callback, no leak (ASan) */
    assert_int_equal(d.n, 0);
    srv_close(&s);
}

static void test_bad_calls_and_urls(void **state)
{
    (void)state;
    struct done_log d = {0};
    assert_int_equal(api_client_check_url("http://central:8000"), 0);
    assert_int_equal(api_client_check_url("http://10.0.0.5"), 0);
    assert_int_equal(api_client_check_url("http://[::1]:8000/prefix"), 0);
    assert_int_equal(api_client_check_url("https://central:8443"), 0);
    assert_true(api_client_url_is_https("https://central"));
    assert_false(api_client_url_is_https("http://central"));
    assert_int_equal(api_client_check_url("ftp://central"), -EINVAL);
    assert_int_equal(api_client_check_url("http://central:0"), -EINVAL);
    assert_int_equal(api_client_check_url("http://user@central"), -EINVAL);
    assert_int_equal(api_client_check_url("central:8000"), -EINVAL);
    /* An https client without trust set up fails its requests, never sends in the clear. */
    struct api_client *tc = api_client_new("https://central:8443");
    assert_non_null(tc);
    api_client_free(tc);
    struct api_client *cl = api_client_new("http://127.0.0.1:9");
    assert_non_null(cl);
    /* Header injection through a value taken from a response (ETag) is refused. */
    struct api_call call = {.method = "GET", .path = "/x", .if_none_match = "\"a\"\r\nX-Evil: 1"};
    assert_int_equal(api_client_start(cl, &call, on_done, &d), -EINVAL);
    call = (struct api_call){.method = "GET", .path = "/x\r\n"};
    assert_int_equal(api_client_start(cl, &call, on_done, &d), -EINVAL);
    assert_int_equal(api_client_pending(cl), 0);
    api_client_free(cl);
    api_client_free(NULL);
}

/* --- the parser alone --------------------------------------------------------------------- */

static int feed_bytewise(struct response_parser *r, const char *s, size_t len)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
        rc = response_parser_feed(r, s + i, 1);
    return rc;
}

static void test_parser_byte_by_byte(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 100 Continue\r\nETag: \"early\"\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nX-Long-Header-Name-Here: 1\r\nETag: \"v2\"\r\n"
                               "Retry-After: 12\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n0\r\n\r\nHTTP/1.1 500 Trailing garbage";
    struct response_parser r;
    response_parser_init(&r, 64);
    assert_int_equal(feed_bytewise(&r, resp, sizeof resp - 1), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.etag, "\"v2\"");
    assert_int_equal(r.retry_after_ms, 12000);
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "hello");
    response_parser_clear(&r);

    /* An HTTP-date Retry-After and an ETag too long to send back are both "absent". */
    char big[600];
    int n = snprintf(big, sizeof big,
                     "HTTP/1.1 503 Busy\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n"
                     "ETag: \"%0400d\"\r\nContent-Length: 0\r\n\r\n",
                     0);
    response_parser_init(&r, 64);
    assert_int_equal(feed_bytewise(&r, big, (size_t)n), 1);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after_ms, -1);
    assert_string_equal(r.etag, "");
    response_parser_clear(&r);
}

static void test_parser_eof(void **state)
{
    (void)state;
    struct response_parser r;
    response_parser_init(&r, 64);
    assert_int_equal(response_parser_eof(&r), -ENODATA);
    response_parser_clear(&r);

    response_parser_init(&r, 64);
    assert_int_equal(response_parser_feed(&r, "HTTP/1.1 200 OK\r\nContent-Le", 27), 0);
    assert_int_equal(response_parser_eof(&r), -ECONNRESET);
    response_parser_clear(&r);

    response_parser_init(&r, 4);
    assert_int_equal(response_parser_feed(&r, "HTTP/1.0 200 OK\r\n\r\nabcd", 23), 0);
    assert_int_equal(response_parser_eof(&r), 1);
    assert_string_equal(r.body, "abcd");
    response_parser_clear(&r);

    response_parser_init(&r, 4);
    assert_int_equal(response_parser_feed(&r, "HTTP/1.0 200 OK\r\n\r\nabcde", 24), -EFBIG);
    assert_int_equal(response_parser_feed(&r, "x", 1), -EFBIG); /* the failure sticks */
    response_parser_clear(&r);

    response_parser_init(&r, 64);
    assert_int_equal(response_parser_feed(&r, "SSH-2.0-OpenSSH\r\n", 17), -EPROTO);
    response_parser_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_200_with_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_body_until_close),
        cmocka_unit_test(test_304_with_etag),
        cmocka_unit_test(test_429_with_retry_after),
        cmocka_unit_test(test_closed_mid_body),
        cmocka_unit_test(test_malformed_answer),
        cmocka_unit_test(test_oversized_body_announced),
        cmocka_unit_test(test_oversized_body_chunked),
        cmocka_unit_test(test_no_answer_times_out),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_localhost_name),
        cmocka_unit_test(test_concurrent_requests),
        cmocka_unit_test(test_free_with_requests_in_flight),
        cmocka_unit_test(test_bad_calls_and_urls),
        cmocka_unit_test(test_parser_byte_by_byte),
        cmocka_unit_test(test_parser_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
