/* Command line of `roundhouse`: global options anywhere before or after the command (so
 * `roundhouse trains --json` works as well as `roundhouse --json trains`), `--` ends the
 * options, and "-" or a negative number is an argument, not an option (so that `speed t1 -5`
 * is reported as a bad speed rather than an unknown option). */
#ifndef ROUNDHOUSE_CLI_OPTIONS_H
#define ROUNDHOUSE_CLI_OPTIONS_H

#include <stdio.h>

#include "cli.h"

/* Fills o from argv (o->argv points into argv) and env_central (ROUNDHOUSE_CENTRAL, may be
 * NULL). Returns 0 to run a command; 1 when --help or --version was printed on out (exit 0);
 * -EINVAL after printing a usage error on err (exit 2). */
int cli_options_parse(int argc, char **argv, const char *env_central, struct cli_options *o,
                      FILE *out, FILE *err);

/* The full usage text: options, every command, exit codes. */
void cli_options_usage(FILE *out);

#endif
