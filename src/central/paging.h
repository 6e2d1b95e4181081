/* Paged lists (GET /api/controllers and /api/trains with ?limit, ?cursor, ?presence, ?name;
 * docs/api.md "Paged lists"): the query parameters checked, and the cursor that carries the
 * last row's sort key (name, id) from one page to the next. Pure: no SQL, no sockets.
 *
 * The cursor is opaque to clients: base64url (no padding) of the JSON array
 * [kind, name, id], kind 'c' for controllers and 't' for trains, so that a cursor of one list
 * is refused by the other rather than silently read. */
#ifndef ROUNDHOUSE_PAGING_H
#define ROUNDHOUSE_PAGING_H

#include <stdbool.h>
#include <stddef.h>

#define PAGING_LIMIT_DEFAULT 100
#define PAGING_LIMIT_MAX 1000
/* Bytes of a name or an id inside a cursor, and of the name filter (100 characters of up to
 * four bytes each fit). */
#define PAGING_KEY_MAX 512
/* Characters of a cursor: the base64url of the longest [kind, name, id]. */
#define PAGING_CURSOR_MAX 2048

#define PAGING_CONTROLLERS 'c'
#define PAGING_TRAINS 't'

struct paging_args {
    int limit;
    unsigned presence; /* bit 1u << enum presence for each state wanted; 0: any */
    bool has_after;    /* after_name/after_id: the key of the previous page's last row */
    char name_part[PAGING_KEY_MAX + 1]; /* ASCII letters lower-cased; "": any name */
    char after_name[PAGING_KEY_MAX + 1];
    char after_id[PAGING_KEY_MAX + 1];
};

/* Why paging_parse refused: the query parameter at fault and a sentence for the operator. */
struct paging_err {
    char field[16];
    char detail[192];
};

/* The parameters as the request gave them (NULL: absent), for the list of this kind. 1 with
 * *out filled when a page is asked for (any of them present; limit defaults to
 * PAGING_LIMIT_DEFAULT), 0 when none is (the whole list, as before paging), -1 with err
 * set. *out is written only on 1. */
int paging_parse(char kind, const char *limit, const char *cursor, const char *presence,
                 const char *name, struct paging_args *out, struct paging_err *err);

/* The cursor that continues after the row (name, id): a new string for free(), or NULL when
 * out of memory or a key is longer than PAGING_KEY_MAX. */
char *paging_cursor(char kind, const char *name, const char *id);

#endif
