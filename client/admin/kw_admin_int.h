/* Shared by the admin modules (topics, groups, offsets, committed, result) and by the
 * consumer's committed offsets and watermarks, which ask through the same code. Every
 * request goes through client/kw_call.h. Not installed. */
#ifndef KW_CLIENT_ADMIN_INT_H
#define KW_CLIENT_ADMIN_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client/kw_call.h"
#include "kwire/admin.h"
#include "core/kw_mem.h"
#include "proto/kw_msg.h"

/* ---- topics (kw_admin_topics.c) ---- */

/* Metadata for the named topics (n < 0: every topic), no auto-creation; retries
 * transport errors. Returns the version used or an error. */
int adm_metadata(kw_call *a, const char *const *topics, int n, kw_arena *ar, kw_metadata_resp *md);
const kw_metadata_resp_topic *adm_md_topic(const kw_metadata_resp *md, const char *name);
/* Metadata for one topic that must exist (KW_ERR_UNKNOWN_TOPIC); retries while it has
 * a retriable error (no leader yet). */
int adm_topic_meta(kw_call *a, const char *topic, kw_arena *ar, kw_metadata_resp *md, const kw_metadata_resp_topic **out);
int adm_check_name(kw_call *a, const char *what, const char *name); /* non-empty (a topic: at most 249 bytes) */

/* ---- results (kw_admin_result.c) ---- */

bool adm_slice_eq(kw_slice s, const char *str);
kw_slice adm_slice(const char *str);
char *adm_strdup(kw_arena *ar, kw_slice s); /* NUL-terminated copy; NULL for a null slice */

enum { ADM_RES_GROUPS, ADM_RES_GROUP, ADM_RES_PARTS, ADM_RES_CLUSTER };

typedef struct adm_group {
  const char *id, *state, *protocol_type, *type, *protocol;
} adm_group;

typedef struct adm_assigned {
  const char *topic;
  int32_t partition;
} adm_assigned;

typedef struct adm_member {
  const char *id, *client_id, *host, *instance_id;
  adm_assigned *parts;
  int n_parts;
} adm_member;

typedef struct adm_part {
  const char *topic;
  int32_t partition;
  int64_t offset, timestamp, hwm, lag;
} adm_part;

struct kw_admin_result {
  kw_mem mem;
  kw_arena arena; /* every string and array of the result */
  int kind, n;
  adm_group *groups;
  adm_member *members;
  int n_members;
  adm_part *parts;
  /* ADM_RES_CLUSTER: the Metadata answer itself, decoded into `arena` (n counts its
   * topics), with NUL-terminated copies of the strings it names as slices. */
  kw_metadata_resp md;
  const char **hosts, **names;
};

kw_admin_result *adm_result_new(kw_client *cl, int kind);
void *adm_ralloc(kw_admin_result *res, size_t n); /* zeroed; NULL when out of memory */
char *adm_rstr(kw_admin_result *res, kw_slice s); /* "" for a null slice */
void adm_sort_parts(adm_part *p, int n);

/* ---- offsets at the leaders (kw_admin_offsets.c) ---- */

typedef struct adm_tp {
  const char *topic;
  int32_t partition;
  int64_t offset, timestamp;
  bool done, gone;
} adm_tp;
/* What a topic that metadata does not know means to the caller. */
typedef enum adm_missing {
  ADM_MISSING_FAILS, /* KW_ERR_UNKNOWN_TOPIC / _PARTITION */
  ADM_MISSING_GONE,  /* the entry is marked gone (a deleted topic in a group's offsets) */
  ADM_MISSING_WAITS, /* asked again until the deadline: it may be being created (the
                        consumer's watermarks, as Kafka's own consumer does) */
} adm_missing;
/* Offsets of partitions at their leaders (ListOffsets, replica -1, read_uncommitted),
 * spec as in kw_admin_list_offsets. Fills offset/timestamp of every entry; retries
 * leader changes and retriable partition errors with fresh metadata. */
int adm_list_offsets(kw_call *a, adm_tp *tps, int n, int64_t spec, int8_t isolation, adm_missing missing);
/* Partition rows for every partition of a topic; offsets -1 until filled. */
int adm_topic_rows(kw_admin_result *res, const kw_metadata_resp_topic *t);
/* Offsets (spec) for every row, into dst[row] (NULL: the rows' offset and timestamp);
 * only_uncommitted: rows without a committed offset. Rows of gone topics keep -1. */
int adm_rows_offsets(kw_call *a, kw_admin_result *res, int64_t spec, bool only_uncommitted, int64_t *dst,
                     kw_arena *ar);

/* ---- committed offsets (kw_admin_committed.c) ---- */

/* The group's committed offset of one partition (-1: none), OffsetFetch at the group's
 * coordinator; the topic must exist (KW_ERR_UNKNOWN_TOPIC). */
int adm_committed(kw_call *a, const char *group, const char *topic, int32_t partition, int64_t *offset);

#endif
