#include "api_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

struct api_req {
    CURL *easy;
    struct curl_slist *headers;
    char *payload;
    char *buf;
    size_t len, cap;
    bool too_big;
    int tag;
    api_done_fn done;
    void *ctx;
    struct api_req *next;
};

struct api_client {
    CURLM *multi;
    char *base;
    struct api_req *reqs;
    size_t pending;
};

struct api_client *api_client_new(const char *base_url)
{
    static bool global_done;
    struct api_client *c = NULL;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        global_done = true;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->multi = curl_multi_init();
    c->base = strdup(base_url);
    if (c->multi == NULL || c->base == NULL) {
        api_client_free(c);
        return NULL;
    }
    return c;
}

static void req_free(struct api_client *c, struct api_req *r)
{
    if (r->easy != NULL) {
        curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->headers);
    free(r->payload);
    free(r->buf);
    free(r);
}

void api_client_free(struct api_client *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL) {
        struct api_req *r = c->reqs;
        c->reqs = r->next;
        req_free(c, r);
    }
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    free(c->base);
    free(c);
}

/* Response bodies from the network are bounded: a confused or hostile server must not make
 * the controller allocate without limit. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct api_req *r = userdata;
    size_t n = size * nmemb;
    if (r->len + n > API_BODY_MAX) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (nb == NULL)
            return 0;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, ptr, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return n;
}

static int header_add(struct api_req *r, const char *line)
{
    struct curl_slist *h = curl_slist_append(r->headers, line);
    if (h == NULL)
        return -ENOMEM;
    r->headers = h;
    return 0;
}

int api_client_start(struct api_client *c, const struct api_call *call, api_done_fn done, void *ctx)
{
    struct api_req *r = NULL;
    char url[1024], hdr[512];
    int rc = -ENOMEM;
    int n = snprintf(url, sizeof url, "%s%s", c->base, call->path);
    if (n < 0 || (size_t)n >= sizeof url)
        return -ENAMETOOLONG;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        goto fail;
    r->tag = call->tag;
    r->done = done;
    r->ctx = ctx;
    r->easy = curl_easy_init();
    if (r->easy == NULL || header_add(r, "Accept: application/json") < 0)
        goto fail;
    if (call->body != NULL) {
        r->payload = json_dumps(call->body, JSON_COMPACT);
        if (r->payload == NULL || header_add(r, "Content-Type: application/json") < 0)
            goto fail;
    }
    if (call->if_none_match != NULL && call->if_none_match[0] != '\0') {
        n = snprintf(hdr, sizeof hdr, "If-None-Match: %s", call->if_none_match);
        if (n > 0 && (size_t)n < sizeof hdr && header_add(r, hdr) < 0)
            goto fail;
    }
    if (call->header != NULL && header_add(r, call->header) < 0)
        goto fail;
    const char *method = call->method;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (r->payload != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->payload);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->payload));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)API_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     call->timeout_ms > 0 ? call->timeout_ms : (long)API_TIMEOUT_MS);
    /* Signals belong to the daemon's loop; curl must not use SIGALRM for DNS timeouts. */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "roundhouse-edge/" ROUNDHOUSE_VERSION);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        rc = -EIO;
        goto fail;
    }
    r->next = c->reqs;
    c->reqs = r;
    c->pending++;
    return 0;
fail:
    if (r != NULL)
        req_free(c, r);
    return rc;
}

size_t api_client_pending(const struct api_client *c)
{
    return c->pending;
}

static int64_t retry_after(CURL *e)
{
    struct curl_header *h = NULL;
    long secs;
    if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    /* Only the delta-seconds form; an HTTP-date falls back to our own backoff. */
    if (parse_long(h->value, 0, 24 * 3600, &secs) < 0)
        return -1;
    return (int64_t)secs * 1000;
}

static void req_finish(struct api_client *c, struct api_req *r, CURLcode result)
{
    struct api_response resp = {0};
    struct curl_header *h = NULL;
    resp.retry_after_ms = -1;
    if (result == CURLE_OK) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        resp.retry_after_ms = retry_after(r->easy);
        if (curl_easy_header(r->easy, "ETag", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
            resp.etag = h->value;
    } else {
        resp.error = r->too_big ? "response body too large" : curl_easy_strerror(result);
    }
    resp.body = r->buf ? r->buf : "";
    resp.body_len = r->len;

    /* Unlink before the callback: it may start the next request. */
    struct api_req **pp = &c->reqs;
    while (*pp != NULL && *pp != r)
        pp = &(*pp)->next;
    if (*pp == r)
        *pp = r->next;
    c->pending--;
    if (r->done != NULL)
        r->done(r->ctx, r->tag, &resp);
    req_free(c, r);
}

int api_client_poll(struct api_client *c, struct curl_waitfd *fds, unsigned nfds, int timeout_ms)
{
    int running = 0, ready = 0;
    for (unsigned i = 0; i < nfds; i++)
        fds[i].revents = 0;
    CURLMcode mc = curl_multi_poll(c->multi, fds, nfds, timeout_ms, NULL);
    if (mc != CURLM_OK)
        return -EIO;
    for (unsigned i = 0; i < nfds; i++)
        if (fds[i].revents != 0)
            ready++;
    curl_multi_perform(c->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct api_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r != NULL)
            req_finish(c, r, msg->data.result);
    }
    return ready;
}
