/* Records produced before their topic's metadata arrived: kept in produce order in
 * the topic's staging buffer, then placed into batches, or failed, once metadata says. */
#include <string.h>
#include "client/producer/kw_producer_int.h"
#include "kwire/error.h"

static void stage_put(kw_buf *s, const void *p, int32_t len) {
  kw_buf_i32(s, p ? len : -1);
  if (p && len > 0) kw_buf_raw(s, p, (size_t)len);
}

int kw_prod_stage(kw_ptopic *pt, int32_t partition, const void *key, size_t key_len,
                 const void *value, size_t value_len, const kw_header *hs, int nh, int64_t ts, void *opaque,
                 int64_t now) {
  kw_buf *s = &pt->staged;
  size_t mark = s->len;
  kw_buf_i32(s, partition);
  kw_buf_i64(s, ts);
  kw_buf_raw(s, &opaque, sizeof opaque);
  stage_put(s, key, (int32_t)key_len);
  stage_put(s, value, (int32_t)value_len);
  kw_buf_i32(s, nh);
  for (int i = 0; i < nh; i++) {
    stage_put(s, hs[i].key, (int32_t)strlen(hs[i].key));
    stage_put(s, hs[i].value, (int32_t)hs[i].value_len);
  }
  if (s->err) {
    int err = s->err;
    s->len = mark;
    s->err = 0;
    return err;
  }
  if (!pt->n_staged++) pt->staged_since = now;
  return 0;
}

static kw_slice stage_get(kw_rd *r) {
  int32_t len = kw_rd_i32(r);
  if (len < 0) return (kw_slice){NULL, 0};
  return (kw_slice){kw_rd_raw(r, (size_t)len), len};
}

void kw_prod_drain_staged(kw_producer *p, kw_ptopic *pt, bool place, int err, int16_t kerr, int64_t now) {
  kw_rd r;
  kw_rd_init(&r, pt->staged.data, pt->staged.len);
  while (kw_rd_left(&r)) {
    int32_t partition = kw_rd_i32(&r);
    int64_t ts = kw_rd_i64(&r);
    void *opaque;
    const uint8_t *op = kw_rd_raw(&r, sizeof opaque);
    if (!op) break;
    memcpy(&opaque, op, sizeof opaque);
    kw_slice key = stage_get(&r), value = stage_get(&r);
    int32_t nh = kw_rd_i32(&r);
    kw_record_header hs[64];
    int32_t kept = 0;
    for (int32_t i = 0; i < nh; i++) {
      kw_slice hk = stage_get(&r), hv = stage_get(&r);
      if (kept < 64) hs[kept++] = (kw_record_header){hk, hv};
    }
    if (r.err) break;
    size_t accounted = (size_t)(key.len > 0 ? key.len : 0) + (size_t)(value.len > 0 ? value.len : 0);
    int e = err;
    if (place) {
      if (partition == KW_PARTITION_UA) partition = kw_prod_choose_partition(p, pt, key.ptr, (size_t)key.len);
      e = partition < 0 || partition >= pt->n_parts ? KW_ERR_UNKNOWN_PARTITION
                                                     : kw_prod_append(p, pt->parts[partition], key.ptr, (size_t)key.len,
                                                              value.ptr, (size_t)value.len, hs, kept, ts, opaque,
                                                              accounted, now);
    }
    if (e) {
      kw_delivery_report dr = {pt->t->name, partition, -1, ts, e, e == KW_ERR_BROKER ? kerr : 0, opaque};
      kw_prod_deliver(p, &dr);
      p->served++;
      p->outstanding_msgs--;
      p->outstanding_bytes -= (int64_t)accounted;
    }
  }
  kw_buf_reset(&pt->staged);
  pt->n_staged = 0;
}
