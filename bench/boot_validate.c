/* Benchmark: what the bootloader spends validating a 256 KB application on the virtual
 * STM32F427 at 168 MHz, from the sim's own counters (`monitor counters`): instructions, core
 * cycles and device time, split into header parse, SHA-256 of header and payload, and the
 * Ed25519 signature check, plus the whole reset-to-jump time. The chip is programmed over the
 * sim's GDB server and stopped at hardware breakpoints on the bootloader's functions.
 * Usage (bench/boot_validate.sh passes these): boot_validate SIM PROVISION FW_DIR KB
 *   SYM_boot_check_image SYM_pv_image_verify SYM_pv_ed25519_verify SYM_plat_jump */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sim_process.h"

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-boot: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}
#define RSP_FAIL(...) die(__VA_ARGS__)
#include "rsp_client.h"

#include "image/layout.h"
#include "keyslot/keyslot.h"

struct ctr {
    uint64_t insns, cycles, ns;
};

static struct ctr counters(struct rsp *r)
{
    char text[1024];
    rsp_monitor(r, "counters", text, sizeof text);
    struct ctr c;
    const char *i = strstr(text, "instructions="), *y = strstr(text, "cycles="),
               *n = strstr(text, "device_ns=");
    if (!i || !y || !n)
        die("monitor counters said: %s", text);
    c.insns = strtoull(i + 13, NULL, 10);
    c.cycles = strtoull(y + 7, NULL, 10);
    c.ns = strtoull(n + 10, NULL, 10);
    return c;
}

/* Runs to the breakpoint at addr (removing it afterwards); returns the counters there. */
static struct ctr run_to(struct rsp *r, uint32_t addr)
{
    rsp_break(r, addr, 1);
    rsp_continue(r, 120000);
    uint32_t pc = rsp_reg(r, 15);
    if ((pc & ~1u) != (addr & ~1u))
        die("stopped at 0x%08x, expected the breakpoint at 0x%08x", pc, addr);
    rsp_break(r, addr, 0);
    return counters(r);
}

static void row(const char *what, struct ctr a, struct ctr b)
{
    uint64_t i = b.insns - a.insns, c = b.cycles - a.cycles, ns = b.ns - a.ns;
    printf("  %-50s %10" PRIu64 " %10" PRIu64 " %9.3f ms\n", what, i, c, (double)ns / 1e6);
}

static uint8_t *slurp_or_die(const char *path, size_t *len)
{
    uint8_t *b = (uint8_t *)sp_slurp(path, len);
    if (!b)
        die("cannot read %s (make firmware first)", path);
    return b;
}

int main(int argc, char **argv)
{
    if (argc != 9)
        die("usage: boot_validate SIM PROVISION FW_DIR KB SYM... (run bench/boot_validate.sh)");
    snprintf(sp_sim_bin, sizeof sp_sim_bin, "%s", argv[1]);
    const char *prov = argv[2], *fw = argv[3];
    size_t kb = strtoul(argv[4], NULL, 0);
    uint32_t sym_check = (uint32_t)strtoul(argv[5], NULL, 0),
             sym_verify = (uint32_t)strtoul(argv[6], NULL, 0),
             sym_ed = (uint32_t)strtoul(argv[7], NULL, 0),
             sym_jump = (uint32_t)strtoul(argv[8], NULL, 0);
    atexit(sp_kill_all);
    signal(SIGPIPE, SIG_IGN);
    alarm(300);

    char dir[] = "/tmp/bench_boot.XXXXXX", path[4400], img[4400], key[4400];
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    /* The demo application padded to the size under test (the padding is hashed like code). */
    size_t app_len;
    snprintf(path, sizeof path, "%s/app_v2.bin", fw);
    uint8_t *app = slurp_or_die(path, &app_len);
    size_t pay = kb * 1024;
    if (app_len > pay)
        die("%zu KB is smaller than the demo application", kb);
    uint8_t *big = malloc(pay);
    memcpy(big, app, app_len);
    for (size_t i = app_len; i < pay; i++)
        big[i] = (uint8_t)(i * 131u + 7u);
    snprintf(path, sizeof path, "%s/app_%zuk.bin", dir, kb);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(big, 1, pay, f) != pay || fclose(f) != 0)
        die("cannot write %s", path);
    snprintf(img, sizeof img, "%s/app_%zuk.img", dir, kb);
    snprintf(key, sizeof key, "%s/keys/test-signer.pem", fw);
    char *sign[] = {(char *)(uintptr_t)prov,
                    "image",
                    "sign",
                    "--key",
                    key,
                    "--image-version",
                    "2.0.0",
                    "--in",
                    path,
                    "--out",
                    img,
                    NULL};
    pid_t p = sp_spawn(sign, NULL, NULL);
    if (p <= 0 || sp_wait(p, 60000) != 0)
        die("provision image sign failed for %s", path);
    size_t img_len, boot_len;
    uint8_t *image = slurp_or_die(img, &img_len);
    snprintf(path, sizeof path, "%s/bootloader.bin", fw);
    uint8_t *boot = slurp_or_die(path, &boot_len);

    /* The chip: bootloader, this chip's key slot, the image. */
    snprintf(path, sizeof path, "%s/chip.state", dir);
    char *args[] = {"--state", path, "--create", "--uid-seed", "7", "--gdb-port", "0", NULL};
    char line[256];
    if (sp_start_sim(args, NULL, line, sizeof line) <= 0)
        die("sim did not start (%s)", sp_sim_bin);
    struct rsp r = {.fd = sp_connect(sp_port(line, "gdb"), 5000)};
    if (r.fd < 0)
        die("cannot connect to the sim's GDB server");
    char uid_hex[64];
    rsp_monitor(&r, "uid", uid_hex, sizeof uid_hex);
    pv_keyslot ks = {.key_id = 1, .key_version = 1};
    for (int i = 0; i < 12; i++) {
        unsigned b;
        sscanf(uid_hex + 2 * i, "%2x", &b);
        ks.uid[i] = (uint8_t)b;
    }
    f = fopen(key, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    size_t n = 32;
    if (!k || EVP_PKEY_get_raw_public_key(k, ks.signer_pub, &n) != 1)
        die("cannot read the test key %s", key);
    fclose(f);
    /* the slot is signed by the same key as the image, as the trusted side signs it */
    uint8_t slot[PV_KEYSLOT_LEN], tbs[PV_KEYSLOT_TBS_LEN], sig[64];
    pv_keyslot_tbs(tbs, &ks);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    n = sizeof sig;
    if (!mc || EVP_DigestSignInit(mc, NULL, NULL, NULL, k) != 1 ||
        EVP_DigestSign(mc, sig, &n, tbs, sizeof tbs) != 1)
        die("cannot sign the key slot with %s", key);
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(k);
    pv_keyslot_encode(slot, &ks, sig);
    rsp_monitor(&r, "reset halt", NULL, 0);
    rsp_flash(&r, PV_LAYOUT_DEFAULT_BOOT_ADDR, boot, boot_len);
    rsp_flash(&r, PV_LAYOUT_DEFAULT_KEYSLOT_ADDR, slot, sizeof slot);
    rsp_flash(&r, PV_LAYOUT_DEFAULT_APP_ADDR, image, img_len);

    /* Reset, then stop at each step of the validation. */
    rsp_monitor(&r, "reset halt", NULL, 0);
    struct ctr reset = counters(&r);
    struct ctr check = run_to(&r, sym_check);
    uint32_t ret = rsp_reg(&r, 14);
    struct ctr verify = run_to(&r, sym_verify);
    struct ctr ed = run_to(&r, sym_ed);
    struct ctr done = run_to(&r, ret);
    uint32_t rc = rsp_reg(&r, 0);
    struct ctr jump = run_to(&r, sym_jump);
    if (rc != 0)
        die("boot_check_image returned %d: the image was refused", (int)rc);

    double ms = (double)(done.ns - check.ns) / 1e6;
    printf("bench-boot: bootloader validating a %zu KB application (%zu-byte image) on the "
           "virtual STM32F427 at 168 MHz\n",
           kb, img_len);
    printf("  %-50s %10s %10s %12s\n", "step", "instr", "cycles", "device time");
    row("reset -> boot_check_image (clock, UART, key slot)", reset, check);
    row("header and TLV parse (+ console line)", check, verify);
    row("SHA-256 of header + payload, key hash", verify, ed);
    row("Ed25519 verify + vector table check", ed, done);
    row("validation total (boot_check_image)", check, done);
    row("rollback floor raise, flash lock, jump", done, jump);
    row("reset -> jump to the application", reset, jump);
    printf("  SHA-256: %.1f instructions per byte; validation throughput %.1f MB/s\n",
           (double)(ed.insns - verify.insns) / (double)pay,
           (double)pay / 1e6 / ((double)(done.ns - check.ns) / 1e9));
    printf("bench-boot: goal <= 50 ms to validate 256 KB at 168 MHz: %.2f ms for %zu KB (%s)\n", ms,
           kb, kb == 256 ? (ms <= 50.0 ? "met" : "NOT met") : "scale to 256 KB");
    close(r.fd);
    sp_kill_all();
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "bench-boot: could not remove %s\n", dir);
    free(big);
    free(app);
    free(image);
    free(boot);
    return 0;
}
