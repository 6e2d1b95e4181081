/* Several centrals on one PostgreSQL database behave as one central (docs/architecture.md,
 * "Several centrals on one database"). Each instance keeps one PostgreSQL session of its own,
 * beside the store's, on a thread of its own:
 *  - it LISTENs on one channel and NOTIFYs the other instances (cluster_proto.h): every event
 *    published on this instance's stream reaches theirs, a raised config version wakes the
 *    long polls parked on them, a stop or resume of the layout makes them read the stopped
 *    state again, and a train status reaches their throttles;
 *  - it tries pg_try_advisory_lock until it holds the cluster's duty lock: the holder runs
 *    the cluster-wide duties, the presence pass of the sweeper (sweeper.h) and the storing of
 *    train status and presence from the broker (notify.h; every instance hears the broker,
 *    one stores, in order, and tells the others). The lock belongs to the session, so it
 *    passes to another instance when the holder dies (its connection closes) or loses its
 *    link to the database.
 * On SQLite there is one instance and no cluster: cluster_start gives NULL, and every function
 * here takes NULL (cluster_duty(NULL) is true: the only instance has every duty).
 * Thread-safe. */
#ifndef ROUNDHOUSE_CLUSTER_H
#define ROUNDHOUSE_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct central;
struct cluster;

/* The channel and the advisory lock key (also in docs/operations.md, for operators who look). */
#define CLUSTER_CHANNEL "roundhouse_cluster"
#define CLUSTER_DUTY_LOCK 720180002

/* SQLite: *out = NULL, 0. PostgreSQL: starts the thread, which connects (and reconnects) in
 * the background; never fails because the database is unreachable. Call after c->events and
 * c->longpoll exist. 0 or negative errno. */
int cluster_start(struct central *c, struct cluster **out);
/* Ends the thread and closes the session (releasing the duty lock at once). Call when
 * nothing publishes events any more. NULL: nothing. */
void cluster_stop(struct cluster *cl);

/* Whether this instance runs the cluster-wide duties now. */
bool cluster_duty(const struct cluster *cl);
/* After a commit that raised these controllers' config versions (a JSON array of ids): the
 * other instances wake the long polls parked on them. */
void cluster_config_bumped(struct cluster *cl, const json_t *bumped);
/* This instance's name in logs and in the database's session list ("host:pid"). */
const char *cluster_instance(const struct cluster *cl);

/* Whether /health may call the instance healthy: the cluster session is up, or has been
 * down for less than CLUSTER_DOWN_GRACE_MS (a database restart cuts it, and it comes back by
 * itself). True for NULL. */
#define CLUSTER_DOWN_GRACE_MS 10000
bool cluster_peers_ok(const struct cluster *cl);
/* /health's "cluster" object {instance, connected, duty, peers_streaming}; NULL without a
 * cluster. */
json_t *cluster_health(const struct cluster *cl);
struct prom;
/* Appends the roundhouse_cluster_* series to a /metrics text (prom.h); nothing for NULL. */
void cluster_metrics(const struct cluster *cl, struct prom *p);

#endif
