/* Fuzzing the station's OpenOCD Tcl RPC reply parser (provisioner/openocd_reply.c) and its reading
 * of OpenOCD's log (provisioner/openocd_process.c: ocd_log_feed) on what OpenOCD (or whoever
 * answers in its place) sends. The first byte sets the chunk sizes the stream arrives in and the
 * access width a read_memory result is read with; every reply taken (0x1A-terminated) goes
 * through the envelope parser and, as its result, through the read_memory list and get_reg
 * parsers. The whole input is also fed to the log reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../provisioner/openocd_process.h"
#include "../provisioner/openocd_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(char *reply, unsigned seed)
{
    size_t rlen = strlen(reply);
    int code = 0, stage = 0;
    char *res = NULL;
    if (pv_ocd_parse_status(reply, &code, &stage, &res) == 0 && (res < reply || res > reply + rlen))
        abort();
    const char *list = res ? res : reply;
    static const unsigned widths[] = {8, 16, 32};
    unsigned width = widths[seed % 3];
    uint32_t count = 1 + (seed >> 2) % 64;
    uint8_t out[64 * 4 + 1];
    out[count * (width / 8)] = 0xA5; /* nothing is written past count values */
    const char *s = list;
    uint32_t k = pv_ocd_parse_words(&s, width, count, out);
    if (k > count || s < list || s > list + strlen(list) || out[count * (width / 8)] != 0xA5)
        abort();
    uint32_t v;
    if (pv_ocd_parse_reg(list, &v) == 0 && !strchr(list, ' '))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    data++, size--;
    static struct pv_ocd_rx rx; /* its buffers kept from input to input, as in a session */
    rx.in_len = 0;
    size_t off = 0, replies = 0, eoms = 0;
    for (size_t i = 0; i < size; i++)
        eoms += data[i] == PV_OCD_EOM;
    while (off < size) {
        char *at;
        size_t room;
        if (pv_ocd_rx_room(&rx, &at, &room) != 0 || room < PV_OCD_RX_CHUNK)
            abort();
        size_t k = 1 + (seed * 29u + off) % (1u + seed * 7u);
        if (k > size - off)
            k = size - off;
        memcpy(at, data + off, k);
        pv_ocd_rx_commit(&rx, k);
        off += k;
        int got;
        while ((got = pv_ocd_rx_take(&rx)) == 1) {
            replies++;
            check_reply(rx.reply, seed);
        }
        if (got != 0)
            abort();
    }
    /* Every 0x1A ends one reply, and what follows the last one stays for later. */
    if (replies != eoms || (rx.in_len && memchr(rx.in, PV_OCD_EOM, rx.in_len)))
        abort();

    static struct ocd_log log;
    memset(&log, 0, sizeof log);
    log.fd = -1;
    ocd_log_feed(&log, (const char *)data, size);
    if (log.len > PV_OCD_LOG_TAIL || log.tail[log.len] != 0 ||
        strnlen(log.errlines, sizeof log.errlines) == sizeof log.errlines)
        abort();
    (void)ocd_log_dead_port(&log, NULL);
    return 0;
}
