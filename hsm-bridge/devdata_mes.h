/* The line MES's values for one device (docs/device-data.md, "MES values"): read from the file
 * the recipe names (CSV or JSON, one row per UID) or taken from the station's request, and
 * validated against the recipe's declared fields (type, length, range, pattern). What the station
 * sends is data to check and record, never a decision: unknown fields are refused, missing ones
 * take the recipe's default or are refused. */
#ifndef PV_HSM_BRIDGE_DEVDATA_MES_H
#define PV_HSM_BRIDGE_DEVDATA_MES_H

#include <stddef.h>

#include <jansson.h>

#include "devdata_spec.h"

#define PV_MES_FILE_MAX (16u << 20) /* the largest MES file read */

/* v against f: 0, or -1 with why (what is wrong, without the field's name). */
int pv_mes_value_check(const pv_mes_field_spec *f, const char *v, char *why, size_t why_len);

/* The validated values for uid_hex (24 lowercase hex digits): source file (station ignored) or
 * station (a JSON object text; NULL or "" when the station sent none). *out gets a JSON object,
 * one member per declared field (a string for text, an integer for integer). 0, or -1 with why
 * naming the field, the source (file:line) and how to fix it. */
int pv_mes_values(const pv_devdata_spec *spec, const char *uid_hex, const char *station,
                  json_t **out, char *why, size_t why_len);

#endif
