/* kwire: a Kafka client library in plain C11. Umbrella header. */
#ifndef KWIRE_H
#define KWIRE_H

#include "kwire/export.h"
#include "kwire/error.h"
#include "kwire/mem.h"
#include "kwire/config.h"
#include "kwire/client.h"
#include "kwire/admin.h"
#include "kwire/consumer.h"
#include "kwire/event.h"
#include "kwire/stats.h"

#define KWIRE_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, e.g. "0.1.0". */
KW_API const char *kw_version(void);

#ifdef __cplusplus
}
#endif
#endif
