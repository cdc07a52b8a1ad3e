/* The first real slice: ApiVersions over a nonblocking socket to the real broker,
 * then a Metadata request at the negotiated version. */
#include <stdio.h>
#include <string.h>
#include "core/kw_clock.h"
#include "kwire/error.h"
#include "proto/kw_msg.h"
#include "tests/integration/it_support.h"

static void expect_api(kw_conn *c, int16_t key, const char *name, int want_at_least) {
  int16_t lo, hi;
  IT_CHECK(kw_conn_broker_range(c, key, &lo, &hi), "broker does not offer %s", name);
  IT_CHECK(lo >= 0 && lo <= hi && hi < 100, "%s: insane range %d-%d", name, lo, hi);
  int v = kw_conn_version(c, key);
  IT_CHECK(v >= want_at_least, "%s: negotiated %d, want >= %d (broker %d-%d)", name, v, want_at_least, lo, hi);
  printf("%-12s broker %2d-%-2d  negotiated %d\n", name, lo, hi, v);
}

typedef struct md_result {
  bool done;
  int err;
  int brokers;
  int32_t port;
  char cluster_id[64];
} md_result;

static void on_metadata(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  md_result *res = ud;
  res->done = true;
  res->err = err;
  if (err) return;
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_metadata_resp resp;
  res->err = kw_response_decode(key, ver, body, &a, &resp);
  if (!res->err) {
    res->brokers = resp.n_brokers;
    res->port = resp.n_brokers > 0 ? resp.brokers[0].port : -1;
    if (resp.cluster_id.ptr)
      snprintf(res->cluster_id, sizeof res->cluster_id, "%.*s", (int)resp.cluster_id.len, resp.cluster_id.ptr);
  }
  kw_arena_reset(&a);
}

static bool md_done(kw_conn *c, void *ud) {
  (void)c;
  return ((md_result *)ud)->done;
}

int main(void) {
  kw_conn *c = it_connect(30000);
  expect_api(c, KW_API_PRODUCE, "Produce", 3);
  expect_api(c, KW_API_FETCH, "Fetch", 4);
  expect_api(c, KW_API_METADATA, "Metadata", 1);
  expect_api(c, KW_API_JOIN_GROUP, "JoinGroup", 0);
  expect_api(c, KW_API_API_VERSIONS, "ApiVersions", 5); /* Kafka 4.4 offers v5 (KIP-1242), the version the handshake used */

  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  req.n_topics = -1; /* all topics */
  md_result res = {0};
  int err = kw_conn_request(c, KW_API_METADATA, -1, &req, on_metadata, &res, kw_now_ms());
  IT_CHECK(err == 0, "metadata request: %s", kw_strerror(err));
  err = it_conn_wait(c, md_done, &res, 15000);
  IT_CHECK(err == 0, "no metadata answer: %s", kw_strerror(err));
  IT_CHECK(res.err == 0, "metadata failed: %s", kw_strerror(res.err));
  IT_CHECK(res.brokers >= 1, "metadata lists %d brokers", res.brokers);
  char host[256];
  int port;
  it_bootstrap(host, sizeof host, &port);
  IT_CHECK(res.port > 0, "broker port %d", res.port);
  printf("metadata: %d broker(s), cluster id %s, first broker port %d\n", res.brokers, res.cluster_id, res.port);
  kw_conn_free(c);
  printf("PASS it_api_versions\n");
  return 0;
}
