/* The edge's MQTT connection: libmosquitto driven from the daemon's own poll loop
 * (mosquitto_socket + mosquitto_loop_read/write/misc, no library thread), reconnecting with
 * full-jitter backoff. The owner re-subscribes and publishes its birth in on_connect. */
#ifndef ROUNDHOUSE_EDGE_MQTT_LINK_H
#define ROUNDHOUSE_EDGE_MQTT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_LINK_BACKOFF_BASE_MS 500
#define MQTT_LINK_BACKOFF_CAP_MS 30000
#define MQTT_LINK_CONNECT_TIMEOUT_MS 10000

struct mqtt_link_callbacks {
    void (*on_connect)(void *ctx);                /* CONNACK accepted */
    void (*on_disconnect)(void *ctx, int reason); /* any loss, including our own */
    /* retained: delivered because it was retained, not because it was just published. */
    void (*on_message)(void *ctx, const char *topic, const void *payload, size_t len,
                       bool retained);
    void (*on_publish)(void *ctx, int mid); /* PUBACK of a QoS 1 message */
    /* SUBACK: granted false when the broker refused the subscription (0x80). */
    void (*on_subscribe)(void *ctx, int mid, bool granted);
    /* A connection attempt failed or the connection was lost; next attempt in retry_in_ms. */
    void (*on_retry)(void *ctx, const char *why, int64_t retry_in_ms);
};

struct mqtt_link;

/* NULL on failure (allocation, or a client id libmosquitto refuses). client_id NULL: a
 * random one until mqtt_link_set_client_id (a controller that has no UUID yet). */
struct mqtt_link *mqtt_link_new(const char *client_id, const struct mqtt_link_callbacks *cb,
                                void *ctx, uint64_t seed);
void mqtt_link_free(struct mqtt_link *l);
/* New client id. A live connection is dropped cleanly and made again with it from the next
 * mqtt_link_tick; the will is reset by the change, so the owner sets it again first.
 * 0 or negative errno. */
int mqtt_link_set_client_id(struct mqtt_link *l, const char *client_id, int64_t now_ms);

/* Target broker; (re)connects at once when it differs from the current one (or when not
 * connected). username may be NULL. tls: over TLS, with the trust of mqtt_link_set_tls (the
 * system's store when none was set). keepalive_s is MQTT's keepalive, at least 5 (smaller
 * values are raised: libmosquitto refuses them). 0 or negative errno. */
int mqtt_link_set_broker(struct mqtt_link *l, const char *host, int port, const char *username,
                         const char *password, bool tls, int keepalive_s, int64_t now_ms);

/* Trust for brokers reached over TLS: a PEM CA file (NULL: the system's store) and an
 * optional client certificate and key. now: the files are read at once (-EINVAL with err
 * naming the file); otherwise at the first TLS connection, a failure then reported through
 * on_retry. The broker's certificate must name the broker's host (as given to
 * mqtt_link_set_broker, checked by OpenSSL on the link's own context, since the link hands
 * libmosquitto the address it resolved off the loop). */
int mqtt_link_set_tls(struct mqtt_link *l, const char *ca_file, const char *cert_file,
                      const char *key_file, bool now, char *err, size_t errlen);
/* Last will for the next connection (retained QoS 1). */
int mqtt_link_set_will(struct mqtt_link *l, const char *topic, const char *payload);
/* Makes a connected (or connecting) link connect again now, so that a will set since takes
 * effect: MQTT fixes the will at CONNECT. The clean DISCONNECT first means the broker drops
 * the old will instead of publishing it. Does nothing when not connected: the next
 * attempt uses the new will anyway. */
void mqtt_link_reconnect(struct mqtt_link *l, int64_t now_ms);

/* Poll integration: descriptor (-1 when none) and the events to wait for. */
int mqtt_link_fd(struct mqtt_link *l);
short mqtt_link_events(struct mqtt_link *l);
void mqtt_link_handle(struct mqtt_link *l, short revents, int64_t now_ms);
/* Keepalive and reconnect timer; call at least once a second. */
void mqtt_link_tick(struct mqtt_link *l, int64_t now_ms);
int64_t mqtt_link_next_wake(const struct mqtt_link *l, int64_t now_ms);

bool mqtt_link_connected(const struct mqtt_link *l);
/* When bytes last arrived from the broker (any packet: CONNACK, PUBLISH, PUBACK, SUBACK,
 * PINGRESP), on the clock of now_ms; -1 before the first. A connection libmosquitto still
 * calls up can be silent (a frozen broker, a path that drops packets): the fail-safe counts
 * from this, not from the connection state. */
int64_t mqtt_link_last_rx(const struct mqtt_link *l);
bool mqtt_link_configured(const struct mqtt_link *l);
const char *mqtt_link_broker(const struct mqtt_link *l); /* "host:port" or "" */

/* mid (may be NULL) identifies the SUBACK reported through on_subscribe. 0 or negative
 * errno (-ENOTCONN when not connected). */
int mqtt_link_subscribe(struct mqtt_link *l, const char *topic, int qos, int *mid);
int mqtt_link_unsubscribe(struct mqtt_link *l, const char *topic);
/* mid may be NULL. 0 or negative errno (-ENOTCONN when not connected). */
int mqtt_link_publish(struct mqtt_link *l, const char *topic, const char *payload, size_t len,
                      int qos, bool retain, int *mid);
/* Clean disconnect (no will published). */
void mqtt_link_disconnect(struct mqtt_link *l);

#endif
