/* Copies of strings through a client's allocator (kw_mem), the one way the library
 * keeps a string it was given or decoded: configuration values, broker hosts, topic
 * and member names, SASL credentials. */
#ifndef KW_CORE_STR_H
#define KW_CORE_STR_H
#include <stddef.h>
#include "kwire/buf.h"
#include "kwire/mem.h"

/* A NUL-terminated copy of s; NULL when s is NULL or out of memory. */
char *kw_strdup(const kw_mem *m, const char *s);
/* A NUL-terminated copy of the first n bytes of s (which needs no terminator of its own:
 * decoded strings are slices of a frame); NULL when out of memory. */
char *kw_strndup(const kw_mem *m, const char *s, size_t n);
/* kw_strndup of a decoded slice; a null slice (len -1) gives an empty string. */
char *kw_slice_strdup(const kw_mem *m, kw_slice s);

#endif
