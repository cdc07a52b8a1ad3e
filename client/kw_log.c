/* kw_log: the library's only output. See client/kw_log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "client/kw_config.h"
#include "client/kw_log.h"
#include "kwire/error.h"

_Static_assert(KW_DBG_ALL == ((unsigned)KW_DBG_MSG << 1) - 1, "KW_DBG_ALL covers every context");

static const kw_logger default_logger = {NULL, NULL, KW_LOG_WARNING, 0};

void kw_logger_init(kw_logger *lg, const kw_config *c) {
  *lg = default_logger;
  if (!c) return;
  const kw_conf_values *v = kw_config_values(c);
  lg->cb = kw_config_log_cb(c, &lg->ud);
  lg->level = (int)v->log_level;
  /* stderr stays quiet below warnings unless log_level was asked for. */
  if (!lg->cb && !kw_config_is_set(c, KW_CP_log_level) && lg->level > KW_LOG_WARNING) lg->level = KW_LOG_WARNING;
  uint32_t mask = 0;
  if (kw_conf_list_mask(KW_DBG_NAMES, v->debug, &mask) == KW_OK && (mask & KW_DBG_ALL)) {
    lg->dbg = mask & KW_DBG_ALL;
    lg->level = KW_LOG_DEBUG;
  }
}

const char *kw_log_level_name(int level) {
  static const char *const names[] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"};
  return level >= 0 && level <= KW_LOG_DEBUG ? names[level] : "LOG";
}

void kw_log(const kw_logger *lg, int level, const char *ctx, const char *fmt, ...) {
  if (!lg) lg = &default_logger;
  if (level > lg->level) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) line[0] = '\0';
  else if ((size_t)n >= sizeof line) memcpy(line + sizeof line - 4, "...", 4);
  if (!ctx) ctx = "GENERIC";
  if (lg->cb) lg->cb(lg->ud, level, ctx, line);
  else fprintf(stderr, "%%kwire|%s|%s| %s\n", kw_log_level_name(level), ctx, line);
}
