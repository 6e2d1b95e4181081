/* The central's DNS-SD advertisement (--advertise on|off): _roundhouse._tcp for the HTTP API,
 * which edges and the CLI browse for when no URL is given, and _withrottle._tcp for the
 * WiThrottle server, which Engine Driver and the WiThrottle app list by themselves. Runs in
 * the background (dnssd.h); without an avahi-daemon the central logs one warning and runs
 * as it would without advertising. An address that only this host can reach (loopback) is
 * not advertised.
 *
 * Errors: advertise_start returns 0 or a negative errno (-ENOMEM); it never fails for a
 * missing daemon. */
#ifndef ROUNDHOUSE_CENTRAL_ADVERTISE_H
#define ROUNDHOUSE_CENTRAL_ADVERTISE_H

#include <stdbool.h>

struct advertise;

/* The listening addresses as numeric hosts and the ports bound; withrottle_port 0: the
 * WiThrottle server is off. *out stays NULL when there is nothing to advertise. */
int advertise_start(const char *http_host, int http_port, const char *withrottle_host,
                    int withrottle_port, struct advertise **out);
/* Withdraws the services. NULL: no-op. */
void advertise_stop(struct advertise *a);

/* Whether a numeric host is a loopback address (127.0.0.0/8, ::1): pure, for the tests. */
bool advertise_host_is_loopback(const char *host);

#endif
