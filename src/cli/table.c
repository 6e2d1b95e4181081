#include "table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_COLS 16

struct table {
    size_t ncols;
    bool details;
    char **cells; /* row-major; the header row first when !details */
    size_t ncells, cap;
};

void table_text_clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static char *cell_dup(const char *s)
{
    char *d = strdup(s ? s : "-");
    if (d != NULL)
        table_text_clean(d);
    return d;
}

/* Characters, not bytes: UTF-8 continuation bytes do not take a column. */
static size_t cell_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static int push_row(struct table *t, const char *const *cells)
{
    if (t->ncells + t->ncols > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : t->ncols * 16;
        char **nc = realloc(t->cells, cap * sizeof *nc);
        if (nc == NULL)
            return -ENOMEM;
        t->cells = nc;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *d = cell_dup(cells[i]);
        if (d == NULL) {
            while (i-- > 0)
                free(t->cells[t->ncells + i]);
            return -ENOMEM;
        }
        t->cells[t->ncells + i] = d;
    }
    t->ncells += t->ncols;
    return 0;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
    if (ncols == 0 || ncols > TABLE_MAX_COLS || (headers == NULL && ncols != 2))
        return NULL;
    struct table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    t->details = headers == NULL;
    if (headers != NULL && push_row(t, headers) < 0) {
        table_free(t);
        return NULL;
    }
    return t;
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

int table_add_row(struct table *t, const char *const *cells)
{
    return push_row(t, cells);
}

int table_add_pair(struct table *t, const char *key, const char *value)
{
    const char *cells[2] = {key, value};
    if (t->ncols != 2)
        return -EINVAL;
    return push_row(t, cells);
}

int table_print(const struct table *t, FILE *out)
{
    size_t width[TABLE_MAX_COLS] = {0};
    size_t nrows = t->ncells / t->ncols;
    /* Details: the key column holds "key:", so the colon sits right after the key. */
    size_t extra = t->details ? 1 : 0;
    for (size_t r = 0; r < nrows; r++)
        for (size_t col = 0; col < t->ncols; col++) {
            size_t w = cell_width(t->cells[r * t->ncols + col]) + (col == 0 ? extra : 0);
            if (w > width[col])
                width[col] = w;
        }
    for (size_t r = 0; r < nrows; r++) {
        char *const *row = t->cells + r * t->ncols;
        size_t used = t->ncols; /* empty cells at the end of a row would only print blanks */
        while (used > 1 && row[used - 1][0] == '\0')
            used--;
        for (size_t col = 0; col < used; col++) {
            const char *cell = row[col];
            bool last = col + 1 == used;
            size_t w = cell_width(cell);
            fputs(cell, out);
            if (col == 0 && t->details) {
                fputc(':', out);
                w++;
            }
            if (last)
                break;
            /* Details: one space after "key:"; tables: two between columns. */
            for (size_t pad = width[col] - w + (t->details ? 1 : 2); pad > 0; pad--)
                fputc(' ', out);
        }
        fputc('\n', out);
    }
    return ferror(out) ? -EIO : 0;
}
