/* librdkafka partition vectors for tests/unit/test_partitioner.c.
 *
 *   gcc -std=c11 -Wall -o /tmp/rdkafka_vectors tests/data/partitioner/rdkafka_vectors.c -lrdkafka
 *   /tmp/rdkafka_vectors
 *
 * (librdkafka-dev 2.0.2, Debian 12.) Calls the public keyed partitioners
 * rd_kafka_msg_partitioner_{murmur2,consistent,fnv1a} for every key and n in N and prints
 * C initializer rows: key bytes, length, then {murmur2[N]}, {consistent[N]}, {fnv1a[N]}.
 * In 2.0.2 these three never touch the topic handle or opaques (only the *_random
 * variants and the random partitioner do, for NULL/empty keys), so rkt is NULL.
 * KEYS must stay identical to the list in JavaVectors.java. */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KEYS[] = { /* hex */
    "",
    "61", "6162", "616263", "61626364", "6162636465", "616263646566", /* a .. abcdef */
    "61626364656667", "6162636465666768", "616263646566676869",     /* abcdefg .. abcdefghi */
    "6162636465666768696a", "6162636465666768696a6b",               /* abcdefghij, abcdefghijk */
    "6162636465666768696a6b6c", "6162636465666768696a6b6c6d",       /* abcdefghijkl, ..m */
    "6b61666b61",                                                   /* kafka */
    "616d7170",                                                     /* amqp */
    "6769626572697368313233343536373839",                           /* giberish123456789 */
    "6f726465722d3432",                                             /* order-42 */
    "4f7264657243726561746564",                                     /* OrderCreated */
    "54686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f67",
    "c3bc",                                                         /* ü (UTF-8) */
    "e697a5e69cac",                                                 /* 日本 */
    "68c3a96c6c6f2077c3b6726c64",                                   /* héllo wörld */
    "f09f9880",                                                     /* 😀 */
    "e282ac75726f",                                                 /* €uro */
    "ff", "8081", "feff00", "80000000", "ffffffffff", "00", "00000000000000",
    "deadbeefcafebabe80", "808182838485868788898a8b8c", "f0f1f2f3f4f5f6f7f8f9fafb",
    "000102030405060708090a",
    /* Edge keys, found by inverting the hashes: murmur2 = 0x80000000 (toPositive gives 0), */
    /* 0xffffffff, 0; FNV-1a state 0x80000000 before librdkafka's abs() (-INT_MIN). */
    "a7d6506c", "a5d4305c", "e3871844", "0e9c450115",
};
static const int32_t N[] = {1, 3, 6, 7, 100, INT32_MAX};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef int32_t (*partitioner)(const rd_kafka_topic_t *, const void *, size_t, int32_t,
                               void *, void *);

static void row(partitioner fn, const unsigned char *k, size_t len) {
  printf("{");
  for (size_t i = 0; i < COUNT(N); i++)
    printf("%s%d", i ? ", " : "", (int)fn(NULL, k, len, N[i], NULL, NULL));
  printf("}");
}

int main(void) {
  printf("/* librdkafka %s */\n", rd_kafka_version_str());
  for (size_t i = 0; i < COUNT(KEYS); i++) {
    unsigned char k[64];
    size_t len = strlen(KEYS[i]) / 2;
    printf("  {\"");
    for (size_t j = 0; j < len; j++) {
      unsigned int b;
      sscanf(KEYS[i] + 2 * j, "%2x", &b);
      k[j] = (unsigned char)b;
      printf("\\x%02x", b);
    }
    printf("\", %zu, ", len);
    row(rd_kafka_msg_partitioner_murmur2, k, len);
    printf(", ");
    row(rd_kafka_msg_partitioner_consistent, k, len);
    printf(", ");
    row(rd_kafka_msg_partitioner_fnv1a, k, len);
    printf("},\n");
  }
  /* A NULL key, which kwire hashes like an empty one: the non-random partitioners map it
   * to one fixed partition (consistent: crc32 of nothing = 0; fnv1a: the offset basis). */
  printf("  /* NULL key: */ {NULL, 0, ");
  row(rd_kafka_msg_partitioner_murmur2, NULL, 0);
  printf(", ");
  row(rd_kafka_msg_partitioner_consistent, NULL, 0);
  printf(", ");
  row(rd_kafka_msg_partitioner_fnv1a, NULL, 0);
  printf("},\n");
  return 0;
}
