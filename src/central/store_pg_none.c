/* The PostgreSQL backend in a build without libpq (cmake -DROUNDHOUSE_POSTGRES=OFF: the ARM
 * cross builds, where Debian's libpq-dev cannot be installed beside the host's). Opening a
 * postgresql:// database says so; nothing else of the backend can be reached, since only a
 * successful pg_open sets a store's operations to PostgreSQL's. */
#include "store_backend.h"

#include <errno.h>
#include <stdio.h>

int pg_open(struct store *st, const char *url, int max_version, bool maintenance, char *err,
            size_t errlen)
{
    (void)st;
    (void)url;
    (void)max_version;
    (void)maintenance;
    snprintf(err, errlen, "%s",
             "this roundhouse-central was built without PostgreSQL support "
             "(ROUNDHOUSE_POSTGRES=OFF)");
    return -EPROTONOSUPPORT;
}
