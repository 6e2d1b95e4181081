/* The edge daemon's life cycle and wiring (edge.h): boot from the state directory, the order
 * of one tick's work, the orderly shutdown. The apply-a-config transaction, the MQTT side and
 * the central side live in edge_apply.c, edge_mqtt.c and edge_central.c (edge_internal.h);
 * loop.c drives the whole. */
#include "edge_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cache.h"
#include "epoch.h"
#include "fileio.h"
#include "health.h"
#include "log.h"
#include "timeutil.h"

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s || s == 0)
        s = (uint64_t)timeutil_now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    return s ? s : 1;
}

/* A failure: read-only, full, gone. */
void edge_state_written(struct edge *e, const char *file, int rc)
{
    if (rc >= 0) {
        if (e->state_error[0] != '\0')
            log_event(RH_LOG_INFO, "state_dir_writable", "{s:s}", "path", e->opts.state_dir);
        e->state_error[0] = '\0';
        return;
    }
    const char *why = rc == -ENOSPC   ? "disk full"
                      : rc == -EROFS  ? "read-only file system"
                      : rc == -EDQUOT ? "disk quota exceeded"
                                      : strerror(-rc);
    snprintf(e->state_error, sizeof e->state_error, "cannot write %.400s/%s: %s", e->opts.state_dir,
             file, why);
    log_event(RH_LOG_ERROR, "state_write_failed", "{s:s, s:s, s:s}", "path", e->opts.state_dir,
              "file", file, "error", why);
}

void edge_epoch_persist(struct edge *e)
{
    if (e->uuid[0] == '\0' || e->session_epoch < 1)
        return;
    edge_state_written(e, "session.json",
                       epoch_save(e->opts.state_dir, e->uuid, e->session_epoch, timeutil_now_ms()));
}

static void cache_report(const char *file, enum cache_verdict v, const char *reason)
{
    if (v == CACHE_INVALID)
        log_event(RH_LOG_WARNING, "cache_invalid", "{s:s, s:s}", "file", file, "reason", reason);
    else if (v == CACHE_STALE)
        log_event(RH_LOG_WARNING, "cache_stale", "{s:s, s:s}", "file", file, "reason", reason);
}

/* Trust for an https:// central and for a TLS broker. Files named by options are read now,
 * so that a wrong one stops the start with a message naming it; the system's store (no
 * file) is loaded only when a TLS connection needs it. */
static int tls_setup(struct edge *e)
{
    int rc = edge_central_tls_setup(e, e->api, e->central_in_use[0] ? e->central_in_use : NULL);
    return rc < 0 ? rc : edge_mqtt_tls_setup(e);
}

/* --- boot ------------------------------------------------------------------------------- */

static void state_dir_prepare(const struct edge_opts *o)
{
    int rc = fileio_mkdirs(o->state_dir, 0700);
    if (rc < 0)
        log_event(RH_LOG_ERROR, "state_dir_unusable", "{s:s, s:s}", "path", o->state_dir, "error",
                  strerror(-rc));

    /* A write that a crash interrupted leaves its temporary file behind: never the cache. */
    int leftovers = 0;
    rc = cache_leftovers_remove(o->state_dir, &leftovers);
    if (leftovers > 0 || rc < 0)
        log_event(rc < 0 ? RH_LOG_WARNING : RH_LOG_INFO, "state_leftovers_removed",
                  "{s:s, s:i, s:s?}", "path", o->state_dir, "files", leftovers, "error",
                  rc < 0 ? strerror(-rc) : NULL);
}

/* The controller's UUID (identity.json, or the cached config's), its secret and a new
 * session epoch. */
static void identity_boot(struct edge *e, const char *cached_uuid, int64_t wall,
                          enum identity_origin *origin)
{
    const struct edge_opts *o = &e->opts;
    int rc = identity_load(o->state_dir, cached_uuid, wall, e->uuid, origin);
    if (rc < 0)
        edge_state_written(e, "identity.json", rc);
    if (e->uuid[0] == '\0')
        return;
    /* A lost or corrupt secret never stops the boot: the trains run from the cache, and
     * /health says why the central will refuse us. */
    char why[512];
    e->credential = credential_load(o->state_dir, e->uuid, e->secret, why, sizeof why);
    if (e->credential == CREDENTIAL_INVALID) {
        snprintf(e->credential_error, sizeof e->credential_error, "%.300s", why);
        log_event(RH_LOG_ERROR, "credential_unreadable", "{s:s, s:s}", "path", o->state_dir,
                  "error", why);
    } else if (why[0] != '\0') {
        log_event(RH_LOG_WARNING, "credential_ignored", "{s:s}", "reason", why);
    }
    /* A new session: above the last one this controller had, announced in the birth and
     * will before the central is even asked, and remembered at once so that a crash right
     * after still leaves the next process a higher epoch. */
    int64_t stored = 0;
    rc = epoch_load(o->state_dir, e->uuid, &stored);
    if (rc == -EINVAL)
        log_event(RH_LOG_WARNING, "session_file_invalid", "{s:s}", "path", o->state_dir);
    e->session_epoch = epoch_next(rc == 0 ? stored : 0);
    edge_epoch_persist(e);
}

/* The API client, the MQTT link and their trust; discovery when no central is configured. */
static int links_start(struct edge *e)
{
    const struct edge_opts *o = &e->opts;
    const char *urls[EDGE_OPTS_CENTRALS_MAX];
    char client_id[64];
    for (size_t i = 0; i < o->n_centrals; i++)
        urls[i] = o->centrals[i];
    central_choice_set(&e->centrals, urls, o->n_centrals);
    const char *first = central_choice_current(&e->centrals);
    snprintf(e->central_in_use, sizeof e->central_in_use, "%s", first ? first : "");
    e->api = api_client_new(first); /* NULL: every request fails until one is found */
    snprintf(client_id, sizeof client_id, "roundhouse-edge-%s", e->uuid);
    e->mqtt = mqtt_link_new(e->uuid[0] ? client_id : NULL, &edge_mqtt_callbacks, e, random_seed());
    if (e->api == NULL || e->mqtt == NULL)
        return -ENOMEM;
    return tls_setup(e);
}

static int discovery_start(struct edge *e)
{
    if (e->opts.n_centrals > 0)
        return 0;
    int rc = discover_start(&e->discover);
    if (rc < 0)
        log_event(RH_LOG_ERROR, "central_discovery_failed", "{s:s}", "error", strerror(-rc));
    return rc;
}

/* What the boot found in the cache: driven at once (valid), held until the central confirms
 * it (stale), or nothing to drive. */
static void cache_boot_use(struct edge *e, const struct cache_boot *boot, int64_t wall)
{
    bool current = boot->source != NULL && strcmp(boot->source, "current") == 0;
    if (boot->config != NULL && boot->verdict == CACHE_VALID) {
        e->m.cache_hits++;
        snprintf(e->cache_state, sizeof e->cache_state, "%s", current ? "valid" : "previous");
        snprintf(e->cache_reason, sizeof e->cache_reason, "%s",
                 current ? "" : boot->current_reason);
        log_event(RH_LOG_INFO, "cache_loaded", "{s:s, s:I}", "source", boot->source, "version",
                  json_integer_value(json_object_get(boot->config, "version")));
        if (boot->clock_behind) {
            e->cache_ahead_ms = boot->cached_at_ms;
            log_event(RH_LOG_WARNING, "clock_behind_cache", "{s:I, s:s}", "behind_s",
                      (json_int_t)((boot->cached_at_ms - wall) / 1000), "detail",
                      "the cache was written later than this clock says it is now (no battery "
                      "clock, or NTP not synchronised yet); it is used, its checksum is valid");
        }
        /* Drive at once: the broker and command topics do not wait for the central. */
        edge_apply_config(e, boot->config, boot->source, false, NULL);
    } else if (boot->config != NULL) {
        e->held = json_incref(boot->config);
        snprintf(e->cache_state, sizeof e->cache_state, "stale");
        snprintf(e->cache_reason, sizeof e->cache_reason, "%s",
                 current ? boot->current_reason : boot->previous_reason);
        log_event(RH_LOG_WARNING, "trains_not_driven", "{s:s, s:s}", "reason", e->cache_reason,
                  "until", "the central API confirms or replaces the config");
    } else {
        bool missing = boot->verdict == CACHE_MISSING;
        snprintf(e->cache_state, sizeof e->cache_state, "%s", missing ? "missing" : "invalid");
        snprintf(e->cache_reason, sizeof e->cache_reason, "%s",
                 missing ? "no cached config" : boot->current_reason);
        log_event(RH_LOG_INFO, "no_cached_config", "{s:s, s:s}", "state", e->cache_state, "detail",
                  "waiting for the central API");
    }
}

/* The health server's view of the daemon: the documents, built when asked (edge_report.c). */
static json_t *health_document(void *ctx, int64_t now_ms, int *http_status)
{
    return edge_health_json(ctx, now_ms, http_status);
}

static char *metrics_document(void *ctx, int64_t now_ms)
{
    return edge_metrics_text(ctx, now_ms);
}

static int health_boot(struct edge *e)
{
    const struct edge_opts *o = &e->opts;
    const struct health_source src = {
        .health = health_document, .metrics = metrics_document, .ctx = e};
    int port = 0;
    if (!o->health_enabled)
        return 0;
    int rc = health_start(&e->health, o->health_host, o->health_port, &src, &port);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "health_listen_failed", "{s:s, s:i, s:s}", "host", o->health_host,
                  "port", o->health_port, "error", strerror(-rc));
        return rc;
    }
    log_event(RH_LOG_INFO, "health_listening", "{s:s, s:i}", "host", o->health_host, "port", port);
    return 0;
}

static void log_starting(const struct edge *e, enum identity_origin origin)
{
    const struct edge_opts *o = &e->opts;
    log_event(RH_LOG_INFO, "edge_starting", "{s:s?, s:s, s:I, s:s, s:s, s:s, s:b, s:s, s:b, s:s}",
              "uuid", e->uuid[0] ? e->uuid : NULL, "identity", identity_origin_name(origin),
              "session_epoch", (json_int_t)e->session_epoch, "name", e->name, "version",
              ROUNDHOUSE_VERSION, "central", o->central_url[0] ? o->central_url : "dns-sd",
              "simulate", o->simulate, "state_dir", o->state_dir, "registration_token",
              o->registration_token[0] != '\0', "credential", credential_state_name(e->credential));
}

int edge_init(struct edge *e, const struct edge_opts *o)
{
    struct cache_boot boot = {0};
    enum identity_origin origin;
    int64_t wall = timeutil_now_ms();
    int rc;

    memset(e, 0, sizeof *e);
    e->opts = *o;
    e->started_mono_ms = timeutil_mono_ms();
    e->applied_version = -1;
    e->rejected_version = -1;
    e->fetch_desired = e->confirmed_version = e->newer_since_ms = -1;
    e->session_epoch = 0;
    e->will_epoch = -1;
    sysinfo_collect(&e->sys);
    snprintf(e->name, sizeof e->name, "%s", o->name[0] ? o->name : e->sys.hostname);

    state_dir_prepare(o);
    cache_load(o->state_dir, wall, (int64_t)o->cache_max_age_s * 1000, &boot);
    cache_report(CACHE_CURRENT, boot.current, boot.current_reason);
    cache_report(CACHE_PREVIOUS, boot.previous, boot.previous_reason);
    const char *cached_uuid = json_string_value(json_object_get(boot.config, "uuid"));
    identity_boot(e, cached_uuid, wall, &origin);
    if (boot.config != NULL && strcmp(cached_uuid, e->uuid) != 0) {
        /* A state directory copied from another controller: its config is not ours. */
        log_event(RH_LOG_WARNING, "cache_invalid", "{s:s, s:s}", "file", boot.source, "reason",
                  "cached config belongs to another controller");
        cache_boot_clear(&boot);
        boot.verdict = CACHE_INVALID;
    }
    proto_topic(e->presence_topic, sizeof e->presence_topic, PROTO_TOPIC_PRESENCE, e->uuid);
    proto_topic(e->config_topic, sizeof e->config_topic, PROTO_TOPIC_CONFIG_UPDATE, e->uuid);

    trains_init(&e->trains, o->simulate, RAMP_DEFAULT_MS);
    rc = links_start(e);
    if (rc < 0)
        goto out;
    e->last_contact_ms = timeutil_mono_ms();
    log_starting(e, origin);
    rc = discovery_start(e);
    if (rc < 0)
        goto out;

    cache_boot_use(e, &boot, wall);
    sync_init(&e->sync, timeutil_mono_ms(), o->self_register, o->heartbeat_override_s,
              e->applied_version, random_seed());
    e->sync_wake_ms = timeutil_mono_ms();
    rc = health_boot(e);
out:
    cache_boot_clear(&boot);
    return rc;
}

bool edge_settled(const struct edge *e, char *status, size_t statuslen)
{
    if (e->config == NULL) {
        snprintf(status, statuslen,
                 "no runtime config to drive (cache %s); waiting for the central API",
                 e->cache_state);
        return true;
    }
    bool up = mqtt_link_connected(e->mqtt) && !e->announce_connected;
    snprintf(status, statuslen, "config %lld, %zu train(s), broker %s %s",
             (long long)e->applied_version, e->trains.n, mqtt_link_broker(e->mqtt),
             up ? "connected" : "not connected yet");
    return up;
}

void edge_free(struct edge *e)
{
    if (e == NULL)
        return;
    health_stop(e->health);
    e->health = NULL;
    trains_free(&e->trains);
    mqtt_link_free(e->mqtt);
    e->mqtt = NULL;
    discover_free(e->discover);
    e->discover = NULL;
    api_client_free(e->api);
    e->api = NULL;
    edge_apply_clear(e);
    json_decref(e->config);
    json_decref(e->held);
    json_decref(e->last_command);
    e->config = e->held = e->last_command = NULL;
}

/* --- time-driven work ------------------------------------------------------------------- */

int64_t edge_tick(struct edge *e, int64_t now)
{
    edge_central_check(e);
    trains_tick(&e->trains, now);
    edge_mqtt_tick(e, now);
    edge_apply_progress(e, now);
    int64_t held_at = edge_apply_superseded_check(e, now);
    /* Trains held or dropped outside an apply leave once they stand still. */
    if (!e->apply.pending && trains_releasing(&e->trains) > 0)
        trains_reap(&e->trains, false, edge_apply_train_released, e);

    if (e->sync_wake_ms >= 0 && now >= e->sync_wake_ms)
        edge_sync_feed_kind(e, SYNC_EV_TICK, -1);

    int64_t wake = edge_mqtt_next_wake(e, now);
    wake = edge_earliest(wake, e->sync_wake_ms);
    if (e->apply.pending || trains_releasing(&e->trains) > 0)
        wake = edge_earliest(wake, now + 100);
    return edge_earliest(wake, held_at);
}

void edge_shutdown(struct edge *e, int64_t timeout_ms)
{
    int64_t now = timeutil_mono_ms();
    /* Power off first, talk afterwards: the motors must stop even if the broker is gone. */
    for (size_t i = 0; i < e->trains.n; i++) {
        struct train *t = &e->trains.v[i];
        trains_estop(t);
        /* A shutdown is an orderly stop, not an emergency: report it as "stopped". */
        ramp_set_target(&t->ramp, 0, t->ramp.direction, now);
        ramp_tick(&t->ramp, now);
    }
    edge_mqtt_farewell(e, timeout_ms);
    log_event(RH_LOG_INFO, "edge_stopped", "{s:i}", "trains_stopped", (int)e->trains.n);
}
