/* One HTTP/1.x response as it arrives from the central, parsed with http-parser: the status,
 * the two headers the edge acts on (ETag, Retry-After) and the body, whatever its framing
 * (Content-Length, chunked, or up to the end of the connection). Pure: no sockets, bytes in,
 * verdict out; api_client.c feeds it and the fuzz target fuzz_edge_http feeds it anything.
 *
 * Everything taken from the network is bounded: the head by http-parser (80 KiB), the body by
 * the max given to response_parser_init, header values the edge keeps by RESPONSE_PARSER_ETAG_MAX.
 */
#ifndef ROUNDHOUSE_EDGE_RESPONSE_PARSER_H
#define ROUNDHOUSE_EDGE_RESPONSE_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#define RESPONSE_PARSER_ETAG_MAX 256
#define RESPONSE_PARSER_RETRY_AFTER_MAX_S (24 * 3600)

enum http_header_kind { HTTP_HDR_OTHER = 0, HTTP_HDR_ETAG, HTTP_HDR_RETRY_AFTER };

struct response_parser {
    http_parser parser;
    size_t body_max;
    long status; /* 0 until the head is complete */
    char *body;  /* NUL-terminated once anything arrived; owned */
    size_t body_len, body_cap;
    char etag[RESPONSE_PARSER_ETAG_MAX]; /* "" when absent or longer than the bound */
    int64_t retry_after_ms;              /* -1 when absent or not delta-seconds */
    bool complete;
    size_t received;   /* bytes fed so far */
    const char *error; /* static text, set with a negative return */
    int fail;          /* the negative errno a callback stopped the parser with */

    /* Header being received: http-parser may hand over a name or value in pieces. */
    enum http_header_kind hdr;
    bool in_value;
    char name[16]; /* long enough for the names looked for; longer ones are "other" */
    size_t name_len;
    bool name_long;
    char value[RESPONSE_PARSER_ETAG_MAX];
    size_t value_len;
    bool value_long;
};

void response_parser_init(struct response_parser *r, size_t body_max);
/* Frees the body. The struct may be initialised again afterwards. */
void response_parser_clear(struct response_parser *r);
/* Feeds bytes received. 1 when the response is complete (bytes after it are ignored), 0 when
 * more are needed, or a negative errno with r->error set: -EPROTO for a malformed response,
 * -EFBIG for a body above the bound, -ENOMEM. */
int response_parser_feed(struct response_parser *r, const char *data, size_t len);
/* The peer closed the connection. 1 when that completes the response (a body delimited by the
 * end of the connection, or one already complete), else a negative errno with r->error set:
 * -ECONNRESET when it ended early, -ENODATA when nothing at all arrived. */
int response_parser_eof(struct response_parser *r);

#endif
