/* Configuration: one table of properties (client/kw_config.h), one parser per type.
 * Values are parsed once, at set time, into kw_conf_values. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/kw_config.h"
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "core/kw_mem.h"
#include "core/kw_str.h"

struct kw_config {
  kw_conf_values v;
  kw_mem mem;      /* strings, and the clients made from this config */
  kw_mem self_mem; /* what allocated this struct */
  kw_log_cb log_cb;
  void *log_ud;
  uint8_t set[KW_CP__COUNT];
};

static const kw_conf_prop props[] = {
#define KW_X_ROW(T, m, name, def, lo, hi, vals, fl, desc) \
  {name, def, vals, desc, lo, hi, offsetof(kw_conf_values, m), KW_CT_##T, fl},
    KW_CONF_LIST(KW_X_ROW)
#undef KW_X_ROW
};

static const char *const aliases[][2] = {
#define KW_X_ALIAS(a, n) {a, n},
    KW_CONF_ALIASES(KW_X_ALIAS)
#undef KW_X_ALIAS
};

#define NALIASES ((int)(sizeof aliases / sizeof aliases[0]))

_Static_assert(sizeof(kw_conf_values) <= UINT16_MAX, "offsets fit kw_conf_prop.offset");

static void *slot(const kw_config *c, const kw_conf_prop *p) { return (char *)&c->v + p->offset; }

static bool is_str(const kw_conf_prop *p) { return p->type == KW_CT_STR || p->type == KW_CT_LIST; }

static char **str_slot(const kw_config *c, int i) { return (char **)slot(c, &props[i]); }

const kw_conf_prop *kw_conf_prop_at(int i) {
  return i >= 0 && i < KW_CP__COUNT ? &props[i] : NULL;
}

const kw_conf_prop *kw_conf_prop_find(const char *name) {
  for (int i = 0; i < NALIASES; i++)
    if (strcmp(name, aliases[i][0]) == 0) name = aliases[i][1];
  for (int i = 0; i < KW_CP__COUNT; i++)
    if (strcmp(name, props[i].name) == 0) return &props[i];
  return NULL;
}

const char *kw_conf_alias_at(int i, const char **name) {
  if (i < 0 || i >= NALIASES) return NULL;
  if (name) *name = aliases[i][1];
  return aliases[i][0];
}

const char *kw_config_key_at(int i, const char **def, const char **desc) {
  const kw_conf_prop *p = kw_conf_prop_at(i);
  if (!p) return NULL;
  if (def) *def = p->def ? p->def : "";
  if (desc) *desc = p->desc;
  return p->name;
}

/* --- enum names: "a|b=N|c", matched case-insensitively --- */

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch; }

static bool same_name(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
  return true;
}

/* Walks `values`: each call yields one entry (start, length, value); false at the end. */
typedef struct names_it {
  const char *next;
  int pos;
} names_it;

static bool names_next(names_it *it, const char **name, size_t *len, int *val) {
  const char *e = it->next;
  if (!e || !*e) return false;
  *name = e;
  *len = strcspn(e, "=|");
  *val = it->pos++;
  e += *len;
  if (*e == '=') {
    char *end;
    *val = (int)strtol(e + 1, &end, 10);
    e = end;
  }
  it->next = *e == '|' ? e + 1 : e;
  return true;
}

/* The entry of `values` spelled s[0..n), or NULL. */
static const char *names_find(const char *values, const char *s, size_t n, int *val, size_t *len) {
  names_it it = {values, 0};
  const char *name;
  while (names_next(&it, &name, len, val))
    if (*len == n && same_name(name, s, n)) return name;
  return NULL;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t'; }

/* Checks a comma-separated list against `values`; ORs the bits into *mask and, when out is
 * non-NULL, writes the canonical spelling there (never longer than the input). */
static int list_scan(const char *values, const char *list, uint32_t *mask, char *out) {
  const char *s = list;
  char *w = out;
  *mask = 0;
  if (out) *out = '\0';
  while (is_space(*s)) s++;
  if (!*s) return KW_OK;
  for (;;) {
    while (is_space(*s)) s++;
    size_t n = strcspn(s, ",");
    while (n && is_space(s[n - 1])) n--;
    int val;
    size_t len;
    const char *name = names_find(values, s, n, &val, &len);
    if (!n || !name) return KW_ERR_CONFIG;
    *mask |= val < 0 ? UINT32_MAX : (uint32_t)1 << val;
    if (w) {
      if (w != out) *w++ = ',';
      memcpy(w, name, len);
      w += len;
      *w = '\0';
    }
    s += strcspn(s, ",");
    if (!*s) return KW_OK;
    s++;
  }
}

int kw_conf_list_mask(const char *values, const char *list, uint32_t *mask) {
  return list_scan(values, list ? list : "", mask, NULL);
}

/* --- what a row accepts, and parsing --- */

static size_t put(char *buf, size_t size, size_t at, const char *s, size_t n) {
  if (at < size) {
    size_t room = size - at - 1;
    memcpy(buf + at, s, n < room ? n : room);
    buf[at + (n < room ? n : room)] = '\0';
  }
  return at + n;
}

void kw_conf_expected(const kw_conf_prop *p, char *buf, size_t size) {
  if (!buf || !size) return;
  switch (p->type) {
  case KW_CT_INT:
    snprintf(buf, size, "an integer between %" PRId64 " and %" PRId64, p->min, p->max);
    return;
  case KW_CT_BOOL: snprintf(buf, size, "true or false"); return;
  case KW_CT_STR: snprintf(buf, size, "a string"); return;
  default: break;
  }
  const char *lead = p->type == KW_CT_ENUM ? "one of " : "a comma-separated list of ";
  size_t at = put(buf, size, 0, lead, strlen(lead));
  names_it it = {p->values, 0};
  const char *name;
  size_t len;
  int val;
  for (bool first = true; names_next(&it, &name, &len, &val); first = false) {
    if (!first) at = put(buf, size, at, ", ", 2);
    at = put(buf, size, at, name, len);
  }
}

/* A parsed value before it replaces the old one. */
typedef union conf_val {
  char *s;
  int64_t i;
  bool b;
  int e;
} conf_val;


/* KW_OK, KW_ERR_CONFIG (bad text) or KW_ERR_NOMEM. */
static int parse(const kw_config *c, const kw_conf_prop *p, const char *text, conf_val *out) {
  if (!text && p->type != KW_CT_STR) return KW_ERR_CONFIG;
  switch (p->type) {
  case KW_CT_STR:
    if (!text) {
      out->s = NULL;
      return KW_OK;
    }
    out->s = kw_strdup(&c->mem, text);
    return out->s ? KW_OK : KW_ERR_NOMEM;
  case KW_CT_LIST: {
    uint32_t mask;
    if (list_scan(p->values, text, &mask, NULL) < 0) return KW_ERR_CONFIG;
    out->s = kw_alloc(&c->mem, strlen(text) + 1);
    if (!out->s) return KW_ERR_NOMEM;
    list_scan(p->values, text, &mask, out->s);
    return KW_OK;
  }
  case KW_CT_INT: {
    char *end;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    while (is_space(*end)) end++;
    if (end == text || *end || errno || x < p->min || x > p->max) return KW_ERR_CONFIG;
    out->i = x;
    return KW_OK;
  }
  case KW_CT_BOOL: {
    size_t n = strlen(text);
    if ((n == 4 && same_name(text, "true", 4)) || strcmp(text, "1") == 0) out->b = true;
    else if ((n == 5 && same_name(text, "false", 5)) || strcmp(text, "0") == 0) out->b = false;
    else return KW_ERR_CONFIG;
    return KW_OK;
  }
  default: {
    size_t len;
    return names_find(p->values, text, strlen(text), &out->e, &len) ? KW_OK : KW_ERR_CONFIG;
  }
  }
}

static void store(kw_config *c, const kw_conf_prop *p, const conf_val *v) {
  void *dst = slot(c, p);
  switch (p->type) {
  case KW_CT_INT: *(int64_t *)dst = v->i; break;
  case KW_CT_BOOL: *(bool *)dst = v->b; break;
  case KW_CT_ENUM: *(int *)dst = v->e; break;
  default:
    kw_free(&c->mem, *(char **)dst);
    *(char **)dst = v->s;
  }
}

int kw_config_set(kw_config *c, const char *key, const char *value, char *errstr, size_t errstr_size) {
  if (errstr && errstr_size) errstr[0] = '\0';
  if (!c || !key) return KW_ERR_INVALID_ARG;
  const kw_conf_prop *p = kw_conf_prop_find(key);
  bool msg = errstr && errstr_size;
  if (!p) {
    if (msg) snprintf(errstr, errstr_size, "Unknown configuration name \"%s\"", key);
    return KW_ERR_CONFIG;
  }
  bool reset = value == NULL;
  conf_val v;
  int err = parse(c, p, reset ? p->def : value, &v);
  if (err == KW_ERR_CONFIG && msg) {
    char expected[200];
    kw_conf_expected(p, expected, sizeof expected);
    snprintf(errstr, errstr_size, "Invalid value \"%s\" for configuration property \"%s\": expected %s",
             reset ? "" : value, key, expected);
  } else if (err == KW_ERR_NOMEM && msg) {
    snprintf(errstr, errstr_size, "Out of memory setting configuration property \"%s\"", key);
  }
  if (err < 0) return err;
  store(c, p, &v);
  c->set[p - props] = !reset;
  return KW_OK;
}

int kw_config_get(const kw_config *c, const char *key, char *buf, size_t size) {
  const kw_conf_prop *p = c && key ? kw_conf_prop_find(key) : NULL;
  if (!p) return c && key ? KW_ERR_CONFIG : KW_ERR_INVALID_ARG;
  const void *src = slot(c, p);
  char num[24];
  const char *text = num;
  size_t n = 0;
  switch (p->type) {
  case KW_CT_INT: snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)src); break;
  case KW_CT_BOOL: text = *(const bool *)src ? "true" : "false"; break;
  case KW_CT_ENUM: {
    names_it it = {p->values, 0};
    const char *name;
    int val;
    text = "";
    while (names_next(&it, &name, &n, &val))
      if (val == *(const int *)src) {
        text = name;
        break;
      }
    break;
  }
  default:
    text = *(char *const *)src;
    if (!text) text = "";
    else if (p->flags & KW_CF_SECRET) text = "[redacted]";
  }
  if (p->type != KW_CT_ENUM || !*text) n = strlen(text);
  if (!buf || !size) return KW_ERR_BUF_FULL;
  return put(buf, size, 0, text, n) < size ? (int)n : KW_ERR_BUF_FULL;
}

/* --- lifetime --- */

void kw_config_free(kw_config *c) {
  if (!c) return;
  for (int i = 0; i < KW_CP__COUNT; i++)
    if (is_str(&props[i])) kw_free(&c->mem, *str_slot(c, i));
  kw_mem self = c->self_mem;
  kw_free(&self, c);
}

kw_config *kw_config_new(void) {
  const kw_mem *m = kw_mem_default();
  kw_config *c = kw_alloc(m, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->mem = c->self_mem = *m;
  for (int i = 0; i < KW_CP__COUNT; i++) {
    if (kw_config_set(c, props[i].name, NULL, NULL, 0) < 0) {
      kw_config_free(c);
      return NULL;
    }
  }
  return c;
}

kw_config *kw_config_dup(const kw_config *c) {
  if (!c) return NULL;
  kw_config *d = kw_alloc(&c->mem, sizeof *d);
  if (!d) return NULL;
  *d = *c;
  d->self_mem = c->mem;
  for (int i = 0; i < KW_CP__COUNT; i++)
    if (is_str(&props[i])) *str_slot(d, i) = NULL;
  for (int i = 0; i < KW_CP__COUNT; i++) {
    const char *s = is_str(&props[i]) ? *str_slot(c, i) : NULL;
    if (s && !(*str_slot(d, i) = kw_strdup(&d->mem, s))) {
      kw_config_free(d);
      return NULL;
    }
  }
  return d;
}

int kw_config_set_mem(kw_config *c, const kw_mem *mem) {
  if (!c) return KW_ERR_INVALID_ARG;
  if (!mem) mem = kw_mem_default();
  if (!mem->alloc || !mem->realloc || !mem->free) return KW_ERR_INVALID_ARG;
  char *moved[KW_CP__COUNT] = {NULL};
  for (int i = 0; i < KW_CP__COUNT; i++) {
    const char *s = is_str(&props[i]) ? *str_slot(c, i) : NULL;
    if (s && !(moved[i] = kw_strdup(mem, s))) {
      for (int j = 0; j < i; j++) kw_free(mem, moved[j]);
      return KW_ERR_NOMEM;
    }
  }
  for (int i = 0; i < KW_CP__COUNT; i++) {
    if (!is_str(&props[i])) continue;
    kw_free(&c->mem, *str_slot(c, i));
    *str_slot(c, i) = moved[i];
  }
  c->mem = *mem;
  return KW_OK;
}

void kw_config_set_log_cb(kw_config *c, kw_log_cb cb, void *ud) {
  if (!c) return;
  c->log_cb = cb;
  c->log_ud = ud;
}

const kw_conf_values *kw_config_values(const kw_config *c) { return &c->v; }

const kw_mem *kw_config_mem(const kw_config *c) { return &c->mem; }

kw_log_cb kw_config_log_cb(const kw_config *c, void **ud) {
  if (ud) *ud = c->log_ud;
  return c->log_cb;
}

bool kw_config_is_set(const kw_config *c, int id) { return id >= 0 && id < KW_CP__COUNT && c->set[id]; }

/* --- checks across properties, when a client is created --- */

static int fail(char *errstr, size_t size, const char *msg) {
  if (errstr && size) snprintf(errstr, size, "%s", msg);
  return KW_ERR_CONFIG;
}

int kw_config_finalize(kw_config *c, int roles, char *errstr, size_t errstr_size) {
  kw_conf_values *v = &c->v;
  if (!v->bootstrap_servers || !*v->bootstrap_servers)
    return fail(errstr, errstr_size, "Configuration property \"bootstrap.servers\" is required");
  if (v->reconnect_backoff_ms > v->reconnect_backoff_max_ms)
    return fail(errstr, errstr_size, "\"reconnect.backoff.ms\" must not exceed \"reconnect.backoff.max.ms\"");
  if (v->retry_backoff_ms > v->retry_backoff_max_ms)
    return fail(errstr, errstr_size, "\"retry.backoff.ms\" must not exceed \"retry.backoff.max.ms\"");
  bool sasl = v->security_protocol == KW_SEC_SASL_PLAINTEXT || v->security_protocol == KW_SEC_SASL_SSL;
  if (sasl && (!v->sasl_username || !*v->sasl_username || !v->sasl_password || !*v->sasl_password))
    return fail(errstr, errstr_size, "\"sasl.username\" and \"sasl.password\" are required with a SASL \"security.protocol\"");
#ifndef KW_WITH_TLS
  /* Built without OpenSSL: no TLS and no SCRAM (it needs OpenSSL's HMAC and PBKDF2). */
  if (v->security_protocol == KW_SEC_SSL || v->security_protocol == KW_SEC_SASL_SSL)
    return fail(errstr, errstr_size, "\"security.protocol\": this kwire was built without TLS (KW_WITH_TLS=OFF)");
  if (sasl && v->sasl_mechanism != KW_SASL_PLAIN)
    return fail(errstr, errstr_size, "\"sasl.mechanism\": SCRAM needs a kwire built with OpenSSL (KW_WITH_TLS=ON)");
#endif
  if (roles & KW_CF_P) {
    if (!kw_codec_available(v->compression_type))
      return fail(errstr, errstr_size, "\"compression.type\": codec not built into this kwire");
    bool transactional = v->transactional_id && *v->transactional_id;
    if (v->enable_idempotence && (v->acks != -1 || v->max_in_flight > 5)) {
      /* Idempotence is on by default: a configuration written for librdkafka (acks=1)
       * turns it off quietly, as Java's producer does; asking for it explicitly is an error. */
      if (kw_config_is_set(c, KW_CP_enable_idempotence) || transactional)
        return fail(errstr, errstr_size,
                    v->acks != -1 ? "\"enable.idempotence\" requires \"acks\" set to \"all\""
                                  : "\"enable.idempotence\" requires \"max.in.flight.requests.per.connection\" "
                                    "of at most 5");
      v->enable_idempotence = false;
    }
    if (transactional && !v->enable_idempotence)
      return fail(errstr, errstr_size, "\"transactional.id\" requires \"enable.idempotence\"");
  }
  if ((roles & KW_CF_C) && v->heartbeat_interval_ms >= v->session_timeout_ms)
    return fail(errstr, errstr_size, "\"heartbeat.interval.ms\" must be less than \"session.timeout.ms\"");
  return KW_OK;
}

/* The logger a configuration asks for (declared in client/kw_config.h). */
void kw_logger_init(kw_logger *lg, const kw_config *c) {
  *lg = kw_default_logger;
  if (!c) return;
  const kw_conf_values *v = kw_config_values(c);
  lg->cb = kw_config_log_cb(c, &lg->ud);
  lg->level = (int)v->log_level;
  /* stderr stays quiet below warnings unless log_level was asked for. */
  if (!lg->cb && !kw_config_is_set(c, KW_CP_log_level) && lg->level > KW_LOG_WARNING) lg->level = KW_LOG_WARNING;
  uint32_t mask = 0;
  if (kw_conf_list_mask(KW_DBG_NAMES, v->debug, &mask) == KW_OK && (mask & KW_DBG_ALL)) {
    lg->dbg = mask & KW_DBG_ALL;
    lg->level = KW_LOG_DEBUG;
  }
}
