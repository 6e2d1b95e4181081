/* roundhouse-central: options, wiring and the signal wait. The logic lives in the modules. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "accounts.h"
#include "advertise.h"
#include "api_views.h"
#include "bootstrap.h"
#include "central.h"
#include "cluster.h"
#include "http_api.h"
#include "http_metrics.h"
#include "http_server.h"
#include "layout.h"
#include "events.h"
#include "log.h"
#include "longpoll.h"
#include "runtime_config.h"
#include "notify.h"
#include "ratelimit.h"
#include "registry_io.h"
#include "store.h"
#include "sweeper.h"
#include "timeutil.h"
#include "tlsutil.h"
#include "withrottle.h"

/* Controllers whose last downloaded config text is kept (runtime_config.h): a few MiB at
 * most, and every controller of a usual layout. */
#define CONFIG_CACHE_SLOTS 1024

/* After every commit that raised config versions: tell the controllers (MQTT) and answer
 * their parked long polls, here and (cluster.h) on the other instances. Runs under the
 * store's lock, right after COMMIT, on the instance that committed only: so each version is
 * announced once. */
static void on_commit(void *ctx, struct store *st, const json_t *bumped)
{
    struct central *c = ctx;
    notify_on_commit(c->notify, st, bumped);
    cluster_config_bumped(c->cluster, bumped);
    size_t i;
    json_t *id;
    json_array_foreach(bumped, i, id)
    {
        longpoll_wake(c->longpoll, json_string_value(id));
        json_t *row = NULL;
        if (store_controller_get(st, json_string_value(id), &row) == 0)
            events_publish(c->events, "controller",
                           view_controller(c, row, timeutil_now_ms() / 1000, true));
        json_decref(row);
    }
}

static int run_bootstrap(struct central *c)
{
    char err[512];
    json_t *doc = NULL, *created = NULL;
    int rc = bootstrap_load_file(c->opts.bootstrap, &doc, err, sizeof err);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "bootstrap_invalid", "{s:s, s:s}", "file", c->opts.bootstrap,
                  "error", err);
        return rc;
    }
    rc = registry_bootstrap(c, doc, timeutil_now_ms() / 1000, &created);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "bootstrap_failed", "{s:s, s:s}", "file", c->opts.bootstrap,
                  "error",
                  rc == -E2BIG || rc == -EFBIG
                      ? "a controller would get a runtime config no edge can run "
                        "(bootstrap_controller_refused names it); nothing was applied"
                      : store_last_error(c->store));
    } else {
        log_event(RH_LOG_INFO, "bootstrap_applied", "{s:s, s:O}", "file", c->opts.bootstrap,
                  "created", created);
    }
    json_decref(doc);
    json_decref(created);
    return rc;
}

/* What main starts beside the modules struct central holds; NULL when not (yet) running. */
struct services {
    struct http_server *http;
    struct sweeper *sweeper;
    struct withrottle *withrottle;
    struct advertise *advertise;
    struct cluster *cluster;
    char *tls_cert, *tls_key; /* PEM of --tls-cert and --tls-key */
};

/* The termination signals blocked before any thread starts, so that only sigwait receives
 * them (into *sigs). */
static void block_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Under a file size limit (ulimit -f, systemd LimitFSIZE=) a write past it would kill the
     * process; ignored, it fails with EFBIG, SQLite reports the database full, the request
     * gets 503 and /health says why. */
    signal(SIGXFSZ, SIG_IGN);
}

/* The database opened, the bootstrap document applied, the layout's state read. */
static int open_store(struct central *c)
{
    char err[512];
    int rc = store_open(c->opts.db, STORE_SCHEMA_VERSION, &c->store, err, sizeof err);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "database_open_failed", "{s:s, s:s}", "db", c->opts.db_shown,
                  "error", err);
        return rc;
    }
    int version = 0;
    store_schema_version(c->store, &version);
    log_event(RH_LOG_INFO, "database_ready", "{s:s, s:s, s:i}", "db", c->opts.db_shown, "backend",
              store_backend_name(c->store), "schema_version", version);
    if (c->opts.bootstrap[0] != '\0' && (rc = run_bootstrap(c)) < 0)
        return rc;
    if ((rc = layout_init(c)) < 0)
        log_event(RH_LOG_ERROR, "layout_state_unreadable", "{s:s}", "error",
                  store_last_error(c->store));
    return rc;
}

/* The modules behind the API: 0, or the exit status (2: a configuration the operator must
 * fix, as a bad option). */
static int start_modules(struct central *c, struct services *s)
{
    if (accounts_init(c) < 0)
        return 2;
    if (notify_start(c, &c->notify) < 0)
        return 1;
    c->register_limit = ratelimit_new(c->opts.register_rate, c->opts.register_rate, 4096);
    c->events = events_new(1024, (unsigned)c->opts.max_event_streams,
                           (unsigned)c->opts.max_event_streams_per_ip);
    c->longpoll = longpoll_new(4096);
    c->config_cache = runtime_config_cache_new(CONFIG_CACHE_SLOTS);
    c->http_metrics = http_metrics_new();
    if (c->register_limit == NULL || c->events == NULL || c->longpoll == NULL ||
        c->config_cache == NULL)
        return 1;
    if (cluster_start(c, &s->cluster) < 0)
        return 1;
    c->cluster = s->cluster;
    store_set_commit_hook(c->store, on_commit, c);
    return 0;
}

static int start_http(struct central *c, struct services *s)
{
    char err[512];
    struct http_server_config hc = {
        .host = c->opts.listen_host,
        .port = c->opts.listen_port,
        .max_body = CENTRAL_MAX_BODY,
        .bulk_path = "/api/import",
        .bulk_max_body = (size_t)c->opts.max_import_bytes,
        .raw_body = http_api_raw_body,
        .raw_max_body = CENTRAL_PHOTO_MAX,
        .max_connections = (unsigned)c->opts.max_connections,
        .max_connections_per_ip = (unsigned)c->opts.max_connections_per_ip,
        .request_timeout = (unsigned)c->opts.request_timeout,
        .cors_origins = c->opts.cors_origins,
        .tls_cert_pem = s->tls_cert,
        .tls_key_pem = s->tls_key,
        .handler = http_api_handle,
        .observe = http_api_observe,
        .ctx = c,
    };
    int rc = http_server_start(&hc, &s->http, err, sizeof err);
    if (rc < 0)
        log_event(RH_LOG_ERROR, "http_listen_failed", "{s:s}", "error", err);
    return rc;
}

/* The WiThrottle server, unless it is off; the protocol has no login, so under --auth it is
 * only served when asked. */
static int start_withrottle(struct central *c, struct services *s)
{
    if (c->opts.auth && c->opts.withrottle_enabled && !c->opts.withrottle_explicit) {
        c->opts.withrottle_enabled = false;
        log_event(RH_LOG_INFO, "withrottle_disabled", "{s:s}", "reason",
                  "--auth is on and WiThrottle throttles cannot log in; give "
                  "--withrottle-listen to serve them anyway");
    } else if (c->opts.auth && c->opts.withrottle_enabled) {
        log_event(RH_LOG_WARNING, "withrottle_unauthenticated", "{s:s}", "detail",
                  "--auth is on but WiThrottle throttles drive without an account");
    }
    if (!c->opts.withrottle_enabled)
        return 0;
    char err[512];
    struct withrottle_config wc = {
        .host = c->opts.withrottle_host,
        .port = c->opts.withrottle_port,
        .heartbeat_s = c->opts.withrottle_heartbeat,
        .web_port = http_server_port(s->http),
    };
    int rc = withrottle_start(c, &wc, &s->withrottle, err, sizeof err);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "withrottle_listen_failed", "{s:s}", "error", err);
        return rc;
    }
    atomic_store(&c->withrottle, s->withrottle);
    log_event(RH_LOG_INFO, "withrottle_listening", "{s:s, s:i}", "host", c->opts.withrottle_host,
              "port", withrottle_port(s->withrottle));
    return 0;
}

/* Everything started, in order: 0, or the exit status. */
static int start(struct central *c, struct services *s)
{
    char err[512];
    /* Before anything else starts: a bad certificate or key is a configuration error. */
    if (c->opts.tls_cert[0] != '\0' &&
        tls_server_files_load(c->opts.tls_cert, c->opts.tls_key, &s->tls_cert, &s->tls_key, err,
                              sizeof err) < 0) {
        log_event(RH_LOG_ERROR, "tls_files_invalid", "{s:s, s:s, s:s}", "cert", c->opts.tls_cert,
                  "key", c->opts.tls_key, "error", err);
        fprintf(stderr, "roundhouse-central: %s\n", err);
        return 1;
    }
    if (open_store(c) < 0)
        return 1;
    int status = start_modules(c, s);
    if (status != 0)
        return status;
    if (start_http(c, s) < 0 || sweeper_start(c, &s->sweeper) < 0)
        return 1;
    if (strcmp(c->opts.cors_origins, "*") == 0)
        log_event(RH_LOG_WARNING, "cors_any_origin", "{s:s}", "detail",
                  "--cors-origins '*': a page of any web site opened in an operator's browser "
                  "can drive the trains and change the registry through this API");
    log_event(RH_LOG_INFO, "http_listening", "{s:s, s:i, s:b}", "host", c->opts.listen_host, "port",
              http_server_port(s->http), "tls", s->tls_cert != NULL);
    if (start_withrottle(c, s) < 0)
        return 1;
    if (c->opts.dnssd_advertise &&
        advertise_start(c->opts.listen_host, http_server_port(s->http), c->opts.withrottle_host,
                        s->withrottle ? withrottle_port(s->withrottle) : 0, &s->advertise) < 0)
        log_event(RH_LOG_WARNING, "dnssd_unavailable", "{s:s}", "error", "out of memory");
    if (!c->opts.dnssd_advertise)
        log_event(RH_LOG_INFO, "dnssd_not_advertised", "{s:s}", "reason", "--advertise off");
    return 0;
}

/* Everything stopped and freed, in the order the comments give; what never started is
 * skipped. */
static void stop(struct central *c, struct services *s)
{
    advertise_stop(s->advertise); /* withdrawn first: nobody should find a central going away */
    sweeper_stop(s->sweeper);
    /* Parked requests and streams must be resumed before the HTTP server stops. */
    events_shutdown(c->events);
    longpoll_wake_all(c->longpoll);
    http_server_stop(s->http);
    /* Before the MQTT link goes: closing the throttles stops the trains they held. */
    withrottle_stop(s->withrottle);
    if (c->store != NULL)
        store_set_commit_hook(c->store, NULL, NULL);
    notify_stop(c->notify);
    /* Nothing publishes or commits any more: the duty lock goes to another instance now. */
    cluster_stop(c->cluster);
    c->cluster = NULL;
    atomic_store(&c->withrottle, NULL);
    withrottle_free(s->withrottle);
    events_free(c->events);
    longpoll_free(c->longpoll);
    runtime_config_cache_free(c->config_cache);
    http_metrics_free(c->http_metrics);
    ratelimit_free(c->register_limit);
    accounts_free(c);
    layout_free(c);
    store_free(c->store);
    free(s->tls_cert);
    tls_pem_free(s->tls_key);
}

int main(int argc, char **argv)
{
    static struct central c; /* large option buffers: keep them off the stack */
    /* glibc gives each busy thread its own 64 MiB malloc arena; with the HTTP, sweeper and
     * MQTT threads that kept freed memory spread over four of them. Two are enough here
     * (peak RSS with 10,000 controllers: 65 -> 57 MiB, docs/performance.md). */
    mallopt(M_ARENA_MAX, 2);
    /* Buffers of a megabyte and more (list answers, import bodies) are mapped and unmapped
     * by themselves. Left to glibc, the threshold rises to the size of the first such
     * buffer freed, and the next ones stayed in the heap after their answer was sent. */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    int rc = central_options_parse(&c.opts, argc, argv);
    if (rc == 1)
        return 0;
    if (rc < 0)
        return 2;
    log_setup(c.opts.log_level, c.opts.log_format);
    store_redact(c.opts.db, c.opts.db_shown, sizeof c.opts.db_shown);
    c.started_mono_ms = timeutil_mono_ms();

    sigset_t sigs;
    block_signals(&sigs);
    struct services s = {0};
    int exit_code = start(&c, &s);
    if (exit_code == 0) {
        sd_notifyf(0, "READY=1\nSTATUS=serving on %s:%d", c.opts.listen_host,
                   http_server_port(s.http));
        int sig = 0;
        while (sigwait(&sigs, &sig) != 0)
            ;
        log_event(RH_LOG_INFO, "shutdown", "{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
        sd_notify(0, "STOPPING=1");
    }
    stop(&c, &s);
    return exit_code;
}
