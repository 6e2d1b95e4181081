#include "fleet_options.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

static const char *const scenario_names[] = {"boot-storm", "steady", "reassign"};

const char *fleet_scenario_name(enum fleet_scenario s)
{
    return (unsigned)s < 3 ? scenario_names[s] : "?";
}

void fleet_options_usage(FILE *out)
{
    fputs("Usage: roundhouse-fleet --central URL --mqtt HOST:PORT --controllers N [OPTIONS]\n"
          "\n"
          "Simulates N Roundhouse controllers in one process, each behaving like roundhouse-edge\n"
          "on the wire (registration with a stable UUID, conditional config download,\n"
          "heartbeats, MQTT presence, command subscriptions and status answers, config/update\n"
          "handling), and measures the central under that load.\n"
          "\n"
          "  --central URL                 central API base URL (http://HOST:PORT)\n"
          "  --mqtt HOST:PORT              MQTT broker\n"
          "  --controllers N               simulated controllers (1-100000)\n"
          "  --trains-per-controller K     trains each controller registers (0-64; default 1)\n"
          "  --trained-controllers N       only the first N controllers carry trains, the others\n"
          "                                register and heartbeat with none (0-N; default all).\n"
          "                                The central numbers at most 9999 trains, so N times K\n"
          "                                must stay within 9999 (e.g. 9999 of 10000)\n"
          "  --duration SEC                measuring time of steady and reassign (default 10)\n"
          "  --scenario NAME               boot-storm (default), steady or reassign:\n"
          "                                  boot-storm  all boot at once: time until all are\n"
          "                                              registered and configured, duplicates\n"
          "                                  steady      heartbeats for --duration: latency,\n"
          "                                              the central's CPU and RSS\n"
          "                                  reassign    trains moved with PUT /api/trains/{id}:\n"
          "                                              PUT answer -> new owner reports it\n"
          "  --json                        one JSON document on stdout instead of a table\n"
          "  --seed N                      identities derive from it; the same seed again is a\n"
          "                                reboot of the same fleet (default 1)\n"
          "  --http-connections N          concurrent HTTP requests (keep-alive; 1-900; 64)\n"
          "  --heartbeat-interval SEC      override the central's interval (default: central's)\n"
          "  --mqtt-keepalive SEC          MQTT keepalive (5-600; default 5, as the edge)\n"
          "  --mqtt-connecting N           MQTT connections opened at once (1-10000; 256)\n"
          "  --central-pid PID             the central's process, for CPU and RSS (default: the\n"
          "                                process listening on the URL's port, if visible)\n"
          "  --boot-timeout SEC            give up booting after this long (default 120)\n"
          "  --reassign-inflight N         concurrent moves in reassign (1-64; default 4)\n"
          "  --shard K/M                   simulate only the controllers whose index is K modulo\n"
          "                                M: M processes with the same N and seed form one fleet\n"
          "                                when one process cannot open enough descriptors\n"
          "  --log-level LEVEL             debug, info, warning (default), error\n"
          "  --log-format FORMAT           json (default) or text\n"
          "  -h, --help, -V, --version\n"
          "\n"
          "The open-file limit is raised to its hard limit (beyond it when run as root); each\n"
          "controller needs 3 descriptors (its MQTT socket and libmosquitto's socketpair).\n"
          "\n"
          "Exit status: 0 when every controller got ready and no duplicate was created, 1 when\n"
          "not (the report is printed all the same) or on a runtime failure, 2 on bad usage.\n",
          out);
}

int fleet_trains_of(const struct fleet_options *o, long idx)
{
    return idx < o->trained_controllers ? o->trains_per_controller : 0;
}

static int bad(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(FILE *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("roundhouse-fleet: ", err);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputs("\nTry 'roundhouse-fleet --help'.\n", err);
    return -EINVAL;
}

enum {
    OPT_CENTRAL = 256,
    OPT_MQTT,
    OPT_CONTROLLERS,
    OPT_TRAINS,
    OPT_TRAINED,
    OPT_DURATION,
    OPT_SCENARIO,
    OPT_JSON,
    OPT_SEED,
    OPT_HTTP,
    OPT_HB,
    OPT_KEEPALIVE,
    OPT_CONNECTING,
    OPT_PID,
    OPT_BOOT_TIMEOUT,
    OPT_INFLIGHT,
    OPT_SHARD,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
};

static int set_central(const char *v, struct fleet_options *o, FILE *err)
{
    size_t n = strlen(v);
    if (strncasecmp(v, "http://", 7) != 0 || n <= 7)
        return bad(err, "invalid --central '%s': expected http://HOST[:PORT]", v);
    while (n > 7 && v[n - 1] == '/')
        n--;
    if (n >= sizeof o->central)
        return bad(err, "--central URL too long");
    memcpy(o->central, v, n);
    o->central[n] = '\0';
    return 0;
}

static int set_scenario(const char *v, struct fleet_options *o, FILE *err)
{
    size_t i;
    for (i = 0; i < 3 && strcmp(v, scenario_names[i]) != 0; i++)
        ;
    if (i == 3)
        return bad(err, "invalid --scenario '%s': boot-storm, steady or reassign", v);
    o->scenario = (enum fleet_scenario)i;
    return 0;
}

/* K/M: this process simulates the controllers whose index is K modulo M. */
static int set_shard(const char *v, struct fleet_options *o, FILE *err)
{
    char k[24];
    const char *slash = strchr(v, '/');
    size_t n = slash != NULL ? (size_t)(slash - v) : 0;
    if (slash == NULL || n == 0 || n >= sizeof k)
        return bad(err, "invalid --shard '%s': expected K/M", v);
    memcpy(k, v, n);
    k[n] = '\0';
    if (parse_long(slash + 1, 1, 64, &o->shards) < 0 ||
        parse_long(k, 0, o->shards - 1, &o->shard) < 0)
        return bad(err, "invalid --shard '%s': expected K/M with 0 <= K < M <= 64", v);
    return 0;
}

/* The option opt with its value v into o, one case per flag: 0, -EINVAL after printing why,
 * or 1 for an option that is not one of the table's. */
static int apply(struct fleet_options *o, int opt, const char *v, FILE *err)
{
    long l = 0;
    switch (opt) {
    case OPT_CENTRAL:
        return set_central(v, o, err);
    case OPT_MQTT:
        if (parse_host_port(v, o->mqtt_host, sizeof o->mqtt_host, &o->mqtt_port) < 0 ||
            o->mqtt_port == 0 || o->mqtt_host[0] == '\0')
            return bad(err, "invalid --mqtt '%s': expected HOST:PORT", v);
        return 0;
    case OPT_CONTROLLERS:
        if (parse_long(v, 1, FLEET_MAX_CONTROLLERS, &o->controllers) < 0)
            return bad(err, "invalid --controllers '%s': expected 1-%d", v, FLEET_MAX_CONTROLLERS);
        return 0;
    case OPT_TRAINS:
        if (parse_int(v, 0, FLEET_MAX_TRAINS_PER_CONTROLLER, &o->trains_per_controller) < 0)
            return bad(err, "invalid --trains-per-controller '%s': expected 0-%d", v,
                       FLEET_MAX_TRAINS_PER_CONTROLLER);
        return 0;
    case OPT_TRAINED:
        if (parse_long(v, 0, FLEET_MAX_CONTROLLERS, &o->trained_controllers) < 0)
            return bad(err, "invalid --trained-controllers '%s': expected 0-%d", v,
                       FLEET_MAX_CONTROLLERS);
        return 0;
    case OPT_DURATION:
        if (parse_double(v, 0.1, 86400, &o->duration_s) < 0)
            return bad(err, "invalid --duration '%s': expected seconds, 0.1-86400", v);
        return 0;
    case OPT_SCENARIO:
        return set_scenario(v, o, err);
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_SEED:
        if (parse_long(v, 0, LONG_MAX, &l) < 0)
            return bad(err, "invalid --seed '%s': expected a non-negative integer", v);
        o->seed = (uint64_t)l;
        return 0;
    case OPT_HTTP:
        if (parse_int(v, 1, 900, &o->http_connections) < 0)
            return bad(err, "invalid --http-connections '%s': expected 1-900", v);
        return 0;
    case OPT_HB:
        if (parse_double(v, 0.05, 3600, &o->heartbeat_interval_s) < 0)
            return bad(err, "invalid --heartbeat-interval '%s': expected 0.05-3600", v);
        return 0;
    case OPT_KEEPALIVE:
        if (parse_int(v, 5, 600, &o->mqtt_keepalive_s) < 0)
            return bad(err, "invalid --mqtt-keepalive '%s': expected 5-600", v);
        return 0;
    case OPT_CONNECTING:
        if (parse_int(v, 1, 10000, &o->mqtt_connecting_max) < 0)
            return bad(err, "invalid --mqtt-connecting '%s': expected 1-10000", v);
        return 0;
    case OPT_PID:
        if (parse_long(v, 1, INT32_MAX, &o->central_pid) < 0)
            return bad(err, "invalid --central-pid '%s'", v);
        return 0;
    case OPT_BOOT_TIMEOUT:
        if (parse_double(v, 1, 3600, &o->boot_timeout_s) < 0)
            return bad(err, "invalid --boot-timeout '%s': expected 1-3600", v);
        return 0;
    case OPT_INFLIGHT:
        if (parse_int(v, 1, 64, &o->reassign_inflight) < 0)
            return bad(err, "invalid --reassign-inflight '%s': expected 1-64", v);
        return 0;
    case OPT_SHARD:
        return set_shard(v, o, err);
    case OPT_LOG_LEVEL:
        if (log_level_parse(v, &o->log_level) < 0)
            return bad(err, "invalid --log-level '%s'", v);
        return 0;
    case OPT_LOG_FORMAT:
        if (log_format_parse(v, &o->log_format) < 0)
            return bad(err, "invalid --log-format '%s'", v);
        return 0;
    default:
        return 1;
    }
}

static const struct option longopts[] = {
    {"central", required_argument, NULL, OPT_CENTRAL},
    {"mqtt", required_argument, NULL, OPT_MQTT},
    {"controllers", required_argument, NULL, OPT_CONTROLLERS},
    {"trains-per-controller", required_argument, NULL, OPT_TRAINS},
    {"trained-controllers", required_argument, NULL, OPT_TRAINED},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"json", no_argument, NULL, OPT_JSON},
    {"seed", required_argument, NULL, OPT_SEED},
    {"http-connections", required_argument, NULL, OPT_HTTP},
    {"heartbeat-interval", required_argument, NULL, OPT_HB},
    {"mqtt-keepalive", required_argument, NULL, OPT_KEEPALIVE},
    {"mqtt-connecting", required_argument, NULL, OPT_CONNECTING},
    {"central-pid", required_argument, NULL, OPT_PID},
    {"boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT},
    {"reassign-inflight", required_argument, NULL, OPT_INFLIGHT},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* The rules between options, once all are read. */
static int check_combinations(const struct fleet_options *r, FILE *err)
{
    /* Each is set only by a valid value (they have no default). */
    if (r->central[0] == '\0' || r->mqtt_host[0] == '\0' || r->controllers == 0)
        return bad(err, "--central, --mqtt and --controllers are required");
    if (r->trained_controllers > r->controllers)
        return bad(err, "--trained-controllers is more than --controllers");
    if (r->trained_controllers * r->trains_per_controller > FLEET_CENTRAL_TRAINS_MAX)
        return bad(err, "more trains than the central numbers (addresses 1-9999): limit them "
                        "with --trained-controllers");
    if (r->shard >= r->controllers)
        return bad(err, "--shard %ld/%ld selects no controller of %ld", r->shard, r->shards,
                   r->controllers);
    if (r->scenario == FLEET_REASSIGN &&
        (r->controllers / r->shards < 2 || r->trains_per_controller < 1 ||
         r->trained_controllers < 1))
        return bad(err, "--scenario reassign needs at least 2 controllers and 1 train each");
    return 0;
}

int fleet_options_parse(int argc, char **argv, struct fleet_options *o, FILE *out, FILE *err)
{
    struct fleet_options r = {
        .trains_per_controller = 1,
        .trained_controllers = -1, /* all, once --controllers is known */
        .duration_s = 10,
        .scenario = FLEET_BOOT_STORM,
        .seed = 1,
        .http_connections = 64,
        .mqtt_keepalive_s = 5,
        .mqtt_connecting_max = 256,
        .boot_timeout_s = 120,
        .reassign_inflight = 4,
        .shard = 0,
        .shards = 1,
        .log_level = RH_LOG_WARNING,
        .log_format = LOG_FORMAT_JSON,
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            fleet_options_usage(out);
            return 1;
        }
        if (c == 'V') {
            fputs("roundhouse-fleet " ROUNDHOUSE_VERSION "\n", out);
            return 1;
        }
        if (c == ':')
            return bad(err, "option %s needs a value", argv[optind - 1]);
        int rc = apply(&r, c, optarg, err);
        if (rc == 1)
            return bad(err, "unknown option '%s'", argv[optind - 1]);
        if (rc < 0)
            return -EINVAL;
    }
    if (optind < argc)
        return bad(err, "unexpected argument '%s'", argv[optind]);
    if (r.trained_controllers < 0)
        r.trained_controllers = r.controllers;
    if (check_combinations(&r, err) < 0)
        return -EINVAL;
    *o = r;
    return 0;
}
