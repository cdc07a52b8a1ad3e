/* Request/response headers, the int32 size framing and version choice: public, declared
 * in kwire/codec.h (kw_req_header, kw_request_frame, kw_frame_peek, kw_version_pick...).
 * Kept as the internal include path. */
#ifndef KW_PROTO_FRAME_H
#define KW_PROTO_FRAME_H
#include "kwire/codec.h"

#endif
