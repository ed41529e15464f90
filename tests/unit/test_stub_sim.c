/* The real RAM stub (build/arm/stub-loader/stub.bin) in the virtual STM32F427, driven through the
 * sim's GDB server by the reference trusted side (hsm-bridge/session_*.c over
 * provisioner/probe_gdb.c): the full session (key exchange, erase, 32 KB image, key slot, verify,
 * RDP Level 2), the chip after a power cycle (debug port dead, the state file holding exactly the
 * image and the key slot), and the attacks, each leaving flash as it was. The sim runs as a
 * process on loopback; chips are state files, cloned by copying. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim_process.h"

#include "../../provisioner/install_inproc.h"
#include "common/slot_sign.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"
#include "keyslot/keyslot.h"

#define STUB_BASE     0x20000000u
#define FLASH_BASE    0x08000000u
#define FLASH_SIZE    (2048u * 1024u)
#define IMAGE_ADDR    0x08000000u
#define IMAGE_LEN     (32u * 1024u)
#define KEYSLOT_ADDR  0x0800C000u /* sector 3, next to the image's sectors 0-1 */
#define STATE_HDR     64u
#define STATE_FIXED   608u /* sim/state_file.c: fields before the flash */
#define PROBE_TIMEOUT 20000

static char tmpdir[64];
static uint8_t *stub_bin;
static size_t stub_len;
static struct pv_stub_image stub_img;
static uint8_t stub_digest[32];
static uint8_t bridge_priv[32], bridge_pub[32], other_priv[32], other_pub[32];
static uint8_t image_a[IMAGE_LEN], image_b[IMAGE_LEN];
static char chip_p[128]; /* a chip provisioned with image A at Level 0: attacks start here */
static uint8_t flash_p[FLASH_SIZE];
static uint8_t captured[PV_SLOT_MAX]; /* frame 2 of the session that made chip P */
static size_t captured_len;

/* ---- helpers ---- */

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (uint8_t)(seed >> 16);
    }
}

struct sim {
    pid_t pid;
    int port;
    char state[128];
    char log[128];
};

/* extra: more sim options (NULL-terminated, at most 4), or NULL. */
static void sim_start_ex(struct sim *s, const char *state, bool create, char *const *extra)
{
    snprintf(s->state, sizeof s->state, "%s", state);
    snprintf(s->log, sizeof s->log, "%s.log", state);
    char *args[16] = {"--state", s->state, "--gdb-port", "0", "--uid-seed", "7"};
    int n = 6;
    for (int i = 0; extra && extra[i] && i < 4; i++)
        args[n++] = extra[i];
    if (create)
        args[n++] = "--create";
    char line[256];
    s->pid = sp_start_sim(args, s->log, line, sizeof line);
    assert_true(s->pid > 0);
    s->port = sp_port(line, "gdb");
    assert_true(s->port > 0);
}

static void sim_start(struct sim *s, const char *state, bool create)
{
    sim_start_ex(s, state, create, NULL);
}

/* Power off: the sim writes the state file. */
static void sim_stop(struct sim *s)
{
    assert_int_equal(sp_stop(s->pid, 10000), 0);
    s->pid = 0;
}

static void connect_probe(const struct sim *s, pv_probe_link *l)
{
    char target[64], err[256];
    snprintf(target, sizeof target, "127.0.0.1:%d", s->port);
    int rc = pv_probe_connect(l, &pv_probe_gdb_ops, target, PROBE_TIMEOUT, err, sizeof err);
    if (rc)
        fail_msg("probe: %s", err);
}

/* The chip's flash and option bytes from its state file. */
static void read_state(const char *path, uint8_t *flash, uint32_t *optcr)
{
    size_t len;
    char *b = sp_slurp(path, &len);
    assert_non_null(b);
    assert_true(len == STATE_HDR + STATE_FIXED + FLASH_SIZE);
    assert_memory_equal(b, "STM32F427-SIMCHP", 16);
    const uint8_t *p = (const uint8_t *)b + STATE_HDR;
    assert_int_equal(pv_ld32(p), 2048);
    *optcr = pv_ld32(p + 4);
    memcpy(flash, p + STATE_FIXED, FLASH_SIZE);
    free(b);
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *b = sp_slurp(from, &len);
    assert_non_null(b);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);
}

/* The product's image-signing key (the trusted side's token in production). */
static struct test_slot_key slot_key;

static void base_install(struct pv_install *in, const uint8_t *image, uint8_t rdp)
{
    static uint8_t entropy[32];
    fill(entropy, sizeof entropy, 99);
    memset(in, 0, sizeof *in);
    in->stub = &stub_img;
    in->bridge_priv = bridge_priv;
    in->bridge_pub = bridge_pub;
    in->host_entropy = entropy;
    in->expect.stub_digest = stub_digest;
    in->expect.dev_id = 0x419;
    in->expect.flash_kb = 2048;
    in->image_addr = IMAGE_ADDR;
    in->image = image;
    in->image_len = IMAGE_LEN;
    in->keyslot_addr = KEYSLOT_ADDR;
    in->keyslot.key_id = 3;
    in->keyslot.key_version = 1;
    fill(in->keyslot.psk, 32, 5);
    memcpy(in->keyslot.signer_pub, slot_key.pub, 32);
    in->sign_slot = test_slot_sign;
    in->sign_ctx = &slot_key;
    in->rdp = rdp;
    in->psize = PV_FLASH_X32; /* the demo board: 2.7-3.6 V */
    in->nwrp = 0xFFFFFF;
    in->flags = PV_MBOX_F_CLOCK_168;
}

/* Flash must be the image at IMAGE_ADDR, this chip's key slot at KEYSLOT_ADDR, erased elsewhere. */
static void assert_provisioned(const uint8_t *flash, const uint8_t *image, const uint8_t uid[12])
{
    assert_memory_equal(flash + (IMAGE_ADDR - FLASH_BASE), image, IMAGE_LEN);
    pv_keyslot ks;
    const uint8_t *slot = flash + (KEYSLOT_ADDR - FLASH_BASE);
    assert_int_equal(pv_keyslot_decode(&ks, slot, uid), PV_KEYSLOT_OK);
    uint8_t psk[32];
    fill(psk, 32, 5);
    assert_memory_equal(ks.psk, psk, 32);
    assert_int_equal(ks.key_id, 3);
    for (size_t i = 0; i < FLASH_SIZE; i++) {
        uint32_t a = FLASH_BASE + (uint32_t)i;
        if ((a >= IMAGE_ADDR && a < IMAGE_ADDR + IMAGE_LEN) ||
            (a >= KEYSLOT_ADDR && a < KEYSLOT_ADDR + PV_KEYSLOT_LEN))
            continue;
        if (flash[i] != 0xFF)
            fail_msg("flash at 0x%08x is 0x%02x, expected erased", (unsigned)a, flash[i]);
    }
}

/* ---- blank check and parallelism, seen by the flash controller ---- */

/* Flash operations in a sim --flash-op-log: erases (their sector masks ORed, each one's
 * parallelism in bits) and programs by size in bytes; option byte commits are not counted. */
struct op_counts {
    unsigned erases, erase_bits, programs[9];
    uint32_t erased;
};

static void count_ops(const char *path, struct op_counts *c)
{
    memset(c, 0, sizeof *c);
    size_t len;
    char *b = sp_slurp(path, &len);
    assert_non_null(b);
    for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long k, mask, bits, addr, size;
        if (sscanf(line, "op %lu erase sectors %lx x%lu", &k, &mask, &bits) == 3) {
            c->erases++;
            c->erased |= (uint32_t)mask;
            if (c->erase_bits && c->erase_bits != bits)
                fail_msg("erases at x%u and x%lu in one session", c->erase_bits, bits);
            c->erase_bits = (unsigned)bits;
        } else if (sscanf(line, "op %lu program %lx %lu", &k, &addr, &size) == 3) {
            assert_true(size <= 8);
            c->programs[size]++;
        } else if (!strstr(line, " option ")) { /* the option bytes, at the end */
            fail_msg("%s: unexpected line: %s", path, line);
        }
    }
    free(b);
}

/* A factory-fresh chip: no sector is erased, the words are programmed at x32 as the trusted side
 * asked. A used chip (every sector holding old contents): exactly the granted sectors (0, 1 and
 * 3) are erased, at x16 as asked this time, and programmed a half-word per operation. Both end
 * with the image and the key slot in place, the rest of the granted sectors erased, and
 * everything outside the grant as it was. */
static void test_blank_check_and_parallelism(void **state)
{
    (void)state;
    static uint8_t before[FLASH_SIZE], after[FLASH_SIZE];
    for (int used = 0; used < 2; used++) {
        char path[128], ops[160];
        snprintf(path, sizeof path, "%s/chip_%s.state", tmpdir, used ? "used" : "fresh");
        snprintf(ops, sizeof ops, "%s.ops", path);
        struct sim s;
        char *make[] = {used ? "--used-flash" : NULL, "0xFFFFFF", NULL}; /* every sector */
        sim_start_ex(&s, path, true, make);
        sim_stop(&s);
        uint32_t optcr;
        read_state(path, before, &optcr);
        assert_int_equal(before[0x4000] == 0xFF && before[0xC000] == 0xFF, !used);
        char *log[] = {"--flash-op-log", ops, NULL};
        sim_start_ex(&s, path, false, log);
        pv_probe_link l;
        connect_probe(&s, &l);
        struct pv_install in;
        struct pv_install_result res;
        base_install(&in, image_a, 0xAA);
        in.psize = used ? PV_FLASH_X16 : PV_FLASH_X32;
        int rc = pv_session_install(&l, &in, &res);
        if (rc)
            fail_msg("install (%s chip): %s", used ? "used" : "fresh", res.err);
        pv_probe_disconnect(&l);
        sim_stop(&s);

        struct op_counts c;
        count_ops(ops, &c);
        unsigned words = (IMAGE_LEN + PV_KEYSLOT_LEN) / 4;
        if (used) {
            assert_int_equal(c.erases, 3);
            assert_int_equal(c.erased, 0x0Bu); /* sectors 0, 1, 3 */
            assert_int_equal(c.erase_bits, 16);
            assert_int_equal(c.programs[2], 2 * words);
            assert_int_equal(c.programs[4], 0);
        } else {
            assert_int_equal(c.erases, 0);
            assert_int_equal(c.programs[4], words);
            assert_int_equal(c.programs[2], 0);
        }
        assert_int_equal(c.programs[1] + c.programs[8], 0);

        read_state(path, after, &optcr);
        assert_int_equal((optcr >> 8) & 0xFF, 0xAA);
        assert_memory_equal(after, image_a, IMAGE_LEN);
        pv_keyslot ks;
        assert_int_equal(pv_keyslot_decode(&ks, after + (KEYSLOT_ADDR - FLASH_BASE), res.id.uid),
                         PV_KEYSLOT_OK);
        for (uint32_t i = KEYSLOT_ADDR - FLASH_BASE + PV_KEYSLOT_LEN; i < 0x10000; i++)
            if (after[i] != 0xFF)
                fail_msg("key slot sector at 0x%08x is 0x%02x, expected erased",
                         (unsigned)(FLASH_BASE + i), after[i]);
        /* sector 2 and everything from sector 4 on were not granted: untouched */
        assert_memory_equal(after + 0x8000, before + 0x8000, 0x4000);
        assert_memory_equal(after + 0x10000, before + 0x10000, FLASH_SIZE - 0x10000);
    }
}

/* ---- the full session ---- */

static int capture_frame2(void *ctx, uint32_t seq, uint8_t *frame, size_t *len, size_t cap)
{
    (void)ctx;
    (void)cap;
    if (seq == 2) {
        memcpy(captured, frame, *len);
        captured_len = *len;
    }
    return 0;
}

/* Chip P (image A, key slot, Level 0): the starting point of every attack. Also proves a whole
 * install ending in a plain reset, and records a frame for the replay attack. */
static int make_chip_p(void **state)
{
    (void)state;
    struct sim s;
    snprintf(chip_p, sizeof chip_p, "%s/chip_p.state", tmpdir);
    sim_start(&s, chip_p, true);
    pv_probe_link l;
    connect_probe(&s, &l);
    struct pv_install in;
    struct pv_install_result res;
    base_install(&in, image_a, 0xAA);
    in.hook = capture_frame2;
    int rc = pv_session_install(&l, &in, &res);
    if (rc)
        fail_msg("install of chip P: %s", res.err);
    pv_probe_disconnect(&l);
    sim_stop(&s);
    uint32_t optcr;
    read_state(chip_p, flash_p, &optcr);
    assert_int_equal((optcr >> 8) & 0xFF, 0xAA);
    assert_provisioned(flash_p, image_a, res.id.uid);
    assert_true(captured_len > 0);
    return 0;
}

static void test_full_session_level2(void **state)
{
    (void)state;
    char path[128];
    struct sim s;
    snprintf(path, sizeof path, "%s/chip_l2.state", tmpdir);
    sim_start(&s, path, true);
    pv_probe_link l;
    connect_probe(&s, &l);
    struct pv_probe_ident pid;
    assert_int_equal(pv_probe_identify(&l, &pid), 0);
    assert_int_equal(pid.dbgmcu_idcode & 0xFFF, 0x419);
    assert_int_equal(pid.rdp, 0xAA);
    struct pv_install in;
    struct pv_install_result res;
    base_install(&in, image_b, 0xCC);
    int rc = pv_session_install(&l, &in, &res);
    if (rc)
        fail_msg("install: %s", res.err);
    /* what the stub reported about itself is what the debugger sees */
    assert_memory_equal(res.id.uid, pid.uid, 12);
    assert_int_equal(res.id.flash_kb, 2048);
    assert_memory_equal(res.id.digest, stub_digest, 32);
    struct pv_probe_stats st;
    l.ops->stats(l.p, &st);
    print_message("full session: %u frames, %" PRIu64 " round trips, %" PRIu64 " bytes out, "
                  "%" PRIu64 " in\n",
                  res.frames, st.round_trips, st.bytes_out, st.bytes_in);
    /* the stub resets the chip into Level 2 as soon as it runs again: the debug port dies */
    uint8_t b[4];
    int rc2 = 0;
    for (int i = 0; i < 50 && rc2 == 0; i++) {
        rc2 = l.ops->read_mem(l.p, 0x20000000u, b, 4);
        if (rc2 == 0)
            usleep(20000);
    }
    assert_int_equal(rc2, PV_PROBE_ERR_DEAD);
    pv_probe_disconnect(&l);
    sim_stop(&s);

    /* power cycle: the port stays dead, the chip holds exactly image and key slot */
    sim_start(&s, path, false);
    char target[64], err[256];
    snprintf(target, sizeof target, "127.0.0.1:%d", s.port);
    rc = pv_probe_connect(&l, &pv_probe_gdb_ops, target, 5000, err, sizeof err);
    assert_int_equal(rc, PV_PROBE_ERR_DEAD);
    sim_stop(&s);
    uint32_t optcr;
    static uint8_t flash[FLASH_SIZE];
    read_state(path, flash, &optcr);
    assert_int_equal((optcr >> 8) & 0xFF, 0xCC);
    assert_provisioned(flash, image_b, pid.uid);
}

/* ---- live mode: frames written while the stub works ---- */

static void test_live_mode_session(void **state)
{
    (void)state;
    char path[128];
    struct sim s;
    snprintf(path, sizeof path, "%s/chip_live.state", tmpdir);
    copy_file(chip_p, path);
    sim_start(&s, path, false);
    pv_probe_link l;
    connect_probe(&s, &l);
    struct pv_install in;
    struct pv_install_result res;
    base_install(&in, image_b, 0xAA);
    in.live = true;
    int rc = pv_session_install(&l, &in, &res);
    if (rc)
        fail_msg("live install: %s", res.err);
    /* frames really went in while the stub was programming the previous one */
    assert_true(res.live_writes >= res.frames / 3);
    print_message("live mode: %u of %u frames written while the stub ran\n", res.live_writes,
                  res.frames);
    pv_probe_disconnect(&l);
    sim_stop(&s);
    uint32_t optcr;
    static uint8_t flash[FLASH_SIZE];
    read_state(path, flash, &optcr);
    assert_int_equal((optcr >> 8) & 0xFF, 0xAA);
    assert_provisioned(flash, image_b, res.id.uid);
}

/* ---- two installs at once in one process (the trusted side keeps no global state) ---- */

struct gang {
    pv_probe_link l;
    struct pv_install in;
    struct pv_install_result res;
    int rc;
};

static void *gang_install(void *arg)
{
    struct gang *g = arg;
    g->rc = pv_session_install(&g->l, &g->in, &g->res);
    return NULL;
}

static void test_two_installs_at_once(void **state)
{
    (void)state;
    static struct gang g[2];
    struct sim s[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/chip_gang%d.state", tmpdir, i);
        sim_start(&s[i], path, true);
        connect_probe(&s[i], &g[i].l);
        base_install(&g[i].in, i ? image_b : image_a, 0xAA);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, gang_install, &g[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        if (g[i].rc)
            fail_msg("install %d: %s", i, g[i].res.err);
        pv_probe_disconnect(&g[i].l);
        sim_stop(&s[i]);
        uint32_t optcr;
        static uint8_t flash[FLASH_SIZE];
        read_state(s[i].state, flash, &optcr);
        assert_provisioned(flash, i ? image_b : image_a, g[i].res.id.uid);
    }
}

/* ---- the same install through OpenOCD 0.12.0's GDB server (JTAG over remote_bitbang) ---- */

static void test_install_through_openocd(void **state)
{
    (void)state;
    char path[128], log[128], line[256], gdb[32], target[64], err[256];
    snprintf(path, sizeof path, "%s/chip_ocd.state", tmpdir);
    snprintf(log, sizeof log, "%s/chip_ocd.log", tmpdir);
    char *args[] = {"--state", path, "--create", "--uid-seed", "9", "--bitbang-port", "0", NULL};
    pid_t sim = sp_start_sim(args, log, line, sizeof line);
    assert_true(sim > 0);
    int gport = sp_free_port();
    snprintf(gdb, sizeof gdb, "gdb_port %d", gport);
    char *ocd[] = {"-c", "stm32f4x.cpu configure -event reset-start {}",
                   "-c", "stm32f4x.cpu configure -event reset-init {}",
                   "-c", gdb,
                   "-c", "telnet_port disabled",
                   "-c", "tcl_port disabled",
                   "-c", "init",
                   NULL};
    char ocd_log[128];
    snprintf(ocd_log, sizeof ocd_log, "%s/openocd.log", tmpdir);
    pid_t op = sp_start_openocd(sp_port(line, "bitbang"), ocd, ocd_log);
    assert_true(op > 0);
    snprintf(target, sizeof target, "127.0.0.1:%d", gport);
    pv_probe_link l;
    int rc = -1;
    for (int i = 0; i < 100 && rc; i++) { /* OpenOCD needs a moment to examine the chip */
        rc = pv_probe_connect(&l, &pv_probe_gdb_ops, target, PROBE_TIMEOUT, err, sizeof err);
        if (rc)
            usleep(100000);
    }
    if (rc)
        fail_msg("OpenOCD's GDB server: %s", err);
    struct pv_install in;
    struct pv_install_result res;
    base_install(&in, image_b, 0xAA);
    in.image_len = 8192;
    rc = pv_session_install(&l, &in, &res);
    if (rc)
        fail_msg("install through OpenOCD: %s", res.err);
    pv_probe_disconnect(&l);
    sp_stop(op, 5000);
    sim_stop(&(struct sim){.pid = sim});
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    read_state(path, flash, &optcr);
    assert_memory_equal(flash, image_b, 8192);
    pv_keyslot ks;
    assert_int_equal(pv_keyslot_decode(&ks, flash + (KEYSLOT_ADDR - FLASH_BASE), res.id.uid),
                     PV_KEYSLOT_OK);
    for (size_t i = 8192; i < 0xC000; i++)
        assert_int_equal(flash[i], 0xFF);
}

/* ---- attacks: each starts from a copy of chip P and installs image B at Level 2 ---- */

enum atk_kind {
    ATK_FLIP_BODY,  /* flip a ciphertext / handshake byte of the target frame */
    ATK_FLIP_FLAGS, /* flip the FINAL flag in the trailer (associated data) */
    ATK_TRUNCATE,   /* drop the body's last byte, trailer fixed up */
    ATK_REPLAY,     /* replace with frame 2 of the session that made chip P */
    ATK_RELABEL,    /* frame 3 relabelled as frame 2 and put in its place */
    ATK_MISPLACE,   /* frame 3 put in frame 2's slot, unchanged */
};

struct atk {
    enum atk_kind kind;
    uint32_t target;  /* frame number; 0 = the verify frame; 0xFFFF = the final frame */
    uint32_t hit;     /* the frame number actually attacked */
    size_t plain[64]; /* command bytes of each frame seen, by frame number */
};

static int atk_hook(void *ctx, uint32_t seq, uint8_t *frame, size_t *len, size_t cap)
{
    struct atk *a = ctx;
    uint8_t flags = frame[*len - 1];
    if (seq < 64)
        a->plain[seq] = *len - PV_TRAILER_LEN - PV_NOISE_TAGLEN;
    bool target =
        a->target == seq ||
        (a->target == 0 && seq > 1 && (flags & PV_FLAG_REPLY) && !(flags & PV_FLAG_FINAL)) ||
        (a->target == 0xFFFF && (flags & PV_FLAG_FINAL));
    if (a->kind == ATK_RELABEL || a->kind == ATK_MISPLACE) {
        if (seq == 2)
            return 1; /* held back: never delivered */
        if (seq != 3)
            return 0;
        a->hit = seq;
        if (a->kind == ATK_RELABEL)
            pv_st32(frame + *len - PV_TRAILER_LEN + PV_TRAILER_SEQ, 2);
        return 2; /* into frame 2's slot */
    }
    if (!target || a->hit)
        return 0;
    a->hit = seq;
    switch (a->kind) {
    case ATK_FLIP_BODY: /* inside the body: its ciphertext, tag or handshake key */
        frame[seq == 1 ? 5 : (*len - PV_TRAILER_LEN) / 2] ^= 0x10;
        break;
    case ATK_FLIP_FLAGS:
        frame[*len - 1] ^= PV_FLAG_FINAL;
        break;
    case ATK_TRUNCATE:
        memmove(frame + *len - PV_TRAILER_LEN - 1, frame + *len - PV_TRAILER_LEN, PV_TRAILER_LEN);
        (*len)--;
        pv_st16(frame + *len - PV_TRAILER_LEN + PV_TRAILER_LEN16,
                (uint16_t)(*len - PV_TRAILER_LEN));
        break;
    case ATK_REPLAY:
        assert_true(captured_len <= cap);
        memcpy(frame, captured, captured_len);
        *len = captured_len;
        break;
    default:
        break;
    }
    return 0;
}

/* Runs the attacked install on a copy of chip P; returns the stub's final status code and
 * leaves the chip's flash and OPTCR in flash/optcr. */
static int attacked_install(const char *name, struct atk *a, uint8_t *flash, uint32_t *optcr)
{
    char path[128];
    struct sim s;
    snprintf(path, sizeof path, "%s/chip_%s.state", tmpdir, name);
    copy_file(chip_p, path);
    sim_start(&s, path, false);
    pv_probe_link l;
    connect_probe(&s, &l);
    struct pv_install in;
    struct pv_install_result res;
    base_install(&in, image_b, 0xCC);
    in.hook = atk_hook;
    in.hook_ctx = a;
    int rc = pv_session_install(&l, &in, &res);
    assert_int_not_equal(rc, 0);
    assert_true(a->hit > 0);
    print_message("%s: frame %u: %s\n", name, (unsigned)a->hit, res.err);
    /* the chip is alive and still at Level 0 */
    uint8_t b[4];
    assert_int_equal(l.ops->read_mem(l.p, 0x40023C14u, b, 4), 0);
    assert_int_equal(b[1], 0xAA);
    pv_probe_disconnect(&l);
    sim_stop(&s);
    read_state(path, flash, optcr);
    assert_int_equal((*optcr >> 8) & 0xFF, 0xAA);
    return res.status.state == PV_STATE_FAILED ? res.status.status : -1;
}

/* attacked_install with a fresh attack of that kind on that target. */
static int run_attack(const char *name, struct atk *a, enum atk_kind kind, uint32_t target,
                      uint8_t *flash, uint32_t *optcr)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->target = target;
    return attacked_install(name, a, flash, optcr);
}

static void expect_unchanged(const char *name, enum atk_kind kind, uint32_t target, int status)
{
    static struct atk a;
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    assert_int_equal(run_attack(name, &a, kind, target, flash, &optcr), status);
    if (memcmp(flash, flash_p, FLASH_SIZE) != 0)
        fail_msg("%s: flash changed", name);
}

static void test_attack_tampered_message2(void **state)
{
    (void)state;
    expect_unchanged("msg2", ATK_FLIP_BODY, 1, PV_ST_HANDSHAKE);
}

static void test_attack_tampered_first_frame(void **state)
{
    (void)state;
    expect_unchanged("frame2", ATK_FLIP_BODY, 2, PV_ST_AUTH);
}

static void test_attack_tampered_trailer(void **state)
{
    (void)state;
    expect_unchanged("flags", ATK_FLIP_FLAGS, 2, PV_ST_AUTH);
}

static void test_attack_truncated_frame(void **state)
{
    (void)state;
    expect_unchanged("truncated", ATK_TRUNCATE, 2, PV_ST_AUTH);
}

static void test_attack_replay_other_session(void **state)
{
    (void)state;
    expect_unchanged("replay", ATK_REPLAY, 2, PV_ST_AUTH);
}

static void test_attack_reordered_relabelled(void **state)
{
    (void)state;
    expect_unchanged("relabel", ATK_RELABEL, 3, PV_ST_AUTH);
}

static void test_attack_reordered_misplaced(void **state)
{
    (void)state;
    expect_unchanged("misplace", ATK_MISPLACE, 3, PV_ST_SEQ);
}

/* A write frame in the middle: the frames before it are in flash, nothing of it or after it. */
static void test_attack_tampered_write_frame(void **state)
{
    (void)state;
    static struct atk a;
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    assert_int_equal(run_attack("frame3", &a, ATK_FLIP_BODY, 3, flash, &optcr), PV_ST_AUTH);
    /* frame 2 carried the erase of the image's first sector and one write inside it (a sector
     * is erased next to its first write): its data is all that may be there */
    size_t written = a.plain[2] - 2 * PV_CMD_HDR;
    assert_true(written > 0 && written < 0x4000);
    const uint8_t *img = flash + (IMAGE_ADDR - FLASH_BASE);
    assert_memory_equal(img, image_b, written);
    for (size_t i = written; i < 0x4000; i++)
        if (img[i] != 0xFF)
            fail_msg("image byte %zu written after the rejected frame", i);
    /* the sectors behind it (the image's second, the key slot's) are as they were: their
     * erases were in the rejected frame or after it */
    size_t rest = IMAGE_ADDR - FLASH_BASE + 0x4000;
    if (memcmp(flash + rest, flash_p + rest, FLASH_SIZE - rest) != 0)
        fail_msg("flash past the image's first sector changed");
}

/* The key slot + verify frame: the image is in, the key slot is not. */
static void test_attack_tampered_verify_frame(void **state)
{
    (void)state;
    static struct atk a;
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    assert_int_equal(run_attack("verify", &a, ATK_FLIP_BODY, 0, flash, &optcr), PV_ST_AUTH);
    assert_int_equal(a.plain[a.hit], PV_CMD_HDR + PV_KEYSLOT_LEN + 2 * (PV_CMD_HDR + 32));
    assert_memory_equal(flash + (IMAGE_ADDR - FLASH_BASE), image_b, IMAGE_LEN);
    for (size_t i = 0; i < PV_KEYSLOT_LEN; i++)
        assert_int_equal(flash[KEYSLOT_ADDR - FLASH_BASE + i], 0xFF);
}

/* The final frame (RDP Level 2): the chip stays at Level 0 with image and key slot. */
static void test_attack_tampered_final_frame(void **state)
{
    (void)state;
    static struct atk a;
    static uint8_t flash[FLASH_SIZE];
    uint32_t optcr;
    assert_int_equal(run_attack("final", &a, ATK_FLIP_BODY, 0xFFFF, flash, &optcr), PV_ST_AUTH);
    assert_memory_equal(flash + (IMAGE_ADDR - FLASH_BASE), image_b, IMAGE_LEN);
}

/* ---- attacks driven frame by frame ---- */

struct manual {
    struct sim s;
    pv_probe_link l;
    struct pv_session ses;
    struct pv_relay r;
    char path[128];
};

static void manual_start(struct manual *m, const char *name, const uint8_t *priv)
{
    static uint8_t entropy[32];
    uint8_t msg1[128];
    size_t n;
    snprintf(m->path, sizeof m->path, "%s/chip_%s.state", tmpdir, name);
    copy_file(chip_p, m->path);
    sim_start(&m->s, m->path, false);
    connect_probe(&m->s, &m->l);
    memset(&m->r, 0, sizeof m->r);
    assert_int_equal(pv_session_init(&m->ses, priv), 0);
    if (pv_relay_start(&m->r, &m->l, &stub_img, bridge_pub, entropy, PV_MBOX_F_CLOCK_168, msg1,
                       sizeof msg1, &n))
        fail_msg("%s", m->r.err);
    int rc = pv_session_accept(&m->ses, msg1, n, NULL);
    if (priv == bridge_priv && rc)
        fail_msg("%s", m->ses.err);
    if (priv != bridge_priv) {
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(m->ses.err, "does not open"));
    }
}

static void manual_grant(struct manual *m, uint32_t addr, uint32_t len)
{
    uint8_t frame[256];
    struct pv_region reg = {addr, len};
    int n = pv_session_grant(&m->ses, &reg, 1, frame, sizeof frame);
    assert_true(n > 0);
    assert_int_equal(pv_relay_post(&m->r, 1, frame, (size_t)n), 0);
}

/* Sends one frame of commands and returns the stub's answer (reply status if there is one). */
static int manual_frame(struct manual *m, const uint8_t *cmds, size_t len, uint8_t flags,
                        struct pv_stub_status *st)
{
    static uint8_t frame[PV_SLOT_MAX];
    uint8_t buf[PV_TRAILER_LEN + PV_MBOX_REPLY_MAX];
    uint32_t seq = m->ses.next_seq;
    int n = pv_session_seal(&m->ses, cmds, len, flags, frame, sizeof frame);
    assert_true(n > 0);
    assert_int_equal(pv_relay_post(&m->r, seq, frame, (size_t)n), 0);
    size_t rl;
    assert_int_equal(pv_relay_sync(&m->r, st, buf, sizeof buf, 24, &rl), 0);
    if (!rl)
        return -1;
    struct pv_reply rep;
    if (pv_session_open(&m->ses, buf, rl, &rep))
        fail_msg("%s", m->ses.err);
    assert_int_equal(rep.seq, seq);
    return rep.status;
}

/* Ends the session: the chip must still be at Level 0, its flash as before but for len bytes
 * of data written at addr (len 0: nothing). */
static void manual_end_written(struct manual *m, uint32_t addr, const uint8_t *data, size_t len)
{
    static uint8_t flash[FLASH_SIZE], want[FLASH_SIZE];
    uint32_t optcr;
    pv_session_end(&m->ses);
    pv_probe_disconnect(&m->l);
    sim_stop(&m->s);
    read_state(m->path, flash, &optcr);
    assert_int_equal((optcr >> 8) & 0xFF, 0xAA);
    memcpy(want, flash_p, FLASH_SIZE);
    if (len)
        memcpy(want + (addr - FLASH_BASE), data, len);
    if (memcmp(flash, want, FLASH_SIZE) != 0)
        fail_msg("%s: flash changed", m->path);
}

static void manual_end(struct manual *m)
{
    manual_end_written(m, FLASH_BASE, NULL, 0);
}

/* The stub was given the real trusted side's key; an impostor with another key cannot read
 * message 1, and whatever message 2 it makes up is refused. */
static void test_attack_wrong_trusted_key(void **state)
{
    (void)state;
    static struct manual m;
    manual_start(&m, "wrongkey", other_priv);
    uint8_t frame[32 + 16 + 16 + PV_TRAILER_LEN];
    fill(frame, sizeof frame, 77);
    pv_trailer_put(frame + sizeof frame - PV_TRAILER_LEN, 1, sizeof frame - PV_TRAILER_LEN,
                   PV_FRAME_HANDSHAKE, 0);
    assert_int_equal(pv_relay_post(&m.r, 1, frame, sizeof frame), 0);
    struct pv_stub_status st;
    uint8_t buf[256];
    size_t rl;
    assert_int_equal(pv_relay_sync(&m.r, &st, buf, sizeof buf, 24, &rl), 0);
    assert_int_equal(st.state, PV_STATE_FAILED);
    assert_int_equal(st.status, PV_ST_HANDSHAKE);
    manual_end(&m);
}

/* Regions granted: the image's sectors only; a write to the key slot's sector is refused. */
static void test_attack_write_outside_regions(void **state)
{
    (void)state;
    static struct manual m;
    uint8_t cmd[PV_CMD_HDR + 128], data[128];
    struct pv_stub_status st;
    memset(data, 0x5A, sizeof data);
    manual_start(&m, "region", bridge_priv);
    manual_grant(&m, IMAGE_ADDR, IMAGE_LEN);
    size_t n = pv_cmd_write(cmd, KEYSLOT_ADDR, data, sizeof data, PV_FLASH_X32);
    assert_int_equal(manual_frame(&m, cmd, n, PV_FLAG_REPLY, &st), PV_ST_REGION);
    assert_int_equal(st.state, PV_STATE_FAILED);
    /* one byte over the region's end is outside too (checked on a fresh session) */
    manual_end(&m);
    manual_start(&m, "region_edge", bridge_priv);
    manual_grant(&m, IMAGE_ADDR, IMAGE_LEN);
    n = pv_cmd_write(cmd, IMAGE_ADDR + IMAGE_LEN - 124, data, sizeof data, PV_FLASH_X32);
    assert_int_equal(manual_frame(&m, cmd, n, PV_FLAG_REPLY, &st), PV_ST_REGION);
    manual_end(&m);
}

/* RDP Level 2 as the final command, but before any verify: refused, option bytes untouched. */
static void test_attack_level2_before_verify(void **state)
{
    (void)state;
    static struct manual m;
    uint8_t cmd[PV_CMD_HDR];
    struct pv_stub_status st;
    manual_start(&m, "l2early", bridge_priv);
    manual_grant(&m, IMAGE_ADDR, 0x10000);
    size_t n = pv_cmd_options(cmd, 0xCC, 0xFFFFFF);
    assert_int_equal(manual_frame(&m, cmd, n, PV_FLAG_REPLY | PV_FLAG_FINAL, &st),
                     PV_ST_NOT_VERIFIED);
    assert_int_equal(st.state, PV_STATE_FAILED);
    manual_end(&m);
}

/* Data written, then a VERIFY of zero bytes (which passes), then RDP Level 2 in the final frame:
 * refused (UNVERIFIED, naming where the range not covered starts), the chip stays at Level 0
 * with the data. The same with a verify of half the data. */
static void test_attack_level2_after_empty_verify(void **state)
{
    (void)state;
    static struct manual m;
    const uint32_t erased_at = 0x08010000u; /* sector 4: erased on the provisioned chip */
    uint8_t cmd[2 * PV_CMD_HDR + 256 + 32], data[256], h[32];
    struct pv_stub_status st;
    fill(data, sizeof data, 31);
    for (int half = 0; half < 2; half++) {
        manual_start(&m, half ? "l2half" : "l2empty", bridge_priv);
        manual_grant(&m, erased_at, 0x10000);
        pv_sha256(h, data, half ? 128 : 0);
        size_t n = pv_cmd_write(cmd, erased_at, data, sizeof data, PV_FLASH_X32);
        n += pv_cmd_verify(cmd + n, erased_at, half ? 128 : 0, h);
        assert_int_equal(manual_frame(&m, cmd, n, PV_FLAG_REPLY, &st), PV_ST_OK);
        n = pv_cmd_options(cmd, 0xCC, 0xFFFFFF);
        assert_int_equal(manual_frame(&m, cmd, n, PV_FLAG_REPLY | PV_FLAG_FINAL, &st),
                         PV_ST_UNVERIFIED);
        assert_int_equal(st.state, PV_STATE_FAILED);
        assert_int_equal(st.detail, erased_at); /* the range not covered */
        manual_end_written(&m, erased_at, data, sizeof data);
    }
}

/* ---- setup ---- */

static int load_stub(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stub-loader/stub.bin", sp_arm_dir);
    stub_bin = (uint8_t *)sp_slurp(path, &stub_len);
    if (!stub_bin) {
        fprintf(stderr, "%s missing: run make first\n", path);
        return -1;
    }
    char err[256];
    if (pv_stub_image_parse(&stub_img, stub_bin, stub_len, STUB_BASE, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    pv_sha256(stub_digest, stub_bin, stub_len);
    return 0;
}

int main(void)
{
    if (!sp_install(180) || load_stub())
        return 1;
    if (!sp_make_tmpdir(tmpdir, sizeof tmpdir, "test_stub_sim"))
        return 1;
    fill(bridge_priv, 32, 1);
    fill(other_priv, 32, 2);
    pv_x25519_public(bridge_pub, bridge_priv);
    pv_x25519_public(other_pub, other_priv);
    fill(image_a, sizeof image_a, 10);
    fill(image_b, sizeof image_b, 11);
    uint8_t signer[32];
    fill(signer, sizeof signer, 6);
    if (test_slot_key_raw(&slot_key, signer))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_session_level2),
        cmocka_unit_test(test_blank_check_and_parallelism),
        cmocka_unit_test(test_live_mode_session),
        cmocka_unit_test(test_two_installs_at_once),
        cmocka_unit_test(test_install_through_openocd),
        cmocka_unit_test(test_attack_tampered_message2),
        cmocka_unit_test(test_attack_tampered_first_frame),
        cmocka_unit_test(test_attack_tampered_trailer),
        cmocka_unit_test(test_attack_truncated_frame),
        cmocka_unit_test(test_attack_tampered_write_frame),
        cmocka_unit_test(test_attack_tampered_verify_frame),
        cmocka_unit_test(test_attack_tampered_final_frame),
        cmocka_unit_test(test_attack_replay_other_session),
        cmocka_unit_test(test_attack_reordered_relabelled),
        cmocka_unit_test(test_attack_reordered_misplaced),
        cmocka_unit_test(test_attack_wrong_trusted_key),
        cmocka_unit_test(test_attack_write_outside_regions),
        cmocka_unit_test(test_attack_level2_before_verify),
        cmocka_unit_test(test_attack_level2_after_empty_verify),
    };
    int rc = cmocka_run_group_tests(tests, make_chip_p, NULL);
    test_slot_key_free(&slot_key);
    if (rc == 0 && sp_remove_tmpdir(tmpdir) != 0)
        rc = 1;
    return rc;
}
