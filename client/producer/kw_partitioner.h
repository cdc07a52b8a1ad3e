/* The producer's partitioners: which partition a record goes to. The keyed ones match
 * other clients byte for byte (murmur2: the Java client; crc32 "consistent" and fnv1a:
 * librdkafka), so kwire and they place the same key on the same partition. Records
 * without a key stick to one partition per batch (KIP-480). */
#ifndef KW_CLIENT_PARTITIONER_H
#define KW_CLIENT_PARTITIONER_H
#include <stddef.h>
#include <stdint.h>

/* A partition in [0, n_partitions), or -1 if n_partitions <= 0. A NULL key (len 0) hashes
 * like an empty one, as librdkafka's non-random partitioners do; the producer sends
 * NULL keys to the sticky partitioner before it gets here. */
int32_t kw_partition_murmur2(const void *key, size_t len, int32_t n_partitions);
int32_t kw_partition_crc32(const void *key, size_t len, int32_t n_partitions);
int32_t kw_partition_fnv1a(const void *key, size_t len, int32_t n_partitions);

/* Java's Utils.murmur2 (seed 0x9747b28c), its int returned as uint32_t. */
uint32_t kw_murmur2(const void *key, size_t len);

enum kw_partitioner_kind {
  KW_PARTITIONER_MURMUR2,
  KW_PARTITIONER_MURMUR2_RANDOM,
  KW_PARTITIONER_CONSISTENT,
  KW_PARTITIONER_CONSISTENT_RANDOM,
  KW_PARTITIONER_FNV1A,
  KW_PARTITIONER_FNV1A_RANDOM
};

/* librdkafka's partitioner names ("murmur2_random", the kwire default, "murmur2",
 * "consistent", "consistent_random", "fnv1a", "fnv1a_random") to a kind; -1 if unknown. */
int kw_partitioner_from_name(const char *name);

/* Sticky choice for records without a key: one partition until its batch is sent. */
typedef struct kw_sticky {
  int32_t current; /* -1: none chosen yet */
  uint32_t rng;
} kw_sticky;

void kw_sticky_init(kw_sticky *s, uint32_t seed);
/* The current choice; picks one if none (or if the partition count shrank below it). */
int32_t kw_sticky_partition(kw_sticky *s, int32_t n_partitions);
/* Its batch was sent: move to a different partition (stays on 0 if n_partitions is 1). */
void kw_sticky_next(kw_sticky *s, int32_t n_partitions);

#endif
