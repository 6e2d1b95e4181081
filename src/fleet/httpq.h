/* Many concurrent HTTP requests to one central over libcurl's multi interface, driven by the
 * caller's epoll loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION).
 *
 * At most max_inflight requests run at once, each on its own keep-alive connection from the
 * multi handle's pool; the caller keeps its own queue and starts a request whenever
 * httpq_has_room(). Completion is reported through the done callback, called from
 * httpq_on_event() / httpq_on_timeout(); it may start new requests. The result's pointers
 * are valid only during the callback. */
#ifndef ROUNDHOUSE_FLEET_HTTPQ_H
#define ROUNDHOUSE_FLEET_HTTPQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* First int of the objects httpq registers in epoll (epoll_event.data.ptr), so that a loop
 * sharing the epoll set can tell them from its own. */
#define HTTPQ_EVSRC 0x48545450

struct httpq;

struct httpq_result {
    long status;      /* 0 when no answer came (see curl_code) */
    int curl_code;    /* CURLE_* */
    const char *body; /* NUL-terminated, may be "" */
    size_t body_len;
    bool body_truncated; /* longer than the request's max_body: the rest was dropped */
    const char *etag;    /* "" when absent */
    long retry_after_s;  /* -1 when absent */
    int64_t latency_us;  /* from httpq_start to the end of the answer */
};

typedef void (*httpq_done_fn)(void *ctx, void *req_ctx, int tag, const struct httpq_result *r);

/* base_url: "http://host:port". 0 or -ENOMEM / -EINVAL. */
int httpq_new(int epfd, const char *base_url, int max_inflight, httpq_done_fn done, void *ctx,
              struct httpq **out);
/* Aborts running requests without calling done. NULL is a no-op. */
void httpq_free(struct httpq *q);
bool httpq_has_room(const struct httpq *q);
int httpq_inflight(const struct httpq *q);
/* Starts one request. method "GET", "POST", "PUT"...; body (JSON text) or NULL;
 * if_none_match (a quoted ETag) or NULL; header: one more "Name: value" line or NULL;
 * max_body bounds the stored answer. 0, -EBUSY when no slot is free, -ENOMEM, -EIO. */
int httpq_start(struct httpq *q, const char *method, const char *path, const char *body,
                const char *if_none_match, const char *header, size_t max_body, void *req_ctx,
                int tag);
/* Feeds an epoll event for an object whose first int is HTTPQ_EVSRC. */
void httpq_on_event(struct httpq *q, void *evsrc, uint32_t events);
/* Milliseconds (monotonic) at which httpq_on_timeout must run, or -1. */
int64_t httpq_deadline_ms(const struct httpq *q);
void httpq_on_timeout(struct httpq *q, int64_t now_ms);
/* Frees the socket records curl released; call after each epoll batch is handled. */
void httpq_collect(struct httpq *q);
/* The negative errno of the last failed epoll registration since the previous call (a
 * failure ends libcurl's multi handle), or 0. */
int httpq_take_error(struct httpq *q);

#endif
