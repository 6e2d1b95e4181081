#include "longpoll.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "uuidstr.h"

struct waiter {
    struct MHD_Connection *conn; /* NULL: free slot */
    char controller[UUIDSTR_LEN + 1];
    int64_t deadline_ms;
};

struct longpoll {
    pthread_mutex_t lock;
    struct waiter *slots;
    unsigned nslots;
    unsigned parked;
    bool closed; /* shutting down: nothing parks any more */
    void (*on_park)(void *);
    void *on_park_arg;
};

struct longpoll *longpoll_new(unsigned max_waiters)
{
    struct longpoll *lp = calloc(1, sizeof *lp);
    if (lp == NULL)
        return NULL;
    lp->slots = calloc(max_waiters, sizeof *lp->slots);
    if (lp->slots == NULL) {
        free(lp);
        return NULL;
    }
    lp->nslots = max_waiters;
    pthread_mutex_init(&lp->lock, NULL);
    return lp;
}

void longpoll_free(struct longpoll *lp)
{
    if (lp == NULL)
        return;
    pthread_mutex_destroy(&lp->lock);
    free(lp->slots);
    free(lp);
}

bool longpoll_park(struct longpoll *lp, const struct http_request *req, struct http_response *resp,
                   const char *controller_id, int64_t deadline_ms)
{
    pthread_mutex_lock(&lp->lock);
    struct waiter *w = NULL;
    for (unsigned i = 0; !lp->closed && i < lp->nslots && w == NULL; i++)
        if (lp->slots[i].conn == NULL)
            w = &lp->slots[i];
    if (w != NULL) {
        /* Suspended before it is visible to wake/expire, under the same lock: a resume can
         * never come before its suspend. */
        http_request_suspend(req, resp);
        w->conn = req->conn;
        snprintf(w->controller, sizeof w->controller, "%s", controller_id);
        w->deadline_ms = deadline_ms;
        lp->parked++;
    }
    void (*fn)(void *) = lp->on_park;
    void *arg = lp->on_park_arg;
    pthread_mutex_unlock(&lp->lock);
    if (w != NULL && fn != NULL)
        fn(arg);
    return w != NULL;
}

static void resume_where(struct longpoll *lp, const char *controller_id, int64_t now_ms, bool all)
{
    pthread_mutex_lock(&lp->lock);
    for (unsigned i = 0; i < lp->nslots; i++) {
        struct waiter *w = &lp->slots[i];
        if (w->conn == NULL)
            continue;
        if (all || (controller_id && strcmp(w->controller, controller_id) == 0) ||
            (!controller_id && w->deadline_ms <= now_ms)) {
            http_connection_resume(w->conn);
            w->conn = NULL;
            lp->parked--;
        }
    }
    pthread_mutex_unlock(&lp->lock);
}

void longpoll_wake(struct longpoll *lp, const char *controller_id)
{
    if (lp != NULL)
        resume_where(lp, controller_id, 0, false);
}

void longpoll_expire(struct longpoll *lp, int64_t now_ms)
{
    if (lp != NULL)
        resume_where(lp, NULL, now_ms, false);
}

void longpoll_wake_all(struct longpoll *lp)
{
    if (lp == NULL)
        return;
    pthread_mutex_lock(&lp->lock);
    lp->closed = true;
    pthread_mutex_unlock(&lp->lock);
    resume_where(lp, NULL, 0, true);
}

unsigned longpoll_parked(struct longpoll *lp)
{
    if (lp == NULL)
        return 0;
    pthread_mutex_lock(&lp->lock);
    unsigned n = lp->parked;
    pthread_mutex_unlock(&lp->lock);
    return n;
}

void longpoll_on_park(struct longpoll *lp, void (*fn)(void *), void *arg)
{
    if (lp == NULL)
        return;
    pthread_mutex_lock(&lp->lock);
    lp->on_park = fn;
    lp->on_park_arg = arg;
    pthread_mutex_unlock(&lp->lock);
}
