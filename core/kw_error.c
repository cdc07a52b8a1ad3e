/* kw_strerror / kw_errname for the library's own (negative) error codes. */
#include "kwire.h"

const char *kw_strerror(int err) {
  switch (err) {
  case KW_OK: return "success";
#define KW_X_TEXT(name, value, text) case name: return text;
    KW_ERROR_LIST(KW_X_TEXT)
#undef KW_X_TEXT
  }
  return "unknown error";
}

const char *kw_errname(int err) {
  switch (err) {
  case KW_OK: return "KW_OK";
#define KW_X_NAME(name, value, text) case name: return #name;
    KW_ERROR_LIST(KW_X_NAME)
#undef KW_X_NAME
  }
  return "KW_ERR_UNKNOWN";
}

const char *kw_version(void) { return KWIRE_VERSION_STRING; }
