/* Asynchronous HTTP/1.1 JSON calls to the central API, driven from the daemon's poll loop
 * (api_client_fds / api_client_timeout_ms / api_client_handle, like the health server's), so
 * a slow or dead central never stalls motor control. One TCP connection per request, "Connection:
 * close". https:// speaks TLS through OpenSSL, which the edge loads anyway (libmosquitto
 * links it): non-blocking handshake, reads and writes on the same loop, SNI and host name
 * verification against a CA file or the system's store, or a pinned certificate
 * (api_client_tls_setup). A refused certificate fails the request like a refused connection:
 * the edge carries on as with a central it cannot reach.
 *
 * Every request has a connect timeout (name lookup included) and a total timeout. Host names
 * other than IP literals are looked up off the loop (resolve.h). Not thread-safe. */
#ifndef ROUNDHOUSE_EDGE_API_CLIENT_H
#define ROUNDHOUSE_EDGE_API_CLIENT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "protocol.h"
#include "tlsutil.h"
#define API_BODY_MAX PROTO_RUNTIME_CONFIG_READ_MAX
#define API_CONNECT_TIMEOUT_MS 5000
#define API_TIMEOUT_MS 10000

struct api_response {
    long status;       /* HTTP status, 0 on transport failure */
    const char *error; /* transport error text, NULL when a response arrived */
    const char *body;  /* NUL-terminated, may be empty; valid during the callback */
    size_t body_len;
    int64_t retry_after_ms; /* Retry-After in seconds * 1000, -1 when absent */
    const char *etag;       /* ETag header or NULL */
};

typedef void (*api_done_fn)(void *ctx, int tag, const struct api_response *r);

struct api_client;

/* Whether base_url is one the client can use: http[s]://host[:port][/prefix], host a name or
 * an IP literal ([v6] in brackets). 0 or -EINVAL. */
int api_client_check_url(const char *base_url);
/* Whether base_url is an https:// one (and valid). */
bool api_client_url_is_https(const char *base_url);
/* base_url without trailing slash. NULL on allocation failure or a URL that
 * api_client_check_url refuses. An https:// client must be given its trust with
 * api_client_tls_setup before its first request. base_url NULL: no central is known yet
 * (DNS-SD discovery still looking); every request then fails, as for an unreachable central. */
struct api_client *api_client_new(const char *base_url);

struct api_tls {
    const char *ca_file;         /* PEM CA certificates; NULL: the system's trust store */
    const struct tls_pins *pins; /* NULL or none: no pinning */
};
/* Trust for an https:// client. With pins and no CA file the certificate must match a pin
 * and be within its validity dates (a self-signed central); chain and host name are not
 * checked. With pins and a CA file both must hold. Files are read now: -EINVAL with err
 * naming the file. A no-op for an http:// client. */
int api_client_tls_setup(struct api_client *c, const struct api_tls *tls, char *err, size_t errlen);
/* Closes the connections of requests still in flight; their done is not called. A host-name
 * lookup still running is abandoned, not waited for. */
void api_client_free(struct api_client *c);
/* One request. Only method and path are required. */
struct api_call {
    int tag;                   /* handed back to done */
    const char *method;        /* "GET", "POST" */
    const char *path;          /* appended to base_url */
    const json_t *body;        /* sent as JSON; NULL: none */
    const char *if_none_match; /* NULL: none */
    const char *header;        /* one more "Name: value" header; NULL: none */
    const char *header2;       /* and another (the controller secret beside the token) */
    long timeout_ms;           /* total time allowed; 0: API_TIMEOUT_MS */
};

/* Starts a request. done is called from api_client_handle when it completes (also on
 * failure, with status 0 and error set: refused, timed out, reset, malformed answer, body
 * above API_BODY_MAX), never from here. 0 or negative errno (-EINVAL: a method, path or
 * header with line breaks in it). */
int api_client_start(struct api_client *c, const struct api_call *call, api_done_fn done,
                     void *ctx);
/* Number of requests in flight. */
size_t api_client_pending(const struct api_client *c);
/* Poll integration. api_client_fds first moves on what needs no socket event (a finished
 * name lookup, a fresh address to connect to), then appends the sockets to watch to fds (at
 * most max) and returns how many it added; api_client_timeout_ms says how long the poll may
 * wait for the client's sake (ms; 0: at once; -1: no deadline), asked after api_client_fds;
 * api_client_handle takes the descriptors api_client_fds added, with revents from poll,
 * moves the requests on, applies their deadlines and calls the completion callbacks. */
unsigned api_client_fds(struct api_client *c, struct pollfd *fds, unsigned max);
int64_t api_client_timeout_ms(const struct api_client *c);
void api_client_handle(struct api_client *c, const struct pollfd *fds, unsigned nfds);
/* The three around one poll(2), for a caller without a loop of its own (tests): waits up to
 * timeout_ms (-1: no limit) for the caller's descriptors (revents filled in, POLLHUP and
 * POLLERR included) or the client's own sockets. Returns the number of the caller's
 * descriptors with events, or a negative errno. */
int api_client_poll(struct api_client *c, struct pollfd *fds, unsigned nfds, int timeout_ms);

#endif
