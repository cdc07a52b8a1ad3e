/* The public consumer API (include/kwire/consumer.h) over the fetcher. */
#include <string.h>
#include "core/kw_clock.h"
#include "client/admin/kw_admin_int.h"
#include "client/kw_call.h"
#include "client/kw_client_int.h"
#include "client/kw_config.h"
#include "client/group/kw_assignor.h"
#include "client/consumer/kw_fetcher.h"
#include "client/group/kw_group.h"
#include <stdio.h>
#include "kwire/consumer.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"
#include "proto/kw_records.h"

kw_client *kw_consumer_new(const kw_config *conf, char *errstr, size_t errlen) {
  kw_client *cl = kw_client_create(conf, KW_CF_C, errstr, errlen);
  if (!cl) return NULL;
  const kw_conf_values *v = kw_config_values(cl->conf);
  kw_fetcher_settings cs = {
      .fetch_min_bytes = (int32_t)v->fetch_min_bytes,
      .fetch_max_bytes = (int32_t)v->fetch_max_bytes,
      .max_partition_fetch_bytes = (int32_t)v->max_partition_fetch_bytes,
      .fetch_wait_max_ms = (int32_t)v->fetch_wait_max_ms,
      .queued_max_bytes = v->queued_max_kbytes * 1024,
      .retry_backoff_ms = v->retry_backoff_ms,
      .isolation_level = (int8_t)(v->isolation_level == KW_ISOLATION_READ_COMMITTED),
      .auto_offset_reset = v->auto_offset_reset,
      .max_decompressed = v->receive_message_max_bytes,
      .check_crcs = v->check_crcs,
  };
  cl->cons = kw_fetcher_create(&cl->cluster, &cs, cl->mem, &cl->log, &cl->metrics);
  if (!cl->cons) {
    kw_client_destroy(cl);
    return NULL;
  }
  if (v->group_id && v->group_id[0]) {
    kw_group_settings gs = {
        .group_id = v->group_id,
        .instance_id = v->group_instance_id && v->group_instance_id[0] ? v->group_instance_id : NULL,
        .session_timeout_ms = v->session_timeout_ms,
        .heartbeat_interval_ms = v->heartbeat_interval_ms,
        .max_poll_interval_ms = v->max_poll_interval_ms,
        .retry_backoff_ms = v->retry_backoff_ms,
        .auto_commit_interval_ms = v->auto_commit_interval_ms,
        .request_timeout_ms = v->request_timeout_ms,
        .auto_commit = v->enable_auto_commit,
        .auto_store = v->enable_auto_offset_store,
        .auto_offset_reset = v->auto_offset_reset,
        .consumer_protocol = v->group_protocol == KW_GROUP_CONSUMER,
    };
    /* partition.assignment.strategy, in the order written */
    const char *s = v->assignment_strategy ? v->assignment_strategy : "range,roundrobin";
    while (*s && gs.n_assignors < 3) {
      size_t len = strcspn(s, ",");
      char name[32];
      snprintf(name, sizeof name, "%.*s", (int)len, s);
      int kind = kw_assignor_from_name(name);
      if (kind >= 0) gs.assignors[gs.n_assignors++] = kind;
      s += len + (s[len] == ',');
    }
    cl->group = kw_group_create(&cl->cluster, cl->cons, &gs, cl->mem, &cl->log);
    if (!cl->group) {
      kw_client_destroy(cl);
      return NULL;
    }
    kw_group_set_metrics(cl->group, &cl->metrics);
  }
  return cl;
}

/* ---- groups ---- */

void kw_consumer_set_rebalance_cb(kw_client *cl, kw_rebalance_cb cb, void *ud) {
  if (cl->group) kw_group_set_rebalance_cb(cl->group, cb, ud);
}

int kw_consumer_subscribe(kw_client *cl, const char *const *topics, int n_topics) {
  if (!cl->group) return KW_ERR_STATE; /* needs group.id */
  return kw_group_subscribe(cl->group, topics, n_topics);
}

int kw_consumer_store_offset(kw_client *cl, const char *topic, int32_t partition, int64_t offset) {
  if (!cl->group) return KW_ERR_STATE;
  return kw_group_store(cl->group, topic, partition, offset);
}

/* One OffsetCommit of the stored offsets, waited for until `end` when `wait`. */
static int commit_once(kw_client *cl, int64_t end, bool wait) {
  cl->wait_done = false;
  cl->wait_result = KW_OK;
  cl->wait_kerr = 0;
  uint32_t revocations = kw_group_revocations(cl->group);
  bool *done = wait ? &cl->wait_done : NULL;
  int *result = wait ? &cl->wait_result : NULL;
  int16_t *kerr = wait ? &cl->wait_kerr : NULL;
  int err = kw_group_commit(cl->group, done, result, kerr, kw_now_ms());
  /* Busy connection (its in-flight window is full) or no coordinator yet: try again. */
  while ((err == KW_ERR_WOULD_BLOCK || err == KW_ERR_STATE) && wait && kw_now_ms() < end) {
    kw_client_poll(cl, 10);
    /* A rebalance meanwhile took partitions away, and their stored offsets with them:
     * a commit of what is left must not pass for the commit the caller asked for. */
    if (kw_group_revocations(cl->group) != revocations) return KW_ERR_STATE;
    err = kw_group_commit(cl->group, done, result, kerr, kw_now_ms());
  }
  if (err || !wait) return err;
  /* Returns when the answer came, not at the end of a poll slice. */
  int rc = kw_call_run_until(cl, end, &cl->wait_done);
  return cl->wait_done ? cl->wait_result : rc < 0 ? rc : KW_ERR_TIMED_OUT;
}

/* A synchronous commit refused for a reason that passes (coordinator loading or
 * moved, a stale KIP-848 member epoch) is sent again after retry.backoff.ms until the
 * timeout, as the Java consumer's commitSync does. Membership errors are not retried:
 * the partitions are lost, and their offsets are another member's to commit. */
int kw_consumer_commit(kw_client *cl, int timeout_ms) {
  if (!cl->group) return KW_ERR_STATE;
  int64_t end = kw_now_ms() + timeout_ms;
  int err = commit_once(cl, end, timeout_ms > 0);
  while (err == KW_ERR_BROKER && kw_now_ms() < end &&
         (kw_kerr_retriable(cl->wait_kerr) || cl->wait_kerr == KW_KERR_STALE_MEMBER_EPOCH)) {
    int64_t until = kw_now_ms() + kw_config_values(cl->conf)->retry_backoff_ms;
    kw_call_run_until(cl, until < end ? until : end, NULL);
    if (kw_now_ms() < end) err = commit_once(cl, end, true);
  }
  cl->last_commit_err = err;
  cl->last_commit_kerr = err == KW_ERR_BROKER ? cl->wait_kerr : 0;
  return err;
}

int kw_consumer_commit_error(kw_client *cl, int16_t *kafka_error) {
  if (kafka_error) *kafka_error = cl->last_commit_kerr;
  return cl->last_commit_err;
}

/* Admin's OffsetFetch (client/admin/kw_admin_committed.c), with its retries: the
 * coordinator is found again when it moved or is loading, a lost connection resends. */
int kw_consumer_committed(kw_client *cl, const char *topic, int32_t partition, int64_t *offset, int timeout_ms) {
  if (!cl->group) return KW_ERR_STATE;
  if (!topic || !offset) return KW_ERR_INVALID_ARG;
  kw_call c;
  kw_call_begin(&c, cl, timeout_ms, NULL, 0);
  kw_fetcher_hold_fetches(cl->cons, true); /* nothing new queued ahead of our requests */
  int rc = adm_committed(&c, kw_config_values(cl->conf)->group_id, topic, partition, offset);
  kw_fetcher_hold_fetches(cl->cons, false);
  return kw_call_end(&c, rc);
}

int kw_consumer_close(kw_client *cl, int timeout_ms) {
  if (!cl->cons) return KW_ERR_STATE;
  if (!cl->group) return KW_OK;
  const kw_conf_values *v = kw_config_values(cl->conf);
  if (v->enable_auto_commit && kw_group_is_stable(cl->group)) kw_consumer_commit(cl, timeout_ms);
  cl->wait_done = false;
  kw_group_leave(cl->group, &cl->wait_done, kw_now_ms());
  kw_call_run_until(cl, kw_now_ms() + timeout_ms, &cl->wait_done); /* until the answer, not a 10 ms slice */
  return KW_OK;
}

const char *kw_consumer_member_id(kw_client *cl) { return cl->group ? kw_group_member_id(cl->group) : ""; }
int32_t kw_consumer_generation(kw_client *cl) { return cl->group ? kw_group_generation(cl->group) : -1; }

int kw_consumer_group_error(kw_client *cl, int16_t *kafka_error) {
  if (kafka_error) *kafka_error = 0;
  return cl && cl->group ? kw_group_error(cl->group, kafka_error) : KW_OK;
}

int kw_consumer_assign(kw_client *cl, const char *topic, int32_t partition, int64_t offset) {
  return cl->cons ? kw_fetcher_add(cl->cons, topic, partition, offset, false) : KW_ERR_STATE;
}

int kw_consumer_assign_at_time(kw_client *cl, const char *topic, int32_t partition, int64_t ts_ms) {
  if (ts_ms < 0) return KW_ERR_INVALID_ARG;
  return cl->cons ? kw_fetcher_add(cl->cons, topic, partition, ts_ms, true) : KW_ERR_STATE;
}

int kw_consumer_unassign(kw_client *cl, const char *topic, int32_t partition) {
  return cl->cons ? kw_fetcher_remove(cl->cons, topic, partition) : KW_ERR_STATE;
}

int kw_consumer_seek(kw_client *cl, const char *topic, int32_t partition, int64_t offset) {
  if (!cl->cons) return KW_ERR_STATE;
  if (kw_fetcher_get_position(cl->cons, topic, partition) == KW_ERR_INVALID_ARG) return KW_ERR_INVALID_ARG;
  return kw_fetcher_add(cl->cons, topic, partition, offset, false);
}

int kw_consumer_pause(kw_client *cl, const char *topic, int32_t partition) {
  return cl->cons ? kw_fetcher_set_paused(cl->cons, topic, partition, true) : KW_ERR_STATE;
}

int kw_consumer_resume(kw_client *cl, const char *topic, int32_t partition) {
  return cl->cons ? kw_fetcher_set_paused(cl->cons, topic, partition, false) : KW_ERR_STATE;
}

int64_t kw_consumer_position(kw_client *cl, const char *topic, int32_t partition) {
  return cl->cons ? kw_fetcher_get_position(cl->cons, topic, partition) : KW_ERR_STATE;
}

int kw_consumer_poll(kw_client *cl, kw_message *msg, int timeout_ms) {
  if (!cl->cons || !msg) return KW_ERR_STATE;
  int64_t end = kw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  if (cl->group) kw_group_polled(cl->group, kw_now_ms());
  /* Keep the sockets served while the application works through the buffer (the next
   * fetch, heartbeat answers, request timeouts) without paying for it on every record: a
   * non-blocking poll every 64 records. It runs before a record is taken, so a rebalance
   * it learns of revokes partitions before anything more of them is handed out, and no
   * message handed out earlier is freed under the caller. */
  bool served = false;
  if (++cl->polls_since_step >= 64) {
    cl->polls_since_step = 0;
    kw_client_poll(cl, 0);
    served = true;
  }
  for (;;) {
    int gerr = cl->group ? kw_group_error(cl->group, NULL) : KW_OK;
    if (gerr) return gerr;
    if ((!cl->group || kw_group_may_deliver(cl->group, kw_now_ms())) && kw_fetcher_next(cl->cons, msg)) {
      /* at-least-once: what the application received is what the next commit stores */
      if (cl->group && !msg->err) kw_group_auto_store(cl->group, msg->topic, msg->partition, msg->offset + 1);
      if (!msg->err) cl->metrics.consumed++;
      return 1;
    }
    int64_t now = kw_now_ms(), left = end - now;
    if (left <= 0 && !served) {
      /* Nothing buffered, and a poll with no time to wait (an application's own loop
       * calling with 0): serve the sockets once now, not every 64th call, or nothing
       * is fetched until the 64th. */
      cl->polls_since_step = 0;
      kw_client_poll(cl, 0);
      served = true;
      continue;
    }
    if (left <= 0) return 0;
    /* Waiting inside poll is polling: max.poll.interval.ms measures the application's
     * absence, not a long poll timeout. */
    if (cl->group) kw_group_polled(cl->group, now);
    cl->polls_since_step = 0;
    kw_client_poll(cl, (int)(left < 100 ? left : 100));
    served = true;
  }
}

int kw_consumer_poll_batch(kw_client *cl, kw_message *msgs, int max, int timeout_ms) {
  if (!cl->cons || !msgs || max <= 0) return KW_ERR_INVALID_ARG;
  int64_t end = kw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  if (cl->group) kw_group_polled(cl->group, kw_now_ms());
  kw_client_poll(cl, 0); /* serve the sockets once per batch, before taking records */
  for (;;) {
    int gerr = cl->group ? kw_group_error(cl->group, NULL) : KW_OK;
    if (gerr) return gerr;
    int n = cl->group && !kw_group_may_deliver(cl->group, kw_now_ms()) ? 0 : kw_fetcher_next_batch(cl->cons, msgs, max);
    if (n > 0) {
      for (int i = 0; i < n; i++) {
        if (msgs[i].err) continue;
        cl->metrics.consumed++;
        if (cl->group) kw_group_auto_store(cl->group, msgs[i].topic, msgs[i].partition, msgs[i].offset + 1);
      }
      return n;
    }
    int64_t now = kw_now_ms(), left = end - now;
    if (left <= 0) return 0;
    if (cl->group) kw_group_polled(cl->group, now);
    kw_client_poll(cl, (int)(left < 100 ? left : 100));
  }
}

int kw_message_header(const kw_message *m, int i, const char **key, size_t *key_len, const void **value,
                      size_t *value_len) {
  if (!m || i < 0 || i >= m->n_headers) return KW_ERR_INVALID_ARG;
  kw_rd r;
  kw_rd_init(&r, m->headers_, m->headers_len_);
  kw_record_header h = {{0}, {0}};
  for (int k = 0; k <= i; k++)
    if (kw_record_header_next(&r, &h)) return r.err;
  *key = (const char *)h.key.ptr;
  *key_len = (size_t)h.key.len;
  *value = h.value.ptr;
  *value_len = (size_t)h.value.len;
  return KW_OK;
}

/* ---- watermarks ---- */

/* Admin's ListOffsets (client/admin/kw_admin_offsets.c), with its retries: leaders from
 * fresh metadata after a leader change or a lost connection. A topic metadata does not
 * know yet is asked for again until the timeout, as Kafka's own consumer does. */
int kw_consumer_watermarks(kw_client *cl, const char *topic, int32_t partition, int64_t *low, int64_t *high,
                           int timeout_ms) {
  if (!topic || !low || !high) return KW_ERR_INVALID_ARG;
  kw_call c;
  kw_call_begin(&c, cl, timeout_ms, NULL, 0);
  /* Four requests (metadata and ListOffsets, twice) to the leader, where a fetch may be
   * held: each new fetch sent in between would hold the next request up again. */
  if (cl->cons) kw_fetcher_hold_fetches(cl->cons, true);
  adm_tp tp = {topic, partition, -1, -1, false, false};
  /* As Java's endOffsets: a read_committed consumer's end is the last stable offset. */
  int8_t isolation = kw_config_values(cl->conf)->isolation_level == KW_ISOLATION_READ_COMMITTED;
  int rc = adm_list_offsets(&c, &tp, 1, KW_ADMIN_OFFSET_EARLIEST, isolation, ADM_MISSING_WAITS);
  int64_t earliest = tp.offset;
  tp.done = false;
  if (!rc) rc = adm_list_offsets(&c, &tp, 1, KW_ADMIN_OFFSET_LATEST, isolation, ADM_MISSING_WAITS);
  if (!rc) {
    *low = earliest;
    *high = tp.offset;
  }
  if (cl->cons) kw_fetcher_hold_fetches(cl->cons, false);
  return kw_call_end(&c, rc);
}
