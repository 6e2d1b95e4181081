#include "views.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "table.h"
#include "timeutil.h"

#define CELL_LEN 256

/* Scalar JSON value as text: strings as they are, numbers, yes/no for booleans, compact
 * JSON for objects and arrays; NULL (printed "-") for null or absent. */
static const char *value_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, len, "%.3g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    if (json_is_object(v) || json_is_array(v)) {
        size_t n = json_dumpb(v, buf, len - 1, JSON_COMPACT);
        if (n == 0 || n >= len - 1) /* does not fit: json_dumpb wrote nothing useful */
            snprintf(buf, len, "%s", json_is_object(v) ? "{...}" : "[...]");
        else
            buf[n] = '\0';
        return buf;
    }
    return NULL;
}

static const char *field(const json_t *obj, const char *key, char *buf, size_t len)
{
    return value_text(json_object_get(obj, key), buf, len);
}

const char *views_time_local(const json_t *iso, bool zone, const char *none, char *buf, size_t len)
{
    const char *s = json_string_value(iso);
    int64_t ms = 0;
    if (s == NULL)
        return none;
    if (timeutil_parse_ms(s, &ms) < 0)
        return s;
    /* Floor division: a time before 1970 must not round towards it. */
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        return s;
    size_t n = zone ? strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm)
                    : strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return n == 0 ? s : buf;
}

const char *views_controller_name(const json_t *controllers, const char *id)
{
    size_t i;
    json_t *c;
    if (id == NULL)
        return NULL;
    json_array_foreach(controllers, i, c)
    {
        const char *cid = json_string_value(json_object_get(c, "id"));
        if (cid != NULL && strcmp(cid, id) == 0)
            return json_string_value(json_object_get(c, "name"));
    }
    return NULL;
}

/* "name (uuid)" when the name is known, the UUID alone otherwise, `none` when unassigned. */
static const char *controller_label(const json_t *controllers, const json_t *id, bool with_id,
                                    const char *none, char *buf, size_t len)
{
    const char *uuid = json_string_value(id);
    if (uuid == NULL)
        return none;
    const char *name = views_controller_name(controllers, uuid);
    if (name == NULL)
        return uuid;
    if (!with_id)
        return name;
    snprintf(buf, len, "%s (%s)", name, uuid);
    return buf;
}

/* Appends s to the list in buf ("a, b"), ending in "..." once it no longer fits. */
static void list_append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);
    if (used >= 3 && strcmp(buf + used - 3, "...") == 0)
        return;
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", s);
    if (n < 0 || (size_t)n >= len - used) {
        size_t keep = len > 4 ? len - 4 : 0;
        snprintf(buf + keep, len - keep, "...");
    }
}

/* A list's table gets row; on failure the table is gone (*t NULL) and finish reports it. */
static void add_row(struct table **t, const char *const *row)
{
    if (table_add_row(*t, row) < 0) {
        table_free(*t);
        *t = NULL;
    }
}

/* An empty list's one line instead of a table. */
static int print_none(FILE *out, const char *line)
{
    fputs(line, out);
    return ferror(out) ? -EIO : 0;
}

static int finish(struct table *t, FILE *out)
{
    int rc = t == NULL ? -ENOMEM : table_print(t, out);
    table_free(t);
    return rc;
}

/* "desired/applied": they differ while a controller has not yet applied its new config. */
static const char *config_versions(const json_t *c, char *buf, size_t len)
{
    char d[32], a[32];
    const char *desired = field(c, "config_version", d, sizeof d);
    const char *applied = field(c, "applied_config_version", a, sizeof a);
    snprintf(buf, len, "%s/%s", desired ? desired : "-", applied ? applied : "-");
    return buf;
}

int views_controllers_print(FILE *out, const json_t *controllers)
{
    static const char *const headers[] = {"NAME",      "ID",     "STATUS", "ADDRESS",
                                          "LAST SEEN", "CONFIG", "TRAINS"};
    if (json_array_size(controllers) == 0)
        return print_none(out, "no controllers registered\n");
    struct table *t = table_new(7, headers);
    size_t i, j;
    json_t *c, *train;
    json_array_foreach(controllers, i, c)
    {
        if (t == NULL)
            break;
        char b[5][CELL_LEN], trains[CELL_LEN] = "";
        json_array_foreach(json_object_get(c, "trains"), j, train)
        {
            const char *id = json_string_value(json_object_get(train, "id"));
            list_append(trains, sizeof trains, id ? id : "?");
        }
        const char *row[] = {
            field(c, "name", b[0], CELL_LEN),
            field(c, "id", b[1], CELL_LEN),
            field(c, "status", b[2], CELL_LEN),
            field(c, "address", b[3], CELL_LEN),
            views_time_local(json_object_get(c, "last_seen"), false, "never", b[4], CELL_LEN),
            NULL,
            trains[0] ? trains : NULL,
        };
        char cfg[64], cfg_err[80];
        row[5] = config_versions(c, cfg, sizeof cfg);
        if (json_is_string(json_object_get(c, "config_error"))) {
            /* The controller refused or rolled back its config: `controller ID` says why. */
            snprintf(cfg_err, sizeof cfg_err, "%s refused", row[5]);
            row[5] = cfg_err;
        }
        add_row(&t, row);
    }
    return finish(t, out);
}

/* Speed with the ramp's target while they differ: "30 -> 50". */
static const char *speed_text(const json_t *status, char *buf, size_t len)
{
    const json_t *speed = json_object_get(status, "speed");
    const json_t *target = json_object_get(status, "target_speed");
    char s[32];
    const char *st = value_text(speed, s, sizeof s);
    if (st == NULL)
        return NULL;
    if (json_is_number(target) && !json_equal((json_t *)speed, (json_t *)target)) {
        char g[32];
        snprintf(buf, len, "%s -> %s", st, value_text(target, g, sizeof g));
        return buf;
    }
    snprintf(buf, len, "%s", st);
    return buf;
}

int views_trains_print(FILE *out, const json_t *trains, const json_t *controllers)
{
    static const char *const headers[] = {"ID",    "NAME",      "CONTROLLER", "PLACEMENT",
                                          "SPEED", "DIRECTION", "STATE"};
    if (json_array_size(trains) == 0)
        return print_none(out, "no trains registered\n");
    struct table *t = table_new(7, headers);
    size_t i;
    json_t *tr;
    json_array_foreach(trains, i, tr)
    {
        if (t == NULL)
            break;
        char b[7][CELL_LEN];
        const json_t *status = json_object_get(tr, "status");
        const json_t *owner = json_object_get(tr, "controller_id");
        const char *row[] = {
            field(tr, "id", b[0], CELL_LEN),
            field(tr, "name", b[1], CELL_LEN),
            controller_label(controllers, owner, false, NULL, b[2], CELL_LEN),
            /* Placement only means something for an assigned train. */
            json_is_string(owner) ? field(tr, "reassignment_status", b[3], CELL_LEN) : NULL,
            speed_text(status, b[4], CELL_LEN),
            field(status, "direction", b[5], CELL_LEN),
            field(status, "state", b[6], CELL_LEN),
        };
        add_row(&t, row);
    }
    return finish(t, out);
}

/* Detail lines share one buffer: table_add_pair copies the value at once. */
struct details {
    struct table *t;
    char buf[512];
    int rc;
};

static void add(struct details *d, const char *key, const char *value)
{
    if (d->t == NULL || d->rc < 0)
        return;
    d->rc = table_add_pair(d->t, key, value);
}

static void add_field(struct details *d, const char *key, const json_t *obj, const char *name)
{
    add(d, key, field(obj, name, d->buf, sizeof d->buf));
}

static void add_time(struct details *d, const char *key, const json_t *obj, const char *name,
                     const char *none)
{
    add(d, key, views_time_local(json_object_get(obj, name), true, none, d->buf, sizeof d->buf));
}

static int details_finish(struct details *d, FILE *out)
{
    if (d->t == NULL)
        return -ENOMEM;
    int rc = d->rc < 0 ? d->rc : table_print(d->t, out);
    table_free(d->t);
    return rc;
}

int views_controller_print(FILE *out, const json_t *c)
{
    struct details d = {.t = table_new(2, NULL)};
    char cfg[64];
    size_t i;
    json_t *train;
    add_field(&d, "name", c, "name");
    add_field(&d, "id", c, "id");
    add_field(&d, "description", c, "description");
    add_field(&d, "address", c, "address");
    add_field(&d, "enabled", c, "enabled");
    add_field(&d, "status", c, "status");
    add_time(&d, "first seen", c, "first_seen", "-");
    add_time(&d, "last seen", c, "last_seen", "never");
    add_field(&d, "version", c, "version");
    add_field(&d, "platform", c, "platform");
    add_field(&d, "memory (MB)", c, "memory_mb");
    add_field(&d, "cpus", c, "cpu_count");
    /* The desired version runs ahead of the applied one until the controller catches up. */
    const char *desired = field(c, "config_version", cfg, sizeof cfg);
    const json_t *applied = json_object_get(c, "applied_config_version");
    if (json_is_integer(applied))
        snprintf(d.buf, sizeof d.buf, "%s, applied %" JSON_INTEGER_FORMAT, desired ? desired : "-",
                 json_integer_value(applied));
    else
        snprintf(d.buf, sizeof d.buf, "%s, not applied yet", desired ? desired : "-");
    add(&d, "config version", d.buf);
    if (json_is_string(json_object_get(c, "config_error")))
        add_field(&d, "config error", c, "config_error");
    d.buf[0] = '\0';
    const json_t *err;
    json_array_foreach(json_object_get(json_object_get(c, "metadata"), "errors"), i, err)
    {
        /* The config error is shown above already. */
        if (json_is_string(err) && !json_equal((json_t *)err, json_object_get(c, "config_error")))
            list_append(d.buf, sizeof d.buf, json_string_value(err));
    }
    if (d.buf[0])
        add(&d, "reported errors", d.buf);
    const json_t *back = json_object_get(json_object_get(c, "metadata"), "returned_after_delete");
    if (json_is_string(back)) {
        snprintf(d.buf, sizeof d.buf,
                 "deleted %s, came back: its edge still runs (stop it or clear its state to keep "
                 "it gone)",
                 json_string_value(back));
        add(&d, "warning", d.buf);
    }
    if (json_is_string(json_object_get(c, "python_version")))
        add_field(&d, "python", c, "python_version");
    add_field(&d, "config hash", c, "config_hash");
    add_field(&d, "session epoch", c, "session_epoch");
    d.buf[0] = '\0';
    json_array_foreach(json_object_get(c, "trains"), i, train)
    {
        char item[CELL_LEN];
        const char *id = json_string_value(json_object_get(train, "id"));
        const char *name = json_string_value(json_object_get(train, "name"));
        snprintf(item, sizeof item, "%s%s%s%s", id ? id : "?", name ? " (" : "", name ? name : "",
                 name ? ")" : "");
        list_append(d.buf, sizeof d.buf, item);
    }
    add(&d, "trains", d.buf[0] ? d.buf : NULL);
    return details_finish(&d, out);
}

int views_train_print(FILE *out, const json_t *tr, const json_t *controllers)
{
    struct details d = {.t = table_new(2, NULL)};
    const json_t *status = json_object_get(tr, "status");
    const json_t *plugin = json_object_get(tr, "plugin");
    const json_t *owner = json_object_get(tr, "controller_id");
    add_field(&d, "id", tr, "id");
    add_field(&d, "address", tr, "address");
    add_field(&d, "name", tr, "name");
    add_field(&d, "description", tr, "description");
    add_field(&d, "model", tr, "model");
    const char *pname = json_string_value(json_object_get(plugin, "name"));
    const json_t *pcfg = json_object_get(plugin, "config");
    if (pname != NULL && json_object_size(pcfg) > 0) {
        char cfg[384];
        snprintf(d.buf, sizeof d.buf, "%s %s", pname, value_text(pcfg, cfg, sizeof cfg));
        add(&d, "plugin", d.buf);
    } else {
        add(&d, "plugin", pname);
    }
    add_field(&d, "invert directions", tr, "invert_directions");
    add(&d, "controller", controller_label(controllers, owner, true, "none", d.buf, sizeof d.buf));
    add(&d, "running on",
        controller_label(controllers, json_object_get(tr, "actual_controller_id"), true, NULL,
                         d.buf, sizeof d.buf));
    add(&d, "placement",
        json_is_string(owner) ? field(tr, "reassignment_status", d.buf, sizeof d.buf) : NULL);
    if (json_is_string(json_object_get(tr, "reassignment_reason")))
        add_field(&d, "placement note", tr, "reassignment_reason");
    add(&d, "speed", speed_text(status, d.buf, sizeof d.buf));
    add_field(&d, "direction", status, "direction");
    add_field(&d, "state", status, "state");
    add_time(&d, "status reported", status, "timestamp", "never");
    return details_finish(&d, out);
}

int views_status_print(FILE *out, const json_t *st, const json_t *controllers)
{
    struct details d = {.t = table_new(2, NULL)};
    add_field(&d, "train", st, "train_id");
    add_field(&d, "speed", st, "speed");
    add_field(&d, "target speed", st, "target_speed");
    add_field(&d, "direction", st, "direction");
    add_field(&d, "state", st, "state");
    add_field(&d, "voltage", st, "voltage");
    add_field(&d, "current", st, "current");
    add_field(&d, "position", st, "position");
    add(&d, "controller",
        controller_label(controllers, json_object_get(st, "controller_id"), true, NULL, d.buf,
                         sizeof d.buf));
    add_time(&d, "reported", st, "timestamp", "never");
    return details_finish(&d, out);
}

int views_health_print(FILE *out, const json_t *h)
{
    struct details d = {.t = table_new(2, NULL)};
    add_field(&d, "status", h, "status");
    if (json_is_string(json_object_get(h, "reason")))
        add_field(&d, "reason", h, "reason");
    add_field(&d, "database", h, "database");
    add_field(&d, "mqtt connected", h, "mqtt_connected");
    const json_t *up = json_object_get(h, "uptime_seconds");
    if (json_is_integer(up)) {
        json_int_t s = json_integer_value(up);
        snprintf(d.buf, sizeof d.buf,
                 "%" JSON_INTEGER_FORMAT "d %02" JSON_INTEGER_FORMAT ":%02" JSON_INTEGER_FORMAT
                 ":%02" JSON_INTEGER_FORMAT,
                 s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
        add(&d, "uptime", d.buf);
    } else {
        add(&d, "uptime", NULL);
    }
    add_field(&d, "version", h, "version");
    return details_finish(&d, out);
}
