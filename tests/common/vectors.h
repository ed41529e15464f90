/* Test-time access to the published vectors in ../shared/testdata (never copied into the tree). */
#ifndef PV_TESTS_VECTORS_H
#define PV_TESTS_VECTORS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Directory holding the vectors: $PV_TESTDATA, else ../shared/testdata. */
const char *tv_dir(void);

/* Parse <tv_dir>/<relpath>; aborts the test program with a clear message if missing or bad. */
json_t *tv_load(const char *relpath);

/* Decode a hex string into a fresh malloc'd buffer (never NULL, even for ""); *len gets the size.
 * Aborts on malformed hex. */
uint8_t *tv_hex(const char *hex, size_t *len);

/* tv_hex of the string member `key` of obj; aborts if absent. */
uint8_t *tv_hex_field(const json_t *obj, const char *key, size_t *len);

/* 1 if the Wycheproof test's "flags" array contains flag. */
int tv_has_flag(const json_t *test, const char *flag);

/* Wycheproof verdicts. */
enum tv_result { TV_VALID, TV_INVALID, TV_ACCEPTABLE };
enum tv_result tv_result(const json_t *test);

#endif
