#include "cli_discover.h"

#include <errno.h>

#include "dnssd.h"

int cli_discover_central(char *url, size_t len, long timeout_ms, FILE *err)
{
    struct dnssd_browser *b = NULL;
    char why[160] = "";
    int rc = dnssd_browser_start(DNSSD_TYPE_ROUNDHOUSE, NULL, NULL, &b);
    if (rc < 0) {
        fprintf(err, "roundhouse: cannot look for a central by DNS-SD: out of memory\n");
        return rc;
    }
    rc = dnssd_browser_wait(b, timeout_ms, url, len, why, sizeof why);
    dnssd_browser_free(b);
    if (rc < 0) {
        fprintf(err,
                "roundhouse: no central found by DNS-SD (%s) within %ld s: %s; give --central "
                "URL or set ROUNDHOUSE_CENTRAL\n",
                DNSSD_TYPE_ROUNDHOUSE, (timeout_ms + 999) / 1000, why);
        return rc;
    }
    fprintf(err, "roundhouse: using the central found by DNS-SD at %s\n", url);
    return 0;
}
