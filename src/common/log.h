/* Structured logging: one line per event on stderr, JSON by default.
 *
 *   log_event(RH_LOG_INFO, "controller_registered", "{s:s, s:s, s:I}",
 *             "uuid", uuid, "status", status, "duration_ms", (json_int_t)ms);
 *
 * The fields argument is a jansson json_pack() format describing one object (or NULL for no
 * fields); use "s?" for strings that may be NULL. Thread-safe: a line is written with one
 * write(2). Library code should return errors and leave logging to programs. */
#ifndef ROUNDHOUSE_LOG_H
#define ROUNDHOUSE_LOG_H

#include <stdbool.h>

/* RH_: <syslog.h> defines LOG_DEBUG, LOG_INFO and the like as macros. */
enum log_level { RH_LOG_DEBUG = 0, RH_LOG_INFO, RH_LOG_WARNING, RH_LOG_ERROR };
enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT };

void log_setup(enum log_level level, enum log_format format);
/* "debug", "info", "warning" (or "warn"), "error", case-insensitive. 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* "json" or "text". 0 or -EINVAL. */
int log_format_parse(const char *s, enum log_format *out);
bool log_enabled(enum log_level level);
void log_event(enum log_level level, const char *event, const char *fields_fmt, ...);
/* Between log_hold and log_release, this thread's debug and info lines are kept and written
 * together by log_release, in one write(2) (a warning or an error writes them, then itself,
 * at once). For a loop that serves several requests per round: one write per round instead of
 * one per line. log_hold_free also frees the thread's buffer (before the thread ends). */
void log_hold(void);
void log_release(void);
void log_hold_free(void);

#endif
