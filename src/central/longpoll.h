/* Parked runtime-config requests (GET /api/controllers/{id}/config?wait=SEC&version=N): the
 * edge's fallback while the broker is unreachable. A request whose controller is still at
 * version <= N is suspended (no thread held) until that controller's config_version rises or
 * its deadline passes; then the handler runs again and answers 200 or 304.
 * Thread-safe. Bounded: past max_waiters a request is answered at once. */
#ifndef ROUNDHOUSE_LONGPOLL_H
#define ROUNDHOUSE_LONGPOLL_H

#include <stdbool.h>
#include <stdint.h>

struct longpoll;
struct http_request;
struct http_response;

struct longpoll *longpoll_new(unsigned max_waiters);
void longpoll_free(struct longpoll *lp);

/* Suspends the request until longpoll_wake(controller_id) or deadline (monotonic ms).
 * Returns false (nothing done) when the table is full. */
bool longpoll_park(struct longpoll *lp, const struct http_request *req, struct http_response *resp,
                   const char *controller_id, int64_t deadline_ms);
void longpoll_wake(struct longpoll *lp, const char *controller_id);
/* Resumes the requests whose deadline is at or before now_ms. */
void longpoll_expire(struct longpoll *lp, int64_t now_ms);
/* Resumes everything and refuses new parking (shutdown). */
void longpoll_wake_all(struct longpoll *lp);
/* How many requests are parked now. */
unsigned longpoll_parked(struct longpoll *lp);
/* fn(arg) runs after each request parks (outside the lock): the sweeper, which expires the
 * deadlines, sleeps longer while nothing is parked and is woken this way. NULL: none. */
void longpoll_on_park(struct longpoll *lp, void (*fn)(void *), void *arg);

#endif
