/* Operator accounts (accounts.h): credentials, the first admin and the account routes. */
#include "accounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "central.h"
#include "jsonx.h"
#include "log.h"
#include "ratelimit.h"
#include "store.h"
#include "timeutil.h"

#define SECRET_BYTES 32
#define SECRET_HEX (2 * SECRET_BYTES)
/* "rht_" + 64 hex digits; a longer credential cannot be ours. */
#define CREDENTIAL_MAX 96
#define TOKEN_NAME_MAX 64
#define TOKEN_EXPIRES_MAX (10LL * 366 * 86400)
#define ADMIN_USER "admin"

/* What the account handlers hand to the worker thread: what was learnt from the headers. */
struct account_job {
    enum accounts_op op;
    char caller[AUTH_USERNAME_MAX + 1];
    char target[AUTH_USERNAME_MAX + 1];
};

/* A hash to verify against when the user does not exist, so that an unknown name takes as
 * long to refuse as a wrong password (no user enumeration by timing). */
static char dummy_hash[crypto_pwhash_STRBYTES];

static int password_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -ENOMEM; /* libsodium's only failure: it could not get the memory */
    return 0;
}

static bool password_verify(const char *hash, const char *pw)
{
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

/* A fresh secret (prefix + 64 hex digits), its stored hash and a public id. */
static void secret_new(const char *prefix, char *secret, size_t secretlen,
                       char hash[SHA256_HEX_LEN + 1], char id[17])
{
    unsigned char raw[SECRET_BYTES], rid[8];
    char hex[SECRET_HEX + 1];
    randombytes_buf(raw, sizeof raw);
    randombytes_buf(rid, sizeof rid);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_bin2hex(id, 17, rid, sizeof rid);
    snprintf(secret, secretlen, "%s%s", prefix, hex);
    sha256_hex(secret, strlen(secret), hash);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(hex, sizeof hex);
}

static void db_error(struct central *c, struct http_response *resp, const char *where)
{
    atomic_fetch_add(&c->counters.db_errors, 1);
    log_event(RH_LOG_ERROR, "database_error", "{s:s, s:s}", "path", where, "error",
              store_last_error(c->store));
    http_response_error(resp, 503, "database_unavailable", NULL,
                        "the database could not complete the request");
}

static json_t *iso_or_null(const json_t *v)
{
    char buf[TIMEUTIL_ISO_LEN + 1];
    if (!json_is_integer(v) || timeutil_format(json_integer_value(v), buf) < 0)
        return json_null();
    return json_string(buf);
}

static json_t *view_user(const json_t *row)
{
    return json_pack("{s:O, s:O, s:o, s:o}", "username", json_object_get(row, "username"), "role",
                     json_object_get(row, "role"), "created_at",
                     iso_or_null(json_object_get(row, "created_at")), "updated_at",
                     iso_or_null(json_object_get(row, "updated_at")));
}

static json_t *view_token(const json_t *row)
{
    return json_pack("{s:O, s:O, s:O, s:o, s:o}", "id", json_object_get(row, "id"), "name",
                     json_object_get(row, "name"), "username", json_object_get(row, "username"),
                     "created_at", iso_or_null(json_object_get(row, "created_at")), "expires_at",
                     iso_or_null(json_object_get(row, "expires_at")));
}

static enum auth_role row_role(const json_t *row)
{
    enum auth_role r = AUTH_ROLE_NONE;
    if (auth_role_parse(json_string_value(json_object_get(row, "role")), &r) < 0)
        return AUTH_ROLE_NONE;
    return r;
}

/* ---- start ---- */

static int create_first_admin(struct central *c, const char *password, int64_t now)
{
    char hash[crypto_pwhash_STRBYTES];
    int rc = password_hash(password, hash);
    if (rc < 0)
        return rc;
    json_t *row = json_pack("{s:s, s:s, s:s, s:I, s:I}", "username", ADMIN_USER, "role", "admin",
                            "password_hash", hash, "created_at", (json_int_t)now, "updated_at",
                            (json_int_t)now);
    rc = store_begin(c->store, true);
    if (rc == 0) {
        rc = store_user_put(c->store, row);
        rc = store_end(c->store, rc);
    }
    json_decref(row);
    return rc;
}

int accounts_init(struct central *c)
{
    if (!c->opts.auth)
        return 0;
    if (sodium_init() < 0) {
        log_event(RH_LOG_ERROR, "auth_init_failed", "{s:s}", "error", "libsodium could not start");
        return -EIO;
    }
    /* Per user name: --login-rate (default 5 a minute, burst 5). Per source address four
     * times that, as a household or a NAT shares one address among its users. */
    long rate = c->opts.login_rate;
    c->login_limit_ip = ratelimit_new(4 * rate, 4 * rate, 4096);
    c->login_limit_user = ratelimit_new(rate, rate, 4096);
    if (c->login_limit_ip == NULL || c->login_limit_user == NULL ||
        password_hash("not a password of anyone", dummy_hash) < 0) {
        log_event(RH_LOG_ERROR, "auth_init_failed", "{s:s}", "error", "out of memory");
        return -ENOMEM;
    }
    json_t *users = NULL;
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = store_user_list(c->store, &users);
        store_rollback(c->store);
    }
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "auth_init_failed", "{s:s}", "error", store_last_error(c->store));
        return rc;
    }
    size_t n = json_array_size(users);
    json_decref(users);
    if (n > 0) {
        log_event(RH_LOG_INFO, "auth_enabled", "{s:I, s:b}", "users", (json_int_t)n, "public_read",
                  c->opts.public_read);
        return 0;
    }
    const char *pw = getenv("ROUNDHOUSE_ADMIN_PASSWORD");
    if (pw == NULL || *pw == '\0') {
        /* Started, nobody could log in, and the layout could not be stopped from the UI. */
        log_event(RH_LOG_ERROR, "auth_no_users", "{s:s}", "error",
                  "--auth and no operator account exists: start once with "
                  "ROUNDHOUSE_ADMIN_PASSWORD set to create the user 'admin' (docs/security.md)");
        return -ENOENT;
    }
    size_t len = strlen(pw);
    if (len < AUTH_PASSWORD_MIN || len > AUTH_PASSWORD_MAX) {
        log_event(RH_LOG_ERROR, "auth_admin_password_invalid", "{s:s, s:i, s:i}", "variable",
                  "ROUNDHOUSE_ADMIN_PASSWORD", "min", AUTH_PASSWORD_MIN, "max", AUTH_PASSWORD_MAX);
        return -EINVAL;
    }
    rc = create_first_admin(c, pw, timeutil_now_ms() / 1000);
    if (rc < 0) {
        log_event(RH_LOG_ERROR, "auth_init_failed", "{s:s}", "error", store_last_error(c->store));
        return rc;
    }
    log_event(RH_LOG_INFO, "auth_admin_created", "{s:s, s:s}", "username", ADMIN_USER, "from",
              "ROUNDHOUSE_ADMIN_PASSWORD");
    return 0;
}

void accounts_free(struct central *c)
{
    ratelimit_free(c->login_limit_ip);
    ratelimit_free(c->login_limit_user);
    c->login_limit_ip = c->login_limit_user = NULL;
}

/* ---- who is calling ---- */

int accounts_identify(struct central *c, const struct http_request *req, int64_t now,
                      struct auth_identity *who)
{
    memset(who, 0, sizeof *who);
    who->role = AUTH_ROLE_NONE;
    who->expires_at = -1;
    char secret[CREDENTIAL_MAX + 1];
    const char *kind = "token";
    const char *authz = http_request_header(req, "Authorization");
    int found;
    if (authz != NULL) {
        /* A credential that is present but unusable is not silently replaced by a cookie. */
        found = auth_bearer_parse(authz, secret, sizeof secret);
    } else {
        kind = "session";
        found = auth_cookie_find(http_request_header(req, "Cookie"), ACCOUNTS_SESSION_COOKIE,
                                 secret, sizeof secret);
    }
    who->presented = authz != NULL || found == 1;
    if (found != 1)
        return 0;
    char hash[SHA256_HEX_LEN + 1];
    sha256_hex(secret, strlen(secret), hash);
    sodium_memzero(secret, sizeof secret);
    json_t *cred = NULL, *user = NULL;
    int rc = store_begin(c->store, false);
    if (rc < 0)
        return -EIO;
    rc = store_credential_get(c->store, hash, &cred);
    if (rc == 0)
        rc = store_user_get(c->store, json_string_value(json_object_get(cred, "username")), &user);
    store_rollback(c->store);
    if (rc < 0 && rc != -ENOENT)
        return -EIO;
    if (rc == 0 && strcmp(json_string_value(json_object_get(cred, "kind")), kind) == 0) {
        const json_t *exp = json_object_get(cred, "expires_at");
        bool live = !json_is_integer(exp) || json_integer_value(exp) > now;
        if (live) {
            who->role = row_role(user);
            snprintf(who->username, sizeof who->username, "%s",
                     json_string_value(json_object_get(user, "username")));
            snprintf(who->secret_hash, sizeof who->secret_hash, "%s", hash);
            snprintf(who->cred_id, sizeof who->cred_id, "%s",
                     json_string_value(json_object_get(cred, "id")));
            who->token = strcmp(kind, "token") == 0;
            who->expires_at = json_is_integer(exp) ? json_integer_value(exp) : -1;
        }
    }
    json_decref(cred);
    json_decref(user);
    return 0;
}

int accounts_authorize(struct central *c, const struct http_request *req,
                       struct http_response *resp, enum route_access access, int64_t now,
                       struct auth_identity *who)
{
    memset(who, 0, sizeof *who);
    who->role = AUTH_ROLE_NONE;
    who->expires_at = -1;
    if (!c->opts.auth || access == ACCESS_CONTROLLER)
        return 0;
    if (accounts_identify(c, req, now, who) < 0) {
        db_error(c, resp, req->path);
        return -EIO;
    }
    unsigned status = auth_decide(access, who->role, c->opts.public_read);
    if (status == 0)
        return 0;
    accounts_refuse(req, resp, status, auth_role_needed(access), who);
    return -EACCES;
}

void accounts_refuse(const struct http_request *req, struct http_response *resp, unsigned status,
                     enum auth_role need, const struct auth_identity *who)
{
    log_event(RH_LOG_INFO, "auth_refused", "{s:s, s:s, s:i, s:s, s:s, s:s}", "method", req->method,
              "path", req->path, "status", (int)status, "client_ip", req->client_ip, "username",
              who->username, "needs", auth_role_name(need));
    if (status == 401)
        http_response_error(resp, 401, "unauthorized", NULL,
                            "%s %s needs a login (POST /api/login) or an API token "
                            "(Authorization: Bearer ...)",
                            req->method, req->path);
    else
        http_response_error(resp, 403, "forbidden", NULL,
                            "%s %s needs the role %s or higher; %s is %s", req->method, req->path,
                            auth_role_name(need), who->username, auth_role_name(who->role));
}

/* ---- body helpers ---- */

static json_t *body_object(const struct http_request *req, struct http_response *resp)
{
    json_error_t jerr;
    json_t *doc = req->body_len == 0
                      ? NULL
                      : json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        http_response_error(resp, 400, "malformed_json", NULL,
                            "a JSON object is required in the request body");
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_response_error(resp, 422, "invalid_body", NULL,
                            "the request body must be a JSON object");
        return NULL;
    }
    return doc;
}

static void invalid(struct http_response *resp, const struct jsonx_err *err)
{
    http_response_error(resp, 422, "invalid_field", err->field, "%s", err->detail);
}

/* username (required when need_username) and password (required when need_password), with
 * the project's limits. 0, or -1 after answering 422. */
static int get_credentials(const json_t *b, bool need_username, bool need_password,
                           const char **username, const char **password, struct http_response *resp)
{
    struct jsonx_err err = {0};
    int u = jsonx_string(b, "username", 1, AUTH_USERNAME_MAX, false, username, &err);
    if (u < 0 || (u == 0 && need_username)) {
        if (u == 0)
            jsonx_err_set(&err, "username", "'username' is required");
        invalid(resp, &err);
        return -1;
    }
    if (u == 1 && !auth_username_valid(*username)) {
        jsonx_err_set(&err, "username",
                      "'username' must be 1-%d letters, digits, '.', '_' or '-', starting with a "
                      "letter or digit",
                      AUTH_USERNAME_MAX);
        invalid(resp, &err);
        return -1;
    }
    /* Lengths in bytes: the KDF's input, and the limit of what we accept. */
    json_t *p = json_object_get(b, "password");
    if (p == NULL && !need_password)
        return 0;
    size_t plen = json_is_string(p) ? json_string_length(p) : 0;
    if (!json_is_string(p) || plen < AUTH_PASSWORD_MIN || plen > AUTH_PASSWORD_MAX ||
        strlen(json_string_value(p)) != plen) {
        http_response_error(resp, 422, "invalid_field", "password",
                            "'password' is required: a string of %d-%d bytes", AUTH_PASSWORD_MIN,
                            AUTH_PASSWORD_MAX);
        return -1;
    }
    *password = json_string_value(p);
    return 0;
}

static void key_for(char *out, size_t len, const char *kind, const char *v)
{
    snprintf(out, len, "%s:%s", kind, v);
}

static void session_cookie(char *out, size_t len, const char *secret, long max_age, bool tls)
{
    snprintf(out, len, "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
             ACCOUNTS_SESSION_COOKIE, secret, max_age, tls ? "; Secure" : "");
}

/* ---- login, logout, me ---- */

static void login_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct central *c = ctx;
    int64_t now = timeutil_now_ms() / 1000;
    const char *username = NULL, *password = NULL;
    json_t *b = body_object(req, resp), *user = NULL, *cred = NULL;
    if (b == NULL || get_credentials(b, true, true, &username, &password, resp) < 0)
        goto out;
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = store_user_get(c->store, username, &user);
        store_rollback(c->store);
    }
    if (rc < 0 && rc != -ENOENT) {
        db_error(c, resp, req->path);
        goto out;
    }
    /* The slow part, outside the store's lock. */
    const char *hash =
        user != NULL ? json_string_value(json_object_get(user, "password_hash")) : dummy_hash;
    bool ok = password_verify(hash != NULL ? hash : dummy_hash, password) && user != NULL;
    if (!ok) {
        char key[128];
        int64_t ms = timeutil_now_ms();
        key_for(key, sizeof key, "ip", req->client_ip);
        ratelimit_take(c->login_limit_ip, key, ms, NULL);
        key_for(key, sizeof key, "user", username);
        ratelimit_take(c->login_limit_user, key, ms, NULL);
        log_event(RH_LOG_WARNING, "login_failed", "{s:s, s:s, s:s}", "username", username,
                  "client_ip", req->client_ip, "reason",
                  user != NULL ? "wrong password" : "unknown user");
        http_response_error(resp, 401, "invalid_credentials", NULL, "wrong user name or password");
        goto out;
    }
    char secret[CREDENTIAL_MAX + 1], shash[SHA256_HEX_LEN + 1], id[17];
    secret_new("", secret, sizeof secret, shash, id);
    int64_t expires = now + c->opts.session_ttl;
    cred = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "secret_hash", shash, "id", id, "kind",
                     "session", "username", username, "created_at", (json_int_t)now, "expires_at",
                     (json_int_t)expires);
    rc = store_begin(c->store, true);
    if (rc == 0) {
        rc = store_credential_prune(c->store, now);
        if (rc == 0)
            rc = store_credential_insert(c->store, cred);
        rc = store_end(c->store, rc);
    }
    if (rc < 0) {
        sodium_memzero(secret, sizeof secret);
        db_error(c, resp, req->path);
        goto out;
    }
    session_cookie(resp->set_cookie, sizeof resp->set_cookie, secret, (long)c->opts.session_ttl,
                   req->tls);
    sodium_memzero(secret, sizeof secret);
    log_event(RH_LOG_INFO, "login", "{s:s, s:s, s:s}", "username", username, "client_ip",
              req->client_ip, "session", id);
    char exp_iso[TIMEUTIL_ISO_LEN + 1];
    timeutil_format(expires, exp_iso);
    http_response_json(resp, 200,
                       json_pack("{s:s, s:O, s:s}", "username", username, "role",
                                 json_object_get(user, "role"), "expires_at", exp_iso));
out:
    json_decref(b);
    json_decref(user);
    json_decref(cred);
}

static void h_login(struct central *c, const struct http_request *req, struct http_response *resp)
{
    const char *username = NULL, *password = NULL;
    json_t *b = body_object(req, resp);
    if (b == NULL || get_credentials(b, true, true, &username, &password, resp) < 0) {
        json_decref(b);
        return;
    }
    /* Failed attempts are counted per address and per user name (login_work); once either
     * has used its allowance, even the right password waits. */
    char key[128];
    int retry_ip = 0, retry_user = 0;
    int64_t ms = timeutil_now_ms();
    key_for(key, sizeof key, "ip", req->client_ip);
    bool ip_ok = ratelimit_available(c->login_limit_ip, key, ms, &retry_ip);
    key_for(key, sizeof key, "user", username);
    bool user_ok = ratelimit_available(c->login_limit_user, key, ms, &retry_user);
    if (!ip_ok || !user_ok) {
        log_event(RH_LOG_WARNING, "login_throttled", "{s:s, s:s, s:s}", "username", username,
                  "client_ip", req->client_ip, "by", !ip_ok ? "address" : "username");
        http_response_error(resp, 429, "too_many_attempts", NULL,
                            "too many failed logins %s; try again later",
                            !ip_ok ? "from this address" : "for this user");
        resp->retry_after = retry_ip > retry_user ? retry_ip : retry_user;
        json_decref(b);
        return;
    }
    json_decref(b);
    struct account_job job = {.op = ACCOUNTS_LOGIN};
    http_request_defer_arg(req, resp, login_work, c, &job, sizeof job);
}

static void h_logout(struct central *c, const struct http_request *req, struct http_response *resp,
                     const struct auth_identity *who)
{
    if (who->role != AUTH_ROLE_NONE && !who->token) {
        int rc = store_begin(c->store, true);
        if (rc == 0) {
            rc = store_credential_delete(c->store, who->secret_hash);
            if (rc == 0 || rc == -ENOENT)
                rc = store_commit(c->store);
            else
                store_rollback(c->store);
        }
        if (rc < 0) {
            db_error(c, resp, req->path);
            return;
        }
        log_event(RH_LOG_INFO, "logout", "{s:s, s:s}", "username", who->username, "session",
                  who->cred_id);
    }
    snprintf(resp->set_cookie, sizeof resp->set_cookie,
             "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s", ACCOUNTS_SESSION_COOKIE,
             req->tls ? "; Secure" : "");
    http_response_json(resp, 200, json_pack("{s:s}", "status", "logged_out"));
}

static void h_me(struct central *c, struct http_response *resp, const struct auth_identity *who)
{
    if (!c->opts.auth || who->role == AUTH_ROLE_NONE) {
        http_response_json(resp, 200,
                           json_pack("{s:b, s:b, s:n, s:n}", "auth", c->opts.auth, "public_read",
                                     c->opts.public_read, "username", "role"));
        return;
    }
    if (!c->opts.auth) {
        http_response_json(resp, 200,
                           json_pack("{s:b, s:b, s:n, s:n}", "auth", false, "public_read", false,
                                     "username", "role"));
        return;
    }
    char exp[TIMEUTIL_ISO_LEN + 1] = "";
    if (who->expires_at >= 0)
        timeutil_format(who->expires_at, exp);
    http_response_json(resp, 200,
                       json_pack("{s:b, s:b, s:s, s:s, s:s, s:o}", "auth", true, "public_read",
                                 c->opts.public_read, "username", who->username, "role",
                                 auth_role_name(who->role), "via", who->token ? "token" : "session",
                                 "expires_at", exp[0] ? json_string(exp) : json_null()));
}

/* ---- users ---- */

static int count_admins(struct store *st, int *out)
{
    json_t *users = NULL;
    int rc = store_user_list(st, &users);
    if (rc < 0)
        return rc;
    int n = 0;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) n += row_role(u) == AUTH_ROLE_ADMIN;
    json_decref(users);
    *out = n;
    return 0;
}

/* 200 with the view of each row; the rows are consumed. */
static void answer_views(struct http_response *resp, json_t *rows, json_t *(*view)(const json_t *))
{
    json_t *out = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_array_append_new(out, view(row));
    json_decref(rows);
    http_response_json(resp, 200, out);
}

static void h_users_list(struct central *c, const struct http_request *req,
                         struct http_response *resp)
{
    json_t *rows = NULL;
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = store_user_list(c->store, &rows);
        store_rollback(c->store);
    }
    if (rc < 0) {
        db_error(c, resp, req->path);
        return;
    }
    answer_views(resp, rows, view_user);
}

/* role (optional): 1 with *role set, 0 absent, -1 after answering 422. */
static int get_role(const json_t *b, enum auth_role *role, struct http_response *resp)
{
    struct jsonx_err err = {0};
    const char *s = NULL;
    int r = jsonx_string(b, "role", 1, 16, false, &s, &err);
    if (r < 0) {
        invalid(resp, &err);
        return -1;
    }
    if (r == 1 && auth_role_parse(s, role) < 0) {
        http_response_error(resp, 422, "invalid_field", "role",
                            "'role' must be viewer, operator or admin");
        return -1;
    }
    return r;
}

/* Inside the transaction: whether the change of user username may go ahead on what the store
 * holds (*old its row, NULL when there is none). 0; 1 with the answer sent (it exists, it
 * does not, or it is the last admin and would lose the role); or a store error. */
static int user_change_allowed(struct central *c, struct http_response *resp, bool create,
                               const char *username, int has_role, enum auth_role role,
                               json_t **old)
{
    int rc = store_user_get(c->store, username, old);
    if (create && rc == 0) {
        http_response_error(resp, 409, "user_exists", "username", "user %s already exists",
                            username);
        return 1;
    }
    if (!create && rc == -ENOENT) {
        http_response_error(resp, 404, "user_not_found", NULL, "user %s not found", username);
        return 1;
    }
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (!create && has_role == 1 && role != AUTH_ROLE_ADMIN && row_role(*old) == AUTH_ROLE_ADMIN) {
        int admins = 0;
        if ((rc = count_admins(c->store, &admins)) < 0)
            return rc;
        if (admins <= 1) {
            http_response_error(resp, 409, "last_admin", "role",
                                "%s is the last admin: make another user admin first", username);
            return 1;
        }
    }
    return 0;
}

/* A new password ends the user's web sessions (tokens stay: revoke them by name). */
static int end_web_sessions(struct store *st, const char *username)
{
    json_t *creds = NULL;
    int rc = store_credential_list(st, username, &creds);
    size_t i;
    json_t *cr;
    json_array_foreach(creds, i, cr)
    {
        if (rc < 0)
            break;
        if (strcmp(json_string_value(json_object_get(cr, "kind")), "session") == 0)
            rc = store_credential_delete(st, json_string_value(json_object_get(cr, "secret_hash")));
    }
    json_decref(creds);
    return rc;
}

/* After the commit: the user as the store now holds it, 201 (created) or 200. */
static void answer_user(struct central *c, struct http_response *resp, const char *username,
                        bool create)
{
    json_t *row = NULL;
    if (store_begin(c->store, false) == 0) {
        store_user_get(c->store, username, &row);
        store_rollback(c->store);
    }
    http_response_json(resp, create ? 201 : 200,
                       row != NULL ? view_user(row) : json_pack("{s:s}", "username", username));
    json_decref(row);
}

/* Creating a user and changing a password hash on the worker (the KDF is slow). */
static void user_write_work(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct central *c = ctx;
    const struct account_job *job = req->defer_arg;
    int64_t now = timeutil_now_ms() / 1000;
    const char *username = NULL, *password = NULL;
    enum auth_role role = AUTH_ROLE_VIEWER;
    char hash[crypto_pwhash_STRBYTES] = "";
    json_t *b = body_object(req, resp), *row = NULL, *old = NULL;
    bool create = job->op == ACCOUNTS_USER_CREATE;
    if (b == NULL || get_credentials(b, create, create, &username, &password, resp) < 0)
        goto out;
    int has_role = get_role(b, &role, resp);
    if (has_role < 0)
        goto out;
    if (!create)
        username = job->target;
    if (password != NULL && password_hash(password, hash) < 0) {
        http_response_error(resp, 503, "unavailable", NULL,
                            "not enough memory to hash the password; try again later");
        goto out;
    }
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_error(c, resp, req->path);
        goto out;
    }
    rc = user_change_allowed(c, resp, create, username, has_role, role, &old);
    if (rc == 1) {
        store_rollback(c->store);
        goto out;
    }
    if (rc < 0)
        goto db;
    /* The whole row: SQLite checks NOT NULL before it sees the conflict of an upsert. */
    row = create ? json_pack("{s:s, s:I}", "username", username, "created_at", (json_int_t)now)
                 : json_deep_copy(old);
    json_object_set_new(row, "updated_at", json_integer(now));
    if (create || has_role == 1)
        json_object_set_new(row, "role", json_string(auth_role_name(role)));
    if (hash[0] != '\0')
        json_object_set_new(row, "password_hash", json_string(hash));
    if (store_user_put(c->store, row) < 0 ||
        (!create && hash[0] != '\0' && end_web_sessions(c->store, username) < 0))
        goto db;
    if (store_commit(c->store) < 0) {
        db_error(c, resp, req->path);
        goto out;
    }
    log_event(RH_LOG_INFO, create ? "user_created" : "user_changed", "{s:s, s:s, s:s, s:b}",
              "username", username, "by", job->caller, "role",
              has_role == 1 || create ? auth_role_name(role)
                                      : json_string_value(json_object_get(old, "role")),
              "password_changed", hash[0] != '\0');
    answer_user(c, resp, username, create);
    goto out;
db:
    store_rollback(c->store);
    db_error(c, resp, req->path);
out:
    sodium_memzero(hash, sizeof hash);
    json_decref(b);
    json_decref(row);
    json_decref(old);
}

static void h_user_create(struct central *c, const struct http_request *req,
                          struct http_response *resp, const struct auth_identity *who)
{
    const char *username = NULL, *password = NULL;
    enum auth_role role;
    json_t *b = body_object(req, resp);
    bool ok = b != NULL && get_credentials(b, true, true, &username, &password, resp) == 0 &&
              get_role(b, &role, resp) >= 0;
    json_decref(b);
    if (!ok)
        return;
    struct account_job job = {.op = ACCOUNTS_USER_CREATE};
    snprintf(job.caller, sizeof job.caller, "%s", who->username);
    http_request_defer_arg(req, resp, user_write_work, c, &job, sizeof job);
}

/* Anyone may change their own password; an admin may change anyone's, and roles. */
static void h_user_patch(struct central *c, const struct http_request *req,
                         struct http_response *resp, const struct auth_identity *who,
                         const char *target)
{
    const char *username = NULL, *password = NULL;
    enum auth_role role;
    if (!auth_username_valid(target)) {
        http_response_error(resp, 404, "user_not_found", NULL, "user %.64s not found", target);
        return;
    }
    json_t *b = body_object(req, resp);
    if (b == NULL)
        return;
    int has_role = 0;
    bool ok = get_credentials(b, false, false, &username, &password, resp) == 0 &&
              (has_role = get_role(b, &role, resp)) >= 0;
    bool has_user = username != NULL;
    json_decref(b);
    if (!ok)
        return;
    if (has_user) {
        http_response_error(resp, 422, "invalid_field", "username",
                            "a user cannot be renamed: create a new one");
        return;
    }
    bool self = strcmp(who->username, target) == 0;
    if (!self && who->role < AUTH_ROLE_ADMIN) {
        http_response_error(resp, 403, "forbidden", NULL,
                            "only an admin may change another user (you are %s)",
                            auth_role_name(who->role));
        return;
    }
    if (has_role == 1 && who->role < AUTH_ROLE_ADMIN) {
        http_response_error(resp, 403, "forbidden", "role", "only an admin may change roles");
        return;
    }
    if (password == NULL && has_role == 0) {
        http_response_error(resp, 422, "invalid_field", NULL,
                            "nothing to change: give 'password' and/or 'role'");
        return;
    }
    struct account_job job = {.op = ACCOUNTS_USER_PATCH};
    snprintf(job.caller, sizeof job.caller, "%s", who->username);
    snprintf(job.target, sizeof job.target, "%s", target);
    http_request_defer_arg(req, resp, user_write_work, c, &job, sizeof job);
}

static void h_user_delete(struct central *c, const struct http_request *req,
                          struct http_response *resp, const struct auth_identity *who,
                          const char *target)
{
    json_t *row = NULL;
    if (!auth_username_valid(target)) {
        http_response_error(resp, 404, "user_not_found", NULL, "user %.64s not found", target);
        return;
    }
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_error(c, resp, req->path);
        return;
    }
    rc = store_user_get(c->store, target, &row);
    if (rc == -ENOENT) {
        store_rollback(c->store);
        http_response_error(resp, 404, "user_not_found", NULL, "user %s not found", target);
        return;
    }
    if (rc == 0 && row_role(row) == AUTH_ROLE_ADMIN) {
        int admins = 0;
        rc = count_admins(c->store, &admins);
        if (rc == 0 && admins <= 1) {
            store_rollback(c->store);
            json_decref(row);
            http_response_error(resp, 409, "last_admin", NULL,
                                "%s is the last admin: make another user admin first", target);
            return;
        }
    }
    json_decref(row);
    if (rc == 0)
        rc = store_user_delete(c->store, target);
    rc = store_end(c->store, rc);
    if (rc < 0) {
        db_error(c, resp, req->path);
        return;
    }
    log_event(RH_LOG_INFO, "user_deleted", "{s:s, s:s}", "username", target, "by", who->username);
    http_response_json(resp, 200, json_pack("{s:s, s:s}", "status", "deleted", "username", target));
}

/* ---- tokens ---- */

/* The tokens who may see: all for an admin, else their own. */
static int visible_tokens(struct central *c, const struct auth_identity *who, json_t **out)
{
    json_t *rows = NULL;
    int rc =
        store_credential_list(c->store, who->role >= AUTH_ROLE_ADMIN ? NULL : who->username, &rows);
    if (rc < 0)
        return rc;
    json_t *tokens = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "kind")), "token") == 0)
            json_array_append(tokens, row);
    }
    json_decref(rows);
    *out = tokens;
    return 0;
}

static void h_tokens_list(struct central *c, const struct http_request *req,
                          struct http_response *resp, const struct auth_identity *who)
{
    json_t *rows = NULL;
    int rc = store_begin(c->store, false);
    if (rc == 0) {
        rc = visible_tokens(c, who, &rows);
        store_rollback(c->store);
    }
    if (rc < 0) {
        db_error(c, resp, req->path);
        return;
    }
    answer_views(resp, rows, view_token);
}

static void h_token_create(struct central *c, const struct http_request *req,
                           struct http_response *resp, const struct auth_identity *who, int64_t now)
{
    struct jsonx_err err = {0};
    const char *name = NULL, *owner = NULL;
    int64_t expires_in = 0;
    json_t *b = body_object(req, resp), *row = NULL, *user = NULL;
    if (b == NULL)
        return;
    int n = jsonx_string(b, "name", 1, TOKEN_NAME_MAX, false, &name, &err);
    int u = n < 0 ? 0 : jsonx_string(b, "username", 1, AUTH_USERNAME_MAX, false, &owner, &err);
    int e =
        n < 0 || u < 0 ? 0 : jsonx_int(b, "expires_in", 60, TOKEN_EXPIRES_MAX, &expires_in, &err);
    if (n == 0 && u >= 0 && e >= 0)
        jsonx_err_set(&err, "name", "'name' is required: a label for the token (1-%d characters)",
                      TOKEN_NAME_MAX);
    if (n != 1 || u < 0 || e < 0) {
        invalid(resp, &err);
        goto out;
    }
    if (owner == NULL)
        owner = who->username;
    if (strcmp(owner, who->username) != 0 && who->role < AUTH_ROLE_ADMIN) {
        http_response_error(resp, 403, "forbidden", "username",
                            "only an admin may create tokens for another user");
        goto out;
    }
    char secret[CREDENTIAL_MAX + 1], shash[SHA256_HEX_LEN + 1], id[17];
    secret_new(ACCOUNTS_TOKEN_PREFIX, secret, sizeof secret, shash, id);
    row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "secret_hash", shash, "id", id, "kind",
                    "token", "username", owner, "name", name, "created_at", (json_int_t)now);
    if (e == 1)
        json_object_set_new(row, "expires_at", json_integer(now + expires_in));
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_error(c, resp, req->path);
        goto wipe;
    }
    rc = store_user_get(c->store, owner, &user);
    if (rc == -ENOENT) {
        store_rollback(c->store);
        http_response_error(resp, 404, "user_not_found", "username", "user %s not found", owner);
        goto wipe;
    }
    if (rc == 0)
        rc = store_credential_insert(c->store, row);
    rc = store_end(c->store, rc);
    if (rc < 0) {
        db_error(c, resp, req->path);
        goto wipe;
    }
    log_event(RH_LOG_INFO, "token_created", "{s:s, s:s, s:s, s:s}", "id", id, "name", name,
              "username", owner, "by", who->username);
    json_t *view = view_token(row);
    json_object_set_new(view, "token", json_string(secret));
    http_response_json(resp, 201, view);
wipe:
    sodium_memzero(secret, sizeof secret);
out:
    json_decref(b);
    json_decref(row);
    json_decref(user);
}

static void h_token_delete(struct central *c, const struct http_request *req,
                           struct http_response *resp, const struct auth_identity *who,
                           const char *id)
{
    json_t *rows = NULL;
    int rc = store_begin(c->store, true);
    if (rc < 0) {
        db_error(c, resp, req->path);
        return;
    }
    rc = visible_tokens(c, who, &rows);
    const json_t *hit = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "id")), id) == 0)
            hit = row;
    }
    if (rc == 0 && hit == NULL) {
        store_rollback(c->store);
        json_decref(rows);
        http_response_error(resp, 404, "token_not_found", NULL, "token %.32s not found", id);
        return;
    }
    if (rc == 0)
        rc = store_credential_delete(c->store,
                                     json_string_value(json_object_get(hit, "secret_hash")));
    rc = store_end(c->store, rc);
    if (rc < 0) {
        json_decref(rows);
        db_error(c, resp, req->path);
        return;
    }
    log_event(RH_LOG_INFO, "token_revoked", "{s:s, s:O, s:s}", "id", id, "username",
              json_object_get(hit, "username"), "by", who->username);
    http_response_json(resp, 200, json_pack("{s:s, s:s}", "status", "revoked", "id", id));
    json_decref(rows);
}

void accounts_handle(struct central *c, enum accounts_op op, const struct http_request *req,
                     struct http_response *resp, const struct auth_identity *who, const char *arg,
                     int64_t now)
{
    if (op == ACCOUNTS_ME) {
        h_me(c, resp, who);
        return;
    }
    if (!c->opts.auth) {
        http_response_error(resp, 404, "auth_disabled", NULL,
                            "operator accounts are off: start roundhouse-central with --auth");
        return;
    }
    switch (op) {
    case ACCOUNTS_LOGIN:
        h_login(c, req, resp);
        break;
    case ACCOUNTS_LOGOUT:
        h_logout(c, req, resp, who);
        break;
    case ACCOUNTS_USERS_LIST:
        h_users_list(c, req, resp);
        break;
    case ACCOUNTS_USER_CREATE:
        h_user_create(c, req, resp, who);
        break;
    case ACCOUNTS_USER_PATCH:
        h_user_patch(c, req, resp, who, arg);
        break;
    case ACCOUNTS_USER_DELETE:
        h_user_delete(c, req, resp, who, arg);
        break;
    case ACCOUNTS_TOKENS_LIST:
        h_tokens_list(c, req, resp, who);
        break;
    case ACCOUNTS_TOKEN_CREATE:
        h_token_create(c, req, resp, who, now);
        break;
    case ACCOUNTS_TOKEN_DELETE:
        h_token_delete(c, req, resp, who, arg);
        break;
    default:
        http_response_error(resp, 404, "not_found", NULL, "no such resource: %s", req->path);
        break;
    }
}
