#include "strbuf.h"
#include "config_opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api_client.h"
#include "parse.h"
#include "trains.h"
#include "yamljson.h"

static const char usage_text[] =
    "Usage: roundhouse-edge [OPTIONS]\n"
    "Edge controller daemon of Roundhouse: drives the trains assigned to this controller.\n"
    "\n"
    "  --config FILE            YAML service config (env EDGE_CONFIG; default\n"
    "                           " EDGE_OPTS_DEFAULT_CONFIG " if present)\n"
    "  --central URL[,URL...]   central API, http:// or https://, several tried in turn (env\n"
    "                           CENTRAL_API_URL, or CENTRAL_API_HOST + CENTRAL_API_PORT;\n"
    "                           default: found on the network by DNS-SD, _roundhouse._tcp\n"
    "                           through avahi-daemon)\n"
    "  --central-ca FILE        PEM CA certificates that sign an https:// central's\n"
    "                           certificate (env ROUNDHOUSE_CENTRAL_CA; default the system's\n"
    "                           trust store)\n"
    "  --central-pin PINS       accept only this certificate: sha256:BASE64 or sha256:HEX of\n"
    "                           the certificate's or its public key's DER, comma-separated for\n"
    "                           several; alone it replaces the CA check (a self-signed\n"
    "                           central), with --central-ca both must hold\n"
    "                           (env ROUNDHOUSE_CENTRAL_PIN)\n"
    "  --state-dir DIR          identity + cached config (env STATE_DIR;\n"
    "                           default /var/lib/roundhouse-edge)\n"
    "  --name NAME              controller name (env CONTROLLER_NAME; default hostname)\n"
    "  --health-listen H:P|off  local /health and /metrics (env HEALTH_LISTEN;\n"
    "                           default 127.0.0.1:8080; port 0 picks a free port)\n"
    "  --simulate               simulated motors (env SIMULATION_MODE=true, LOCAL_DEV=true)\n"
    "  --failsafe-timeout SEC   stop trains after SEC without broker contact\n"
    "                           (env FAILSAFE_TIMEOUT; default 10)\n"
    "  --cache-max-age SEC      oldest usable cached config, 0 = no limit\n"
    "                           (env CACHE_MAX_AGE; default 604800)\n"
    "  --mqtt HOST:PORT         broker override (env MQTT_BROKER_HOST, MQTT_BROKER_PORT)\n"
    "  --mqtt-tls               MQTT over TLS even when the runtime config does not say so\n"
    "                           (mqtt_broker.tls) (env MQTT_TLS=true)\n"
    "  --mqtt-ca FILE           PEM CA certificates for the broker (env ROUNDHOUSE_MQTT_CA;\n"
    "                           default the --central-ca file, else the system's store)\n"
    "  --mqtt-cert FILE, --mqtt-key FILE\n"
    "                           client certificate and key for the broker\n"
    "                           (env ROUNDHOUSE_MQTT_CERT, ROUNDHOUSE_MQTT_KEY)\n"
    "  --registration-token T   shared secret sent as X-Registration-Token when registering,\n"
    "                           for a central started with --registration-token\n"
    "                           (env ROUNDHOUSE_REGISTRATION_TOKEN; default none)\n"
    "  --log-level LEVEL        debug|info|warning|error (env LOG_LEVEL; default info)\n"
    "  --log-format FMT         json|text (default json)\n"
    "  --help, --version\n"
    "\n"
    "Environment only: TRAIN_ID, TRAIN_NAME, MOTOR_PORT (register this train at boot),\n"
    "HEARTBEAT_INTERVAL (override the server's heartbeat interval).\n";

const char *edge_opts_usage(void)
{
    return usage_text;
}

/* Flag values as given on the command line (NULL: not given). */
struct flags {
    const char *config, *central, *state_dir, *name, *health, *failsafe, *max_age, *mqtt;
    const char *token;
    /* cppcheck-suppress unusedStructMember ; set and read through offsetof (the tables below) */
    const char *central_ca, *central_pin, *mqtt_ca, *mqtt_cert, *mqtt_key;
    const char *log_level, *log_format;
    bool simulate;
    bool mqtt_tls;
};

/* The lower layers: environment and config file (keys are env names in lower case). */
struct layers {
    char *const *envp;
    json_t *file; /* object of strings, NULL when no file */
};

static const char *env_get(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    }
    return NULL;
}

static const char *file_get(const struct layers *l, const char *env_name)
{
    char key[64];
    size_t n = strlen(env_name);
    if (l->file == NULL || n >= sizeof key)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        key[i] = (char)tolower((unsigned char)env_name[i]);
    return json_string_value(json_object_get(l->file, key));
}

/* Environment first, then the file. Empty environment values count as unset, as a shell
 * `VAR= cmd` usually means "no value". */
static const char *layer_get(const struct layers *l, const char *env_name)
{
    const char *v = env_get(l->envp, env_name);
    if (v != NULL && v[0] != '\0')
        return v;
    return file_get(l, env_name);
}

static int copy_str(char *dst, size_t dstlen, const char *src, const char *what, char *err,
                    size_t errlen)
{
    size_t n = strlen(src);
    if (n == 0 || n >= dstlen) {
        strbuf_errorf(err, errlen, "%s: must be 1-%zu characters", what, dstlen - 1);
        return -EINVAL;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

/* Scalars of the YAML file become strings so that every layer is read the same way. */
static int file_load(const char *path, json_t **out, char *err, size_t errlen)
{
    json_t *doc = NULL, *flat = NULL;
    char yerr[256] = "";
    int rc = yamljson_load_file(path, EDGE_OPTS_CONFIG_MAX, &doc, yerr, sizeof yerr);
    if (rc < 0) {
        strbuf_errorf(err, errlen, "config file %s: %s", path, yerr[0] ? yerr : strerror(-rc));
        rc = -EINVAL;
        goto out;
    }
    flat = json_object();
    if (flat == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (json_is_null(doc))
        goto done; /* an empty file is a valid, empty config */
    if (!json_is_object(doc)) {
        strbuf_errorf(err, errlen, "config file %s: must be a mapping", path);
        rc = -EINVAL;
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        char buf[64];
        const char *s = NULL;
        if (json_is_string(v)) {
            s = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            s = buf;
        } else if (json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
        } else if (json_is_real(v)) {
            snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
            s = buf;
        } else {
            continue; /* nested keys of other tools' configs are not ours */
        }
        char lkey[64];
        size_t n = strlen(key);
        if (n >= sizeof lkey)
            continue;
        for (size_t i = 0; i <= n; i++)
            lkey[i] = (char)tolower((unsigned char)key[i]);
        if (json_object_set_new(flat, lkey, json_string(s)) < 0) {
            rc = -ENOMEM;
            goto out;
        }
    }
done:
    *out = flat;
    flat = NULL;
    rc = 0;
out:
    json_decref(doc);
    json_decref(flat);
    return rc;
}

/* cppcheck-suppress constParameter ; main's char *argv[] does not convert to const char *const[] in
 * C */
static int flags_parse(int argc, char *const argv[], struct flags *f, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
    } valued[] = {
        {"--config", offsetof(struct flags, config)},
        {"--central", offsetof(struct flags, central)},
        {"--state-dir", offsetof(struct flags, state_dir)},
        {"--name", offsetof(struct flags, name)},
        {"--health-listen", offsetof(struct flags, health)},
        {"--failsafe-timeout", offsetof(struct flags, failsafe)},
        {"--cache-max-age", offsetof(struct flags, max_age)},
        {"--mqtt", offsetof(struct flags, mqtt)},
        {"--registration-token", offsetof(struct flags, token)},
        {"--central-ca", offsetof(struct flags, central_ca)},
        {"--central-pin", offsetof(struct flags, central_pin)},
        {"--mqtt-ca", offsetof(struct flags, mqtt_ca)},
        {"--mqtt-cert", offsetof(struct flags, mqtt_cert)},
        {"--mqtt-key", offsetof(struct flags, mqtt_key)},
        {"--log-level", offsetof(struct flags, log_level)},
        {"--log-format", offsetof(struct flags, log_format)},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return EDGE_OPTS_HELP;
        if (strcmp(a, "--version") == 0)
            return EDGE_OPTS_VERSION;
        if (strcmp(a, "--simulate") == 0) {
            f->simulate = true;
            continue;
        }
        if (strcmp(a, "--mqtt-tls") == 0) {
            f->mqtt_tls = true;
            continue;
        }
        size_t k;
        const char *value = NULL;
        for (k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            size_t n = strlen(valued[k].name);
            if (strncmp(a, valued[k].name, n) != 0)
                continue;
            if (a[n] == '=') {
                value = a + n + 1;
                break;
            }
            if (a[n] == '\0') {
                if (i + 1 >= argc) {
                    strbuf_errorf(err, errlen, "%s needs a value", valued[k].name);
                    return -EINVAL;
                }
                value = argv[++i];
                break;
            }
        }
        if (k == sizeof valued / sizeof valued[0]) {
            strbuf_errorf(err, errlen, "unknown argument: %s", a);
            return -EINVAL;
        }
        *(const char **)((char *)f + valued[k].off) = value;
    }
    return 0;
}

/* One URL of a --central list, checked and without trailing slashes. */
static int central_add(struct edge_opts *o, const char *url, size_t len, char *err, size_t errlen)
{
    char one[512];
    if (len == 0) {
        strbuf_errorf(err, errlen, "central URL list has an empty entry");
        return -EINVAL;
    }
    if (len >= sizeof one) {
        strbuf_errorf(err, errlen, "central URL: too long");
        return -EINVAL;
    }
    if (o->n_centrals >= EDGE_OPTS_CENTRALS_MAX) {
        strbuf_errorf(err, errlen, "central URL list: at most %d URLs", EDGE_OPTS_CENTRALS_MAX);
        return -EINVAL;
    }
    memcpy(one, url, len);
    one[len] = '\0';
    if (api_client_check_url(one) < 0) {
        strbuf_errorf(err, errlen, "central URL must be http[s]://HOST[:PORT][/PATH]: %s", one);
        return -EINVAL;
    }
    while (len > 0 && one[len - 1] == '/')
        one[--len] = '\0';
    memcpy(o->centrals[o->n_centrals++], one, len + 1);
    return 0;
}

static int central_resolve(const struct flags *f, const struct layers *l, struct edge_opts *o,
                           char *err, size_t errlen)
{
    const char *url = f->central;
    char built[512];
    if (url == NULL) {
        const char *v = env_get(l->envp, "CENTRAL_API_URL");
        if (v != NULL && v[0] != '\0')
            url = v;
    }
    if (url == NULL) {
        /* CENTRAL_API_HOST/PORT (compat) from env or file beat a URL given only in the file,
         * since the earlier deployments set exactly these two. */
        const char *host = layer_get(l, "CENTRAL_API_HOST");
        const char *port = layer_get(l, "CENTRAL_API_PORT");
        const char *furl = file_get(l, "CENTRAL_API_URL");
        if (host == NULL && port == NULL && furl != NULL) {
            url = furl;
        } else if (host != NULL || port != NULL) {
            int p = 8000;
            if (port != NULL && parse_int(port, 1, 65535, &p) < 0) {
                strbuf_errorf(err, errlen, "CENTRAL_API_PORT: not a port number: %s", port);
                return -EINVAL;
            }
            int n = snprintf(built, sizeof built, "http://%s:%d", host ? host : "localhost", p);
            if (n < 0 || (size_t)n >= sizeof built) {
                strbuf_errorf(err, errlen, "CENTRAL_API_HOST: too long");
                return -EINVAL;
            }
            url = built;
        }
    }
    o->n_centrals = 0;
    o->central_url[0] = '\0';
    if (url == NULL)
        return 0; /* none configured: DNS-SD finds one */
    for (const char *p = url;;) {
        size_t len = strcspn(p, ",");
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (central_add(o, p, len, err, errlen) < 0)
            return -EINVAL;
        p += strcspn(p, ",");
        if (*p == '\0')
            break;
        p++;
    }
    memcpy(o->central_url, o->centrals[0], sizeof o->central_url);
    return 0;
}

static int mqtt_resolve(const struct flags *f, const struct layers *l, struct edge_opts *o,
                        char *err, size_t errlen)
{
    if (f->mqtt != NULL) {
        if (parse_host_port(f->mqtt, o->mqtt_host, sizeof o->mqtt_host, &o->mqtt_port) < 0 ||
            o->mqtt_host[0] == '\0' || o->mqtt_port == 0) {
            strbuf_errorf(err, errlen, "--mqtt: expected HOST:PORT, got %s", f->mqtt);
            return -EINVAL;
        }
        o->mqtt_override = true;
        return 0;
    }
    const char *host = layer_get(l, "MQTT_BROKER_HOST");
    const char *port = layer_get(l, "MQTT_BROKER_PORT");
    if (host == NULL) {
        if (port != NULL) {
            strbuf_errorf(err, errlen, "MQTT_BROKER_PORT is set but MQTT_BROKER_HOST is not");
            return -EINVAL;
        }
        return 0;
    }
    if (copy_str(o->mqtt_host, sizeof o->mqtt_host, host, "MQTT_BROKER_HOST", err, errlen) < 0)
        return -EINVAL;
    o->mqtt_port = 1883;
    if (port != NULL && parse_int(port, 1, 65535, &o->mqtt_port) < 0) {
        strbuf_errorf(err, errlen, "MQTT_BROKER_PORT: not a port number: %s", port);
        return -EINVAL;
    }
    o->mqtt_override = true;
    return 0;
}

static int train_resolve(const struct layers *l, struct edge_opts *o, char *err, size_t errlen)
{
    const char *id = layer_get(l, "TRAIN_ID");
    const char *name = layer_get(l, "TRAIN_NAME");
    const char *port = layer_get(l, "MOTOR_PORT");
    if (id == NULL)
        return 0;
    if (copy_str(o->train_id, sizeof o->train_id, id, "TRAIN_ID", err, errlen) < 0)
        return -EINVAL;
    /* The id becomes part of MQTT topics: wildcards and separators would subscribe to other
     * trains' commands. Same rule as the central's. */
    if (!proto_train_id_valid(o->train_id, strlen(o->train_id))) {
        strbuf_errorf(
            err, errlen,
            "TRAIN_ID must be 1-%d bytes without whitespace, control characters, '/', '+' "
            "or '#'",
            PROTO_TRAIN_ID_MAX);
        return -EINVAL;
    }
    if (copy_str(o->train_name, sizeof o->train_name, name ? name : id, "TRAIN_NAME", err, errlen) <
        0)
        return -EINVAL;
    if (port == NULL) {
        strbuf_errorf(err, errlen, "TRAIN_ID is set but MOTOR_PORT is not (1-4)");
        return -EINVAL;
    }
    if (parse_int(port, 1, 4, &o->motor_port) < 0) {
        strbuf_errorf(err, errlen, "MOTOR_PORT: expected 1-4, got %s", port);
        return -EINVAL;
    }
    o->self_register = true;
    return 0;
}

/* The token travels in an HTTP header: printable ASCII only, so it can neither break the
 * header nor smuggle another one in. */
static int token_check(const char *v, char *err, size_t errlen)
{
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
            strbuf_errorf(err, errlen, "registration token: printable ASCII without spaces only");
            return -EINVAL;
        }
    }
    return 0;
}

/* The TLS options: file names are checked when the programs read them (they name the file
 * in their message); pins are parsed here. */
static int tls_resolve(const struct flags *f, const struct layers *l, struct edge_opts *o,
                       char *err, size_t errlen)
{
    static const struct {
        size_t flag, field, size;
        const char *env, *what;
    } files[] = {
        {offsetof(struct flags, central_ca), offsetof(struct edge_opts, central_ca),
         sizeof o->central_ca, "ROUNDHOUSE_CENTRAL_CA", "central CA file"},
        {offsetof(struct flags, mqtt_ca), offsetof(struct edge_opts, mqtt_ca), sizeof o->mqtt_ca,
         "ROUNDHOUSE_MQTT_CA", "MQTT CA file"},
        {offsetof(struct flags, mqtt_cert), offsetof(struct edge_opts, mqtt_cert),
         sizeof o->mqtt_cert, "ROUNDHOUSE_MQTT_CERT", "MQTT client certificate file"},
        {offsetof(struct flags, mqtt_key), offsetof(struct edge_opts, mqtt_key), sizeof o->mqtt_key,
         "ROUNDHOUSE_MQTT_KEY", "MQTT client key file"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *v = *(const char *const *)((const char *)f + files[i].flag);
        if (v == NULL)
            v = layer_get(l, files[i].env);
        if (v != NULL &&
            copy_str((char *)o + files[i].field, files[i].size, v, files[i].what, err, errlen) < 0)
            return -EINVAL;
    }
    if ((o->mqtt_cert[0] == '\0') != (o->mqtt_key[0] == '\0')) {
        strbuf_errorf(err, errlen, "--mqtt-cert and --mqtt-key must be given together");
        return -EINVAL;
    }
    const char *pin = f->central_pin ? f->central_pin : layer_get(l, "ROUNDHOUSE_CENTRAL_PIN");
    char why[200];
    if (pin != NULL && tls_pins_parse(pin, &o->central_pins, why, sizeof why) < 0) {
        strbuf_errorf(err, errlen, "central pin: %s", why);
        return -EINVAL;
    }
    /* Trust settings for a central spoken to in the clear would protect nothing. */
    if ((o->central_ca[0] != '\0' || o->central_pins.n > 0) &&
        !api_client_url_is_https(o->central_url)) {
        strbuf_errorf(err, errlen,
                      "a central CA file or pin is set, but the central URL %s is not https://",
                      o->central_url);
        return -EINVAL;
    }
    o->mqtt_tls = f->mqtt_tls;
    const char *v = layer_get(l, "MQTT_TLS");
    if (!o->mqtt_tls && v != NULL && parse_bool(v, &o->mqtt_tls) < 0) {
        strbuf_errorf(err, errlen, "MQTT_TLS: expected true or false, got %s", v);
        return -EINVAL;
    }
    return 0;
}

static int bool_layer(const struct layers *l, const char *name, bool *out, char *err, size_t errlen)
{
    const char *v = layer_get(l, name);
    if (v == NULL)
        return 0;
    if (parse_bool(v, out) < 0) {
        strbuf_errorf(err, errlen, "%s: expected true or false, got %s", name, v);
        return -EINVAL;
    }
    return 0;
}

/* The config file itself: flag, then environment, then the default path when it exists. */
static int file_resolve(const struct flags *f, struct layers *l, struct edge_opts *r, char *err,
                        size_t errlen)
{
    const char *cfg = f->config ? f->config : env_get(l->envp, "EDGE_CONFIG");
    if (cfg != NULL && cfg[0] == '\0')
        cfg = NULL;
    if (cfg == NULL && access(EDGE_OPTS_DEFAULT_CONFIG, F_OK) == 0)
        cfg = EDGE_OPTS_DEFAULT_CONFIG;
    if (cfg == NULL)
        return 0;
    int rc = file_load(cfg, &l->file, err, errlen);
    if (rc < 0)
        return rc;
    return copy_str(r->config_file, sizeof r->config_file, cfg, "config path", err, errlen) < 0
               ? -EINVAL
               : 0;
}

/* The state directory, the name, the health listener, simulation. */
static int local_resolve(const struct flags *f, const struct layers *l, struct edge_opts *r,
                         char *err, size_t errlen)
{
    const char *v = f->state_dir ? f->state_dir : layer_get(l, "STATE_DIR");
    if (copy_str(r->state_dir, sizeof r->state_dir, v ? v : "/var/lib/roundhouse-edge",
                 "state directory", err, errlen) < 0)
        return -EINVAL;

    v = f->name ? f->name : layer_get(l, "CONTROLLER_NAME");
    if (v != NULL && copy_str(r->name, sizeof r->name, v, "name", err, errlen) < 0)
        return -EINVAL;

    v = f->health ? f->health : layer_get(l, "HEALTH_LISTEN");
    if (v == NULL)
        v = "127.0.0.1:8080";
    if (strcmp(v, "off") == 0) {
        r->health_enabled = false;
    } else if (parse_host_port(v, r->health_host, sizeof r->health_host, &r->health_port) < 0 ||
               r->health_host[0] == '\0') {
        strbuf_errorf(err, errlen, "health listen address: expected HOST:PORT or off, got %s", v);
        return -EINVAL;
    } else {
        r->health_enabled = true;
    }

    r->simulate = f->simulate;
    if (!r->simulate) {
        bool sim = false, dev = false;
        if (bool_layer(l, "SIMULATION_MODE", &sim, err, errlen) < 0 ||
            bool_layer(l, "LOCAL_DEV", &dev, err, errlen) < 0)
            return -EINVAL;
        r->simulate = sim || dev;
    }
    return 0;
}

/* Heartbeat override, fail-safe timeout, cache age. */
static int timing_resolve(const struct flags *f, const struct layers *l, struct edge_opts *r,
                          char *err, size_t errlen)
{
    const char *v = layer_get(l, "HEARTBEAT_INTERVAL");
    if (v != NULL && parse_int(v, 1, 3600, &r->heartbeat_override_s) < 0) {
        strbuf_errorf(err, errlen, "HEARTBEAT_INTERVAL: expected 1-3600 seconds, got %s", v);
        return -EINVAL;
    }

    r->failsafe_timeout_s = 10;
    v = f->failsafe ? f->failsafe : layer_get(l, "FAILSAFE_TIMEOUT");
    if (v != NULL && parse_int(v, 1, 86400, &r->failsafe_timeout_s) < 0) {
        strbuf_errorf(err, errlen, "failsafe timeout: expected 1-86400 seconds, got %s", v);
        return -EINVAL;
    }

    r->cache_max_age_s = 604800;
    v = f->max_age ? f->max_age : layer_get(l, "CACHE_MAX_AGE");
    if (v != NULL && parse_long(v, 0, 10L * 366 * 86400, &r->cache_max_age_s) < 0) {
        strbuf_errorf(err, errlen, "cache max age: expected 0 or more seconds, got %s", v);
        return -EINVAL;
    }
    return 0;
}

/* The registration token, the log level and format. */
static int misc_resolve(const struct flags *f, const struct layers *l, struct edge_opts *r,
                        char *err, size_t errlen)
{
    const char *v = f->token ? f->token : layer_get(l, "ROUNDHOUSE_REGISTRATION_TOKEN");
    if (v != NULL && token_check(v, err, errlen) < 0)
        return -EINVAL;
    if (v != NULL && copy_str(r->registration_token, sizeof r->registration_token, v,
                              "registration token", err, errlen) < 0)
        return -EINVAL;

    r->log_level = RH_LOG_INFO;
    v = f->log_level ? f->log_level : layer_get(l, "LOG_LEVEL");
    if (v != NULL && log_level_parse(v, &r->log_level) < 0) {
        strbuf_errorf(err, errlen, "log level: expected debug, info, warning or error, got %s", v);
        return -EINVAL;
    }
    r->log_format = LOG_FORMAT_JSON;
    v = f->log_format ? f->log_format : layer_get(l, "LOG_FORMAT");
    if (v != NULL && log_format_parse(v, &r->log_format) < 0) {
        strbuf_errorf(err, errlen, "log format: expected json or text, got %s", v);
        return -EINVAL;
    }
    return 0;
}

int edge_opts_parse(int argc, char *const argv[], char *const envp[], struct edge_opts *o,
                    char *err, size_t errlen)
{
    struct flags f = {0};
    struct layers l = {.envp = envp, .file = NULL};
    struct edge_opts r;
    int rc;

    memset(&r, 0, sizeof r);
    rc = flags_parse(argc, argv, &f, err, errlen);
    if (rc != 0)
        goto out;
    rc = file_resolve(&f, &l, &r, err, errlen);
    if (rc < 0)
        goto out;
    /* In the order the options were always checked: the first error is the one reported. */
    rc = -EINVAL;
    if (central_resolve(&f, &l, &r, err, errlen) < 0 ||
        local_resolve(&f, &l, &r, err, errlen) < 0 || train_resolve(&l, &r, err, errlen) < 0 ||
        timing_resolve(&f, &l, &r, err, errlen) < 0 || mqtt_resolve(&f, &l, &r, err, errlen) < 0 ||
        tls_resolve(&f, &l, &r, err, errlen) < 0 || misc_resolve(&f, &l, &r, err, errlen) < 0)
        goto out;
    *o = r;
    rc = 0;
out:
    json_decref(l.file);
    return rc;
}
