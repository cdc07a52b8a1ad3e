/* kwfaultproxy: a fault-injecting TCP proxy between Kafka clients and a real cluster.
 * One listener per broker; every accepted client gets its own upstream connection.
 * Requests pass through untouched (only their headers are read, to learn which API
 * each correlation id is); responses are framed, and the ones that carry broker
 * addresses or are due an injected error are decoded with kwire's codec, changed and
 * encoded again. Faults (cuts, latency, blackhole, injected errors) are commands read
 * from stdin. See README.md for the command protocol. */
#ifndef KW_FAULTPROXY_H
#define KW_FAULTPROXY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "core/kw_mem.h"
#include "proto/kw_msg.h"

#define FP_MAX_FRAME (100 * 1024 * 1024) /* Kafka's own socket.request.max.bytes is 100 MB */
#define FP_HIGH_WATER (4 * 1024 * 1024)  /* stop reading a side while this much waits to go out */
#define FP_MAX_LISTENERS 256             /* bounds listeners made on the fly for unknown brokers */
#define FP_MAX_PENDING 65536             /* requests remembered per connection (acks=0 floods) */
#define FP_PROXY_HOST "127.0.0.1"

/* A byte queue: data[off, len) is waiting. */
typedef struct fp_bytes {
  uint8_t *data;
  size_t off, len, cap;
} fp_bytes;

int fp_bytes_append(fp_bytes *b, const void *p, size_t n); /* 0 or -1 (out of memory) */
void fp_bytes_consume(fp_bytes *b, size_t n);
static inline size_t fp_bytes_size(const fp_bytes *b) { return b->len - b->off; }
static inline uint8_t *fp_bytes_head(const fp_bytes *b) { return b->data + b->off; }
void fp_bytes_free(fp_bytes *b);

/* One proxy listener and the broker address it stands for. */
typedef struct fp_listener {
  int fd;
  uint16_t port;  /* ours, on FP_PROXY_HOST */
  char host[256]; /* the broker's, as it advertises itself */
  int32_t up_port;
  struct sockaddr_storage addr; /* resolved once; addrlen 0 when it could not be */
  socklen_t addrlen;
} fp_listener;

/* A request awaiting its response: what the response's bytes mean. */
typedef struct fp_req {
  int32_t corr;
  int16_t key, ver;
} fp_req;

/* A response held back by `latency` until `due`. */
typedef struct fp_frame {
  struct fp_frame *next;
  int64_t due;
  size_t len;
  uint8_t data[];
} fp_frame;

/* One client connection and its own upstream connection. */
typedef struct fp_pair {
  struct fp_pair *next;
  uint64_t id;
  int cfd, ufd;
  size_t listener;
  bool connecting; /* upstream connect() still in progress */
  bool up_eof;     /* broker closed: deliver what it sent, then close the client */
  bool dead;       /* closed; freed after the poll round */

  /* client -> broker: forwarded as a stream, scanned for request headers */
  fp_bytes to_up;
  uint8_t hdr[12]; /* size, api_key, api_version, correlation_id */
  size_t hdr_have, body_left;
  bool in_body, drop; /* drop: the current request arrived while blackholed */
  fp_req *reqs;       /* ring of requests awaiting responses, oldest at req_head */
  size_t req_head, req_n, req_cap;

  /* broker -> client: whole frames (a response must be complete to be rewritten) */
  fp_bytes from_up, to_client;
  fp_frame *held, *held_tail;
  size_t held_bytes;
} fp_pair;

typedef struct fp_stats {
  uint64_t accepted, cut, injected, rewritten, clamped, undecodable, bytes_up, bytes_down;
} fp_stats;

typedef struct fp_proxy {
  fp_listener *ls;
  size_t n_ls;
  fp_pair *pairs;
  size_t n_pairs;
  uint64_t next_id;

  /* faults */
  int64_t latency_ms;
  bool blackhole;
  int64_t cut_every_ms, next_cut; /* 0 = off */
  struct {
    int16_t code;
    uint32_t left;
  } inject[KW_N_APIS]; /* indexed like kw_apis */
  uint64_t rng;

  fp_stats st;
  fp_bytes stdin_buf;
  kw_arena arena; /* decoded responses; reset after each */
  bool quit;
} fp_proxy;

extern bool fp_verbose;
void fp_log(const char *fmt, ...);
int64_t fp_now_ms(void);
uint64_t fp_random(fp_proxy *px);

/* fp_net.c: sockets */
int fp_parse_hostport(const char *s, char *host, size_t host_cap, int32_t *port);
/* A new listener on FP_PROXY_HOST (ephemeral port) for broker host:port; its index or -1. */
long fp_listener_add(fp_proxy *px, const char *host, size_t host_len, int32_t port);
/* The listener that stands for broker host:port, made on the fly when there is none. */
long fp_listener_for(fp_proxy *px, const char *host, size_t host_len, int32_t port);
int fp_connect_nonblocking(const fp_listener *l, bool *in_progress); /* fd or -1 */
int fp_socket_setup(int fd);                                        /* nonblocking, nodelay */

/* fp_pair.c: connections */
void fp_accept(fp_proxy *px, size_t listener);
void fp_pair_events(fp_proxy *px, fp_pair *p, short cev, short uev, int64_t now);
void fp_pair_pump(fp_proxy *px, fp_pair *p, int64_t now); /* release due frames, flush, close when drained */
void fp_pair_close(fp_proxy *px, fp_pair *p, const char *why);
void fp_pair_release_all(fp_pair *p); /* held frames become due now (latency turned off) */
short fp_pair_client_events(const fp_pair *p);
short fp_pair_upstream_events(const fp_pair *p);
void fp_reap(fp_proxy *px); /* frees pairs closed this round */

/* fp_rewrite.c: a complete response frame (size prefix included) for request `r`.
 * Returns true and a new frame in `out` when it changed it; false to forward as is. */
bool fp_rewrite(fp_proxy *px, const fp_req *r, const uint8_t *frame, size_t len, kw_buf *out);
/* Whether `inject` can work on api_key (kwire's codec knows it and it has error codes). */
bool fp_injectable(int16_t api_key);
void fp_rewrite_init(fp_proxy *px);

/* fp_walk.c: generic walks over the codec's field tables */
typedef void (*fp_visit_fn)(void *ctx, const kw_struct_desc *sd, uint8_t *obj, int depth);
void fp_walk(int schema, int16_t v, void *obj, fp_visit_fn fn, void *ctx);
const kw_field *fp_field(const kw_struct_desc *sd, int16_t v, const char *name, int type);
bool fp_schema_has(int schema, int16_t v, const char *name); /* at version v; v < 0: any */

/* fp_cmd.c: one command line; the answer goes to stdout */
void fp_command(fp_proxy *px, char *line);
void fp_cut_one(fp_proxy *px); /* cut-random: close one open pair, chosen at random */

#endif
