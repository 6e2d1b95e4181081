/* A central's answer as the edge's HTTP client parses it (response_parser.h): any bytes, fed
 * whole and again in pieces as they might come off the socket, then the end of the
 * connection. Both ways must agree, the body stays within its bound and NUL-terminated, and
 * what the edge acts on (status, ETag, Retry-After) is within range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "response_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small, so that the bound is reached by inputs of fuzzing size. */
#define FUZZ_BODY_MAX 4096

static int parse(struct response_parser *r, const char *s, size_t len, size_t piece)
{
    int rc = 0;
    response_parser_init(r, FUZZ_BODY_MAX);
    for (size_t off = 0; off < len && rc == 0; off += piece)
        rc = response_parser_feed(r, s + off, len - off < piece ? len - off : piece);
    if (rc == 0)
        rc = response_parser_eof(r);
    return rc;
}

static void check(const struct response_parser *r, int rc)
{
    if (rc == 0 || (rc < 0 && r->error == NULL) || (rc > 0 && !r->complete))
        abort();
    if (r->body_len > FUZZ_BODY_MAX || (r->body != NULL && r->body[r->body_len] != '\0') ||
        (r->body == NULL && r->body_len != 0))
        abort();
    if (rc > 0 && (r->status < 200 || r->status > 999))
        abort();
    if (strlen(r->etag) >= RESPONSE_PARSER_ETAG_MAX)
        abort();
    if (r->retry_after_ms != -1 &&
        (r->retry_after_ms < 0 || r->retry_after_ms > RESPONSE_PARSER_RETRY_AFTER_MAX_S * 1000LL ||
         r->retry_after_ms % 1000 != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct response_parser whole, pieces;
    size_t piece = size > 0 ? (size_t)(data[0] % 17) + 1 : 1;
    int a = parse(&whole, (const char *)data, size, size > 0 ? size : 1);
    int b = parse(&pieces, (const char *)data, size, piece);
    check(&whole, a);
    check(&pieces, b);
    if (a != b)
        abort();
    if (a > 0 &&
        (whole.status != pieces.status || whole.body_len != pieces.body_len ||
         (whole.body_len > 0 && memcmp(whole.body, pieces.body, whole.body_len) != 0) ||
         strcmp(whole.etag, pieces.etag) != 0 || whole.retry_after_ms != pieces.retry_after_ms))
        abort();
    response_parser_clear(&whole);
    response_parser_clear(&pieces);
    return 0;
}
