#include "discover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnssd.h"
#include "log.h"

bool central_choice_set(struct central_choice *c, const char *const *urls, size_t n)
{
    const char *cur = central_choice_current(c);
    char was[CENTRAL_URL_MAX] = "";
    if (n == 0)
        return false;
    if (cur != NULL)
        snprintf(was, sizeof was, "%s", cur);
    if (n > CENTRAL_CHOICE_MAX)
        n = CENTRAL_CHOICE_MAX;
    c->n = 0;
    c->idx = 0;
    for (size_t i = 0; i < n; i++) {
        if (urls[i] == NULL || strlen(urls[i]) >= CENTRAL_URL_MAX)
            continue;
        if (strcmp(urls[i], was) == 0)
            c->idx = c->n;
        memcpy(c->urls[c->n++], urls[i], strlen(urls[i]) + 1);
    }
    cur = central_choice_current(c);
    return cur != NULL && strcmp(cur, was) != 0;
}

bool central_choice_failed(struct central_choice *c, const char *url)
{
    if (c->n < 2 || (url != NULL && strcmp(url, c->urls[c->idx]) != 0))
        return false;
    c->idx = (c->idx + 1) % c->n;
    return true;
}

const char *central_choice_current(const struct central_choice *c)
{
    return c->n > 0 ? c->urls[c->idx] : NULL;
}

struct discover {
    struct dnssd_browser *browser;
    unsigned generation;
};

static void on_note(void *ctx, enum dnssd_note note, const char *detail)
{
    switch (note) {
    case DNSSD_NOTE_UNAVAILABLE:
        log_event(RH_LOG_WARNING, "dnssd_unavailable", "{s:s?, s:s}", "error", detail, "detail",
                  "no avahi-daemon reachable over D-Bus, so no central can be found by DNS-SD; "
                  "retried in the background. Until a central answers the trains are driven "
                  "from the cached config; give --central URL to skip discovery");
        break;
    case DNSSD_NOTE_CONNECTED:
        log_event(RH_LOG_INFO, "dnssd_connected", "{s:s?}", "host", detail);
        break;
    case DNSSD_NOTE_FOUND:
        log_event(RH_LOG_INFO, "central_discovered", "{s:s?, s:s}", "url", detail, "type",
                  DNSSD_TYPE_ROUNDHOUSE);
        break;
    case DNSSD_NOTE_LOST:
        log_event(RH_LOG_INFO, "central_withdrawn", "{s:s?}", "url", detail);
        break;
    default:
        break;
    }
}

int discover_start(struct discover **out)
{
    struct discover *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -ENOMEM;
    int rc = dnssd_browser_start(DNSSD_TYPE_ROUNDHOUSE, on_note, NULL, &d->browser);
    if (rc < 0) {
        free(d);
        return rc;
    }
    log_event(RH_LOG_INFO, "central_discovery_started", "{s:s, s:s}", "type", DNSSD_TYPE_ROUNDHOUSE,
              "detail", "no central URL configured: looking for one by DNS-SD");
    *out = d;
    return 0;
}

bool discover_poll(struct discover *d, struct central_choice *c)
{
    char urls[CENTRAL_CHOICE_MAX][DNSSD_URL_MAX];
    const char *ptrs[CENTRAL_CHOICE_MAX];
    unsigned gen = 0;
    size_t n = dnssd_browser_urls(d->browser, urls, CENTRAL_CHOICE_MAX, &gen);
    if (gen == d->generation)
        return false;
    d->generation = gen;
    if (n > CENTRAL_CHOICE_MAX)
        n = CENTRAL_CHOICE_MAX;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = urls[i];
    return central_choice_set(c, ptrs, n);
}

void discover_free(struct discover *d)
{
    if (d == NULL)
        return;
    dnssd_browser_free(d->browser);
    free(d);
}
