#include "httpq.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "parse.h"
#include "strbuf.h"
#include "timeutil.h"

#define HTTPQ_CONNECT_TIMEOUT_MS 5000L
#define HTTPQ_TOTAL_TIMEOUT_MS 120000L

struct httpq_sock {
    int evsrc; /* HTTPQ_EVSRC */
    int fd;    /* -1 once curl let go of it */
    struct httpq_sock *next_dead;
};

struct httpq_slot {
    CURL *easy;
    struct httpq *q;
    int next_free; /* index in the free list, -1 at its end */
    bool busy;
    struct curl_slist *hdrs;
    char *req_body;
    char *buf;
    size_t len, cap, max;
    bool truncated;
    char etag[128];
    long retry_after_s;
    int64_t t0_us;
    void *req_ctx;
    int tag;
    char url[1024];
};

struct httpq {
    CURLM *multi;
    int epfd;
    char base[512];
    struct httpq_slot *slots;
    int nslots, nbusy, free_head;
    int64_t deadline_ms;
    struct httpq_sock *dead; /* freed by httpq_collect, after the epoll batch */
    int last_error;          /* negative errno of the last failed epoll_ctl, 0 if none */
    httpq_done_fn done;
    void *ctx;
};

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct httpq *q = userp;
    struct httpq_sock *hs = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (hs != NULL) {
            epoll_ctl(q->epfd, EPOLL_CTL_DEL, s, NULL);
            curl_multi_assign(q->multi, s, NULL);
            /* Events for it may still wait in the caller's current epoll batch. */
            hs->fd = -1;
            hs->next_dead = q->dead;
            q->dead = hs;
        }
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (hs == NULL) {
        hs = calloc(1, sizeof *hs);
        if (hs == NULL)
            return -1;
        hs->evsrc = HTTPQ_EVSRC;
        hs->fd = s;
        ev.data.ptr = hs;
        if (epoll_ctl(q->epfd, EPOLL_CTL_ADD, s, &ev) < 0) {
            q->last_error = -errno;
            free(hs);
            return -1;
        }
        curl_multi_assign(q->multi, s, hs);
        return 0;
    }
    ev.data.ptr = hs;
    if (epoll_ctl(q->epfd, EPOLL_CTL_MOD, s, &ev) < 0) {
        q->last_error = -errno;
        return -1;
    }
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct httpq *q = userp;
    (void)m;
    q->deadline_ms = timeout_ms < 0 ? -1 : timeutil_mono_ms() + timeout_ms;
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct httpq_slot *sl = userdata;
    size_t n = size * nmemb;
    size_t take = n;
    if (sl->len + take > sl->max) {
        take = sl->max > sl->len ? sl->max - sl->len : 0;
        sl->truncated = true;
    }
    if (take > 0 && strbuf_append(&sl->buf, &sl->len, &sl->cap, ptr, take) < 0)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    return n;
}

/* "Name: value\r\n" -> value without surrounding blanks, or NULL. */
static const char *header_value(const char *line, size_t n, const char *name, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static size_t header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
    struct httpq_slot *sl = userdata;
    size_t n = size * nitems, vlen = 0;
    const char *v;
    if ((v = header_value(buffer, n, "ETag", &vlen)) != NULL) {
        if (vlen < sizeof sl->etag) {
            memcpy(sl->etag, v, vlen);
            sl->etag[vlen] = '\0';
        }
    } else if ((v = header_value(buffer, n, "Retry-After", &vlen)) != NULL) {
        char tmp[32];
        long secs = 0;
        if (vlen < sizeof tmp) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            if (parse_long(tmp, 0, 86400, &secs) == 0)
                sl->retry_after_s = secs;
        }
    }
    return n;
}

int httpq_new(int epfd, const char *base_url, int max_inflight, httpq_done_fn done, void *ctx,
              struct httpq **out)
{
    struct httpq *q = NULL;
    int rc = -ENOMEM;
    if (max_inflight < 1 || strlen(base_url) >= sizeof q->base)
        return -EINVAL;
    q = calloc(1, sizeof *q);
    if (q == NULL)
        goto out;
    q->epfd = epfd;
    q->done = done;
    q->ctx = ctx;
    q->deadline_ms = -1;
    snprintf(q->base, sizeof q->base, "%s", base_url);
    q->slots = calloc((size_t)max_inflight, sizeof *q->slots);
    q->multi = curl_multi_init();
    if (q->slots == NULL || q->multi == NULL)
        goto out;
    q->nslots = max_inflight;
    for (int i = 0; i < max_inflight; i++) {
        q->slots[i].q = q;
        q->slots[i].next_free = i + 1 < max_inflight ? i + 1 : -1;
        q->slots[i].easy = curl_easy_init();
        if (q->slots[i].easy == NULL)
            goto out;
    }
    q->free_head = 0;
    curl_multi_setopt(q->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(q->multi, CURLMOPT_SOCKETDATA, q);
    curl_multi_setopt(q->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(q->multi, CURLMOPT_TIMERDATA, q);
    /* One connection per running request, all kept alive between requests. */
    curl_multi_setopt(q->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_inflight);
    curl_multi_setopt(q->multi, CURLMOPT_MAXCONNECTS, (long)max_inflight);
    *out = q;
    q = NULL;
    rc = 0;
out:
    httpq_free(q);
    return rc;
}

static void slot_clear(struct httpq_slot *sl)
{
    curl_slist_free_all(sl->hdrs);
    sl->hdrs = NULL;
    free(sl->req_body);
    sl->req_body = NULL;
    sl->len = 0;
    sl->truncated = false;
    sl->etag[0] = '\0';
    sl->retry_after_s = -1;
    sl->req_ctx = NULL;
}

void httpq_free(struct httpq *q)
{
    if (q == NULL)
        return;
    for (int i = 0; q->slots != NULL && i < q->nslots; i++) {
        struct httpq_slot *sl = &q->slots[i];
        if (sl->busy && q->multi != NULL)
            curl_multi_remove_handle(q->multi, sl->easy);
        if (sl->easy != NULL)
            curl_easy_cleanup(sl->easy);
        slot_clear(sl);
        free(sl->buf);
    }
    if (q->multi != NULL)
        curl_multi_cleanup(q->multi);
    httpq_collect(q);
    free(q->slots);
    free(q);
}

bool httpq_has_room(const struct httpq *q)
{
    return q->free_head >= 0;
}

int httpq_inflight(const struct httpq *q)
{
    return q->nbusy;
}

int httpq_start(struct httpq *q, const char *method, const char *path, const char *body,
                const char *if_none_match, const char *header, size_t max_body, void *req_ctx,
                int tag)
{
    if (q->free_head < 0)
        return -EBUSY;
    struct httpq_slot *sl = &q->slots[q->free_head];
    CURL *e = sl->easy;
    char hdr[192];
    int n = snprintf(sl->url, sizeof sl->url, "%s%s", q->base, path);
    if (n < 0 || (size_t)n >= sizeof sl->url)
        return -EINVAL;
    curl_easy_reset(e);
    if (body != NULL) {
        sl->req_body = strdup(body);
        sl->hdrs = curl_slist_append(sl->hdrs, "Content-Type: application/json");
        if (sl->req_body == NULL || sl->hdrs == NULL)
            goto nomem;
    }
    /* No "Expect: 100-continue" round trip for larger bodies. */
    struct curl_slist *h = curl_slist_append(sl->hdrs, "Expect:");
    if (h == NULL)
        goto nomem;
    sl->hdrs = h;
    if (if_none_match != NULL) {
        snprintf(hdr, sizeof hdr, "If-None-Match: %s", if_none_match);
        h = curl_slist_append(sl->hdrs, hdr);
        if (h == NULL)
            goto nomem;
        sl->hdrs = h;
    }
    if (header != NULL) {
        h = curl_slist_append(sl->hdrs, header);
        if (h == NULL)
            goto nomem;
        sl->hdrs = h;
    }
    curl_easy_setopt(e, CURLOPT_URL, sl->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, HTTPQ_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, HTTPQ_TOTAL_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sl);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, sl);
    curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, sl->req_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(sl->req_body));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    sl->max = max_body;
    sl->req_ctx = req_ctx;
    sl->tag = tag;
    sl->retry_after_s = -1;
    sl->t0_us = timeutil_mono_us();
    if (curl_multi_add_handle(q->multi, e) != CURLM_OK) {
        slot_clear(sl);
        return -EIO;
    }
    q->free_head = sl->next_free;
    sl->busy = true;
    q->nbusy++;
    return 0;
nomem:
    slot_clear(sl);
    return -ENOMEM;
}

static void check_done(struct httpq *q)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(q->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct httpq_slot *sl = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
        if (sl == NULL)
            continue;
        struct httpq_result r = {
            .curl_code = (int)msg->data.result,
            .body = sl->buf != NULL ? sl->buf : "",
            .body_len = sl->len,
            .body_truncated = sl->truncated,
            .etag = sl->etag,
            .retry_after_s = sl->retry_after_s,
            .latency_us = timeutil_mono_us() - sl->t0_us,
        };
        if (r.curl_code == CURLE_OK)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &r.status);
        curl_multi_remove_handle(q->multi, sl->easy);
        void *req_ctx = sl->req_ctx;
        int tag = sl->tag;
        if (sl->len == 0 && sl->buf != NULL)
            sl->buf[0] = '\0';
        /* The slot stays busy during the callback (its buffers are the result); a request
         * started from the callback takes another slot. */
        q->done(q->ctx, req_ctx, tag, &r);
        slot_clear(sl);
        sl->busy = false;
        sl->next_free = q->free_head;
        q->free_head = (int)(sl - q->slots);
        q->nbusy--;
    }
}

void httpq_on_event(struct httpq *q, void *evsrc, uint32_t events)
{
    struct httpq_sock *hs = evsrc;
    int flags = 0, running = 0;
    if (events & (EPOLLIN | EPOLLHUP))
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
    if (hs->fd < 0)
        return;
    curl_multi_socket_action(q->multi, hs->fd, flags, &running);
    check_done(q);
}

int64_t httpq_deadline_ms(const struct httpq *q)
{
    return q->deadline_ms;
}

void httpq_on_timeout(struct httpq *q, int64_t now_ms)
{
    int running = 0;
    if (q->deadline_ms < 0 || now_ms < q->deadline_ms)
        return;
    q->deadline_ms = -1;
    curl_multi_socket_action(q->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(q);
}

void httpq_collect(struct httpq *q)
{
    while (q->dead != NULL) {
        struct httpq_sock *hs = q->dead;
        q->dead = hs->next_dead;
        free(hs);
    }
}

int httpq_take_error(struct httpq *q)
{
    int e = q->last_error;
    q->last_error = 0;
    return e;
}
