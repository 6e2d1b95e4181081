/* The HTTP server's rules that need no connection, apart so that they are unit-tested
 * (tests/unit/test_http_rules.c): UTF-8 checks of what an answer echoes, and which origins
 * may read answers (CORS) and send writes (docs/security.md, "Cross-origin requests"). */
#ifndef ROUNDHOUSE_HTTP_RULES_H
#define ROUNDHOUSE_HTTP_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s is UTF-8 throughout (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF). */
bool http_utf8_valid(const char *s);
/* Error details echo paths and headers, which may hold any bytes, and a cut at a buffer's
 * end may split a character: jansson refuses such a string, and the answer would lose its
 * body. Each byte that does not start a whole UTF-8 character becomes '?'. */
void http_utf8_scrub(char *s);

/* Whether origin is in cors, the --cors-origins list ("*", or origins separated by commas and
 * blanks, compared without case); *wildcard tells "*". NULL or empty cors: none. */
bool http_origin_listed(const char *cors, const char *origin, bool *wildcard);
/* Whether Origin names this server as the browser reached it (its Host header), over http or
 * https, the scheme's default port ignored. A reverse proxy that rewrites Host makes the
 * browser's origin a foreign one: list it in --cors-origins then. */
bool http_same_origin(const char *origin, const char *host);

#endif
