/* Validation of the earlier system's config.yaml; see bootstrap.h for the rules. */
#include "bootstrap.h"

#include "parse.h"
#include "protocol.h"
#include "uuidstr.h"
#include "yamljson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PATH_MAX_LEN 160 /* "edge_controllers[N].trains[N].plugin" with 20-digit indices fits */
#define QUOTE_MAX 40     /* how much of a bad value an error message repeats */

struct ctx {
    char *err;
    size_t errlen;
};

/* Writes "PATH.KEY: message" (or "PATH: message" when key is NULL, or "KEY: message" at the
 * top level) and returns -EINVAL. */
static int bad(struct ctx *c, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(struct ctx *c, const char *path, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    int n;

    if (!c->err || c->errlen == 0)
        return -EINVAL;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap); /* a cut message still names the place */
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (path && *path && key) {
        n = snprintf(c->err, c->errlen, "%s.%s: %s", path, key, msg);
    } else {
        const char *where = "document";
        if (path && *path)
            where = path;
        else if (key)
            where = key;
        n = snprintf(c->err, c->errlen, "%s: %s", where, msg);
    }
    if (n >= 0 && (size_t)n >= c->errlen && c->errlen > 4)
        memcpy(c->err + c->errlen - 4, "...", 4);
    return -EINVAL;
}

static int oom(struct ctx *c)
{
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "out of memory");
    return -ENOMEM;
}

static const char *type_name(const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

static int path_index(char *dst, size_t dstlen, const char *parent, const char *key, size_t i)
{
    int n;

    if (parent && *parent)
        n = snprintf(dst, dstlen, "%s.%s[%zu]", parent, key, i);
    else
        n = snprintf(dst, dstlen, "%s[%zu]", key, i);
    return n < 0 || (size_t)n >= dstlen ? -EOVERFLOW : 0;
}

/* Sets obj[key] = v, consuming v; v == NULL (a failed constructor) counts as out of memory. */
static int put(json_t *obj, const char *key, json_t *v)
{
    if (!v)
        return -ENOMEM;
    return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static void trim(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;

    while (n > 0 && strchr(" \t\r\n", p[0]))
        p++, n--;
    while (n > 0 && strchr(" \t\r\n", p[n - 1]))
        n--;
    *s = p;
    *len = n;
}

/* A trimmed text field. Absent, null or empty: an error when required, else *out = JSON null.
 * *out is a new reference. */
static int field_text(struct ctx *c, const json_t *obj, const char *path, const char *key,
                      bool required, size_t maxchars, json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    const char *s;
    size_t len;

    if (v == NULL || json_typeof(v) == JSON_NULL) {
        if (required)
            return bad(c, path, key, "missing (required)");
        *out = json_null();
        return 0;
    }
    if (!json_is_string(v))
        return bad(c, path, key, "must be a string, not %s (quote the value)", type_name(v));
    s = json_string_value(v);
    len = json_string_length(v);
    trim(&s, &len);
    if (len == 0) {
        if (required)
            return bad(c, path, key, "must not be empty");
        *out = json_null();
        return 0;
    }
    if (memchr(s, '\0', len))
        return bad(c, path, key, "contains a NUL character");
    if (utf8_chars(s, len) > maxchars)
        return bad(c, path, key, "longer than %zu characters", maxchars);
    *out = json_stringn(s, len);
    return *out ? 0 : oom(c);
}

static int field_bool(struct ctx *c, const json_t *obj, const char *path, const char *key,
                      bool dflt, json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    bool b = dflt;

    if (v == NULL || json_typeof(v) == JSON_NULL) {
        b = dflt;
    } else if (json_is_boolean(v)) {
        b = json_is_true(v);
    } else if (!json_is_string(v) || parse_bool(json_string_value(v), &b) < 0) {
        if (json_is_string(v))
            return bad(c, path, key, "'%.*s' is not a boolean (use true or false)", QUOTE_MAX,
                       json_string_value(v));
        return bad(c, path, key, "must be true or false, not %s", type_name(v));
    }
    *out = json_boolean(b);
    return 0;
}

/* A mapping copied as is; absent or null gives {}. */
static int field_mapping(struct ctx *c, const json_t *obj, const char *path, const char *key,
                         json_t **out)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL || json_typeof(v) == JSON_NULL)
        *out = json_object();
    else if (json_is_object(v))
        *out = json_deep_copy(v);
    else
        return bad(c, path, key, "must be a mapping, not %s", type_name(v));
    return *out ? 0 : oom(c);
}

/* A list (borrowed). Absent: an error when required, else *out = NULL; null: *out = NULL. */
static int field_list(struct ctx *c, const json_t *obj, const char *path, const char *key,
                      bool required, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v) {
        if (required)
            return bad(c, path, key, "missing (required list)");
        return 0;
    }
    if (json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(c, path, key, "must be a list, not %s", type_name(v));
    *out = v;
    return 0;
}

/* `${UUID}`, empty, `none`, `null` (trimmed, any case): the earlier format's "generate one". */
static bool is_placeholder(const char *s, size_t len)
{
    static const char *const words[] = {"${uuid}", "none", "null"};

    trim(&s, &len);
    if (len == 0)
        return true;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (len == strlen(words[i]) && !strncasecmp(s, words[i], len))
            return true;
    return false;
}

static int controller_id(struct ctx *c, const json_t *obj, const char *path, json_t **out)
{
    const json_t *v = json_object_get(obj, "id");
    char canon[UUIDSTR_LEN + 1];
    const char *s;

    if (!v)
        return bad(c, path, "id", "missing (required; write ${UUID} to generate one)");
    if (json_is_null(v)) {
        *out = json_null();
        return 0;
    }
    if (!json_is_string(v))
        return bad(c, path, "id", "must be a UUID string, not %s", type_name(v));
    s = json_string_value(v);
    if (is_placeholder(s, json_string_length(v))) {
        *out = json_null();
        return 0;
    }
    if (memchr(s, '\0', json_string_length(v)) || uuidstr_normalize(s, canon) < 0)
        return bad(c, path, "id",
                   "'%.*s' is not a UUID (expected 8-4-4-4-12 hex digits, or ${UUID} to "
                   "generate one)",
                   QUOTE_MAX, s);
    *out = json_string(canon);
    return *out ? 0 : oom(c);
}

static int train_id(struct ctx *c, const json_t *obj, const char *path, json_t **out)
{
    const json_t *v = json_object_get(obj, "id");
    char num[32];
    const char *s;
    size_t len;

    if (!v)
        return bad(c, path, "id", "missing (required; write ${UUID} to generate one)");
    if (json_is_null(v)) {
        *out = json_null();
        return 0;
    }
    if (json_is_integer(v)) {
        int n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (n < 0 || (size_t)n >= sizeof(num))
            return bad(c, path, "id", "integer cannot be formatted");
        s = num;
        len = (size_t)n;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);
    } else {
        return bad(c, path, "id", "must be a string, not %s", type_name(v));
    }
    if (is_placeholder(s, len)) {
        *out = json_null();
        return 0;
    }
    trim(&s, &len);
    if (utf8_chars(s, len) > PROTO_TRAIN_ID_MAX)
        return bad(c, path, "id", "longer than %d characters", PROTO_TRAIN_ID_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        /* The id is a segment of trains/{id}/commands: MQTT separators and wildcards would
         * route commands to the wrong train. */
        if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '+' || ch == '#')
            return bad(c, path, "id",
                       "'%.*s' may not contain whitespace, control characters, '/', '+' or '#'",
                       QUOTE_MAX, s);
    }
    *out = json_stringn(s, len);
    return *out ? 0 : oom(c);
}

/* seen maps a value to the path where it first appeared. 0 when new (recorded), -EINVAL with
 * a message when already present. */
static int unique(struct ctx *c, json_t *seen, const char *value, const char *path, const char *key,
                  const char *what)
{
    const json_t *first = json_object_get(seen, value);

    if (first)
        return bad(c, path, key, "duplicate %s '%.*s' (first at %s)", what, QUOTE_MAX, value,
                   json_string_value(first));
    return json_object_set_new(seen, value, json_string(path)) < 0 ? oom(c) : 0;
}

/* item, an entry of a list, must be a mapping: *obj a new object for its fields. */
static int mapping_new(struct ctx *c, const json_t *item, const char *path, json_t **obj)
{
    if (!json_is_object(item))
        return bad(c, path, NULL, "must be a mapping, not %s", type_name(item));
    *obj = json_object();
    return *obj ? 0 : oom(c);
}

struct text_field {
    const char *key;
    bool required;
    size_t max;
};

/* The text fields f[0..n) of item, checked (field_text), into obj. */
static int put_texts(struct ctx *c, const json_t *item, const char *path, json_t *obj,
                     const struct text_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = NULL;
        int rc = field_text(c, item, path, f[i].key, f[i].required, f[i].max, &v);
        if (rc < 0)
            return rc;
        if (put(obj, f[i].key, v) < 0)
            return oom(c);
    }
    return 0;
}

static int plugin_parse(struct ctx *c, const json_t *item, const char *path, json_t *seen,
                        json_t **out)
{
    json_t *p = NULL;
    json_t *v = NULL;
    int rc = mapping_new(c, item, path, &p);

    if (rc < 0)
        return rc;
    rc = field_text(c, item, path, "name", true, PROTO_PLUGIN_NAME_MAX, &v);
    if (rc < 0)
        goto out;
    rc = unique(c, seen, json_string_value(v), path, "name", "plugin name");
    if (rc < 0) {
        json_decref(v);
        goto out;
    }
    if (put(p, "name", v) < 0)
        goto nomem;
    if ((rc = field_text(c, item, path, "description", false, PROTO_DESCRIPTION_MAX, &v)) < 0)
        goto out;
    if (put(p, "description", v) < 0)
        goto nomem;
    if ((rc = field_mapping(c, item, path, "config", &v)) < 0)
        goto out;
    if (put(p, "config", v) < 0)
        goto nomem;
    *out = p;
    return 0;
nomem:
    rc = oom(c);
out:
    json_decref(p);
    return rc;
}

static int train_plugin(struct ctx *c, const json_t *train, const char *path, json_t **out)
{
    const json_t *v = json_object_get(train, "plugin");
    char sub[PATH_MAX_LEN];
    json_t *p = NULL;
    json_t *name = NULL;
    json_t *config = NULL;
    int n;
    int rc;

    if (v && !json_is_null(v) && !json_is_object(v))
        return bad(c, path, "plugin", "must be a mapping with name and config, not %s",
                   type_name(v));
    n = snprintf(sub, sizeof(sub), "%s.plugin", path);
    if (n < 0 || (size_t)n >= sizeof(sub))
        return bad(c, path, "plugin", "path too long");
    if (v && json_is_object(v)) {
        if ((rc = field_text(c, v, sub, "name", false, PROTO_PLUGIN_NAME_MAX, &name)) < 0)
            goto out;
        if ((rc = field_mapping(c, v, sub, "config", &config)) < 0)
            goto out;
    }
    if (name == NULL || json_typeof(name) == JSON_NULL) {
        json_decref(name);
        name = json_string(BOOTSTRAP_DEFAULT_PLUGIN);
    }
    if (!config)
        config = json_object();
    p = json_object();
    if (!p) {
        rc = oom(c);
        goto out;
    }
    rc = put(p, "name", name);
    name = NULL;
    if (rc == 0) {
        rc = put(p, "config", config);
        config = NULL;
    }
    if (rc < 0) {
        rc = oom(c);
        goto out;
    }
    *out = p;
    p = NULL;
out:
    json_decref(name);
    json_decref(config);
    json_decref(p);
    return rc;
}

/* Fields of one train; id uniqueness is checked by the caller. */
static int train_parse(struct ctx *c, const json_t *item, const char *path, json_t **out)
{
    static const struct text_field texts[] = {
        {"name", true, PROTO_NAME_MAX},
        {"description", false, PROTO_DESCRIPTION_MAX},
        {"model", false, PROTO_MODEL_MAX},
    };
    json_t *t = NULL;
    json_t *v = NULL;
    int rc = mapping_new(c, item, path, &t);

    if (rc < 0)
        return rc;
    if ((rc = train_id(c, item, path, &v)) < 0)
        goto out;
    if (put(t, "id", v) < 0)
        goto nomem;
    if ((rc = put_texts(c, item, path, t, texts, sizeof(texts) / sizeof(texts[0]))) < 0)
        goto out;
    if ((rc = train_plugin(c, item, path, &v)) < 0)
        goto out;
    if (put(t, "plugin", v) < 0)
        goto nomem;
    if ((rc = field_bool(c, item, path, "invert_directions", false, &v)) < 0)
        goto out;
    if (put(t, "invert_directions", v) < 0)
        goto nomem;
    *out = t;
    return 0;
nomem:
    rc = oom(c);
out:
    json_decref(t);
    return rc;
}

/* Counts of each "name" among items whose id may be null; then every null-id item must have a
 * count of 1. what names the kind of item in the message. */
static int generated_names_unique(struct ctx *c, const json_t *items, const char *parent,
                                  const char *listkey, const char *what)
{
    json_t *counts = json_object();
    char path[PATH_MAX_LEN];
    const json_t *it;
    size_t i;
    int rc = 0;

    if (!counts)
        return oom(c);
    json_array_foreach(items, i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        const json_t *cnt = json_object_get(counts, name);
        json_int_t n = cnt ? json_integer_value(cnt) : 0;

        if (json_object_set_new(counts, name, json_integer(n + 1)) < 0) {
            rc = oom(c);
            goto out;
        }
    }
    json_array_foreach(items, i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));

        if (!json_is_null(json_object_get(it, "id")) ||
            json_integer_value(json_object_get(counts, name)) < 2)
            continue;
        if (path_index(path, sizeof(path), parent, listkey, i) < 0) {
            rc = bad(c, parent, listkey, "path too long");
            goto out;
        }
        rc = bad(c, path, "name",
                 "%s name '%.*s' is used more than once; a %s without a fixed id needs a "
                 "unique name to be recognised on the next import",
                 what, QUOTE_MAX, name, what);
        goto out;
    }
out:
    json_decref(counts);
    return rc;
}

static int controller_parse(struct ctx *c, const json_t *item, const char *path, json_t *train_ids,
                            json_t **out)
{
    static const struct text_field texts[] = {
        {"name", true, PROTO_NAME_MAX},
        {"description", false, PROTO_DESCRIPTION_MAX},
        {"address", false, PROTO_ADDRESS_MAX},
    };
    char tpath[PATH_MAX_LEN];
    const json_t *list = NULL;
    const json_t *it;
    json_t *ctl = NULL;
    json_t *trains = NULL;
    json_t *v = NULL;
    size_t i;
    int rc = mapping_new(c, item, path, &ctl);

    if (rc < 0)
        return rc;
    if ((rc = controller_id(c, item, path, &v)) < 0)
        goto out;
    if (put(ctl, "id", v) < 0)
        goto nomem;
    if ((rc = put_texts(c, item, path, ctl, texts, sizeof(texts) / sizeof(texts[0]))) < 0)
        goto out;
    if ((rc = field_bool(c, item, path, "enabled", true, &v)) < 0)
        goto out;
    if (put(ctl, "enabled", v) < 0)
        goto nomem;

    if ((rc = field_list(c, item, path, "trains", false, &list)) < 0)
        goto out;
    trains = json_array();
    if (!trains || json_object_set(ctl, "trains", trains) < 0)
        goto nomem;
    json_array_foreach(list, i, it)
    {
        const char *id;

        if (path_index(tpath, sizeof(tpath), path, "trains", i) < 0) {
            rc = bad(c, path, "trains", "path too long");
            goto out;
        }
        if ((rc = train_parse(c, it, tpath, &v)) < 0)
            goto out;
        if (json_array_append_new(trains, v) < 0)
            goto nomem;
        id = json_string_value(json_object_get(v, "id"));
        if (id && (rc = unique(c, train_ids, id, tpath, "id", "train id")) < 0)
            goto out;
    }
    if ((rc = generated_names_unique(c, trains, path, "trains", "train")) < 0)
        goto out;
    *out = ctl;
    ctl = NULL;
    rc = 0;
    goto out;
nomem:
    rc = oom(c);
out:
    json_decref(trains);
    json_decref(ctl);
    return rc;
}

int bootstrap_parse(const json_t *yaml_tree, json_t **out, char *err, size_t errlen)
{
    struct ctx c = {.err = err, .errlen = errlen};
    char path[PATH_MAX_LEN];
    const json_t *list = NULL;
    const json_t *it;
    json_t *doc = NULL;
    json_t *plugins = NULL;
    json_t *controllers = NULL;
    json_t *plugin_names = NULL;
    json_t *controller_ids = NULL;
    json_t *train_ids = NULL;
    json_t *v = NULL;
    size_t i;
    int rc = 0;

    if (!out)
        return -EINVAL;
    if (!json_is_object(yaml_tree))
        return bad(&c, NULL, NULL,
                   "must be a mapping with 'plugins' and 'edge_controllers', not %s",
                   yaml_tree ? type_name(yaml_tree) : "nothing");
    doc = json_object();
    plugins = json_array();
    controllers = json_array();
    plugin_names = json_object();
    controller_ids = json_object();
    train_ids = json_object();
    if (!doc || !plugins || !controllers || !plugin_names || !controller_ids || !train_ids)
        goto nomem;
    if (json_object_set(doc, "plugins", plugins) < 0 ||
        json_object_set(doc, "controllers", controllers) < 0)
        goto nomem;

    if ((rc = field_list(&c, yaml_tree, NULL, "plugins", false, &list)) < 0)
        goto out;
    json_array_foreach(list, i, it)
    {
        if (path_index(path, sizeof(path), NULL, "plugins", i) < 0)
            goto nomem; /* cannot happen: the path buffer fits any index */
        if ((rc = plugin_parse(&c, it, path, plugin_names, &v)) < 0)
            goto out;
        if (json_array_append_new(plugins, v) < 0)
            goto nomem;
    }

    if ((rc = field_list(&c, yaml_tree, NULL, "edge_controllers", true, &list)) < 0)
        goto out;
    json_array_foreach(list, i, it)
    {
        const char *id;

        if (path_index(path, sizeof(path), NULL, "edge_controllers", i) < 0)
            goto nomem;
        if ((rc = controller_parse(&c, it, path, train_ids, &v)) < 0)
            goto out;
        if (json_array_append_new(controllers, v) < 0)
            goto nomem;
        id = json_string_value(json_object_get(v, "id"));
        if (id && (rc = unique(&c, controller_ids, id, path, "id", "controller id")) < 0)
            goto out;
    }
    if ((rc = generated_names_unique(&c, controllers, NULL, "edge_controllers", "controller")) < 0)
        goto out;

    *out = doc;
    doc = NULL;
    rc = 0;
    goto out;
nomem:
    rc = oom(&c);
out:
    json_decref(doc);
    json_decref(plugins);
    json_decref(controllers);
    json_decref(plugin_names);
    json_decref(controller_ids);
    json_decref(train_ids);
    return rc;
}

int bootstrap_load_file(const char *path, json_t **out, char *err, size_t errlen)
{
    json_t *tree = NULL;
    char msg[512];
    int rc;
    int n;

    if (!path || !out)
        return -EINVAL;
    rc = yamljson_load_file(path, BOOTSTRAP_MAX_FILE_BYTES, &tree, err, errlen);
    if (rc < 0)
        goto out;
    msg[0] = '\0';
    rc = bootstrap_parse(tree, out, msg, sizeof(msg));
    if (rc < 0 && err && errlen) {
        n = snprintf(err, errlen, "%s: %s", path, msg);
        if (n >= 0 && (size_t)n >= errlen && errlen > 4)
            memcpy(err + errlen - 4, "...", 4);
    }
out:
    json_decref(tree);
    return rc;
}
