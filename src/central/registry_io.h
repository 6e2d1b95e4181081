/* The whole registry as one JSON document: export, import (UUIDs preserved), and the
 * earlier system's config.yaml bootstrap (see bootstrap.h for its validation).
 *
 * Export document:
 *   {"format": "roundhouse-registry", "format_version": 1, "exported_at": ISO,
 *    "plugins": [{name, description, config}],
 *    "controllers": [{id, name, description, address, enabled, first_seen, last_seen,
 *                     version, platform, hardware_id, config_version, metadata}],
 *    "trains": [{id, name, description, model, plugin: {name, config}, invert_directions,
 *                controller_id, address (1-9999; assigned when absent)}]}
 * Import takes the same document; every controller and train in it is created or updated, in
 * one transaction, and the config_version of every controller whose runtime config may have
 * changed rises above both its stored and its imported value. */
#ifndef ROUNDHOUSE_REGISTRY_IO_H
#define ROUNDHOUSE_REGISTRY_IO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct central;
struct jsonx_err;

/* A train's "plugin" object {name?, config?}, as the import and the train requests of the API
 * take it: *name (NULL when absent) and *config (NULL when absent, borrowed from plugin).
 * 0, or -1 with err naming the field as plugin.KEY. */
int registry_io_plugin_parse(const json_t *plugin, const char **name, json_t **config,
                             struct jsonx_err *err);

int registry_export(struct central *c, int64_t now, json_t **out);
/* -EINVAL with field/detail filled for an invalid document (nothing changed); -EIO etc. for
 * database failures. *summary: {"status":"ok", "controllers": n, "trains": n, "plugins": n}. */
int registry_import(struct central *c, const json_t *doc, int64_t now, json_t **summary,
                    char *field, size_t fieldlen, char *detail, size_t detaillen);
/* Applies a validated bootstrap document (bootstrap_parse): creates what is missing and
 * leaves existing records alone, so applying the same file again creates nothing. A
 * controller without an id is matched by name. *created: {"controllers": n, "trains": n,
 * "plugins": n}. */
int registry_bootstrap(struct central *c, const json_t *doc, int64_t now, json_t **created);

#endif
