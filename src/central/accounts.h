/* Operator accounts (--auth), the shell around auth.h: who a request's credential belongs
 * to (session cookie or API token, looked up in the store), the first admin, and the
 * handlers of /api/login, /api/logout, /api/me, /api/users and /api/tokens. Passwords are hashed
 * with Argon2id (libsodium's crypto_pwhash_str, OPSLIMIT/MEMLIMIT_INTERACTIVE: about 64 MiB and a
 * fraction of a second on a Raspberry Pi); the hashing runs on the HTTP worker thread
 * (http_request_defer_arg), never under the store's lock, so at most one runs at a time.
 * Sessions and tokens are 32 random bytes; only their SHA-256 is stored. */
#ifndef ROUNDHOUSE_ACCOUNTS_H
#define ROUNDHOUSE_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "http_server.h"
#include "sha256.h"

struct central;

#define ACCOUNTS_SESSION_COOKIE "roundhouse_session"
#define ACCOUNTS_TOKEN_PREFIX "rht_"

struct auth_identity {
    enum auth_role role; /* AUTH_ROLE_NONE: no valid credential */
    char username[AUTH_USERNAME_MAX + 1];
    char secret_hash[SHA256_HEX_LEN + 1];
    char cred_id[17];
    bool token;         /* from Authorization: Bearer; else the session cookie */
    int64_t expires_at; /* seconds since the epoch, -1: never */
    /* A credential was sent (an Authorization header, or the session cookie), whether or not
     * it was valid: an expired or unknown one is not the same as none. */
    bool presented;
};

enum accounts_op {
    ACCOUNTS_LOGIN,
    ACCOUNTS_LOGOUT,
    ACCOUNTS_ME,
    ACCOUNTS_USERS_LIST,
    ACCOUNTS_USER_CREATE,
    ACCOUNTS_USER_PATCH,
    ACCOUNTS_USER_DELETE,
    ACCOUNTS_TOKENS_LIST,
    ACCOUNTS_TOKEN_CREATE,
    ACCOUNTS_TOKEN_DELETE,
};

/* With opts.auth: libsodium, the login rate limits and, when the store has no user, the
 * first admin (user "admin" with the password in ROUNDHOUSE_ADMIN_PASSWORD; without that
 * variable the start is refused: -ENOENT). Logs what it did. 0, or a negative errno after
 * logging why. Without opts.auth: 0, nothing done. */
int accounts_init(struct central *c);
void accounts_free(struct central *c);

/* Fills who from the request's credential (Bearer token first, then the session cookie).
 * 0 (who->role is AUTH_ROLE_NONE when there is no valid credential) or -EIO when the store
 * failed. */
int accounts_identify(struct central *c, const struct http_request *req, int64_t now,
                      struct auth_identity *who);

/* The central check of http_api_handle, before a route's handler runs. With --auth (and a
 * route that is not a CONTROLLER one) fills who from the request's credential and decides
 * by auth_decide: 0 to go on, or -EACCES after answering 401 or 403 (-EIO after 503 when
 * the store failed). Without --auth: 0, who has AUTH_ROLE_NONE. */
int accounts_authorize(struct central *c, const struct http_request *req,
                       struct http_response *resp, enum route_access access, int64_t now,
                       struct auth_identity *who);
/* Answers 401 or 403 (status) for a request whose credential (who) does not reach the role
 * need, and logs it as auth_refused. */
void accounts_refuse(const struct http_request *req, struct http_response *resp, unsigned status,
                     enum auth_role need, const struct auth_identity *who);

/* The handler of one accounts route; arg is the path's '*' segment (or NULL). The role was
 * checked by the caller (http_api_handle) from the route's access class. */
void accounts_handle(struct central *c, enum accounts_op op, const struct http_request *req,
                     struct http_response *resp, const struct auth_identity *who, const char *arg,
                     int64_t now);

#endif
