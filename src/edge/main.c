/* roundhouse-edge: options, then wiring; the daemon lives in edge.c (with edge_apply.c,
 * edge_mqtt.c, edge_central.c, edge_report.c) and loop.c. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config_opts.h"
#include "edge.h"
#include "log.h"

extern char **environ;

/* Large (status buffers, train table): static rather than on the stack. */
static struct edge daemon_state;

int main(int argc, char **argv)
{
    struct edge_opts opts;
    char err[512] = "";
    int rc = edge_opts_parse(argc, argv, environ, &opts, err, sizeof err);
    if (rc == EDGE_OPTS_HELP) {
        fputs(edge_opts_usage(), stdout);
        return 0;
    }
    if (rc == EDGE_OPTS_VERSION) {
        printf("roundhouse-edge %s\n", ROUNDHOUSE_VERSION);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "roundhouse-edge: %s\nTry 'roundhouse-edge --help'.\n", err);
        return 2;
    }
    log_setup(opts.log_level, opts.log_format);
    rc = edge_signals_init();
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "signal_setup_failed", "{s:i}", "errno", -rc);
        return 1;
    }

    rc = edge_init(&daemon_state, &opts);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "edge_init_failed", "{s:i}", "errno", -rc);
        edge_free(&daemon_state); /* stops any motor already opened */
        return 1;
    }
    rc = edge_run(&daemon_state);
    edge_free(&daemon_state);
    return rc < 0 ? 1 : 0;
}
