#include "response_parser.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "strbuf.h"

static struct response_parser *resp_of(http_parser *p)
{
    return p->data;
}

static int fail(struct response_parser *r, int rc, const char *why)
{
    r->fail = rc;
    r->error = why;
    return -1; /* stops http-parser with HPE_CB_* */
}

/* The end of one header line: keep what the edge acts on. */
static void header_done(struct response_parser *r)
{
    if (!r->in_value)
        return;
    r->in_value = false;
    if (r->value_long || r->hdr == HTTP_HDR_OTHER)
        return;
    /* http-parser drops the spaces before a value, not those after it. */
    while (r->value_len > 0 &&
           (r->value[r->value_len - 1] == ' ' || r->value[r->value_len - 1] == '\t'))
        r->value_len--;
    r->value[r->value_len] = '\0';
    if (r->hdr == HTTP_HDR_ETAG) {
        memcpy(r->etag, r->value, r->value_len + 1);
    } else {
        long secs;
        /* Only the delta-seconds form; an HTTP-date falls back to the edge's own backoff. */
        if (parse_long(r->value, 0, RESPONSE_PARSER_RETRY_AFTER_MAX_S, &secs) == 0)
            r->retry_after_ms = (int64_t)secs * 1000;
    }
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct response_parser *r = resp_of(p);
    if (r->in_value) { /* a new header line starts */
        header_done(r);
        r->name_len = 0;
        r->name_long = false;
    }
    if (r->name_long || r->name_len + len >= sizeof r->name) {
        r->name_long = true;
        return 0;
    }
    memcpy(r->name + r->name_len, at, len);
    r->name_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct response_parser *r = resp_of(p);
    if (!r->in_value) { /* the name is complete now */
        r->in_value = true;
        r->value_len = 0;
        r->value_long = false;
        r->hdr = HTTP_HDR_OTHER;
        if (!r->name_long) {
            r->name[r->name_len] = '\0';
            if (strcasecmp(r->name, "ETag") == 0)
                r->hdr = HTTP_HDR_ETAG;
            else if (strcasecmp(r->name, "Retry-After") == 0)
                r->hdr = HTTP_HDR_RETRY_AFTER;
        }
    }
    if (r->hdr == HTTP_HDR_OTHER || r->value_long)
        return 0;
    if (r->value_len + len >= sizeof r->value) {
        r->value_long = true; /* an ETag we could not send back whole is no ETag */
        return 0;
    }
    memcpy(r->value + r->value_len, at, len);
    r->value_len += len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct response_parser *r = resp_of(p);
    header_done(r);
    r->status = (long)p->status_code;
    /* A status is three digits (http-parser takes fewer), and 0 would read as "no answer" to
     * the caller. The edge never asks to switch protocols; http-parser would stop at 101. */
    if (r->status < 100 || r->status > 999 || r->status == 101)
        return fail(r, -EPROTO, "malformed response");
    /* A body announced above the bound is refused before any of it is read. */
    if ((p->flags & F_CHUNKED) == 0 && p->content_length != ULLONG_MAX &&
        p->content_length > r->body_max)
        return fail(r, -EFBIG, "response body too large");
    /* 1xx, 204 and 304 never have a body, whatever their headers say (RFC 9112 6.3). */
    if (r->status < 200 || r->status == 204 || r->status == 304)
        return 1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct response_parser *r = resp_of(p);
    if (len > r->body_max - r->body_len)
        return fail(r, -EFBIG, "response body too large");
    if (strbuf_append(&r->body, &r->body_len, &r->body_cap, at, len) < 0)
        return fail(r, -ENOMEM, "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct response_parser *r = resp_of(p);
    if (r->status >= 100 && r->status < 200) {
        /* An interim answer (100 Continue, 103 Early Hints): the real one follows. */
        r->status = 0;
        r->etag[0] = '\0';
        r->retry_after_ms = -1;
        r->name_len = 0;
        r->name_long = false;
        r->in_value = false;
        return 0;
    }
    r->complete = true;
    http_parser_pause(p, 1); /* whatever follows is not ours */
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void response_parser_init(struct response_parser *r, size_t body_max)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    r->body_max = body_max;
    r->retry_after_ms = -1;
}

void response_parser_clear(struct response_parser *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
}

static int parse_error(struct response_parser *r)
{
    if (r->fail < 0)
        return r->fail;
    r->error = "malformed response";
    return -EPROTO;
}

int response_parser_feed(struct response_parser *r, const char *data, size_t len)
{
    if (r->complete)
        return 1;
    if (r->error != NULL)
        return r->fail < 0 ? r->fail : -EPROTO;
    if (len == 0)
        return 0; /* http-parser reads a zero length as the end of the connection */
    r->received += len;
    size_t n = http_parser_execute(&r->parser, &settings, data, len);
    if (r->complete)
        return 1;
    if (n != len || HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
        return parse_error(r);
    return 0;
}

int response_parser_eof(struct response_parser *r)
{
    if (r->complete)
        return 1;
    if (r->error != NULL)
        return r->fail < 0 ? r->fail : -EPROTO;
    bool started = r->received > 0;
    http_parser_execute(&r->parser, &settings, NULL, 0);
    if (r->complete)
        return 1;
    if (r->fail < 0)
        return r->fail;
    if (!started && HTTP_PARSER_ERRNO(&r->parser) == HPE_OK) {
        r->error = "empty reply from server";
        return -ENODATA;
    }
    r->error = "connection closed before the response was complete";
    return -ECONNRESET;
}
