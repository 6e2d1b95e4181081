/* roundhouse: the administrators' command-line client of the central API. Options and
 * wiring only; cli_commands.c dispatches the commands, which live by family in cli_*.c. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "cli_accounts.h"
#include "cli_commands.h"
#include "cli_discover.h"
#include "cli_options.h"
#include "http_client.h"

int main(int argc, char **argv)
{
    struct cli c = {.out = stdout, .err = stderr};
    int rc = cli_options_parse(argc, argv, getenv("ROUNDHOUSE_CENTRAL"), &c.opt, stdout, stderr);
    if (rc == 1)
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    if (rc < 0)
        return CLI_EXIT_USAGE;
    /* Times are shown in the user's zone: read TZ once, before any localtime_r. */
    tzset();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("roundhouse: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_FAILED;
    }
    int exit_code = CLI_EXIT_FAILED;
    char found[256];
    if (c.opt.central == NULL) {
        if (cli_discover_central(found, sizeof found, CLI_DISCOVER_TIMEOUT_MS, stderr) < 0)
            goto out;
        c.opt.central = found;
    }
    rc = http_client_new(c.opt.central, c.opt.timeout_ms, &c.http);
    if (rc < 0) {
        fprintf(stderr, "roundhouse: invalid central URL '%s'\n", c.opt.central);
        exit_code = CLI_EXIT_USAGE;
        goto out;
    }
    const char *env_ca = getenv("ROUNDHOUSE_CA");
    if (c.opt.ca == NULL && env_ca != NULL && env_ca[0] != '\0')
        c.opt.ca = env_ca;
    http_client_set_ca(c.http, c.opt.ca);
    exit_code = cli_accounts_begin(&c);
    if (exit_code == CLI_EXIT_OK) {
        exit_code = cli_commands_run(&c);
        cli_accounts_end(&c);
    }
    /* A full disk or a closed pipe must not look like success to a script. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("roundhouse: cannot write the output\n", stderr);
        if (exit_code == CLI_EXIT_OK)
            exit_code = CLI_EXIT_FAILED;
    }
out:
    http_client_free(c.http);
    curl_global_cleanup();
    return exit_code;
}
