/* Blocking HTTP requests to the central API for the roundhouse CLI, over libcurl's easy
 * interface: a command-line client makes one request at a time and has nothing else to do
 * while it waits, so the multi interface would only add code.
 *
 * Every request has a connect and a total timeout, and a response body larger than
 * HTTP_CLIENT_BODY_MAX is refused, so a wrong URL or a misbehaving server cannot hang the
 * client or exhaust its memory. Redirects are not followed and only http/https are spoken.
 * The caller runs curl_global_init() once before http_client_new(). Not thread-safe. */
#ifndef ROUNDHOUSE_CLI_HTTP_CLIENT_H
#define ROUNDHOUSE_CLI_HTTP_CLIENT_H

#include <stddef.h>

/* 16 MiB: far above any registry export the central can produce, far below harm. */
#define HTTP_CLIENT_BODY_MAX ((size_t)16 << 20)

struct http_client;

/* One answer. body is malloc'd, NUL-terminated (possibly empty) and owned by the reply
 * until http_reply_clear(). */
struct http_reply {
    long status;
    char *body;
    size_t len;
};

/* base_url: "http://host[:port][/prefix]" or https; trailing slashes are ignored.
 * timeout_ms bounds the whole request (connecting included). 0, -EINVAL for another scheme or
 * an over-long URL, -ENOMEM. *out untouched on failure. */
int http_client_new(const char *base_url, long timeout_ms, struct http_client **out);
void http_client_free(struct http_client *c);
/* PEM CA file trusted for https (curl's CURLOPT_CAINFO); NULL: curl's default store. The
 * string must outlive the client. */
void http_client_set_ca(struct http_client *c, const char *ca_file);

/* Sends "Authorization: Bearer token" with every later request (NULL: none). The session
 * cookie a login answers with (Set-Cookie) is kept in memory and sent back likewise.
 * 0, or -E2BIG for a token over 512 bytes. */
int http_client_set_token(struct http_client *c, const char *token);

/* The base URL without trailing slashes. */
const char *http_client_base(const struct http_client *c);

/* Sends method base_url+path (path already escaped, starting with '/') with an optional
 * JSON body (NULL: none). Returns 0 when the server answered, whatever its status (reply
 * filled), or a negative errno for a transport failure, with http_client_error() describing
 * it: -ETIMEDOUT, -ECONNREFUSED (cannot connect or resolve), -EFBIG (body over the limit),
 * -EPROTO (not an HTTP answer), -ENOMEM, -EIO (anything else). reply untouched on failure. */
int http_client_request(struct http_client *c, const char *method, const char *path,
                        const char *body, size_t body_len, struct http_reply *reply);

/* Human description of the last transport failure ("" when none). */
const char *http_client_error(const struct http_client *c);

/* Writes prefix + percent-encoded segment + suffix into out, so that a train id holding
 * '?', '%' or non-ASCII letters still names one path segment. 0, -ENAMETOOLONG, -ENOMEM. */
int http_client_path(struct http_client *c, char *out, size_t outlen, const char *prefix,
                     const char *segment, const char *suffix);

void http_reply_clear(struct http_reply *r);

#endif
