/* The bootstrap file (--bootstrap FILE, CENTRAL_API_CONFIG_YAML): the earlier system's
 * config.yaml, validated and normalised into the document the central imports.
 *
 * Accepted input (a YAML mapping; unknown keys anywhere are ignored, as the earlier system
 * ignored them, so every file it accepted still loads):
 *
 *   plugins:           list, optional (missing or empty = no plugins)
 *     - name           required, 1-100 characters, unique in the file
 *       description    optional, <= 500 characters
 *       config         optional mapping, copied as is (the earlier files hold a schema here)
 *   edge_controllers:  list, required (may be empty)
 *     - id             required: a UUID in any case, or one of `${UUID}`, empty, `none`,
 *                      `null` (trimmed, any case) or YAML null = "generate one"
 *       name           required, 1-100 characters
 *       description    optional, <= 500 characters
 *       address        optional, <= 255 characters
 *       enabled        optional boolean, default true
 *       trains:        list, optional
 *         - id         required: 1-100 characters without whitespace, '/', '+', '#' (it becomes
 *                      part of MQTT topics); an integer is taken as its decimal text; the same
 *                      placeholders as for controllers mean "generate one"
 *           name       required, 1-100 characters
 *           description, model   optional, <= 500 / <= 200 characters
 *           invert_directions    optional boolean, default false
 *           plugin     optional mapping {name (default "dc_motor"), config (mapping, default {})}
 *
 * Normalisation: names, ids and texts are trimmed of surrounding whitespace (block scalars end
 * in a newline); an optional text that is empty after trimming becomes null. Lengths count
 * characters (UTF-8 code points). Booleans may also be written as the strings true/false,
 * yes/no, on/off, 1/0 (any case), because the earlier system read its file as YAML 1.1.
 *
 * Uniqueness, so that importing the same file twice changes nothing: plugin names, controller
 * UUIDs and train ids are unique in the file; a controller whose id is generated must have a
 * name no other controller in the file has (the importer recognises it by name on the next
 * start — the earlier system inserted a new copy on every start), and a train whose id is
 * generated must have a name unique on its controller (same reason).
 *
 * Output (a new document, owned by the caller):
 *   {"plugins": [{"name", "description": str|null, "config": {}}],
 *    "controllers": [{"id": "<canonical lower-case uuid>"|null, "name", "description": str|null,
 *                     "address": str|null, "enabled": bool,
 *                     "trains": [{"id": str|null, "name", "description": str|null,
 *                                 "model": str|null, "plugin": {"name", "config": {}},
 *                                 "invert_directions": bool}]}]}
 * A null "id" means: reuse the record the earlier import created under that name (controller:
 * same name; train: same name on the same controller), otherwise generate a fresh id.
 *
 * Errors: 0 on success (*out set). On failure *out is untouched, err receives a message naming
 * the place and the problem, e.g.
 *   "config.yaml: edge_controllers[1].trains[0].id: missing (required)"
 *   "config.yaml:12:3: duplicate key 'name'"              (YAML level, from yamljson)
 * and the return value is -EINVAL (invalid document), -ENOMEM, -EFBIG (file over
 * BOOTSTRAP_MAX_FILE_BYTES) or the negative errno of reading the file. */
#ifndef ROUNDHOUSE_BOOTSTRAP_H
#define ROUNDHOUSE_BOOTSTRAP_H

#include <jansson.h>
#include <stddef.h>

#define BOOTSTRAP_MAX_FILE_BYTES ((size_t)1024 * 1024)

#define BOOTSTRAP_DEFAULT_PLUGIN "dc_motor"

/* Validates a tree loaded by yamljson (not modified, not retained). Messages carry the path in
 * the document but no file name. */
int bootstrap_parse(const json_t *yaml_tree, json_t **out, char *err, size_t errlen);

/* Loads and validates a file; messages start with the path. */
int bootstrap_load_file(const char *path, json_t **out, char *err, size_t errlen);

#endif
