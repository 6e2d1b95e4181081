#include "api_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "response_parser.h"
#include "resolve.h"
#include "strbuf.h"
#include "timeutil.h"

#define API_ADDR_MAX RESOLVE_ADDRS_MAX
/* A looked-up name is used for this long; a central that moved is found at the next one. */
#define API_RESOLVE_TTL_MS 30000
/* A lookup is asked, not waited for: how often the loop looks while it runs. */
#define API_RESOLVE_POLL_MS 10
/* Reads per request and loop pass: a server streaming without end cannot hold the loop. */
#define API_READS_PER_PASS 64

enum req_state { REQ_RESOLVE, REQ_CONNECT, REQ_HANDSHAKE, REQ_SEND, REQ_RECV, REQ_DONE };

struct api_req {
    struct api_req *next;
    enum req_state state;
    int fd;
    SSL *ssl;   /* https: the connection's TLS state, from REQ_HANDSHAKE on */
    short want; /* https: the poll events OpenSSL waits for (WANT_READ / WANT_WRITE) */
    int pidx;   /* slot in the client's pollfd array during one poll, -1: none */
    size_t addr_next;
    int last_errno; /* of the last address tried */
    char *out;
    size_t out_len, out_off;
    struct response_parser resp;
    int64_t started_ms, connect_deadline_ms, deadline_ms;
    bool ok; /* REQ_DONE with a complete response */
    char error[160];
    int tag;
    api_done_fn done;
    void *ctx;
};

struct api_client {
    char host[256]; /* without the brackets of an IPv6 literal */
    char port[8];
    char authority[300]; /* the Host header */
    char prefix[512];    /* path of the base URL, "" or "/..." without trailing slash */
    bool numeric;        /* host is an IP literal: its address never changes */
    bool https;
    SSL_CTX *ssl_ctx; /* https: made by api_client_tls_setup */
    struct tls_pins pins;
    bool verify; /* OpenSSL checks chain and host name (false: pins only) */
    struct resolve_addr addrs[API_ADDR_MAX];
    size_t naddrs;
    int64_t resolved_ms;
    struct resolve_job *lookup; /* the lookup in progress (resolve.h), NULL: none */
    struct api_req *reqs;
    size_t pending;
    struct pollfd *pfds;
    size_t pfds_cap;
};

/* --- base URL ------------------------------------------------------------------------- */

struct url_parts {
    char host[256];
    char port[8];
    char authority[300];
    char prefix[512];
    bool v6;
    bool https;
};

static int url_split(const char *url, struct url_parts *out)
{
    struct http_parser_url u;
    size_t len = strlen(url);
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, len, 0, &u) != 0)
        return -EINVAL;
    if (!(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
        return -EINVAL;
    const char *schema = url + u.field_data[UF_SCHEMA].off;
    size_t slen = u.field_data[UF_SCHEMA].len;
    out->https = slen == 5 && strncasecmp(schema, "https", 5) == 0;
    if (!out->https && (slen != 4 || strncasecmp(schema, "http", 4) != 0))
        return -EINVAL;
    if (u.field_set & ((1 << UF_QUERY) | (1 << UF_FRAGMENT) | (1 << UF_USERINFO)))
        return -EINVAL;
    size_t hlen = u.field_data[UF_HOST].len;
    const char *host = url + u.field_data[UF_HOST].off;
    if (hlen == 0 || hlen >= sizeof out->host)
        return -EINVAL;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->v6 = host > url && host[-1] == '[';
    unsigned port = (u.field_set & (1 << UF_PORT)) ? u.port : out->https ? 443 : 80;
    if (port == 0)
        return -EINVAL;
    snprintf(out->port, sizeof out->port, "%u", port);
    int n = snprintf(out->authority, sizeof out->authority, "%s%s%s:%u", out->v6 ? "[" : "",
                     out->host, out->v6 ? "]" : "", port);
    if (n < 0 || (size_t)n >= sizeof out->authority)
        return -EINVAL;
    out->prefix[0] = '\0';
    if (u.field_set & (1 << UF_PATH)) {
        size_t plen = u.field_data[UF_PATH].len;
        if (plen >= sizeof out->prefix)
            return -EINVAL;
        memcpy(out->prefix, url + u.field_data[UF_PATH].off, plen);
        out->prefix[plen] = '\0';
        while (plen > 0 && out->prefix[plen - 1] == '/')
            out->prefix[--plen] = '\0';
    }
    return 0;
}

int api_client_check_url(const char *base_url)
{
    struct url_parts p;
    return url_split(base_url, &p);
}

bool api_client_url_is_https(const char *base_url)
{
    struct url_parts p;
    return url_split(base_url, &p) == 0 && p.https;
}

/* --- addresses -------------------------------------------------------------------------- */

static void resolver_hints(struct addrinfo *h, int flags)
{
    memset(h, 0, sizeof *h);
    h->ai_family = AF_UNSPEC;
    h->ai_socktype = SOCK_STREAM;
    h->ai_flags = flags | AI_NUMERICSERV;
}

/* A lookup still running is abandoned, not waited for (resolve.h). */
static void resolver_stop(struct api_client *c)
{
    resolve_drop(c->lookup);
    c->lookup = NULL;
}

/* --- client ------------------------------------------------------------------------------- */

struct api_client *api_client_new(const char *base_url)
{
    struct url_parts p;
    struct api_client *c = NULL;
    if (base_url == NULL) {
        c = calloc(1, sizeof *c);
        if (c != NULL) {
            c->resolved_ms = -1;
            c->numeric = true; /* nothing to look up */
        }
        return c; /* host "": no central */
    }
    if (url_split(base_url, &p) < 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    memcpy(c->host, p.host, sizeof c->host);
    memcpy(c->port, p.port, sizeof c->port);
    memcpy(c->authority, p.authority, sizeof c->authority);
    memcpy(c->prefix, p.prefix, sizeof c->prefix);
    c->https = p.https;
    c->resolved_ms = -1;

    /* An IP literal is converted here, without any lookup, once. */
    struct addrinfo hints, *ai = NULL;
    resolver_hints(&hints, AI_NUMERICHOST);
    if (getaddrinfo(c->host, c->port, &hints, &ai) == 0) {
        c->naddrs = resolve_addrs_copy(c->addrs, API_ADDR_MAX, ai);
        c->numeric = c->naddrs > 0;
        freeaddrinfo(ai);
    }
    return c;
}

int api_client_tls_setup(struct api_client *c, const struct api_tls *tls, char *err, size_t errlen)
{
    if (!c->https)
        return 0;
    bool pinned = tls->pins != NULL && tls->pins->n > 0;
    struct tls_client_opts o = {.ca_file = tls->ca_file, .verify = !pinned || tls->ca_file};
    SSL_CTX *ctx = NULL;
    int rc = tls_client_ctx_new(&o, &ctx, err, errlen);
    if (rc < 0)
        return rc;
    /* The central closes after its answer; one that skips close_notify is not an error:
     * the answer's Content-Length tells whether it arrived whole. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_free(c->ssl_ctx);
    c->ssl_ctx = ctx;
    c->verify = o.verify;
    c->pins = pinned ? *tls->pins : (struct tls_pins){0};
    return 0;
}

static void req_close(struct api_req *r)
{
    SSL_free(r->ssl); /* no close_notify: the request is over either way */
    r->ssl = NULL;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static void req_free(struct api_req *r)
{
    SSL_free(r->ssl);
    if (r->fd >= 0)
        close(r->fd);
    response_parser_clear(&r->resp);
    free(r->out);
    free(r);
}

void api_client_free(struct api_client *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL) {
        struct api_req *r = c->reqs;
        c->reqs = r->next;
        req_free(r);
    }
    resolver_stop(c);
    SSL_CTX_free(c->ssl_ctx);
    free(c->pfds);
    free(c);
}

static bool has_line_break(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

int api_client_start(struct api_client *c, const struct api_call *call, api_done_fn done, void *ctx)
{
    struct api_req *r = NULL;
    char *payload = NULL;
    size_t cap = 0;
    int rc = -ENOMEM;

    if (has_line_break(call->method) || has_line_break(call->path) ||
        has_line_break(call->if_none_match) || has_line_break(call->header) ||
        has_line_break(call->header2) || call->method == NULL || call->path == NULL)
        return -EINVAL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        goto fail;
    r->fd = -1;
    r->pidx = -1;
    r->tag = call->tag;
    r->done = done;
    r->ctx = ctx;
    response_parser_init(&r->resp, API_BODY_MAX);
    if (call->body != NULL) {
        payload = json_dumps(call->body, JSON_COMPACT);
        if (payload == NULL)
            goto fail;
    }
    rc = strbuf_appendf(&r->out, &r->out_len, &cap,
                        "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: roundhouse-edge/%s\r\n"
                        "Accept: application/json\r\nConnection: close\r\n",
                        call->method, c->prefix, call->path, c->authority, ROUNDHOUSE_VERSION);
    if (rc == 0 && payload != NULL)
        rc = strbuf_appendf(&r->out, &r->out_len, &cap,
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                            strlen(payload));
    else if (rc == 0 && strcmp(call->method, "GET") != 0 && strcmp(call->method, "HEAD") != 0)
        rc = strbuf_appendf(&r->out, &r->out_len, &cap, "Content-Length: 0\r\n");
    if (rc == 0 && call->if_none_match != NULL && call->if_none_match[0] != '\0')
        rc = strbuf_appendf(&r->out, &r->out_len, &cap, "If-None-Match: %s\r\n",
                            call->if_none_match);
    if (rc == 0 && call->header != NULL)
        rc = strbuf_appendf(&r->out, &r->out_len, &cap, "%s\r\n", call->header);
    if (rc == 0 && call->header2 != NULL)
        rc = strbuf_appendf(&r->out, &r->out_len, &cap, "%s\r\n", call->header2);
    if (rc == 0)
        rc = strbuf_appendf(&r->out, &r->out_len, &cap, "\r\n%s", payload ? payload : "");
    if (rc < 0)
        goto fail;

    long total = call->timeout_ms > 0 ? call->timeout_ms : API_TIMEOUT_MS;
    r->started_ms = timeutil_mono_ms();
    r->deadline_ms = r->started_ms + total;
    r->connect_deadline_ms =
        r->started_ms + (total < API_CONNECT_TIMEOUT_MS ? total : API_CONNECT_TIMEOUT_MS);
    r->state = REQ_RESOLVE; /* moved on by the next api_client_fds */
    r->next = c->reqs;
    c->reqs = r;
    c->pending++;
    free(payload);
    return 0;
fail:
    free(payload);
    if (r != NULL)
        req_free(r);
    return rc;
}

size_t api_client_pending(const struct api_client *c)
{
    return c->pending;
}

/* --- one request's progress --------------------------------------------------------------- */

static void req_fail(struct api_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void req_fail(struct api_req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    req_close(r);
    r->state = REQ_DONE;
    r->ok = false;
}

static void req_succeed(struct api_req *r)
{
    req_close(r);
    r->state = REQ_DONE;
    r->ok = true;
}

static void req_send(struct api_client *c, struct api_req *r);
static void req_handshake(struct api_client *c, struct api_req *r);

/* TCP is up: plain requests send, https ones start the TLS handshake. */
static void req_established(struct api_client *c, struct api_req *r)
{
    if (!c->https) {
        r->state = REQ_SEND;
        req_send(c, r);
        return;
    }
    if (c->ssl_ctx == NULL) {
        req_fail(r, "TLS with %s: no trust configured", c->authority);
        return;
    }
    ERR_clear_error();
    r->ssl = SSL_new(c->ssl_ctx);
    if (r->ssl == NULL || SSL_set_fd(r->ssl, r->fd) != 1 ||
        /* SNI names hosts, never addresses (RFC 6066). */
        (!c->numeric && SSL_set_tlsext_host_name(r->ssl, c->host) != 1) ||
        /* OpenSSL 3 takes an address literal here as an IP address to match. */
        (c->verify && SSL_set1_host(r->ssl, c->host) != 1)) {
        char why[200];
        tls_error_text(NULL, why, sizeof why);
        req_fail(r, "TLS with %s: cannot set up: %s", c->authority, why);
        return;
    }
    SSL_set_connect_state(r->ssl);
    r->state = REQ_HANDSHAKE;
    req_handshake(c, r);
}

/* What an SSL call that did not complete wants: 0 when it waits for the socket (r->want
 * set), -1 when it failed. */
static int ssl_wait(struct api_req *r, int ret)
{
    switch (SSL_get_error(r->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        r->want = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        r->want = POLLOUT;
        return 0;
    default:
        return -1;
    }
}

static void req_handshake(struct api_client *c, struct api_req *r)
{
    char why[200];
    ERR_clear_error();
    int ret = SSL_connect(r->ssl);
    if (ret != 1) {
        if (ssl_wait(r, ret) == 0)
            return;
        tls_error_text(c->verify ? r->ssl : NULL, why, sizeof why);
        req_fail(r, "TLS with %s refused: %s", c->authority, why);
        return;
    }
    if (c->pins.n > 0 && tls_pins_check_peer(&c->pins, r->ssl, why, sizeof why) < 0) {
        req_fail(r, "TLS with %s refused: %s", c->authority, why);
        return;
    }
    r->state = REQ_SEND;
    r->want = POLLOUT;
    req_send(c, r);
}

/* Tries the addresses from r->addr_next on until one connects or is connecting. */
static void req_connect(struct api_client *c, struct api_req *r)
{
    while (r->addr_next < c->naddrs) {
        const struct resolve_addr *a = &c->addrs[r->addr_next++];
        int one = 1;
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r->last_errno = errno;
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0) {
            r->fd = fd;
            req_established(c, r);
            return;
        }
        if (errno == EINPROGRESS) {
            r->fd = fd;
            r->state = REQ_CONNECT;
            return;
        }
        r->last_errno = errno;
        close(fd);
    }
    req_fail(r, "connect to %s failed: %s", c->authority,
             strerror(r->last_errno ? r->last_errno : EHOSTUNREACH));
}

static void req_connected(struct api_client *c, struct api_req *r)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        /* Refused on this address (say ::1 of "localhost"): the next one may listen. */
        r->last_errno = err;
        close(r->fd);
        r->fd = -1;
        req_connect(c, r);
        return;
    }
    req_established(c, r);
}

static void req_send(struct api_client *c, struct api_req *r)
{
    while (r->ssl != NULL && r->out_off < r->out_len) {
        /* A write that wanted the socket is repeated with the same bytes, as OpenSSL
         * requires: out_off moves only on success. */
        ERR_clear_error();
        int n = SSL_write(r->ssl, r->out + r->out_off, (int)(r->out_len - r->out_off));
        if (n <= 0) {
            char why[200];
            if (ssl_wait(r, n) == 0)
                return;
            tls_error_text(c->verify ? r->ssl : NULL, why, sizeof why);
            req_fail(r, "sending to %s failed: %s", c->authority, why);
            return;
        }
        r->out_off += (size_t)n;
    }
    while (r->out_off < r->out_len) {
        ssize_t n = send(r->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            req_fail(r, "sending to %s failed: %s", c->authority, strerror(errno));
            return;
        }
        r->out_off += (size_t)n;
    }
    r->state = REQ_RECV;
    r->want = POLLIN;
}

/* One read from the connection: bytes, 0 at the end, -EAGAIN when it waits (r->want set),
 * or another negative errno with the reason in why. */
static ssize_t req_read(struct api_req *r, char *buf, size_t len, char *why, size_t whylen)
{
    if (r->ssl == NULL) {
        ssize_t n = recv(r->fd, buf, len, 0);
        if (n >= 0)
            return n;
        int e = errno;
        if (e == EWOULDBLOCK)
            e = EAGAIN;
        snprintf(why, whylen, "%s", strerror(e));
        return -e;
    }
    ERR_clear_error();
    int n = SSL_read(r->ssl, buf, (int)len);
    if (n > 0)
        return n;
    if (SSL_get_error(r->ssl, n) == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (ssl_wait(r, n) == 0)
        return -EAGAIN;
    /* Not the verification result: past the handshake it is no reason for a failed read. */
    tls_error_text(NULL, why, whylen);
    return -EPROTO;
}

static void req_recv(struct api_client *c, struct api_req *r)
{
    char buf[16384];
    char why[200];
    for (int i = 0; i < API_READS_PER_PASS; i++) {
        ssize_t n = req_read(r, buf, sizeof buf, why, sizeof why);
        int rc;
        if (n < 0) {
            if (n == -EINTR)
                continue;
            if (n == -EAGAIN)
                return;
            req_fail(r, "receiving from %s failed: %s", c->authority, why);
            return;
        }
        rc =
            n == 0 ? response_parser_eof(&r->resp) : response_parser_feed(&r->resp, buf, (size_t)n);
        if (rc > 0) {
            req_succeed(r);
            return;
        }
        if (rc < 0) {
            req_fail(r, "%s from %s", r->resp.error, c->authority);
            return;
        }
    }
}

/* Moves a request on after an event (revents) or none (0), and applies its deadlines. */
static void req_step(struct api_client *c, struct api_req *r, short revents, int64_t now)
{
    bool fresh = c->naddrs > 0 && (c->numeric || now - c->resolved_ms < API_RESOLVE_TTL_MS);
    switch (r->state) {
    case REQ_RESOLVE:
        if (c->host[0] == '\0') {
            req_fail(r, "no central known yet (looking for one by DNS-SD)");
            break;
        }
        if (fresh) {
            r->addr_next = 0;
            req_connect(c, r);
        }
        break;
    case REQ_CONNECT:
        if (revents != 0)
            req_connected(c, r);
        break;
    case REQ_HANDSHAKE:
        if (revents != 0)
            req_handshake(c, r);
        break;
    case REQ_SEND:
        if (revents != 0)
            req_send(c, r);
        break;
    case REQ_RECV:
        /* Bytes OpenSSL already took off the socket (a pass that hit its read limit) wake
         * no poll: they are read without waiting for one. */
        if (revents != 0 || (r->ssl != NULL && SSL_has_pending(r->ssl)))
            req_recv(c, r);
        break;
    case REQ_DONE:
        break;
    }
    if (r->state == REQ_DONE)
        return;
    if ((r->state == REQ_RESOLVE || r->state == REQ_CONNECT || r->state == REQ_HANDSHAKE) &&
        now >= r->connect_deadline_ms)
        req_fail(r, "connection to %s timed out after %lld ms", c->authority,
                 (long long)(now - r->started_ms));
    else if (now >= r->deadline_ms)
        req_fail(r, "no complete answer from %s within %lld ms", c->authority,
                 (long long)(r->deadline_ms - r->started_ms));
}

static void resolve_failed(struct api_client *c, const char *why)
{
    for (struct api_req *r = c->reqs; r != NULL; r = r->next)
        if (r->state == REQ_RESOLVE)
            req_fail(r, "could not resolve host %s: %s", c->host, why);
}

/* Starts a lookup when a request waits for one, and ends the wait of all when it is over. */
static void resolver_step(struct api_client *c, int64_t now)
{
    bool waiting = false;
    for (struct api_req *r = c->reqs; r != NULL; r = r->next)
        waiting |= r->state == REQ_RESOLVE;
    if (c->numeric || !waiting)
        return;
    if (c->lookup != NULL) {
        if (!resolve_done(c->lookup))
            return;
        int rc = resolve_result(c->lookup, c->addrs, API_ADDR_MAX, &c->naddrs);
        resolver_stop(c);
        if (rc == 0) {
            c->resolved_ms = now;
            return;
        }
        c->naddrs = 0;
        resolve_failed(c, gai_strerror(rc));
        return;
    }
    if (c->naddrs > 0 && now - c->resolved_ms < API_RESOLVE_TTL_MS)
        return;
    int rc = resolve_start(c->host, c->port, &c->lookup);
    if (rc < 0)
        resolve_failed(c, strerror(-rc));
}

static void req_finish(struct api_client *c, struct api_req *r)
{
    struct api_response resp = {.retry_after_ms = -1, .body = ""};
    if (r->ok) {
        resp.status = r->resp.status;
        resp.retry_after_ms = r->resp.retry_after_ms;
        resp.etag = r->resp.etag[0] ? r->resp.etag : NULL;
        resp.body = r->resp.body ? r->resp.body : "";
        resp.body_len = r->resp.body_len;
    } else {
        resp.error = r->error;
    }
    /* Unlink before the callback: it may start the next request. */
    struct api_req **pp = &c->reqs;
    while (*pp != NULL && *pp != r)
        pp = &(*pp)->next;
    if (*pp == r)
        *pp = r->next;
    c->pending--;
    if (r->done != NULL)
        r->done(r->ctx, r->tag, &resp);
    req_free(r);
}

static short req_events(const struct api_req *r)
{
    if (r->ssl != NULL)
        return r->want;
    switch (r->state) {
    case REQ_CONNECT:
    case REQ_SEND:
        return POLLOUT;
    case REQ_RECV:
        return POLLIN;
    default:
        return 0;
    }
}

unsigned api_client_fds(struct api_client *c, struct pollfd *fds, unsigned max)
{
    int64_t now = timeutil_mono_ms();
    unsigned n = 0;
    /* Whatever needs no socket event moves on first: a lookup ended, a fresh address. */
    resolver_step(c, now);
    for (struct api_req *r = c->reqs; r != NULL; r = r->next)
        req_step(c, r, 0, now);
    for (struct api_req *r = c->reqs; r != NULL; r = r->next) {
        r->pidx = -1;
        if (r->fd >= 0 && r->state != REQ_DONE && n < max) {
            r->pidx = (int)n;
            fds[n++] = (struct pollfd){.fd = r->fd, .events = req_events(r)};
        }
    }
    return n;
}

int64_t api_client_timeout_ms(const struct api_client *c)
{
    int64_t now = timeutil_mono_ms();
    int64_t wait = -1;
    for (const struct api_req *r = c->reqs; r != NULL; r = r->next) {
        /* Done, or bytes OpenSSL already holds: at once. */
        if (r->state == REQ_DONE ||
            (r->state == REQ_RECV && r->ssl != NULL && SSL_has_pending(r->ssl)))
            return 0;
        int64_t dl = r->state == REQ_RESOLVE || r->state == REQ_CONNECT || r->state == REQ_HANDSHAKE
                         ? r->connect_deadline_ms
                         : r->deadline_ms;
        int64_t left = dl - now > 0 ? dl - now : 0;
        if (r->state == REQ_RESOLVE && left > API_RESOLVE_POLL_MS)
            left = API_RESOLVE_POLL_MS;
        if (wait < 0 || left < wait)
            wait = left;
    }
    return wait;
}

void api_client_handle(struct api_client *c, const struct pollfd *fds, unsigned nfds)
{
    int64_t now = timeutil_mono_ms();
    resolver_step(c, now);
    for (struct api_req *r = c->reqs; r != NULL; r = r->next) {
        short revents = r->pidx >= 0 && (unsigned)r->pidx < nfds ? fds[r->pidx].revents : 0;
        r->pidx = -1;
        req_step(c, r, revents, now);
    }
    /* Callbacks last: they may start requests, which the next pass picks up. */
    struct api_req *r = c->reqs;
    while (r != NULL) {
        struct api_req *next = r->next;
        if (r->state == REQ_DONE)
            req_finish(c, r);
        r = next;
    }
}

int api_client_poll(struct api_client *c, struct pollfd *fds, unsigned nfds, int timeout_ms)
{
    int ready = 0, rc = 0;
    if (nfds + c->pending > c->pfds_cap) {
        size_t cap = nfds + c->pending + 8;
        struct pollfd *p = realloc(c->pfds, cap * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        c->pfds = p;
        c->pfds_cap = cap;
    }
    for (unsigned i = 0; i < nfds; i++) {
        c->pfds[i] = fds[i];
        c->pfds[i].revents = 0;
    }
    unsigned n = api_client_fds(c, c->pfds + nfds, (unsigned)(c->pfds_cap - nfds));
    int64_t wait = api_client_timeout_ms(c);
    if (timeout_ms >= 0 && (wait < 0 || timeout_ms < wait))
        wait = timeout_ms;
    if (poll(c->pfds, (nfds_t)nfds + n, (int)(wait > INT32_MAX ? INT32_MAX : wait)) < 0) {
        if (errno != EINTR)
            rc = -errno;
        for (size_t i = 0; i < nfds + n; i++)
            c->pfds[i].revents = 0;
    }
    for (unsigned i = 0; i < nfds; i++) {
        fds[i].revents = c->pfds[i].revents;
        if (fds[i].revents != 0)
            ready++;
    }
    api_client_handle(c, c->pfds + nfds, n);
    return rc < 0 ? rc : ready;
}
