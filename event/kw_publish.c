/* Publishing events: an envelope (kw_envelope.h) produced with the aggregate id as the
 * key, so every event of one entity lands on one partition, in order. */
#include <string.h>
#include "kwire/error.h"
#include "kwire/event.h"
#include "event/kw_envelope.h"
#include "event/kw_event_base.h"

int kw_event_publish(kw_client *producer, const char *topic, const char *key, const char *event_type,
                     int32_t event_version, const char *payload_json, char *event_id_out, void *opaque) {
  if (!producer || !topic || !event_type || !payload_json) return KW_ERR_INVALID_ARG;
  uint8_t stack[2048];
  kw_buf b;
  kw_buf_init_fixed(&b, stack, sizeof stack);
  char id[37];
  kw_slice payload = {(const uint8_t *)payload_json, (int32_t)strlen(payload_json)};
  int64_t now = kw_ev_wall_ms();
  int err = kw_envelope_encode(&b, event_type, event_version, NULL, now, payload, id);
  if (err == KW_ERR_BUF_FULL) { /* a big payload: encode again into a growing buffer */
    kw_buf_init_grow(&b, kw_client_mem(producer));
    err = kw_envelope_encode(&b, event_type, event_version, NULL, now, payload, id);
  }
  if (!err) {
    kw_header h[2] = {{"content-type", "application/json", 16}, {"event_type", event_type, strlen(event_type)}};
    err = kw_produce(producer, topic, KW_PARTITION_UA, key, key ? strlen(key) : 0, b.data, b.len, h, 2, 0, opaque);
  }
  if (b.mode == KW_BUF_GROW) kw_buf_free(&b);
  if (!err && event_id_out) memcpy(event_id_out, id, 37);
  return err;
}
