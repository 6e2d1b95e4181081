/* Facts about the host reported at registration and in heartbeats. */
#ifndef ROUNDHOUSE_EDGE_SYSINFO_H
#define ROUNDHOUSE_EDGE_SYSINFO_H

#include <stddef.h>

struct sysinfo_facts {
    char hostname[128];
    char address[64];   /* primary non-loopback IP, "unknown" when none */
    char platform[160]; /* "<os>-<release>-<machine>", e.g. Linux-6.1.0-rpi-arm64 */
    long memory_mb;     /* -1 when unknown */
    long cpu_count;     /* -1 when unknown */
};

/* Never fails: unknown facts get the placeholder values above. */
void sysinfo_collect(struct sysinfo_facts *f);

/* The first IPv4 address of an interface that is up and not loopback (IPv6 global address
 * when there is no IPv4). 0, or -ENOENT when none; out untouched on failure. */
int sysinfo_primary_address(char *out, size_t outlen);

#endif
