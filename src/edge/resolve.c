#include "resolve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared by the loop and the thread; whoever drops the last reference frees it. The thread
 * writes the result before it sets done, the loop reads it only after seeing done. */
#define HOST_MAX 256 /* a DNS name is at most 253 characters */
#define PORT_MAX 8

struct resolve_job {
    atomic_int refs;
    atomic_bool done;
    char host[HOST_MAX];
    char port[PORT_MAX]; /* "": none */
    int rc;              /* 0 or EAI_* */
    struct resolve_addr addrs[RESOLVE_ADDRS_MAX];
    size_t naddrs;
};

size_t resolve_addrs_copy(struct resolve_addr *dst, size_t max, const struct addrinfo *ai)
{
    size_t n = 0;
    for (; ai != NULL && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof dst[n].sa ||
            (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
            continue;
        memcpy(&dst[n].sa, ai->ai_addr, ai->ai_addrlen);
        dst[n].len = ai->ai_addrlen;
        n++;
    }
    return n;
}

static void job_release(struct resolve_job *j)
{
    if (j != NULL && atomic_fetch_sub(&j->refs, 1) == 1)
        free(j);
}

static void *resolve_main(void *arg)
{
    struct resolve_job *j = arg;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = j->port[0] ? AI_NUMERICSERV : 0;
    j->rc = getaddrinfo(j->host, j->port[0] ? j->port : NULL, &hints, &ai);
    if (j->rc == 0) {
        j->naddrs = resolve_addrs_copy(j->addrs, RESOLVE_ADDRS_MAX, ai);
        if (j->naddrs == 0)
            j->rc = EAI_NONAME;
        freeaddrinfo(ai);
    }
    atomic_store(&j->done, true);
    job_release(j);
    return NULL;
}

int resolve_start(const char *host, const char *port, struct resolve_job **out)
{
    pthread_t tid;
    pthread_attr_t attr;
    if (strlen(host) >= HOST_MAX || (port != NULL && strlen(port) >= PORT_MAX))
        return -EINVAL;
    struct resolve_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    snprintf(j->host, sizeof j->host, "%s", host);
    snprintf(j->port, sizeof j->port, "%s", port ? port : "");
    atomic_init(&j->refs, 2);
    atomic_init(&j->done, false);
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, resolve_main, j);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        free(j);
        return -rc;
    }
    *out = j;
    return 0;
}

bool resolve_done(const struct resolve_job *j)
{
    return atomic_load(&j->done);
}

int resolve_result(const struct resolve_job *j, struct resolve_addr *out, size_t max, size_t *n)
{
    *n = 0;
    if (j->rc != 0)
        return j->rc;
    for (size_t i = 0; i < j->naddrs && i < max; i++)
        out[(*n)++] = j->addrs[i];
    return 0;
}

void resolve_drop(struct resolve_job *j)
{
    job_release(j);
}
