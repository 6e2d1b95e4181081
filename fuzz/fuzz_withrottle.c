/* The WiThrottle line splitter and parser, and the formatting of what a parsed command
 * makes the server send back: any bytes a client sends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "withrottle_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    if (len == 0 || len > WITHROTTLE_LINE_MAX || strlen(line) > len)
        abort();
    struct withrottle_cmd c;
    if (withrottle_parse(line, len, &c) < 0)
        return 0;
    if (c.kind == WT_THROTTLE) {
        if (!c.all && (c.address < 1 || c.address > WITHROTTLE_ADDRESS_MAX))
            abort();
        if (c.action == WT_ACT_SPEED && (c.value < -1 || c.value > WITHROTTLE_SPEED_MAX))
            abort();
        int pct = withrottle_speed_to_percent(c.value);
        if (pct < 0 || pct > 100)
            abort();
        char out[WITHROTTLE_LINE_MAX + 32];
        withrottle_format_train(out, sizeof out, c.throttle, (char)c.op,
                                c.key_type ? c.key_type : 'L', c.address, c.text);
    }
    if (strlen(c.text) > WITHROTTLE_TEXT_MAX)
        abort();
    struct withrottle_roster_entry e = {c.text, c.address};
    char *roster = NULL;
    if (withrottle_format_roster(&e, 1, &roster) == 0) {
        /* A name never breaks the line or its delimiters. */
        const char *name = strstr(roster, "]\\[");
        if (name == NULL || strchr(roster, '\n') != NULL || strchr(name + 3, '[') != NULL)
            abort();
    }
    free(roster);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct withrottle_linebuf lb;
    memset(&lb, 0, sizeof lb);
    /* Fed in two pieces: lines cut across reads. */
    size_t half = size / 2;
    if (withrottle_linebuf_feed(&lb, (const char *)data, half, on_line, NULL) == 0)
        withrottle_linebuf_feed(&lb, (const char *)data + half, size - half, on_line, NULL);
    return 0;
}
