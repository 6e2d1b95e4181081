/* DNS-SD over mDNS through the local avahi-daemon (Avahi's client library, over D-Bus):
 * the central advertises its services, the edge and the CLI browse for them.
 *
 * Everything Avahi does runs on a thread of its own (avahi_threaded_poll), so a slow or absent
 * daemon never holds up the caller's loop: the calls below only take a lock. A daemon that
 * is not there, or that goes away (restart), is retried in the background with backoff; the
 * program hears about it through the note callback, which is called on Avahi's thread and
 * must not call back into this module. Library code: it reports, the program logs.
 *
 * Errors: 0 or a negative errno (-ENOMEM, -EINVAL for a bad argument, -EIO when Avahi's
 * event loop cannot be started). */
#ifndef ROUNDHOUSE_DNSSD_H
#define ROUNDHOUSE_DNSSD_H

#include <stddef.h>

#define DNSSD_TYPE_ROUNDHOUSE "_roundhouse._tcp"
#define DNSSD_TYPE_WITHROTTLE "_withrottle._tcp"
#define DNSSD_SERVICES_MAX 4
#define DNSSD_TXT_MAX 6
/* http://[v6 address]:port/prefix */
#define DNSSD_URL_MAX 160
/* Services remembered by a browser; more are ignored until some go away. */
#define DNSSD_FOUND_MAX 16

enum dnssd_note {
    DNSSD_NOTE_UNAVAILABLE, /* no avahi-daemon (detail: why); retried in the background */
    DNSSD_NOTE_CONNECTED,   /* the daemon answers (again) */
    DNSSD_NOTE_ESTABLISHED, /* advertiser: every service registered (detail: the name) */
    DNSSD_NOTE_RENAMED,     /* advertiser: the name was taken on the network (detail: new) */
    DNSSD_NOTE_FAILED,      /* advertiser: the daemon refused the services (detail: why) */
    DNSSD_NOTE_FOUND,       /* browser: a service resolved (detail: its URL) */
    DNSSD_NOTE_LOST,        /* browser: a service went away (detail: its URL) */
};

typedef void (*dnssd_note_fn)(void *ctx, enum dnssd_note note, const char *detail);

const char *dnssd_note_name(enum dnssd_note note);

struct dnssd_service {
    const char *type; /* e.g. DNSSD_TYPE_ROUNDHOUSE */
    int port;
    const char *txt[DNSSD_TXT_MAX + 1]; /* "key=value", NULL-terminated */
};

struct dnssd_advertiser;

/* Advertises n (at most DNSSD_SERVICES_MAX) services under one instance name (at most 63
 * bytes; a name taken on the network is replaced by Avahi's alternative, "name #2"). The
 * strings are copied. Returns at once; registration happens in the background and is
 * repeated after a daemon restart. */
int dnssd_advertiser_start(const char *name, const struct dnssd_service *svcs, size_t n,
                           dnssd_note_fn note, void *ctx, struct dnssd_advertiser **out);
/* Withdraws the services and stops the thread. NULL: no-op. */
void dnssd_advertiser_free(struct dnssd_advertiser *a);

struct dnssd_browser;

/* Browses for services of type (e.g. DNSSD_TYPE_ROUNDHOUSE) on every interface and resolves
 * them to http://ADDRESS:PORT URLs (IPv4 first; IPv6 link-local addresses are skipped, as
 * they are useless without their interface). A TXT "path" ending in "/api" gives the part
 * before it as the URL's path. */
int dnssd_browser_start(const char *type, dnssd_note_fn note, void *ctx,
                        struct dnssd_browser **out);
/* Copies up to max URLs of the services resolved now, oldest first, and returns how many
 * there are (at most DNSSD_FOUND_MAX). *generation (may be NULL) changes whenever the set
 * changes. */
size_t dnssd_browser_urls(struct dnssd_browser *b, char (*urls)[DNSSD_URL_MAX], size_t max,
                          unsigned *generation);
/* Waits up to timeout_ms for a first resolved service and copies its URL. 0, or -ETIMEDOUT
 * (then why, if not NULL, says what was seen: no daemon, or nothing advertised). */
int dnssd_browser_wait(struct dnssd_browser *b, long timeout_ms, char *url, size_t len, char *why,
                       size_t whylen);
void dnssd_browser_free(struct dnssd_browser *b);

#endif
