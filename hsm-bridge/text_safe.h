/* Text that came from outside (a station's failure reason, a name in a crafted database row)
 * made safe where people and programs read it: a terminal (`ledger list`), a log line, a
 * spreadsheet (the CSV export). One rule for names, one escape for display, one CSV cell
 * (docs/ledger.md, "Text on output").
 *
 *  - names (stations, batches, products): 1..63 of A-Z a-z 0-9 . _ - (printable ASCII, no
 *    space), checked where they enter;
 *  - display: every control byte (0x00-0x1f, 0x7f), every C1 control (U+0080-U+009F, which
 *    some terminals obey like ESC [) and every byte that is not part of valid UTF-8 is written
 *    as the four characters \xNN; other text, UTF-8 included, is kept;
 *  - CSV: the display escape, then a cell starting with = + - @ (or a tab or CR, escaped
 *    already) gets a leading ' so a spreadsheet reads it as text, not a formula (OWASP "CSV
 *    injection"), then RFC 4180 quoting where a comma, quote or space at either end needs it. */
#ifndef PV_HSM_BRIDGE_TEXT_SAFE_H
#define PV_HSM_BRIDGE_TEXT_SAFE_H

#include <stddef.h>
#include <stdio.h>

#define PV_NAME_MAX 64u /* a name's bytes with its NUL */

/* 1 if s is 1 to PV_NAME_MAX - 1 of A-Z a-z 0-9 . _ - */
int pv_text_name_ok(const char *s);

/* The rule as a phrase for messages: "1 to 63 of A-Z a-z 0-9 . _ -". */
#define PV_NAME_RULE "1 to 63 of A-Z a-z 0-9 . _ -"

/* Writes in, escaped for display, into out (always NUL-terminated; an escape is never cut in
 * half: text that does not fit is dropped whole). Returns out. */
char *pv_text_escape(const char *in, char *out, size_t cap);

/* Whether in needs pv_text_escape (holds a byte it would change). */
int pv_text_needs_escape(const char *in);

/* Writes one CSV cell (no separator): escaped, formula-neutralised, quoted when needed. 0, or
 * -1 when out of memory. */
int pv_text_csv_cell(FILE *out, const char *in);

#endif
