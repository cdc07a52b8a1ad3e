/* The producer's public API (include/kwire/client.h): configuration into producer
 * settings, kw_produce, delivery reports and flush. */
#include <stdio.h>
#include "client/kw_client_int.h"
#include "client/kw_config.h"
#include "client/producer/kw_partitioner.h"
#include "client/producer/kw_producer.h"
#include "core/kw_clock.h"
#include "kwire/client.h"
#include "kwire/error.h"

/* Config enum order (client/kw_config.h) to the partitioner module's enum. */
static int partitioner_kind(int conf_value) {
  static const int map[] = {[KW_PART_MURMUR2_RANDOM] = KW_PARTITIONER_MURMUR2_RANDOM,
                            [KW_PART_MURMUR2] = KW_PARTITIONER_MURMUR2,
                            [KW_PART_CONSISTENT] = KW_PARTITIONER_CONSISTENT,
                            [KW_PART_CONSISTENT_RANDOM] = KW_PARTITIONER_CONSISTENT_RANDOM,
                            [KW_PART_FNV1A] = KW_PARTITIONER_FNV1A,
                            [KW_PART_FNV1A_RANDOM] = KW_PARTITIONER_FNV1A_RANDOM};
  return map[conf_value];
}

kw_client *kw_producer_new(const kw_config *conf, char *errstr, size_t errlen) {
  kw_client *cl = kw_client_create(conf, KW_CF_P, errstr, errlen);
  if (!cl) return NULL;
  const kw_conf_values *v = kw_config_values(cl->conf);
  if (v->transactional_id && *v->transactional_id) {
    /* Transactions are not implemented: accepting the id would write every record
     * outside any transaction while the application believes it can abort them. */
    kw_client_destroy(cl);
    if (errstr)
      snprintf(errstr, errlen, "\"transactional.id\": transactions are not supported by this kwire; unset it");
    return NULL;
  }
  kw_producer_settings ps = {
      .linger_ms = v->linger_ms,
      .batch_size = v->batch_size,
      .batch_num_messages = (int32_t)v->batch_num_messages,
      .message_max_bytes = v->message_max_bytes,
      .max_in_flight = (int)v->max_in_flight,
      .acks = (int16_t)v->acks,
      .delivery_timeout_ms = v->delivery_timeout_ms > 0 ? v->delivery_timeout_ms : INT64_MAX / 4,
      .request_timeout_ms = v->request_timeout_ms,
      .retry_backoff_ms = v->retry_backoff_ms,
      .retry_backoff_max_ms = v->retry_backoff_max_ms,
      .codec = v->compression_type,
      .partitioner = partitioner_kind(v->partitioner),
      .idempotence = v->enable_idempotence,
      .max_messages = v->queue_max_messages,
      .max_bytes = v->queue_max_kbytes * 1024,
  };
  cl->prod = kw_producer_create(&cl->cluster, &ps, cl->mem, &cl->log, &cl->metrics);
  if (!cl->prod) {
    kw_client_destroy(cl);
    if (errstr) snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  return cl;
}

void kw_client_set_delivery_cb(kw_client *cl, kw_delivery_cb cb, void *ud) {
  cl->dr_cb = cb;
  cl->dr_ud = ud;
  if (cl->prod) kw_producer_set_callbacks(cl->prod, cl->dr_cb, cl->dr_ud, cl->err_cb, cl->err_ud);
}

int kw_client_delivery_next(kw_client *cl, kw_delivery_report *dr) {
  return cl->prod ? kw_producer_next_report(cl->prod, dr) : 0;
}

int kw_produce(kw_client *cl, const char *topic, int32_t partition, const void *key, size_t key_len, const void *value,
               size_t value_len, const kw_header *headers, int n_headers, int64_t timestamp, void *opaque) {
  if (!cl->prod) return KW_ERR_STATE;
  int err = kw_producer_produce(cl->prod, topic, partition, key, key_len, value, value_len, headers, n_headers,
                                timestamp, opaque, 0 /* the producer reads the clock only when it needs it */);
  if (!err) cl->metrics.produced++;
  return err;
}

int kw_client_outstanding(const kw_client *cl) { return cl->prod ? kw_producer_outstanding(cl->prod) : 0; }

/* Bytes still waiting in connection buffers (acks=0 reports delivery once queued). */
static bool unsent_bytes(const kw_client *cl) {
  for (int i = 0; i < cl->cluster.n_brokers; i++) {
    kw_conn *c = cl->cluster.brokers[i]->conn;
    if (c && kw_conn_get_state(c) == KW_CONN_READY && kw_conn_unsent(c) > 0) return true;
  }
  return false;
}

int kw_client_flush(kw_client *cl, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  if (!cl->prod) return KW_OK;
  kw_producer_set_flushing(cl->prod, true);
  while (kw_producer_outstanding(cl->prod) > 0 || unsent_bytes(cl)) {
    int64_t left = end - kw_now_ms();
    if (left <= 0) break;
    kw_client_poll(cl, (int)(left < 100 ? left : 100));
  }
  kw_producer_set_flushing(cl->prod, false);
  return kw_producer_outstanding(cl->prod) > 0 ? KW_ERR_TIMED_OUT : KW_OK;
}
