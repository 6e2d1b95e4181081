/* The edge daemon's state and the glue between its modules: boot from the cache, apply
 * runtime configs, turn sync actions into HTTP requests and their answers into sync events,
 * MQTT callbacks into train commands, and the orderly shutdown. loop.c drives it; the parts
 * that share this state are listed in edge_internal.h. */
#ifndef ROUNDHOUSE_EDGE_EDGE_H
#define ROUNDHOUSE_EDGE_EDGE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "answer.h"
#include "api_client.h"
#include "canon.h"
#include "config_opts.h"
#include "credential.h"
#include "discover.h"
#include "prom.h"
#include "identity.h"
#include "mqtt_link.h"
#include "protocol.h"
#include "sync.h"
#include "sysinfo.h"
#include "trains.h"

struct health;

/* Buckets of the config download-time histogram, 5 ms to 10 s: from a config download on the
 * same LAN to the HTTP client's total timeout. */
extern const struct prom_buckets edge_download_buckets;

struct edge_metrics {
    uint64_t registration_attempts;
    uint64_t registration_failures[REG_FAIL_COUNT];
    uint64_t cache_hits;
    uint64_t config_downloads;
    struct prom_histogram download_seconds; /* start of a config request to its answer */
    uint64_t config_applies;
    uint64_t config_rejections;
    uint64_t config_rollbacks;
    uint64_t longpolls;
    uint64_t heartbeats_ok;
    uint64_t heartbeats_failed;
    uint64_t commands[PROTO_ACT_COUNT];
    uint64_t commands_rejected;
    uint64_t failsafe_stops;
    uint64_t mqtt_probes; /* fail-safe probes of a silent broker (failsafe_check) */
    uint64_t mqtt_connects;
    uint64_t status_published;
};

#define EDGE_MAX_PENDING_PUBS 80
/* Trains a config may name (CACHE_MAX_TRAINS). */
#define EDGE_MAX_TRAINS PROTO_CONTROLLER_TRAINS_MAX
/* How long an apply may wait for SUBACKs, and at most in all (removed trains ramp down in
 * RAMP_DEFAULT_MS; a train still moving then is cut to 0). */
#define EDGE_APPLY_SUBACK_MS 10000
#define EDGE_APPLY_MAX_MS 15000
/* Prefixes of the config problems in /health's config_error and the heartbeat's errors; the
 * central shows the first such error as the controller's config_error. */
#define EDGE_ERROR_REJECTED PROTO_ERROR_CONFIG_REJECTED
#define EDGE_ERROR_ROLLED_BACK PROTO_ERROR_CONFIG_ROLLED_BACK
/* The fail-safe's own probe of a silent broker (edge_mqtt.c, failsafe_check): a QoS 1 publish
 * with an empty payload on controllers/{uuid}/probe, which nobody subscribes to; the broker's
 * PUBACK is the answer. Sent after a third of the fail-safe timeout without a packet, at
 * most this often. */
#define EDGE_PROBE_MIN_INTERVAL_MS 250
/* How long a newer config than the running one may be known (notification, heartbeat or
 * long poll) but not yet downloaded before the trains are held (edge_apply.c,
 * edge_apply_superseded_check), while the central answers; without it (not registered, or
 * the last download failed) they are held at once. */
#define EDGE_SUPERSEDED_GRACE_MS 3000

/* A runtime config between "opened and checked" and "committed": removed trains ramping
 * down, new subscriptions waiting for their SUBACK. The running config (edge.config) is
 * still the old one, the one a failure rolls back to. */
struct edge_apply {
    bool pending;
    json_t *cfg; /* owned */
    char source[24];
    bool from_sync; /* the outcome is fed to the sync machine */
    char etag[160];
    int sub_mids[EDGE_MAX_TRAINS];
    char sub_train[EDGE_MAX_TRAINS][PROTO_TRAIN_ID_MAX + 1];
    size_t n_subs;
    bool sub_refused;
    char refused_train[PROTO_TRAIN_ID_MAX + 1];
    int64_t subs_deadline_ms, deadline_ms;
};

struct edge {
    struct edge_opts opts;
    struct sysinfo_facts sys;
    char uuid[UUIDSTR_LEN + 1];
    char name[128];
    int64_t started_mono_ms;

    /* Runtime config. */
    json_t *config; /* applied; NULL: none (no cache, invalid, or stale) */
    /* Intact but not to be driven: a stale cache, or a config a newer one superseded
     * (cache_state "superseded"); kept until the central confirms or replaces it. */
    json_t *held;
    int64_t applied_version; /* -1: none */
    char etag[160];
    /* valid | previous | stale | invalid | missing | downloaded | confirmed | superseded */
    char cache_state[24];
    char cache_reason[256];
    struct edge_apply apply;
    /* cached_at of the cache booted from when it was ahead of this clock (wall ms); 0: not.
     * Reported in /health while the clock is still behind it. */
    int64_t cache_ahead_ms;
    /* Last config refused or rolled back (not applied again), and why; the error is
     * reported until a newer config is applied. */
    int64_t rejected_version; /* -1: none */
    char rejected_checksum[CANON_CHECKSUM_LEN + 1];
    char apply_error[256];
    /* The last failed write to the state directory ("" once a write succeeds again). */
    char state_error[512];

    /* The controller secret (credential.h): "" when none is held. credential_error says why
     * the central would refuse us (file corrupt, or it refused the secret), for /health. */
    char secret[SECRET_HEX_LEN + 1];
    enum credential_state credential;
    char credential_error[320];

    /* Central API: the one in use (central_in_use, "" while none is known) among the
     * configured or discovered ones (discover.h). */
    struct api_client *api;
    struct central_choice centrals;
    struct discover *discover; /* NULL: URLs configured */
    char central_in_use[CENTRAL_URL_MAX];
    struct sync sync;
    int64_t sync_wake_ms;
    int64_t fetch_started_us; /* monotonic, of the config request in flight */
    bool fetch_failed;        /* the last config download got no usable answer */
    /* A 304 answers for every version announced before its request: those are not newer. */
    int64_t fetch_desired, confirmed_version;
    int64_t newer_since_ms; /* since when a newer config is known (mono ms); -1: none */
    bool registered;
    int64_t session_epoch; /* this process's session (epoch.h); 0: none yet */
    int64_t will_epoch;    /* the epoch in the armed will; -1: none armed */
    char last_sync_error[200];

    /* MQTT. */
    struct mqtt_link *mqtt;
    char presence_topic[128];
    char config_topic[128];
    int64_t last_contact_ms; /* last packet from the broker (mono ms) */
    int64_t last_probe_ms;
    bool failsafe_fired;
    bool announce_connected; /* log mqtt_connected at the next tick */

    struct trains trains;
    json_t *last_command; /* {train_id, action, accepted, at} or NULL */
    int errors_reported;  /* trains with a plugin error */

    struct health *health;
    struct edge_metrics m;

    /* Shutdown: QoS 1 messages still waiting for their PUBACK. */
    int pending_mids[EDGE_MAX_PENDING_PUBS];
    size_t n_pending;
};

/* Boots the daemon: identity, cache, trains, MQTT, health endpoint. 0 or negative errno
 * (then the program exits 1). */
int edge_init(struct edge *e, const struct edge_opts *o);
void edge_free(struct edge *e);

/* One pass of time-driven work (ramps, status messages, sync timers, fail-safe, MQTT
 * keepalive). Returns the next time (monotonic ms) it wants to run, -1 for "no deadline". */
int64_t edge_tick(struct edge *e, int64_t now_ms);
/* Stops every motor, publishes their final status and the offline presence, waiting for the
 * broker's acknowledgement at most timeout_ms. */
void edge_shutdown(struct edge *e, int64_t timeout_ms);

/* Installs the SIGTERM/SIGINT handlers (loop.c). Called first thing by the program, so that
 * a stop request arriving during start-up is remembered and honoured by edge_run rather than
 * killing the process with motors possibly open. 0 or negative errno. */
int edge_signals_init(void);
/* Poll loop (loop.c): runs until SIGTERM/SIGINT, then shuts down. 0 or negative errno. */
int edge_run(struct edge *e);

/* Whether the edge has done what it can do on its own (sdnotify.h: READY): true without a
 * config to drive, or once the broker is connected and the command topics subscribed.
 * status receives a one-line summary for systemd's STATUS=. */
bool edge_settled(const struct edge *e, char *status, size_t statuslen);

/* The local /health document (*http_status: 200, or 503 when unhealthy) and the /metrics
 * text (malloc'd), which the health server (health.c) serves (edge_report.c). NULL: out of
 * memory. */
json_t *edge_health_json(const struct edge *e, int64_t now_ms, int *http_status);
char *edge_metrics_text(const struct edge *e, int64_t now_ms);

#endif
