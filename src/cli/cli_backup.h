/* The registry's backup commands of `roundhouse` (docs/cli.md, docs/migration.md): `export`
 * (written atomically), `import` (a file or standard input, checked as JSON before it is
 * sent) and `import-legacy` (the earlier system's SQLite database). */
#ifndef ROUNDHOUSE_CLI_BACKUP_H
#define ROUNDHOUSE_CLI_BACKUP_H

#include "cli.h"

/* Commands as cli_commands_run calls them: argv holds the command's argc arguments (their
 * count already checked); an enum cli_exit value is returned. */
int cli_cmd_export(struct cli *c, int argc, char **argv);
int cli_cmd_import(struct cli *c, int argc, char **argv);
int cli_cmd_import_legacy(struct cli *c, int argc, char **argv);

#endif
