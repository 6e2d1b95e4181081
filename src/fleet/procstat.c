#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "parse.h"

#define PROC_FILE_MAX (4u << 20) /* /proc/net/tcp of a busy host can be large */
/* Bounds for the scan of /proc: a host with more processes or descriptors than this is not
 * a benchmark machine. */
#define PROC_SCAN_MAX_PIDS 65536
#define PROC_SCAN_MAX_FDS 1048576

int procstat_parse_stat(const char *text, uint64_t *cpu_ticks)
{
    const char *p = strrchr(text, ')');
    if (p == NULL)
        return -EINVAL;
    p++;
    /* After ')' come field 3 (state) ... field 14 (utime), field 15 (stime). */
    unsigned long long v[13];
    int field = 0;
    char *end = NULL;
    while (field < 13) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return -EINVAL;
        if (field == 0) { /* state: one character */
            p++;
            v[field++] = 0;
            continue;
        }
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno != 0)
            return -EINVAL;
        v[field++] = x < 0 ? 0 : (unsigned long long)x;
        p = end;
    }
    *cpu_ticks = (uint64_t)v[11] + (uint64_t)v[12];
    return 0;
}

static int status_field(const char *text, const char *name, long *out)
{
    size_t n = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            char *end = NULL;
            errno = 0;
            long v = strtol(line + n + 1, &end, 10);
            if (end == line + n + 1 || errno != 0 || v < 0)
                return -EINVAL;
            *out = v;
            return 0;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -ENOENT;
}

int procstat_parse_status(const char *text, long *rss_kib, long *hwm_kib)
{
    long rss = 0, hwm = 0;
    if (status_field(text, "VmRSS", &rss) < 0)
        return -EINVAL;
    if (status_field(text, "VmHWM", &hwm) < 0)
        hwm = rss;
    *rss_kib = rss;
    *hwm_kib = hwm;
    return 0;
}

int procstat_parse_listener(const char *text, int port, unsigned long *inode)
{
    const char *line = strchr(text, '\n'); /* skip the header */
    while (line != NULL && *++line != '\0') {
        /* "  0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000
         *  0 0 12345 ..." */
        char local[80], remote[80], st[8];
        unsigned long ino = 0;
        int uid = 0, timeout = 0;
        unsigned slot = 0;
        char q[32], tr[32], retr[16];
        if (sscanf(line, " %u: %79s %79s %7s %31s %31s %15s %d %d %lu", &slot, local, remote, st, q,
                   tr, retr, &uid, &timeout, &ino) == 10) {
            const char *colon = strrchr(local, ':');
            unsigned long p = colon ? strtoul(colon + 1, NULL, 16) : 0;
            if (strcmp(st, "0A") == 0 && (int)p == port && ino != 0) {
                *inode = ino;
                return 0;
            }
        }
        line = strchr(line, '\n');
    }
    return -ENOENT;
}

static int read_proc(const char *path, char **text)
{
    return fileio_read_all(path, PROC_FILE_MAX, text, NULL);
}

int procstat_read(pid_t pid, struct procstat_sample *out)
{
    char path[64];
    char *text = NULL;
    struct procstat_sample s = {0};
    int rc;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    rc = read_proc(path, &text);
    if (rc < 0)
        goto out;
    rc = procstat_parse_stat(text, &s.cpu_ticks);
    free(text);
    text = NULL;
    if (rc < 0)
        goto out;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    rc = read_proc(path, &text);
    if (rc < 0)
        goto out;
    rc = procstat_parse_status(text, &s.rss_kib, &s.hwm_kib);
    if (rc == 0)
        *out = s;
out:
    free(text);
    return rc;
}

static bool pid_has_socket(const char *pid, const char *want)
{
    char dir[300], path[600], link[64];
    int n = snprintf(dir, sizeof dir, "/proc/%s/fd", pid);
    if (n < 0 || (size_t)n >= sizeof dir)
        return false;
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    struct dirent *de;
    for (long i = 0; i < PROC_SCAN_MAX_FDS && (de = readdir(d)) != NULL; i++) {
        if (de->d_name[0] == '.')
            continue;
        n = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        ssize_t len = readlink(path, link, sizeof link - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (strcmp(link, want) == 0) {
            found = true;
            break;
        }
    }
    closedir(d);
    return found;
}

int procstat_find_listener(int port, pid_t *out)
{
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    unsigned long inode = 0;
    int rc = -ENOENT;
    for (size_t i = 0; i < 2 && rc < 0; i++) {
        char *text = NULL;
        if (read_proc(tables[i], &text) == 0)
            rc = procstat_parse_listener(text, port, &inode);
        free(text);
    }
    if (rc < 0)
        return rc;
    char want[48];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -errno;
    struct dirent *de;
    rc = -ENOENT;
    for (long i = 0; i < PROC_SCAN_MAX_PIDS && (de = readdir(d)) != NULL; i++) {
        long pid = 0;
        if (parse_long(de->d_name, 1, INT32_MAX, &pid) < 0 || pid == (long)getpid())
            continue;
        if (pid_has_socket(de->d_name, want)) {
            *out = (pid_t)pid;
            rc = 0;
            break;
        }
    }
    closedir(d);
    return rc;
}
