/* Response rewriting. A response is decoded only when something in it may change:
 * broker addresses (always replaced by ours, so clients never bypass the proxy), an
 * injected error, or ApiVersions (capped to the versions kwire's codec can decode, so
 * the first two stay possible whatever the broker speaks). Anything the codec cannot
 * take is forwarded unchanged and counted, never dropped. */
#include <string.h>
#include "fp.h"
#include "proto/kw_frame.h"

#define FP_ARENA_LIMIT (512u * 1024 * 1024) /* decoded structs of one response, at most */

typedef struct addr_ctx {
  fp_proxy *px;
  int16_t v;
  bool changed;
} addr_ctx;

/* Any struct with a Host and a Port is a broker address: Metadata brokers,
 * FindCoordinator (top level before v4, coordinators after), DescribeCluster brokers,
 * and the leader hints (NodeEndpoints) of Produce and Fetch. */
static void rewrite_addr(void *c, const kw_struct_desc *sd, uint8_t *obj, int depth) {
  (void)depth;
  addr_ctx *a = c;
  const kw_field *hf = fp_field(sd, a->v, "Host", KW_FT_STRING);
  const kw_field *pf = fp_field(sd, a->v, "Port", KW_FT_INT32);
  if (!hf || !pf) return;
  kw_slice *host = (kw_slice *)(obj + hf->off);
  int32_t *port = (int32_t *)(obj + pf->off);
  if (!host->ptr || host->len <= 0 || *port <= 0 || *port > 65535) return; /* "no coordinator" answers */
  long i = fp_listener_for(a->px, (const char *)host->ptr, (size_t)host->len, *port);
  if (i < 0) {
    fp_log("no listener for %.*s:%d: left as is", (int)host->len, (const char *)host->ptr, (int)*port);
    return;
  }
  host->ptr = (const uint8_t *)FP_PROXY_HOST;
  host->len = (int32_t)strlen(FP_PROXY_HOST);
  *port = a->px->ls[i].port;
  a->changed = true;
}

typedef struct err_ctx {
  int16_t v, code;
  bool skip_top;
} err_ctx;

/* Every ErrorCode at the version: partition, topic, group, coordinator and top-level
 * codes alike. Records next to a failed code are emptied so a consumer never takes data
 * it was told did not come. */
static void set_errors(void *c, const kw_struct_desc *sd, uint8_t *obj, int depth) {
  const err_ctx *e = c;
  if (depth == 0 && e->skip_top) return;
  const kw_field *ef = fp_field(sd, e->v, "ErrorCode", KW_FT_INT16);
  if (!ef) return;
  *(int16_t *)(obj + ef->off) = e->code;
  const kw_field *rf = fp_field(sd, e->v, "Records", KW_FT_RECORDS);
  if (rf) {
    static const uint8_t empty[1];
    *(kw_slice *)(obj + rf->off) = (kw_slice){empty, 0};
  }
}

static bool clamp_versions(kw_api_versions_resp *m) {
  if (m->error_code) return false; /* an error answer is v0 whatever was asked: leave it */
  bool changed = false;
  for (int32_t i = 0; i < m->n_api_keys; i++) {
    kw_api_versions_resp_api_version *e = &m->api_keys[i];
    const kw_api_desc *api = kw_api_find(e->api_key);
    if (api && e->max_version > api->max && e->min_version <= api->max) {
      fp_log("ApiVersions: %s capped from v%d to v%d", api->name, e->max_version, api->max);
      e->max_version = api->max;
      changed = true;
    }
  }
  return changed;
}

bool fp_injectable(int16_t api_key) {
  const kw_api_desc *api = kw_api_find(api_key);
  return api && fp_schema_has(api->resp, -1, "ErrorCode");
}

static bool encode(const fp_req *r, int hv, int32_t corr, const void *msg, kw_buf *out) {
  kw_buf_init_grow(out, NULL);
  kw_buf_i32(out, 0); /* the size, patched below */
  kw_resp_header_encode(out, corr, hv);
  if (kw_response_encode(r->key, r->ver, msg, out) || out->err || out->len - 4 > INT32_MAX) {
    kw_buf_free(out);
    return false;
  }
  kw_buf_put_i32_at(out, 0, (int32_t)(out->len - 4));
  return true;
}

static bool rewrite_decoded(fp_proxy *px, const fp_req *r, const kw_api_desc *api, bool inject,
                            const uint8_t *frame, size_t len, kw_buf *out) {
  size_t idx = (size_t)(api - kw_apis);
  int hv = kw_resp_header_version(r->key, r->ver);
  int32_t corr;
  kw_rd rd;
  kw_rd_init(&rd, frame + 4, len - 4);
  void *msg = kw_arena_alloc(&px->arena, kw_structs[api->resp].size);
  if (!msg || kw_resp_header_decode(&rd, &corr, hv) || kw_response_decode(r->key, r->ver, &rd, &px->arena, msg) ||
      kw_rd_left(&rd)) {
    fp_log("api %d v%d corr %d: undecodable, forwarded as is", r->key, r->ver, r->corr);
    px->st.undecodable++;
    return false;
  }
  bool clamped = r->key == KW_API_API_VERSIONS && clamp_versions(msg);
  addr_ctx a = {px, r->ver, false};
  fp_walk(api->resp, r->ver, msg, rewrite_addr, &a);
  if (inject) {
    /* Fetch's top-level code speaks of the fetch session; the failure is per partition. */
    err_ctx e = {r->ver, px->inject[idx].code, r->key == KW_API_FETCH};
    fp_walk(api->resp, r->ver, msg, set_errors, &e);
  }
  if (!clamped && !a.changed && !inject) return false;
  if (!encode(r, hv, corr, msg, out)) {
    fp_log("api %d v%d corr %d: re-encoding failed, forwarded as is", r->key, r->ver, r->corr);
    px->st.undecodable++;
    return false;
  }
  px->st.clamped += clamped;
  px->st.rewritten += a.changed;
  if (a.changed) fp_log("%s v%d corr %d: broker addresses rewritten", api->name, r->ver, r->corr);
  if (inject) {
    px->inject[idx].left--;
    px->st.injected++;
    fp_log("%s v%d corr %d: error %d injected (%u more)", api->name, r->ver, r->corr, px->inject[idx].code,
           px->inject[idx].left);
  }
  return true;
}

bool fp_rewrite(fp_proxy *px, const fp_req *r, const uint8_t *frame, size_t len, kw_buf *out) {
  const kw_api_desc *api = kw_api_find(r->key);
  if (!api || len < 8) return false;
  bool inject = px->inject[api - kw_apis].left > 0;
  if (r->ver < api->min || r->ver > api->max) {
    /* Counted only when something had to change: an ApiVersions request newer than the
     * codec (the client probing) simply passes. */
    if (r->key != KW_API_API_VERSIONS && (inject || fp_schema_has(api->resp, -1, "Host"))) {
      fp_log("api %d v%d is outside kwire's codec: forwarded as is", r->key, r->ver);
      px->st.undecodable++;
    }
    return false;
  }
  inject = inject && fp_schema_has(api->resp, r->ver, "ErrorCode");
  if (!inject && r->key != KW_API_API_VERSIONS && !fp_schema_has(api->resp, r->ver, "Host")) return false;
  bool changed = rewrite_decoded(px, r, api, inject, frame, len, out);
  kw_arena_reset(&px->arena);
  return changed;
}

void fp_rewrite_init(fp_proxy *px) { kw_arena_init(&px->arena, NULL, FP_ARENA_LIMIT); }
