/* The train commands of `roundhouse` (docs/cli.md): `trains`, `train`, `status`, `assign`,
 * `rename-train`, `set-driving` and `delete-train`. */
#ifndef ROUNDHOUSE_CLI_TRAINS_H
#define ROUNDHOUSE_CLI_TRAINS_H

#include "cli.h"

/* Commands as cli_commands_run calls them: argv holds the command's argc arguments (their
 * count already checked); an enum cli_exit value is returned. */
int cli_cmd_trains(struct cli *c, int argc, char **argv);
int cli_cmd_train(struct cli *c, int argc, char **argv);
int cli_cmd_status(struct cli *c, int argc, char **argv);
int cli_cmd_assign(struct cli *c, int argc, char **argv);
int cli_cmd_rename_train(struct cli *c, int argc, char **argv);
int cli_cmd_set_address(struct cli *c, int argc, char **argv);
int cli_cmd_set_driving(struct cli *c, int argc, char **argv);
int cli_cmd_delete_train(struct cli *c, int argc, char **argv);

#endif
