/* Shared by the admin modules (kw_admin.c: calls, results, topics, offsets;
 * kw_admin_groups.c: coordinators and groups). Not installed. */
#ifndef KW_CLIENT_ADMIN_INT_H
#define KW_CLIENT_ADMIN_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client/kw_client_int.h"
#include "kwire/admin.h"
#include "core/kw_mem.h"
#include "proto/kw_msg.h"

/* One admin operation in progress: its deadline, backoff and error text. */
typedef struct adm {
  kw_client *cl;
  char op[192];        /* "create topic 'orders'": the start of an error text */
  int64_t deadline;
  int64_t backoff_ms;
  const char *waiting; /* what a timeout was waiting for */
  int16_t last_kerr;   /* the last retriable Kafka error, for the timeout message */
  int last_err;        /* the last retriable transport error */
  bool err_set;        /* errstr already says why */
  char *errstr;
  size_t errlen;
} adm;

void adm_begin(adm *a, kw_client *cl, int timeout_ms, char *errstr, size_t errlen);
/* The public call's return value; writes errstr for an error nobody described yet. */
int adm_end(adm *a, int rc);
int adm_fail(adm *a, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* KW_ERR_BROKER with "NAME: message" (Kafka's message when msg is null). */
int adm_kerr(adm *a, int16_t code, kw_slice msg);
/* Waits the next backoff while driving the client; KW_ERR_TIMED_OUT past the deadline. */
int adm_backoff(adm *a);
/* Remembers a retriable transport error for the timeout message. */
void adm_note_err(adm *a, int err);
/* Transport errors after which a read-only request may simply be sent again. */
bool adm_io_retriable(int err);
/* Coordinator errors: find the coordinator again and retry. */
bool adm_coord_retriable(int16_t code);

/* Fills the version-dependent parts of a request; an error aborts the call. */
typedef int (*adm_build)(adm *a, void *req, int16_t version);
/* Sends req to node (-1: any broker) once a connection is READY, runs the client until
 * the answer is decoded into resp (strings and arrays in `ar`, which outlive the
 * connection's buffers). Returns the version used or an error (KW_ERR_TIMED_OUT at the
 * deadline). Never resends. */
int adm_call(adm *a, int32_t node, int16_t api, void *req, adm_build build, void *resp, kw_arena *ar);

/* A group's coordinator (FindCoordinator, key type 0), retrying until it is known. */
int adm_find_coordinator(adm *a, const char *group, int32_t *node);
/* The Kafka error of a coordinator's answer (msg: its message, or null). */
typedef int16_t (*adm_code_fn)(const void *resp, int16_t version, kw_slice *msg);
/* adm_call at the group's coordinator; a coordinator error (loading, moved, not
 * available) or a lost connection finds the coordinator again and retries. Returns the
 * version used (the answer may carry another Kafka error: code_of) or an error. */
int adm_coord_call(adm *a, const char *group, int16_t api, void *req, adm_build build, void *resp, kw_arena *ar,
                   adm_code_fn code_of);

/* Milliseconds left until the deadline, at least 1: the broker-side timeout of a request. */
int32_t adm_remaining_ms(const adm *a);

/* Metadata for the named topics (n < 0: every topic), no auto-creation; retries
 * transport errors. Returns the version used or an error. */
int adm_metadata(adm *a, const char *const *topics, int n, kw_arena *ar, kw_metadata_resp *md);
const kw_metadata_resp_topic *adm_md_topic(const kw_metadata_resp *md, const char *name);

bool adm_slice_eq(kw_slice s, const char *str);
kw_slice adm_slice(const char *str);
int adm_check_name(adm *a, const char *what, const char *name); /* non-empty (a topic: at most 249 bytes) */
char *adm_strdup(kw_arena *ar, kw_slice s); /* NUL-terminated copy; NULL for a null slice */

/* ---- results ---- */

enum { ADM_RES_GROUPS, ADM_RES_GROUP, ADM_RES_PARTS };

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
};

kw_admin_result *adm_result_new(kw_client *cl, int kind);
void *adm_ralloc(kw_admin_result *res, size_t n); /* zeroed; NULL when out of memory */
char *adm_rstr(kw_admin_result *res, kw_slice s); /* "" for a null slice */
void adm_sort_parts(adm_part *p, int n);

/* Offsets of partitions at their leaders (ListOffsets, read_uncommitted), spec as in
 * kw_admin_list_offsets. Fills offset/timestamp of every entry; retries leader changes.
 * gone_ok: a topic that no longer exists marks its entries gone instead of failing. */
typedef struct adm_tp {
  const char *topic;
  int32_t partition;
  int64_t offset, timestamp;
  bool done, gone;
} adm_tp;
int adm_list_offsets(adm *a, adm_tp *tps, int n, int64_t spec, bool gone_ok);

#endif
