/* The controller commands of `roundhouse` (docs/cli.md): `controllers`, `controller`,
 * `rename-controller`, `describe-controller`, `enable`, `disable`, `delete-controller`,
 * `prune` and `add-train`. A CONTROLLER argument is a UUID or the name of exactly one
 * controller (cli_resolve_controller). */
#ifndef ROUNDHOUSE_CLI_CONTROLLERS_H
#define ROUNDHOUSE_CLI_CONTROLLERS_H

#include "cli.h"

/* Commands as cli_commands_run calls them: argv holds the command's argc arguments (their
 * count already checked); an enum cli_exit value is returned. */
int cli_cmd_controllers(struct cli *c, int argc, char **argv);
int cli_cmd_controller(struct cli *c, int argc, char **argv);
int cli_cmd_rename_controller(struct cli *c, int argc, char **argv);
int cli_cmd_describe_controller(struct cli *c, int argc, char **argv);
int cli_cmd_enable(struct cli *c, int argc, char **argv);
int cli_cmd_disable(struct cli *c, int argc, char **argv);
int cli_cmd_delete_controller(struct cli *c, int argc, char **argv);
int cli_cmd_prune(struct cli *c, int argc, char **argv);
int cli_cmd_add_train(struct cli *c, int argc, char **argv);

#endif
