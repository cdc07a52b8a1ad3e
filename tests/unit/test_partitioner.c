/* Partitioners: keyed ones against vectors produced by the real Java client and
 * librdkafka, the partitioner names, and the sticky partitioner for null keys. */
#include <criterion/criterion.h>
#include <string.h>
#include "client/producer/kw_partitioner.h"

static const int32_t N[] = {1, 3, 6, 7, 100, INT32_MAX};
#define NN (sizeof N / sizeof N[0])
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Produced by tests/data/partitioner/JavaVectors.java run against kafka-clients 4.4.0
 * (Java 17): java -cp "$(tests/broker/kafka fetch)"/'*' tests/data/partitioner/JavaVectors.java
 * Per key: bytes, length, Utils.murmur2(key), Utils.toPositive(Utils.murmur2(key)) % n
 * for each n in N. Output pasted unchanged. */
static const struct {
  const char *key;
  size_t len;
  uint32_t hash;
  int32_t part[NN];
} java[] = {
  {"", 0, 0x106e08d9u, {0, 0, 3, 2, 81, 275646681}},
  {"\x61", 1, 0xa2d0b27cu, {0, 1, 4, 5, 24, 584102524}},
  {"\x61\x62", 2, 0x12d8262au, {0, 2, 2, 0, 34, 316155434}},
  {"\x61\x62\x63", 3, 0x1c94221bu, {0, 0, 3, 4, 7, 479470107}},
  {"\x61\x62\x63\x64", 4, 0xb11ab5f4u, {0, 2, 2, 5, 0, 823834100}},
  {"\x61\x62\x63\x64\x65", 5, 0x1b897eddu, {0, 1, 1, 4, 41, 461995741}},
  {"\x61\x62\x63\x64\x65\x66", 6, 0x6f7fdafcu, {0, 0, 0, 5, 8, 1870650108}},
  {"\x61\x62\x63\x64\x65\x66\x67", 7, 0xeb595499u, {0, 1, 1, 4, 73, 1801016473}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68", 8, 0xc70d55ddu, {0, 0, 3, 0, 85, 1192056285}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69", 9, 0xdb106fbeu, {0, 0, 0, 1, 38, 1527803838}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a", 10, 0x007d3617u, {0, 1, 1, 6, 47, 8205847}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b", 11, 0xf2260453u, {0, 2, 5, 2, 99, 1915094099}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c", 12, 0xe0182b67u, {0, 2, 5, 6, 11, 1612196711}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d", 13, 0x17177e67u, {0, 2, 5, 4, 55, 387415655}},
  {"\x6b\x61\x66\x6b\x61", 5, 0xd067cf64u, {0, 1, 4, 3, 80, 1348980580}},
  {"\x61\x6d\x71\x70", 4, 0x2dc2e442u, {0, 2, 2, 4, 38, 767747138}},
  {"\x67\x69\x62\x65\x72\x69\x73\x68\x31\x32\x33\x34\x35\x36\x37\x38\x39", 17, 0x8f552b0cu, {0, 2, 2, 5, 20, 257239820}},
  {"\x6f\x72\x64\x65\x72\x2d\x34\x32", 8, 0x1ddefd00u, {0, 0, 0, 1, 24, 501153024}},
  {"\x4f\x72\x64\x65\x72\x43\x72\x65\x61\x74\x65\x64", 12, 0x4ce175f8u, {0, 0, 0, 3, 16, 1289844216}},
  {"\x54\x68\x65\x20\x71\x75\x69\x63\x6b\x20\x62\x72\x6f\x77\x6e\x20\x66\x6f\x78\x20\x6a\x75\x6d\x70\x73\x20\x6f\x76\x65\x72\x20\x74\x68\x65\x20\x6c\x61\x7a\x79\x20\x64\x6f\x67", 43, 0x1d84d036u, {0, 0, 0, 3, 18, 495243318}},
  {"\xc3\xbc", 2, 0x54a0f45au, {0, 2, 2, 0, 58, 1419834458}},
  {"\xe6\x97\xa5\xe6\x9c\xac", 6, 0xd63a78f3u, {0, 0, 3, 1, 27, 1446672627}},
  {"\x68\xc3\xa9\x6c\x6c\x6f\x20\x77\xc3\xb6\x72\x6c\x64", 13, 0x1a2ddf42u, {0, 0, 0, 3, 90, 439213890}},
  {"\xf0\x9f\x98\x80", 4, 0x07dc5a91u, {0, 0, 3, 0, 17, 131881617}},
  {"\xe2\x82\xac\x75\x72\x6f", 6, 0xaf9c7670u, {0, 1, 4, 5, 88, 798783088}},
  {"\xff", 1, 0xed6f615bu, {0, 0, 3, 5, 63, 1836015963}},
  {"\x80\x81", 2, 0x61e1257au, {0, 1, 4, 5, 46, 1642145146}},
  {"\xfe\xff\x00", 3, 0x9e145be0u, {0, 2, 2, 0, 20, 504650720}},
  {"\x80\x00\x00\x00", 4, 0xfc19d79eu, {0, 0, 0, 2, 82, 2082068382}},
  {"\xff\xff\xff\xff\xff", 5, 0xea504362u, {0, 0, 0, 2, 26, 1783645026}},
  {"\x00", 1, 0x166197bcu, {0, 2, 2, 0, 88, 375494588}},
  {"\x00\x00\x00\x00\x00\x00\x00", 7, 0x3fa68337u, {0, 1, 1, 1, 75, 1067877175}},
  {"\xde\xad\xbe\xef\xca\xfe\xba\xbe\x80", 9, 0x2b13ba91u, {0, 0, 3, 4, 33, 722713233}},
  {"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c", 13, 0x8025f918u, {0, 1, 4, 2, 0, 2488600}},
  {"\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb", 12, 0x8346c6c9u, {0, 1, 1, 2, 57, 54970057}},
  {"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 11, 0x1398285bu, {0, 2, 5, 0, 7, 328738907}},
  {"\xa7\xd6\x50\x6c", 4, 0x80000000u, {0, 0, 0, 0, 0, 0}},
  {"\xa5\xd4\x30\x5c", 4, 0xffffffffu, {0, 1, 1, 1, 47, 0}},
  {"\xe3\x87\x18\x44", 4, 0x00000000u, {0, 0, 0, 0, 0, 0}},
  {"\x0e\x9c\x45\x01\x15", 5, 0xe7e3caeau, {0, 1, 4, 3, 66, 1742981866}},
};

/* Produced by tests/data/partitioner/rdkafka_vectors.c against librdkafka 2.0.2 (Debian
 * 12 librdkafka-dev): gcc -o rv tests/data/partitioner/rdkafka_vectors.c -lrdkafka && ./rv
 * Per key: bytes, length, then rd_kafka_msg_partitioner_murmur2, _consistent and _fnv1a
 * for each n in N. Output pasted unchanged (same keys as the Java table, plus NULL). */
static const struct {
  const char *key;
  size_t len;
  int32_t murmur2[NN], consistent[NN], fnv1a[NN];
} rdkafka[] = {
  {"", 0, {0, 0, 3, 2, 81, 275646681}, {0, 0, 0, 0, 0, 0}, {0, 0, 3, 2, 35, 2128831035}},
  {"\x61", 1, {0, 1, 4, 5, 24, 584102524}, {0, 0, 3, 4, 7, 1756872260}, {0, 0, 0, 6, 76, 468965076}},
  {"\x61\x62", 2, {0, 2, 2, 0, 34, 316155434}, {0, 2, 5, 5, 85, 511920238}, {0, 0, 0, 2, 46, 1294271946}},
  {"\x61\x62\x63", 3, {0, 0, 3, 4, 7, 479470107}, {0, 0, 0, 5, 78, 891568578}, {0, 2, 5, 5, 31, 440920331}},
  {"\x61\x62\x63\x64", 4, {0, 2, 2, 5, 0, 823834100}, {0, 1, 1, 4, 69, 1837288722}, {0, 0, 3, 1, 63, 835421763}},
  {"\x61\x62\x63\x64\x65", 5, {0, 1, 1, 4, 41, 461995741}, {0, 0, 3, 3, 85, 92788838}, {0, 0, 0, 2, 36, 1956368136}},
  {"\x61\x62\x63\x64\x65\x66", 6, {0, 0, 0, 5, 8, 1870650108}, {0, 0, 3, 0, 43, 1267612143}, {0, 2, 2, 0, 90, 12088790}},
  {"\x61\x62\x63\x64\x65\x66\x67", 7, {0, 1, 1, 4, 73, 1801016473}, {0, 0, 0, 2, 98, 824863398}, {0, 0, 3, 4, 63, 715044663}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68", 8, {0, 0, 3, 0, 85, 1192056285}, {0, 1, 4, 4, 20, 787425873}, {0, 2, 5, 3, 97, 1994041997}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69", 9, {0, 0, 0, 1, 38, 1527803838}, {0, 0, 3, 1, 31, 229214384}, {0, 0, 0, 3, 48, 29686548}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a", 10, {0, 1, 1, 6, 47, 8205847}, {0, 2, 2, 2, 86, 964784186}, {0, 2, 2, 5, 14, 1125638414}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b", 11, {0, 2, 5, 2, 99, 1915094099}, {0, 2, 5, 4, 27, 1314328480}, {0, 1, 1, 6, 81, 93836581}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c", 12, {0, 2, 5, 6, 11, 1612196711}, {0, 0, 0, 0, 4, 1987582757}, {0, 2, 5, 2, 55, 386187755}},
  {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d", 13, {0, 2, 5, 4, 55, 387415655}, {0, 2, 2, 2, 42, 1576300195}, {0, 1, 4, 1, 8, 998463208}},
  {"\x6b\x61\x66\x6b\x61", 5, {0, 1, 4, 3, 80, 1348980580}, {0, 2, 5, 6, 99, 1539077399}, {0, 2, 5, 4, 45, 221496545}},
  {"\x61\x6d\x71\x70", 4, {0, 2, 2, 4, 38, 767747138}, {0, 2, 2, 2, 58, 82849411}, {0, 0, 0, 0, 46, 1213582146}},
  {"\x67\x69\x62\x65\x72\x69\x73\x68\x31\x32\x33\x34\x35\x36\x37\x38\x39", 17, {0, 2, 2, 5, 20, 257239820}, {0, 2, 5, 2, 71, 2067435071}, {0, 2, 5, 5, 73, 2007335573}},
  {"\x6f\x72\x64\x65\x72\x2d\x34\x32", 8, {0, 0, 0, 1, 24, 501153024}, {0, 1, 4, 1, 42, 1475806942}, {0, 2, 2, 4, 52, 1461995252}},
  {"\x4f\x72\x64\x65\x72\x43\x72\x65\x61\x74\x65\x64", 12, {0, 0, 0, 3, 16, 1289844216}, {0, 0, 0, 4, 98, 1594729098}, {0, 0, 3, 3, 37, 1289073537}},
  {"\x54\x68\x65\x20\x71\x75\x69\x63\x6b\x20\x62\x72\x6f\x77\x6e\x20\x66\x6f\x78\x20\x6a\x75\x6d\x70\x73\x20\x6f\x76\x65\x72\x20\x74\x68\x65\x20\x6c\x61\x7a\x79\x20\x64\x6f\x67", 43, {0, 0, 0, 3, 18, 495243318}, {0, 1, 1, 1, 69, 1095738169}, {0, 0, 0, 5, 36, 76545936}},
  {"\xc3\xbc", 2, {0, 2, 2, 0, 58, 1419834458}, {0, 1, 1, 4, 89, 1675192789}, {0, 1, 4, 0, 70, 295556170}},
  {"\xe6\x97\xa5\xe6\x9c\xac", 6, {0, 0, 3, 1, 27, 1446672627}, {0, 2, 2, 0, 56, 1203228109}, {0, 1, 1, 3, 75, 1624838575}},
  {"\x68\xc3\xa9\x6c\x6c\x6f\x20\x77\xc3\xb6\x72\x6c\x64", 13, {0, 0, 0, 3, 90, 439213890}, {0, 0, 3, 0, 85, 354246585}, {0, 0, 0, 3, 22, 736214622}},
  {"\xf0\x9f\x98\x80", 4, {0, 0, 3, 0, 17, 131881617}, {0, 1, 4, 6, 56, 88978756}, {0, 2, 2, 3, 56, 866293256}},
  {"\xe2\x82\xac\x75\x72\x6f", 6, {0, 1, 4, 5, 88, 798783088}, {0, 1, 1, 0, 71, 887853924}, {0, 2, 5, 5, 15, 1035974315}},
  {"\xff", 1, {0, 0, 3, 5, 63, 1836015963}, {0, 0, 0, 3, 80, 2130706433}, {0, 2, 2, 0, 6, 2047574606}},
  {"\x80\x81", 2, {0, 1, 4, 5, 46, 1642145146}, {0, 2, 2, 2, 22, 1625635075}, {0, 0, 0, 0, 22, 1892116422}},
  {"\xfe\xff\x00", 3, {0, 2, 2, 0, 20, 504650720}, {0, 0, 0, 3, 62, 1396669115}, {0, 2, 2, 0, 70, 1852904270}},
  {"\x80\x00\x00\x00", 4, {0, 0, 0, 2, 82, 2082068382}, {0, 2, 5, 0, 27, 1276995880}, {0, 2, 5, 2, 93, 896953493}},
  {"\xff\xff\xff\xff\xff", 5, {0, 0, 0, 2, 26, 1783645026}, {0, 2, 2, 5, 78, 1392316531}, {0, 1, 4, 5, 94, 910551094}},
  {"\x00", 1, {0, 2, 2, 0, 88, 375494588}, {0, 1, 1, 2, 57, 1375924110}, {0, 0, 3, 5, 51, 84696351}},
  {"\x00\x00\x00\x00\x00\x00\x00", 7, {0, 1, 1, 1, 75, 1067877175}, {0, 2, 2, 5, 14, 493674367}, {0, 2, 5, 3, 15, 1177189415}},
  {"\xde\xad\xbe\xef\xca\xfe\xba\xbe\x80", 9, {0, 0, 3, 4, 33, 722713233}, {0, 0, 0, 6, 8, 116853708}, {0, 0, 3, 6, 27, 536010327}},
  {"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c", 13, {0, 1, 4, 2, 0, 2488600}, {0, 1, 4, 2, 4, 2144226604}, {0, 1, 1, 5, 45, 1442196145}},
  {"\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb", 12, {0, 1, 1, 2, 57, 54970057}, {0, 0, 3, 6, 67, 93593120}, {0, 1, 1, 2, 15, 917099815}},
  {"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 11, {0, 2, 5, 0, 7, 328738907}, {0, 0, 3, 6, 65, 757960418}, {0, 1, 4, 0, 52, 1187282152}},
  {"\xa7\xd6\x50\x6c", 4, {0, 0, 0, 0, 0, 0}, {0, 0, 3, 5, 5, 105105158}, {0, 2, 2, 2, 0, 979329500}},
  {"\xa5\xd4\x30\x5c", 4, {0, 1, 1, 1, 47, 0}, {0, 0, 3, 0, 55, 1827307755}, {0, 2, 2, 0, 24, 178983224}},
  {"\xe3\x87\x18\x44", 4, {0, 0, 0, 0, 0, 0}, {0, 1, 1, 5, 35, 1918771488}, {0, 2, 5, 0, 73, 1249335773}},
  {"\x0e\x9c\x45\x01\x15", 5, {0, 1, 4, 3, 66, 1742981866}, {0, 0, 3, 1, 45, 202608098}, {0, 2, 2, 2, 48, 1}},
  /* NULL key: */ {NULL, 0, {0, 0, 3, 2, 81, 275646681}, {0, 0, 0, 0, 0, 0}, {0, 0, 3, 2, 35, 2128831035}},
};

Test(partitioner, java_murmur2) {
  for (size_t i = 0; i < COUNT(java); i++) {
    cr_expect_eq(kw_murmur2(java[i].key, java[i].len), java[i].hash, "key %zu", i);
    for (size_t j = 0; j < NN; j++)
      cr_expect_eq(kw_partition_murmur2(java[i].key, java[i].len, N[j]), java[i].part[j],
                   "key %zu n %d", i, N[j]);
  }
}

Test(partitioner, librdkafka) {
  for (size_t i = 0; i < COUNT(rdkafka); i++) {
    const char *k = rdkafka[i].key;
    size_t len = rdkafka[i].len;
    for (size_t j = 0; j < NN; j++) {
      cr_expect_eq(kw_partition_murmur2(k, len, N[j]), rdkafka[i].murmur2[j], "key %zu n %d", i, N[j]);
      cr_expect_eq(kw_partition_crc32(k, len, N[j]), rdkafka[i].consistent[j], "key %zu n %d", i, N[j]);
      cr_expect_eq(kw_partition_fnv1a(k, len, N[j]), rdkafka[i].fnv1a[j], "key %zu n %d", i, N[j]);
    }
  }
}

Test(partitioner, no_partitions) {
  for (int32_t n = -1; n <= 0; n++) {
    cr_expect_eq(kw_partition_murmur2("k", 1, n), -1);
    cr_expect_eq(kw_partition_crc32("k", 1, n), -1);
    cr_expect_eq(kw_partition_fnv1a("k", 1, n), -1);
    kw_sticky s;
    kw_sticky_init(&s, 1);
    cr_expect_eq(kw_sticky_partition(&s, n), -1);
  }
}

Test(partitioner, names) {
  cr_expect_eq(kw_partitioner_from_name("murmur2"), KW_PARTITIONER_MURMUR2);
  cr_expect_eq(kw_partitioner_from_name("murmur2_random"), KW_PARTITIONER_MURMUR2_RANDOM);
  cr_expect_eq(kw_partitioner_from_name("consistent"), KW_PARTITIONER_CONSISTENT);
  cr_expect_eq(kw_partitioner_from_name("consistent_random"), KW_PARTITIONER_CONSISTENT_RANDOM);
  cr_expect_eq(kw_partitioner_from_name("fnv1a"), KW_PARTITIONER_FNV1A);
  cr_expect_eq(kw_partitioner_from_name("fnv1a_random"), KW_PARTITIONER_FNV1A_RANDOM);
  cr_expect_eq(kw_partitioner_from_name("random"), -1);
  cr_expect_eq(kw_partitioner_from_name("Murmur2"), -1);
  cr_expect_eq(kw_partitioner_from_name(""), -1);
  cr_expect_eq(kw_partitioner_from_name(NULL), -1);
}

Test(partitioner, sticky_stays_until_next) {
  kw_sticky s;
  kw_sticky_init(&s, 12345);
  for (int batch = 0; batch < 1000; batch++) {
    int32_t p = kw_sticky_partition(&s, 7);
    cr_assert(p >= 0 && p < 7);
    for (int rec = 0; rec < 10; rec++) cr_assert_eq(kw_sticky_partition(&s, 7), p);
    kw_sticky_next(&s, 7);
    cr_assert_neq(kw_sticky_partition(&s, 7), p, "batch %d stayed on %d", batch, p);
  }
}

Test(partitioner, sticky_covers_all_partitions) {
  for (uint32_t seed = 0; seed < 20; seed++) {
    for (int32_t n = 2; n <= 64; n++) {
      kw_sticky s;
      kw_sticky_init(&s, seed);
      int seen[64] = {0};
      for (int i = 0; i < 50 * n; i++) {
        seen[kw_sticky_partition(&s, n)]++;
        kw_sticky_next(&s, n);
      }
      for (int32_t p = 0; p < n; p++) cr_expect_gt(seen[p], 0, "seed %u n %d p %d", seed, n, p);
    }
  }
}

Test(partitioner, sticky_one_partition) {
  kw_sticky s;
  kw_sticky_init(&s, 7);
  for (int i = 0; i < 100; i++) {
    cr_assert_eq(kw_sticky_partition(&s, 1), 0);
    kw_sticky_next(&s, 1);
  }
}

Test(partitioner, sticky_partition_count_shrinks) {
  kw_sticky s;
  kw_sticky_init(&s, 99);
  while (kw_sticky_partition(&s, 100) < 10) kw_sticky_next(&s, 100); /* one the shrink removes */
  int32_t p = kw_sticky_partition(&s, 3);
  cr_assert(p >= 0 && p < 3);
  cr_assert_eq(kw_sticky_partition(&s, 3), p);
}
