/* What the parts of the fleet simulator (fleet*.c) share: the simulated controller, the
 * train moves of the reassign scenario, the run's state, and the calls between the parts.
 *
 *   fleet.c         the scenario driver: phases, the epoll loop, setup, requests routed
 *   fleet_ctl.c     a controller's life with the central, decided by the edge's sync.c
 *   fleet_mqtt.c    a controller's MQTT side: presence, subscriptions, commands, statuses
 *   fleet_moves.c   the operator's requests: train moves and the duplicate count
 *
 * Not thread-safe: everything runs on the one loop. */
#ifndef ROUNDHOUSE_FLEET_INTERNAL_H
#define ROUNDHOUSE_FLEET_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "canon.h"
#include "fleet.h"
#include "httpq.h"
#include "procstat.h"
#include "secret.h"
#include "simid.h"
#include "sync.h"
#include "uuidstr.h"

#define CTL_EVSRC 0x43544c52 /* first int of a struct ctl (epoll data), see httpq.h */
#define FLEET_MAX_TRAINS FLEET_MAX_TRAINS_PER_CONTROLLER
#define FLEET_MAX_MOVES 64

enum mstate { M_OFF = 0, M_WAIT, M_CONNECTING, M_UP };
enum phase { PH_BOOT = 0, PH_MEASURE, PH_DRAIN, PH_SHUTDOWN, PH_DONE };

struct tsim {
    int speed;
    bool reverse, estopped;
    char id[SIMID_TRAIN_MAX + 1];
};

struct ctl {
    int evsrc; /* CTL_EVSRC: first, see httpq.h */
    long idx;  /* global index: identities derive from it */
    long pos;  /* position in this process's array (idx with --shard 0/1) */
    struct fleet *f;
    char uuid[UUIDSTR_LEN + 1];
    char name[SIMID_NAME_MAX];
    char secret_header[SECRET_HEX_LEN + 32]; /* "X-Controller-Secret: ..." */
    /* Central side: the edge's machine decides, one request at a time. */
    struct sync sync;
    enum sync_action pending; /* asked for by the machine, waiting for an HTTP connection */
    int64_t wake_ms;          /* the machine wants a tick then; -1: only on events */
    bool queued, busy, configured_once, hb_ok_since_apply, ready;
    bool counted_registered, counted_configured;
    int trains_registered; /* self-registrations answered since the last registration */
    int64_t epoch;
    int64_t rejected_version; /* last config refused for its content; -1: none */
    char etag[128], checksum[CANON_CHECKSUM_LEN + 1], rejected_checksum[CANON_CHECKSUM_LEN + 1];
    struct tsim *trains; /* FLEET_MAX_TRAINS of them; owned */
    int ntrains;
    /* MQTT side */
    struct mosquitto *mosq;
    int fd;
    uint32_t ep_events;
    enum mstate ms;
    int64_t m_retry_ms, m_started_ms, misc_due_ms;
    unsigned m_attempt;
    int subacks;
    int offline_mid;
    bool offline_sent, offline_acked;
    int moving; /* active moves involving this controller */
};

struct move {
    bool active, put_ok, done;
    char train[SIMID_TRAIN_MAX + 1];
    long from, to;
    int64_t start_ms, put_us, done_us;
};

struct fleet {
    const struct fleet_options *o;
    struct fleet_result *res;
    volatile sig_atomic_t *stop;
    int epfd;
    struct httpq *http;
    struct ctl *ctls;
    long n;       /* controllers simulated here */
    long n_total; /* controllers of the whole fleet (all shards) */
    long *queue;  /* ring of controller indices waiting for an HTTP slot */
    long qhead, qlen;
    char (*sorted_uuids)[UUIDSTR_LEN + 1];
    enum phase phase;
    int64_t now_ms, start_ms, boot_done_ms, measure_start_ms, measure_end_ms, phase_deadline_ms;
    int64_t measure_start_us;
    long n_ready, n_registered, n_configured, n_connecting, n_up, n_offline_acked;
    struct move moves[FLEET_MAX_MOVES];
    bool list_wanted, list_running, list_done;
    uint64_t rng;
    char prefix[SIMID_NAME_MAX];
    pid_t central_pid;
    struct procstat_sample cs0;
    int64_t cs0_ms;
    bool cs0_ok;
    int64_t last_progress_ms;
};

/* fleet.c */
uint64_t fleet_rand(struct fleet *f);
/* j serialised compactly (malloc'd, NULL on failure); takes j's reference. */
char *fleet_json_text(json_t *j);

/* fleet_ctl.c: the central side. */
void fleet_ctl_boot(struct fleet *f, struct ctl *c);
/* The machine's tick, when it asked for one. */
void fleet_ctl_tick(struct fleet *f, struct ctl *c);
/* Starts the action waiting for a connection (called as it leaves the queue). */
void fleet_ctl_start_pending(struct fleet *f, struct ctl *c);
void fleet_ctl_answered(struct fleet *f, struct ctl *c, int tag, const struct httpq_result *r);
/* config/update announced version (MQTT). */
void fleet_ctl_notified(struct fleet *f, struct ctl *c, int64_t version);
void fleet_ctl_check_ready(struct fleet *f, struct ctl *c);
bool fleet_ctl_registered(const struct ctl *c);
struct tsim *fleet_ctl_train(struct ctl *c, const char *id);
/* Moves the next heartbeat to a random point of one period. */
void fleet_ctl_heartbeat_spread(struct fleet *f, struct ctl *c);

/* fleet_mqtt.c */
void fleet_mqtt_tick(struct fleet *f, struct ctl *c);
/* An epoll event on the controller's MQTT socket. */
void fleet_mqtt_event(struct ctl *c, uint32_t events);
/* Writes what is queued and updates the epoll interest. */
void fleet_mqtt_flush(struct ctl *c);
/* Publishes the retained presence state ("online", "offline") of this session, QoS 1; *mid
 * (may be NULL) receives its message id. A MOSQ_ERR_* code, or MOSQ_ERR_NOMEM. */
int fleet_mqtt_presence(struct ctl *c, const char *state, int *mid);
void fleet_mqtt_status(struct ctl *c, const struct tsim *t, int qos);
void fleet_mqtt_subscribe(struct ctl *c, const char *train_id, bool on);
/* The offline presence at shutdown, as the edge's at SIGTERM. */
void fleet_mqtt_goodbye(struct fleet *f, struct ctl *c);
/* Disconnects and frees the client; a no-op without one. */
void fleet_mqtt_close(struct ctl *c);

/* fleet_moves.c */
void fleet_moves_tick(struct fleet *f);
bool fleet_moves_active(const struct fleet *f);
/* A heartbeat of c answered: the moves to c of trains it now lists are done. */
void fleet_moves_reported(struct fleet *f, struct ctl *c);
void fleet_moves_put_done(struct fleet *f, struct move *mv, const struct httpq_result *r);
/* Starts the controller list once it is wanted and a connection is free. */
void fleet_list_start(struct fleet *f);
void fleet_list_done(struct fleet *f, const struct httpq_result *r);
int fleet_uuid_cmp(const void *a, const void *b);

#endif
