/* The central's shared context: options, the store, and counters. Built by main.c, used by
 * the HTTP API and the import/export code. */
#ifndef ROUNDHOUSE_CENTRAL_H
#define ROUNDHOUSE_CENTRAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "presence.h"

struct store;
struct ratelimit;
struct notify;
struct events;
struct longpoll;
struct runtime_config_cache;
struct http_metrics;
struct withrottle;
struct layout;
struct cluster;

#define CENTRAL_MAX_BODY (64 * 1024)
/* A train's photo (PUT /api/trains/{id}/photo): the web UI scales pictures down to fit. */
#define CENTRAL_PHOTO_MAX (512 * 1024)
/* The registry import is one document for the whole fleet; its parsed tree takes about 20
 * times its size, so the default (--max-import-bytes) stays well below what one request
 * should be able to make the central allocate. */
#define CENTRAL_MAX_IMPORT_DEFAULT (8 * 1024 * 1024)

struct central_options {
    char listen_host[64];
    int listen_port;
    char db[PATH_MAX];
    char db_shown[PATH_MAX]; /* db for logs: a URL's password masked (store_redact) */
    char mqtt_host[256];
    int mqtt_port;
    char mqtt_username[128];
    char mqtt_password[128];
    bool advertise_set;
    char advertise_host[256];
    int advertise_port;
    char bootstrap[PATH_MAX];
    int heartbeat_interval;
    struct presence_rules presence;
    long register_rate;
    char registration_token[256];
    char cors_origins[1024];
    bool withrottle_enabled;  /* --withrottle-listen off: false */
    bool withrottle_explicit; /* --withrottle-listen (or its variable) was given */
    char withrottle_host[64];
    int withrottle_port;
    int withrottle_heartbeat; /* seconds */
    bool dnssd_advertise;     /* --advertise on|off */
    enum log_level log_level;
    enum log_format log_format;
    /* What one client can hold (docs/operations.md, "Limits"). */
    int max_connections;
    int max_connections_per_ip;
    int request_timeout; /* seconds for a whole request, and for an idle connection */
    int max_event_streams;
    int max_event_streams_per_ip;
    long max_import_bytes;
    /* Operator accounts (accounts.h, docs/security.md). */
    bool auth;        /* --auth */
    bool public_read; /* --public-read: reads without a credential */
    bool mqtt_acl;    /* --mqtt-acl: broker accounts per controller (mqtt_acl.h) */
    long session_ttl; /* --session-ttl, seconds a web session lasts */
    long login_rate;  /* --login-rate: failed logins per minute per address and per user */
    /* --tls-cert / --tls-key: serve HTTPS; both or neither. */
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    /* MQTT over TLS (--mqtt-tls, implied by --mqtt-ca, --mqtt-cert, --mqtt-key). No CA file:
     * the system's trust store. Runtime configs then say mqtt_broker.tls = true. */
    bool mqtt_tls;
    char mqtt_ca[PATH_MAX];
    char mqtt_cert[PATH_MAX];
    char mqtt_key[PATH_MAX];
};

struct central_counters {
    atomic_ulong registrations[4]; /* by enum registry_action */
    atomic_ulong registrations_rejected;
    atomic_ulong heartbeats;
    atomic_ulong db_errors;
    atomic_ulong presence_transitions[4][4]; /* [from][to], enum presence */
    atomic_ulong heartbeats_missed;          /* online -> not online without a heartbeat */
    atomic_ulong controller_auth_failures;   /* a controller's secret missing or wrong */
};

struct central {
    struct central_options opts;
    struct store *store;
    struct ratelimit *register_limit;
    struct ratelimit *login_limit_ip;   /* failed logins per source address (--auth) */
    struct ratelimit *login_limit_user; /* failed logins per user name (--auth) */
    struct notify *notify;
    struct events *events;
    struct longpoll *longpoll;
    struct runtime_config_cache *config_cache; /* NULL: every download is built */
    struct http_metrics *http_metrics;
    struct layout *layout; /* the stopped state (layout.h) */
    /* The other instances on the same PostgreSQL database (cluster.h); NULL on SQLite. Set
     * once the MQTT thread runs (which reads it), cleared after it stopped. */
    struct cluster *_Atomic cluster;
    /* Set once the WiThrottle server runs; read by the MQTT thread (status pushes). */
    struct withrottle *_Atomic withrottle;
    int64_t started_mono_ms;
    struct central_counters counters;
};

/* Defaults of docs/operations.md, then environment variables, then argv. Returns 0, 1 when the
 * program should exit 0 (--help, --version printed), or -EINVAL after printing a usage error
 * to stderr (exit 2). */
int central_options_parse(struct central_options *o, int argc, char **argv);

#endif
