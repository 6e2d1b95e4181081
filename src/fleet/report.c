#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>

static double round3(double v)
{
    return (double)(int64_t)(v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0;
}

static json_t *latency_json(struct stats *s)
{
    struct stats_summary m;
    stats_summarize(s, &m);
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)m.count, "mean_ms",
                     round3(m.mean_ms), "p50_ms", round3(m.p50_ms), "p90_ms", round3(m.p90_ms),
                     "p99_ms", round3(m.p99_ms), "max_ms", round3(m.max_ms));
}

static double req_rate(const struct fleet_req_stats *st)
{
    if (st->first_start_us < 0 || st->last_end_us <= st->first_start_us)
        return 0;
    return (double)st->latency.count * 1e6 / (double)(st->last_end_us - st->first_start_us);
}

json_t *report_json(const struct fleet_options *o, struct fleet_result *r)
{
    json_t *reqs = json_object(), *statuses = json_object();
    for (int i = 0; i < FREQ_COUNT; i++) {
        struct fleet_req_stats *st = &r->req[i];
        if (st->latency.count == 0)
            continue;
        json_t *q = latency_json(&st->latency);
        json_object_set_new(q, "ok", json_integer((json_int_t)st->ok));
        json_object_set_new(q, "errors", json_integer((json_int_t)st->errors));
        json_object_set_new(q, "status_429", json_integer((json_int_t)st->status_429));
        json_object_set_new(q, "transport_errors", json_integer((json_int_t)st->transport_errors));
        json_object_set_new(q, "per_second", json_real(round3(req_rate(st))));
        if (i == FREQ_CONFIG)
            json_object_set_new(q, "not_modified", json_integer((json_int_t)st->not_modified));
        json_object_set_new(reqs, fleet_req_name((enum fleet_req)i), q);
    }
    for (int i = 0; i < FLEET_REG_STATUSES; i++)
        json_object_set_new(statuses, fleet_reg_status_name(i), json_integer(r->reg_status[i]));
    json_int_t errors = 0, e429 = 0;
    for (int i = 0; i < FREQ_COUNT; i++) {
        errors += (json_int_t)r->req[i].errors;
        e429 += (json_int_t)r->req[i].status_429;
    }
    double reg_rate = r->registered_s > 0 ? (double)r->registered / r->registered_s : 0;
    json_t *doc = json_pack(
        "{s:s, s:s, s:I, s:i, s:I, s:b, s:I,"
        " s:{s:b, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:I, s:I},"
        " s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
        "program", "roundhouse-fleet", "scenario", fleet_scenario_name(o->scenario), "controllers",
        (json_int_t)o->controllers, "trains_per_controller", o->trains_per_controller, "seed",
        (json_int_t)o->seed, "interrupted", r->interrupted, "nofile_limit",
        (json_int_t)r->nofile_limit, "boot", "complete", r->boot_complete, "duration_s",
        round3(r->boot_s), "registered_s", round3(r->registered_s), "registrations_per_s",
        round3(reg_rate), "registered", (json_int_t)r->registered, "configured",
        (json_int_t)r->configured, "ready", (json_int_t)r->ready, "mqtt_up", (json_int_t)r->mqtt_up,
        "statuses", statuses, "duplicates",
        r->duplicates_checked ? json_integer(r->duplicates) : json_null(), "missing",
        r->duplicates_checked ? json_integer(r->missing) : json_null(), "errors", errors,
        "status_429", e429, "requests", reqs, "mqtt", "disconnects",
        (json_int_t)r->mqtt_disconnects, "connect_failures", (json_int_t)r->mqtt_connect_failures,
        "config_updates", (json_int_t)r->config_updates, "commands", (json_int_t)r->commands,
        "statuses_published", (json_int_t)r->statuses, "max_connected", (json_int_t)r->mqtt_up);
    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "trained_controllers", json_integer(o->trained_controllers));
    if (o->shards > 1)
        json_object_set_new(doc, "shard",
                            json_pack("{s:I, s:I, s:I}", "index", (json_int_t)o->shard, "of",
                                      (json_int_t)o->shards, "controllers",
                                      (json_int_t)fleet_shard_size(o)));
    if (o->scenario == FLEET_STEADY) {
        json_t *hb = latency_json(&r->steady_hb);
        double rate = r->measure_s > 0 ? (double)r->steady_hb.count / r->measure_s : 0;
        json_object_set_new(doc, "steady",
                            json_pack("{s:f, s:f, s:I, s:o}", "duration_s", round3(r->measure_s),
                                      "heartbeats_per_s", round3(rate), "errors",
                                      (json_int_t)r->steady_hb_errors, "heartbeat", hb));
    }
    if (o->scenario == FLEET_REASSIGN) {
        json_t *lat = latency_json(&r->move_latency);
        json_object_set_new(doc, "reassign",
                            json_pack("{s:f, s:I, s:I, s:I, s:I, s:o}", "duration_s",
                                      round3(r->measure_s), "moves", (json_int_t)r->moves_started,
                                      "completed", (json_int_t)r->moves_done, "timeouts",
                                      (json_int_t)r->moves_timeout, "refused",
                                      (json_int_t)r->moves_failed, "latency", lat));
    }
    if (r->central_sampled)
        json_object_set_new(doc, "central",
                            json_pack("{s:I, s:f, s:I, s:I}", "pid", (json_int_t)r->central_pid,
                                      "cpu_percent", round3(r->central_cpu_pct), "rss_kib",
                                      (json_int_t)r->central_rss_kib, "rss_peak_kib",
                                      (json_int_t)r->central_hwm_kib));
    else
        json_object_set_new(doc, "central", json_null());
    return doc;
}

static void row(FILE *out, const char *name, json_t *q)
{
    if (q == NULL)
        return;
    fprintf(out,
            "  %-12s %9" JSON_INTEGER_FORMAT " %9.1f %8.2f %8.2f %8.2f %9.2f %7" JSON_INTEGER_FORMAT
            " %6" JSON_INTEGER_FORMAT "\n",
            name, json_integer_value(json_object_get(q, "count")),
            json_number_value(json_object_get(q, "per_second")),
            json_number_value(json_object_get(q, "p50_ms")),
            json_number_value(json_object_get(q, "p90_ms")),
            json_number_value(json_object_get(q, "p99_ms")),
            json_number_value(json_object_get(q, "max_ms")),
            json_integer_value(json_object_get(q, "errors")),
            json_integer_value(json_object_get(q, "status_429")));
}

static void latency_line(FILE *out, const char *label, json_t *q)
{
    fprintf(out,
            "%-22s p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  (n=%" JSON_INTEGER_FORMAT
            ")\n",
            label, json_number_value(json_object_get(q, "p50_ms")),
            json_number_value(json_object_get(q, "p90_ms")),
            json_number_value(json_object_get(q, "p99_ms")),
            json_number_value(json_object_get(q, "max_ms")),
            json_integer_value(json_object_get(q, "count")));
}

/* The run: scenario, fleet size, seed. */
static void print_run(FILE *out, const json_t *d)
{
    fprintf(out,
            "roundhouse-fleet: %s, %" JSON_INTEGER_FORMAT " controllers x %" JSON_INTEGER_FORMAT
            " trains, seed %" JSON_INTEGER_FORMAT "%s\n\n",
            json_string_value(json_object_get(d, "scenario")),
            json_integer_value(json_object_get(d, "controllers")),
            json_integer_value(json_object_get(d, "trains_per_controller")),
            json_integer_value(json_object_get(d, "seed")),
            json_is_true(json_object_get(d, "interrupted")) ? " (interrupted)" : "");
}

/* The boot phase: how far the fleet got, how the central answered the registrations. */
static void print_boot(FILE *out, const json_t *boot)
{
    json_t *dup = json_object_get(boot, "duplicates");
    fprintf(out,
            "boot %s in %.3f s: %" JSON_INTEGER_FORMAT
            " registered (%.3f s, %.0f/s), %" JSON_INTEGER_FORMAT
            " configured, %" JSON_INTEGER_FORMAT " ready, %" JSON_INTEGER_FORMAT " on MQTT\n",
            json_is_true(json_object_get(boot, "complete")) ? "complete" : "INCOMPLETE",
            json_number_value(json_object_get(boot, "duration_s")),
            json_integer_value(json_object_get(boot, "registered")),
            json_number_value(json_object_get(boot, "registered_s")),
            json_number_value(json_object_get(boot, "registrations_per_s")),
            json_integer_value(json_object_get(boot, "configured")),
            json_integer_value(json_object_get(boot, "ready")),
            json_integer_value(json_object_get(boot, "mqtt_up")));
    json_t *st = json_object_get(boot, "statuses");
    fprintf(out,
            "registrations: %" JSON_INTEGER_FORMAT " restored, %" JSON_INTEGER_FORMAT
            " reactivated, %" JSON_INTEGER_FORMAT " registered, %" JSON_INTEGER_FORMAT
            " existing\n",
            json_integer_value(json_object_get(st, "restored")),
            json_integer_value(json_object_get(st, "reactivated")),
            json_integer_value(json_object_get(st, "registered")),
            json_integer_value(json_object_get(st, "existing")));
    if (json_is_integer(dup))
        fprintf(out, "duplicates: %" JSON_INTEGER_FORMAT "   missing: %" JSON_INTEGER_FORMAT "\n",
                json_integer_value(dup), json_integer_value(json_object_get(boot, "missing")));
    else
        fputs("duplicates: not checked (GET /api/controllers failed)\n", out);
    fprintf(out, "errors: %" JSON_INTEGER_FORMAT "   429: %" JSON_INTEGER_FORMAT "\n\n",
            json_integer_value(json_object_get(boot, "errors")),
            json_integer_value(json_object_get(boot, "status_429")));
}

/* One line per kind of request: counts and latencies. */
static void print_requests(FILE *out, json_t *reqs)
{
    fprintf(out, "  %-12s %9s %9s %8s %8s %8s %9s %7s %6s\n", "request", "count", "per s", "p50 ms",
            "p90 ms", "p99 ms", "max ms", "errors", "429");
    const char *key;
    json_t *q;
    json_object_foreach(reqs, key, q)
    {
        row(out, key, q);
    }
    fputc('\n', out);
}

/* The phases after the boot that ran: steady heartbeats, reassignments. */
static void print_phases(FILE *out, const json_t *d)
{
    json_t *steady = json_object_get(d, "steady");
    if (steady != NULL) {
        fprintf(out, "steady %.1f s: %.1f heartbeats/s, %" JSON_INTEGER_FORMAT " errors\n",
                json_number_value(json_object_get(steady, "duration_s")),
                json_number_value(json_object_get(steady, "heartbeats_per_s")),
                json_integer_value(json_object_get(steady, "errors")));
        latency_line(out, "heartbeat latency", json_object_get(steady, "heartbeat"));
    }
    json_t *ra = json_object_get(d, "reassign");
    if (ra != NULL) {
        fprintf(out,
                "reassign %.1f s: %" JSON_INTEGER_FORMAT " moves, %" JSON_INTEGER_FORMAT
                " completed, %" JSON_INTEGER_FORMAT " timed out, %" JSON_INTEGER_FORMAT
                " refused\n",
                json_number_value(json_object_get(ra, "duration_s")),
                json_integer_value(json_object_get(ra, "moves")),
                json_integer_value(json_object_get(ra, "completed")),
                json_integer_value(json_object_get(ra, "timeouts")),
                json_integer_value(json_object_get(ra, "refused")));
        latency_line(out, "PUT -> new owner", json_object_get(ra, "latency"));
    }
}

/* What the MQTT side saw, and what the central's process used. */
static void print_resources(FILE *out, const json_t *d)
{
    json_t *mq = json_object_get(d, "mqtt");
    fprintf(out,
            "mqtt: %" JSON_INTEGER_FORMAT " disconnects, %" JSON_INTEGER_FORMAT
            " config updates, %" JSON_INTEGER_FORMAT " commands answered\n",
            json_integer_value(json_object_get(mq, "disconnects")),
            json_integer_value(json_object_get(mq, "config_updates")),
            json_integer_value(json_object_get(mq, "commands")));
    json_t *c = json_object_get(d, "central");
    if (json_is_object(c))
        fprintf(out,
                "central (pid %" JSON_INTEGER_FORMAT "): CPU %.1f %% of one core, RSS %.1f MiB"
                " (peak %.1f MiB)\n",
                json_integer_value(json_object_get(c, "pid")),
                json_number_value(json_object_get(c, "cpu_percent")),
                (double)json_integer_value(json_object_get(c, "rss_kib")) / 1024.0,
                (double)json_integer_value(json_object_get(c, "rss_peak_kib")) / 1024.0);
    else
        fputs("central: process not found (pass --central-pid for CPU and RSS)\n", out);
}

static void print_table(FILE *out, json_t *d)
{
    print_run(out, d);
    print_boot(out, json_object_get(d, "boot"));
    print_requests(out, json_object_get(d, "requests"));
    print_phases(out, d);
    print_resources(out, d);
}

int report_print(FILE *out, const struct fleet_options *o, struct fleet_result *r)
{
    json_t *doc = report_json(o, r);
    if (doc == NULL)
        return -ENOMEM;
    if (o->json) {
        if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0)
            goto fail;
        fputc('\n', out);
    } else {
        print_table(out, doc);
    }
    json_decref(doc);
    return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
fail:
    json_decref(doc);
    return -EIO;
}
