/* Kafka's own error codes (int16 in responses): name, message, and what a client does.
 * The enum and the lookups by code are public (kwire/codec.h); the table is internal. */
#ifndef KW_PROTO_KERR_H
#define KW_PROTO_KERR_H
#include <stdbool.h>
#include <stdint.h>

#include "kwire/codec.h"
#include "proto/gen/kw_kerr_gen.h"

enum { KW_KERR_F_RETRIABLE = 1, KW_KERR_F_REFRESH_METADATA = 2 };

typedef struct kw_kerr_info {
  int16_t code;
  uint8_t flags;
  const char *name;    /* "NOT_LEADER_OR_FOLLOWER" */
  const char *message; /* Kafka's description */
} kw_kerr_info;

extern const kw_kerr_info kw_kerr_table[]; /* generated, sorted by code */
extern const int kw_kerr_count;

/* NULL for a code Kafka does not define. */
const kw_kerr_info *kw_kerr_lookup(int16_t code);

#endif
