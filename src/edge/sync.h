/* Registration / heartbeat / config-download state machine of the edge: a pure function of
 * (state, event, now) that says which request to start next and when to be called again.
 * No sockets or clocks inside; the shell (edge_central.c) performs the requests with
 * api_client and feeds their outcome back as events (answer.c reads the answers). At most one of
 * register, train registration, config download and heartbeat is in flight at a time, so their
 * order is easy to follow; a config long poll (only while the broker is unreachable) runs beside
 * them.
 *
 * Config versions: a version above the applied one, learnt from an MQTT notification, a
 * heartbeat answer or a long poll, is downloaded and applied. A version whose apply failed
 * (rolled back) or that was refused is not downloaded again until a newer one is announced.
 * After every apply or rollback the next heartbeat is due at once: the central learns what
 * the controller now runs (safe handover waits for that report).
 *
 * Motor control never waits for this machine: it only decides about HTTP traffic. */
#ifndef ROUNDHOUSE_EDGE_SYNC_H
#define ROUNDHOUSE_EDGE_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#define SYNC_BACKOFF_BASE_MS 1000
#define SYNC_BACKOFF_CAP_MS 60000
#define SYNC_DEFAULT_HEARTBEAT_S 10
/* Long poll: how long the central may hold it (it allows 0-55 s), how long the broker must
 * have been unreachable first (a broker blip is not worth a fallback), and the shortest
 * plausible answer time of a held request (a 304 sooner than this, or a 200 that brings
 * nothing new, means the central does not hold it: back off instead of spinning). */
#define SYNC_LONGPOLL_WAIT_S 50
#define SYNC_LONGPOLL_GRACE_MS 3000
#define SYNC_LONGPOLL_MIN_HOLD_MS 1000

enum sync_action {
    SYNC_ACT_NONE = 0,
    SYNC_ACT_REGISTER,       /* POST /api/controllers/register */
    SYNC_ACT_REGISTER_TRAIN, /* POST /api/controllers/{uuid}/trains (TRAIN_ID env) */
    SYNC_ACT_FETCH_CONFIG,   /* GET /api/controllers/{uuid}/config, If-None-Match */
    SYNC_ACT_HEARTBEAT,      /* POST /api/controllers/{uuid}/heartbeat */
    SYNC_ACT_LONGPOLL,       /* GET /api/controllers/{uuid}/config?wait=&version= */
};

enum sync_event_kind {
    SYNC_EV_TICK = 0,           /* time passed */
    SYNC_EV_REGISTERED,         /* 200: version = desired config version */
    SYNC_EV_REGISTER_FAILED,    /* network error or non-200 */
    SYNC_EV_TRAIN_DONE,         /* 200/201/409 or another final answer */
    SYNC_EV_TRAIN_FAILED,       /* network error, 5xx, 429: worth retrying */
    SYNC_EV_CONFIG_APPLIED,     /* 200 + valid + applied and checked: version = applied */
    SYNC_EV_CONFIG_UNCHANGED,   /* 304, or a version already refused */
    SYNC_EV_CONFIG_FAILED,      /* network error, 5xx, unreadable document: retried */
    SYNC_EV_CONFIG_REJECTED,    /* refused or rolled back: version = that version, not retried */
    SYNC_EV_CONFIG_GONE,        /* 404: the central does not know us */
    SYNC_EV_HEARTBEAT_OK,       /* 200: version = desired config version */
    SYNC_EV_HEARTBEAT_FAILED,   /* network error or other status */
    SYNC_EV_HEARTBEAT_GONE,     /* 404: database reset or controller deleted */
    SYNC_EV_NOTIFY,             /* MQTT config/update: version = announced version */
    SYNC_EV_BROKER_UP,          /* MQTT connection accepted */
    SYNC_EV_BROKER_DOWN,        /* MQTT connection lost or not made */
    SYNC_EV_LONGPOLL_CHANGED,   /* long poll 200: version = the central's version */
    SYNC_EV_LONGPOLL_UNCHANGED, /* long poll 304: the wait ended with nothing newer */
    SYNC_EV_LONGPOLL_FAILED,    /* network error or other status */
    SYNC_EV_CENTRAL_CHANGED,    /* requests now go to another central (DNS-SD, --central
                                 * list): register there at once, without the backoff */
};

struct sync_event {
    enum sync_event_kind kind;
    int64_t version;          /* see above; -1 when absent */
    int heartbeat_interval_s; /* from the answer; 0 when absent */
    int64_t retry_after_ms;   /* 429 Retry-After; -1 when absent */
};

enum sync_phase { SYNC_UNREGISTERED = 0, SYNC_REGISTERED };

struct sync {
    enum sync_phase phase;
    enum sync_action inflight;
    bool self_register; /* TRAIN_ID configured */
    bool train_pending;
    bool config_wanted;
    unsigned reg_attempt, train_attempt, cfg_attempt;
    int64_t next_register_ms, next_train_ms, next_config_ms, next_heartbeat_ms;
    int heartbeat_interval_s;
    int64_t heartbeat_override_ms; /* HEARTBEAT_INTERVAL env, in ms; 0 = server's */
    int64_t applied_version;       /* -1: no config applied */
    int64_t desired_version;       /* -1: unknown */
    int64_t failed_version;        /* last version refused or rolled back; -1: none */
    unsigned registrations;        /* successful registrations so far */
    /* Long poll. */
    bool broker_up;
    int64_t broker_down_ms; /* since when the broker is unreachable */
    bool lp_inflight;
    unsigned lp_attempt;
    int64_t lp_next_ms;    /* not before */
    int64_t lp_asked;      /* version sent with the one in flight */
    int64_t lp_started_ms; /* when it started */
    uint64_t rng;
};

struct sync_output {
    enum sync_action action;  /* to start now (the machine now counts it as in flight) */
    int64_t wake_ms;          /* call again with SYNC_EV_TICK at this time; -1: only on events */
    int64_t retry_in_ms;      /* after a failure: the delay chosen, else -1 (for logs) */
    int64_t longpoll_version; /* >= 0: start a long poll for versions above this one */
};

/* Starts unregistered with a registration due at now_ms and the broker down since now_ms.
 * seed must be non-zero. */
void sync_init(struct sync *s, int64_t now_ms, bool self_register, int heartbeat_override_s,
               int64_t applied_version, uint64_t seed);
void sync_step(struct sync *s, const struct sync_event *ev, int64_t now_ms,
               struct sync_output *out);
const char *sync_action_name(enum sync_action a);

/* The heartbeat period now: the override, else the server's interval. */
int64_t sync_heartbeat_period_ms(const struct sync *s);
/* Overrides the heartbeat period with one finer than sync_init's whole seconds (the fleet
 * simulator's --heartbeat-interval 0.5); period_ms 0 returns to the server's interval. Takes
 * effect from the next heartbeat scheduled. */
void sync_heartbeat_override_set(struct sync *s, int64_t period_ms);

/* Pure: whether an announced version is worth a download. */
bool sync_version_wanted(const struct sync *s, int64_t version);

#endif
