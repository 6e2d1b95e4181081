#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "parse.h"

static const char usage[] =
    "Usage: roundhouse-central [OPTIONS]\n"
    "\n"
    "The Roundhouse central API: controller registry, runtime configuration, command relay.\n"
    "\n"
    "  --listen HOST:PORT          HTTP address (ROUNDHOUSE_LISTEN; default 0.0.0.0:8000;\n"
    "                              port 0 lets the kernel pick, logged as http_listening)\n"
    "  --db PATH|URL               SQLite database file (ROUNDHOUSE_DB; default ./roundhouse.db),\n"
    "                              or a PostgreSQL database: postgresql://USER@HOST:PORT/DBNAME\n"
    "                              (libpq's URL; password from ~/.pgpass or PGPASSWORD)\n"
    "  --mqtt HOST:PORT            broker (MQTT_BROKER_HOST, MQTT_BROKER_PORT; localhost:1883)\n"
    "  --mqtt-username USER        (MQTT_USERNAME) also handed to controllers when set\n"
    "  --mqtt-password PASS        (MQTT_PASSWORD)\n"
    "  --mqtt-advertise HOST:PORT  broker address written into runtime configs (MQTT_ADVERTISE;\n"
    "                              default the --mqtt address, or for a loopback host the host\n"
    "                              the controller used to reach this API)\n"
    "  --mqtt-tls                  connect to the broker over TLS, and tell controllers to\n"
    "                              (mqtt_broker.tls in runtime configs); --mqtt names the\n"
    "                              broker's TLS port, e.g. 8883\n"
    "  --mqtt-ca FILE              PEM CA certificates for the broker (implies --mqtt-tls;\n"
    "                              default the system's trust store)\n"
    "  --mqtt-cert FILE, --mqtt-key FILE\n"
    "                              client certificate and key for the broker (implies\n"
    "                              --mqtt-tls)\n"
    "  --tls-cert FILE             serve HTTPS with this PEM certificate (chain); needs\n"
    "  --tls-key FILE              ... and its PEM private key (unencrypted)\n"
    "  --bootstrap FILE            import an earlier-system config.yaml at start, idempotently\n"
    "                              (CENTRAL_API_CONFIG_YAML)\n"
    "  --heartbeat-interval SEC    (ROUNDHOUSE_HEARTBEAT_INTERVAL; default 10)\n"
    "  --stale-after SEC           presence: online below this age (default 25)\n"
    "  --offline-after SEC         presence: offline at or above this age (default 50)\n"
    "  --register-rate N/MIN       registrations per client IP, burst N (default 30)\n"
    "  --registration-token TOKEN  require X-Registration-Token on register and import\n"
    "                              (ROUNDHOUSE_REGISTRATION_TOKEN)\n"
    "  --cors-origins LIST         other origins whose pages may use this API, comma-separated\n"
    "                              (e.g. http://ui.local:3000), or * for any (logged as a\n"
    "                              warning) (ROUNDHOUSE_CORS_ORIGINS; default none: only the\n"
    "                              built-in web UI's own origin). Pages of other origins get\n"
    "                              no CORS headers, and their POST/PUT/PATCH/DELETE get 403\n"
    "  --withrottle-listen HOST:PORT|off\n"
    "                              WiThrottle server for handheld throttles\n"
    "                              (ROUNDHOUSE_WITHROTTLE_LISTEN; default 0.0.0.0:12090; port 0\n"
    "                              lets the kernel pick, logged as withrottle_listening; off\n"
    "                              under --auth unless given, throttles cannot log in)\n"
    "  --withrottle-heartbeat SEC  heartbeat interval announced to throttles; one that enabled\n"
    "                              it and falls silent longer has its trains stopped\n"
    "                              (ROUNDHOUSE_WITHROTTLE_HEARTBEAT; default 10)\n"
    "  --advertise on|off          DNS-SD/mDNS advertisement through avahi-daemon of the API\n"
    "                              (_roundhouse._tcp, found by edges and the CLI) and of the\n"
    "                              WiThrottle server (_withrottle._tcp); loopback listeners\n"
    "                              are not advertised (default on)\n"
    "  --log-level LEVEL           debug, info, warning, error (LOG_LEVEL; info)\n"
    "  --log-format FORMAT         json or text (LOG_FORMAT; default json)\n"
    "  --max-connections N         open HTTP connections in all (default 1000)\n"
    "  --max-connections-per-ip N  ... from one client address (default 128)\n"
    "  --request-timeout SEC       a request must arrive whole within SEC, and an idle\n"
    "                              connection is closed after SEC (default 30)\n"
    "  --max-event-streams N       open GET /api/events streams in all (default 256)\n"
    "  --max-event-streams-per-ip N  ... from one client address (default 8)\n"
    "  --max-import-bytes N        largest POST /api/import body in bytes, or with a K or M\n"
    "                              suffix for KiB or MiB, 64K-1024M (default 8M)\n"
    "  --auth                      operator accounts: every API call but liveness and the\n"
    "                              login needs a session or an API token (docs/security.md);\n"
    "                              the first start creates user 'admin' with the password in\n"
    "                              ROUNDHOUSE_ADMIN_PASSWORD and refuses to start without it\n"
    "  --public-read               with --auth: reads need no credential (writes still do)\n"
    "  --session-ttl SEC           with --auth: how long a web login lasts (default 43200)\n"
    "  --login-rate N/MIN          with --auth: failed logins allowed per user name, burst N\n"
    "                              (default 5); per source address 4 times N\n"
    "  --mqtt-acl                  manage the broker's accounts and ACLs (Mosquitto's\n"
    "                              dynamic-security plugin, administered as --mqtt-username):\n"
    "                              each controller its own account, limited to its topics\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 on clean shutdown (SIGTERM/SIGINT), 1 on a runtime failure, 2 on bad usage.\n";

static int bad(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "roundhouse-central: invalid %s '%s': %s\n", opt, value ? value : "", why);
    return -EINVAL;
}

static int copy(char *dst, size_t len, const char *opt, const char *value)
{
    int n = snprintf(dst, len, "%s", value);
    if (n < 0 || (size_t)n >= len)
        return bad(opt, value, "too long");
    return 0;
}

static int set_host_port(const char *opt, const char *value, char *host, size_t hostlen, int *port)
{
    if (parse_host_port(value, host, hostlen, port) < 0)
        return bad(opt, value, "expected HOST:PORT with a port 0-65535");
    return 0;
}

static int set_seconds(const char *opt, const char *value, int min, int max, int *out)
{
    if (parse_int(value, min, max, out) < 0) {
        char why[64];
        snprintf(why, sizeof why, "expected whole seconds %d-%d", min, max);
        return bad(opt, value, why);
    }
    return 0;
}

enum {
    OPT_LISTEN = 1000,
    OPT_DB,
    OPT_MQTT,
    OPT_MQTT_USER,
    OPT_MQTT_PASS,
    OPT_ADVERTISE,
    OPT_BOOTSTRAP,
    OPT_HEARTBEAT,
    OPT_STALE,
    OPT_OFFLINE,
    OPT_RATE,
    OPT_TOKEN,
    OPT_CORS,
    OPT_WITHROTTLE,
    OPT_WITHROTTLE_HEARTBEAT,
    OPT_DNSSD,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_MAX_CONN,
    OPT_MAX_CONN_IP,
    OPT_REQ_TIMEOUT,
    OPT_MAX_STREAMS,
    OPT_MAX_STREAMS_IP,
    OPT_MAX_IMPORT,
    OPT_AUTH,
    OPT_PUBLIC_READ,
    OPT_MQTT_ACL,
    OPT_SESSION_TTL,
    OPT_LOGIN_RATE,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_MQTT_TLS,
    OPT_MQTT_CA,
    OPT_MQTT_CERT,
    OPT_MQTT_KEY,
    OPT_HELP,
    OPT_VERSION,
};

static int set_count(const char *opt, const char *value, int min, int max, int *out)
{
    if (parse_int(value, min, max, out) < 0) {
        char why[64];
        snprintf(why, sizeof why, "expected a whole number %d-%d", min, max);
        return bad(opt, value, why);
    }
    return 0;
}

/* Bytes, or KiB / MiB with a K or M suffix. */
static int set_bytes(const char *opt, const char *value, long min, long max, long *out)
{
    char num[32];
    size_t n = strlen(value);
    long unit = 1;
    if (n > 0 && (value[n - 1] == 'K' || value[n - 1] == 'k'))
        unit = 1024;
    else if (n > 0 && (value[n - 1] == 'M' || value[n - 1] == 'm'))
        unit = 1024 * 1024;
    if (unit != 1)
        n--;
    long v;
    if (n == 0 || n >= sizeof num)
        return bad(opt, value, "expected a number of bytes, or of KiB or MiB with K or M");
    memcpy(num, value, n);
    num[n] = '\0';
    if (parse_long(num, 0, max / unit, &v) < 0 || v * unit < min || v * unit > max)
        return bad(opt, value, "expected 64K to 1024M");
    *out = v * unit;
    return 0;
}

/* One case per flag, as the option table has one line per flag: split, each flag's rule
 * would be harder to find. NOLINTNEXTLINE(readability-function-size) */
static int apply(struct central_options *o, int opt, const char *v)
{
    switch (opt) {
    case OPT_MAX_CONN:
        return set_count("--max-connections", v, 1, 100000, &o->max_connections);
    case OPT_MAX_CONN_IP:
        return set_count("--max-connections-per-ip", v, 1, 100000, &o->max_connections_per_ip);
    case OPT_REQ_TIMEOUT:
        return set_seconds("--request-timeout", v, 1, 3600, &o->request_timeout);
    case OPT_MAX_STREAMS:
        return set_count("--max-event-streams", v, 1, 100000, &o->max_event_streams);
    case OPT_MAX_STREAMS_IP:
        return set_count("--max-event-streams-per-ip", v, 1, 100000, &o->max_event_streams_per_ip);
    case OPT_MAX_IMPORT:
        return set_bytes("--max-import-bytes", v, 64L * 1024, 1024L * 1024 * 1024,
                         &o->max_import_bytes);
    case OPT_AUTH:
        o->auth = true;
        return 0;
    case OPT_PUBLIC_READ:
        o->public_read = true;
        return 0;
    case OPT_MQTT_ACL:
        o->mqtt_acl = true;
        return 0;
    case OPT_SESSION_TTL: {
        int s;
        int rc = set_seconds("--session-ttl", v, 60, 30 * 86400, &s);
        o->session_ttl = s;
        return rc;
    }
    case OPT_LOGIN_RATE:
        if (parse_rate_per_min(v, &o->login_rate) < 0)
            return bad("--login-rate", v, "expected N or N/MIN with N >= 1");
        return 0;
    case OPT_LISTEN: {
        int rc =
            set_host_port("--listen", v, o->listen_host, sizeof o->listen_host, &o->listen_port);
        struct in6_addr a6;
        struct in_addr a4;
        if (rc == 0 && inet_pton(AF_INET, o->listen_host, &a4) != 1 &&
            inet_pton(AF_INET6, o->listen_host, &a6) != 1)
            return bad("--listen", v, "the host must be a numeric IPv4 or IPv6 address");
        return rc;
    }
    case OPT_DB:
        return copy(o->db, sizeof o->db, "--db", v);
    case OPT_TLS_CERT:
        return copy(o->tls_cert, sizeof o->tls_cert, "--tls-cert", v);
    case OPT_TLS_KEY:
        return copy(o->tls_key, sizeof o->tls_key, "--tls-key", v);
    case OPT_MQTT_TLS:
        o->mqtt_tls = true;
        return 0;
    case OPT_MQTT_CA:
        o->mqtt_tls = true;
        return copy(o->mqtt_ca, sizeof o->mqtt_ca, "--mqtt-ca", v);
    case OPT_MQTT_CERT:
        o->mqtt_tls = true;
        return copy(o->mqtt_cert, sizeof o->mqtt_cert, "--mqtt-cert", v);
    case OPT_MQTT_KEY:
        o->mqtt_tls = true;
        return copy(o->mqtt_key, sizeof o->mqtt_key, "--mqtt-key", v);
    case OPT_MQTT:
        return set_host_port("--mqtt", v, o->mqtt_host, sizeof o->mqtt_host, &o->mqtt_port);
    case OPT_MQTT_USER:
        return copy(o->mqtt_username, sizeof o->mqtt_username, "--mqtt-username", v);
    case OPT_MQTT_PASS:
        return copy(o->mqtt_password, sizeof o->mqtt_password, "--mqtt-password", v);
    case OPT_ADVERTISE:
        o->advertise_set = true;
        return set_host_port("--mqtt-advertise", v, o->advertise_host, sizeof o->advertise_host,
                             &o->advertise_port);
    case OPT_BOOTSTRAP:
        return copy(o->bootstrap, sizeof o->bootstrap, "--bootstrap", v);
    case OPT_HEARTBEAT:
        return set_seconds("--heartbeat-interval", v, 1, 3600, &o->heartbeat_interval);
    case OPT_STALE: {
        int s;
        int rc = set_seconds("--stale-after", v, 1, 86400, &s);
        o->presence.stale_after = s;
        return rc;
    }
    case OPT_OFFLINE: {
        int s;
        int rc = set_seconds("--offline-after", v, 1, 86400 * 7, &s);
        o->presence.offline_after = s;
        return rc;
    }
    case OPT_RATE:
        if (parse_rate_per_min(v, &o->register_rate) < 0)
            return bad("--register-rate", v, "expected N or N/MIN with N >= 1");
        return 0;
    case OPT_TOKEN:
        return copy(o->registration_token, sizeof o->registration_token, "--registration-token", v);
    case OPT_CORS:
        return copy(o->cors_origins, sizeof o->cors_origins, "--cors-origins", v);
    case OPT_WITHROTTLE: {
        o->withrottle_explicit = true;
        if (strcmp(v, "off") == 0) {
            o->withrottle_enabled = false;
            return 0;
        }
        int rc = set_host_port("--withrottle-listen", v, o->withrottle_host,
                               sizeof o->withrottle_host, &o->withrottle_port);
        struct in6_addr a6;
        struct in_addr a4;
        if (rc == 0 && inet_pton(AF_INET, o->withrottle_host, &a4) != 1 &&
            inet_pton(AF_INET6, o->withrottle_host, &a6) != 1)
            return bad("--withrottle-listen", v,
                       "the host must be a numeric IPv4 or IPv6 address, or 'off'");
        o->withrottle_enabled = rc == 0;
        return rc;
    }
    case OPT_WITHROTTLE_HEARTBEAT:
        return set_seconds("--withrottle-heartbeat", v, 1, 300, &o->withrottle_heartbeat);
    case OPT_DNSSD:
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
            return bad("--advertise", v, "expected on or off");
        o->dnssd_advertise = strcmp(v, "on") == 0;
        return 0;
    case OPT_LOG_LEVEL:
        if (log_level_parse(v, &o->log_level) < 0)
            return bad("--log-level", v, "expected debug, info, warning or error");
        return 0;
    case OPT_LOG_FORMAT:
        if (log_format_parse(v, &o->log_format) < 0)
            return bad("--log-format", v, "expected json or text");
        return 0;
    default:
        return -EINVAL;
    }
}

static int apply_env(struct central_options *o)
{
    static const struct {
        const char *name;
        int opt;
    } envs[] = {
        {"ROUNDHOUSE_LISTEN", OPT_LISTEN},
        {"ROUNDHOUSE_DB", OPT_DB},
        {"MQTT_USERNAME", OPT_MQTT_USER},
        {"MQTT_PASSWORD", OPT_MQTT_PASS},
        {"MQTT_ADVERTISE", OPT_ADVERTISE},
        {"CENTRAL_API_CONFIG_YAML", OPT_BOOTSTRAP},
        {"ROUNDHOUSE_HEARTBEAT_INTERVAL", OPT_HEARTBEAT},
        {"ROUNDHOUSE_REGISTRATION_TOKEN", OPT_TOKEN},
        {"ROUNDHOUSE_CORS_ORIGINS", OPT_CORS},
        {"ROUNDHOUSE_WITHROTTLE_LISTEN", OPT_WITHROTTLE},
        {"ROUNDHOUSE_WITHROTTLE_HEARTBEAT", OPT_WITHROTTLE_HEARTBEAT},
        {"LOG_LEVEL", OPT_LOG_LEVEL},
        {"LOG_FORMAT", OPT_LOG_FORMAT},
    };
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].name);
        if (v != NULL && *v != '\0' && apply(o, envs[i].opt, v) < 0) {
            fprintf(stderr, "roundhouse-central: (from environment variable %s)\n", envs[i].name);
            return -EINVAL;
        }
    }
    /* The earlier system's pair of variables for the broker. */
    const char *h = getenv("MQTT_BROKER_HOST"), *p = getenv("MQTT_BROKER_PORT");
    if (h != NULL && *h != '\0' &&
        copy(o->mqtt_host, sizeof o->mqtt_host, "MQTT_BROKER_HOST", h) < 0)
        return -EINVAL;
    if (p != NULL && *p != '\0' && parse_int(p, 1, 65535, &o->mqtt_port) < 0)
        return bad("MQTT_BROKER_PORT", p, "expected a port 1-65535");
    return 0;
}

/* The defaults of docs/operations.md. */
static void set_defaults(struct central_options *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->listen_host, sizeof o->listen_host, "0.0.0.0");
    o->listen_port = 8000;
    snprintf(o->db, sizeof o->db, "./roundhouse.db");
    snprintf(o->mqtt_host, sizeof o->mqtt_host, "localhost");
    o->mqtt_port = 1883;
    o->heartbeat_interval = 10;
    o->presence.stale_after = 25;
    o->presence.offline_after = 50;
    o->register_rate = 30;
    o->withrottle_enabled = true;
    snprintf(o->withrottle_host, sizeof o->withrottle_host, "0.0.0.0");
    o->withrottle_port = 12090;
    o->withrottle_heartbeat = 10;
    o->dnssd_advertise = true;
    o->log_level = RH_LOG_INFO;
    o->log_format = LOG_FORMAT_JSON;
    o->max_connections = 1000;
    o->max_connections_per_ip = 128;
    o->request_timeout = 30;
    o->max_event_streams = 256;
    o->max_event_streams_per_ip = 8;
    o->max_import_bytes = CENTRAL_MAX_IMPORT_DEFAULT;
    o->session_ttl = 12 * 3600;
    o->login_rate = 5;
}

static const struct option longopts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"db", required_argument, NULL, OPT_DB},
    {"mqtt", required_argument, NULL, OPT_MQTT},
    {"mqtt-username", required_argument, NULL, OPT_MQTT_USER},
    {"mqtt-password", required_argument, NULL, OPT_MQTT_PASS},
    {"mqtt-advertise", required_argument, NULL, OPT_ADVERTISE},
    {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
    {"heartbeat-interval", required_argument, NULL, OPT_HEARTBEAT},
    {"stale-after", required_argument, NULL, OPT_STALE},
    {"offline-after", required_argument, NULL, OPT_OFFLINE},
    {"register-rate", required_argument, NULL, OPT_RATE},
    {"registration-token", required_argument, NULL, OPT_TOKEN},
    {"cors-origins", required_argument, NULL, OPT_CORS},
    {"withrottle-listen", required_argument, NULL, OPT_WITHROTTLE},
    {"withrottle-heartbeat", required_argument, NULL, OPT_WITHROTTLE_HEARTBEAT},
    {"advertise", required_argument, NULL, OPT_DNSSD},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONN_IP},
    {"request-timeout", required_argument, NULL, OPT_REQ_TIMEOUT},
    {"max-event-streams", required_argument, NULL, OPT_MAX_STREAMS},
    {"max-event-streams-per-ip", required_argument, NULL, OPT_MAX_STREAMS_IP},
    {"max-import-bytes", required_argument, NULL, OPT_MAX_IMPORT},
    {"auth", no_argument, NULL, OPT_AUTH},
    {"public-read", no_argument, NULL, OPT_PUBLIC_READ},
    {"mqtt-acl", no_argument, NULL, OPT_MQTT_ACL},
    {"session-ttl", required_argument, NULL, OPT_SESSION_TTL},
    {"login-rate", required_argument, NULL, OPT_LOGIN_RATE},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"mqtt-tls", no_argument, NULL, OPT_MQTT_TLS},
    {"mqtt-ca", required_argument, NULL, OPT_MQTT_CA},
    {"mqtt-cert", required_argument, NULL, OPT_MQTT_CERT},
    {"mqtt-key", required_argument, NULL, OPT_MQTT_KEY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* The rules between flags, once all are read: -EINVAL after printing the one broken. */
static int check_combinations(const struct central_options *o)
{
    if (o->public_read && !o->auth) {
        fprintf(stderr, "roundhouse-central: --public-read needs --auth (without it every "
                        "call is open already)\n");
        return -EINVAL;
    }
    if (o->mqtt_acl && (o->mqtt_username[0] == '\0' || o->mqtt_password[0] == '\0')) {
        fprintf(stderr, "roundhouse-central: --mqtt-acl needs --mqtt-username and "
                        "--mqtt-password (MQTT_USERNAME, MQTT_PASSWORD): the broker account "
                        "that administers its dynamic-security plugin\n");
        return -EINVAL;
    }
    if ((o->tls_cert[0] == '\0') != (o->tls_key[0] == '\0')) {
        fprintf(stderr, "roundhouse-central: --tls-cert and --tls-key must be given together\n");
        return -EINVAL;
    }
    if ((o->mqtt_cert[0] == '\0') != (o->mqtt_key[0] == '\0')) {
        fprintf(stderr, "roundhouse-central: --mqtt-cert and --mqtt-key must be given together\n");
        return -EINVAL;
    }
    if (o->presence.offline_after <= o->presence.stale_after) {
        fprintf(stderr,
                "roundhouse-central: --offline-after (%lld) must be greater than "
                "--stale-after (%lld)\n",
                (long long)o->presence.offline_after, (long long)o->presence.stale_after);
        return -EINVAL;
    }
    return 0;
}

int central_options_parse(struct central_options *o, int argc, char **argv)
{
    set_defaults(o);
    if (apply_env(o) < 0)
        return -EINVAL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == OPT_HELP) {
            fputs(usage, stdout);
            return 1;
        }
        if (c == OPT_VERSION) {
            printf("roundhouse-central %s\n", ROUNDHOUSE_VERSION);
            return 1;
        }
        if (c == '?' || c == ':') {
            fprintf(stderr, "roundhouse-central: unknown option or missing value: %s\n",
                    argv[optind - 1]);
            fputs("Try 'roundhouse-central --help'.\n", stderr);
            return -EINVAL;
        }
        if (apply(o, c, optarg) < 0)
            return -EINVAL;
    }
    if (optind < argc) {
        fprintf(stderr, "roundhouse-central: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    return check_combinations(o);
}
