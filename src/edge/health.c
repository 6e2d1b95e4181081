/* accept4 */
#define _GNU_SOURCE
#include "health.h"

#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "strbuf.h"
#include "timeutil.h"

/* --- HTTP ------------------------------------------------------------------------------- */

/* A tiny HTTP/1.1 server on the daemon's own poll loop: one request per connection, answered
 * with "Connection: close". Everything a client controls is bounded: the request head
 * (HEALTH_HEAD_MAX), what is read in all (HEALTH_INPUT_MAX; request bodies are read and
 * dropped), the time a connection may take (HEALTH_CONN_TIMEOUT_MS, from accept: a slow
 * client does not earn more time by trickling bytes) and the number of connections
 * (HEALTH_MAX_CONNS; beyond it new ones wait in the listen backlog). */
#define HEALTH_MAX_CONNS 16
#define HEALTH_HEAD_MAX 8192
#define HEALTH_INPUT_MAX (64 * 1024)
#define HEALTH_CONN_TIMEOUT_MS 10000
#define HEALTH_LINGER_MS 2000
#define HEALTH_PATH_MAX 64

enum conn_state { CONN_FREE = 0, CONN_READ, CONN_WRITE, CONN_LINGER };

struct health_conn {
    enum conn_state state;
    int fd;
    http_parser parser;
    char path[HEALTH_PATH_MAX]; /* the URL up to '?', "" when longer than the bound */
    size_t path_len;
    bool path_long, path_ended;
    bool head_done, request_done;
    size_t in_len;
    char *out; /* the answer, owned */
    size_t out_len, out_off;
    int64_t deadline_ms;
};

struct health {
    int lfd;
    struct health_source src;
    struct health_conn conns[HEALTH_MAX_CONNS];
    size_t nconns;
};

static struct health_conn *conn_of(http_parser *p)
{
    return p->data;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct health_conn *c = conn_of(p);
    const char *q = memchr(at, '?', len);
    if (c->path_ended)
        return 0;
    if (q != NULL) {
        len = (size_t)(q - at);
        c->path_ended = true;
    }
    if (c->path_long || c->path_len + len >= sizeof c->path) {
        c->path_long = true;
        return 0;
    }
    memcpy(c->path + c->path_len, at, len);
    c->path_len += len;
    c->path[c->path_len] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn_of(p)->head_done = true;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_of(p)->request_done = true;
    http_parser_pause(p, 1); /* one request per connection: a pipelined one is not read */
    return 0;
}

static const http_parser_settings request_settings = {
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void conn_close(struct health *h, struct health_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    h->nconns--;
}

/* Queues the answer; body is consumed (freed). HEAD gets the head alone. */
static void conn_reply(struct health_conn *c, unsigned status, const char *type, char *body,
                       bool head_only)
{
    size_t blen = body ? strlen(body) : 0, cap = 0;
    int rc = strbuf_appendf(&c->out, &c->out_len, &cap,
                            "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                            status, http_status_str((enum http_status)status), type, blen);
    if (rc == 0 && !head_only && blen > 0)
        rc = strbuf_appendf(&c->out, &c->out_len, &cap, "%s", body);
    free(body);
    if (rc < 0) {
        free(c->out);
        c->out = NULL;
        c->out_len = 0;
    }
    c->out_off = 0;
    c->state = CONN_WRITE;
}

static void conn_reply_json(struct health_conn *c, unsigned status, json_t *j, bool head_only)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    conn_reply(c, s ? status : 500, "application/json", s, head_only);
}

static void conn_error(struct health_conn *c, unsigned status, const char *detail,
                       const char *error)
{
    conn_reply_json(c, status, json_pack("{s:s, s:s}", "detail", detail, "error", error), false);
}

static void conn_route(struct health *h, struct health_conn *c)
{
    unsigned method = c->parser.method;
    bool head = method == HTTP_HEAD;
    if (method != HTTP_GET && method != HTTP_HEAD) {
        conn_error(c, 405, "only GET", "method_not_allowed");
        return;
    }
    int64_t now = timeutil_mono_ms();
    if (!c->path_long && strcmp(c->path, "/health") == 0) {
        int status = 200;
        json_t *j = h->src.health(h->src.ctx, now, &status);
        conn_reply_json(c, (unsigned)status, j, head);
    } else if (!c->path_long && strcmp(c->path, "/metrics") == 0) {
        char *text = h->src.metrics(h->src.ctx, now);
        if (text == NULL)
            conn_error(c, 500, "out of memory", "internal");
        else
            conn_reply(c, 200, "text/plain; version=0.0.4", text, head);
    } else {
        conn_reply_json(c, 404,
                        json_pack("{s:s, s:s}", "detail", "not found", "error", "not_found"), head);
    }
}

static void conn_read(struct health *h, struct health_conn *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* gone before asking anything complete */
            conn_close(h, c);
            return;
        }
        if (c->in_len + (size_t)n > HEALTH_INPUT_MAX) {
            conn_error(c, 413, "request too large", "payload_too_large");
            return;
        }
        /* Until the head is complete the parser gets no more than its bound. */
        size_t off = 0;
        while (off < (size_t)n) {
            size_t take = (size_t)n - off;
            if (!c->head_done) {
                if (c->in_len >= HEALTH_HEAD_MAX) {
                    conn_error(c, 431, "request head too large", "header_too_large");
                    return;
                }
                if (take > HEALTH_HEAD_MAX - c->in_len)
                    take = HEALTH_HEAD_MAX - c->in_len;
            }
            size_t used = http_parser_execute(&c->parser, &request_settings, buf + off, take);
            c->in_len += used;
            off += used;
            if (c->request_done) {
                conn_route(h, c);
                return;
            }
            if (used != take || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
                conn_error(c, 400, "malformed request", "bad_request");
                return;
            }
        }
    }
}

/* After the answer: the client's unread bytes are drained, not left in the socket, where
 * closing would turn them into a reset that can destroy the answer before it is read. */
static void conn_linger(struct health *h, struct health_conn *c)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            break;
    }
    conn_close(h, c);
}

static void conn_write(struct health *h, struct health_conn *c, int64_t now)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_close(h, c);
            return;
        }
        c->out_off += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    if (c->deadline_ms > now + HEALTH_LINGER_MS)
        c->deadline_ms = now + HEALTH_LINGER_MS;
    conn_linger(h, c);
}

static void accept_all(struct health *h, int64_t now)
{
    while (h->nconns < HEALTH_MAX_CONNS) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a connection that died in the backlog */
        struct health_conn *c = NULL;
        for (size_t i = 0; i < HEALTH_MAX_CONNS && c == NULL; i++)
            if (h->conns[i].state == CONN_FREE)
                c = &h->conns[i];
        if (c == NULL) { /* cannot happen while nconns counts right */
            close(fd);
            return;
        }
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->state = CONN_READ;
        c->deadline_ms = now + HEALTH_CONN_TIMEOUT_MS;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        h->nconns++;
    }
}

int health_start(struct health **out, const char *host, int port, const struct health_source *src,
                 int *bound_port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    struct health *h = NULL;
    char portstr[16];
    int fd = -1, one = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL) {
        rc = -EADDRNOTAVAIL;
        goto out;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* A restarted edge must get its port back while old connections sit in TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
        rc = -errno;
        goto out;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < HEALTH_MAX_CONNS; i++)
        h->conns[i].fd = -1;
    h->src = *src;
    h->lfd = fd;
    fd = -1;
    *bound_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
    *out = h;
    h = NULL;
    rc = 0;
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    if (fd >= 0)
        close(fd);
    free(h);
    return rc;
}

void health_stop(struct health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < HEALTH_MAX_CONNS; i++)
        if (h->conns[i].state != CONN_FREE)
            conn_close(h, &h->conns[i]);
    close(h->lfd);
    free(h);
}

unsigned health_fds(struct health *h, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    if (h == NULL)
        return 0;
    /* At the cap the listener is not watched: new clients wait in the backlog. */
    if (h->nconns < HEALTH_MAX_CONNS && n < max)
        fds[n++] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
    for (size_t i = 0; i < HEALTH_MAX_CONNS && n < max; i++) {
        const struct health_conn *c = &h->conns[i];
        if (c->state != CONN_FREE)
            fds[n++] =
                (struct pollfd){.fd = c->fd, .events = c->state == CONN_WRITE ? POLLOUT : POLLIN};
    }
    return n;
}

void health_run(struct health *h, const struct pollfd *fds, unsigned nfds)
{
    if (h == NULL)
        return;
    int64_t now = timeutil_mono_ms();
    for (unsigned i = 0; i < nfds; i++) {
        if (fds[i].revents == 0)
            continue;
        if (fds[i].fd == h->lfd) {
            accept_all(h, now);
            continue;
        }
        for (size_t k = 0; k < HEALTH_MAX_CONNS; k++) {
            struct health_conn *c = &h->conns[k];
            if (c->state == CONN_FREE || c->fd != fds[i].fd)
                continue;
            if (c->state == CONN_READ)
                conn_read(h, c);
            if (c->state == CONN_WRITE)
                conn_write(h, c, now); /* at once: the socket is nearly always writable */
            else if (c->state == CONN_LINGER)
                conn_linger(h, c);
            break;
        }
    }
    for (size_t k = 0; k < HEALTH_MAX_CONNS; k++) {
        struct health_conn *c = &h->conns[k];
        if (c->state != CONN_FREE && now >= c->deadline_ms)
            conn_close(h, c);
    }
}

int64_t health_timeout_ms(struct health *h)
{
    int64_t next = -1, now = timeutil_mono_ms();
    if (h == NULL)
        return -1;
    for (size_t k = 0; k < HEALTH_MAX_CONNS; k++) {
        const struct health_conn *c = &h->conns[k];
        if (c->state == CONN_FREE)
            continue;
        int64_t left = c->deadline_ms > now ? c->deadline_ms - now : 0;
        if (next < 0 || left < next)
            next = left;
    }
    return next;
}
