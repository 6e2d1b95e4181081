#include "sysinfo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

int sysinfo_primary_address(char *out, size_t outlen)
{
    struct ifaddrs *list = NULL;
    char v4[INET_ADDRSTRLEN] = "", v6[INET6_ADDRSTRLEN] = "";
    if (getifaddrs(&list) < 0)
        return -errno;
    for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK))
            continue;
        if (ifa->ifa_addr->sa_family == AF_INET && v4[0] == '\0') {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)ifa->ifa_addr;
            inet_ntop(AF_INET, &sin->sin_addr, v4, sizeof v4);
        } else if (ifa->ifa_addr->sa_family == AF_INET6 && v6[0] == '\0') {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(void *)ifa->ifa_addr;
            /* A link-local address is useless to an operator on another segment. */
            if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
                continue;
            inet_ntop(AF_INET6, &sin6->sin6_addr, v6, sizeof v6);
        }
    }
    freeifaddrs(list);
    const char *best = v4[0] ? v4 : v6;
    if (best[0] == '\0' || strlen(best) >= outlen)
        return -ENOENT;
    memcpy(out, best, strlen(best) + 1);
    return 0;
}

static long meminfo_total_mb(void)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    char line[256];
    long mb = -1;
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof line, fp) != NULL) {
        unsigned long kb;
        if (sscanf(line, "MemTotal: %lu kB", &kb) == 1) {
            mb = (long)(kb / 1024);
            break;
        }
    }
    fclose(fp);
    return mb;
}

void sysinfo_collect(struct sysinfo_facts *f)
{
    struct utsname u;
    memset(f, 0, sizeof *f);
    if (gethostname(f->hostname, sizeof f->hostname) < 0 || f->hostname[0] == '\0')
        snprintf(f->hostname, sizeof f->hostname, "roundhouse-edge");
    f->hostname[sizeof f->hostname - 1] = '\0';
    if (sysinfo_primary_address(f->address, sizeof f->address) < 0)
        snprintf(f->address, sizeof f->address, "unknown");
    if (uname(&u) == 0)
        snprintf(f->platform, sizeof f->platform, "%.40s-%.64s-%.40s", u.sysname, u.release,
                 u.machine);
    else
        snprintf(f->platform, sizeof f->platform, "unknown");
    f->memory_mb = meminfo_total_mb();
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    f->cpu_count = n > 0 ? n : -1;
}
