#include "mqtt_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "backoff.h"
#include "resolve.h"
#include "tlsutil.h"

enum link_state { LINK_IDLE = 0, LINK_RESOLVING, LINK_CONNECTING, LINK_CONNECTED, LINK_WAITING };

/* The broker's name is looked up off the loop (resolve.h), asked this often while it runs. */
#define MQTT_LINK_RESOLVE_POLL_MS 20

struct mqtt_link {
    struct mosquitto *mosq;
    struct mqtt_link_callbacks cb;
    void *ctx;
    enum link_state state;
    char host[256];
    int port;
    int keepalive_s;
    /* Kept so that a fresh client state (link_reset) can be set up like the old one. */
    char client_id[128];               /* "": a random one */
    char username[256], password[256]; /* "" username: none */
    char will_topic[256];
    char *will_payload; /* NULL: no will */
    char broker[300];
    unsigned attempt;
    int64_t retry_at_ms;
    int64_t connect_started_ms;
    int64_t now_ms;     /* last time seen, for callbacks that need it */
    int64_t last_rx_ms; /* last time bytes arrived from the broker (-1: never) */
    uint64_t rng;
    struct resolve_job *job; /* while LINK_RESOLVING (resolve.h) */
    /* TLS: whether the current broker wants it, the link's own context (made by
     * mqtt_link_set_tls or at the first TLS connection) and the trust it is made from. */
    bool tls;
    SSL_CTX *ssl_ctx;
    char tls_ca[512], tls_cert[512], tls_key[512];
    /* Why the last attempt failed, when TLS or libmosquitto said: for on_retry. */
    char fail_reason[256];
    char refused[128]; /* why the broker refused the last CONNECT, until the disconnect */
};

static int link_reset(struct mqtt_link *l);

static void job_drop(struct mqtt_link *l)
{
    resolve_drop(l->job);
    l->job = NULL;
}

/* Records why OpenSSL refused the broker's certificate; the decision stays OpenSSL's. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    if (ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct mqtt_link *l = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (l != NULL && l->fail_reason[0] == '\0')
        snprintf(l->fail_reason, sizeof l->fail_reason, "TLS: certificate verify failed: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
    return 0;
}

/* libmosquitto tells why a TLS connection failed only in its log. */
static void on_log_cb(struct mosquitto *m, void *obj, int level, const char *text)
{
    struct mqtt_link *l = obj;
    (void)m;
    if (level == MOSQ_LOG_ERR && l->fail_reason[0] == '\0' && text != NULL)
        snprintf(l->fail_reason, sizeof l->fail_reason, "%s", text);
}

static int tls_ctx_make(struct mqtt_link *l, char *err, size_t errlen)
{
    struct tls_client_opts o = {
        .ca_file = l->tls_ca[0] ? l->tls_ca : NULL,
        .cert_file = l->tls_cert[0] ? l->tls_cert : NULL,
        .key_file = l->tls_key[0] ? l->tls_key : NULL,
        .verify = true,
    };
    SSL_CTX *ctx = NULL;
    int rc = tls_client_ctx_new(&o, &ctx, err, errlen);
    if (rc < 0)
        return rc;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_app_data(ctx, l);
    SSL_CTX_free(l->ssl_ctx);
    l->ssl_ctx = ctx;
    return 0;
}

int mqtt_link_set_tls(struct mqtt_link *l, const char *ca_file, const char *cert_file,
                      const char *key_file, bool now, char *err, size_t errlen)
{
    snprintf(l->tls_ca, sizeof l->tls_ca, "%s", ca_file ? ca_file : "");
    snprintf(l->tls_cert, sizeof l->tls_cert, "%s", cert_file ? cert_file : "");
    snprintf(l->tls_key, sizeof l->tls_key, "%s", key_file ? key_file : "");
    SSL_CTX_free(l->ssl_ctx);
    l->ssl_ctx = NULL;
    return now ? tls_ctx_make(l, err, errlen) : 0;
}

static void on_connect_cb(struct mosquitto *m, void *obj, int rc)
{
    struct mqtt_link *l = obj;
    (void)m;
    if (rc != 0) {
        /* Refused (bad credentials, ...): the socket stays open; drop it and retry later. */
        snprintf(l->refused, sizeof l->refused, "connection refused: %s",
                 mosquitto_connack_string(rc));
        mosquitto_disconnect(l->mosq);
        return;
    }
    l->state = LINK_CONNECTED;
    l->attempt = 0;
    if (l->cb.on_connect != NULL)
        l->cb.on_connect(l->ctx);
}

static void schedule_retry(struct mqtt_link *l, const char *why)
{
    int64_t d = backoff_delay_ms(l->attempt, MQTT_LINK_BACKOFF_BASE_MS, MQTT_LINK_BACKOFF_CAP_MS,
                                 backoff_rand(&l->rng));
    if (l->attempt < 32)
        l->attempt++;
    l->state = LINK_WAITING;
    l->retry_at_ms = l->now_ms + d;
    if (l->cb.on_retry != NULL)
        l->cb.on_retry(l->ctx, why, d);
}

static void on_disconnect_cb(struct mosquitto *m, void *obj, int rc)
{
    struct mqtt_link *l = obj;
    (void)m;
    bool was_connected = l->state == LINK_CONNECTED;
    if (l->state != LINK_IDLE)
        schedule_retry(l, l->refused[0]                         ? l->refused
                          : !was_connected && l->fail_reason[0] ? l->fail_reason
                                                                : "connection lost");
    l->refused[0] = '\0';
    if (was_connected && l->cb.on_disconnect != NULL)
        l->cb.on_disconnect(l->ctx, rc);
}

static void on_message_cb(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    struct mqtt_link *l = obj;
    (void)m;
    if (l->cb.on_message != NULL && msg->topic != NULL)
        l->cb.on_message(l->ctx, msg->topic, msg->payload,
                         msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, msg->retain);
}

static void on_publish_cb(struct mosquitto *m, void *obj, int mid)
{
    struct mqtt_link *l = obj;
    (void)m;
    if (l->cb.on_publish != NULL)
        l->cb.on_publish(l->ctx, mid);
}

static void on_subscribe_cb(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    struct mqtt_link *l = obj;
    bool ok = n > 0;
    (void)m;
    for (int i = 0; i < n; i++)
        ok = ok && granted[i] >= 0 && granted[i] <= 2;
    if (l->cb.on_subscribe != NULL)
        l->cb.on_subscribe(l->ctx, mid, ok);
}

/* Options and callbacks, after mosquitto_new or mosquitto_reinitialise. */
static void link_setup(struct mqtt_link *l)
{
    mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* Commands and stops are small packets: Nagle's algorithm would hold a SUBSCRIBE or a
     * status behind an unacknowledged PUBACK for a delayed-ACK period (~40 ms). */
    mosquitto_int_option(l->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(l->mosq, on_connect_cb);
    mosquitto_disconnect_callback_set(l->mosq, on_disconnect_cb);
    mosquitto_message_callback_set(l->mosq, on_message_cb);
    mosquitto_publish_callback_set(l->mosq, on_publish_cb);
    mosquitto_subscribe_callback_set(l->mosq, on_subscribe_cb);
    mosquitto_log_callback_set(l->mosq, on_log_cb);
    /* Our own context, used as it is: libmosquitto's defaults would check the certificate
     * against the address it is given, not the broker's name. */
    if (l->tls && l->ssl_ctx != NULL) {
        mosquitto_int_option(l->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        mosquitto_void_option(l->mosq, MOSQ_OPT_SSL_CTX, l->ssl_ctx);
    }
}

struct mqtt_link *mqtt_link_new(const char *client_id, const struct mqtt_link_callbacks *cb,
                                void *ctx, uint64_t seed)
{
    static bool lib_done;
    struct mqtt_link *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    if (!lib_done) {
        mosquitto_lib_init();
        lib_done = true;
    }
    l->cb = *cb;
    l->ctx = ctx;
    l->last_rx_ms = -1;
    l->rng = seed ? seed : 0x2545f4914f6cdd1dULL;
    /* Clean session: commands queued while we were away are stale by the time we return,
     * and replaying old speed commands to a train would be unsafe. */
    l->mosq = mosquitto_new(client_id, true, l);
    if (l->mosq == NULL) {
        free(l);
        return NULL;
    }
    snprintf(l->client_id, sizeof l->client_id, "%s", client_id ? client_id : "");
    link_setup(l);
    return l;
}

void mqtt_link_free(struct mqtt_link *l)
{
    if (l == NULL)
        return;
    job_drop(l); /* a resolver thread still running frees the job itself */
    mosquitto_destroy(l->mosq);
    SSL_CTX_free(l->ssl_ctx);
    free(l->will_payload);
    free(l);
}

static void link_connect_addr(struct mqtt_link *l, const char *addr)
{
    l->state = LINK_CONNECTING;
    l->connect_started_ms = l->now_ms;
    l->fail_reason[0] = '\0';
    l->refused[0] = '\0';
    if (l->tls && l->ssl_ctx != NULL) {
        /* SSL_new copies the context's parameters: the name checked is the broker's. */
        X509_VERIFY_PARAM *p = SSL_CTX_get0_param(l->ssl_ctx);
        unsigned char buf[sizeof(struct in6_addr)];
        bool ip = inet_pton(AF_INET, l->host, buf) == 1 || inet_pton(AF_INET6, l->host, buf) == 1;
        X509_VERIFY_PARAM_set1_host(p, ip ? NULL : l->host, 0);
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(p, l->host);
        else
            X509_VERIFY_PARAM_set1_ip(p, NULL, 0);
    }
    int rc = mosquitto_connect_async(l->mosq, addr, l->port, l->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS)
        schedule_retry(l, "connect failed");
}

/* The first address a finished lookup found, as text (libmosquitto takes a host string).
 * 0 or an EAI_* code. */
static int first_address(const struct resolve_job *j, char *out, size_t outlen)
{
    struct resolve_addr a;
    size_t n = 0;
    int rc = resolve_result(j, &a, 1, &n);
    if (rc != 0)
        return rc;
    const void *src = a.sa.ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)&a.sa)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)&a.sa)->sin_addr;
    return inet_ntop(a.sa.ss_family, src, out, (socklen_t)outlen) != NULL ? 0 : EAI_FAIL;
}

/* Every (re)connection resolves the name again: a broker may move to another address. */
static void link_connect(struct mqtt_link *l)
{
    unsigned char buf[sizeof(struct in6_addr)];
    job_drop(l);
    if (l->tls && l->ssl_ctx == NULL) {
        char err[sizeof l->fail_reason - sizeof "TLS: "] = "cannot reset the client";
        if (tls_ctx_make(l, err, sizeof err) < 0 || link_reset(l) < 0) {
            snprintf(l->fail_reason, sizeof l->fail_reason, "TLS: %s", err);
            schedule_retry(l, l->fail_reason);
            return;
        }
    }
    if (inet_pton(AF_INET, l->host, buf) == 1 || inet_pton(AF_INET6, l->host, buf) == 1) {
        link_connect_addr(l, l->host);
        return;
    }
    if (resolve_start(l->host, NULL, &l->job) < 0) {
        schedule_retry(l, "cannot start resolver");
        return;
    }
    l->state = LINK_RESOLVING;
    l->connect_started_ms = l->now_ms;
}

int mqtt_link_set_broker(struct mqtt_link *l, const char *host, int port, const char *username,
                         const char *password, bool tls, int keepalive_s, int64_t now_ms)
{
    l->now_ms = now_ms;
    if (strlen(host) >= sizeof l->host)
        return -ENAMETOOLONG;
    /* libmosquitto refuses keepalives under 5 s (connect fails with MOSQ_ERR_INVAL). Compared
     * as it will be stored: a value clamped on the way in must not count as a change at every
     * call (that dropped and reopened the connection at every config change). */
    int keepalive = keepalive_s < 5 ? 5 : keepalive_s;
    /* New credentials (a controller's own MQTT account, issued or changed by the central) need a
     * new CONNECT: the broker checks them only there. */
    bool same = strcmp(host, l->host) == 0 && port == l->port && keepalive == l->keepalive_s &&
                tls == l->tls && strcmp(username ? username : "", l->username) == 0 &&
                strcmp(username && password ? password : "", l->password) == 0;
    if (mosquitto_username_pw_set(l->mosq, username, username ? password : NULL) !=
        MOSQ_ERR_SUCCESS)
        return -ENOMEM;
    snprintf(l->username, sizeof l->username, "%s", username ? username : "");
    snprintf(l->password, sizeof l->password, "%s", username && password ? password : "");
    if (same && l->state != LINK_IDLE)
        return 0;
    if (l->state == LINK_CONNECTED || l->state == LINK_CONNECTING) {
        l->state = LINK_IDLE; /* our own disconnect: no retry scheduling from the callback */
        mosquitto_disconnect(l->mosq);
    }
    job_drop(l);
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    l->keepalive_s = keepalive;
    snprintf(l->broker, sizeof l->broker, "%s:%d", host, port);
    l->attempt = 0;
    if (tls != l->tls) {
        /* libmosquitto keeps a TLS context once it has one: a fresh client state for a
         * change either way. */
        l->tls = tls;
        if (link_reset(l) < 0) {
            schedule_retry(l, "client reset failed");
            return 0;
        }
    }
    link_connect(l);
    return 0;
}

/* Our own clean disconnect: no retry scheduled, no will published by the broker. */
static void link_drop(struct mqtt_link *l)
{
    job_drop(l);
    if (l->state == LINK_CONNECTED || l->state == LINK_CONNECTING) {
        l->state = LINK_IDLE;
        mosquitto_disconnect(l->mosq);
        /* Flush the DISCONNECT packet. */
        if (mosquitto_socket(l->mosq) >= 0)
            mosquitto_loop_write(l->mosq, 1);
    }
    l->state = LINK_IDLE;
}

/* A fresh libmosquitto client state with the same id, credentials, will and callbacks. What
 * the old state still held is dropped on purpose: libmosquitto re-sends unacknowledged QoS 1
 * messages after a reconnect, and an old session's birth arriving after the new one would
 * leave a stale retained presence behind. */
static int link_reset(struct mqtt_link *l)
{
    if (mosquitto_reinitialise(l->mosq, l->client_id[0] ? l->client_id : NULL, true, l) !=
        MOSQ_ERR_SUCCESS)
        return -EINVAL;
    link_setup(l);
    if (l->username[0] != '\0' &&
        mosquitto_username_pw_set(l->mosq, l->username, l->password) != MOSQ_ERR_SUCCESS)
        return -ENOMEM;
    if (l->will_payload != NULL &&
        mosquitto_will_set(l->mosq, l->will_topic, (int)strlen(l->will_payload), l->will_payload, 1,
                           true) != MOSQ_ERR_SUCCESS)
        return -EINVAL;
    return 0;
}

void mqtt_link_reconnect(struct mqtt_link *l, int64_t now_ms)
{
    l->now_ms = now_ms;
    if (l->state != LINK_CONNECTED && l->state != LINK_CONNECTING)
        return;
    bool was_connected = l->state == LINK_CONNECTED;
    link_drop(l);
    if (was_connected && l->cb.on_disconnect != NULL)
        l->cb.on_disconnect(l->ctx, 0);
    l->attempt = 0;
    if (link_reset(l) < 0) {
        schedule_retry(l, "client reset failed");
        return;
    }
    link_connect(l);
}

int mqtt_link_set_client_id(struct mqtt_link *l, const char *client_id, int64_t now_ms)
{
    l->now_ms = now_ms;
    bool active = l->state != LINK_IDLE;
    bool was_connected = l->state == LINK_CONNECTED;
    if (strlen(client_id) >= sizeof l->client_id)
        return -ENAMETOOLONG;
    link_drop(l);
    if (was_connected && l->cb.on_disconnect != NULL)
        l->cb.on_disconnect(l->ctx, 0);
    snprintf(l->client_id, sizeof l->client_id, "%s", client_id);
    /* The will belonged to the old identity: the owner sets the new one. */
    free(l->will_payload);
    l->will_payload = NULL;
    int rc = link_reset(l);
    if (rc < 0)
        return rc;
    if (active) {
        /* Connects again from the next tick, once the owner has set the will again. */
        l->state = LINK_WAITING;
        l->retry_at_ms = now_ms;
    }
    return 0;
}

int mqtt_link_set_will(struct mqtt_link *l, const char *topic, const char *payload)
{
    if (strlen(topic) >= sizeof l->will_topic)
        return -ENAMETOOLONG;
    char *copy = strdup(payload);
    if (copy == NULL)
        return -ENOMEM;
    if (mosquitto_will_set(l->mosq, topic, (int)strlen(payload), payload, 1, true) !=
        MOSQ_ERR_SUCCESS) {
        free(copy);
        return -EINVAL;
    }
    snprintf(l->will_topic, sizeof l->will_topic, "%s", topic);
    free(l->will_payload);
    l->will_payload = copy;
    return 0;
}

int mqtt_link_fd(struct mqtt_link *l)
{
    if (l->state != LINK_CONNECTING && l->state != LINK_CONNECTED)
        return -1;
    return mosquitto_socket(l->mosq);
}

short mqtt_link_events(struct mqtt_link *l)
{
    short ev = POLLIN;
    if (mosquitto_want_write(l->mosq))
        ev |= POLLOUT;
    return ev;
}

void mqtt_link_handle(struct mqtt_link *l, short revents, int64_t now_ms)
{
    l->now_ms = now_ms;
    if (mqtt_link_fd(l) < 0)
        return;
    /* Only packets of an accepted session count as contact: a broker that refuses the login
     * answers every attempt with a CONNACK, and counting those kept the fail-safe from ever
     * stopping trains nobody could command. */
    if ((revents & (POLLIN | POLLERR | POLLHUP)) &&
        mosquitto_loop_read(l->mosq, 16) == MOSQ_ERR_SUCCESS && (revents & POLLIN) &&
        l->state == LINK_CONNECTED)
        l->last_rx_ms = now_ms;
    /* Packets queued by callbacks during the read (SUBSCRIBEs after CONNACK, PUBACKs) go out
     * now rather than one poll round later. */
    if (mqtt_link_fd(l) >= 0 && ((revents & POLLOUT) || mosquitto_want_write(l->mosq)))
        mosquitto_loop_write(l->mosq, 16);
}

void mqtt_link_tick(struct mqtt_link *l, int64_t now_ms)
{
    l->now_ms = now_ms;
    if ((l->state == LINK_CONNECTED || l->state == LINK_CONNECTING) &&
        mosquitto_socket(l->mosq) < 0) {
        /* The socket went away without a callback (an error inside the library). */
        bool was_connected = l->state == LINK_CONNECTED;
        schedule_retry(l, !was_connected && l->fail_reason[0] ? l->fail_reason : "connection lost");
        if (was_connected && l->cb.on_disconnect != NULL)
            l->cb.on_disconnect(l->ctx, -1);
        return;
    }
    switch (l->state) {
    case LINK_CONNECTED:
        mosquitto_loop_misc(l->mosq); /* keepalive: a dead broker is noticed here */
        /* Queued messages may wait for the socket to become writable. */
        if (mqtt_link_fd(l) >= 0 && mosquitto_want_write(l->mosq))
            mosquitto_loop_write(l->mosq, 16);
        break;
    case LINK_CONNECTING:
        if (now_ms - l->connect_started_ms > MQTT_LINK_CONNECT_TIMEOUT_MS) {
            /* A broker that accepts TCP but never answers CONNECT. */
            l->state = LINK_WAITING;
            mosquitto_disconnect(l->mosq);
            schedule_retry(l, "no CONNACK");
        }
        break;
    case LINK_WAITING:
        if (now_ms >= l->retry_at_ms)
            link_connect(l);
        break;
    case LINK_RESOLVING:
        if (resolve_done(l->job)) {
            char addr[INET6_ADDRSTRLEN];
            int rc = first_address(l->job, addr, sizeof addr);
            job_drop(l);
            if (rc != 0)
                schedule_retry(l, "name resolution failed");
            else
                link_connect_addr(l, addr);
        } else if (now_ms - l->connect_started_ms > MQTT_LINK_CONNECT_TIMEOUT_MS) {
            job_drop(l); /* the thread finishes on its own and frees the job */
            schedule_retry(l, "name resolution timed out");
        }
        break;
    case LINK_IDLE:
        break;
    }
}

int64_t mqtt_link_next_wake(const struct mqtt_link *l, int64_t now_ms)
{
    switch (l->state) {
    case LINK_WAITING:
        return l->retry_at_ms;
    case LINK_RESOLVING:
        return now_ms + MQTT_LINK_RESOLVE_POLL_MS;
    case LINK_CONNECTING:
    case LINK_CONNECTED:
        return now_ms + 1000;
    default:
        return -1;
    }
}

int64_t mqtt_link_last_rx(const struct mqtt_link *l)
{
    return l ? l->last_rx_ms : -1;
}

bool mqtt_link_connected(const struct mqtt_link *l)
{
    return l != NULL && l->state == LINK_CONNECTED;
}

bool mqtt_link_configured(const struct mqtt_link *l)
{
    return l != NULL && l->state != LINK_IDLE;
}

const char *mqtt_link_broker(const struct mqtt_link *l)
{
    return l->broker;
}

int mqtt_link_subscribe(struct mqtt_link *l, const char *topic, int qos, int *mid)
{
    if (l->state != LINK_CONNECTED)
        return -ENOTCONN;
    return mosquitto_subscribe(l->mosq, mid, topic, qos) == MOSQ_ERR_SUCCESS ? 0 : -EIO;
}

int mqtt_link_unsubscribe(struct mqtt_link *l, const char *topic)
{
    if (l->state != LINK_CONNECTED)
        return -ENOTCONN;
    return mosquitto_unsubscribe(l->mosq, NULL, topic) == MOSQ_ERR_SUCCESS ? 0 : -EIO;
}

int mqtt_link_publish(struct mqtt_link *l, const char *topic, const char *payload, size_t len,
                      int qos, bool retain, int *mid)
{
    if (l->state != LINK_CONNECTED)
        return -ENOTCONN;
    int rc = mosquitto_publish(l->mosq, mid, topic, (int)len, payload, qos, retain);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -EIO;
}

void mqtt_link_disconnect(struct mqtt_link *l)
{
    link_drop(l);
}
