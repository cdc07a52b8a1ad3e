/* kwcat: a kcat-compatible command line client. This first version has kcat's
 * metadata list mode (-L); produce (-P) and consume (-C) follow with the producer
 * and consumer. Exit codes as kcat: 0 ok, 1 error. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "net/kw_conn.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

static void usage(int code) {
  fprintf(code ? stderr : stdout,
          "Usage: kwcat <mode> [options]\n"
          "Modes:\n"
          "  -L                 metadata list\n"
          "Options:\n"
          "  -b <brokers,..>    bootstrap broker(s) (host:port)\n"
          "  -t <topic>         topic (with -L: only this topic)\n"
          "  -m <seconds>       metadata timeout (default 10)\n"
          "  -X <prop=value>    client property (the ones this version knows: client.id)\n"
          "  -V                 version\n");
  exit(code);
}

typedef struct md_call {
  bool done;
  int err;
  kw_arena arena;
  kw_metadata_resp resp;
} md_call;

static void on_metadata(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  md_call *m = ud;
  m->done = true;
  m->err = err ? err : kw_response_decode(key, ver, body, &m->arena, &m->resp);
}

static bool metadata_done(kw_conn *c, void *ud) {
  (void)c;
  return ((md_call *)ud)->done;
}

static void print_metadata(const kw_metadata_resp *md, const char *host, int port) {
  printf("Metadata for %s (from broker -1: %s:%d/bootstrap):\n", "all topics", host, port);
  printf(" %d brokers:\n", md->n_brokers);
  for (int32_t i = 0; i < md->n_brokers; i++) {
    const kw_metadata_resp_broker *b = &md->brokers[i];
    printf("  broker %d at %.*s:%d%s\n", b->node_id, (int)b->host.len, (const char *)b->host.ptr, b->port,
           b->node_id == md->controller_id ? " (controller)" : "");
  }
  printf(" %d topics:\n", md->n_topics);
  for (int32_t i = 0; i < md->n_topics; i++) {
    const kw_metadata_resp_topic *t = &md->topics[i];
    printf("  topic \"%.*s\" with %d partitions:", (int)t->name.len, t->name.ptr ? (const char *)t->name.ptr : "",
           t->n_partitions);
    if (t->error_code) printf(" Broker: %s", kw_kerr_name(t->error_code));
    printf("\n");
    for (int32_t p = 0; p < t->n_partitions; p++) {
      const kw_metadata_resp_partition *pt = &t->partitions[p];
      printf("    partition %d, leader %d, replicas: ", pt->partition_index, pt->leader_id);
      for (int32_t r = 0; r < pt->n_replica_nodes; r++) printf("%s%d", r ? "," : "", pt->replica_nodes[r]);
      printf(", isrs: ");
      for (int32_t r = 0; r < pt->n_isr_nodes; r++) printf("%s%d", r ? "," : "", pt->isr_nodes[r]);
      if (pt->error_code) printf(", Broker: %s", kw_kerr_name(pt->error_code));
      printf("\n");
    }
  }
}

static int list_metadata(const char *brokers, const char *topic, const char *client_id, int timeout_s) {
  char host[256];
  snprintf(host, sizeof host, "%s", brokers);
  host[strcspn(host, ",")] = 0;
  char *colon = strrchr(host, ':');
  int port = 9092;
  if (colon) {
    *colon = 0;
    port = atoi(colon + 1);
  }
  kw_conn_config cfg = {.host = host, .port = port, .client_id = client_id};
  kw_conn *c = kw_conn_new(&cfg);
  if (!c) return KW_ERR_NOMEM;
  int err = kw_conn_connect(c, kw_now_ms());
  if (!err) err = kw_conn_wait_ready(c, timeout_s * 1000);
  md_call m = {0};
  kw_arena_init(&m.arena, NULL, 0);
  if (!err) {
    kw_metadata_req req;
    kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
    kw_metadata_req_topic one;
    if (topic) {
      memset(&one, 0, sizeof one);
      one.name = (kw_slice){(const uint8_t *)topic, (int32_t)strlen(topic)};
      req.topics = &one;
      req.n_topics = 1;
    } else {
      req.n_topics = -1;
    }
    req.allow_auto_topic_creation = false;
    err = kw_conn_request(c, KW_API_METADATA, -1, &req, on_metadata, &m, kw_now_ms());
    if (!err) err = kw_conn_wait(c, metadata_done, &m, timeout_s * 1000);
    if (!err) err = m.err;
  }
  if (!err) print_metadata(&m.resp, host, port);
  else fprintf(stderr, "%% ERROR: Failed to acquire metadata from %s:%d: %s\n", host, port, kw_strerror(err));
  kw_arena_reset(&m.arena);
  kw_conn_free(c);
  return err;
}

int main(int argc, char **argv) {
  int mode = 0, timeout_s = 10;
  const char *brokers = NULL, *topic = NULL, *client_id = "kwcat";
  int opt;
  while ((opt = getopt(argc, argv, "LPCb:t:m:X:Vh")) != -1) {
    switch (opt) {
    case 'L':
    case 'P':
    case 'C': mode = opt; break;
    case 'b': brokers = optarg; break;
    case 't': topic = optarg; break;
    case 'm': timeout_s = atoi(optarg); break;
    case 'X':
      if (strncmp(optarg, "client.id=", 10) == 0) {
        client_id = optarg + 10;
      } else {
        fprintf(stderr, "%% ERROR: unknown or unsupported property: %s\n", optarg);
        return 1;
      }
      break;
    case 'V': printf("kwcat (kwire %s)\n", kw_version()); return 0;
    case 'h': usage(0); break;
    default: usage(1);
    }
  }
  if (!mode) usage(1);
  if (mode != 'L') {
    fprintf(stderr, "%% ERROR: mode -%c is not implemented yet in kwcat\n", mode);
    return 1;
  }
  if (!brokers) {
    fprintf(stderr, "%% ERROR: -b <brokers> is required\n");
    return 1;
  }
  return list_metadata(brokers, topic, client_id, timeout_s) ? 1 : 0;
}
