/* The fleet simulator: N simulated controllers in one process, driven by one epoll loop
 * (libcurl multi for HTTP, one libmosquitto connection per controller), and the scenarios
 * that measure the central with them.
 *
 * Each simulated controller follows roundhouse-edge's protocol: register with its UUID ->
 * register its trains -> download the runtime config (conditional GET) -> heartbeat with the
 * applied version and its trains; MQTT presence birth and will, command subscriptions with a
 * status answer to each command, and config/update handling (download, apply, heartbeat at
 * once). */
#ifndef ROUNDHOUSE_FLEET_FLEET_H
#define ROUNDHOUSE_FLEET_FLEET_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "fleet_options.h"
#include "stats.h"

/* The registration answer's "status" values counted (fleet_reg_status_name). */
#define FLEET_REG_STATUSES 4

enum fleet_req {
    FREQ_REGISTER = 0,
    FREQ_TRAIN,
    FREQ_CONFIG,
    FREQ_HEARTBEAT,
    FREQ_PUT,
    FREQ_LIST,
    FREQ_COUNT
};

struct fleet_req_stats {
    struct stats latency;
    uint64_t ok, errors, status_429, not_modified, transport_errors;
    int64_t first_start_us, last_end_us; /* -1 until the first request */
};

struct fleet_result {
    bool interrupted;
    long nofile_limit;
    /* boot */
    bool boot_complete;
    double boot_s;       /* first request -> last controller ready (or the timeout) */
    double registered_s; /* first request -> last controller registered */
    long registered, configured, ready, mqtt_up;
    long reg_status[FLEET_REG_STATUSES]; /* restored, reactivated, registered, existing */
    bool duplicates_checked;
    long duplicates, missing;
    struct fleet_req_stats req[FREQ_COUNT];
    /* steady */
    double measure_s;
    struct stats steady_hb;
    uint64_t steady_hb_errors;
    /* reassign */
    struct stats move_latency;
    long moves_started, moves_done, moves_timeout, moves_failed;
    /* MQTT */
    uint64_t mqtt_disconnects, mqtt_connect_failures, commands, statuses, config_updates;
    /* central */
    long central_pid;
    bool central_sampled;
    double central_cpu_pct; /* of one core, over the measured phase */
    long central_rss_kib, central_hwm_kib;
};

void fleet_result_init(struct fleet_result *r);
void fleet_result_free(struct fleet_result *r);
/* Runs the scenario of o; stop (set from a signal handler) ends it early. 0 when the run
 * completed (see r->boot_complete and r->duplicates for the verdict), or a negative errno
 * when it could not start (r->nofile_limit tells about -EMFILE). */
int fleet_run(const struct fleet_options *o, volatile sig_atomic_t *stop, struct fleet_result *r);
const char *fleet_req_name(enum fleet_req q);
const char *fleet_reg_status_name(int i);
/* Open files the run of o needs (checked against RLIMIT_NOFILE before it starts). */
long fleet_fds_needed(const struct fleet_options *o);
/* Controllers this process simulates: those with index % shards == shard. */
long fleet_shard_size(const struct fleet_options *o);

#endif
