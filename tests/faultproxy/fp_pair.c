/* Connection pairs: one client connection and its own upstream connection. Requests
 * stream through (their headers are read on the way to remember correlation ids);
 * responses are cut into whole frames, possibly rewritten, possibly held for the
 * configured latency (in order), and queued for the client. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fp.h"
#include "kwire/error.h"
#include "proto/kw_frame.h"

#define FP_READ_CHUNK 65536
#define FP_READS_PER_ROUND 16 /* a fast peer cannot starve the others in one poll round */

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SIGPIPE is ignored anyway */
#endif

static int32_t be32(const uint8_t *p) {
  return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}
static int16_t be16(const uint8_t *p) { return (int16_t)((uint16_t)p[0] << 8 | p[1]); }

void fp_pair_close(fp_proxy *px, fp_pair *p, const char *why) {
  if (p->dead) return;
  if (p->cfd >= 0) close(p->cfd);
  if (p->ufd >= 0) close(p->ufd);
  p->cfd = p->ufd = -1;
  p->dead = true;
  px->n_pairs--;
  fp_log("conn %llu closed: %s", (unsigned long long)p->id, why);
}

void fp_accept(fp_proxy *px, size_t li) {
  for (;;) {
    int cfd = accept(px->ls[li].fd, NULL, NULL);
    if (cfd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) fp_log("accept: %s", strerror(errno));
      return;
    }
    px->st.accepted++;
    fp_pair *p = calloc(1, sizeof *p);
    if (!p || fp_socket_setup(cfd) < 0) {
      free(p);
      close(cfd);
      continue;
    }
    p->cfd = cfd;
    p->listener = li;
    p->id = ++px->next_id;
    p->next = px->pairs;
    px->pairs = p;
    px->n_pairs++;
    p->ufd = fp_connect_nonblocking(&px->ls[li], &p->connecting);
    fp_log("conn %llu accepted on :%u for %s:%d", (unsigned long long)p->id, px->ls[li].port, px->ls[li].host,
           (int)px->ls[li].up_port);
    if (p->ufd < 0) fp_pair_close(px, p, "upstream connect failed");
  }
}

/* ---- client -> broker ---- */

static void remember(fp_pair *p, fp_req r) {
  if (p->req_n == p->req_cap) {
    if (p->req_cap >= FP_MAX_PENDING) { /* forget the oldest: most likely an acks=0 produce */
      p->req_head = (p->req_head + 1) % p->req_cap;
      p->req_n--;
    } else {
      size_t cap = p->req_cap ? p->req_cap * 2 : 64;
      fp_req *n = malloc(cap * sizeof *n);
      if (!n) return; /* its response will simply pass unchanged */
      for (size_t i = 0; i < p->req_n; i++) n[i] = p->reqs[(p->req_head + i) % p->req_cap];
      free(p->reqs);
      p->reqs = n;
      p->req_cap = cap;
      p->req_head = 0;
    }
  }
  p->reqs[(p->req_head + p->req_n) % p->req_cap] = r;
  p->req_n++;
}

/* Responses come in request order on a connection; requests skipped over had none
 * (Produce with acks=0). */
static bool take(fp_pair *p, int32_t corr, fp_req *out) {
  for (size_t i = 0; i < p->req_n; i++) {
    const fp_req *r = &p->reqs[(p->req_head + i) % p->req_cap];
    if (r->corr != corr) continue;
    *out = *r;
    p->req_head = (p->req_head + i + 1) % p->req_cap;
    p->req_n -= i + 1;
    return true;
  }
  return false;
}

/* Scans the request stream for frame boundaries. Whether a request is forwarded is
 * decided at its first byte, so a blackhole drops whole requests and the stream stays
 * well framed when it ends. */
static int from_client(fp_proxy *px, fp_pair *p, const uint8_t *b, size_t n) {
  while (n) {
    size_t take_n;
    if (!p->in_body) {
      if (p->hdr_have == 0) p->drop = px->blackhole;
      take_n = sizeof p->hdr - p->hdr_have < n ? sizeof p->hdr - p->hdr_have : n;
      memcpy(p->hdr + p->hdr_have, b, take_n);
      p->hdr_have += take_n;
      if (!p->drop && fp_bytes_append(&p->to_up, b, take_n)) return -1;
      if (p->hdr_have == sizeof p->hdr) {
        int32_t size = be32(p->hdr);
        if (size < 8 || size > FP_MAX_FRAME) return -1;
        if (!p->drop) remember(p, (fp_req){be32(p->hdr + 8), be16(p->hdr + 4), be16(p->hdr + 6)});
        p->body_left = (size_t)size - 8;
        p->in_body = true;
        p->hdr_have = 0;
      }
    } else {
      take_n = p->body_left < n ? p->body_left : n;
      if (!p->drop && fp_bytes_append(&p->to_up, b, take_n)) return -1;
      p->body_left -= take_n;
    }
    if (p->in_body && p->body_left == 0) p->in_body = false;
    b += take_n;
    n -= take_n;
  }
  return 0;
}

/* ---- broker -> client ---- */

static int queue_to_client(fp_proxy *px, fp_pair *p, const uint8_t *frame, size_t len, int64_t now) {
  if (px->latency_ms == 0 && !p->held) return fp_bytes_append(&p->to_client, frame, len);
  fp_frame *f = malloc(sizeof *f + len);
  if (!f) return -1;
  f->next = NULL;
  f->due = now + px->latency_ms;
  f->len = len;
  memcpy(f->data, frame, len);
  if (p->held_tail) p->held_tail->next = f;
  else p->held = f;
  p->held_tail = f;
  p->held_bytes += len;
  return 0;
}

static int response(fp_proxy *px, fp_pair *p, const uint8_t *frame, size_t len, int64_t now) {
  fp_req r;
  bool known = take(p, be32(frame + 4), &r);
  if (px->blackhole) return 0;
  kw_buf nb;
  bool changed = known && fp_rewrite(px, &r, frame, len, &nb);
  int rc = changed ? queue_to_client(px, p, nb.data, nb.len, now) : queue_to_client(px, p, frame, len, now);
  if (changed) kw_buf_free(&nb);
  return rc;
}

static int frames_from_up(fp_proxy *px, fp_pair *p, int64_t now) {
  for (;;) {
    size_t flen;
    int rc = kw_frame_peek(fp_bytes_head(&p->from_up), fp_bytes_size(&p->from_up), FP_MAX_FRAME, &flen);
    if (rc == KW_ERR_TRUNCATED) return 0;
    if (rc || flen < 4) return -1; /* negative, oversized, or without a correlation id */
    if (response(px, p, fp_bytes_head(&p->from_up), flen + 4, now)) return -1;
    fp_bytes_consume(&p->from_up, flen + 4);
  }
}

/* ---- socket events ---- */

static void read_client(fp_proxy *px, fp_pair *p) {
  uint8_t buf[FP_READ_CHUNK];
  for (int i = 0; i < FP_READS_PER_ROUND && fp_bytes_size(&p->to_up) < FP_HIGH_WATER; i++) {
    ssize_t n = read(p->cfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      fp_pair_close(px, p, n == 0 ? "client closed" : "client socket error");
      return;
    }
    if (from_client(px, p, buf, (size_t)n)) {
      fp_pair_close(px, p, "bad request frame or out of memory");
      return;
    }
  }
}

static void read_upstream(fp_proxy *px, fp_pair *p, int64_t now) {
  uint8_t buf[FP_READ_CHUNK];
  for (int i = 0; i < FP_READS_PER_ROUND && fp_bytes_size(&p->to_client) + p->held_bytes < FP_HIGH_WATER; i++) {
    ssize_t n = read(p->ufd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      fp_pair_close(px, p, "upstream socket error");
      return;
    }
    if (n == 0) {
      p->up_eof = true; /* what it sent still goes out (fp_pair_pump), then the client is closed */
      return;
    }
    if (fp_bytes_append(&p->from_up, buf, (size_t)n) || frames_from_up(px, p, now)) {
      fp_pair_close(px, p, "bad response frame or out of memory");
      return;
    }
  }
}

void fp_pair_events(fp_proxy *px, fp_pair *p, short cev, short uev, int64_t now) {
  if (p->dead) return;
  if (p->connecting && (uev & (POLLOUT | POLLERR | POLLHUP))) {
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(p->ufd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
      fp_pair_close(px, p, "upstream connect failed");
      return;
    }
    p->connecting = false;
    fp_log("conn %llu connected upstream", (unsigned long long)p->id);
  }
  if (cev & POLLERR) {
    fp_pair_close(px, p, "client socket error");
    return;
  }
  if (cev & (POLLIN | POLLHUP)) read_client(px, p);
  if (p->dead || p->connecting || p->up_eof) return;
  if (uev & POLLERR) {
    fp_pair_close(px, p, "upstream socket error");
    return;
  }
  if (uev & (POLLIN | POLLHUP)) read_upstream(px, p, now);
}

static int flush(int fd, fp_bytes *b, uint64_t *count) {
  while (fp_bytes_size(b)) {
    ssize_t n = send(fd, fp_bytes_head(b), fp_bytes_size(b), MSG_NOSIGNAL);
    if (n > 0) {
      fp_bytes_consume(b, (size_t)n);
      *count += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  }
  return 0;
}

void fp_pair_pump(fp_proxy *px, fp_pair *p, int64_t now) {
  if (p->dead) return;
  while (p->held && p->held->due <= now) {
    fp_frame *f = p->held;
    p->held = f->next;
    p->held_bytes -= f->len;
    int rc = px->blackhole ? 0 : fp_bytes_append(&p->to_client, f->data, f->len);
    free(f);
    if (rc) {
      fp_pair_close(px, p, "out of memory");
      return;
    }
  }
  if (!p->held) p->held_tail = NULL;
  const char *failed = NULL;
  if (flush(p->cfd, &p->to_client, &px->st.bytes_down)) failed = "client write failed";
  else if (!p->connecting && flush(p->ufd, &p->to_up, &px->st.bytes_up)) failed = "upstream write failed";
  else if (p->up_eof && !p->held && !fp_bytes_size(&p->to_client)) failed = "broker closed";
  if (failed) fp_pair_close(px, p, failed);
}

void fp_pair_release_all(fp_pair *p) {
  for (fp_frame *f = p->held; f; f = f->next) f->due = 0;
}

short fp_pair_client_events(const fp_pair *p) {
  short ev = 0;
  if (fp_bytes_size(&p->to_up) < FP_HIGH_WATER) ev |= POLLIN;
  if (fp_bytes_size(&p->to_client)) ev |= POLLOUT;
  return ev;
}

short fp_pair_upstream_events(const fp_pair *p) {
  if (p->connecting) return POLLOUT;
  short ev = 0;
  if (!p->up_eof && fp_bytes_size(&p->to_client) + p->held_bytes < FP_HIGH_WATER) ev |= POLLIN;
  if (fp_bytes_size(&p->to_up)) ev |= POLLOUT;
  return ev;
}

void fp_reap(fp_proxy *px) {
  for (fp_pair **pp = &px->pairs; *pp;) {
    fp_pair *p = *pp;
    if (!p->dead) {
      pp = &p->next;
      continue;
    }
    *pp = p->next;
    while (p->held) {
      fp_frame *f = p->held;
      p->held = f->next;
      free(f);
    }
    fp_bytes_free(&p->to_up);
    fp_bytes_free(&p->from_up);
    fp_bytes_free(&p->to_client);
    free(p->reqs);
    free(p);
  }
}
