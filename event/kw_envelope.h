/* The kwire event envelope, a JSON object:
 *   {"event_type":"OrderCreated","event_version":1,"event_id":"<UUID>",
 *    "timestamp":"2026-04-16T10:30:00.000Z","payload":<any JSON value>}
 * and its mapping to the CloudEvents 1.0 Kafka protocol binding (binary and structured).
 *
 * Decoding is strict about the five fields and lenient about the rest: unknown extra
 * top-level members are ignored (forward compatibility), duplicate top-level members are
 * rejected (ambiguous). Errors are KW_ERR_MALFORMED (or the JSON reader's KW_ERR_TOO_LARGE)
 * with a reason naming the field: "missing field event_type", "event_version must be a
 * positive integer", "unterminated string at byte 17". */
#ifndef KW_EVENT_ENVELOPE_H
#define KW_EVENT_ENVELOPE_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/buf.h"

#define KW_EVENT_TYPE_MAX 255 /* bytes of UTF-8 */

typedef struct kw_envelope {
  /* Unescaped into the struct so routing can strcmp it: non-empty, NUL-terminated, no
   * NUL inside, at most KW_EVENT_TYPE_MAX bytes. */
  char event_type[KW_EVENT_TYPE_MAX + 1];
  char event_id[37];    /* canonical lowercase UUID text (any version; input case-insensitive) */
  int32_t event_version; /* >= 1 */
  int64_t timestamp_ms;  /* ms since the Unix epoch, UTC (offsets applied, finer digits cut) */
  kw_slice payload;      /* the payload's JSON text verbatim, pointing into the input */
} kw_envelope;

/* Appends an envelope to out. event_type: 1-255 bytes of UTF-8. event_id NULL: a fresh
 * UUID v4 from the library's randomness (kw_random64). payload must be exactly one JSON value, nested at most
 * 63 deep (the envelope adds a level to the reader's 64); it is copied verbatim without
 * surrounding whitespace (payload.ptr NULL = null). Returns 0, KW_ERR_INVALID_ARG (bad
 * argument or payload; nothing written), KW_ERR_IO (no randomness) or out's error.
 * event_id_out (37 bytes, may be NULL) receives the id written. */
int kw_envelope_encode(kw_buf *out, const char *event_type, int32_t event_version,
                       const char *event_id, int64_t timestamp_ms, kw_slice payload_json,
                       char *event_id_out);

/* reason (may be NULL) receives the text of any error. out->payload points into json.
 * String fields may be escaped ("\u002B" and all); event_type is unescaped into out. */
int kw_envelope_decode(kw_slice json, kw_envelope *out, char *reason, size_t reason_len);

/* UUID v4 text from two draws of rnd (NULL: the library's kw_random64). 0. */
int kw_uuid4(char out[37], uint64_t (*rnd)(void *ud), void *ud);

/* RFC 3339 UTC with milliseconds, "2026-11-28T05:50:46.123Z" (years 0000-9999). */
int kw_rfc3339_format(int64_t ms, char out[25]);
/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" (RFC 3339 section 5.6), T and Z in either
 * case, digits after the milliseconds ignored; a leap second (:60) counts as the start of
 * the next second. The result must lie in years 0000-9999 UTC. 0 or KW_ERR_MALFORMED. */
int kw_rfc3339_parse(const char *s, size_t n, int64_t *ms);

/* ---- CloudEvents 1.0 over Kafka ----
 * type <-> event_type, id <-> event_id, time <-> timestamp, data <-> payload, and the
 * extension attribute "eventversion" (Integer; header ce_eventversion) <-> event_version,
 * defaulting to 1 when a foreign producer leaves it out. source is the caller's URI-reference.
 * The payload is JSON, so datacontenttype/content-type is "application/json"; incoming
 * values of it are not checked. Events without time, or whose id is not a UUID, cannot be
 * kwire envelopes and are rejected. */
#define KW_CE_CONTENT_TYPE "application/cloudevents+json; charset=UTF-8" /* structured mode */
#define KW_CE_SCRATCH 40 /* scratch bytes kw_cloudevents_to_headers needs */

/* One record header as binary mode reads and writes it: a name and a value as bytes
 * (value ptr NULL = null), the shape a record batch holds them in. */
typedef struct kw_ce_header {
  kw_slice key, value;
} kw_ce_header;

/* Binary mode: fills 7 headers (ce_specversion, ce_id, ce_source, ce_type, ce_time,
 * ce_eventversion, content-type) pointing into e, source and scratch; the record value is
 * e->payload. Returns 7 or KW_ERR_INVALID_ARG. */
int kw_cloudevents_to_headers(const kw_envelope *e, const char *source, kw_ce_header out[7],
                              char *scratch, size_t cap);
/* Binary mode from a record's headers and value (value ptr NULL: no data = null); the value
 * must be one JSON value. Other headers are ignored, a repeated ce_* header is an error.
 * source (may be NULL) receives ce_source, NUL-terminated (KW_ERR_BUF_FULL if it does not
 * fit). */
int kw_cloudevents_from_headers(const kw_ce_header *h, int n, kw_slice value,
                                kw_envelope *out, char *source, size_t source_cap,
                                char *reason, size_t reason_len);
/* Structured mode: the record value is one JSON CloudEvent; send it with content-type
 * KW_CE_CONTENT_TYPE. Decoding ignores unknown attributes and rejects data_base64 (binary
 * data is not a JSON payload); no data = null. source as for kw_cloudevents_from_headers,
 * unescaped. */
int kw_cloudevents_structured_encode(kw_buf *out, const kw_envelope *e, const char *source);
int kw_cloudevents_structured_decode(kw_slice json, kw_envelope *out, char *source,
                                     size_t source_cap, char *reason, size_t reason_len);

#endif
