/* The edge's /health document and /metrics text (edge.h), built from the daemon's state when
 * the health server (health.c) asks. */
#include "edge_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "prom.h"
#include "timeutil.h"

/* Whether the state directory can keep what the edge writes: the last write failed, or it is
 * read-only, or (almost) full. A Pi whose SD card went read-only still drives, but would
 * boot the next time without its identity's latest session or its newest config. */
#define STATE_DIR_MIN_FREE (64 * 1024)
static bool state_dir_problem(const struct edge *e, char *out, size_t outlen)
{
    if (e->state_error[0] != '\0') {
        snprintf(out, outlen, "%s", e->state_error);
        return true;
    }
    struct statvfs v;
    if (statvfs(e->opts.state_dir, &v) < 0) {
        snprintf(out, outlen, "%.400s: %s", e->opts.state_dir, strerror(errno));
        return true;
    }
    if (v.f_flag & ST_RDONLY) {
        snprintf(out, outlen, "%.400s: read-only file system", e->opts.state_dir);
        return true;
    }
    unsigned long long avail = (unsigned long long)v.f_bavail * v.f_frsize;
    if (avail < STATE_DIR_MIN_FREE) {
        snprintf(out, outlen, "%.400s: disk full (%llu bytes free)", e->opts.state_dir, avail);
        return true;
    }
    return false;
}

static json_t *trains_json(const struct edge *e)
{
    json_t *trains = json_array();
    for (size_t i = 0; trains != NULL && i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        json_t *j = json_pack(
            "{s:s, s:i, s:s, s:i, s:s, s:s, s:b, s:b}", "train_id", t->id, "speed", t->ramp.speed,
            "direction", motor_direction_name(t->ramp.direction), "target_speed",
            t->ramp.target_speed, "state", ramp_state_name(ramp_state(&t->ramp)), "plugin",
            t->plugin, "invert_directions", t->invert, "releasing", t->releasing);
        if (j == NULL)
            continue;
        if (t->motor != NULL)
            json_object_set_new(j, "motor", motor_describe(t->motor));
        if (t->error[0] != '\0')
            json_object_set_new(j, "error", json_string(t->error));
        if (t->motor_rc < 0)
            json_object_set_new(j, "motor_error", json_string(strerror(-t->motor_rc)));
        json_array_append_new(trains, j);
    }
    return trains;
}

/* What /health reports beside the daemon's own fields: problems of its surroundings. */
struct health_facts {
    bool state_bad;
    char state_problem[600];
    bool clock_behind;
    char ahead[TIMEUTIL_ISO_LEN + 1]; /* the cache's cached_at, while this clock is behind */
};

static void facts_collect(const struct edge *e, struct health_facts *f)
{
    f->state_bad = state_dir_problem(e, f->state_problem, sizeof f->state_problem);
    f->ahead[0] = '\0';
    f->clock_behind = e->cache_ahead_ms > 0 && timeutil_now_ms() < e->cache_ahead_ms;
    if (f->clock_behind && timeutil_format(e->cache_ahead_ms / 1000, f->ahead) < 0)
        f->ahead[0] = '\0';
}

/* The first problem found names the status, most severe first: a broken train (unhealthy),
 * then what keeps the edge from driving as it should (degraded). */
static const char *health_verdict(const struct edge *e, const struct health_facts *f, char *reason,
                                  size_t reasonlen)
{
    for (size_t i = 0; i < e->trains.n; i++) {
        const struct train *t = &e->trains.v[i];
        if (t->error[0] != '\0') {
            snprintf(reason, reasonlen, "train %s: %s", t->id, t->error);
            return "unhealthy";
        }
    }
    if (e->apply_error[0] != '\0') {
        /* Still driving the previous config, which works: degraded, not unhealthy. */
        snprintf(reason, reasonlen, "%s; still running config %lld", e->apply_error,
                 (long long)e->applied_version);
    } else if (e->config == NULL && e->held != NULL && strcmp(e->cache_state, "superseded") == 0) {
        snprintf(reason, reasonlen,
                 "trains held stopped: %s; they are driven again once the central API sends "
                 "the current config",
                 e->cache_reason);
    } else if (e->config == NULL && e->held != NULL) {
        snprintf(reason, reasonlen,
                 "cached config too old (%s); trains not driven until the central API "
                 "confirms it",
                 e->cache_reason);
    } else if (e->config == NULL) {
        snprintf(reason, reasonlen, "no runtime config (%s); waiting for the central API%s%s",
                 e->cache_state, e->last_sync_error[0] ? ": " : "", e->last_sync_error);
    } else if (!mqtt_link_connected(e->mqtt)) {
        snprintf(reason, reasonlen, "MQTT broker %s not connected", mqtt_link_broker(e->mqtt));
    } else if (f->state_bad) {
        snprintf(reason, reasonlen,
                 "state directory: %.440s (the identity and config cache cannot be kept)",
                 f->state_problem);
    } else if (f->clock_behind) {
        snprintf(reason, reasonlen,
                 "this clock is behind the last cache write (cached_at %s): driving from the "
                 "cache, whose checksum is valid, but its age is unknown; check NTP",
                 f->ahead);
    } else if (e->credential_error[0] != '\0') {
        snprintf(reason, reasonlen, "controller credential: %.440s", e->credential_error);
    } else if (!e->registered) {
        snprintf(reason, reasonlen, "not registered with the central API%s%s",
                 e->last_sync_error[0] ? ": " : "", e->last_sync_error);
    } else {
        snprintf(reason, reasonlen, "%s", e->trains.n == 0 ? "waiting for assignment" : "ok");
        return "healthy";
    }
    return "degraded";
}

static json_t *null_or_string(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *null_or_integer(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

json_t *edge_health_json(const struct edge *e, int64_t now_ms, int *http_status)
{
    struct health_facts f;
    char reason[512];
    facts_collect(e, &f);
    const char *status = health_verdict(e, &f, reason, sizeof reason);
    *http_status = strcmp(status, "unhealthy") == 0 ? 503 : 200;

    json_t *h =
        json_pack("{s:s, s:s, s:s?, s:s, s:s, s:o, s:b, s:s, s:b, s:s, s:s, s:I, s:b}", "status",
                  status, "reason", reason, "controller_uuid", e->uuid[0] ? e->uuid : NULL, "name",
                  e->name, "version", ROUNDHOUSE_VERSION, "trains", trains_json(e),
                  "mqtt_connected", mqtt_link_connected(e->mqtt), "mqtt_broker",
                  mqtt_link_broker(e->mqtt), "registered", e->registered, "cache_state",
                  e->cache_state, "cache_reason", e->cache_reason, "uptime_seconds",
                  (json_int_t)((now_ms - e->started_mono_ms) / 1000), "simulate", e->opts.simulate);
    if (h == NULL)
        return NULL;
    json_object_set_new(h, "config_version", null_or_integer(e->applied_version));
    json_object_set_new(h, "session_epoch", json_integer(e->session_epoch));
    /* Whether a controller secret is held (never the secret), and why it may not work. */
    json_object_set_new(h, "credential", json_string(credential_state_name(e->credential)));
    json_object_set_new(h, "credential_error", null_or_string(e->credential_error));
    json_object_set_new(h, "central", null_or_string(e->central_in_use));
    json_object_set_new(h, "clock_behind_cache", json_boolean(f.clock_behind));
    json_object_set_new(h, "state_dir_error",
                        f.state_bad ? json_string(f.state_problem) : json_null());
    json_object_set_new(h, "config_error", null_or_string(e->apply_error));
    json_object_set_new(h, "rejected_config_version", null_or_integer(e->rejected_version));
    json_object_set_new(h, "applying",
                        e->apply.pending ? json_integer(json_integer_value(
                                               json_object_get(e->apply.cfg, "version")))
                                         : json_null());
    json_object_set(h, "last_command", e->last_command ? e->last_command : json_null());
    return h;
}

static const double download_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
const struct prom_buckets edge_download_buckets = {download_le,
                                                   sizeof download_le / sizeof download_le[0]};

char *edge_metrics_text(const struct edge *e, int64_t now_ms)
{
    const struct edge_metrics *m = &e->m;
    struct prom x;
    char labels[64];
    prom_init(&x);
    prom_counter(&x, "controller_registration_attempts_total", "Registration requests started.",
                 m->registration_attempts);
    prom_family(&x, "controller_registration_failures_total", "counter",
                "Failed registrations by reason.");
    for (int i = 0; i < REG_FAIL_COUNT; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"",
                 answer_reg_failure_name((enum reg_failure)i));
        prom_u64(&x, "controller_registration_failures_total", labels, m->registration_failures[i]);
    }
    prom_counter(&x, "controller_config_cache_hits_total",
                 "Boots that drove from the cached config.", m->cache_hits);
    prom_counter(&x, "controller_config_downloads_total", "Runtime config requests.",
                 m->config_downloads);
    prom_family(&x, "controller_config_download_seconds", "histogram",
                "Time to an answer of a runtime config request (200, 304 or error), in seconds.");
    prom_histogram(&x, "controller_config_download_seconds", NULL, &m->download_seconds,
                   &edge_download_buckets);
    prom_counter(&x, "controller_config_applies_total", "Runtime configs applied.",
                 m->config_applies);
    prom_counter(&x, "controller_config_rejections_total",
                 "Downloaded configs refused (schema, checksum, identity).", m->config_rejections);
    prom_counter(&x, "controller_config_rollbacks_total",
                 "Configs rolled back after a failed apply.", m->config_rollbacks);
    prom_gauge(&x, "controller_config_version", "Applied runtime config version (-1: none).",
               e->applied_version);
    prom_counter(&x, "controller_config_longpolls_total",
                 "Config long polls started (while the broker is unreachable).", m->longpolls);
    prom_counter(&x, "controller_heartbeats_total", "Heartbeats answered with 200.",
                 m->heartbeats_ok);
    prom_counter(&x, "controller_heartbeat_failures_total", "Heartbeats not answered with 200.",
                 m->heartbeats_failed);
    prom_gauge(&x, "controller_mqtt_connected", "1 while connected to the MQTT broker.",
               mqtt_link_connected(e->mqtt) ? 1 : 0);
    prom_counter(&x, "controller_mqtt_connects_total", "Successful MQTT connections.",
                 m->mqtt_connects);
    prom_family(&x, "controller_commands_total", "counter", "Train commands applied by action.");
    for (int i = 0; i < PROTO_ACT_COUNT; i++) {
        snprintf(labels, sizeof labels, "action=\"%s\"", proto_action_name((enum proto_action)i));
        prom_u64(&x, "controller_commands_total", labels, m->commands[i]);
    }
    prom_counter(&x, "controller_commands_rejected_total", "Train commands rejected.",
                 m->commands_rejected);
    prom_counter(&x, "controller_failsafe_stops_total",
                 "Fail-safe stops: moving trains ramped down for lack of broker contact.",
                 m->failsafe_stops);
    prom_counter(&x, "controller_mqtt_probes_total",
                 "Probes of a broker silent for a third of the fail-safe timeout.", m->mqtt_probes);
    prom_counter(&x, "controller_status_messages_total", "Train status messages published.",
                 m->status_published);
    prom_gauge(&x, "controller_trains", "Trains assigned to this controller.",
               (int64_t)e->trains.n);
    prom_gauge(&x, "controller_registered", "1 while registered with the central API.",
               e->registered ? 1 : 0);
    prom_gauge(&x, "controller_uptime_seconds", "Seconds since start.",
               (now_ms - e->started_mono_ms) / 1000);
    return prom_finish(&x);
}
