/* DNS-SD through Avahi's client library (dnssd.h). One threaded Avahi poll per object; the
 * client is (re)created on that thread from a timer, so neither a missing daemon nor a D-Bus
 * that is slow to answer is ever waited for by the caller. AVAHI_CLIENT_NO_FAIL keeps a
 * client waiting for a daemon that is not started yet; a client that fails (daemon restart,
 * D-Bus gone) is freed and replaced after a backoff of 1 s doubling to 30 s. */
#include "dnssd.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/thread-watch.h>
#include <avahi-common/timeval.h>

#include "timeutil.h"

/* Avahi's libraries are loaded when DNS-SD is first used, not linked: libavahi-client brings
 * D-Bus, and through it libsystemd and its compression and crypto libraries, about 1 MiB of
 * resident pages, into every process that links it, and an edge with a configured central
 * never browses. A machine without the library gets the "unavailable" note, as one without
 * the daemon does. */
#define AVAHI_FUNCTIONS(X)                                                                         \
    X(avahi_alternative_service_name)                                                              \
    X(avahi_client_errno)                                                                          \
    X(avahi_client_free)                                                                           \
    X(avahi_client_get_host_name_fqdn)                                                             \
    X(avahi_client_new)                                                                            \
    X(avahi_elapse_time)                                                                           \
    X(avahi_entry_group_add_service_strlst)                                                        \
    X(avahi_entry_group_commit)                                                                    \
    X(avahi_entry_group_get_client)                                                                \
    X(avahi_entry_group_is_empty)                                                                  \
    X(avahi_entry_group_new)                                                                       \
    X(avahi_entry_group_reset)                                                                     \
    X(avahi_free)                                                                                  \
    X(avahi_service_browser_free)                                                                  \
    X(avahi_service_browser_new)                                                                   \
    X(avahi_service_resolver_free)                                                                 \
    X(avahi_service_resolver_new)                                                                  \
    X(avahi_strerror)                                                                              \
    X(avahi_string_list_add)                                                                       \
    X(avahi_string_list_find)                                                                      \
    X(avahi_string_list_free)                                                                      \
    X(avahi_string_list_get_pair)                                                                  \
    X(avahi_string_list_reverse)                                                                   \
    X(avahi_threaded_poll_free)                                                                    \
    X(avahi_threaded_poll_get)                                                                     \
    X(avahi_threaded_poll_new)                                                                     \
    X(avahi_threaded_poll_start)                                                                   \
    X(avahi_threaded_poll_stop)

struct avahi_api {
/* A member declaration: its name cannot be parenthesised. */
#define AVAHI_MEMBER(name) __typeof__(name) *name; // NOLINT(bugprone-macro-parentheses)
    AVAHI_FUNCTIONS(AVAHI_MEMBER)
#undef AVAHI_MEMBER
};

#define AVAHI_LIBRARY "libavahi-client.so.3"

static struct avahi_api api;
static const struct avahi_api *av; /* NULL until loaded */
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *lib = dlopen(AVAHI_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(load_error, sizeof load_error, "%s", dlerror());
        return;
    }
    const char *missing = NULL;
    /* POSIX: a function pointer is read from dlsym's void * through memcpy. */
#define AVAHI_RESOLVE(name)                                                                        \
    do {                                                                                           \
        void *sym = dlsym(lib, #name);                                                             \
        if (sym == NULL && missing == NULL)                                                        \
            missing = #name;                                                                       \
        memcpy(&api.name, &sym, sizeof sym);                                                       \
    } while (0);
    AVAHI_FUNCTIONS(AVAHI_RESOLVE)
#undef AVAHI_RESOLVE
    if (missing != NULL) {
        snprintf(load_error, sizeof load_error, "%s: no %s", AVAHI_LIBRARY, missing);
        dlclose(lib);
        return;
    }
    av = &api; /* the library stays loaded for the life of the process */
}

/* NULL once the library is there, else why not. */
static const char *loaded(void)
{
    pthread_once(&load_once, load);
    return av != NULL ? NULL : load_error;
}

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
/* Bounded renames: a network where every alternative name is taken gets a failure note. */
#define RENAME_MAX 20
/* Resolvers in flight at once: a flood of announcements must not grow without bound. */
#define RESOLVING_MAX 32
#define PATH_MAX_LEN 64
#define NAME_MAX_LEN 63

struct session {
    AvahiThreadedPoll *poll;
    AvahiClient *client;
    AvahiTimeout *retry;
    unsigned retry_ms;
    int available; /* -1 unknown, 0 no daemon, 1 connected */
    dnssd_note_fn note;
    void *ctx;
    void (*running)(struct session *s); /* client up: (re)create the role's objects */
    void (*reset)(struct session *s);   /* daemon re-registering: withdraw for now */
    void (*lost)(struct session *s);    /* client about to be freed: forget its objects */
    void (*unavailable)(struct session *s, const char *why);
};

const char *dnssd_note_name(enum dnssd_note note)
{
    static const char *const names[] = {"unavailable", "connected", "established", "renamed",
                                        "failed",      "found",     "lost"};
    return (unsigned)note < sizeof names / sizeof names[0] ? names[note] : "unknown";
}

static void note(struct session *s, enum dnssd_note n, const char *detail)
{
    if (s->note != NULL)
        s->note(s->ctx, n, detail);
}

static void set_unavailable(struct session *s, const char *why)
{
    if (s->unavailable != NULL)
        s->unavailable(s, why);
    if (s->available != 0) {
        s->available = 0;
        note(s, DNSSD_NOTE_UNAVAILABLE, why);
    }
}

/* The struct timeval of these calls is Avahi's: filled by one Avahi call and handed to the
 * next, never read here. On armhf, where Debian's Avahi has 32-bit time and we have 64-bit
 * time (docs/arm.md), reading it would be wrong; passing it on is not. */
static void retry_in(struct session *s, unsigned ms)
{
    struct timeval tv;
    av->avahi_elapse_time(&tv, ms, 0);
    av->avahi_threaded_poll_get(s->poll)->timeout_update(s->retry, &tv);
}

static void client_cb(AvahiClient *c, AvahiClientState state, void *userdata)
{
    struct session *s = userdata;
    s->client = c; /* called from inside avahi_client_new too, before it returns */
    switch (state) {
    case AVAHI_CLIENT_S_RUNNING:
        s->retry_ms = RETRY_MIN_MS;
        if (s->available != 1) {
            s->available = 1;
            note(s, DNSSD_NOTE_CONNECTED, av->avahi_client_get_host_name_fqdn(c));
        }
        s->running(s);
        break;
    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
        /* The daemon's own host name changes: our records go and come back with it. */
        if (s->reset != NULL)
            s->reset(s);
        break;
    case AVAHI_CLIENT_CONNECTING:
        set_unavailable(s, "waiting for avahi-daemon to start");
        break;
    case AVAHI_CLIENT_FAILURE:
        s->lost(s);
        set_unavailable(s, av->avahi_strerror(av->avahi_client_errno(c)));
        /* Freed and replaced from the timer, not inside its own callback. */
        retry_in(s, s->retry_ms);
        if (s->retry_ms < RETRY_MAX_MS)
            s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
        break;
    }
}

static void connect_cb(AvahiTimeout *t, void *userdata)
{
    struct session *s = userdata;
    int err = 0;
    av->avahi_threaded_poll_get(s->poll)->timeout_update(t, NULL);
    if (s->client != NULL) {
        s->lost(s);
        av->avahi_client_free(s->client);
        s->client = NULL;
    }
    AvahiClient *c = av->avahi_client_new(av->avahi_threaded_poll_get(s->poll),
                                          AVAHI_CLIENT_NO_FAIL, client_cb, s, &err);
    if (c == NULL) {
        s->client = NULL;
        set_unavailable(s, av->avahi_strerror(err));
        retry_in(s, s->retry_ms);
        if (s->retry_ms < RETRY_MAX_MS)
            s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
        return;
    }
    s->client = c;
}

/* Without the library there is no thread: the session stays unavailable, as without a
 * daemon, and is never retried (the library does not appear later). */
static int session_start(struct session *s)
{
    struct timeval now;
    s->available = -1;
    s->retry_ms = RETRY_MIN_MS;
    const char *why = loaded();
    if (why != NULL) {
        set_unavailable(s, why);
        return 0;
    }
    s->poll = av->avahi_threaded_poll_new();
    if (s->poll == NULL)
        return -ENOMEM;
    av->avahi_elapse_time(&now, 0, 0);
    s->retry = av->avahi_threaded_poll_get(s->poll)->timeout_new(
        av->avahi_threaded_poll_get(s->poll), &now, connect_cb, s);
    if (s->retry == NULL)
        return -ENOMEM;
    if (av->avahi_threaded_poll_start(s->poll) < 0)
        return -EIO;
    return 0;
}

/* Stops the thread first: from then on nothing else touches the objects. */
static void session_stop(struct session *s)
{
    if (s->poll == NULL)
        return;
    av->avahi_threaded_poll_stop(s->poll);
    if (s->client != NULL) {
        s->lost(s);
        av->avahi_client_free(s->client);
        s->client = NULL;
    }
    if (s->retry != NULL)
        av->avahi_threaded_poll_get(s->poll)->timeout_free(s->retry);
    s->retry = NULL;
    av->avahi_threaded_poll_free(s->poll);
    s->poll = NULL;
}

/* --- advertiser ------------------------------------------------------------------------- */

struct dnssd_advertiser {
    struct session s; /* first: the callbacks get the session */
    AvahiEntryGroup *group;
    char name[NAME_MAX_LEN + 1];
    unsigned renames;
    size_t n;
    struct {
        char *type;
        int port;
        AvahiStringList *txt;
    } svc[DNSSD_SERVICES_MAX];
};

static void rename_service(struct dnssd_advertiser *a)
{
    char *alt = av->avahi_alternative_service_name(a->name);
    if (alt != NULL) {
        snprintf(a->name, sizeof a->name, "%s", alt);
        av->avahi_free(alt);
    }
    a->renames++;
    note(&a->s, DNSSD_NOTE_RENAMED, a->name);
}

static void services_add(struct dnssd_advertiser *a);

static void group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state, void *userdata)
{
    struct dnssd_advertiser *a = userdata;
    a->group = g;
    switch (state) {
    case AVAHI_ENTRY_GROUP_ESTABLISHED:
        a->renames = 0;
        note(&a->s, DNSSD_NOTE_ESTABLISHED, a->name);
        break;
    case AVAHI_ENTRY_GROUP_COLLISION:
        /* Another host announces the same instance name: take the next alternative. */
        rename_service(a);
        av->avahi_entry_group_reset(g);
        services_add(a);
        break;
    case AVAHI_ENTRY_GROUP_FAILURE:
        note(&a->s, DNSSD_NOTE_FAILED,
             av->avahi_strerror(av->avahi_client_errno(av->avahi_entry_group_get_client(g))));
        break;
    case AVAHI_ENTRY_GROUP_UNCOMMITED:
    case AVAHI_ENTRY_GROUP_REGISTERING:
        break;
    }
}

static void services_add(struct dnssd_advertiser *a)
{
    if (a->s.client == NULL)
        return;
    if (a->group == NULL) {
        a->group = av->avahi_entry_group_new(a->s.client, group_cb, a);
        if (a->group == NULL) {
            note(&a->s, DNSSD_NOTE_FAILED, av->avahi_strerror(av->avahi_client_errno(a->s.client)));
            return;
        }
    }
    if (!av->avahi_entry_group_is_empty(a->group))
        return;
    for (size_t i = 0; i < a->n; i++) {
        int rc = av->avahi_entry_group_add_service_strlst(
            a->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, a->name, a->svc[i].type, NULL, NULL,
            (uint16_t)a->svc[i].port, a->svc[i].txt);
        if (rc == AVAHI_ERR_COLLISION && a->renames < RENAME_MAX) {
            /* A local service has that name already. */
            rename_service(a);
            av->avahi_entry_group_reset(a->group);
            i = (size_t)-1; /* every service again, under the new name */
            continue;
        }
        if (rc < 0) {
            note(&a->s, DNSSD_NOTE_FAILED, av->avahi_strerror(rc));
            av->avahi_entry_group_reset(a->group);
            return;
        }
    }
    int rc = av->avahi_entry_group_commit(a->group);
    if (rc < 0)
        note(&a->s, DNSSD_NOTE_FAILED, av->avahi_strerror(rc));
}

static void adv_running(struct session *s)
{
    services_add((struct dnssd_advertiser *)s);
}

static void adv_reset(struct session *s)
{
    struct dnssd_advertiser *a = (struct dnssd_advertiser *)s;
    if (a->group != NULL)
        av->avahi_entry_group_reset(a->group);
}

static void adv_lost(struct session *s)
{
    ((struct dnssd_advertiser *)s)->group = NULL; /* freed with its client */
}

int dnssd_advertiser_start(const char *name, const struct dnssd_service *svcs, size_t n,
                           dnssd_note_fn note_fn, void *ctx, struct dnssd_advertiser **out)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN || n == 0 ||
        n > DNSSD_SERVICES_MAX)
        return -EINVAL;
    struct dnssd_advertiser *a = calloc(1, sizeof *a);
    int rc = -ENOMEM;
    if (a == NULL)
        return -ENOMEM;
    a->s.note = note_fn;
    a->s.ctx = ctx;
    a->s.running = adv_running;
    a->s.reset = adv_reset;
    a->s.lost = adv_lost;
    snprintf(a->name, sizeof a->name, "%s", name);
    for (size_t i = 0; i < n; i++) {
        if (svcs[i].type == NULL || svcs[i].port <= 0 || svcs[i].port > 65535) {
            rc = -EINVAL;
            goto fail;
        }
        a->svc[i].type = strdup(svcs[i].type);
        a->svc[i].port = svcs[i].port;
        a->n = i + 1;
        if (a->svc[i].type == NULL)
            goto fail;
        for (size_t k = 0; loaded() == NULL && k < DNSSD_TXT_MAX && svcs[i].txt[k] != NULL; k++) {
            AvahiStringList *l = av->avahi_string_list_add(a->svc[i].txt, svcs[i].txt[k]);
            if (l == NULL)
                goto fail;
            a->svc[i].txt = l;
        }
        if (a->svc[i].txt != NULL)
            a->svc[i].txt = av->avahi_string_list_reverse(a->svc[i].txt);
    }
    rc = session_start(&a->s);
    if (rc < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    dnssd_advertiser_free(a);
    return rc;
}

void dnssd_advertiser_free(struct dnssd_advertiser *a)
{
    if (a == NULL)
        return;
    session_stop(&a->s); /* freeing the client withdraws the services */
    for (size_t i = 0; i < a->n; i++) {
        free(a->svc[i].type);
        if (a->svc[i].txt != NULL)
            av->avahi_string_list_free(a->svc[i].txt);
    }
    free(a);
}

/* --- browser ---------------------------------------------------------------------------- */

struct found {
    AvahiIfIndex iface;
    AvahiProtocol proto;
    char name[NAME_MAX_LEN + 1];
    char url[DNSSD_URL_MAX];
    bool v6;
    unsigned long seq; /* order of arrival */
};

struct dnssd_browser {
    struct session s;
    char *type;
    AvahiServiceBrowser *browser;
    unsigned resolving;
    /* Shared with the caller's thread. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct found found[DNSSD_FOUND_MAX];
    size_t nfound;
    unsigned long seq;
    unsigned generation;
    bool all_for_now;
    char why[128]; /* why nothing can be found: no daemon */
};

/* A TXT "path" of the central's API ("/api", or "/prefix/api" behind a proxy): the URL's
 * path is what comes before "/api". Anything else is ignored. */
static void url_prefix(AvahiStringList *txt, char *out, size_t len)
{
    out[0] = '\0';
    AvahiStringList *l = av->avahi_string_list_find(txt, "path");
    char *key = NULL, *value = NULL;
    size_t size = 0;
    if (l == NULL || av->avahi_string_list_get_pair(l, &key, &value, &size) < 0)
        return;
    if (value != NULL && size >= 4 && size <= PATH_MAX_LEN && value[0] == '/' &&
        strcmp(value + size - 4, "/api") == 0 &&
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-~") ==
            size)
        snprintf(out, len, "%.*s", (int)(size - 4), value);
    av->avahi_free(key);
    av->avahi_free(value);
}

static void resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
                       AvahiResolverEvent event, const char *name, const char *type,
                       const char *domain, const char *host, const AvahiAddress *addr,
                       uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
                       void *userdata)
{
    struct dnssd_browser *b = userdata;
    char text[INET6_ADDRSTRLEN], prefix[PATH_MAX_LEN + 1], url[DNSSD_URL_MAX];
    if (b->resolving > 0)
        b->resolving--;
    if (event != AVAHI_RESOLVER_FOUND || addr == NULL || port == 0)
        goto out;
    bool v6 = addr->proto == AVAHI_PROTO_INET6;
    if (v6 && addr->data.ipv6.address[0] == 0xfe && (addr->data.ipv6.address[1] & 0xc0) == 0x80)
        goto out; /* link-local: needs its interface, which a URL cannot carry here */
    if (inet_ntop(v6 ? AF_INET6 : AF_INET, &addr->data, text, sizeof text) == NULL)
        goto out;
    url_prefix(txt, prefix, sizeof prefix);
    int n = snprintf(url, sizeof url, "http://%s%s%s:%u%s", v6 ? "[" : "", text, v6 ? "]" : "",
                     (unsigned)port, prefix);
    if (n < 0 || (size_t)n >= sizeof url)
        goto out;
    pthread_mutex_lock(&b->lock);
    size_t i;
    for (i = 0; i < b->nfound; i++)
        if (b->found[i].iface == iface && b->found[i].proto == proto &&
            strcmp(b->found[i].name, name) == 0)
            break;
    bool changed = false;
    if (i == b->nfound && b->nfound < DNSSD_FOUND_MAX) {
        struct found *f = &b->found[b->nfound++];
        f->iface = iface;
        f->proto = proto;
        snprintf(f->name, sizeof f->name, "%s", name);
        f->seq = b->seq++;
        changed = true;
    }
    if (i < b->nfound && strcmp(b->found[i].url, url) != 0) {
        snprintf(b->found[i].url, sizeof b->found[i].url, "%s", url);
        b->found[i].v6 = v6;
        changed = true;
    }
    if (changed) {
        b->generation++;
        pthread_cond_broadcast(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
    if (changed)
        note(&b->s, DNSSD_NOTE_FOUND, url);
out:
    av->avahi_service_resolver_free(r);
}

static void found_clear(struct dnssd_browser *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->nfound > 0)
        b->generation++;
    b->nfound = 0;
    b->all_for_now = false;
    pthread_mutex_unlock(&b->lock);
}

static void browse_cb(AvahiServiceBrowser *sb, AvahiIfIndex iface, AvahiProtocol proto,
                      AvahiBrowserEvent event, const char *name, const char *type,
                      const char *domain, AvahiLookupResultFlags flags, void *userdata)
{
    struct dnssd_browser *b = userdata;
    switch (event) {
    case AVAHI_BROWSER_NEW:
        if (b->resolving < RESOLVING_MAX &&
            av->avahi_service_resolver_new(b->s.client, iface, proto, name, type, domain,
                                           AVAHI_PROTO_UNSPEC, 0, resolve_cb, b) != NULL)
            b->resolving++;
        break;
    case AVAHI_BROWSER_REMOVE: {
        char url[DNSSD_URL_MAX] = "";
        pthread_mutex_lock(&b->lock);
        for (size_t i = 0; i < b->nfound; i++) {
            if (b->found[i].iface == iface && b->found[i].proto == proto &&
                strcmp(b->found[i].name, name) == 0) {
                snprintf(url, sizeof url, "%s", b->found[i].url);
                b->found[i] = b->found[--b->nfound];
                b->generation++;
                break;
            }
        }
        pthread_mutex_unlock(&b->lock);
        if (url[0] != '\0')
            note(&b->s, DNSSD_NOTE_LOST, url);
        break;
    }
    case AVAHI_BROWSER_ALL_FOR_NOW:
        pthread_mutex_lock(&b->lock);
        b->all_for_now = true;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        break;
    case AVAHI_BROWSER_CACHE_EXHAUSTED:
        break;
    case AVAHI_BROWSER_FAILURE:
        /* Browsing stopped (the daemon went): start again on the next client. */
        av->avahi_service_browser_free(sb);
        b->browser = NULL;
        set_unavailable(&b->s, av->avahi_strerror(av->avahi_client_errno(b->s.client)));
        retry_in(&b->s, b->s.retry_ms);
        break;
    }
}

static void br_running(struct session *s)
{
    struct dnssd_browser *b = (struct dnssd_browser *)s;
    pthread_mutex_lock(&b->lock);
    b->why[0] = '\0';
    pthread_mutex_unlock(&b->lock);
    if (b->browser != NULL)
        return;
    b->browser = av->avahi_service_browser_new(s->client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                               b->type, NULL, 0, browse_cb, b);
    if (b->browser == NULL)
        set_unavailable(s, av->avahi_strerror(av->avahi_client_errno(s->client)));
}

static void br_lost(struct session *s)
{
    struct dnssd_browser *b = (struct dnssd_browser *)s;
    b->browser = NULL; /* freed with its client, and so are the resolvers */
    b->resolving = 0;
    found_clear(b);
}

static void br_unavailable(struct session *s, const char *why)
{
    struct dnssd_browser *b = (struct dnssd_browser *)s;
    pthread_mutex_lock(&b->lock);
    snprintf(b->why, sizeof b->why, "no avahi-daemon reachable (%s)", why);
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

int dnssd_browser_start(const char *type, dnssd_note_fn note_fn, void *ctx,
                        struct dnssd_browser **out)
{
    if (type == NULL || type[0] == '\0')
        return -EINVAL;
    struct dnssd_browser *b = calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    b->s.note = note_fn;
    b->s.ctx = ctx;
    b->s.running = br_running;
    b->s.lost = br_lost;
    b->s.unavailable = br_unavailable;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    b->type = strdup(type);
    int rc = b->type == NULL ? -ENOMEM : session_start(&b->s);
    if (rc < 0) {
        dnssd_browser_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Under the lock: IPv4 first, each in order of arrival; the same URL once. */
static size_t urls_copy(const struct dnssd_browser *b, char (*urls)[DNSSD_URL_MAX], size_t max)
{
    size_t order[DNSSD_FOUND_MAX], n = 0, out = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < b->nfound; i++)
            if (b->found[i].v6 == (pass == 1))
                order[n++] = i;
    for (size_t k = 1; k < n; k++) /* insertion sort by arrival within each family */
        for (size_t j = k; j > 0 && b->found[order[j - 1]].v6 == b->found[order[j]].v6 &&
                           b->found[order[j - 1]].seq > b->found[order[j]].seq;
             j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t k = 0; k < n; k++) {
        const char *u = b->found[order[k]].url;
        bool dup = false;
        for (size_t j = 0; j < out && j < max; j++)
            dup |= strcmp(urls[j], u) == 0;
        if (dup)
            continue;
        if (out < max)
            snprintf(urls[out], DNSSD_URL_MAX, "%s", u);
        out++;
    }
    return out;
}

size_t dnssd_browser_urls(struct dnssd_browser *b, char (*urls)[DNSSD_URL_MAX], size_t max,
                          unsigned *generation)
{
    pthread_mutex_lock(&b->lock);
    size_t n = urls_copy(b, urls, max);
    if (generation != NULL)
        *generation = b->generation;
    pthread_mutex_unlock(&b->lock);
    return n;
}

int dnssd_browser_wait(struct dnssd_browser *b, long timeout_ms, char *url, size_t len, char *why,
                       size_t whylen)
{
    char first[1][DNSSD_URL_MAX];
    int rc = 0;
    struct timespec deadline = timeutil_mono_after(timeout_ms);
    pthread_mutex_lock(&b->lock);
    /* A missing daemon ends the wait at once: nothing can be found without it. */
    while (urls_copy(b, first, 1) == 0 && b->why[0] == '\0' && rc == 0)
        rc = pthread_cond_timedwait(&b->cond, &b->lock, &deadline);
    bool got = urls_copy(b, first, 1) > 0;
    if (!got && why != NULL)
        snprintf(why, whylen, "%s",
                 b->why[0] != '\0' ? b->why
                 : b->all_for_now  ? "nothing advertised on the network"
                                   : "no answer from the network");
    pthread_mutex_unlock(&b->lock);
    if (!got)
        return -ETIMEDOUT;
    snprintf(url, len, "%s", first[0]);
    return 0;
}

void dnssd_browser_free(struct dnssd_browser *b)
{
    if (b == NULL)
        return;
    session_stop(&b->s);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b->type);
    free(b);
}
