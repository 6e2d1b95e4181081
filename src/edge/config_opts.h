/* Service options of roundhouse-edge (docs/operations.md): flags override environment variables,
 * which override the YAML config file. Parsing is separated from the process environment
 * (argv and envp are passed in) so unit tests can drive every precedence rule. */
#ifndef ROUNDHOUSE_EDGE_CONFIG_OPTS_H
#define ROUNDHOUSE_EDGE_CONFIG_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "protocol.h"
#include "tlsutil.h"

#define EDGE_OPTS_DEFAULT_CONFIG "/etc/roundhouse/edge-controller.conf"
#define EDGE_OPTS_CONFIG_MAX (256 * 1024)
/* --central URL,URL,...: tried in turn. */
#define EDGE_OPTS_CENTRALS_MAX 4

/* edge_opts_parse() results besides 0 and negative errno. */
#define EDGE_OPTS_HELP 1
#define EDGE_OPTS_VERSION 2

struct edge_opts {
    char config_file[512]; /* empty: none read */
    /* The configured centrals, each without trailing slash; none (n_centrals 0): found by
     * DNS-SD. central_url is the first one, or "". */
    char central_url[512];
    char centrals[EDGE_OPTS_CENTRALS_MAX][512];
    size_t n_centrals;
    char state_dir[512];
    char name[128]; /* empty: the hostname, filled in by the program */
    bool health_enabled;
    char health_host[256];
    int health_port;
    bool simulate;
    /* TRAIN_ID / TRAIN_NAME / MOTOR_PORT: self-registration of one train at boot. */
    bool self_register;
    char train_id[PROTO_TRAIN_ID_MAX + 1];
    char train_name[101];
    int motor_port;
    int heartbeat_override_s; /* 0: use the server's interval */
    int failsafe_timeout_s;
    long cache_max_age_s; /* 0: no limit */
    /* --registration-token / ROUNDHOUSE_REGISTRATION_TOKEN: sent as X-Registration-Token
     * when registering; empty: none. */
    char registration_token[257];
    /* https:// central: --central-ca / ROUNDHOUSE_CENTRAL_CA (empty: the system's trust
     * store) and --central-pin / ROUNDHOUSE_CENTRAL_PIN (none: n == 0). */
    char central_ca[512];
    struct tls_pins central_pins;
    /* MQTT over TLS: --mqtt-tls / MQTT_TLS forces it (else the runtime config's
     * mqtt_broker.tls decides); --mqtt-ca / ROUNDHOUSE_MQTT_CA (empty: the central's CA
     * file, else the system's store); optional client certificate and key. */
    bool mqtt_tls;
    char mqtt_ca[512];
    char mqtt_cert[512];
    char mqtt_key[512];
    bool mqtt_override;
    char mqtt_host[256];
    int mqtt_port;
    enum log_level log_level;
    enum log_format log_format;
};

/* Fills o from argv (argv[0] is the program name), envp ("NAME=value", NULL-terminated) and
 * the config file named by --config / EDGE_CONFIG / the default path when present.
 * Returns 0, EDGE_OPTS_HELP, EDGE_OPTS_VERSION, or -EINVAL with a message in err (bad usage:
 * the program exits 2). */
int edge_opts_parse(int argc, char *const argv[], char *const envp[], struct edge_opts *o,
                    char *err, size_t errlen);

/* The --help text. */
const char *edge_opts_usage(void);

#endif
