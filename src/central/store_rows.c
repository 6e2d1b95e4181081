/* The row operations of store.h, written once for both backends: the SQL (parameters marked
 * '?' on both) and the rules around it (a missing row is -ENOENT, a taken key -EEXIST, a
 * photo sets its train's photo_at, ...). The backends run the statements (store_backend.h:
 * select, exec); the columns and their types are store_tables.c's. */
#include "store_backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

/* ---- statements ---- */

static int collect(void *ctx, const json_t *row)
{
    return json_array_append(ctx, (json_t *)row) == 0 ? 0 : -ENOMEM;
}

/* Runs a SELECT and collects its rows: all of them, or (single) the first one or -ENOENT. */
static int query(struct store *st, const struct store_table *t, const char *sql,
                 const struct store_value *v, int n, bool single, json_t **out)
{
    json_t *rows = json_array();
    if (rows == NULL)
        return -ENOMEM;
    int rc = st->be->select(st, t, sql, v, n, collect, rows);
    if (rc == 0 && single) {
        json_t *first = json_array_get(rows, 0);
        if (first == NULL)
            rc = -ENOENT;
        else
            *out = json_incref(first);
    } else if (rc == 0) {
        *out = json_incref(rows);
    }
    json_decref(rows);
    return rc;
}

/* query with one text parameter. */
static int query_text(struct store *st, const struct store_table *t, const char *sql,
                      const char *value, bool single, json_t **out)
{
    const struct store_value v = store_text(value);
    return query(st, t, sql, &v, 1, single, out);
}

/* Runs a statement; -ENOENT when it changed no row. */
static int change(struct store *st, const char *sql, const struct store_value *v, int n)
{
    int64_t changes = 0;
    int rc = st->be->exec(st, sql, v, n, false, &changes);
    return rc == 0 && changes == 0 ? -ENOENT : rc;
}

/* ---- the rows of a table ---- */

/* A row's fields as C values (columns of t, in the object's order), with the JSON texts they
 * own. */
struct field_values {
    struct store_fields f;
    char *owned[STORE_FIELDS_MAX];
};

static void field_values_clear(struct field_values *fv)
{
    for (int i = 0; i < fv->f.n && i < STORE_FIELDS_MAX; i++)
        free(fv->owned[i]);
    fv->f.n = 0;
}

/* A JSON value as the parameter for a column of this type: booleans for B columns (numbers
 * elsewhere), objects and arrays as their text for J columns only. */
static int column_value(const json_t *j, char type, struct store_value *out, char **owned)
{
    *owned = NULL;
    switch (json_typeof(j)) {
    case JSON_NULL:
        *out = store_null();
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        *out = store_int(json_is_true(j));
        if (type == 'B')
            out->kind = STORE_BOOL;
        return 0;
    case JSON_INTEGER:
        *out = store_int(json_integer_value(j));
        return 0;
    case JSON_REAL:
        *out = (struct store_value){.kind = STORE_REAL, .real = json_real_value(j)};
        return 0;
    case JSON_STRING:
        *out = store_text(json_string_value(j));
        out->len = (int)json_string_length(j);
        return 0;
    default:
        if (type != 'J')
            return -EINVAL;
        *owned = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        *out = store_text(*owned);
        return *owned != NULL ? 0 : -ENOMEM;
    }
}

/* The values of fields into fv. Unknown keys are a programming error: -EINVAL. */
static int field_values(struct store *st, const struct store_table *t, const json_t *fields,
                        struct field_values *fv)
{
    fv->f.n = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)fields, key, value)
    {
        const struct store_column *col = store_find_column(t, key);
        if (col == NULL)
            return -EINVAL;
        if (fv->f.n == STORE_FIELDS_MAX)
            return -E2BIG;
        int i = fv->f.n;
        int rc = column_value(value, col->type, &fv->f.value[i], &fv->owned[i]);
        if (rc < 0) {
            snprintf(st->error, sizeof st->error, "%s.%s: value of the wrong type", t->name, key);
            return rc == -EINVAL ? -EIO : rc;
        }
        fv->f.column[i] = col->name;
        fv->f.n++;
    }
    return 0;
}

static int get_by_key(struct store *st, const struct store_table *t, const char *key, json_t **out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE %s = ?", t->name, t->key);
    return query_text(st, t, sql, key, true, out);
}

static int list_all(struct store *st, const struct store_table *t, json_t **out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY %s", t->name, t->order);
    return query(st, t, sql, NULL, 0, false, out);
}

/* Appends s to the statement being put together in sql (cap bytes): false when it would not
 * fit. Copies, not snprintf: heartbeats and registrations write a row each. */
static bool sql_add(char *sql, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap)
        return false;
    memcpy(sql + *len, s, n + 1);
    *len += n;
    return true;
}

/* INSERT (or, with upsert, INSERT ... ON CONFLICT DO UPDATE) of the columns f sets. A taken
 * key is -EEXIST, and the transaction goes on. */
static int insert_fields(struct store *st, const struct store_table *t,
                         const struct store_fields *f, bool upsert)
{
    if (f->n > STORE_FIELDS_MAX)
        return -E2BIG;
    char sql[3072], cols[1024], params[512], updates[1536];
    size_t sl = 0, cl = 0, pl = 0, ul = 0;
    cols[0] = params[0] = updates[0] = '\0';
    bool fits = true;
    for (int i = 0; i < f->n && fits; i++) {
        const char *key = f->column[i];
        fits = (cl == 0 || sql_add(cols, sizeof cols, &cl, ",")) &&
               sql_add(cols, sizeof cols, &cl, key) &&
               sql_add(params, sizeof params, &pl, pl ? ",?" : "?");
        if (fits && strcmp(key, t->key) != 0)
            fits = (ul == 0 || sql_add(updates, sizeof updates, &ul, ",")) &&
                   sql_add(updates, sizeof updates, &ul, key) &&
                   sql_add(updates, sizeof updates, &ul, "=excluded.") &&
                   sql_add(updates, sizeof updates, &ul, key);
    }
    fits = fits && f->n > 0 && sql_add(sql, sizeof sql, &sl, "INSERT INTO ") &&
           sql_add(sql, sizeof sql, &sl, t->name) && sql_add(sql, sizeof sql, &sl, " (") &&
           sql_add(sql, sizeof sql, &sl, cols) && sql_add(sql, sizeof sql, &sl, ") VALUES (") &&
           sql_add(sql, sizeof sql, &sl, params) && sql_add(sql, sizeof sql, &sl, ")");
    if (fits && upsert && ul > 0)
        fits = sql_add(sql, sizeof sql, &sl, " ON CONFLICT (") &&
               sql_add(sql, sizeof sql, &sl, t->key) &&
               sql_add(sql, sizeof sql, &sl, ") DO UPDATE SET ") &&
               sql_add(sql, sizeof sql, &sl, updates);
    else if (fits)
        fits = sql_add(sql, sizeof sql, &sl, st->be->insert_suffix);
    if (!fits)
        return f->n > 0 ? -E2BIG : -EINVAL;
    int64_t changes = 0;
    int rc = st->be->exec(st, sql, f->value, f->n, false, &changes);
    if (rc == 0 && !upsert && changes == 0) {
        snprintf(st->error, sizeof st->error, "duplicate key value in %s", t->name);
        rc = -EEXIST;
    }
    return rc;
}

/* insert_fields of a row object (its keys are columns of t). */
static int insert_row(struct store *st, const struct store_table *t, const json_t *row, bool upsert)
{
    struct field_values fv;
    int rc = field_values(st, t, row, &fv);
    if (rc == 0)
        rc = insert_fields(st, t, &fv.f, upsert);
    field_values_clear(&fv);
    return rc;
}

/* The key goes after the fields, in one statement. */
_Static_assert(STORE_FIELDS_MAX < STORE_MAX_PARAMS, "an UPDATE's fields and its key");

/* UPDATE of the columns f sets, in the row whose key is id: -ENOENT when there is none. */
static int update_fields(struct store *st, const struct store_table *t, const char *id,
                         const struct store_fields *f)
{
    if (f->n == 0) {
        json_t *row = NULL;
        int rc = get_by_key(st, t, id, &row);
        json_decref(row);
        return rc;
    }
    if (f->n > STORE_FIELDS_MAX) /* the key is the last parameter */
        return -E2BIG;
    char sql[2048];
    size_t sl = 0;
    bool may_conflict = false, fits = sql_add(sql, sizeof sql, &sl, "UPDATE ") &&
                                      sql_add(sql, sizeof sql, &sl, t->name) &&
                                      sql_add(sql, sizeof sql, &sl, " SET ");
    for (int i = 0; i < f->n && fits; i++) {
        may_conflict = may_conflict || (t->unique != NULL && strcmp(f->column[i], t->unique) == 0);
        fits = (i == 0 || sql_add(sql, sizeof sql, &sl, ",")) &&
               sql_add(sql, sizeof sql, &sl, f->column[i]) && sql_add(sql, sizeof sql, &sl, "=?");
    }
    fits = fits && sql_add(sql, sizeof sql, &sl, " WHERE ") &&
           sql_add(sql, sizeof sql, &sl, t->key) && sql_add(sql, sizeof sql, &sl, " = ?");
    if (!fits)
        return -E2BIG;
    struct store_value v[STORE_MAX_PARAMS];
    memcpy(v, f->value, (size_t)f->n * sizeof v[0]);
    v[f->n] = store_text(id);
    int64_t changes = 0;
    int rc = st->be->exec(st, sql, v, f->n + 1, may_conflict, &changes);
    return rc == 0 && changes == 0 ? -ENOENT : rc;
}

/* update_fields of an object of columns of t. */
static int update_row(struct store *st, const struct store_table *t, const char *id,
                      const json_t *fields)
{
    struct field_values fv;
    int rc = field_values(st, t, fields, &fv);
    if (rc == 0)
        rc = update_fields(st, t, id, &fv.f);
    field_values_clear(&fv);
    return rc;
}

static int delete_row(struct store *st, const struct store_table *t, const char *id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = ?", t->name, t->key);
    const struct store_value v = store_text(id);
    return change(st, sql, &v, 1);
}

/* ---- controllers ---- */

int store_controller_get(struct store *st, const char *id, json_t **out)
{
    return get_by_key(st, &store_controllers_table, id, out);
}

/* The brief columns, in struct store_controller_brief's order, with their types. */
#define BRIEF_SELECT                                                                               \
    "SELECT id, name, address, config_version, applied_config_version, session_epoch, "            \
    "secret_hash, first_seen, metadata FROM controllers WHERE id = ?"
#define BRIEF_TYPES "TTTIIITIJ"

static char *cell_text(const struct store_cell *c, bool *failed)
{
    if (c->null)
        return NULL;
    char *s = strndup(c->text, c->len);
    *failed = *failed || s == NULL;
    return s;
}

/* The one row of a SELECT by one key, which fn puts into its context and answers 1 for: 0,
 * -ENOENT when there is no such row, or the error. */
static int select_one(struct store *st, const char *sql, const char *key, const char *types,
                      store_cells_fn fn, void *ctx)
{
    const struct store_value v = store_text(key);
    int rc = st->be->select_cells(st, sql, &v, 1, types, fn, ctx);
    return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

static int brief_row(void *ctx, const struct store_cell *c, int n)
{
    struct store_controller_brief *b = ctx;
    if (n != (int)sizeof BRIEF_TYPES - 1 || c[0].null || c[0].len >= sizeof b->id)
        return -EIO;
    memcpy(b->id, c[0].text, c[0].len);
    b->id[c[0].len] = '\0';
    bool failed = false;
    b->name = cell_text(&c[1], &failed);
    b->address = cell_text(&c[2], &failed);
    b->config_version = c[3].integer;
    b->applied_config_version = c[4].null ? -1 : c[4].integer;
    b->session_epoch = c[5].integer;
    b->secret_hash = cell_text(&c[6], &failed);
    b->first_seen = !c[7].null;
    b->metadata = cell_text(&c[8], &failed);
    return failed ? -ENOMEM : 1; /* one row */
}

int store_controller_get_brief(struct store *st, const char *id, struct store_controller_brief *out)
{
    memset(out, 0, sizeof *out);
    int rc = select_one(st, BRIEF_SELECT, id, BRIEF_TYPES, brief_row, out);
    if (rc == 0 && out->name == NULL)
        rc = -EIO;
    if (rc < 0)
        store_controller_brief_clear(out);
    return rc;
}

void store_controller_brief_clear(struct store_controller_brief *b)
{
    free(b->name);
    free(b->address);
    free(b->secret_hash);
    free(b->metadata);
    memset(b, 0, sizeof *b);
}

static int state_row(void *ctx, const struct store_cell *c, int n)
{
    struct store_controller_state *s = ctx;
    if (n != 5)
        return -EIO;
    bool failed = false;
    s->name = cell_text(&c[0], &failed);
    s->enabled = c[1].null || c[1].integer != 0;
    s->row.last_seen = c[2].null ? -1 : c[2].integer;
    s->row.session_epoch = c[3].integer;
    s->row.has_offline_epoch = !c[4].null;
    s->row.offline_epoch = c[4].integer;
    return failed ? -ENOMEM : 1;
}

int store_controller_get_state(struct store *st, const char *id, struct store_controller_state *out)
{
    memset(out, 0, sizeof *out);
    int rc = select_one(st,
                        "SELECT name, enabled, last_seen, session_epoch, offline_epoch "
                        "FROM controllers WHERE id = ?",
                        id, "TBIII", state_row, out);
    if (rc < 0)
        store_controller_state_clear(out);
    return rc;
}

void store_controller_state_clear(struct store_controller_state *s)
{
    free(s->name);
    memset(s, 0, sizeof *s);
}

int store_controller_get_for_config(struct store *st, const char *id, json_t **out)
{
    return query_text(st, &store_controllers_table,
                      "SELECT id, name, enabled, config_version, secret_hash, metadata "
                      "FROM controllers WHERE id = ?",
                      id, true, out);
}

int store_controller_list(struct store *st, json_t **out)
{
    return list_all(st, &store_controllers_table, out);
}

int store_controller_foreach(struct store *st, int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM controllers ORDER BY %s",
             store_controllers_table.order);
    return st->be->select(st, &store_controllers_table, sql, NULL, 0, fn, ctx);
}

struct keyed {
    struct store_list_key *key;
    int (*fn)(void *ctx, const json_t *row);
    void *ctx;
};

/* The rows carry their rowid as list_rowid (a text column to the row readers, which know no
 * such column): the key of the next page. */
static int note_key(void *ctx, const json_t *row)
{
    struct keyed *k = ctx;
    const char *rowid = json_string_value(json_object_get(row, "list_rowid"));
    k->key->created_at = json_integer_value(json_object_get(row, "created_at"));
    k->key->rowid = rowid != NULL ? strtoll(rowid, NULL, 10) : INT64_MAX;
    return k->fn(k->ctx, row);
}

int store_controller_foreach_after(struct store *st, struct store_list_key *after, int limit,
                                   int (*fn)(void *ctx, const json_t *row), void *ctx)
{
    /* The order of store_controllers_table.order, served by the index of schema 11 (on
     * SQLite, every index ends with the rowid). */
    static const char sql[] =
        "SELECT *, rowid AS list_rowid FROM controllers WHERE (created_at, rowid) > (?, ?)"
        " ORDER BY created_at, rowid LIMIT ?";
    struct keyed k = {after, fn, ctx};
    const struct store_value v[] = {store_int(after->created_at), store_int(after->rowid),
                                    store_int(limit < 0 ? 0 : limit)};
    return st->be->select(st, &store_controllers_table, sql, v, 3, note_key, &k);
}

int store_controller_presence_scan(struct store *st, store_presence_fn fn, void *ctx)
{
    return st->be->presence_scan(st, fn, ctx);
}

int store_controller_find_by_name(struct store *st, const char *name, json_t **out)
{
    return query_text(st, &store_controllers_table,
                      "SELECT * FROM controllers WHERE name = ? "
                      "ORDER BY last_seen IS NULL, last_seen DESC, created_at, rowid",
                      name, false, out);
}

int store_controller_insert(struct store *st, const json_t *row)
{
    return insert_row(st, &store_controllers_table, row, false);
}

int store_controller_update(struct store *st, const char *id, const json_t *fields)
{
    return update_row(st, &store_controllers_table, id, fields);
}

int store_controller_insert_fields(struct store *st, const struct store_fields *f)
{
    return insert_fields(st, &store_controllers_table, f, false);
}

int store_controller_update_fields(struct store *st, const char *id, const struct store_fields *f)
{
    return update_fields(st, &store_controllers_table, id, f);
}

int store_controller_bump_config(struct store *st, const char *id, int64_t now)
{
    const struct store_value v[] = {store_int(now), store_text(id)};
    int rc = change(st,
                    "UPDATE controllers SET config_version = config_version + 1, "
                    "updated_at = ? WHERE id = ?",
                    v, 2);
    if (rc == 0) {
        size_t i;
        json_t *bumped;
        bool seen = false;
        json_array_foreach(st->bumped, i, bumped) seen =
            seen || strcmp(json_string_value(bumped), id) == 0;
        if (!seen)
            json_array_append_new(st->bumped, json_string(id));
    }
    return rc;
}

int store_controller_delete(struct store *st, const char *id)
{
    return delete_row(st, &store_controllers_table, id);
}

/* ---- trains ---- */

int store_train_get(struct store *st, const char *id, json_t **out)
{
    return get_by_key(st, &store_trains_table, id, out);
}

static int placement_row(void *ctx, const struct store_cell *c, int n)
{
    struct store_train_placement *p = ctx;
    bool failed = n != 3;
    if (!failed) {
        p->desired_controller_id = cell_text(&c[0], &failed);
        p->actual_controller_id = cell_text(&c[1], &failed);
        p->reassignment_status = cell_text(&c[2], &failed);
    }
    return failed ? -ENOMEM : 1;
}

int store_train_get_placement(struct store *st, const char *id, struct store_train_placement *out)
{
    memset(out, 0, sizeof *out);
    int rc = select_one(st,
                        "SELECT desired_controller_id, actual_controller_id, "
                        "reassignment_status FROM trains WHERE id = ?",
                        id, "TTT", placement_row, out);
    if (rc < 0)
        store_train_placement_clear(out);
    return rc;
}

void store_train_placement_clear(struct store_train_placement *p)
{
    free(p->desired_controller_id);
    free(p->actual_controller_id);
    free(p->reassignment_status);
    memset(p, 0, sizeof *p);
}

int store_train_list(struct store *st, const char *controller_id, json_t **out)
{
    if (controller_id == NULL)
        return list_all(st, &store_trains_table, out);
    return query_text(
        st, &store_trains_table,
        "SELECT * FROM trains WHERE desired_controller_id = ? ORDER BY created_at, rowid",
        controller_id, false, out);
}

int store_train_list_delivery(struct store *st, const char *controller_id, json_t **out)
{
    return query_text(st, &store_trains_table,
                      "SELECT id, name, plugin_name, plugin_config, invert_directions, driving, "
                      "actual_controller_id FROM trains WHERE desired_controller_id = ? "
                      "ORDER BY created_at, rowid",
                      controller_id, false, out);
}

int store_train_list_for(struct store *st, const json_t *controller_ids, json_t **out)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT * FROM trains WHERE desired_controller_id IN (%s) ORDER BY created_at, rowid",
             st->be->json_strings);
    char *ids = json_dumps(controller_ids, JSON_COMPACT);
    if (ids == NULL)
        return -ENOMEM;
    int rc = query_text(st, &store_trains_table, sql, ids, false, out);
    free(ids);
    return rc;
}

static int held_row(void *ctx, const struct store_cell *c, int n)
{
    struct store_trains_held *h = ctx;
    if (n != 3 || c[0].null)
        return -EIO;
    struct store_train_held *t = realloc(h->t, (h->n + 1) * sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    h->t = t;
    bool failed = false;
    t[h->n].id = cell_text(&c[0], &failed);
    t[h->n].desired_controller_id = cell_text(&c[1], &failed);
    t[h->n].reassignment_status = cell_text(&c[2], &failed);
    h->n++;
    return failed ? -ENOMEM : 0;
}

int store_train_list_actual(struct store *st, const char *controller_id,
                            struct store_trains_held *out)
{
    memset(out, 0, sizeof *out);
    const struct store_value v = store_text(controller_id);
    int rc = st->be->select_cells(st,
                                  "SELECT id, desired_controller_id, reassignment_status "
                                  "FROM trains WHERE actual_controller_id = ? "
                                  "ORDER BY created_at, rowid",
                                  &v, 1, "TTT", held_row, out);
    if (rc < 0)
        store_trains_held_clear(out);
    return rc;
}

void store_trains_held_clear(struct store_trains_held *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->t[i].id);
        free(h->t[i].desired_controller_id);
        free(h->t[i].reassignment_status);
    }
    free(h->t);
    memset(h, 0, sizeof *h);
}

int store_train_insert(struct store *st, const json_t *row)
{
    return insert_row(st, &store_trains_table, row, false);
}

int store_train_update(struct store *st, const char *id, const json_t *fields)
{
    return update_row(st, &store_trains_table, id, fields);
}

int store_train_find_by_address(struct store *st, int address, json_t **out)
{
    const struct store_value v = store_int(address);
    return query(st, &store_trains_table, "SELECT * FROM trains WHERE address = ?", &v, 1, true,
                 out);
}

/* One integer a query answers as its "address" column; 0 when it is NULL. */
static int address_query(struct store *st, const char *sql, json_int_t *out)
{
    const struct store_value max = store_int(PROTO_TRAIN_NUMBER_MAX);
    json_t *r = NULL;
    int rc = query(st, &store_trains_table, sql, &max, 1, true, &r);
    if (rc == 0)
        *out = json_integer_value(json_object_get(r, "address"));
    json_decref(r);
    return rc;
}

/* The smallest address no train has, or -ERANGE. Addresses given in turn stay dense (1..n for
 * n trains): then it is n + 1, from the index's count and maximum, without the gap search,
 * which reads every address and took 10 ms a train at 9,999 trains in a boot storm. */
static int smallest_free_address(struct store *st, json_int_t *out)
{
    int rc = address_query(st,
                           "SELECT CASE WHEN COUNT(address) = COALESCE(MAX(address), 0)"
                           " AND COUNT(address) < ? THEN COUNT(address) + 1 END AS address"
                           " FROM trains",
                           out);
    if (rc == 0 && *out == 0)
        rc = address_query(st,
                           "SELECT MIN(a) AS address FROM (SELECT 1 AS a UNION ALL SELECT address"
                           " + 1 FROM trains WHERE address IS NOT NULL) s WHERE a <= ? AND a"
                           " NOT IN (SELECT address FROM trains WHERE address IS NOT NULL)",
                           out);
    if (rc == 0 && *out == 0)
        rc = -ERANGE; /* every address is taken */
    return rc;
}

/* The smallest free address for every train that has none, in creation order. */
int store_train_assign_addresses(struct store *st)
{
    json_t *rows = NULL;
    int rc = query(st, &store_trains_table,
                   "SELECT * FROM trains WHERE address IS NULL ORDER BY created_at, rowid", NULL, 0,
                   false, &rows);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_int_t address = 0;
        rc = smallest_free_address(st, &address);
        if (rc < 0)
            break;
        json_t *f = json_pack("{s:I}", "address", address);
        rc = update_row(st, &store_trains_table, json_string_value(json_object_get(row, "id")), f);
        json_decref(f);
        if (rc < 0)
            break;
    }
    json_decref(rows);
    return rc;
}

static int photo_delete(struct store *st, const char *train_id)
{
    const struct store_value v = store_text(train_id);
    return change(st, "DELETE FROM train_photos WHERE train_id = ?", &v, 1);
}

int store_train_delete(struct store *st, const char *id)
{
    int rc = delete_row(st, &store_trains_table, id);
    if (rc == 0) {
        int r2 = delete_row(st, &store_status_table, id);
        if (r2 < 0 && r2 != -ENOENT)
            rc = r2;
    }
    if (rc == 0) {
        int r2 = photo_delete(st, id);
        if (r2 < 0 && r2 != -ENOENT)
            rc = r2;
    }
    return rc;
}

/* ---- train photos ---- */

static int photo_mark(struct store *st, const char *train_id, const int64_t *at)
{
    const struct store_value v[] = {at != NULL ? store_int(*at) : store_null(),
                                    store_text(train_id)};
    return change(st, "UPDATE trains SET photo_at = ? WHERE id = ?", v, 2);
}

int store_train_photo_put(struct store *st, const char *train_id, const char *media_type,
                          const void *data, size_t len, int64_t now)
{
    if (len == 0 || len > INT_MAX)
        return -EINVAL;
    int rc = photo_mark(st, train_id, &now);
    if (rc < 0)
        return rc;
    const struct store_value v[] = {store_text(train_id),
                                    store_text(media_type),
                                    {.kind = STORE_BLOB, .blob = data, .len = (int)len}};
    return st->be->exec(st,
                        "INSERT INTO train_photos(train_id, media_type, data) VALUES (?, ?, ?)"
                        " ON CONFLICT (train_id) DO UPDATE SET media_type = excluded.media_type,"
                        " data = excluded.data",
                        v, 3, false, NULL);
}

int store_train_photo_get(struct store *st, const char *train_id, char *media_type, size_t typelen,
                          void **data, size_t *len)
{
    const struct store_value v = store_text(train_id);
    return st->be->select_blob(st, "SELECT media_type, data FROM train_photos WHERE train_id = ?",
                               &v, 1, media_type, typelen, data, len);
}

int store_train_photo_delete(struct store *st, const char *train_id)
{
    int rc = photo_mark(st, train_id, NULL);
    if (rc < 0)
        return rc;
    return photo_delete(st, train_id);
}

/* ---- status, plugins, settings ---- */

int store_status_get(struct store *st, const char *train_id, json_t **out)
{
    return get_by_key(st, &store_status_table, train_id, out);
}

int store_status_upsert(struct store *st, const json_t *row)
{
    return insert_row(st, &store_status_table, row, true);
}

int store_plugin_list(struct store *st, json_t **out)
{
    return list_all(st, &store_plugins_table, out);
}

int store_plugin_get(struct store *st, const char *name, json_t **out)
{
    return get_by_key(st, &store_plugins_table, name, out);
}

int store_plugin_upsert(struct store *st, const json_t *row)
{
    return insert_row(st, &store_plugins_table, row, true);
}

int store_setting_get(struct store *st, const char *key, json_t **value)
{
    json_t *row = NULL;
    int rc = get_by_key(st, &store_settings_table, key, &row);
    if (rc == 0) {
        *value = json_incref(json_object_get(row, "value"));
        json_decref(row);
        if (*value == NULL)
            rc = -ENOENT;
    }
    return rc;
}

int store_setting_put(struct store *st, const char *key, const json_t *value)
{
    json_t *row = json_pack("{s:s, s:O}", "key", key, "value", value);
    if (row == NULL)
        return -ENOMEM;
    int rc = insert_row(st, &store_settings_table, row, true);
    json_decref(row);
    return rc;
}

/* ---- operator accounts ---- */

int store_user_get(struct store *st, const char *username, json_t **out)
{
    return get_by_key(st, &store_users_table, username, out);
}

int store_user_list(struct store *st, json_t **out)
{
    return list_all(st, &store_users_table, out);
}

int store_user_put(struct store *st, const json_t *row)
{
    return insert_row(st, &store_users_table, row, true);
}

int store_user_delete(struct store *st, const char *username)
{
    int rc = delete_row(st, &store_users_table, username);
    if (rc < 0)
        return rc;
    const struct store_value v = store_text(username);
    return st->be->exec(st, "DELETE FROM credentials WHERE username = ?", &v, 1, false, NULL);
}

int store_credential_get(struct store *st, const char *secret_hash, json_t **out)
{
    return get_by_key(st, &store_credentials_table, secret_hash, out);
}

int store_credential_list(struct store *st, const char *username, json_t **out)
{
    if (username == NULL)
        return list_all(st, &store_credentials_table, out);
    return query_text(st, &store_credentials_table,
                      "SELECT * FROM credentials WHERE username = ? ORDER BY created_at, rowid",
                      username, false, out);
}

int store_credential_insert(struct store *st, const json_t *row)
{
    return insert_row(st, &store_credentials_table, row, false);
}

int store_credential_delete(struct store *st, const char *secret_hash)
{
    return delete_row(st, &store_credentials_table, secret_hash);
}

int store_credential_prune(struct store *st, int64_t now)
{
    const struct store_value v = store_int(now);
    return st->be->exec(st,
                        "DELETE FROM credentials WHERE expires_at IS NOT NULL AND expires_at <= ?",
                        &v, 1, false, NULL);
}
