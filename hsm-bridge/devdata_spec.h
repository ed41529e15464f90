/* What a recipe's device_data section asks for (docs/device-data.md): a serial number from a
 * counter and a format, a MAC address from a pool, and fields the line's MES supplies per UID.
 * Plain data filled by the recipe loader (recipe_devdata.c); the trusted side allocates and
 * decides the values (devdata_prepare.h). */
#ifndef PV_HSM_BRIDGE_DEVDATA_SPEC_H
#define PV_HSM_BRIDGE_DEVDATA_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define PV_DEVDATA_SPEC_FIELDS_MAX 16u
#define PV_DEVDATA_SPEC_FORMAT_MAX 128u /* a serial format (with the NUL) */
#define PV_DEVDATA_SPEC_TEXT_MAX   256u /* a pattern or a default (with the NUL) */
#define PV_DEVDATA_SERIAL_MAX      64u  /* a formatted serial (with the NUL) */

enum pv_mes_type { PV_MES_TEXT = 0, PV_MES_INTEGER = 1 };
enum pv_mes_source { PV_MES_FILE = 0, PV_MES_STATION = 1 };

typedef struct pv_mes_field_spec {
    char name[32]; /* 1..31 of [a-z0-9_], not "serial" or "mac" */
    enum pv_mes_type type;
    unsigned max_length; /* text: 1..255 characters (default 64) */
    int64_t min, max;    /* integer: inclusive bounds (default the int64 range) */
    char pattern[PV_DEVDATA_SPEC_TEXT_MAX]; /* text: POSIX extended regex the whole value must
                                               match; "" for none */
    int has_default; /* used when the MES has no row (or no value) for the UID */
    char default_value[PV_DEVDATA_SPEC_TEXT_MAX];
} pv_mes_field_spec;

typedef struct pv_devdata_spec {
    int present; /* the recipe has a device_data section */
    int has_serial;
    char serial_format[PV_DEVDATA_SPEC_FORMAT_MAX];
    char counter[64];      /* the counter's name (default: the product) */
    int64_t counter_first; /* default 1 */
    int64_t counter_last;  /* default: the largest value the format's width holds */
    int has_mac;
    uint64_t mac_first, mac_last; /* inclusive, unicast */
    unsigned n_fields;
    pv_mes_field_spec fields[PV_DEVDATA_SPEC_FIELDS_MAX];
    enum pv_mes_source mes_source;
    char mes_file[1024]; /* PV_MES_FILE: CSV or JSON, resolved against the recipe's directory */
} pv_devdata_spec;

/* The serial format language: literal printable ASCII, and
 *   {counter}      the counter's value in decimal
 *   {counter:0N}   zero-padded to N digits (N 1..18); a value wider than N is refused
 *   {product} {batch}  the recipe's names
 *   {{ and }}      a literal brace
 * Nothing else: no other braces, no control characters. Checks fmt; 0, or -1 with why (naming
 * the byte offset) set. *last gets the largest counter value the format takes. */
int pv_serial_format_check(const char *fmt, int64_t *last, char *why, size_t why_len);
/* The serial of counter value n; 0, or -1 if it does not fit out (cap) or n is wider than a
 * fixed width. */
int pv_serial_render(const char *fmt, const char *product, const char *batch, int64_t n, char *out,
                     size_t cap);
/* "02:00:00:00:10:00" (or with '-') -> 48-bit value; 0 or -1. */
int pv_mac_parse(const char *s, uint64_t *mac);

#endif
