/* KW_API marks what libkwire.so exports: the library is built with hidden visibility,
 * so only functions declared with KW_API in include/kwire/ are visible to its users. */
#ifndef KWIRE_EXPORT_H
#define KWIRE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define KW_API __attribute__((visibility("default")))
#else
#define KW_API
#endif

#endif
