/* CMSIS-DAP v2 over TCP: the sim's front end for the station's CMSIS-DAP backend
 * (provisioner/probe_cmsisdap.c). Each CMSIS-DAP command packet, exactly as a probe receives it on
 * its USB bulk OUT endpoint, travels in a frame: "PVDA", u16 length (little endian), u8 type
 * (1 = command, 2 = response), u8 sequence (echoed in the response); docs/probes.md has the
 * details. The commands drive the SWD flavour of adiv5_dap.c, i.e. the STM32F4's SWJ-DP after a
 * JTAG-to-SWD switch; a debug port fused off by RDP Level 2 answers no transfer (ACK 0b111). */
#ifndef SIM_CMSIS_DAP_SERVER_H
#define SIM_CMSIS_DAP_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adiv5_dap.h"
#include "chip.h"
#include "tcp_server.h"

#define DAPS_PACKET_SIZE  1024u /* DAP_Info(0xFF): largest command or response packet */
#define DAPS_PACKET_COUNT 8u    /* DAP_Info(0xFE): commands a host may have in flight */
#define DAPS_HEADER       8u

struct dap_server {
    chip_t *chip;
    struct adiv5_dap dap;
    struct tcp_server srv;
    uint8_t *in; /* received bytes not yet processed (at most one frame) */
    size_t in_len;
    bool connected;      /* DAP_Connect(SWD) done */
    uint8_t idle_cycles; /* DAP_TransferConfigure */
    uint16_t wait_retry, match_retry;
    uint32_t match_mask;
    uint32_t swj_clock;
    bool srst; /* nRESET as driven by DAP_SWJ_Pins */
    bool dead_logged;
};

/* Session state without a socket. */
void daps_init(struct dap_server *d, chip_t *chip);
/* Executes one command packet; writes the response (at most DAPS_PACKET_SIZE bytes) and returns
 * its length (0: the command has no response, as DAP_TransferAbort). */
size_t daps_execute(struct dap_server *d, const uint8_t *cmd, size_t len, uint8_t *resp);

/* Socket side: listen on addr:port (0 = any free port). */
int daps_open(struct dap_server *d, chip_t *chip, const char *addr, uint16_t port, char *err,
              size_t err_len);
void daps_close(struct dap_server *d);
int daps_pollfds(const struct dap_server *d, struct pollfd *fds);
/* Serves what poll reported; true when debugger packets were processed. */
bool daps_handle(struct dap_server *d, const struct pollfd *fds, int nfds);

#endif
