/* The fleet simulator's scenario driver: the run's phases (boot, the measured steady or
 * reassign phase, the drain that counts duplicates, shutdown), the one epoll loop that
 * carries libcurl's sockets and every controller's MQTT socket, the queue of controllers
 * waiting for an HTTP connection, the statistics of every answer, and the central's CPU and
 * memory sampled around the measured phase. The controllers themselves are fleet_ctl.c
 * (their central side, through the edge's sync.c) and fleet_mqtt.c; the operator's requests
 * fleet_moves.c.
 *
 * Of sync.c, one part is not used: the long poll. Held for up to 50 s on the fleet's few
 * shared HTTP connections, thousands of them would stall every other request of the run;
 * the machines are told the broker is up, so they never ask (fleet_ctl.c's opening comment
 * has this and the other differences from the edge). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backoff.h"
#include "fleet_internal.h"
#include "httpq.h"
#include "log.h"
#include "parse.h"
#include "procstat.h"
#include "protocol.h"
#include "sha256.h"
#include "timeutil.h"

#define FLEET_TICK_MS 20
#define FLEET_LIST_TIMEOUT_MS 120000
#define FLEET_SHUTDOWN_MS 2000
#define FLEET_DRAIN_MS 30000
#define FLEET_SAMPLES_MAX 2000000
#define FLEET_EPOLL_BATCH 512

static const char *const req_names[FREQ_COUNT] = {"register",  "train", "config",
                                                  "heartbeat", "put",   "list"};
static const char *const reg_status_names[FLEET_REG_STATUSES] = {"restored", "reactivated",
                                                                 "registered", "existing"};

const char *fleet_req_name(enum fleet_req q)
{
    return (unsigned)q < FREQ_COUNT ? req_names[q] : "?";
}

const char *fleet_reg_status_name(int i)
{
    return i >= 0 && i < FLEET_REG_STATUSES ? reg_status_names[i] : "?";
}

void fleet_result_init(struct fleet_result *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < FREQ_COUNT; i++) {
        stats_init(&r->req[i].latency, FLEET_SAMPLES_MAX);
        r->req[i].first_start_us = -1;
        r->req[i].last_end_us = -1;
    }
    stats_init(&r->steady_hb, FLEET_SAMPLES_MAX);
    stats_init(&r->move_latency, FLEET_SAMPLES_MAX);
}

void fleet_result_free(struct fleet_result *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < FREQ_COUNT; i++)
        stats_free(&r->req[i].latency);
    stats_free(&r->steady_hb);
    stats_free(&r->move_latency);
}

/* --- small helpers ---------------------------------------------------------------------- */

uint64_t fleet_rand(struct fleet *f)
{
    return backoff_rand(&f->rng);
}

char *fleet_json_text(json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* --- requests ---------------------------------------------------------------------------- */

static void on_http_done(void *ctx, void *req_ctx, int tag, const struct httpq_result *r)
{
    struct fleet *f = ctx;
    struct fleet_req_stats *st = &f->res->req[tag];
    int64_t end = timeutil_mono_us();
    f->now_ms = timeutil_mono_ms();
    if (st->first_start_us < 0 || end - r->latency_us < st->first_start_us)
        st->first_start_us = end - r->latency_us;
    st->last_end_us = end;
    stats_add(&st->latency, r->latency_us);
    if (r->status == 0)
        st->transport_errors++;
    if (r->status == 429)
        st->status_429++;
    bool ok = (r->status >= 200 && r->status < 300) || r->status == 304 ||
              (tag == FREQ_TRAIN && r->status == 409);
    if (ok)
        st->ok++;
    else
        st->errors++;
    if (tag == FREQ_HEARTBEAT && f->phase == PH_MEASURE &&
        end - r->latency_us >= f->measure_start_us) {
        stats_add(&f->res->steady_hb, r->latency_us);
        if (!ok)
            f->res->steady_hb_errors++;
    }
    if (!ok && r->status != 429)
        log_event(RH_LOG_DEBUG, "request_failed", "{s:s, s:i, s:i}", "request", req_names[tag],
                  "status", (int)r->status, "curl", r->curl_code);

    if (tag == FREQ_PUT)
        fleet_moves_put_done(f, req_ctx, r);
    else if (tag == FREQ_LIST)
        fleet_list_done(f, r);
    else
        fleet_ctl_answered(f, req_ctx, tag, r);
}

static void dispatch(struct fleet *f)
{
    fleet_list_start(f);
    for (long budget = f->qlen; budget > 0 && f->qlen > 0 && httpq_has_room(f->http); budget--) {
        struct ctl *c = &f->ctls[f->queue[f->qhead]];
        f->qhead = (f->qhead + 1) % f->n;
        f->qlen--;
        c->queued = false;
        fleet_ctl_start_pending(f, c);
    }
}

/* --- phases -------------------------------------------------------------------------------- */

static void central_sample(struct fleet *f, bool start)
{
    struct procstat_sample s;
    if (f->central_pid <= 0 || procstat_read(f->central_pid, &s) < 0)
        return;
    if (start) {
        f->cs0 = s;
        f->cs0_ms = f->now_ms;
        f->cs0_ok = true;
        return;
    }
    f->res->central_rss_kib = s.rss_kib;
    f->res->central_hwm_kib = s.hwm_kib;
    f->res->central_sampled = true;
    long tck = sysconf(_SC_CLK_TCK);
    double wall = (double)(f->now_ms - f->cs0_ms) / 1000.0;
    if (f->cs0_ok && tck > 0 && wall > 0)
        f->res->central_cpu_pct =
            100.0 * (double)(s.cpu_ticks - f->cs0.cpu_ticks) / (double)tck / wall;
}

static void enter_measure(struct fleet *f)
{
    f->phase = PH_MEASURE;
    f->measure_start_ms = f->now_ms;
    f->measure_start_us = timeutil_mono_us();
    f->measure_end_ms = f->now_ms + (int64_t)(f->o->duration_s * 1000.0);
    central_sample(f, true);
    if (f->o->scenario == FLEET_STEADY)
        for (long i = 0; i < f->n; i++)
            fleet_ctl_heartbeat_spread(f, &f->ctls[i]);
}

static void enter_drain(struct fleet *f)
{
    /* The duplicate count is a large read: only after the measured phase. */
    f->list_wanted = true;
    f->phase = PH_DRAIN;
    f->phase_deadline_ms = f->now_ms + FLEET_DRAIN_MS;
}

static void enter_shutdown(struct fleet *f)
{
    f->phase = PH_SHUTDOWN;
    f->phase_deadline_ms = f->now_ms + FLEET_SHUTDOWN_MS;
    for (long i = 0; i < f->n; i++)
        fleet_mqtt_goodbye(f, &f->ctls[i]);
}

static long count_up(const struct fleet *f)
{
    long n = 0;
    for (long i = 0; i < f->n; i++)
        n += f->ctls[i].ms == M_UP;
    return n;
}

static void phase_tick(struct fleet *f)
{
    if (*f->stop && f->phase < PH_SHUTDOWN) {
        f->res->interrupted = true;
        if (f->phase == PH_MEASURE)
            central_sample(f, false);
        enter_shutdown(f);
        return;
    }
    switch (f->phase) {
    case PH_BOOT:
        if (f->now_ms - f->last_progress_ms >= 1000) {
            f->last_progress_ms = f->now_ms;
            log_event(RH_LOG_INFO, "boot_progress", "{s:I, s:I, s:I, s:I, s:I}", "registered",
                      (json_int_t)f->n_registered, "configured", (json_int_t)f->n_configured,
                      "mqtt_up", (json_int_t)f->n_up, "ready", (json_int_t)f->n_ready, "queued",
                      (json_int_t)f->qlen);
        }
        if (f->n_ready == f->n ||
            f->now_ms - f->start_ms > (int64_t)(f->o->boot_timeout_s * 1000)) {
            f->res->boot_complete = f->n_ready == f->n;
            f->boot_done_ms = f->now_ms;
            f->res->boot_s = (double)(f->now_ms - f->start_ms) / 1000.0;
            if (f->o->scenario == FLEET_BOOT_STORM || !f->res->boot_complete) {
                central_sample(f, false);
                enter_drain(f);
            } else {
                enter_measure(f);
            }
        }
        break;
    case PH_MEASURE:
        if (f->now_ms >= f->measure_end_ms) {
            f->res->measure_s = (double)(f->now_ms - f->measure_start_ms) / 1000.0;
            central_sample(f, false);
            enter_drain(f);
        }
        break;
    case PH_DRAIN:
        /* Wait for the duplicate count and for moves still on their way. */
        if ((!f->list_wanted && !f->list_running && !fleet_moves_active(f)) ||
            f->now_ms >= f->phase_deadline_ms + (f->list_running ? FLEET_LIST_TIMEOUT_MS : 0))
            enter_shutdown(f);
        break;
    case PH_SHUTDOWN:
        if (f->n_offline_acked >= count_up(f) || f->now_ms >= f->phase_deadline_ms)
            f->phase = PH_DONE;
        break;
    case PH_DONE:
        break;
    }
}

static void tick(struct fleet *f)
{
    for (long i = 0; i < f->n; i++) {
        struct ctl *c = &f->ctls[i];
        fleet_mqtt_tick(f, c);
        fleet_ctl_tick(f, c);
    }
    if (f->o->scenario == FLEET_REASSIGN)
        fleet_moves_tick(f);
    phase_tick(f);
}

/* --- setup and the loop ------------------------------------------------------------------ */

/* Descriptors per simulated controller: its MQTT socket, and the socketpair that
 * libmosquitto opens in every client for waking a threaded loop (unused here, but open). */
#define FLEET_FDS_PER_CONTROLLER 3

long fleet_shard_size(const struct fleet_options *o)
{
    return (o->controllers - o->shard + o->shards - 1) / o->shards;
}

long fleet_fds_needed(const struct fleet_options *o)
{
    return fleet_shard_size(o) * FLEET_FDS_PER_CONTROLLER + o->http_connections + 64;
}

static int raise_nofile(const struct fleet_options *o, struct fleet_result *res)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)fleet_fds_needed(o);
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    /* Above the hard limit only with CAP_SYS_RESOURCE (root); otherwise up to it. */
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        struct rlimit more = {.rlim_cur = need, .rlim_max = need};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0)
            rl = more;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    res->nofile_limit = rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
        return -EMFILE;
    return 0;
}

static void find_central(struct fleet *f)
{
    if (f->o->central_pid > 0) {
        f->central_pid = (pid_t)f->o->central_pid;
        f->res->central_pid = f->o->central_pid;
        return;
    }
    CURLU *u = curl_url();
    char *port = NULL;
    long p = 0;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, f->o->central, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && port != NULL &&
        parse_long(port, 1, 65535, &p) < 0)
        p = 0;
    curl_free(port);
    curl_url_cleanup(u);
    pid_t pid = 0;
    if (p > 0 && p < 65536 && procstat_find_listener((int)p, &pid) == 0) {
        f->central_pid = pid;
        f->res->central_pid = pid;
    }
}

static int fleet_setup(struct fleet *f)
{
    const struct fleet_options *o = f->o;
    f->n_total = o->controllers;
    f->n = fleet_shard_size(o);
    f->ctls = calloc((size_t)f->n, sizeof *f->ctls);
    f->queue = calloc((size_t)f->n, sizeof *f->queue);
    f->sorted_uuids = calloc((size_t)f->n_total, sizeof *f->sorted_uuids);
    if (f->ctls == NULL || f->queue == NULL || f->sorted_uuids == NULL)
        return -ENOMEM;
    if (simid_name_prefix(o->seed, f->prefix, sizeof f->prefix) < 0)
        return -EINVAL;
    for (long i = 0; i < f->n_total; i++)
        simid_uuid(o->seed, i, f->sorted_uuids[i]);
    for (long j = 0; j < f->n; j++) {
        struct ctl *c = &f->ctls[j];
        c->evsrc = CTL_EVSRC;
        c->idx = o->shard + j * o->shards;
        c->pos = j;
        c->f = f;
        c->fd = -1;
        c->wake_ms = -1;
        c->rejected_version = -1;
        memcpy(c->uuid, f->sorted_uuids[c->idx], sizeof c->uuid);
        /* Like its UUID, a simulated controller's secret derives from the seed and its index,
         * so that a second run against the same database presents the secret of the first:
         * the central adopts it with the UUID (rule 2, as after a database reset), then
         * requires it on every heartbeat and config download, as for a real edge. */
        char seedtext[96], sec[SHA256_HEX_LEN + 1];
        snprintf(seedtext, sizeof seedtext, "roundhouse-fleet-secret/%llu/%ld",
                 (unsigned long long)o->seed, c->idx);
        sha256_hex(seedtext, strlen(seedtext), sec);
        snprintf(c->secret_header, sizeof c->secret_header, "X-Controller-Secret: %s", sec);
        if (simid_name(o->seed, c->idx, c->name, sizeof c->name) < 0)
            return -EINVAL;
        c->trains = calloc(FLEET_MAX_TRAINS, sizeof *c->trains);
        if (c->trains == NULL)
            return -ENOMEM;
    }
    qsort(f->sorted_uuids, (size_t)f->n_total, sizeof f->sorted_uuids[0], fleet_uuid_cmp);
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (f->epfd < 0)
        return -errno;
    return httpq_new(f->epfd, o->central, o->http_connections, on_http_done, f, &f->http);
}

static void fleet_teardown(struct fleet *f)
{
    for (long i = 0; f->ctls != NULL && i < f->n; i++) {
        fleet_mqtt_close(&f->ctls[i]);
        free(f->ctls[i].trains);
    }
    httpq_free(f->http);
    if (f->epfd >= 0)
        close(f->epfd);
    free(f->ctls);
    free(f->queue);
    free(f->sorted_uuids);
}

int fleet_run(const struct fleet_options *o, volatile sig_atomic_t *stop, struct fleet_result *res)
{
    struct fleet f = {.o = o, .res = res, .stop = stop, .epfd = -1};
    struct epoll_event evs[FLEET_EPOLL_BATCH];
    int rc = raise_nofile(o, res);
    if (rc < 0)
        return rc;
    f.rng = o->seed * 0x9e3779b97f4a7c15ULL + 1;
    rc = fleet_setup(&f);
    if (rc < 0)
        goto out;
    find_central(&f);
    f.now_ms = timeutil_mono_ms();
    f.start_ms = f.now_ms;
    f.last_progress_ms = f.now_ms;
    central_sample(&f, true);
    for (long i = 0; i < f.n; i++)
        fleet_ctl_boot(&f, &f.ctls[i]);
    int64_t next_tick = f.now_ms;
    /* Bounded: every phase has a deadline (boot timeout, duration, drain, shutdown). */
    while (f.phase != PH_DONE) {
        f.now_ms = timeutil_mono_ms();
        if (f.now_ms >= next_tick) {
            tick(&f);
            next_tick = f.now_ms + FLEET_TICK_MS;
        }
        httpq_on_timeout(f.http, f.now_ms);
        dispatch(&f);
        int64_t wake = next_tick;
        int64_t hd = httpq_deadline_ms(f.http);
        if (hd >= 0 && hd < wake)
            wake = hd;
        int timeout = wake > f.now_ms ? (int)(wake - f.now_ms) : 0;
        int n = epoll_wait(f.epfd, evs, FLEET_EPOLL_BATCH, timeout);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            goto out;
        }
        f.now_ms = timeutil_mono_ms();
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == HTTPQ_EVSRC)
                httpq_on_event(f.http, evs[i].data.ptr, evs[i].events);
            else if (kind == CTL_EVSRC)
                fleet_mqtt_event(evs[i].data.ptr, evs[i].events);
        }
        httpq_collect(f.http);
        int herr = httpq_take_error(f.http);
        if (herr < 0)
            log_event(RH_LOG_ERROR, "http_socket_registration_failed", "{s:s, s:i}", "error",
                      strerror(-herr), "inflight", httpq_inflight(f.http));
    }
    res->registered = f.n_registered;
    res->configured = f.n_configured;
    res->ready = f.n_ready;
    rc = 0;
out:
    fleet_teardown(&f);
    return rc;
}
