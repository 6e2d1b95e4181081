/* The columns of the store's tables, shared by both backends: what a row object may hold and
 * how each value converts (store.h lists them). Adding a column: here, plus a migration in
 * each backend. */
#include "store_backend.h"

#include <string.h>

static const struct store_column controller_columns[] = {{"id", 'T'},
                                                         {"name", 'T'},
                                                         {"description", 'T'},
                                                         {"address", 'T'},
                                                         {"enabled", 'B'},
                                                         {"first_seen", 'I'},
                                                         {"last_seen", 'I'},
                                                         {"config_hash", 'T'},
                                                         {"version", 'T'},
                                                         {"platform", 'T'},
                                                         {"hardware_id", 'T'},
                                                         {"memory_mb", 'I'},
                                                         {"cpu_count", 'I'},
                                                         {"config_version", 'I'},
                                                         {"applied_config_version", 'I'},
                                                         {"session_epoch", 'I'},
                                                         {"offline_epoch", 'I'},
                                                         {"secret_hash", 'T'},
                                                         {"metadata", 'J'},
                                                         {"created_at", 'I'},
                                                         {"updated_at", 'I'},
                                                         {NULL, 0}};

static const struct store_column train_columns[] = {{"id", 'T'},
                                                    {"name", 'T'},
                                                    {"description", 'T'},
                                                    {"model", 'T'},
                                                    {"plugin_name", 'T'},
                                                    {"plugin_config", 'J'},
                                                    {"invert_directions", 'B'},
                                                    {"desired_controller_id", 'T'},
                                                    {"actual_controller_id", 'T'},
                                                    {"reassignment_status", 'T'},
                                                    {"last_telemetry_at", 'I'},
                                                    {"address", 'I'},
                                                    {"driving", 'J'},
                                                    {"photo_at", 'I'},
                                                    {"created_at", 'I'},
                                                    {"updated_at", 'I'},
                                                    {NULL, 0}};

static const struct store_column status_columns[] = {
    {"train_id", 'T'},      {"speed", 'I'},       {"direction", 'T'},  {"target_speed", 'I'},
    {"state", 'T'},         {"voltage", 'R'},     {"current", 'R'},    {"position", 'T'},
    {"controller_id", 'T'}, {"reported_at", 'T'}, {"updated_at", 'I'}, {NULL, 0}};

static const struct store_column plugin_columns[] = {
    {"name", 'T'}, {"description", 'T'}, {"config", 'J'}, {NULL, 0}};

const struct store_table store_controllers_table = {.name = "controllers",
                                                    .key = "id",
                                                    .order = "created_at, rowid",
                                                    .columns = controller_columns};
const struct store_table store_trains_table = {.name = "trains",
                                               .key = "id",
                                               .order = "created_at, rowid",
                                               .columns = train_columns,
                                               .unique = "address"};
const struct store_table store_status_table = {
    .name = "train_status", .key = "train_id", .order = "train_id", .columns = status_columns};
const struct store_table store_plugins_table = {
    .name = "plugins", .key = "name", .order = "name", .columns = plugin_columns};
static const struct store_column setting_columns[] = {{"key", 'T'}, {"value", 'J'}, {NULL, 0}};
const struct store_table store_settings_table = {
    .name = "settings", .key = "key", .order = "key", .columns = setting_columns};
static const struct store_column user_columns[] = {{"username", 'T'},      {"role", 'T'},
                                                   {"password_hash", 'T'}, {"created_at", 'I'},
                                                   {"updated_at", 'I'},    {NULL, 0}};
const struct store_table store_users_table = {
    .name = "users", .key = "username", .order = "username", .columns = user_columns};
static const struct store_column credential_columns[] = {
    {"secret_hash", 'T'}, {"id", 'T'},         {"kind", 'T'},       {"username", 'T'},
    {"name", 'T'},        {"created_at", 'I'}, {"expires_at", 'I'}, {NULL, 0}};
const struct store_table store_credentials_table = {.name = "credentials",
                                                    .key = "secret_hash",
                                                    .order = "created_at, rowid",
                                                    .columns = credential_columns,
                                                    .unique = "id"};

const struct store_column *store_find_column(const struct store_table *t, const char *name)
{
    for (const struct store_column *c = t->columns; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}
