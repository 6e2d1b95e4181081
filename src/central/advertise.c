#include "advertise.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dnssd.h"
#include "log.h"

struct advertise {
    struct dnssd_advertiser *adv;
    json_t *services; /* for the log: [{"type","port"}] */
};

bool advertise_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

static void on_note(void *ctx, enum dnssd_note note, const char *detail)
{
    struct advertise *a = ctx;
    switch (note) {
    case DNSSD_NOTE_UNAVAILABLE:
        log_event(RH_LOG_WARNING, "dnssd_unavailable", "{s:s?, s:s}", "error", detail, "detail",
                  "no avahi-daemon reachable over D-Bus: the central is not advertised by "
                  "DNS-SD (edges and throttles need its address); retried in the background");
        break;
    case DNSSD_NOTE_CONNECTED:
        log_event(RH_LOG_INFO, "dnssd_connected", "{s:s?}", "host", detail);
        break;
    case DNSSD_NOTE_ESTABLISHED:
        log_event(RH_LOG_INFO, "dnssd_advertised", "{s:s?, s:O}", "name", detail, "services",
                  a->services);
        break;
    case DNSSD_NOTE_RENAMED:
        log_event(RH_LOG_WARNING, "dnssd_renamed", "{s:s?, s:s}", "name", detail, "detail",
                  "another host advertises the same name");
        break;
    case DNSSD_NOTE_FAILED:
        log_event(RH_LOG_ERROR, "dnssd_failed", "{s:s?}", "error", detail);
        break;
    default:
        break;
    }
}

int advertise_start(const char *http_host, int http_port, const char *withrottle_host,
                    int withrottle_port, struct advertise **out)
{
    struct dnssd_service svcs[2];
    size_t n = 0;
    char host[64] = "", name[64];
    int rc = -ENOMEM;
    *out = NULL;

    memset(svcs, 0, sizeof svcs);
    if (!advertise_host_is_loopback(http_host) && http_port > 0) {
        svcs[n].type = DNSSD_TYPE_ROUNDHOUSE;
        svcs[n].port = http_port;
        svcs[n].txt[0] = "txtvers=1";
        svcs[n].txt[1] = "version=" ROUNDHOUSE_VERSION;
        svcs[n].txt[2] = "path=/api";
        n++;
    }
    if (withrottle_port > 0 && !advertise_host_is_loopback(withrottle_host)) {
        svcs[n].type = DNSSD_TYPE_WITHROTTLE;
        svcs[n].port = withrottle_port;
        svcs[n].txt[0] = "version=" ROUNDHOUSE_VERSION;
        n++;
    }
    if (n == 0) {
        log_event(RH_LOG_INFO, "dnssd_not_advertised", "{s:s}", "reason",
                  "every listener is on a loopback address, which no other host can reach");
        return 0;
    }
    struct advertise *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -ENOMEM;
    a->services = json_array();
    for (size_t i = 0; i < n && a->services != NULL; i++)
        json_array_append_new(a->services,
                              json_pack("{s:s, s:i}", "type", svcs[i].type, "port", svcs[i].port));
    if (a->services == NULL)
        goto fail;
    /* The instance name the phone apps show: the host's name tells two centrals apart. */
    if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
        snprintf(host, sizeof host, "central");
    host[strcspn(host, ".")] = '\0';
    snprintf(name, sizeof name, "Roundhouse on %.40s", host);
    rc = dnssd_advertiser_start(name, svcs, n, on_note, a, &a->adv);
    if (rc < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    json_decref(a->services);
    free(a);
    return rc;
}

void advertise_stop(struct advertise *a)
{
    if (a == NULL)
        return;
    dnssd_advertiser_free(a->adv);
    json_decref(a->services);
    free(a);
}
