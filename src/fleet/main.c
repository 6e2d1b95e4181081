/* roundhouse-fleet: options, signals and wiring; the simulation lives in fleet*.c (their
 * parts: fleet_internal.h). */
#include <curl/curl.h>
#include <errno.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fleet.h"
#include "fleet_options.h"
#include "log.h"
#include "report.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    struct fleet_options o;
    struct fleet_result r;
    int rc = fleet_options_parse(argc, argv, &o, stdout, stderr);
    if (rc == 1)
        return fflush(stdout) == 0 ? 0 : 1;
    if (rc < 0)
        return 2;
    log_setup(o.log_level, o.log_format);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("roundhouse-fleet: cannot initialise libcurl\n", stderr);
        return 1;
    }
    mosquitto_lib_init();
    fleet_result_init(&r);
    int exit_code = 1;
    rc = fleet_run(&o, &stop_requested, &r);
    if (rc == -EMFILE) {
        fprintf(stderr,
                "roundhouse-fleet: %ld controllers need about %ld open files, but the limit is "
                "%ld; raise the hard limit (ulimit -Hn), simulate fewer controllers, or split "
                "the fleet with --shard\n",
                fleet_shard_size(&o), fleet_fds_needed(&o), r.nofile_limit);
        goto out;
    }
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "fleet_failed", "{s:s}", "error", strerror(-rc));
        goto out;
    }
    if (report_print(stdout, &o, &r) < 0) {
        fputs("roundhouse-fleet: cannot write the report\n", stderr);
        goto out;
    }
    if (r.boot_complete && r.duplicates_checked && r.duplicates == 0 && !r.interrupted)
        exit_code = 0;
out:
    fleet_result_free(&r);
    mosquitto_lib_cleanup();
    curl_global_cleanup();
    return exit_code;
}
