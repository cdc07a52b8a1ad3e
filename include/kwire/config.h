/* Client configuration: string key/value properties with librdkafka's (and Java's) names,
 * plus the few settings that are not strings. Reference: docs/configuration.md. */
#ifndef KWIRE_CONFIG_H
#define KWIRE_CONFIG_H
#include "kwire/export.h"
#include <stddef.h>
#include "kwire/log.h"
#include "kwire/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kw_config kw_config;

/* A configuration holding every default; NULL when out of memory. */
KW_API kw_config *kw_config_new(void);
/* A deep copy (same allocator, same log callback); NULL when out of memory. */
KW_API kw_config *kw_config_dup(const kw_config *c);
KW_API void kw_config_free(kw_config *c);

/* Sets `key` (or one of its aliases) from text. value NULL restores the default.
 * KW_OK, or KW_ERR_CONFIG with a message naming the key (and value) in errstr
 * (errstr may be NULL); KW_ERR_NOMEM. On error the previous value stays. */
KW_API int kw_config_set(kw_config *c, const char *key, const char *value, char *errstr, size_t errstr_size);

/* Writes the current value (defaults included) as text into buf; returns its length.
 * KW_ERR_CONFIG for an unknown key; KW_ERR_BUF_FULL (buf holds a truncated, terminated
 * copy) when it does not fit. Secrets (sasl.password, ssl.key.password) read back as
 * "[redacted]" when set, "" when not. */
KW_API int kw_config_get(const kw_config *c, const char *key, char *buf, size_t size);

/* The i-th known key (canonical names, no aliases), or NULL past the end. *def gets its
 * default as text ("" when none) and *desc a one-line description, if non-NULL. */
KW_API const char *kw_config_key_at(int i, const char **def, const char **desc);

/* The allocator for this configuration's strings and for every client made from it
 * (NULL = libc). Strings already set are moved over; KW_ERR_NOMEM leaves the old one. */
KW_API int kw_config_set_mem(kw_config *c, const kw_mem *mem);
/* Where log lines go (cb NULL = warnings and errors to stderr). */
KW_API void kw_config_set_log_cb(kw_config *c, kw_log_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
