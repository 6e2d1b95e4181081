/* The central's one persistent MQTT connection (libmosquitto, its own network thread,
 * reconnecting with exponential backoff). It publishes commands, the emergency stop and
 * config/update notifications, and ingests train status and controller presence.
 *
 * The API keeps serving while the broker is away: publish calls then fail with -ENOTCONN
 * (commands answer 503), and config notifications that could not be sent are remembered and
 * published again, newest version, as soon as the connection is back. */
#ifndef ROUNDHOUSE_NOTIFY_H
#define ROUNDHOUSE_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct central;
struct notify;

/* Starts connecting in the background; never fails because the broker is down. 0 or
 * negative errno (library initialisation). */
int notify_start(struct central *c, struct notify **out);
void notify_stop(struct notify *n);
bool notify_connected(const struct notify *n);

/* A command document for the broker's dynamic-security plugin (mqtt_acl.h). -ENOTCONN when
 * the broker is unreachable. */
int notify_control(struct notify *n, const json_t *doc, int qos);
/* QoS 1 on trains/{train_id}/commands. -ENOTCONN when the broker is unreachable. */
int notify_command(struct notify *n, const char *train_id, const json_t *payload);
/* QoS 1 on roundhouse/emergency-stop: {reason, timestamp, id}; edges confirm it on
 * controllers/{uuid}/estop-ack with that id (layout.h). id may be NULL. */
int notify_emergency_stop(struct notify *n, const char *reason, const char *id);
/* QoS 1, retained, on controllers/{uuid}/config/update: {version, checksum}. When not
 * connected the notification is queued (one per controller, the newest) for the reconnect. */
void notify_config_update(struct notify *n, const char *uuid, long long version,
                          const char *checksum);

/* A store_commit_hook: publishes config/update for every controller whose config_version rose
 * in the committed transaction. ctx is the struct notify. The checksum is the one of the
 * document as served with the advertised broker address (--mqtt-advertise, else --mqtt);
 * controllers act on the version. */
struct store;
void notify_on_commit(void *ctx, struct store *st, const json_t *bumped);

/* Subscribes again to the ingested topics, whose retained messages (every train's last
 * status, every controller's last presence) then come again: for an instance that takes the
 * ingestion over from another on the same database (cluster.h). Nothing while not connected
 * (the connection subscribes when it comes). */
void notify_resubscribe(struct notify *n);

/* Handles one message of the subscribed topics (trains/+/status, controllers/+/presence):
 * validated, stored, published on the event stream; with several centrals on one database,
 * only by the one that holds the duty (cluster_duty). Invalid payloads are logged and
 * dropped. Exposed for the fuzz target. */
void notify_ingest(struct central *c, const char *topic, const void *payload, size_t len);

/* Counters for /metrics. */
unsigned long notify_sent_config_updates(const struct notify *n);
unsigned long notify_sent_commands(const struct notify *n);

#endif
