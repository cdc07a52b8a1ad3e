/* The event loops outside the library watch every socket a client has, however many:
 * kwcat's wait (kwcat -P waits on its input and the client together), kwperf's poll
 * over several clients (rebalance --loop fds) and the adapter of the epoll example
 * (examples/epoll_loop.[ch], what users copy). Each drives a consumer of a scripted
 * cluster of more brokers than the loops once watched (tests/unit/fake_broker.h: 80
 * brokers, each leading one partition that holds one record); nothing else serves the
 * client's sockets (kw_consumer_poll would: it is not called). A broker whose socket is
 * left out of the wait never even gets its connection completed.
 *
 * What is checked is what the brokers saw: every partition's next Fetch asks from
 * offset 1, so its record was read. The loop gives up once the brokers that did get
 * their record released three rounds of held (empty) Fetch answers each: counted in
 * answers, never in milliseconds. */
#include "tests/unit/fake_broker.h"
#include <criterion/criterion.h>
#include <sys/epoll.h>
#include "examples/epoll_loop.h"
#include "kwire.h"
#include "proto/kw_records.h"
#include "tools/kwcat/kwcat.h"
#include "tools/kwperf/poll_clients.h"

#define N_BROKERS 80 /* more than the 32 and 64 sockets the loops once watched */

#define S(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})

static kw_buf one_record;
static bool read_past[N_BROKERS]; /* under fb.mu: the partition was fetched from offset 1 */

static void serve_one(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd, kw_arena *a) {
  (void)b;
  (void)a;
  pd->high_watermark = pd->last_stable_offset = 1;
  if (partition < 0 || partition >= N_BROKERS) return;
  if (fetch_offset >= 1) read_past[partition] = true;
  if (fetch_offset == 0) pd->records = (kw_slice){one_record.data, (int32_t)one_record.len};
}

static void start_cluster(fb *b) {
  kw_buf_init_grow(&one_record, NULL);
  kw_batch_writer w;
  cr_assert_eq(kw_batch_begin(&w, &one_record, 0, -1, -1, -1), 0);
  cr_assert_eq(kw_batch_append(&w, 1000, S("k"), S("v"), NULL, 0), 0);
  cr_assert_eq(kw_batch_seal(&w, NULL), 0);
  memset(read_past, 0, sizeof read_past);
  *b = (fb){.topic = "t", .n_partitions = N_BROKERS, .n_nodes = N_BROKERS, .end_offset = 1, .on_fetch = serve_one};
  fb_start(b);
}

static void stop_cluster(fb *b) {
  fb_stop(b);
  kw_buf_free(&one_record);
}

static kw_client *consumer_of_all(fb *b) {
  kw_config *conf = kw_config_new();
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", b->port);
  cr_assert_eq(kw_config_set(conf, "bootstrap.servers", addr, err, sizeof err), 0, "%s", err);
  cr_assert_eq(kw_config_set(conf, "fetch.wait.max.ms", "1000", err, sizeof err), 0, "%s", err);
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  cr_assert_not_null(cl, "%s", err);
  for (int p = 0; p < N_BROKERS; p++) cr_assert_eq(kw_consumer_assign(cl, "t", p, 0), KW_OK);
  return cl;
}

/* How many partitions were read past their record; their numbers in missing. */
static int count_read(fb *b, char *missing, size_t size) {
  int n = 0;
  if (missing) *missing = 0;
  pthread_mutex_lock(&b->mu);
  for (int p = 0; p < N_BROKERS; p++) {
    if (read_past[p]) n++;
    else if (missing) snprintf(missing + strlen(missing), size - strlen(missing), " %d", p);
  }
  pthread_mutex_unlock(&b->mu);
  return n;
}

/* Runs turn(cl, ud) until every partition's record was read or the brokers gave up
 * waiting three rounds each; then checks all were read. */
static void run_until_all_read(fb *b, kw_client *cl, void (*turn)(kw_client *, void *), void *ud) {
  int turns = 0;
  while (count_read(b, NULL, 0) < N_BROKERS && FB_GET(b, n_held_released) < 3 * N_BROKERS) {
    turn(cl, ud);
    turns++;
  }
  char missing[512];
  int n = count_read(b, missing, sizeof missing);
  cr_assert_eq(n, N_BROKERS, "%d of %d partitions read after %d turns (%d held Fetch answers released); missing:%s", n,
               N_BROKERS, turns, (int)FB_GET(b, n_held_released), missing);
}

/* kwcat -P's turn: its input (a pipe with nothing in it yet) and the client. */
static void kwcat_turn(kw_client *cl, void *ud) {
  int r = kwcat_wait(cl, *(int *)ud, 100);
  cr_assert_eq(r, 0, "the input is not readable: %d", r);
}

Test(tool_loops, kwcat_wait_watches_every_socket) {
  fb b;
  start_cluster(&b);
  kw_client *cl = consumer_of_all(&b);
  int in[2];
  cr_assert_eq(pipe(in), 0);
  run_until_all_read(&b, cl, kwcat_turn, &in[0]);
  cr_assert_eq(write(in[1], "x\n", 2), 2);
  cr_assert_eq(kwcat_wait(cl, in[0], -1), 1, "the input is readable now");
  close(in[0]);
  close(in[1]);
  kw_client_destroy(cl);
  stop_cluster(&b);
}

/* kwperf rebalance --loop fds's turn: one poll over its members (here a consumer of no
 * partition, whose sockets come first in the set, the consumer of all, and a member
 * that left). */
static void kwperf_turn(kw_client *cl, void *ud) {
  kw_client *members[3] = {ud, cl, NULL};
  cr_assert_eq(kwperf_poll_clients(members, 3, 100), 0);
}

Test(tool_loops, kwperf_poll_clients_watches_every_socket) {
  fb b;
  start_cluster(&b);
  kw_client *cl = consumer_of_all(&b);
  kw_config *conf = kw_config_new();
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", b.port);
  cr_assert_eq(kw_config_set(conf, "bootstrap.servers", addr, err, sizeof err), 0, "%s", err);
  kw_client *idle = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  cr_assert_not_null(idle, "%s", err);
  run_until_all_read(&b, cl, kwperf_turn, idle);
  kw_client_destroy(idle);
  kw_client_destroy(cl);
  stop_cluster(&b);
}

/* The epoll example's turn: sync the set, epoll_wait, step. */
static void epoll_turn(kw_client *cl, void *ud) {
  epoll_kw *e = ud;
  cr_assert_eq(epoll_kw_sync(e, cl), 0);
  struct epoll_event ev[16]; /* fewer than the sockets: the others stay ready for the next turn */
  int t = kw_client_next_timeout(cl);
  int n = epoll_wait(e->ep, ev, 16, t < 0 || t > 100 ? 100 : t);
  cr_assert_geq(n, 0);
  epoll_kw_step(e, cl, ev, n);
}

Test(tool_loops, epoll_adapter_watches_every_socket) {
  fb b;
  start_cluster(&b);
  kw_client *cl = consumer_of_all(&b);
  epoll_kw e = {.ep = epoll_create1(0)};
  cr_assert_geq(e.ep, 0);
  run_until_all_read(&b, cl, epoll_turn, &e);
  epoll_kw_free(&e);
  close(e.ep);
  kw_client_destroy(cl);
  stop_cluster(&b);
}
