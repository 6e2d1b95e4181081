/* roundhouse-edge options: flags > environment > YAML config file (docs/operations.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_opts.h"

static char cfg_path[64];

static int parse(struct edge_opts *o, char *const *argv, char *const *envp)
{
    int argc = 0;
    char err[256] = "";
    while (argv[argc] != NULL)
        argc++;
    int rc = edge_opts_parse(argc, argv, envp, o, err, sizeof err);
    if (rc < 0)
        assert_true(err[0] != '\0');
    return rc;
}

#define ARGV(...) ((char *const[]){"roundhouse-edge", __VA_ARGS__, NULL})
#define NOARGS ((char *const[]){"roundhouse-edge", NULL})
#define ENV(...) ((char *const[]){__VA_ARGS__, NULL})
#define NOENV ((char *const[]){NULL})

static void write_cfg(const char *text)
{
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(cfg_path, sizeof cfg_path, "/tmp/rh-edge-opts-XXXXXX");
    int fd = mkstemp(cfg_path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cfg_path);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    struct edge_opts o;
    if (access(EDGE_OPTS_DEFAULT_CONFIG, F_OK) == 0)
        skip(); /* this host has a real config file */
    assert_int_equal(parse(&o, NOARGS, NOENV), 0);
    /* No central configured: DNS-SD finds one. */
    assert_string_equal(o.central_url, "");
    assert_int_equal(o.n_centrals, 0);
    assert_string_equal(o.state_dir, "/var/lib/roundhouse-edge");
    assert_string_equal(o.name, "");
    assert_true(o.health_enabled);
    assert_string_equal(o.health_host, "127.0.0.1");
    assert_int_equal(o.health_port, 8080);
    assert_false(o.simulate);
    assert_false(o.self_register);
    assert_int_equal(o.heartbeat_override_s, 0);
    assert_int_equal(o.failsafe_timeout_s, 10);
    assert_int_equal(o.cache_max_age_s, 604800);
    assert_false(o.mqtt_override);
    assert_int_equal(o.log_level, RH_LOG_INFO);
    assert_int_equal(o.log_format, LOG_FORMAT_JSON);
    assert_string_equal(o.config_file, "");
}

static void test_flags(void **state)
{
    (void)state;
    struct edge_opts o;
    assert_int_equal(parse(&o,
                           ARGV("--central", "http://c:9000/", "--state-dir", "/s", "--name",
                                "pi-9", "--health-listen=0.0.0.0:0", "--simulate",
                                "--failsafe-timeout", "3", "--cache-max-age", "0", "--mqtt",
                                "broker:1884", "--log-level", "debug", "--log-format", "text"),
                           NOENV),
                     0);
    assert_string_equal(o.central_url, "http://c:9000");
    assert_string_equal(o.state_dir, "/s");
    assert_string_equal(o.name, "pi-9");
    assert_string_equal(o.health_host, "0.0.0.0");
    assert_int_equal(o.health_port, 0);
    assert_true(o.simulate);
    assert_int_equal(o.failsafe_timeout_s, 3);
    assert_int_equal(o.cache_max_age_s, 0);
    assert_true(o.mqtt_override);
    assert_string_equal(o.mqtt_host, "broker");
    assert_int_equal(o.mqtt_port, 1884);
    assert_int_equal(o.log_level, RH_LOG_DEBUG);
    assert_int_equal(o.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(parse(&o, ARGV("--health-listen", "off"), NOENV), 0);
    assert_false(o.health_enabled);
}

static void test_env(void **state)
{
    (void)state;
    struct edge_opts o;
    assert_int_equal(
        parse(&o, NOARGS,
              ENV("CENTRAL_API_URL=http://api:8001", "STATE_DIR=/var/x", "CONTROLLER_NAME=pi-env",
                  "HEALTH_LISTEN=off", "SIMULATION_MODE=true", "TRAIN_ID=t7", "TRAIN_NAME=Seven",
                  "MOTOR_PORT=3", "HEARTBEAT_INTERVAL=4", "FAILSAFE_TIMEOUT=7", "CACHE_MAX_AGE=60",
                  "MQTT_BROKER_HOST=mq", "LOG_LEVEL=warning")),
        0);
    assert_string_equal(o.central_url, "http://api:8001");
    assert_string_equal(o.state_dir, "/var/x");
    assert_string_equal(o.name, "pi-env");
    assert_false(o.health_enabled);
    assert_true(o.simulate);
    assert_true(o.self_register);
    assert_string_equal(o.train_id, "t7");
    assert_string_equal(o.train_name, "Seven");
    assert_int_equal(o.motor_port, 3);
    assert_int_equal(o.heartbeat_override_s, 4);
    assert_int_equal(o.failsafe_timeout_s, 7);
    assert_int_equal(o.cache_max_age_s, 60);
    assert_true(o.mqtt_override);
    assert_string_equal(o.mqtt_host, "mq");
    assert_int_equal(o.mqtt_port, 1883);
    assert_int_equal(o.log_level, RH_LOG_WARNING);

    assert_int_equal(parse(&o, NOARGS, ENV("LOCAL_DEV=true")), 0);
    assert_true(o.simulate);
    assert_int_equal(parse(&o, NOARGS, ENV("SIMULATION_MODE=false", "LOCAL_DEV=false")), 0);
    assert_false(o.simulate);
    /* The compat pair builds the URL; a missing port defaults to 8000. */
    assert_int_equal(parse(&o, NOARGS, ENV("CENTRAL_API_HOST=10.0.0.5", "CENTRAL_API_PORT=9")), 0);
    assert_string_equal(o.central_url, "http://10.0.0.5:9");
    assert_int_equal(parse(&o, NOARGS, ENV("CENTRAL_API_HOST=central")), 0);
    assert_string_equal(o.central_url, "http://central:8000");
    /* Train name defaults to the id. */
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=t1", "MOTOR_PORT=1")), 0);
    assert_string_equal(o.train_name, "t1");
}

static void test_precedence(void **state)
{
    (void)state;
    struct edge_opts o;
    write_cfg("central_api_host: file-host\n"
              "central_api_port: 8100\n"
              "state_dir: /from/file\n"
              "controller_name: file-name\n"
              "failsafe_timeout: 20\n"
              "simulation_mode: true\n"
              "mqtt_broker: {host: ignored}\n"
              "logging_level: DEBUG\n");
    /* File alone. */
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), NOENV), 0);
    assert_string_equal(o.config_file, cfg_path);
    assert_string_equal(o.central_url, "http://file-host:8100");
    assert_string_equal(o.state_dir, "/from/file");
    assert_string_equal(o.name, "file-name");
    assert_int_equal(o.failsafe_timeout_s, 20);
    assert_true(o.simulate);
    /* Environment beats the file, flags beat the environment. */
    assert_int_equal(parse(&o, ARGV("--config", cfg_path, "--name", "flag-name"),
                           ENV("CONTROLLER_NAME=env-name", "STATE_DIR=/from/env",
                               "CENTRAL_API_URL=http://env:1")),
                     0);
    assert_string_equal(o.name, "flag-name");
    assert_string_equal(o.state_dir, "/from/env");
    assert_string_equal(o.central_url, "http://env:1");
    /* EDGE_CONFIG names the file too. */
    char env_cfg[128];
    snprintf(env_cfg, sizeof env_cfg, "EDGE_CONFIG=%s", cfg_path);
    assert_int_equal(parse(&o, NOARGS, ENV(env_cfg, "FAILSAFE_TIMEOUT=2")), 0);
    assert_int_equal(o.failsafe_timeout_s, 2);
    assert_string_equal(o.state_dir, "/from/file");
    /* Env host alone keeps the file's port. */
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), ENV("CENTRAL_API_HOST=env-host")), 0);
    assert_string_equal(o.central_url, "http://env-host:8100");
    /* An empty file is an empty config. */
    write_cfg("# nothing\n---\n");
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), NOENV), 0);
}

static void test_help_version(void **state)
{
    (void)state;
    struct edge_opts o;
    assert_int_equal(parse(&o, ARGV("--help"), NOENV), EDGE_OPTS_HELP);
    assert_int_equal(parse(&o, ARGV("--name", "x", "--version"), NOENV), EDGE_OPTS_VERSION);
    assert_non_null(strstr(edge_opts_usage(), "--state-dir"));
}

static void test_bad_usage(void **state)
{
    (void)state;
    struct edge_opts o;
    assert_int_equal(parse(&o, ARGV("--bogus"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("positional"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--name"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--name", ""), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--central", "ftp://x"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--health-listen", "nowhere"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--health-listen", "127.0.0.1:70000"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--failsafe-timeout", "0"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--failsafe-timeout", "10s"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--cache-max-age", "-1"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--mqtt", "nohost"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--log-level", "loud"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--log-format", "xml"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--config", "/nonexistent/edge.conf"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("SIMULATION_MODE=maybe")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=t1")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=t1", "MOTOR_PORT=5")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=t1", "MOTOR_PORT=one")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=t/1", "MOTOR_PORT=1")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=t#", "MOTOR_PORT=1")), -EINVAL);
    /* The central's train-id rule: no whitespace either, at most 100 bytes. */
    assert_int_equal(parse(&o, NOARGS, ENV("TRAIN_ID=my train", "MOTOR_PORT=1")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS,
                           ENV("TRAIN_ID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                               "MOTOR_PORT=1")),
                     -EINVAL);
    assert_int_equal(parse(&o, ARGV("--registration-token", "has space"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--registration-token"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--registration-token", ""), NOENV), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("HEARTBEAT_INTERVAL=0")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("CENTRAL_API_PORT=http")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("MQTT_BROKER_PORT=1883")), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("MQTT_BROKER_HOST=m", "MQTT_BROKER_PORT=0")), -EINVAL);
    write_cfg("- a\n- list\n");
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), NOENV), -EINVAL);
    write_cfg("key: [unclosed\n");
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), NOENV), -EINVAL);
}

static void test_https_and_tls(void **state)
{
    (void)state;
    struct edge_opts o;
    char err[256] = "";
    assert_int_equal(parse(&o, ARGV("--central", "https://central:8443"), NOENV), 0);
    assert_string_equal(o.central_url, "https://central:8443");
    assert_string_equal(o.central_ca, "");
    assert_int_equal(o.central_pins.n, 0);
    assert_false(o.mqtt_tls);
    assert_int_equal(parse(&o, NOARGS, ENV("CENTRAL_API_URL=https://api:8001")), 0);
    assert_int_equal(parse(&o, ARGV("--central", "http://user:pw@c:9000"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--central", "http://[::1]:9000/prefix"), NOENV), 0);
    assert_string_equal(o.central_url, "http://[::1]:9000/prefix");

    /* CA and pin: flag > env > file, the pin parsed at start. */
#define PIN "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert_int_equal(
        parse(&o, ARGV("--central", "https://c", "--central-ca", "/x/ca.pem", "--central-pin", PIN),
              ENV("ROUNDHOUSE_CENTRAL_CA=/env/ca.pem")),
        0);
    assert_string_equal(o.central_ca, "/x/ca.pem");
    assert_int_equal(o.central_pins.n, 1);
    assert_int_equal(o.central_pins.sha256[0][0], 0xe3);
    write_cfg("central_api_url: https://c:8443\nroundhouse_central_ca: /file/ca.pem\n"
              "roundhouse_mqtt_ca: /file/mqtt-ca.pem\nmqtt_tls: true\n");
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), NOENV), 0);
    assert_string_equal(o.central_ca, "/file/ca.pem");
    assert_string_equal(o.mqtt_ca, "/file/mqtt-ca.pem");
    assert_true(o.mqtt_tls);
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), ENV("ROUNDHOUSE_CENTRAL_CA=/env/ca")),
                     0);
    assert_string_equal(o.central_ca, "/env/ca");
    assert_int_equal(
        parse(&o, ARGV("--mqtt-tls", "--mqtt-cert", "c.pem", "--mqtt-key", "k.pem"), NOENV), 0);
    assert_true(o.mqtt_tls);
    assert_string_equal(o.mqtt_cert, "c.pem");

    /* Refused: a bad pin, trust for a plain central, half a client certificate. */
    char *const bad_pin[] = {"roundhouse-edge", "--central",     "https://c",
                             "--central-pin",   "sha256:nothex", NULL};
    assert_int_equal(edge_opts_parse(5, bad_pin, NOENV, &o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "central pin"));
    char *const plain[] = {"roundhouse-edge", "--central", "http://c",
                           "--central-ca",    "ca.pem",    NULL};
    assert_int_equal(edge_opts_parse(5, plain, NOENV, &o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not https://"));
    assert_int_equal(parse(&o, ARGV("--mqtt-cert", "c.pem"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, NOARGS, ENV("MQTT_TLS=maybe")), -EINVAL);
    assert_non_null(strstr(edge_opts_usage(), "--central-pin"));
}

static void test_train_id_and_token(void **state)
{
    (void)state;
    struct edge_opts o;
    /* Ids longer than the earlier 64-character limit are the central's to allow. */
    assert_int_equal(parse(&o, NOARGS,
                           ENV("TRAIN_ID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                               "MOTOR_PORT=1")),
                     0);
    assert_int_equal(strlen(o.train_id), 100);
    assert_string_equal(o.registration_token, "");
    assert_int_equal(parse(&o, NOARGS, ENV("ROUNDHOUSE_REGISTRATION_TOKEN=from-env")), 0);
    assert_string_equal(o.registration_token, "from-env");
    assert_int_equal(parse(&o, ARGV("--registration-token", "from-flag"),
                           ENV("ROUNDHOUSE_REGISTRATION_TOKEN=from-env")),
                     0);
    assert_string_equal(o.registration_token, "from-flag");
    assert_int_equal(parse(&o, ARGV("--registration-token=s3cr3t!"), NOENV), 0);
    assert_string_equal(o.registration_token, "s3cr3t!");
    write_cfg("roundhouse_registration_token: from-file\n");
    assert_int_equal(parse(&o, ARGV("--config", cfg_path), NOENV), 0);
    assert_string_equal(o.registration_token, "from-file");
    assert_non_null(strstr(edge_opts_usage(), "--registration-token"));
}

static void test_central_list(void **state)
{
    (void)state;
    struct edge_opts o;
    assert_int_equal(
        parse(&o, ARGV("--central", "http://a:1/, http://b:2/x ,http://[::1]:3"), NOENV), 0);
    assert_int_equal(o.n_centrals, 3);
    assert_string_equal(o.centrals[0], "http://a:1");
    assert_string_equal(o.centrals[1], "http://b:2/x");
    assert_string_equal(o.centrals[2], "http://[::1]:3");
    assert_string_equal(o.central_url, "http://a:1");
    assert_int_equal(parse(&o, NOARGS, ENV("CENTRAL_API_URL=http://e:1,http://f:2")), 0);
    assert_int_equal(o.n_centrals, 2);
    assert_string_equal(o.centrals[1], "http://f:2");
    /* A bad or empty entry refuses the whole list; so do more than the maximum. */
    assert_int_equal(parse(&o, ARGV("--central", "http://a:1,ftp://b"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--central", "http://a:1,,http://b:2"), NOENV), -EINVAL);
    assert_int_equal(parse(&o, ARGV("--central", "http://a:1,"), NOENV), -EINVAL);
    /* https and http may be mixed (each https one with the same trust options). */
    assert_int_equal(parse(&o, ARGV("--central", "http://a:1,https://b:2"), NOENV), 0);
    assert_string_equal(o.centrals[1], "https://b:2");
    assert_int_equal(
        parse(&o, ARGV("--central", "http://a:1,http://b:1,http://c:1,http://d:1,http://e:1"),
              NOENV),
        -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_train_id_and_token),
        cmocka_unit_test(test_https_and_tls),
        cmocka_unit_test(test_central_list),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
