/* The commands of `roundhouse`. Each one checks its arguments before it sends anything (a bad
 * argument means exit 2 and no request at all), makes its API calls, and prints either a
 * human view (views.h) or, with --json, the API's own JSON document exactly as received.
 * Failures are reported on c->err as "roundhouse: <why>", with the central's `detail` (and
 * `field`) when it answered an error. */
#ifndef ROUNDHOUSE_CLI_COMMANDS_H
#define ROUNDHOUSE_CLI_COMMANDS_H

#include <stdio.h>

#include "cli.h"

/* One line per command for --help. */
void cli_commands_usage(FILE *out);

/* Runs the command c->opt.argv[0] with its arguments over c->http. Returns an enum cli_exit
 * value. */
int cli_commands_run(struct cli *c);

#endif
