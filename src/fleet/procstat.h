/* CPU time and memory of another process (the central under test), from /proc.
 *
 * The parsers are pure (text in, numbers out) so they can be tested on canned text; the
 * readers open /proc files. All return 0 or a negative errno; outputs are untouched on
 * failure. */
#ifndef ROUNDHOUSE_FLEET_PROCSTAT_H
#define ROUNDHOUSE_FLEET_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct procstat_sample {
    uint64_t cpu_ticks; /* utime + stime, in clock ticks (sysconf(_SC_CLK_TCK)) */
    long rss_kib;       /* VmRSS */
    long hwm_kib;       /* VmHWM: peak RSS since the process started */
};

/* utime + stime from the text of /proc/PID/stat (the command name may hold spaces and
 * parentheses: fields are counted after the last ')'). -EINVAL when malformed. */
int procstat_parse_stat(const char *text, uint64_t *cpu_ticks);
/* VmRSS and VmHWM (KiB) from the text of /proc/PID/status. -EINVAL when VmRSS is missing;
 * a missing VmHWM reads as VmRSS. */
int procstat_parse_status(const char *text, long *rss_kib, long *hwm_kib);
/* The inode of a TCP socket listening on port (any local address) in the text of
 * /proc/net/tcp or /proc/net/tcp6. -ENOENT when there is none. */
int procstat_parse_listener(const char *text, int port, unsigned long *inode);

/* Reads /proc/PID/stat and /proc/PID/status. */
int procstat_read(pid_t pid, struct procstat_sample *out);
/* The process that owns a TCP socket listening on port (looked up in /proc/net/tcp{,6},
 * then in /proc/PID/fd of every process we may inspect). -ENOENT when not found. */
int procstat_find_listener(int port, pid_t *out);

#endif
