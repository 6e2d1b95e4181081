/* Aligned plain-text tables for people: a header row and columns padded to their widest cell
 * (counted in characters, not bytes, so names with accents stay aligned), or, without
 * headers, "key: value" detail lines with the values aligned.
 *
 * Cells are copied. Control characters in cells are printed as '?': names and addresses come
 * from the network, and a terminal must not interpret escape sequences hidden in them. */
#ifndef ROUNDHOUSE_CLI_TABLE_H
#define ROUNDHOUSE_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table;

/* A table of ncols columns (1..16) with the given headers, or with headers == NULL a
 * details list (ncols must be 2: key, value). NULL on allocation failure or bad ncols. */
struct table *table_new(size_t ncols, const char *const *headers);
void table_free(struct table *t);

/* Appends a row of ncols cells; a NULL cell prints as "-". 0 or -ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);

/* table_add_row with {key, value}; -EINVAL unless the table has 2 columns. */
int table_add_pair(struct table *t, const char *key, const char *value);

/* Replaces control characters (C0 and DEL) in s by '?', in place; UTF-8 passes through. For
 * any text from the network that goes to a terminal, tables or not. */
void table_text_clean(char *s);

/* Prints the table (columns separated by two spaces, no trailing blanks). 0 or -EIO. */
int table_print(const struct table *t, FILE *out);

#endif
