/* kwperf rtt: the floor under produce->ack latency on this machine. No client at all:
 * one Produce v3 request (one batch of one record of -s bytes to partition 0, acks as
 * given, no idempotence), encoded once by hand, then written with write() and its answer
 * read with blocking read(), -n times on one TCP_NODELAY connection. Its p50 is the
 * broker's and the loopback's share of a round trip, which no client can go under.
 * `produce --latency --floor` (kwperf and rdkafka_perf) interleaves one such round
 * trip before each message, so both see the same machine at the same moment. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "perf_common.h"

/* Bitwise CRC32C, run once per program: this file is also compiled into the
 * librdkafka baseline, which must not link kwire. */
static uint32_t crc32c_slow(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  while (n--) {
    c ^= *p++;
    for (int k = 0; k < 8; k++) c = c >> 1 ^ (0x82f63b78u & (0u - (c & 1)));
  }
  return ~c;
}

typedef struct wbuf {
  uint8_t *p;
  size_t n;
} wbuf;

static void put(wbuf *b, const void *d, size_t n) {
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void be(wbuf *b, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) b->p[b->n++] = (uint8_t)(v >> (8 * i));
}
static void varint(wbuf *b, int64_t v) {
  uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  while (z >= 0x80) {
    b->p[b->n++] = (uint8_t)(z | 0x80);
    z >>= 7;
  }
  b->p[b->n++] = (uint8_t)z;
}
static void be_at(uint8_t *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) *p++ = (uint8_t)(v >> (8 * i));
}

static int dial(const char *brokers) {
  char host[256];
  snprintf(host, sizeof host, "%s", brokers);
  host[strcspn(host, ",")] = 0;
  char *colon = strrchr(host, ':');
  const char *port = "9092";
  if (colon) {
    *colon = 0;
    port = colon + 1;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, port, &hints, &ai)) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int read_full(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Sends the request with correlation id `corr`; returns the partition's error code,
 * or -1000 on an I/O or framing failure. */
static int round_trip(int fd, uint8_t *req, size_t len, int32_t corr, uint8_t *resp, size_t cap) {
  be_at(req + 8, (uint32_t)corr, 4);
  if (write(fd, req, len) != (ssize_t)len) return -1000;
  uint8_t hdr[4];
  if (read_full(fd, hdr, 4)) return -1000;
  uint32_t size = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (size > cap || read_full(fd, resp, size)) return -1000;
  /* correlation id, topics[1]: name, partitions[1]: index, error_code */
  uint32_t got = (uint32_t)resp[0] << 24 | (uint32_t)resp[1] << 16 | (uint32_t)resp[2] << 8 | resp[3];
  if ((int32_t)got != corr || size < 16) return -1000;
  size_t at = 8;
  size_t nl = (size_t)(resp[at] << 8 | resp[at + 1]);
  at += 2 + nl + 4 + 4;
  if (at + 2 > size) return -1000;
  return (int16_t)(resp[at] << 8 | resp[at + 1]);
}

struct kwperf_floor {
  int fd;
  uint8_t *req, *resp;
  size_t len;
  int32_t corr;
};

kwperf_floor *kwperf_floor_open(const perf_opts *o) {
  kwperf_floor *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->fd = dial(o->brokers);
  size_t tl = strlen(o->topic);
  size_t cap = 256 + tl + (size_t)o->size;
  f->req = malloc(cap);
  f->resp = malloc(65536);
  if (f->fd < 0 || !f->req || !f->resp) {
    fprintf(stderr, "kwperf: cannot connect to %s for the floor\n", o->brokers);
    kwperf_floor_close(f);
    return NULL;
  }
  wbuf b = {f->req, 0};
  be(&b, 0, 4);                 /* frame size, below */
  be(&b, 0, 2);                 /* Produce */
  be(&b, 3, 2);                 /* v3: the oldest Kafka 4 accepts, no flexible fields */
  be(&b, 0, 4);                 /* correlation id, per request */
  be(&b, 6, 2), put(&b, "kwperf", 6);
  be(&b, 0xffff, 2);            /* transactional id: null */
  be(&b, (uint16_t)(int16_t)(perf_acks_all(o) ? -1 : atoi(o->acks)), 2);
  be(&b, 30000, 4);             /* timeout */
  be(&b, 1, 4), be(&b, tl, 2), put(&b, o->topic, tl);
  be(&b, 1, 4), be(&b, 0, 4);   /* partition 0 */
  size_t rec_len_at = b.n;
  be(&b, 0, 4);                 /* records bytes length, below */
  size_t batch_at = b.n;
  be(&b, 0, 8);                 /* base offset */
  be(&b, 0, 4);                 /* batch length, below */
  be(&b, 0xffffffff, 4);        /* partition leader epoch */
  b.p[b.n++] = 2;               /* magic */
  size_t crc_at = b.n;
  be(&b, 0, 4);
  be(&b, 0, 2);                 /* attributes: no codec, create time */
  be(&b, 0, 4);                 /* last offset delta */
  int64_t ts = (int64_t)time(NULL) * 1000;
  be(&b, (uint64_t)ts, 8), be(&b, (uint64_t)ts, 8);
  be(&b, UINT64_MAX, 8), be(&b, 0xffff, 2), be(&b, 0xffffffff, 4); /* no producer id */
  be(&b, 1, 4);                 /* one record */
  uint8_t rec[64];
  wbuf r = {rec, 0};
  r.p[r.n++] = 0;               /* attributes */
  varint(&r, 0), varint(&r, 0), varint(&r, -1), varint(&r, o->size);
  varint(&b, (int64_t)(r.n + (size_t)o->size + 1));
  put(&b, rec, r.n), put(&b, perf_payload(o, 0), (size_t)o->size);
  varint(&b, 0);                /* no headers */
  be_at(f->req + rec_len_at, b.n - batch_at, 4);
  be_at(f->req + batch_at + 8, b.n - batch_at - 12, 4);
  be_at(f->req + crc_at, crc32c_slow(f->req + crc_at + 4, b.n - crc_at - 4), 4);
  be_at(f->req, b.n - 4, 4);
  f->len = b.n;
  return f;
}

int kwperf_floor_once(kwperf_floor *f, int64_t *ns) {
  int64_t t0 = perf_now_ns();
  int e = round_trip(f->fd, f->req, f->len, f->corr++, f->resp, 65536);
  *ns = perf_now_ns() - t0;
  return e;
}

void kwperf_floor_close(kwperf_floor *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  free(f->req);
  free(f->resp);
  free(f);
}

int kwperf_rtt(const perf_opts *o) {
  kwperf_floor *f = kwperf_floor_open(o);
  if (!f) return 1;
  int64_t ns;
  for (long i = 0; i < o->warmup; i++) {
    int e = kwperf_floor_once(f, &ns);
    if (e) {
      fprintf(stderr, "kwperf rtt: warm-up request failed (%d)\n", e);
      return 1;
    }
  }
  perf_run run;
  perf_run_init(&run, o);
  perf_usage_now(&run.before);
  run.t_first_ns = perf_now_ns();
  for (long i = 0; i < o->count; i++) {
    run.sent_ns[i] = perf_now_ns();
    int e = kwperf_floor_once(f, &ns);
    char why[32];
    snprintf(why, sizeof why, "Kafka error %d", e);
    perf_delivered(&run, i, e ? why : NULL);
    if (e == -1000) break;
  }
  perf_usage_now(&run.after);
  kwperf_floor_close(f);
  perf_report(o, &run, "raw-produce-v3", "floor", "one pre-encoded Produce v3 request, blocking write/read");
  return run.failed ? 1 : 0;
}
