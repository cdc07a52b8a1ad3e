/* Log levels and the log callback. Levels are syslog's: lower is more severe. */
#ifndef KWIRE_LOG_H
#define KWIRE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum kw_log_level {
  KW_LOG_EMERG = 0,
  KW_LOG_ALERT = 1,
  KW_LOG_CRIT = 2,
  KW_LOG_ERR = 3,
  KW_LOG_WARNING = 4,
  KW_LOG_NOTICE = 5,
  KW_LOG_INFO = 6,
  KW_LOG_DEBUG = 7
};

/* Receives every log line at or above the configured level. `context` is a short
 * upper-case tag ("BROKER", "PROTOCOL", ...); `msg` has no trailing newline. Called on the
 * thread that drives the client, from inside kwire calls: it must not call back into the
 * same client. Configuration values flagged secret (passwords) are never logged.
 * Without a callback kwire writes warnings and errors to stderr (see docs/configuration.md). */
typedef void (*kw_log_cb)(void *ud, int level, const char *context, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
