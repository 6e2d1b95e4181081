/* cluster.h in a build without libpq (cmake -DROUNDHOUSE_POSTGRES=OFF): the store can only be
 * SQLite there, so there is never more than one instance and never a cluster. */
#include "cluster.h"

#include <errno.h>
#include <stdio.h>

int cluster_start(struct central *c, struct cluster **out)
{
    (void)c;
    *out = NULL;
    return 0;
}

void cluster_stop(struct cluster *cl)
{
    (void)cl;
}

bool cluster_peers_ok(const struct cluster *cl)
{
    (void)cl;
    return true;
}

bool cluster_duty(const struct cluster *cl)
{
    (void)cl;
    return true;
}

void cluster_config_bumped(struct cluster *cl, const json_t *bumped)
{
    (void)cl;
    (void)bumped;
}

const char *cluster_instance(const struct cluster *cl)
{
    (void)cl;
    return "";
}

json_t *cluster_health(const struct cluster *cl)
{
    (void)cl;
    return NULL;
}

void cluster_metrics(const struct cluster *cl, struct prom *p)
{
    (void)cl;
    (void)p;
}
