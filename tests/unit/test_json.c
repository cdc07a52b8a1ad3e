/* Strict JSON reader: RFC 8259's examples, hand-written JSONTestSuite-style y_/n_ cases,
 * every truncation of a valid document, limits, unescaping, integers and the writer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_json.h"

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

static kw_slice sl(const char *s) { return (kw_slice){(const uint8_t *)s, (int32_t)strlen(s)}; }

/* Scans a copy in an exact-size heap block so a sanitizer build sees any over-read. */
static int scan_n(const char *s, size_t n, kw_json_value *top, kw_json_error *err) {
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, s, n);
  kw_slice d = {copy, (int32_t)n};
  int rc = kw_json_scan(&d, NULL, NULL, 0, NULL, top, err);
  free(copy);
  return rc;
}
static int scan(const char *s) {
  kw_json_value top;
  return scan_n(s, strlen(s), &top, NULL);
}

static const char rfc_object[] =
    "{\n"
    "  \"Image\": {\n"
    "      \"Width\":  800,\n"
    "      \"Height\": 600,\n"
    "      \"Title\":  \"View from 15th Floor\",\n"
    "      \"Thumbnail\": {\n"
    "          \"Url\":    \"http://www.example.com/image/481989943\",\n"
    "          \"Height\": 125,\n"
    "          \"Width\":  100\n"
    "      },\n"
    "      \"Animated\" : false,\n"
    "      \"IDs\": [116, 943, 234, 38793]\n"
    "    }\n"
    "}";

static const char rfc_array[] =
    "[\n"
    "  {\n"
    "     \"precision\": \"zip\",\n"
    "     \"Latitude\":  37.7668,\n"
    "     \"Longitude\": -122.3959,\n"
    "     \"Address\":   \"\",\n"
    "     \"City\":      \"SAN FRANCISCO\",\n"
    "     \"State\":     \"CA\",\n"
    "     \"Zip\":       \"94107\",\n"
    "     \"Country\":   \"US\"\n"
    "  },\n"
    "  {\n"
    "     \"precision\": \"zip\",\n"
    "     \"Latitude\":  37.371991,\n"
    "     \"Longitude\": -122.026020,\n"
    "     \"Address\":   \"\",\n"
    "     \"City\":      \"SUNNYVALE\",\n"
    "     \"State\":     \"CA\",\n"
    "     \"Zip\":       \"94085\",\n"
    "     \"Country\":   \"US\"\n"
    "  }\n"
    "]";

Test(json, rfc8259_examples) {
  kw_json_value top, v;
  cr_assert_eq(scan_n(rfc_object, strlen(rfc_object), &top, NULL), 0);
  cr_assert_eq(top.type, KW_JSON_OBJECT);
  kw_slice d = sl(rfc_object);
  cr_assert_eq(kw_json_get(&d, "Image", &v), 0);
  cr_assert_eq(v.type, KW_JSON_OBJECT);
  cr_assert_eq(v.raw.ptr[0], '{');
  cr_assert_eq(v.raw.ptr[v.raw.len - 1], '}');
  /* the nested value can be scanned on its own */
  kw_json_value w;
  cr_assert_eq(kw_json_get(&v.raw, "IDs", &w), 0);
  cr_assert_eq(w.type, KW_JSON_ARRAY);
  cr_assert_eq(w.raw.len, (int32_t)strlen("[116, 943, 234, 38793]"));
  cr_assert_eq(kw_json_get(&v.raw, "Animated", &w), 0);
  cr_assert_eq(w.type, KW_JSON_FALSE);

  cr_assert_eq(scan_n(rfc_array, strlen(rfc_array), &top, NULL), 0);
  cr_assert_eq(top.type, KW_JSON_ARRAY);
  /* RFC 8259 section 13: scalars are JSON texts too */
  cr_assert_eq(scan_n("\"Hello world!\"", 14, &top, NULL), 0);
  cr_assert_eq(top.type, KW_JSON_STRING);
  cr_assert_eq(scan_n("42", 2, &top, NULL), 0);
  cr_assert_eq(top.type, KW_JSON_NUMBER);
  cr_assert_eq(scan_n("true", 4, &top, NULL), 0);
  cr_assert_eq(top.type, KW_JSON_TRUE);
}

static const char *const yes[] = {
    "[]", "{}", " [ ] ", "\t\r\n{\"a\" : [ 1 , 2 ] }\n", "0", "-0", "-0.0e+0", "1E-2", "123e45",
    "[1e999999]", "[-9223372036854775809]", "123456789012345678901234567890",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0000\"", "\"\\uD83D\\uDE00\"", "\"\\ud834\\udd1e\"",
    "\"\xc3\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"", "\"\xf4\x8f\xbf\xbf\"",
    "\"\xef\xbf\xbf\"", "\"\x7f\"", "[null,true,false]", "{\"a\":{\"a\":1,\"a\":2}}",
    "{\"\":0}", "[[[[[[[[[[]]]]]]]]]]", "{\"a\":1,\"b\":2}"};

Test(json, y_cases) {
  for (int i = 0; i < COUNT(yes); i++) cr_assert_eq(scan(yes[i]), 0, "y_%d: %s", i, yes[i]);
}

static const struct {
  const char *doc;
  int code;
  const char *text; /* expected kw_json_error_text, or NULL */
} no[] = {
    {"", KW_ERR_MALFORMED, "unexpected end at byte 0"},
    {" ", KW_ERR_MALFORMED, NULL},
    {"[1,]", KW_ERR_MALFORMED, "value expected at byte 3"},
    {"{\"a\":1,}", KW_ERR_MALFORMED, "member name expected at byte 7"},
    {"[1 2]", KW_ERR_MALFORMED, NULL},
    {"{\"a\" 1}", KW_ERR_MALFORMED, "':' expected at byte 5"},
    {"{a:1}", KW_ERR_MALFORMED, NULL},
    {"{'a':1}", KW_ERR_MALFORMED, NULL},
    {"[,1]", KW_ERR_MALFORMED, NULL},
    {"01", KW_ERR_MALFORMED, "leading zero at byte 0"},
    {"[-012]", KW_ERR_MALFORMED, NULL},
    {"1.", KW_ERR_MALFORMED, NULL},
    {".5", KW_ERR_MALFORMED, NULL},
    {"1.e3", KW_ERR_MALFORMED, NULL},
    {"1e", KW_ERR_MALFORMED, NULL},
    {"1e+", KW_ERR_MALFORMED, NULL},
    {"+1", KW_ERR_MALFORMED, NULL},
    {"-", KW_ERR_MALFORMED, NULL},
    {"0x10", KW_ERR_MALFORMED, NULL},
    {"NaN", KW_ERR_MALFORMED, NULL},
    {"[Infinity]", KW_ERR_MALFORMED, NULL},
    {"[-Infinity]", KW_ERR_MALFORMED, NULL},
    {"tru", KW_ERR_MALFORMED, NULL},
    {"True", KW_ERR_MALFORMED, NULL},
    {"nul", KW_ERR_MALFORMED, NULL},
    {"[1] x", KW_ERR_MALFORMED, "trailing characters at byte 4"},
    {"{} {}", KW_ERR_MALFORMED, NULL},
    {"\"abc", KW_ERR_MALFORMED, "unterminated string at byte 0"},
    {"{\"event_type\": \"abc", KW_ERR_MALFORMED, "unterminated string at byte 15"},
    {"\"a\tb\"", KW_ERR_MALFORMED, "control character in string at byte 2"},
    {"\"a\nb\"", KW_ERR_MALFORMED, NULL},
    {"\"\\x41\"", KW_ERR_MALFORMED, "invalid escape at byte 1"},
    {"\"\\'\"", KW_ERR_MALFORMED, NULL},
    {"\"\\u12\"", KW_ERR_MALFORMED, NULL},
    {"\"\\u12G4\"", KW_ERR_MALFORMED, NULL},
    {"\"\\uD800\"", KW_ERR_MALFORMED, "lone surrogate at byte 1"},
    {"\"\\uDC00\"", KW_ERR_MALFORMED, NULL},
    {"\"\\uD800\\u0041\"", KW_ERR_MALFORMED, NULL},
    {"\"\\uD800\\uD800\"", KW_ERR_MALFORMED, NULL},
    {"\"\\uDBFF\"", KW_ERR_MALFORMED, NULL},
    {"\"\\uD800x\"", KW_ERR_MALFORMED, NULL},
    {"\"\xc0\xaf\"", KW_ERR_MALFORMED, "invalid UTF-8 at byte 1"}, /* overlong '/' */
    {"\"\xc1\xbf\"", KW_ERR_MALFORMED, NULL},
    {"\"\xe0\x80\xaf\"", KW_ERR_MALFORMED, NULL},             /* overlong, 3 bytes */
    {"\"\xf0\x80\x80\xaf\"", KW_ERR_MALFORMED, NULL},         /* overlong, 4 bytes */
    {"\"\xed\xa0\x80\"", KW_ERR_MALFORMED, NULL},             /* U+D800 */
    {"\"\xed\xbf\xbf\"", KW_ERR_MALFORMED, NULL},             /* U+DFFF */
    {"\"\xf4\x90\x80\x80\"", KW_ERR_MALFORMED, NULL},         /* U+110000 */
    {"\"\xf5\x80\x80\x80\"", KW_ERR_MALFORMED, NULL},
    {"\"\xff\"", KW_ERR_MALFORMED, NULL},
    {"\"\x80\"", KW_ERR_MALFORMED, NULL},                     /* lone continuation */
    {"\"\xc3\"", KW_ERR_MALFORMED, NULL},                     /* truncated sequence */
    {"\"\xe2\x82\"", KW_ERR_MALFORMED, NULL},
    {"\"\xe2\x28\xa1\"", KW_ERR_MALFORMED, NULL},
    {"\xef\xbb\xbf{}", KW_ERR_MALFORMED, "value expected at byte 0"}, /* BOM */
    {"[\f]", KW_ERR_MALFORMED, NULL},                         /* not JSON whitespace */
    {"[\v1]", KW_ERR_MALFORMED, NULL},
    {"[\xc2\xa0]", KW_ERR_MALFORMED, NULL},
    {"{\"a\":1,\"a\":2}", KW_ERR_MALFORMED, "duplicate member at byte 7"},
    {"{\"a\":1,\"\\u0061\":2}", KW_ERR_MALFORMED, NULL},     /* same name after unescaping */
    {"{\"\xc3\xa9\":1,\"\\u00e9\":2}", KW_ERR_MALFORMED, NULL},
    {"{\"a\" \"b\"}", KW_ERR_MALFORMED, NULL},
    {"[1}", KW_ERR_MALFORMED, NULL},
    {"{\"a\":1]", KW_ERR_MALFORMED, NULL},
    {"]", KW_ERR_MALFORMED, NULL},
};

Test(json, n_cases) {
  for (int i = 0; i < COUNT(no); i++) {
    kw_json_value top;
    kw_json_error err;
    int rc = scan_n(no[i].doc, strlen(no[i].doc), &top, &err);
    cr_assert_eq(rc, no[i].code, "n_%d: %s -> %d", i, no[i].doc, rc);
    cr_assert_eq(err.code, rc);
    cr_assert_not_null(err.what);
    if (no[i].text) {
      char text[64];
      kw_json_error_text(&err, text, sizeof text);
      cr_assert_str_eq(text, no[i].text, "n_%d: %s", i, no[i].doc);
    }
  }
}

Test(json, nul_bytes) {
  kw_json_value top;
  kw_json_error err;
  cr_assert_eq(scan_n("\"a\0\"", 4, &top, &err), KW_ERR_MALFORMED);
  cr_assert_str_eq(err.what, "control character in string");
  cr_assert_eq(scan_n("[1]\0", 4, &top, &err), KW_ERR_MALFORMED);
  cr_assert_str_eq(err.what, "trailing characters");
  cr_assert_eq(scan_n("[\0]", 3, &top, &err), KW_ERR_MALFORMED);
}

Test(json, truncated_at_every_byte) {
  const char *docs[] = {rfc_object, rfc_array, "{\"s\":\"\\uD83D\\uDE00\xc3\xa9\",\"n\":-1.5e+3,\"t\":true}"};
  for (int d = 0; d < COUNT(docs); d++) {
    size_t n = strlen(docs[d]);
    cr_assert_eq(scan_n(docs[d], n, &(kw_json_value){0}, NULL), 0);
    for (size_t cut = 0; cut < n; cut++) {
      kw_json_error err;
      kw_json_value top;
      int rc = scan_n(docs[d], cut, &top, &err);
      /* a cut right after the top value's end can't happen; a bare number prefix can be valid */
      cr_assert_eq(rc, KW_ERR_MALFORMED, "doc %d cut at %zu: %d", d, cut, rc);
      cr_assert(err.offset <= cut);
    }
  }
}

Test(json, depth_limit) {
  char deep[200];
  for (int depth = 63; depth <= 66; depth++) {
    memset(deep, '[', (size_t)depth);
    memset(deep + depth, ']', (size_t)depth);
    kw_json_error err;
    kw_json_value top;
    int rc = scan_n(deep, 2 * (size_t)depth, &top, &err);
    cr_assert_eq(rc, depth <= 64 ? 0 : KW_ERR_TOO_LARGE, "depth %d", depth);
    if (rc) cr_assert_str_eq(err.what, "nesting too deep");
  }
  /* deep garbage never recurses past the limit */
  static char bomb[100000];
  memset(bomb, '[', sizeof bomb);
  kw_slice b = {(const uint8_t *)bomb, sizeof bomb};
  cr_assert_eq(kw_json_scan(&b, NULL, NULL, 0, NULL, NULL, NULL), KW_ERR_TOO_LARGE);
  kw_json_limits lim = {2, 1000, 1000};
  kw_slice d = sl("[[1]]"), e = sl("[[[1]]]");
  cr_assert_eq(kw_json_scan(&d, &lim, NULL, 0, NULL, NULL, NULL), 0);
  cr_assert_eq(kw_json_scan(&e, &lim, NULL, 0, NULL, NULL, NULL), KW_ERR_TOO_LARGE);
}

Test(json, size_limits) {
  kw_json_limits lim = {64, 10, 3};
  kw_json_error err;
  kw_slice d = sl("[\"abc\"]"), e = sl("[\"abcd\"]"), f = sl("[1,2,3,4,5,6]"), g = sl("\"\\u0041\"");
  cr_assert_eq(kw_json_scan(&d, &lim, NULL, 0, NULL, NULL, &err), 0);
  cr_assert_eq(kw_json_scan(&e, &lim, NULL, 0, NULL, NULL, &err), KW_ERR_TOO_LARGE);
  cr_assert_str_eq(err.what, "string too long");
  cr_assert_eq(err.offset, 1);
  cr_assert_eq(kw_json_scan(&f, &lim, NULL, 0, NULL, NULL, &err), KW_ERR_TOO_LARGE);
  cr_assert_str_eq(err.what, "document too large");
  cr_assert_eq(kw_json_scan(&g, &lim, NULL, 0, NULL, NULL, &err), KW_ERR_TOO_LARGE); /* as written */
  /* top-level members are capped for the duplicate check; nested objects are not */
  char big[2000] = "{", nested[2000] = "{\"x\":{";
  for (int i = 0; i < KW_JSON_MAX_MEMBERS + 1; i++) {
    char m[16];
    snprintf(m, sizeof m, "%s\"k%d\":%d", i ? "," : "", i, i);
    strcat(big, m);
    strcat(nested, m);
  }
  strcat(big, "}");
  strcat(nested, "}}");
  kw_slice bs = sl(big), ns = sl(nested);
  cr_assert_eq(kw_json_scan(&bs, NULL, NULL, 0, NULL, NULL, &err), KW_ERR_TOO_LARGE);
  cr_assert_str_eq(err.what, "too many members");
  cr_assert_eq(kw_json_scan(&ns, NULL, NULL, 0, NULL, NULL, &err), 0);
}

Test(json, null_document) {
  kw_slice d = {NULL, 0};
  kw_json_error err;
  cr_assert_eq(kw_json_scan(&d, NULL, NULL, 0, NULL, NULL, &err), KW_ERR_MALFORMED);
  cr_assert_str_eq(err.what, "unexpected end");
}

Test(json, get_members) {
  kw_slice d = sl(" {\"a\" : \"x\", \"b\":[1,{\"a\":2}], \"c\":null, \"\\u00e9t\\u00e9\":-7 } ");
  kw_json_value v;
  cr_assert_eq(kw_json_get(&d, "a", &v), 0);
  cr_assert_eq(v.type, KW_JSON_STRING);
  cr_assert_eq(v.raw.len, 3);
  cr_assert_eq(kw_json_get(&d, "b", &v), 0);
  cr_assert_eq(v.type, KW_JSON_ARRAY);
  cr_assert_eq(memcmp(v.raw.ptr, "[1,{\"a\":2}]", (size_t)v.raw.len), 0);
  cr_assert_eq(kw_json_get(&d, "c", &v), 0);
  cr_assert_eq(v.type, KW_JSON_NULL);
  cr_assert_eq(kw_json_get(&d, "\xc3\xa9t\xc3\xa9", &v), 0); /* escaped key matched unescaped */
  cr_assert_eq(v.type, KW_JSON_NUMBER);
  cr_assert_eq(kw_json_get(&d, "zz", &v), 0);
  cr_assert_eq(v.type, KW_JSON_NONE);
  cr_assert_eq(kw_json_get(&d, "", &v), 0);
  cr_assert_eq(v.type, KW_JSON_NONE);
  kw_slice nul = sl("{\"a\\u0000b\":1}");
  cr_assert_eq(kw_json_get(&nul, "a", &v), 0);
  cr_assert_eq(v.type, KW_JSON_NONE); /* a key with a NUL never matches a C string */
  kw_slice arr = sl("[{\"a\":1}]");
  cr_assert_eq(kw_json_get(&arr, "a", &v), 0);
  cr_assert_eq(v.type, KW_JSON_NONE); /* top level is not an object */
  kw_slice bad = sl("{\"a\":1,}");
  cr_assert_eq(kw_json_get(&bad, "a", &v), KW_ERR_MALFORMED);
}

Test(json, string_unescape) {
  kw_slice d = sl("{\"s\":\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\uD83D\\uDE00\xc3\xa9z\"}");
  kw_json_value v;
  char buf[64];
  size_t len = 99;
  cr_assert_eq(kw_json_get(&d, "s", &v), 0);
  cr_assert_eq(kw_json_string(&v, buf, sizeof buf, &len), 0);
  const char want[] = "a\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9z";
  cr_assert_eq(len, sizeof want - 1);
  cr_assert_eq(memcmp(buf, want, sizeof want), 0);
  cr_assert_eq(kw_json_string(&v, buf, len, &len), KW_ERR_BUF_FULL); /* no room for the NUL */
  cr_assert_eq(kw_json_string(&v, buf, 0, &len), KW_ERR_BUF_FULL);
  kw_slice e = sl("\"\"");
  kw_json_value top;
  cr_assert_eq(kw_json_scan(&e, NULL, NULL, 0, NULL, &top, NULL), 0);
  cr_assert_eq(kw_json_string(&top, buf, 1, &len), 0);
  cr_assert_eq(len, 0);
  cr_assert_eq(buf[0], 0);
  kw_slice z = sl("\"a\\u0000b\"");
  cr_assert_eq(kw_json_scan(&z, NULL, NULL, 0, NULL, &top, NULL), 0);
  cr_assert_eq(kw_json_string(&top, buf, sizeof buf, &len), 0);
  cr_assert_eq(len, 3);
  cr_assert_eq(memcmp(buf, "a\0b", 4), 0);
  kw_json_value num = {KW_JSON_NUMBER, sl("1")};
  cr_assert_eq(kw_json_string(&num, buf, sizeof buf, &len), KW_ERR_INVALID_ARG);
}

Test(json, integers) {
  static const struct {
    const char *text;
    int rc;
    int64_t v;
  } c[] = {
      {"0", 0, 0},
      {"-0", 0, 0},
      {"42", 0, 42},
      {"-42", 0, -42},
      {"9223372036854775807", 0, INT64_MAX},
      {"-9223372036854775808", 0, INT64_MIN},
      {"9223372036854775808", KW_ERR_TOO_LARGE, 0},
      {"-9223372036854775809", KW_ERR_TOO_LARGE, 0},
      {"123456789012345678901234567890", KW_ERR_TOO_LARGE, 0},
      {"1.0", KW_ERR_MALFORMED, 0},
      {"1e3", KW_ERR_MALFORMED, 0},
      {"1e999999999999999999999", KW_ERR_MALFORMED, 0},
      {"-", KW_ERR_MALFORMED, 0},
  };
  for (int i = 0; i < COUNT(c); i++) {
    kw_json_value v = {KW_JSON_NUMBER, sl(c[i].text)};
    int64_t x = -1;
    cr_assert_eq(kw_json_int(&v, &x), c[i].rc, "%s", c[i].text);
    if (!c[i].rc) cr_assert_eq(x, c[i].v, "%s", c[i].text);
  }
  kw_json_value s = {KW_JSON_STRING, sl("\"1\"")};
  int64_t x;
  cr_assert_eq(kw_json_int(&s, &x), KW_ERR_MALFORMED);
}

Test(json, writer) {
  uint8_t mem[256];
  kw_buf b;
  kw_buf_init_fixed(&b, mem, sizeof mem);
  const char in[] = "a\"b\\c/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xf0\x9f\x98\x80";
  kw_json_write_string(&b, in, sizeof in - 1);
  cr_assert_eq(b.err, 0);
  /* only what must be escaped is, control characters as \u00XX */
  const char want[] = "\"a\\\"b\\\\c/\\u0008\\u000c\\u000a\\u000d\\u0009\\u0001\\u001f\x7f\xc3\xa9\xf0\x9f\x98\x80\"";
  cr_assert_eq(b.len, sizeof want - 1);
  cr_assert_eq(memcmp(mem, want, b.len), 0);
  /* reads back to the same bytes */
  kw_slice d = {mem, (int32_t)b.len};
  kw_json_value top;
  char out[64];
  size_t len;
  cr_assert_eq(kw_json_scan(&d, NULL, NULL, 0, NULL, &top, NULL), 0);
  cr_assert_eq(kw_json_string(&top, out, sizeof out, &len), 0);
  cr_assert_eq(len, sizeof in - 1);
  cr_assert_eq(memcmp(out, in, len), 0);
  /* embedded NUL, empty string */
  kw_buf_reset(&b);
  kw_json_write_string(&b, "a\0b", 3);
  kw_json_write_string(&b, "", 0);
  cr_assert_eq(b.len, strlen("\"a\\u0000b\"\"\""));
  cr_assert_eq(memcmp(mem, "\"a\\u0000b\"\"\"", b.len), 0);
  /* invalid UTF-8 is refused */
  const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "x\xff", "\xe2\x82", "\xf4\x90\x80\x80"};
  for (int i = 0; i < COUNT(bad); i++) {
    kw_buf_reset(&b);
    kw_json_write_string(&b, bad[i], strlen(bad[i]));
    cr_assert_eq(b.err, KW_ERR_INVALID_ARG, "bad %d", i);
  }
}
