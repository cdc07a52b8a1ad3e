/* kwsim's network: the library's seam (core/kw_hooks.h) backed by in-memory
 * connections. A client's bytes land in its connection's queue; the cluster takes whole
 * requests off the queues in a seeded order, and its answers travel back with a seeded
 * latency, in order on each connection (as Kafka answers them), in any order across
 * connections. A client's poll runs the cluster and moves virtual time to the next
 * thing that happens. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_hooks.h"
#include "kwire/error.h"
#include "sim/sim_int.h"

static kw_hooks hooks;

/* A connection the cluster still has (a client may have closed its end). */
static sim_conn *conn_live(kw_sim *s, int h) { return h >= 0 && h < s->n_conns && s->conns[h].open ? &s->conns[h] : NULL; }

/* A connection as its client sees it: gone once the client closed it. */
static sim_conn *conn_at(kw_sim *s, int h) {
  sim_conn *c = conn_live(s, h);
  return c && !c->closed_by_client ? c : NULL;
}

static void free_answers(sim_conn *c) {
  while (c->head) {
    sim_answer *a = c->head;
    c->head = a->next;
    free(a);
  }
  c->tail = NULL;
}

void sim_net_break(kw_sim *s, int h) {
  sim_conn *c = conn_live(s, h);
  if (!c || c->broken) return;
  sim_trace(s, "conn %llu to broker %d drops", (unsigned long long)c->id, c->node);
  c->broken = true;
  free_answers(c);
  kw_buf_reset(&c->in);
  if (c->has_parked) free(c->parked_req.state);
  c->has_parked = false;
}

void sim_net_break_node(kw_sim *s, int32_t node) {
  for (int i = 0; i < s->n_conns; i++)
    if (s->conns[i].open && s->conns[i].node == node) sim_net_break(s, i);
}

int32_t sim_throttle(kw_sim *s, sim_req *r) {
  if (!sim_fault(s, KW_SIM_THROTTLE)) return 0;
  r->throttle_ms = 50 + (int32_t)sim_rand_below(s, 451);
  return r->throttle_ms;
}

void sim_net_answer(kw_sim *s, int h, const uint8_t *frame, size_t len, int32_t throttle_ms) {
  sim_conn *c = conn_at(s, h);
  if (!c || c->broken) return;
  sim_answer *a = malloc(sizeof *a + len);
  if (!a) return;
  a->next = NULL;
  a->len = len;
  a->throttle_ms = throttle_ms;
  memcpy(a->data, frame, len);
  a->due = s->now + (int64_t)sim_rand_below(s, (uint64_t)s->cfg.latency_ms + 1);
  a->drop_conn = sim_fault(s, KW_SIM_DROP_AFTER);
  if (sim_fault(s, KW_SIM_DELAY)) a->due += s->cfg.delay_ms;
  if (c->tail && c->tail->due > a->due) a->due = c->tail->due; /* in order on a connection */
  if (c->tail) c->tail->next = a;
  else c->head = a;
  c->tail = a;
  s->stats.answers++;
}

/* ---- the hooks ---- */

static int64_t h_now(void *ud) { return ((kw_sim *)ud)->now; }
static int64_t h_wall(void *ud) { return ((kw_sim *)ud)->now + ((kw_sim *)ud)->wall_offset; }
static uint64_t h_random(void *ud) { return sim_rand(ud); }

int sim_net_open(kw_sim *s, int32_t node) {
  sim_conn *arr = realloc(s->conns, sizeof *arr * (size_t)(s->n_conns + 1));
  if (!arr) return KW_ERR_NOMEM;
  s->conns = arr;
  sim_conn *c = &s->conns[s->n_conns];
  memset(c, 0, sizeof *c);
  c->open = true;
  c->node = node;
  c->id = ++s->conn_ids;
  c->fd = -1;
  kw_buf_init_grow(&c->in, NULL);
  kw_buf_init_grow(&c->parked, NULL);
  kw_buf_init_grow(&c->out, NULL);
  s->stats.connections++;
  sim_trace(s, "conn %llu to broker %d opens", (unsigned long long)c->id, node);
  return s->n_conns++;
}

static int h_connect(void *ud, const char *host, int port, int *handle) {
  kw_sim *s = ud;
  int node = 0;
  if (strncmp(host, "sim-", 4) != 0 || (node = atoi(host + 4)) < 1 || node > s->n_brokers || port != 9092)
    return KW_ERR_RESOLVE;
  if (!s->brokers[node].up || sim_fault(s, KW_SIM_CONNECT_FAIL)) {
    sim_trace(s, "connect to broker %d refused", node);
    return KW_ERR_CONNECT;
  }
  int h = sim_net_open(s, node);
  if (h < 0) return h;
  *handle = h;
  return KW_OK;
}

static ssize_t h_recv(void *ud, int h, void *buf, size_t len) {
  kw_sim *s = ud;
  sim_conn *c = conn_at(s, h);
  if (!c) return KW_ERR_IO;
  size_t avail = c->out.len - c->out_off;
  if (avail == 0) return c->broken ? KW_ERR_DISCONNECTED : KW_ERR_WOULD_BLOCK;
  size_t n = avail < len ? avail : len;
  if (n > 1 && sim_fault(s, KW_SIM_SHORT_IO)) n = 1 + (size_t)sim_rand_below(s, n - 1);
  memcpy(buf, c->out.data + c->out_off, n);
  c->out_off += n;
  if (c->throttle_ms && c->out_off >= c->throttle_at) { /* read it: from now on, a pause */
    c->throttle_until = s->now + c->throttle_ms;
    c->throttle_ms = 0;
  }
  if (c->out_off == c->out.len) {
    if (c->throttle_ms) c->throttle_at = 0;
    kw_buf_reset(&c->out);
    c->out_off = 0;
  }
  return (ssize_t)n;
}

static ssize_t h_sendv(void *ud, int h, const struct iovec *iov, int iovcnt) {
  kw_sim *s = ud;
  sim_conn *c = conn_at(s, h);
  if (!c) return KW_ERR_IO;
  if (c->broken) return KW_ERR_DISCONNECTED;
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  size_t take = total;
  if (take > 1 && sim_fault(s, KW_SIM_SHORT_IO)) take = 1 + (size_t)sim_rand_below(s, take - 1);
  if (take > 0 && s->now < c->throttle_until) {
    s->stats.throttle_violations++;
    sim_trace(s, "conn %llu: the client wrote while told to pause", (unsigned long long)c->id);
  }
  size_t left = take;
  for (int i = 0; i < iovcnt && left > 0; i++) {
    size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    kw_buf_raw(&c->in, iov[i].iov_base, n);
    left -= n;
  }
  return (ssize_t)take;
}

/* The connection's end: nothing of it is left. */
static void release(kw_sim *s, int h) {
  sim_conn *c = &s->conns[h];
  free_answers(c);
  if (c->has_parked) free(c->parked_req.state);
  c->has_parked = false;
  kw_buf_free(&c->in);
  kw_buf_free(&c->parked);
  kw_buf_free(&c->out);
  c->open = false;
}

/* A client's close: as over TCP, what it wrote before still reaches the broker (a
 * LeaveGroup sent just before closing counts); only the answers are lost. */
void sim_net_close(kw_sim *s, int h) {
  sim_conn *c = conn_at(s, h);
  if (!c || c->closed_by_client) return;
  sim_trace(s, "conn %llu to broker %d closed by the client", (unsigned long long)c->id, c->node);
  c->closed_by_client = true;
  free_answers(c);
  if (c->broken || c->in.len == 0) release(s, h);
}

static void h_close(void *ud, int h) { sim_net_close(ud, h); }

static short readiness(kw_sim *s, const struct pollfd *p) {
  sim_conn *c = conn_at(s, p->fd);
  if (!c) return p->fd >= 0 ? POLLNVAL : 0;
  short r = 0;
  if ((p->events & POLLIN) && (c->out.len > c->out_off || c->broken)) r |= POLLIN;
  if ((p->events & POLLOUT) && !c->broken) r |= POLLOUT;
  if (c->broken) r |= POLLHUP;
  return r;
}

/* poll(2) over connection handles: runs the cluster until one of them is ready or the
 * timeout passes (in virtual time). A client that waits forever on nothing gets 0 at
 * once rather than a hang. */
static int h_poll(void *ud, struct pollfd *fds, int n, int timeout_ms) {
  kw_sim *s = ud;
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : s->now + timeout_ms;
  for (;;) {
    sim_step(s);
    int ready = 0;
    for (int i = 0; i < n; i++) {
      fds[i].revents = readiness(s, &fds[i]);
      ready += fds[i].revents != 0;
    }
    if (ready) return ready;
    int64_t next = sim_next_event(s);
    if (next > deadline) {
      if (deadline != INT64_MAX) s->now = deadline;
      return 0;
    }
    if (next > s->now) s->now = next;
  }
}

void sim_net_install(kw_sim *s, bool on) {
  hooks = (kw_hooks){s, h_now, h_wall, h_random, h_connect, h_recv, h_sendv, h_close, h_poll};
  kw_hooks_install(on ? &hooks : NULL);
}

/* ---- the cluster's side ---- */

/* A whole request at the head of c->in: its length (without the size), or 0. */
static size_t whole_request(sim_conn *c) {
  size_t len = 0;
  if (kw_frame_peek(c->in.data, c->in.len, 100 * 1024 * 1024, &len) != 0) return 0;
  return len;
}

static bool ready_to_take(kw_sim *s, const sim_conn *c) {
  return c->open && !c->broken && !c->has_parked && s->brokers[c->node].up && c->in.len >= 4 &&
         s->now >= c->muted_until;
}

static void run_request(kw_sim *s, int h, sim_req *r) {
  kw_buf out;
  kw_buf_init_grow(&out, NULL);
  int rc = sim_broker_handle(s, r, &out);
  sim_conn *c = &s->conns[h];
  if (rc == SIM_PARK) {
    c->has_parked = true;
    c->parked_req = *r;
  } else {
    c->has_parked = false;
    if (rc == SIM_DONE && out.len > 0) sim_net_answer(s, h, out.data, out.len, r->throttle_ms);
  }
  kw_buf_free(&out);
  kw_arena_reset(&s->arena);
}

/* Takes the next request off connection h: parked while a broker waits (for data, for
 * replication), and the connection reads nothing more until it is answered. */
static void take_request(kw_sim *s, int h) {
  sim_conn *c = &s->conns[h];
  size_t len = whole_request(c);
  if (len < 8) {
    if (len || c->in.len >= 4 + 8) sim_net_break(s, h); /* garbage: a broker closes the connection */
    return;
  }
  if (sim_fault(s, KW_SIM_DROP_BEFORE)) {
    sim_net_break(s, h);
    return;
  }
  kw_buf_reset(&c->parked);
  kw_buf_raw(&c->parked, c->in.data + 4, len);
  memmove(c->in.data, c->in.data + 4 + len, c->in.len - 4 - len);
  c->in.len -= 4 + len;
  s->stats.requests++;
  const uint8_t *f = c->parked.data;
  sim_req r = {.conn = h, .node = c->node, .api = (int16_t)(f[0] << 8 | f[1]), .ver = (int16_t)(f[2] << 8 | f[3]),
               .body = f, .body_len = len, .arrived = s->now};
  sim_trace(s, "broker %d: api %d v%d, %zu bytes, on conn %llu (crc32c %08x)", c->node, r.api, r.ver, len,
            (unsigned long long)c->id, kw_crc32c(0, f, len));
  run_request(s, h, &r);
}

void sim_net_step(kw_sim *s) {
  for (int i = 0; i < s->n_conns; i++) { /* answers whose time has come */
    sim_conn *c = &s->conns[i];
    while (c->open && c->head && c->head->due <= s->now) {
      sim_answer *a = c->head;
      c->head = a->next;
      if (!c->head) c->tail = NULL;
      if (a->drop_conn) {
        free(a);
        sim_net_break(s, i);
        break;
      }
      kw_buf_raw(&c->out, a->data, a->len);
      if (a->throttle_ms > 0) { /* Kafka mutes the channel once the answer is sent */
        c->throttle_at = c->out.len;
        c->throttle_ms = a->throttle_ms;
        c->muted_until = s->now + a->throttle_ms;
      }
      free(a);
    }
  }
  for (int i = 0; i < s->n_conns; i++) { /* parked requests: answer now? */
    sim_conn *c = &s->conns[i];
    if (!c->open || c->broken || !c->has_parked) continue;
    if (!s->brokers[c->node].up) continue;
    sim_req r = c->parked_req;
    r.body = c->parked.data;
    r.final = s->now >= r.park_until;
    r.resumed = true;
    run_request(s, i, &r);
  }
  /* New requests, one per connection, connections in a seeded order. */
  int n = 0;
  int *order = s->n_conns ? malloc(sizeof *order * (size_t)s->n_conns) : NULL;
  for (int i = 0; order && i < s->n_conns; i++)
    if (ready_to_take(s, &s->conns[i]) && whole_request(&s->conns[i]) > 0) order[n++] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)sim_rand_below(s, (uint64_t)i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < n; i++)
    if (ready_to_take(s, &s->conns[order[i]])) take_request(s, order[i]);
  free(order);
  for (int i = 0; i < s->n_conns; i++) { /* closed by their clients, and drained */
    sim_conn *c = &s->conns[i];
    if (c->open && c->closed_by_client && !c->has_parked && (c->broken || whole_request(c) == 0)) release(s, i);
  }
}

int64_t sim_net_next_event(kw_sim *s) {
  int64_t next = INT64_MAX;
  for (int i = 0; i < s->n_conns; i++) {
    sim_conn *c = &s->conns[i];
    if (!c->open || c->broken) continue;
    if (ready_to_take(s, c) && whole_request(c) > 0) return s->now;
    if (c->muted_until > s->now && whole_request(c) > 0 && c->muted_until < next) next = c->muted_until;
    if (c->head && c->head->due < next) next = c->head->due;
    if (c->has_parked && c->parked_req.park_until < next) next = c->parked_req.park_until;
  }
  return next;
}

void sim_net_free(kw_sim *s) {
  for (int i = 0; i < s->n_conns; i++)
    if (s->conns[i].open) release(s, i);
  free(s->conns);
  s->conns = NULL;
  s->n_conns = 0;
}
