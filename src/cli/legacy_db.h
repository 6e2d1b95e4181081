/* The earlier system's SQLite database, read as a Roundhouse registry import document
 * ({"format":"roundhouse-registry", plugins, controllers, trains}), for `roundhouse
 * import-legacy FILE` (docs/migration.md).
 *
 * Every controller keeps its UUID (earlier edges cache theirs and are then recognised at
 * once), every train its controller, plugin and plugin config. The file is opened read-only
 * and never changed. */
#ifndef ROUNDHOUSE_CLI_LEGACY_DB_H
#define ROUNDHOUSE_CLI_LEGACY_DB_H

#include <stddef.h>

#include <jansson.h>

/* Reads the database at path into *doc (a new reference).
 * 0 on success, with a human note in warn for what was adjusted (empty when nothing was);
 * -EINVAL when the file is not a database of the earlier system, or a row cannot be carried
 * over (err names the table, row and column); -EIO when SQLite cannot read it (err says why).
 * *doc is untouched on failure. */
int legacy_db_read(const char *path, json_t **doc, char *err, size_t errlen, char *warn,
                   size_t warnlen);

#endif
