/* Record batches: public, declared in kwire/codec.h (RecordBatch v2 writer and reader,
 * legacy MessageSet v0/v1 reader). Kept as the internal include path. */
#ifndef KW_PROTO_RECORDS_H
#define KW_PROTO_RECORDS_H
#include "kwire/codec.h"

#endif
