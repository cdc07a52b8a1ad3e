/* kwcat -L: the cluster's metadata (kw_admin_describe_cluster), printed as kcat prints
 * it; and the metadata of one topic for -C. Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwcat.h"

/* kcat names the bootstrap broker it asked; so do we: the first of -b, as "host:port"
 * ("host": port 9092; "[v6]:port": without the brackets). */
static void first_broker(const char *brokers, char *out, size_t size) {
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%.*s", (int)strcspn(brokers, ","), brokers);
  char *h = tmp + strspn(tmp, " ");
  int port = 9092;
  char *colon = strrchr(h, ':');
  if (colon && (h[0] != '[' || colon > strchr(h, ']'))) {
    *colon = 0;
    port = atoi(colon + 1);
  }
  if (h[0] == '[' && h[strlen(h) - 1] == ']') {
    h[strlen(h) - 1] = 0;
    h++;
  }
  snprintf(out, size, "%s:%d", h, port);
}

static void print_ids(const kw_admin_result *md, int t, int k, bool isr) {
  int n = isr ? kw_admin_topic_isr_count(md, t, k) : kw_admin_topic_replica_count(md, t, k);
  for (int r = 0; r < n; r++)
    printf("%s%d", r ? "," : "", isr ? kw_admin_topic_isr(md, t, k, r) : kw_admin_topic_replica(md, t, k, r));
}

static void print_metadata(const kw_admin_result *md, const char *topic, const char *from) {
  printf("Metadata for %s (from broker -1: %s/bootstrap):\n", topic ? topic : "all topics", from);
  printf(" %d brokers:\n", kw_admin_broker_count(md));
  for (int b = 0; b < kw_admin_broker_count(md); b++) {
    int32_t id = kw_admin_broker_id(md, b);
    printf("  broker %d at %s:%d%s\n", id, kw_admin_broker_host(md, b), kw_admin_broker_port(md, b),
           id == kw_admin_controller_id(md) ? " (controller)" : "");
  }
  printf(" %d topics:\n", kw_admin_result_count(md));
  for (int t = 0; t < kw_admin_result_count(md); t++) {
    int np = kw_admin_topic_partition_count(md, t);
    printf("  topic \"%s\" with %d partitions:", kw_admin_topic(md, t), np);
    if (kw_admin_topic_error(md, t)) printf(" Broker: %s", kw_kerr_name(kw_admin_topic_error(md, t)));
    printf("\n");
    for (int k = 0; k < np; k++) {
      printf("    partition %d, leader %d, replicas: ", kw_admin_topic_partition(md, t, k), kw_admin_topic_leader(md, t, k));
      print_ids(md, t, k, false);
      printf(", isrs: ");
      print_ids(md, t, k, true);
      int16_t err = kw_admin_topic_partition_error(md, t, k);
      if (err) printf(", Broker: %s", kw_kerr_name(err));
      printf("\n");
    }
  }
}

/* Metadata for every topic (topic NULL) or one, from a client made of kwcat's
 * configuration (-b and every -X, TLS and SASL included). */
static int describe(const kwcat_opts *o, const char *topic, kw_admin_result **md, char *errstr, size_t errlen) {
  int timeout_ms = (o->metadata_timeout_s > 0 ? o->metadata_timeout_s : 5) * 1000;
  kw_client *cl = kw_admin_new(o->conf, errstr, errlen);
  if (!cl) return KW_ERR_CONFIG;
  int err = kw_admin_describe_cluster(cl, topic, timeout_ms, md, errstr, errlen);
  kw_client_destroy(cl);
  return err;
}

int kwcat_metadata(const kwcat_opts *o) {
  kw_admin_result *md;
  char errstr[512], from[256];
  if (describe(o, o->topic, &md, errstr, sizeof errstr)) {
    fprintf(stderr, "%% ERROR: Failed to acquire metadata: %s\n", errstr);
    return 1;
  }
  first_broker(o->brokers, from, sizeof from);
  print_metadata(md, o->topic, from);
  kw_admin_result_free(md);
  return 0;
}

int kwcat_topic_info(const kwcat_opts *o, const char *topic, kwcat_topic *out) {
  memset(out, 0, sizeof *out);
  kw_admin_result *md;
  char errstr[512];
  if ((out->err = describe(o, topic, &md, errstr, sizeof errstr)) != 0) {
    kwcat_info(1, "%s\n", errstr);
    return out->err;
  }
  out->kafka_error = 3; /* UNKNOWN_TOPIC_OR_PARTITION: an answer without our topic */
  for (int t = 0; t < kw_admin_result_count(md); t++) {
    if (strcmp(kw_admin_topic(md, t), topic) != 0) continue;
    out->kafka_error = kw_admin_topic_error(md, t);
    int np = kw_admin_topic_partition_count(md, t);
    if (out->kafka_error || np <= 0) break;
    int32_t n = 0; /* partition ids run from 0; size the table by the largest */
    for (int k = 0; k < np; k++)
      if (kw_admin_topic_partition(md, t, k) >= n) n = kw_admin_topic_partition(md, t, k) + 1;
    out->leaders = malloc(sizeof *out->leaders * (size_t)n);
    if (!out->leaders) {
      out->err = KW_ERR_NOMEM;
      break;
    }
    for (int32_t p = 0; p < n; p++) out->leaders[p] = -1;
    for (int k = 0; k < np; k++)
      if (kw_admin_topic_partition(md, t, k) >= 0) out->leaders[kw_admin_topic_partition(md, t, k)] = kw_admin_topic_leader(md, t, k);
    out->n_partitions = n;
    break;
  }
  kw_admin_result_free(md);
  return out->err;
}
