/* Logging inside the library: one kw_logger per client, built from its configuration.
 *
 * kw_log() is the only way the library emits text. With no callback configured it writes
 * "%kwire|LEVEL|CONTEXT| message" lines to stderr: this is the one place kwire prints.
 * Without a callback only warnings and more severe lines are shown, unless log_level is
 * set explicitly or `debug` names contexts. Setting `debug` raises the level to DEBUG and
 * enables KW_DBG for the named contexts. Never pass configuration values flagged secret
 * (kw_conf_prop.flags & KW_CF_SECRET) to a log call. */
#ifndef KW_CORE_LOG_H
#define KW_CORE_LOG_H
#include <stdint.h>
#include "kwire/log.h"

/* Debug contexts, one bit each, in the order of KW_DBG_NAMES (the `debug` property). */
enum kw_dbg_ctx {
  KW_DBG_GENERIC = 1u << 0,
  KW_DBG_BROKER = 1u << 1,
  KW_DBG_PROTOCOL = 1u << 2,
  KW_DBG_METADATA = 1u << 3,
  KW_DBG_PRODUCER = 1u << 4,
  KW_DBG_CONSUMER = 1u << 5,
  KW_DBG_CGRP = 1u << 6,
  KW_DBG_FETCH = 1u << 7,
  KW_DBG_SECURITY = 1u << 8,
  KW_DBG_MSG = 1u << 9
};
#define KW_DBG_ALL 0x3ffu
#define KW_DBG_NAMES "generic|broker|protocol|metadata|producer|consumer|cgrp|fetch|security|msg|all=-1"

typedef struct kw_logger {
  kw_log_cb cb; /* NULL: stderr */
  void *ud;
  int level;    /* lines with level > this are dropped */
  uint32_t dbg; /* KW_DBG_* bits enabled */
} kw_logger;

/* Warnings and errors to stderr: what a NULL logger means. */
extern const kw_logger kw_default_logger;

/* Formats into a stack buffer (long lines are truncated) and hands the line on.
 * lg NULL logs like a default configuration would. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void kw_log(const kw_logger *lg, int level, const char *ctx, const char *fmt, ...);

/* Debug line for context CTX (GENERIC, BROKER, ...): one test and branch when off.
 * lg must not be NULL. */
#define KW_DBG(lg, CTX, ...)                                                  \
  do {                                                                        \
    if ((lg)->dbg & KW_DBG_##CTX) kw_log((lg), KW_LOG_DEBUG, #CTX, __VA_ARGS__); \
  } while (0)

/* Upper-case name of a level ("WARNING"); "LOG" when out of range. */
const char *kw_log_level_name(int level);

#endif
