/* Integration test helpers (see it_support.h). */
#define _POSIX_C_SOURCE 200809L
#include "tests/integration/it_support.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"

void it_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
  fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void it_bootstrap(char *host, int hostlen, int *port) {
  char line[512] = {0};
  const char *env = getenv("KW_BOOTSTRAP");
  if (env && *env) {
    snprintf(line, sizeof line, "%s", env);
  } else {
    const char *dir = getenv("KW_BROKER_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/bootstrap", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    IT_CHECK(f != NULL, "no broker running: %s missing (start one with tests/broker/kafka start, "
                        "or run the test through ctest, whose fixture does)", path);
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
  }
  line[strcspn(line, ",\r\n")] = 0;
  char *colon = strrchr(line, ':');
  IT_CHECK(colon != NULL, "bootstrap address '%s' is not host:port", line);
  *colon = 0;
  snprintf(host, (size_t)hostlen, "%s", line);
  *port = atoi(colon + 1);
}

kw_conn *it_connect(int timeout_ms) {
  char host[256];
  int port;
  it_bootstrap(host, sizeof host, &port);
  kw_conn_config cfg = {.host = host, .port = port, .client_id = "kwire-it"};
  kw_conn *c = kw_conn_new(&cfg);
  IT_CHECK(c != NULL, "out of memory");
  int err = kw_conn_connect(c, kw_now_ms());
  if (!err) err = kw_conn_wait_ready(c, timeout_ms);
  IT_CHECK(err == 0, "broker %s:%d not ready within %d ms: %s", host, port, timeout_ms, kw_strerror(err));
  return c;
}

typedef struct call {
  bool done;
  int err;
  void *resp;
  kw_arena *arena;
} call;

static void on_answer(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  call *k = ud;
  k->done = true;
  k->err = err ? err : kw_response_decode(key, ver, body, k->arena, k->resp);
  if (!k->err && kw_rd_left(body)) k->err = KW_ERR_MALFORMED; /* we must read every byte */
}

static bool call_done(kw_conn *c, void *ud) {
  (void)c;
  return ((call *)ud)->done;
}

int it_call(kw_conn *c, int16_t api_key, const void *req, void *resp, kw_arena *arena) {
  call k = {false, 0, resp, arena};
  int v = kw_conn_version(c, api_key);
  IT_CHECK(v >= 0, "API %d: no common version", api_key);
  int err = kw_conn_request(c, api_key, v, req, on_answer, &k, kw_now_ms());
  IT_CHECK(err == 0, "API %d v%d: request not queued: %s", api_key, v, kw_strerror(err));
  err = kw_conn_wait(c, call_done, &k, 30000);
  IT_CHECK(err == 0, "API %d v%d: no answer: %s", api_key, v, kw_strerror(err));
  IT_CHECK(k.err == 0, "API %d v%d: answer not decoded: %s", api_key, v, kw_strerror(k.err));
  return v;
}
