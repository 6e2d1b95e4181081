/* The WiThrottle server: handheld throttles (Engine Driver, the WiThrottle app, ESP32
 * handhelds) drive trains over TCP. Its own thread polls the listening socket and the
 * clients; every command a client gives is published like POST /api/trains/{id}/command
 * (notify_command), and every train status the central ingests is pushed to the throttles
 * holding that train. docs/throttles.md describes the protocol subset and the safety rules.
 *
 * Errors: 0 or a negative errno; withrottle_start fills err. */
#ifndef ROUNDHOUSE_WITHROTTLE_H
#define ROUNDHOUSE_WITHROTTLE_H

#include <stddef.h>

struct central;
struct withrottle;

struct withrottle_config {
    const char *host; /* numeric IPv4 or IPv6 */
    int port;         /* 0: the kernel picks (withrottle_port tells which) */
    int heartbeat_s;  /* the *N interval announced; silence past it stops the trains */
    int web_port;     /* announced as PW */
};

int withrottle_start(struct central *c, const struct withrottle_config *cfg,
                     struct withrottle **out, char *err, size_t errlen);
int withrottle_port(const struct withrottle *w);
/* Closes every connection, stopping the trains throttles held, and joins the thread. The
 * notify module must still run. withrottle_stop(NULL) does nothing. */
void withrottle_stop(struct withrottle *w);
/* Frees what withrottle_stop left (call after notify_stop). NULL does nothing. */
void withrottle_free(struct withrottle *w);

/* From any thread (the MQTT thread's status ingestion): train_id now runs towards speed
 * (0-100) in direction ("FORWARD", "BACKWARD"/"REVERSE", or NULL). Queued; the server thread
 * pushes it to the throttles holding the train. */
void withrottle_train_status(struct withrottle *w, const char *train_id, int speed,
                             const char *direction);
/* From any thread: the layout was stopped or resumed (layout.h); every throttle is told its
 * track power (PPA0 / PPA1). NULL does nothing. */
void withrottle_power_changed(struct withrottle *w);

#endif
