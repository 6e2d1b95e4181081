/* The driving commands of `roundhouse` (docs/cli.md): `speed`, `stop`, `estop` (one train,
 * or the whole layout, then the controllers' confirmations) and `resume`. A train command's
 * success means the broker took it, not that the train moved. */
#ifndef ROUNDHOUSE_CLI_DRIVE_H
#define ROUNDHOUSE_CLI_DRIVE_H

#include "cli.h"

/* Commands as cli_commands_run calls them: argv holds the command's argc arguments (their
 * count already checked); an enum cli_exit value is returned. */
int cli_cmd_speed(struct cli *c, int argc, char **argv);
int cli_cmd_stop(struct cli *c, int argc, char **argv);
int cli_cmd_estop(struct cli *c, int argc, char **argv);
int cli_cmd_resume(struct cli *c, int argc, char **argv);

#endif
