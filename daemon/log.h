/*
 * log — the daemon's structured log: one logfmt line per event on stderr,
 *
 *     ts=2026-11-26T21:15:26.123Z level=info msg=request method=GET ...
 *
 * written with a single write(2) so lines from different threads never
 * interleave. The level is process-wide, set once at start.
 */
#ifndef ADALORAD_DAEMON_LOG_H
#define ADALORAD_DAEMON_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Until log_release(), keep lines in memory: adalorad's first line on
 * stderr must be "listening on ADDR:PORT", and start-up work logs before
 * the socket is bound. */
void log_hold(void);
void log_release(void);
/* "debug", "info", "warn", "error" -> 0..3; -1 for anything else. */
int log_level_from_name(const char *name);
/* pairs: logfmt text without ts and level ("msg=... key=value"). */
void log_line(enum log_level level, const char *pairs);
/* printf-style pairs; values that may hold spaces or quotes are built
 * with logfmt_append() (api.h) instead. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
