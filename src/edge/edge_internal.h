/* Between the parts of the edge daemon, which all work on one struct edge (edge.h) from the
 * one loop, without locks:
 *
 *   edge.c          life cycle and wiring: boot, the tick's order, shutdown, state writes
 *   edge_apply.c    the apply-a-config transaction: check, open, release, SUBACKs, commit
 *                   or roll back; holding the trains of a superseded config
 *   edge_mqtt.c     the MQTT side: message dispatch (commands, emergency stop, config
 *                   notifications), subscriptions, presence and will, status messages, the
 *                   fail-safe's watch on the broker
 *   edge_central.c  the central side: the sync machine's requests started, their answers
 *                   (read by answer.c) acted on, failover between central URLs
 *   edge_report.c   the /health document and the /metrics text
 *   loop.c          the poll loop, signals, systemd notifications
 *
 * Not for other modules: they use edge.h. */
#ifndef ROUNDHOUSE_EDGE_EDGE_INTERNAL_H
#define ROUNDHOUSE_EDGE_EDGE_INTERNAL_H

#include "edge.h"

/* The earlier of two deadlines (monotonic ms); -1 is "none". */
static inline int64_t edge_earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* --- edge.c --- */

/* The outcome rc of a write of file to the state directory: a failure is remembered for
 * /health (state_error) until a later write succeeds, and logged naming the file. */
void edge_state_written(struct edge *e, const char *file, int rc);
/* Stores this session's epoch (session.json) once there is a UUID and an epoch. */
void edge_epoch_persist(struct edge *e);

/* --- edge_apply.c --- */

/* Applies a validated config cfg (a reference is taken): checks it against the running
 * trains, opens the new ones, then (possibly later, edge_apply_progress) releases the removed
 * trains, waits for the SUBACKs and commits. With a running config to return to, a train that
 * cannot get its new driver rolls the whole config back; without one (the first config), it
 * is applied and the broken train reported. source: "current", "previous", "central",
 * "cache_confirmed"; from_sync: the outcome is fed to the sync machine; etag (may be NULL)
 * is remembered once a "central" config commits. 0 when committed or in progress, -EINVAL
 * when rolled back, -ENOMEM. */
int edge_apply_config(struct edge *e, json_t *cfg, const char *source, bool from_sync,
                      const char *etag);
/* Moves a pending apply on; commits when nothing is left to wait for. */
void edge_apply_progress(struct edge *e, int64_t now_ms);
/* The SUBACK of message mid (granted false: the broker refused it). */
void edge_apply_suback(struct edge *e, int mid, bool granted);
/* Forgets a pending apply without committing it (its config reference dropped). */
void edge_apply_clear(struct edge *e);
/* trains_reap's callback: a released train's last status, its command topic dropped. */
void edge_apply_train_released(void *ctx, const struct train *t);
/* Holds the trains of a config a newer one superseded (edge.h, EDGE_SUPERSEDED_GRACE_MS).
 * Returns when it wants to look again (monotonic ms), -1 for no deadline. */
int64_t edge_apply_superseded_check(struct edge *e, int64_t now_ms);

/* --- edge_mqtt.c --- */

extern const struct mqtt_link_callbacks edge_mqtt_callbacks;
/* Trust for a TLS broker (files named by options are read now). 0 or negative errno. */
int edge_mqtt_tls_setup(struct edge *e);
/* The broker of the running config (or the options' override), with the will armed. */
void edge_mqtt_configure(struct edge *e);
/* Sets the will for the next connection: the offline presence of this session's epoch. */
void edge_mqtt_will_arm(struct edge *e);
/* Whether configs a and b name the same broker with the same credentials and TLS. */
bool edge_mqtt_same_broker(const struct edge *e, const json_t *a, const json_t *b);
/* Subscribes every train's command topic again (when connected). */
void edge_mqtt_subscribe_all(struct edge *e);
/* Publishes train t's retained status with qos; track: its PUBACK is waited for at
 * shutdown. */
void edge_mqtt_status_publish(struct edge *e, const struct train *t, int qos, bool track);
/* The tick's MQTT work: due status messages, the link's keepalive and reconnect timer, the
 * connection announced, the fail-safe's watch on the broker. */
void edge_mqtt_tick(struct edge *e, int64_t now_ms);
/* The MQTT side's next deadline (monotonic ms; -1: none): ramps, status messages, the link's
 * timers, the fail-safe and its probes. */
int64_t edge_mqtt_next_wake(const struct edge *e, int64_t now_ms);
/* At shutdown: the final statuses and the offline presence, waiting for their PUBACKs at
 * most timeout_ms, then a clean disconnect. */
void edge_mqtt_farewell(struct edge *e, int64_t timeout_ms);

/* --- loop.c --- */

/* Polls the MQTT socket (and the HTTP requests) until the QoS 1 messages in pending_mids are
 * acknowledged, the connection drops or timeout_ms has passed: the shutdown's wait. */
void edge_loop_flush(struct edge *e, int64_t timeout_ms);

/* --- edge_central.c --- */

/* Feeds one event to the sync machine and starts the requests it asks for. Returns the retry
 * delay chosen after a failure (-1 otherwise), for the log. */
int64_t edge_sync_feed(struct edge *e, const struct sync_event *ev);
void edge_sync_feed_kind(struct edge *e, enum sync_event_kind kind, int64_t version);
/* Trust for an https:// central url on api. 0 or negative errno (logged). */
int edge_central_tls_setup(struct edge *e, struct api_client *api, const char *url);
/* Moves the requests to the central chosen now, once none is in flight. */
void edge_central_check(struct edge *e);
/* Keeps the ETag of the running config for the next conditional download. */
void edge_central_etag_remember(struct edge *e, const char *etag);

#endif
