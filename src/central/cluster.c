/* The cluster session of cluster.h, on libpq: one connection and one thread per instance.
 *
 * The thread owns the connection; nothing else touches it. Other threads only queue payloads
 * (events published here, raised config versions) and wake the thread through an eventfd;
 * the thread sends what is queued in batches (one statement of pg_notify calls, one
 * transaction, synchronous_commit off: a notification needs no durability), then reads what
 * the others sent (PQconsumeInput, PQnotifies) and waits in poll() on PQsocket and the
 * eventfd. Its own notifications come back to it (it listens on the channel it sends on) and
 * are recognised by its backend's pid.
 *
 * The duty lock (pg_try_advisory_lock) is tried every DUTY_TRY_MS while another instance
 * holds it. The session asks the server for TCP keepalives shorter than its own, so that an
 * instance cut off from the database stops its duty (its side notices first) before the
 * server lets the lock go to another. */
#include "cluster.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "backoff.h"
#include "central.h"
#include "cluster_proto.h"
#include "events.h"
#include "layout.h"
#include "log.h"
#include "longpoll.h"
#include "store.h"
#include "prom.h"
#include "timeutil.h"
#include "withrottle.h"

#define MAX_OUTGOING 8192 /* queued payloads; beyond that, new ones are dropped (counted) */
#define BATCH_MAX 64      /* payloads per statement */
#define TICK_MS 250
#define DUTY_TRY_MS 500       /* a standby tries the lock this often */
#define STREAMS_EVERY_MS 5000 /* an instance with streams open says so this often */
#define PEER_TTL_MS 15000     /* and is believed this long after it last did */
#define MAX_PEERS 32
#define NOTIFY_CALL "pg_notify('" CLUSTER_CHANNEL "', $%zu)"

/* Another instance, known by the pid of its cluster session's backend. */
struct peer {
    int pid; /* 0: free slot */
    unsigned long streams;
    int64_t streams_until_ms;
    int64_t seen_ms;
    struct cluster_assembly assembly;
};

struct cluster {
    struct central *c;
    char instance[96];
    pthread_t thread;
    int wake_fd;
    pthread_mutex_t lock; /* the queue */
    char **queue;         /* ring of MAX_OUTGOING payloads */
    size_t qhead, qlen;
    bool dropping; /* logged once per episode */
    atomic_bool stop;
    atomic_bool duty;
    atomic_bool connected;
    _Atomic int64_t down_since_ms; /* monotonic; when the session was last lost or started */
    atomic_uint_fast64_t seq;
    atomic_ulong sent, received, dropped, duty_acquired;
    atomic_uint peers_streaming;
    /* The thread's own. */
    PGconn *conn;
    bool ever_connected;
    bool told_standby;
    int64_t next_duty_ms;
    unsigned long announced; /* streams last announced; ULONG_MAX: never */
    int64_t announced_ms;
    struct peer peers[MAX_PEERS];
};

static void wake(struct cluster *cl)
{
    uint64_t one = 1;
    ssize_t n = write(cl->wake_fd, &one, sizeof one);
    (void)n; /* EAGAIN: a wake-up is pending already */
}

/* Queues payloads, all or none (the parts of one event stay together). Takes them. */
static void enqueue(struct cluster *cl, char **payloads, size_t n)
{
    pthread_mutex_lock(&cl->lock);
    bool room = cl->qlen + n <= MAX_OUTGOING;
    if (room) {
        for (size_t i = 0; i < n; i++)
            cl->queue[(cl->qhead + cl->qlen++) % MAX_OUTGOING] = payloads[i];
        cl->dropping = false;
    }
    bool first_drop = !room && !cl->dropping;
    if (!room)
        cl->dropping = true;
    pthread_mutex_unlock(&cl->lock);
    if (!room) {
        for (size_t i = 0; i < n; i++)
            free(payloads[i]);
        atomic_fetch_add(&cl->dropped, n);
        /* The other instances' streams miss these; their clients reload when they reconnect. */
        if (first_drop)
            log_event(RH_LOG_WARNING, "cluster_queue_full", "{s:s, s:i}", "instance", cl->instance,
                      "queued", MAX_OUTGOING);
    }
    wake(cl);
}

static void enqueue_one(struct cluster *cl, char *payload)
{
    if (payload != NULL)
        enqueue(cl, &payload, 1);
}

static uint64_t next_seq(struct cluster *cl)
{
    return atomic_fetch_add(&cl->seq, 1) + 1;
}

/* events_peer.forward: under the stream's lock, so only formatting and queueing. */
static void forward_event(void *ctx, const char *type, const char *json)
{
    struct cluster *cl = ctx;
    char **parts = NULL;
    size_t n = 0;
    int rc = cluster_proto_event(next_seq(cl), type, json, &parts, &n);
    if (rc < 0) {
        atomic_fetch_add(&cl->dropped, 1);
        log_event(RH_LOG_WARNING, "cluster_event_not_sent", "{s:s, s:s}", "type", type, "error",
                  strerror(-rc));
        return;
    }
    enqueue(cl, parts, n);
    free(parts);
}

static void streams_changed(void *ctx)
{
    wake(ctx);
}

void cluster_config_bumped(struct cluster *cl, const json_t *bumped)
{
    if (cl == NULL)
        return;
    size_t i;
    json_t *id;
    json_array_foreach(bumped, i, id)
    {
        char payload[128];
        if (cluster_proto_config(next_seq(cl), json_string_value(id), payload, sizeof payload) == 0)
            enqueue_one(cl, strdup(payload));
    }
}

bool cluster_peers_ok(const struct cluster *cl)
{
    return cl == NULL || atomic_load(&cl->connected) ||
           timeutil_mono_ms() - atomic_load(&cl->down_since_ms) < CLUSTER_DOWN_GRACE_MS;
}

bool cluster_duty(const struct cluster *cl)
{
    return cl == NULL || atomic_load(&cl->duty);
}

const char *cluster_instance(const struct cluster *cl)
{
    return cl != NULL ? cl->instance : "";
}

json_t *cluster_health(const struct cluster *cl)
{
    if (cl == NULL)
        return NULL;
    return json_pack("{s:s, s:b, s:b, s:i}", "instance", cl->instance, "connected",
                     atomic_load(&cl->connected), "duty", atomic_load(&cl->duty), "peers_streaming",
                     (int)atomic_load(&cl->peers_streaming));
}

void cluster_metrics(const struct cluster *cl, struct prom *p)
{
    if (cl == NULL)
        return;
    prom_gauge(p, "roundhouse_cluster_connected",
               "1 while the session to the other instances is up.",
               atomic_load(&cl->connected) ? 1 : 0);
    prom_gauge(p, "roundhouse_cluster_duty", "1 while this instance runs the cluster-wide duties.",
               atomic_load(&cl->duty) ? 1 : 0);
    prom_counter(p, "roundhouse_cluster_duty_acquired_total",
                 "Times this instance took the duties.", atomic_load(&cl->duty_acquired));
    prom_counter(p, "roundhouse_cluster_messages_sent_total",
                 "Notifications sent to the other instances.", atomic_load(&cl->sent));
    prom_counter(p, "roundhouse_cluster_messages_received_total",
                 "Notifications received from the other instances.", atomic_load(&cl->received));
    prom_counter(p, "roundhouse_cluster_messages_dropped_total",
                 "Notifications not sent (queue full, session lost).", atomic_load(&cl->dropped));
    prom_gauge(p, "roundhouse_cluster_peers_streaming", "Other instances with event streams open.",
               atomic_load(&cl->peers_streaming));
}

/* ---- the thread ---- */

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* libpq's message on one line. */
static void one_line(const char *msg, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", msg != NULL && *msg ? msg : "unknown error");
    for (char *p = out; *p != '\0'; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

static bool exec_ok(struct cluster *cl, const char *sql)
{
    PGresult *r = PQexec(cl->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    PQclear(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static void update_interest(struct cluster *cl, int64_t now)
{
    unsigned n = 0;
    for (int i = 0; i < MAX_PEERS; i++)
        n += cl->peers[i].pid != 0 && cl->peers[i].streams > 0 &&
             cl->peers[i].streams_until_ms > now;
    atomic_store(&cl->peers_streaming, n);
    events_set_wanted_elsewhere(cl->c->events, n > 0);
}

static void session_close(struct cluster *cl, const char *why)
{
    if (cl->conn == NULL)
        return;
    if (atomic_exchange(&cl->duty, false))
        log_event(why != NULL ? RH_LOG_WARNING : RH_LOG_INFO, "cluster_duty_released", "{s:s, s:s}",
                  "instance", cl->instance, "reason", why != NULL ? why : "stopping");
    if (why != NULL)
        log_event(RH_LOG_WARNING, "cluster_disconnected", "{s:s, s:s}", "instance", cl->instance,
                  "error", why);
    PQfinish(cl->conn);
    cl->conn = NULL;
    atomic_store(&cl->down_since_ms, timeutil_mono_ms());
    atomic_store(&cl->connected, false);
    for (int i = 0; i < MAX_PEERS; i++) {
        cluster_assembly_clear(&cl->peers[i].assembly);
        memset(&cl->peers[i], 0, sizeof cl->peers[i]);
    }
    update_interest(cl, timeutil_mono_ms());
}

/* The session's failure, closed. */
static void session_lost(struct cluster *cl)
{
    char why[512];
    one_line(PQerrorMessage(cl->conn), why, sizeof why);
    session_close(cl, why);
}

static int session_open(struct cluster *cl, char *err, size_t errlen)
{
    char app[128];
    snprintf(app, sizeof app, "roundhouse-central cluster %s", cl->instance);
    /* Before dbname, so that what the URL says wins (libpq: later keywords override). The
     * client's keepalives notice a dead link within about 10 s; tcp_user_timeout bounds a
     * send into one. */
    const char *const keys[] = {"connect_timeout",
                                "application_name",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                "dbname",
                                NULL};
    const char *const values[] = {"5", app, "1", "5", "2", "2", "10000", cl->c->opts.db, NULL};
    cl->conn = PQconnectdbParams(keys, values, 1);
    if (cl->conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (PQstatus(cl->conn) != CONNECTION_OK) {
        one_line(PQerrorMessage(cl->conn), err, errlen);
        PQfinish(cl->conn);
        cl->conn = NULL;
        return -EIO;
    }
    PQsetNoticeProcessor(cl->conn, ignore_notice, NULL);
    /* The server's side of the keepalives: longer than ours (5 + 2 x 2 s), so that an
     * instance cut off stops its duty before the server hands the lock to another. */
    if (!exec_ok(cl, "SET synchronous_commit = off") ||
        !exec_ok(cl, "SET tcp_keepalives_idle = 5") ||
        !exec_ok(cl, "SET tcp_keepalives_interval = 2") ||
        !exec_ok(cl, "SET tcp_keepalives_count = 4") || !exec_ok(cl, "LISTEN " CLUSTER_CHANNEL)) {
        one_line(PQerrorMessage(cl->conn), err, errlen);
        PQfinish(cl->conn);
        cl->conn = NULL;
        return -EIO;
    }
    atomic_store(&cl->connected, true);
    log_event(RH_LOG_INFO, "cluster_connected", "{s:s, s:i}", "instance", cl->instance,
              "backend_pid", PQbackendPID(cl->conn));
    if (cl->ever_connected) {
        /* Raised versions may have been missed while the session was down: every parked
         * long poll answers now (304 when nothing changed) and its edge asks again. */
        longpoll_expire(cl->c->longpoll, INT64_MAX);
        log_event(RH_LOG_INFO, "cluster_resync", "{s:s}", "instance", cl->instance);
    }
    cl->ever_connected = true;
    cl->told_standby = false;
    cl->next_duty_ms = 0;
    cl->announced = ULONG_MAX;
    return 0;
}

/* The instance that holds the duty, for the standby's log line: its session's name. */
static void duty_holder(struct cluster *cl, char *out, size_t outlen)
{
    snprintf(out, outlen, "unknown");
    char sql[320];
    snprintf(sql, sizeof sql,
             "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
             " WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM"
             " pg_database WHERE datname = current_database()) AND l.objid = %d LIMIT 1",
             CLUSTER_DUTY_LOCK);
    PGresult *r = PQexec(cl->conn, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void duty_tick(struct cluster *cl, int64_t now)
{
    if (atomic_load(&cl->duty) || now < cl->next_duty_ms)
        return;
    cl->next_duty_ms = now + DUTY_TRY_MS;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%d)", CLUSTER_DUTY_LOCK);
    PGresult *r = PQexec(cl->conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        PQclear(r);
        if (PQstatus(cl->conn) != CONNECTION_OK)
            session_lost(cl);
        return;
    }
    bool got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (got) {
        atomic_store(&cl->duty, true);
        atomic_fetch_add(&cl->duty_acquired, 1);
        log_event(RH_LOG_INFO, "cluster_duty_acquired", "{s:s, s:s}", "instance", cl->instance,
                  "duties", "presence_sweeper");
    } else if (!cl->told_standby) {
        char holder[128];
        duty_holder(cl, holder, sizeof holder);
        log_event(RH_LOG_INFO, "cluster_duty_standby", "{s:s, s:s}", "instance", cl->instance,
                  "holder", holder);
        cl->told_standby = true;
    }
}

static void streams_tick(struct cluster *cl, int64_t now)
{
    unsigned long n = events_streams(cl->c->events);
    if (n == cl->announced && (n == 0 || now - cl->announced_ms < STREAMS_EVERY_MS))
        return;
    char payload[64];
    if (cluster_proto_streams(next_seq(cl), n, payload, sizeof payload) == 0)
        enqueue_one(cl, strdup(payload));
    cl->announced = n;
    cl->announced_ms = now;
}

/* Sends what is queued, BATCH_MAX at a time. */
static void flush(struct cluster *cl)
{
    char sql[BATCH_MAX * (sizeof NOTIFY_CALL + 24) + 16];
    char *batch[BATCH_MAX];
    while (cl->conn != NULL) {
        size_t n = 0;
        pthread_mutex_lock(&cl->lock);
        while (n < BATCH_MAX && cl->qlen > 0) {
            batch[n++] = cl->queue[cl->qhead];
            cl->qhead = (cl->qhead + 1) % MAX_OUTGOING;
            cl->qlen--;
        }
        pthread_mutex_unlock(&cl->lock);
        if (n == 0)
            return;
        size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT ");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, "%s" NOTIFY_CALL,
                                    i > 0 ? ", " : "", i + 1);
        PGresult *r =
            PQexecParams(cl->conn, sql, (int)n, NULL, (const char *const *)batch, NULL, NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok) {
            char why[512];
            one_line(PQresultErrorMessage(r), why, sizeof why);
            log_event(RH_LOG_WARNING, "cluster_notify_failed", "{s:s, s:i}", "error", why, "count",
                      (int)n);
        }
        PQclear(r);
        atomic_fetch_add(ok ? &cl->sent : &cl->dropped, n);
        for (size_t i = 0; i < n; i++)
            free(batch[i]);
        if (!ok && PQstatus(cl->conn) != CONNECTION_OK)
            session_lost(cl);
        if (!ok)
            return;
    }
}

static struct peer *peer_for(struct cluster *cl, int pid, int64_t now)
{
    struct peer *free_slot = NULL, *oldest = &cl->peers[0];
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &cl->peers[i];
        if (p->pid == pid)
            return p;
        if (p->pid == 0 && free_slot == NULL)
            free_slot = p;
        if (p->seen_ms < oldest->seen_ms)
            oldest = p;
    }
    struct peer *p = free_slot != NULL ? free_slot : oldest;
    cluster_assembly_clear(&p->assembly);
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->seen_ms = now;
    return p;
}

/* An event of another instance: to the streams here, and what this instance must do itself
 * about it. The payload comes from anyone who may connect to the database: checked as JSON. */
static void deliver(struct cluster *cl, const char *type, const char *json)
{
    struct central *c = cl->c;
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        log_event(RH_LOG_WARNING, "cluster_event_invalid", "{s:s}", "type", type);
        json_decref(doc);
        return;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text != NULL)
        events_publish_text(c->events, type, text);
    free(text);
    if (strcmp(type, "layout") == 0) {
        if (layout_reload(c) < 0)
            log_event(RH_LOG_ERROR, "layout_state_unreadable", "{s:s}", "error",
                      store_last_error(c->store));
    } else if (strcmp(type, "status") == 0) {
        /* The instance that stored the status told its throttles; these are this one's. */
        const char *train = json_string_value(json_object_get(doc, "train_id"));
        json_t *target = json_object_get(doc, "target_speed");
        json_t *speed = json_is_integer(target) ? target : json_object_get(doc, "speed");
        if (train != NULL && json_is_integer(speed))
            withrottle_train_status(atomic_load(&c->withrottle), train,
                                    (int)json_integer_value(speed),
                                    json_string_value(json_object_get(doc, "direction")));
    }
    json_decref(doc);
}

static void handle(struct cluster *cl, int pid, const char *payload, int64_t now)
{
    struct cluster_msg m;
    if (cluster_proto_parse(payload, &m) < 0) {
        log_event(RH_LOG_DEBUG, "cluster_message_invalid", "{s:i}", "from_pid", pid);
        return;
    }
    atomic_fetch_add(&cl->received, 1);
    struct peer *p = NULL;
    char *json = NULL;
    char type[CLUSTER_PROTO_TYPE_MAX + 1];
    switch (m.kind) {
    case CLUSTER_MSG_CONFIG:
        longpoll_wake(cl->c->longpoll, m.uuid);
        break;
    case CLUSTER_MSG_STREAMS:
        p = peer_for(cl, pid, now);
        p->seen_ms = now;
        p->streams = m.count;
        p->streams_until_ms = now + PEER_TTL_MS;
        update_interest(cl, now);
        break;
    case CLUSTER_MSG_EVENT:
        p = peer_for(cl, pid, now);
        p->seen_ms = now;
        if (cluster_assembly_add(&p->assembly, &m, &json, type) == 1) {
            deliver(cl, type, json);
            free(json);
        }
        break;
    }
}

static void receive(struct cluster *cl, int64_t now)
{
    PGnotify *n;
    int self = PQbackendPID(cl->conn);
    while ((n = PQnotifies(cl->conn)) != NULL) {
        if (n->be_pid != self && strcmp(n->relname, CLUSTER_CHANNEL) == 0)
            handle(cl, n->be_pid, n->extra, now);
        PQfreemem(n);
    }
}

/* Waits up to ms for the database or a wake-up; then reads what arrived. */
static void wait_and_read(struct cluster *cl, int ms)
{
    struct pollfd fds[2] = {{.fd = cl->wake_fd, .events = POLLIN}, {.fd = -1}};
    if (cl->conn != NULL)
        fds[1] = (struct pollfd){.fd = PQsocket(cl->conn), .events = POLLIN};
    int rc = poll(fds, cl->conn != NULL ? 2 : 1, ms);
    if (rc > 0 && (fds[0].revents & POLLIN)) {
        uint64_t v;
        ssize_t got = read(cl->wake_fd, &v, sizeof v);
        (void)got;
    }
    if (cl->conn == NULL)
        return;
    if (rc > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !PQconsumeInput(cl->conn)) {
        session_lost(cl);
        return;
    }
    receive(cl, timeutil_mono_ms());
}

static void *run(void *arg)
{
    struct cluster *cl = arg;
    unsigned attempt = 0;
    uint64_t rnd = (uint64_t)timeutil_now_ms() | 1;
    int64_t retry_ms = 0;
    while (!atomic_load(&cl->stop)) {
        int64_t now = timeutil_mono_ms();
        if (cl->conn == NULL) {
            if (now < retry_ms) {
                wait_and_read(cl, (int)(retry_ms - now < TICK_MS ? retry_ms - now : TICK_MS));
                continue;
            }
            char err[512];
            if (session_open(cl, err, sizeof err) < 0) {
                if (attempt == 0 || attempt % 10 == 0)
                    log_event(RH_LOG_WARNING, "cluster_connect_failed", "{s:s, s:s, s:i}",
                              "instance", cl->instance, "error", err, "attempt", (int)attempt + 1);
                retry_ms = now + 250 + backoff_delay_ms(attempt++, 500, 5000, backoff_rand(&rnd));
                continue;
            }
            attempt = 0;
        }
        duty_tick(cl, now);
        if (cl->conn != NULL)
            streams_tick(cl, now);
        flush(cl);
        if (cl->conn != NULL)
            receive(cl, now);
        wait_and_read(cl, TICK_MS);
        update_interest(cl, timeutil_mono_ms());
    }
    session_close(cl, NULL);
    return NULL;
}

static void instance_name(char *out, size_t outlen)
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
        snprintf(host, sizeof host, "localhost");
    snprintf(out, outlen, "%s:%ld", host, (long)getpid());
}

int cluster_start(struct central *c, struct cluster **out)
{
    *out = NULL;
    if (strcmp(store_backend_name(c->store), "postgresql") != 0)
        return 0;
    struct cluster *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return -ENOMEM;
    cl->c = c;
    cl->queue = calloc(MAX_OUTGOING, sizeof *cl->queue);
    cl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cl->queue == NULL || cl->wake_fd < 0) {
        int rc = cl->queue == NULL ? -ENOMEM : -errno;
        if (cl->wake_fd >= 0)
            close(cl->wake_fd);
        free(cl->queue);
        free(cl);
        return rc;
    }
    pthread_mutex_init(&cl->lock, NULL);
    instance_name(cl->instance, sizeof cl->instance);
    cl->announced = ULONG_MAX;
    atomic_store(&cl->down_since_ms, timeutil_mono_ms());
    if (pthread_create(&cl->thread, NULL, run, cl) != 0) {
        pthread_mutex_destroy(&cl->lock);
        close(cl->wake_fd);
        free(cl->queue);
        free(cl);
        return -EAGAIN;
    }
    struct events_peer peer = {
        .forward = forward_event, .streams_changed = streams_changed, .ctx = cl};
    events_set_peer(c->events, &peer);
    log_event(RH_LOG_INFO, "cluster_started", "{s:s, s:s, s:i}", "instance", cl->instance,
              "channel", CLUSTER_CHANNEL, "duty_lock", CLUSTER_DUTY_LOCK);
    *out = cl;
    return 0;
}

void cluster_stop(struct cluster *cl)
{
    if (cl == NULL)
        return;
    events_set_peer(cl->c->events, NULL);
    atomic_store(&cl->stop, true);
    wake(cl);
    pthread_join(cl->thread, NULL);
    events_set_wanted_elsewhere(cl->c->events, false);
    for (size_t i = 0; i < cl->qlen; i++)
        free(cl->queue[(cl->qhead + i) % MAX_OUTGOING]);
    free(cl->queue);
    pthread_mutex_destroy(&cl->lock);
    close(cl->wake_fd);
    free(cl);
}
