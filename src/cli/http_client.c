#include "http_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "strbuf.h"

#define URL_MAX 2048

struct http_client {
    CURL *easy;
    long timeout_ms;
    const char *ca_file;
    char base[URL_MAX];
    char error[CURL_ERROR_SIZE + 128];
    char authorization[600]; /* "Authorization: Bearer ..." or "" */
    /* "Cookie: NAME=VALUE" of the session cookie the central set last, or "". Kept here
     * rather than by libcurl's cookie engine: with curl_easy_reset between requests,
     * libcurl 7.88 leaks its list of cookie files (CURLOPT_COOKIEFILE). */
    char cookie[300];
};

/* A Set-Cookie header: its NAME=VALUE kept for the next requests (one session cookie is all
 * the central sets; an empty value, as on logout, forgets it). */
static size_t header_seen(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_client *c = userdata;
    size_t n = size * nmemb;
    static const char name[] = "set-cookie:";
    if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        const char *v = ptr + sizeof name - 1;
        const char *end = ptr + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        size_t len = 0;
        while (v + len < end && v[len] != ';' && v[len] != '\r' && v[len] != '\n')
            len++;
        const char *eq = memchr(v, '=', len);
        if (eq == NULL || eq + 1 == v + len)
            c->cookie[0] = '\0';
        else if (len + sizeof "Cookie: " <= sizeof c->cookie)
            snprintf(c->cookie, sizeof c->cookie, "Cookie: %.*s", (int)len, v);
    }
    return n;
}

/* Response body being received. */
struct sink {
    char *buf;
    size_t len, cap;
    bool too_big, no_memory;
};

int http_client_new(const char *base_url, long timeout_ms, struct http_client **out)
{
    if (base_url == NULL || timeout_ms <= 0)
        return -EINVAL;
    if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0)
        return -EINVAL;
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (n >= URL_MAX)
        return -EINVAL;
    struct http_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->easy = curl_easy_init();
    if (c->easy == NULL) {
        free(c);
        return -ENOMEM;
    }
    memcpy(c->base, base_url, n);
    c->base[n] = '\0';
    c->timeout_ms = timeout_ms;
    *out = c;
    return 0;
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->easy);
    free(c);
}

int http_client_set_token(struct http_client *c, const char *token)
{
    if (token == NULL) {
        c->authorization[0] = '\0';
        return 0;
    }
    if (strlen(token) > 512)
        return -E2BIG;
    snprintf(c->authorization, sizeof c->authorization, "Authorization: Bearer %s", token);
    return 0;
}

const char *http_client_base(const struct http_client *c)
{
    return c->base;
}

const char *http_client_error(const struct http_client *c)
{
    return c->error;
}

void http_reply_clear(struct http_reply *r)
{
    if (r == NULL)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 0;
}

int http_client_path(struct http_client *c, char *out, size_t outlen, const char *prefix,
                     const char *segment, const char *suffix)
{
    char *esc = curl_easy_escape(c->easy, segment, 0);
    if (esc == NULL)
        return -ENOMEM;
    int n = snprintf(out, outlen, "%s%s%s", prefix, esc, suffix ? suffix : "");
    curl_free(esc);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;
    if (n > HTTP_CLIENT_BODY_MAX - s->len) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (strbuf_append(&s->buf, &s->len, &s->cap, ptr, n) < 0) {
        s->no_memory = true;
        return 0;
    }
    return n;
}

static int transport_error(struct http_client *c, CURLcode res, const struct sink *s,
                           const char *errbuf)
{
    if (s->too_big || res == CURLE_FILESIZE_EXCEEDED) {
        snprintf(c->error, sizeof c->error, "the response is larger than %zu MiB",
                 HTTP_CLIENT_BODY_MAX >> 20);
        return -EFBIG;
    }
    if (s->no_memory || res == CURLE_OUT_OF_MEMORY) {
        snprintf(c->error, sizeof c->error, "out of memory");
        return -ENOMEM;
    }
    /* errbuf has the specific reason ("Failed to connect to 127.0.0.1 port 1: Connection
     * refused"); curl_easy_strerror only the category. */
    snprintf(c->error, sizeof c->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -ECONNREFUSED;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_GOT_NOTHING:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EPROTO;
    default:
        return -EIO;
    }
}

/* line appended to *list: false (the list left as it was) when out of memory. */
static bool header_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *h = curl_slist_append(*list, line);
    if (h == NULL)
        return false;
    *list = h;
    return true;
}

/* The request's headers: NULL when out of memory. */
static struct curl_slist *request_headers(const struct http_client *c, bool has_body)
{
    struct curl_slist *headers = NULL;
    if (!header_add(&headers, "Accept: application/json") ||
        (c->authorization[0] != '\0' && !header_add(&headers, c->authorization)) ||
        (c->cookie[0] != '\0' && !header_add(&headers, c->cookie)) ||
        (has_body && !header_add(&headers, "Content-Type: application/json")))
        goto fail;
    /* A central started with --registration-token wants it on import (docs/security.md). */
    const char *token = getenv("ROUNDHOUSE_REGISTRATION_TOKEN");
    if (token != NULL && token[0] != '\0' && strpbrk(token, "\r\n") == NULL) {
        char line[320];
        int n = snprintf(line, sizeof line, "X-Registration-Token: %s", token);
        if (n > 0 && (size_t)n < sizeof line && !header_add(&headers, line))
            goto fail;
    }
    return headers;
fail:
    curl_slist_free_all(headers);
    return NULL;
}

/* The handle is reused so that a command making several requests keeps its connection, but
 * no option of an earlier request may leak into this one: reset, then set for this one. */
static void request_options(struct http_client *c, const char *url, struct curl_slist *headers,
                            const char *method, const char *body, size_t body_len, struct sink *s,
                            char *errbuf)
{
    CURL *e = c->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    /* A login's session cookie goes back on the later requests, in memory only. */
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_seen);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_CLIENT_BODY_MAX);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    /* Without it curl may use SIGALRM for resolver timeouts. */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "roundhouse/" ROUNDHOUSE_VERSION);
}

int http_client_request(struct http_client *c, const char *method, const char *path,
                        const char *body, size_t body_len, struct http_reply *reply)
{
    char url[URL_MAX + 1024];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    struct sink s = {0};
    int rc = -ENOMEM;
    c->error[0] = '\0';
    int n = snprintf(url, sizeof url, "%s%s", c->base, path);
    if (n < 0 || (size_t)n >= sizeof url) {
        snprintf(c->error, sizeof c->error, "the request URL is too long");
        return -ENAMETOOLONG;
    }
    headers = request_headers(c, body != NULL);
    if (headers == NULL)
        goto out;
    request_options(c, url, headers, method, body, body_len, &s, errbuf);
    CURLcode res = curl_easy_perform(c->easy);
    /* The error buffer lives on this stack frame: the handle must not keep pointing at it. */
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
    if (res != CURLE_OK) {
        rc = transport_error(c, res, &s, errbuf);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (s.buf == NULL) {
        s.buf = calloc(1, 1);
        if (s.buf == NULL)
            goto out;
    }
    reply->status = status;
    reply->body = s.buf;
    reply->len = s.len;
    s.buf = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM && c->error[0] == '\0')
        snprintf(c->error, sizeof c->error, "out of memory");
    curl_slist_free_all(headers);
    free(s.buf);
    return rc;
}

void http_client_set_ca(struct http_client *c, const char *ca_file)
{
    c->ca_file = ca_file;
}
