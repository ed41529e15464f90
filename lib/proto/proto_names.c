/* Names of the stub's status codes and states (host side: logs, CLI messages, tests). */
#include "proto/proto.h"

const char *pv_status_name(int status)
{
    static const char *const names[] = {
        [PV_ST_OK] = "OK",
        [PV_ST_PARAM] = "PARAM: bad parameter block (magic, slot placement or size)",
        [PV_ST_RNG_CLOCK] = "RNG_CLOCK: RNG clock error (CECS), PLL48CLK missing or too slow",
        [PV_ST_RNG_SEED] = "RNG_SEED: RNG seed error (SECS) persisted after re-initialisation",
        [PV_ST_RNG_TIMEOUT] = "RNG_TIMEOUT: RNG gave no data (DRDY) in time",
        [PV_ST_RNG_REPEAT] = "RNG_REPEAT: RNG repeated a word (continuous test failed)",
        [PV_ST_CHIP] = "CHIP: chip not supported by the flash driver",
        [PV_ST_HANDSHAKE] = "HANDSHAKE: key exchange message 2 rejected (wrong trusted-side key, "
                            "or tampered)",
        [PV_ST_AUTH] = "AUTH: frame failed authentication (tampered, replayed, truncated, or from "
                       "another session)",
        [PV_ST_SEQ] = "SEQ: frame number out of order",
        [PV_ST_FRAME] = "FRAME: malformed frame (length or type)",
        [PV_ST_CMD] = "CMD: malformed command (unknown operation or bad length)",
        [PV_ST_REGION] = "REGION: address range outside the regions allowed for this session",
        [PV_ST_ALIGN] = "ALIGN: erase not on sector bounds, or write not word aligned",
        [PV_ST_ORDER] = "ORDER: command not allowed at this point of the session (RDP Level 2 or "
                        "RESET not last of the final frame, or ERASE after a write)",
        [PV_ST_NOT_VERIFIED] = "NOT_VERIFIED: RDP Level 2 requested in a session that wrote "
                               "nothing (nothing verified to lock)",
        [PV_ST_VERIFY] = "VERIFY: flash contents differ from the expected digest",
        [PV_ST_RDP_REGRESS] = "RDP_REGRESS: option change would lower read protection",
        [PV_ST_ENDED] = "ENDED: frame after the session ended or failed",
        [PV_ST_CLOCK] = "CLOCK: PLL did not lock or the system clock did not switch",
        [PV_ST_KEYSLOT] = "KEYSLOT: key slot malformed, or bound to another chip's UID",
        [PV_ST_UNVERIFIED] = "UNVERIFIED: RDP Level 2 refused: flash written in this session is "
                             "not covered by a passing verify (detail: its first address)",
        [PV_ST_RANGES] = "RANGES: more separate written flash ranges in one session than the "
                         "stub tracks (8)",
    };
    static const char *const flash[] = {
        "flash OK",
        "flash WRPERR: sector is write-protected (nWRP option bit)",
        "flash PGAERR: programming alignment",
        "flash PGPERR: programming parallelism (size differs from PSIZE)",
        "flash PGSERR: programming sequence",
        "flash OPERR: operation error",
        "flash RDERR: read of a PCROP-protected sector",
        "flash LOCKED: control register stayed locked after the key sequence",
        "flash RANGE: address or sector outside this chip's flash",
        "flash TIMEOUT: BSY did not clear within the datasheet maximum",
        "flash VERIFY: read back differs from what was programmed",
        "flash OPTLOCK: option bytes locked, or frozen by RDP Level 2",
    };
    if (status >= 0 && status < (int)(sizeof names / sizeof names[0]) && names[status])
        return names[status];
    if (status >= PV_ST_FLASH && status < PV_ST_FLASH + (int)(sizeof flash / sizeof flash[0]))
        return flash[status - PV_ST_FLASH];
    return "unknown status code";
}

const char *pv_state_name(int state)
{
    static const char *const names[] = {"NONE", "BOOT", "WAIT", "BUSY", "DONE", "FAILED"};
    if (state >= 0 && state < (int)(sizeof names / sizeof names[0]))
        return names[state];
    return "unknown state";
}
