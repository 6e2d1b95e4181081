#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http_server.h"

struct frame {
    uint64_t id;
    char *text; /* "id: N\nevent: T\ndata: {...}\n\n" */
    size_t len;
};

struct stream {
    struct events *ev;
    struct MHD_Connection *conn;
    uint64_t next_id;
    bool suspended;
    bool keepalive;
    char ip[64];   /* the client's address, for the per-address limit */
    char *partial; /* the rest of a frame that did not fit into MHD's buffer */
    size_t partial_len, partial_off;
    struct stream *prev, *next;
};

struct events {
    pthread_mutex_t lock;
    struct frame *ring;
    unsigned ring_size;
    uint64_t last_id; /* id of the newest frame; 0 = none yet */
    struct stream *streams;
    unsigned nstreams, max_streams, max_per_ip;
    bool shutdown;
    struct events_peer peer; /* functions NULL: no other instance */
    atomic_bool wanted_elsewhere;
};

struct events *events_new(unsigned ring_size, unsigned max_streams, unsigned max_per_ip)
{
    struct events *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return NULL;
    ev->ring = calloc(ring_size, sizeof *ev->ring);
    if (ev->ring == NULL) {
        free(ev);
        return NULL;
    }
    ev->ring_size = ring_size;
    ev->max_streams = max_streams;
    ev->max_per_ip = max_per_ip;
    pthread_mutex_init(&ev->lock, NULL);
    return ev;
}

/* Caller holds the lock. Resuming is only ever done for a stream marked suspended, and
 * marking happens under the same lock as the suspend, so a resume can never precede its
 * suspend. */
static void wake_all(struct events *ev)
{
    for (struct stream *s = ev->streams; s != NULL; s = s->next) {
        if (s->suspended) {
            s->suspended = false;
            http_connection_resume(s->conn);
        }
    }
}

void events_shutdown(struct events *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->shutdown = true;
    wake_all(ev);
    pthread_mutex_unlock(&ev->lock);
}

void events_free(struct events *ev)
{
    if (ev == NULL)
        return;
    for (unsigned i = 0; i < ev->ring_size; i++)
        free(ev->ring[i].text);
    free(ev->ring);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

/* Caller holds the lock. */
static void add_frame(struct events *ev, const char *type, const char *json)
{
    uint64_t id = ev->last_id + 1;
    size_t cap = strlen(json) + strlen(type) + 64;
    char *text = malloc(cap);
    if (text == NULL)
        return;
    int n = snprintf(text, cap, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", id, type, json);
    struct frame *f = &ev->ring[id % ev->ring_size];
    free(f->text);
    f->id = id;
    f->text = text;
    f->len = (size_t)n;
    ev->last_id = id;
    wake_all(ev);
}

void events_publish(struct events *ev, const char *type, json_t *data)
{
    if (ev == NULL || data == NULL) {
        json_decref(data);
        return;
    }
    char *json = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (json == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    add_frame(ev, type, json);
    if (ev->peer.forward != NULL)
        ev->peer.forward(ev->peer.ctx, type, json);
    pthread_mutex_unlock(&ev->lock);
    free(json);
}

void events_publish_text(struct events *ev, const char *type, const char *json)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    add_frame(ev, type, json);
    pthread_mutex_unlock(&ev->lock);
}

void events_set_peer(struct events *ev, const struct events_peer *peer)
{
    pthread_mutex_lock(&ev->lock);
    if (peer != NULL)
        ev->peer = *peer;
    else
        memset(&ev->peer, 0, sizeof ev->peer);
    pthread_mutex_unlock(&ev->lock);
}

void events_set_wanted_elsewhere(struct events *ev, bool wanted)
{
    atomic_store(&ev->wanted_elsewhere, wanted);
}

/* Caller holds the lock. */
static void streams_changed(struct events *ev)
{
    if (ev->peer.streams_changed != NULL)
        ev->peer.streams_changed(ev->peer.ctx);
}

void events_keepalive(struct events *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    for (struct stream *s = ev->streams; s != NULL; s = s->next)
        s->keepalive = true;
    wake_all(ev);
    pthread_mutex_unlock(&ev->lock);
}

bool events_wanted(struct events *ev)
{
    return ev != NULL && (atomic_load(&ev->wanted_elsewhere) || events_streams(ev) > 0);
}

unsigned events_streams(struct events *ev)
{
    pthread_mutex_lock(&ev->lock);
    unsigned n = ev->nstreams;
    pthread_mutex_unlock(&ev->lock);
    return n;
}

static ssize_t copy_partial(struct stream *s, char *buf, size_t max)
{
    size_t left = s->partial_len - s->partial_off;
    size_t n = left < max ? left : max;
    memcpy(buf, s->partial + s->partial_off, n);
    s->partial_off += n;
    if (s->partial_off == s->partial_len) {
        free(s->partial);
        s->partial = NULL;
    }
    return (ssize_t)n;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    struct events *ev = s->ev;
    ssize_t ret = 0;
    pthread_mutex_lock(&ev->lock);
    if (s->partial != NULL) {
        ret = copy_partial(s, buf, max);
        goto out;
    }
    if (ev->shutdown) {
        ret = MHD_CONTENT_READER_END_OF_STREAM;
        goto out;
    }
    if (s->next_id <= ev->last_id) {
        /* A client too slow for the ring skips to the oldest event still held. */
        uint64_t oldest = ev->last_id >= ev->ring_size ? ev->last_id - ev->ring_size + 1 : 1;
        if (s->next_id < oldest)
            s->next_id = oldest;
        struct frame *f = &ev->ring[s->next_id % ev->ring_size];
        s->next_id++;
        s->partial = malloc(f->len);
        if (s->partial == NULL) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            goto out;
        }
        memcpy(s->partial, f->text, f->len);
        s->partial_len = f->len;
        s->partial_off = 0;
        ret = copy_partial(s, buf, max);
        goto out;
    }
    if (s->keepalive) {
        static const char ka[] = ": keepalive\n\n";
        s->keepalive = false;
        s->partial = malloc(sizeof ka - 1);
        if (s->partial == NULL) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            goto out;
        }
        memcpy(s->partial, ka, sizeof ka - 1);
        s->partial_len = sizeof ka - 1;
        s->partial_off = 0;
        ret = copy_partial(s, buf, max);
        goto out;
    }
    /* Nothing to send: park the connection until publish or keepalive resumes it. */
    s->suspended = true;
    MHD_suspend_connection(s->conn);
out:
    pthread_mutex_unlock(&ev->lock);
    (void)pos;
    return ret;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    struct events *ev = s->ev;
    pthread_mutex_lock(&ev->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        ev->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    ev->nstreams--;
    streams_changed(ev);
    pthread_mutex_unlock(&ev->lock);
    free(s->partial);
    free(s);
}

void events_stream(struct events *ev, const struct http_request *req, struct http_response *resp)
{
    struct stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        http_response_error(resp, 503, "unavailable", NULL, "out of memory");
        return;
    }
    s->ev = ev;
    s->conn = req->conn;
    static const char hello[] = "retry: 3000\n: roundhouse events\n\n";
    s->partial = malloc(sizeof hello - 1);
    if (s->partial == NULL) {
        free(s);
        http_response_error(resp, 503, "unavailable", NULL, "out of memory");
        return;
    }
    memcpy(s->partial, hello, sizeof hello - 1);
    s->partial_len = sizeof hello - 1;

    snprintf(s->ip, sizeof s->ip, "%s", req->client_ip);

    pthread_mutex_lock(&ev->lock);
    /* One host must not take every stream (the web UI of everyone else would go without
     * live updates): a linear count is cheap at a few hundred streams. */
    unsigned mine = 0;
    for (struct stream *o = ev->streams; o != NULL; o = o->next)
        mine += strcmp(o->ip, s->ip) == 0;
    if (mine >= ev->max_per_ip || ev->nstreams >= ev->max_streams || ev->shutdown) {
        bool per_ip = mine >= ev->max_per_ip && !ev->shutdown;
        unsigned limit = per_ip ? ev->max_per_ip : ev->max_streams;
        pthread_mutex_unlock(&ev->lock);
        free(s->partial);
        free(s);
        http_response_error(resp, per_ip ? 429 : 503, "too_many_streams", NULL,
                            "%u event streams are open%s, the most allowed; try again later", limit,
                            per_ip ? " from this address" : "");
        resp->retry_after = 10;
        return;
    }
    s->next_id = ev->last_id + 1;
    const char *last = http_request_header(req, "Last-Event-ID");
    if (last != NULL) {
        char *end = NULL;
        unsigned long long v = strtoull(last, &end, 10);
        if (end != last && *end == '\0' && v <= ev->last_id)
            s->next_id = v + 1;
    }
    s->next = ev->streams;
    if (ev->streams)
        ev->streams->prev = s;
    ev->streams = s;
    ev->nstreams++;
    streams_changed(ev);
    pthread_mutex_unlock(&ev->lock);

    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (r == NULL) {
        stream_free(s);
        http_response_error(resp, 503, "unavailable", NULL, "cannot open the event stream");
        return;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    resp->status = 200;
    resp->stream = r;
}
