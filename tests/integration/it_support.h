/* Shared helpers for integration tests: find the broker the ctest fixture started,
 * drive connections with poll(), fail loudly. */
#ifndef KW_IT_SUPPORT_H
#define KW_IT_SUPPORT_H
#include <stdbool.h>
#include <stdint.h>
#include "kwire/client.h"
#include "net/kw_conn.h"
#include "core/kw_mem.h"

/* Prints "FAIL: ..." with the location and exits 1. */
#define IT_CHECK(cond, ...)                                                     \
  do {                                                                          \
    if (!(cond)) it_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);               \
  } while (0)
void it_fail(const char *file, int line, const char *cond, const char *fmt, ...);

/* The first bootstrap address from KW_BOOTSTRAP or $KW_BROKER_DIR/bootstrap; exits
 * with a clear message when no broker is running. */
void it_bootstrap(char *host, int hostlen, int *port);
/* Drives one bare connection with poll() until done() says so (0), it goes down (its
 * error) or timeout_ms passes (KW_ERR_TIMED_OUT). The library has no such loop: its
 * clients wait through kw_client_poll. */
int it_conn_wait(kw_conn *c, bool (*done)(kw_conn *c, void *ud), void *ud, int timeout_ms);
/* Connects and waits for READY; exits on failure. */
kw_conn *it_connect(int timeout_ms);
/* Sends one request at the negotiated version, waits for the answer and decodes it
 * into `resp` (arrays in `arena`). Exits on any failure. Returns the version used. */
int it_call(kw_conn *c, int16_t api_key, const void *req, void *resp, kw_arena *arena);
/* Creates a topic (replication factor 1) and waits until every partition has a leader;
 * returns the topic id. */
kw_uuid it_create_topic(kw_conn *c, const char *topic, int32_t partitions);
/* Delivery reports counted: kw_client_set_delivery_cb(p, it_count_delivery, &tally).
 * client_err is free for a test's own error callback. */
typedef struct it_tally {
  int ok, failed, last_err, client_err;
  int64_t last_offset;
} it_tally;
void it_count_delivery(void *ud, const kw_delivery_report *dr);

/* "host:port" of the broker, for other clients (kcat). */
const char *it_bootstrap_string(void);

#endif
