/* The live event stream (GET /api/events, Server-Sent Events): one event per change of a
 * controller, train, assignment or train status, for the web UI and any other client.
 *
 * Events are kept in a bounded ring; each has an increasing id, so a client that reconnects
 * with Last-Event-ID gets what it missed while the ring still holds it. The hottest
 * producers (registrations, heartbeats) skip building events while no stream is open, so a
 * client should (and the web UI does) reload the state over REST whenever it connects. A stream
 * waits (suspended connection, no thread) until an event arrives; every keepalive it writes a
 * comment line, which also lets the server notice a client that went away.
 * Thread-safe: events_publish may be called from any thread. */
#ifndef ROUNDHOUSE_EVENTS_H
#define ROUNDHOUSE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>

struct events;
struct http_request;
struct http_response;

/* max_streams open streams in all, max_per_ip from one client address. */
struct events *events_new(unsigned ring_size, unsigned max_streams, unsigned max_per_ip);
/* Ends every stream; call before the HTTP server stops. */
void events_shutdown(struct events *ev);
void events_free(struct events *ev);

/* type: "controller", "train", "status", "assignment", ...; data is stolen. */
void events_publish(struct events *ev, const char *type, json_t *data);
/* Fills resp with the streaming response, or an error with Retry-After: 429 too_many_streams
 * when the client's address has max_per_ip streams open, 503 when all of them are taken. */
void events_stream(struct events *ev, const struct http_request *req, struct http_response *resp);
/* Several centrals on one database (cluster.h): the instance's link to the others. forward
 * receives every event published here (called under the stream lock: it may only queue),
 * streams_changed is called (likewise) when a stream opens or closes. */
struct events_peer {
    void (*forward)(void *ctx, const char *type, const char *json);
    void (*streams_changed)(void *ctx);
    void *ctx;
};
/* Copies *peer; NULL removes it (after the call, neither function runs any more). */
void events_set_peer(struct events *ev, const struct events_peer *peer);
/* An event that another instance published (its JSON text): to this instance's streams,
 * not forwarded again. */
void events_publish_text(struct events *ev, const char *type, const char *json);
/* Whether another instance has streams open: events_wanted is then true here too, so that
 * the producers here build the events those streams show. */
void events_set_wanted_elsewhere(struct events *ev, bool wanted);

/* Wakes every waiting stream to write a keepalive comment. */
void events_keepalive(struct events *ev);
unsigned events_streams(struct events *ev);
/* True when at least one stream is open, here or (events_set_wanted_elsewhere) on another
 * instance: callers skip building event payloads otherwise. */
bool events_wanted(struct events *ev);

#endif
