/* Operator accounts, the pure part (--auth, docs/security.md "Operator accounts"): who may
 * call a route, and the parsing of the credentials a request carries. No store, clock or
 * crypto here (accounts.c is the shell around it), so unit tests cover every case. */
#ifndef ROUNDHOUSE_AUTH_H
#define ROUNDHOUSE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Who may call a route (the route table at the end of http_api.c). Nothing enforces the
 * operator classes unless operator accounts are on; CONTROLLER routes are the ones an edge
 * calls, authenticated by the registration token and the controller's own credentials
 * rather than by an operator. */
enum route_access {
    ACCESS_PUBLIC,     /* the web UI's files, liveness, logging in and out */
    ACCESS_CONTROLLER, /* register, heartbeat, runtime config and the edge's other calls */
    ACCESS_READ,       /* every other GET */
    ACCESS_USER,       /* any logged-in user: who am I, one's own password and tokens */
    ACCESS_STOP,       /* the emergency stop: one tap for any logged-in user, viewers too */
    ACCESS_DRIVE,      /* commands, resuming the layout */
    ACCESS_ADMIN,      /* fleet and registry changes, users */
};

/* Ordered: a higher role may do everything a lower one may. */
enum auth_role {
    AUTH_ROLE_NONE, /* no credential, or one that is unknown, expired or revoked */
    AUTH_ROLE_VIEWER,
    AUTH_ROLE_OPERATOR,
    AUTH_ROLE_ADMIN,
};

/* "viewer", "operator", "admin" (exact, lower case): 0, else -EINVAL. */
int auth_role_parse(const char *s, enum auth_role *out);
/* The name of a role; "none" for AUTH_ROLE_NONE. */
const char *auth_role_name(enum auth_role role);

/* The lowest role that may call a route of this class with a credential (AUTH_ROLE_NONE
 * for PUBLIC and CONTROLLER: no operator credential is asked for). */
enum auth_role auth_role_needed(enum route_access access);

/* The answer for a request with operator accounts on: 0 (allowed), 401 (no valid
 * credential where one is needed) or 403 (a credential whose role is too low).
 * public_read lets ACCESS_READ through without a credential, nothing else. */
unsigned auth_decide(enum route_access access, enum auth_role role, bool public_read);

/* The value of cookie `name` in a Cookie header ("a=1; b=2"). 1 with out set, 0 when the
 * cookie is absent (or header is NULL), -E2BIG when its value does not fit outlen. */
int auth_cookie_find(const char *header, const char *name, char *out, size_t outlen);
/* The token of an "Authorization: Bearer TOKEN" header (scheme in any case). 1 with out
 * set, 0 when header is NULL or not a non-empty Bearer credential, -E2BIG when too long. */
int auth_bearer_parse(const char *header, char *out, size_t outlen);

/* User names: 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit. */
#define AUTH_USERNAME_MAX 64
bool auth_username_valid(const char *s);
/* Passwords: 8-256 bytes, no NUL (the JSON layer guarantees that). */
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 256

#endif
