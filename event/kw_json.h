/* A small strict JSON reader (RFC 8259) for event envelopes: validates a document in one
 * pass without allocating and hands back top-level members as slices into it.
 *
 * Strict: UTF-8 is validated (no overlongs, no surrogates, nothing above U+10FFFF),
 * \u escapes must not leave a lone surrogate, numbers follow the RFC grammar, only
 * space/tab/CR/LF are whitespace, nothing may follow the value, and a top-level object
 * may not repeat a member name (compared after unescaping). Nested objects are only
 * validated: duplicates inside a payload are the application's business. Raw control
 * characters in strings and a byte-order mark are refused. */
#ifndef KW_EVENT_JSON_H
#define KW_EVENT_JSON_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/buf.h"

typedef enum kw_json_type {
  KW_JSON_NONE, /* member absent */
  KW_JSON_OBJECT,
  KW_JSON_ARRAY,
  KW_JSON_STRING,
  KW_JSON_NUMBER,
  KW_JSON_TRUE,
  KW_JSON_FALSE,
  KW_JSON_NULL
} kw_json_type;

typedef struct kw_json_value {
  kw_json_type type;
  kw_slice raw; /* the value's bytes in the document (strings with their quotes) */
} kw_json_value;

/* Top-level keys are remembered for the duplicate check, so a top-level object may hold
 * at most KW_JSON_MAX_MEMBERS members. */
#define KW_JSON_MAX_MEMBERS 64

typedef struct kw_json_limits {
  uint32_t max_depth;  /* arrays/objects nested deeper: KW_ERR_TOO_LARGE (default 64; the
                          reader recurses once per level, so keep it in the hundreds) */
  uint32_t max_doc;    /* document bytes (default 16 MB) */
  uint32_t max_string; /* string bytes as written, escapes included (default 1 MB) */
} kw_json_limits;

extern const kw_json_limits kw_json_default_limits;

/* code is KW_ERR_MALFORMED or KW_ERR_TOO_LARGE, offset the byte it refers to (a string's
 * opening quote for "unterminated string"), what a static phrase; a document that ends
 * too early says "unexpected end". */
typedef struct kw_json_error {
  int code;
  uint32_t offset;
  const char *what;
} kw_json_error;

/* "unterminated string at byte 17" into buf (always NUL-terminated when cap > 0). */
void kw_json_error_text(const kw_json_error *e, char *buf, size_t cap);

/* Validates doc (limits NULL = defaults). For each of the n names, out[i] receives that
 * top-level member (type KW_JSON_NONE when absent or when doc is not an object).
 * top, if not NULL, receives the whole document's value. Returns 0 or a KW_ERR_*. */
int kw_json_scan(const kw_slice *doc, const kw_json_limits *limits, const char *const *names,
                 int n, kw_json_value *out, kw_json_value *top, kw_json_error *err);

/* Validates doc as the reader sees a value one level inside another document (an
 * envelope's payload): depth counts from 1, and its members are not checked for
 * duplicates or counted, as with any nested object. So whatever passes here passes
 * again once embedded. 0 or a KW_ERR_*; top as for kw_json_scan. */
int kw_json_check_nested(const kw_slice *doc, const kw_json_limits *limits, kw_json_value *top);

/* One top-level member with default limits: 0 (out->type KW_JSON_NONE when absent) or
 * the KW_ERR_* of an invalid document. */
int kw_json_get(const kw_slice *doc, const char *member, kw_json_value *out);

/* Unescapes a string value into buf as UTF-8 plus a NUL (len excludes it; \u0000 gives an
 * embedded NUL). KW_ERR_BUF_FULL when cap <= len, KW_ERR_INVALID_ARG for a non-string,
 * KW_ERR_MALFORMED if the value did not come from the reader and is not a valid string. */
int kw_json_string(const kw_json_value *v, char *buf, size_t cap, size_t *len);

/* A number value written as an integer (no fraction/exponent): KW_ERR_MALFORMED
 * otherwise, KW_ERR_TOO_LARGE when it does not fit int64. */
int kw_json_int(const kw_json_value *v, int64_t *out);

/* Writes s (n bytes of UTF-8) as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \u00XX, everything else as it is. Invalid UTF-8 sets b->err to
 * KW_ERR_INVALID_ARG. */
void kw_json_write_string(kw_buf *b, const char *s, size_t n);

#endif
