/* kw_log: the library's only output. See core/kw_log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/kw_log.h"
#include "kwire/error.h"

_Static_assert(KW_DBG_ALL == ((unsigned)KW_DBG_MSG << 1) - 1, "KW_DBG_ALL covers every context");

const kw_logger kw_default_logger = {NULL, NULL, KW_LOG_WARNING, 0};

const char *kw_log_level_name(int level) {
  static const char *const names[] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"};
  return level >= 0 && level <= KW_LOG_DEBUG ? names[level] : "LOG";
}

void kw_log(const kw_logger *lg, int level, const char *ctx, const char *fmt, ...) {
  if (!lg) lg = &kw_default_logger;
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
