/* The central for a `roundhouse` run given neither --central nor ROUNDHOUSE_CENTRAL: the
 * first _roundhouse._tcp service DNS-SD finds within CLI_DISCOVER_TIMEOUT_MS, through the
 * local avahi-daemon (dnssd.h). */
#ifndef ROUNDHOUSE_CLI_DISCOVER_H
#define ROUNDHOUSE_CLI_DISCOVER_H

#include <stddef.h>
#include <stdio.h>

#define CLI_DISCOVER_TIMEOUT_MS 3000L

/* Fills url and says on err which central was found. 0, or -ETIMEDOUT / -ENOMEM after
 * saying on err why none was found. */
int cli_discover_central(char *url, size_t len, long timeout_ms, FILE *err);

#endif
