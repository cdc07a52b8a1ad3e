/* Request/response headers and the int32 size framing around them. */
#ifndef KW_PROTO_FRAME_H
#define KW_PROTO_FRAME_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/buf.h"
#include "kwire/buf.h"

typedef struct kw_req_header {
  int16_t api_key, api_version;
  int32_t correlation_id;
  kw_slice client_id; /* nullable; always a classic int16 string, even in header v2 */
} kw_req_header;

/* Header versions: request v1 (v2 when the API version is flexible); response v0
 * (v1 when flexible) except ApiVersions, whose response header is always v0 so a
 * client can read it before it knows which versions the broker speaks. */
int kw_req_header_version(int16_t api_key, int16_t api_version);
int kw_resp_header_version(int16_t api_key, int16_t api_version);

void kw_req_header_encode(kw_buf *b, const kw_req_header *h, int header_version);
int kw_req_header_decode(kw_rd *r, kw_req_header *h, int header_version);
void kw_resp_header_encode(kw_buf *b, int32_t correlation_id, int header_version);
int kw_resp_header_decode(kw_rd *r, int32_t *correlation_id, int header_version);

/* A whole request frame: size, header, body from the message struct. */
int kw_request_frame(kw_buf *out, const kw_req_header *h, const void *msg);
/* Size of the frame that starts at p: 0 and *frame_len set when all of it is there,
 * KW_ERR_TRUNCATED when more bytes are needed, KW_ERR_TOO_LARGE over max_frame,
 * KW_ERR_MALFORMED for a negative size. *frame_len excludes the 4 size bytes. */
int kw_frame_peek(const uint8_t *p, size_t n, int32_t max_frame, size_t *frame_len);

/* Highest version both sides speak, given the broker's advertised range for `api_key`;
 * KW_ERR_NO_VERSION when the ranges do not meet. Pure: no state, no I/O. Our ranges
 * start where Kafka 4.x does (Produce >= 3: 4.x advertises 0-2 but rejects them). */
int kw_version_pick(int16_t api_key, int16_t broker_min, int16_t broker_max);

#endif
