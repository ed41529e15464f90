/* Benchmark: the bootloader's update mode installing a KB-sized application on the virtual
 * STM32F427 at 168 MHz, against a peer that plays the bridge (Noise NNpsk0 responder on OpenSSL,
 * the PSK of the key slot written here) on the sim's USART1 socket. Per phase (handshake,
 * transfer, last chunk and verify) the device's instructions, cycles, device time and the part
 * of it the flash was busy, from the sim's counters (--counters-file, refreshed by SIGUSR1 while
 * the device waits for the next frame), and the wall time; bytes on the link against image bytes;
 * core cycles per image byte outside flash busy time.
 * Usage (bench/update_device.sh passes these): update_device SIM PROVISION FW_DIR KB */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "sim_process.h"

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-update: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}
#define RSP_FAIL(...) die(__VA_ARGS__)
#include "rsp_client.h"

#include "crypto/sha256.h"
#include "host/noise_provider_openssl.h"
#include "image/layout.h"
#include "keyslot/keyslot.h"
#include "noise/noise.h"
#include "proto/update_frame.h"

#define HCLK_HZ 168000000.0

struct ctr {
    uint64_t insns, cycles, ns, flash_ns, wall_ms;
};

static pid_t sim_pid;
static char counters_path[4400];
static int usart = -1;
static uint64_t link_out, link_in, text_in; /* frame bytes each way, console text */
static uint64_t seg_len;                    /* bytes of the current segment, its delimiter too */
static pv_upd_reader rd;

static uint64_t field(const char *json, const char *key)
{
    const char *p = strstr(json, key);
    if (!p)
        die("counters file without %s: %s", key, json);
    return strtoull(p + strlen(key), NULL, 10);
}

/* The sim's counters now (the device is idle, waiting for a frame). */
static struct ctr snap(void)
{
    unlink(counters_path);
    kill(sim_pid, SIGUSR1);
    char *json = NULL;
    for (int i = 0; i < 500 && !(json = sp_slurp(counters_path, NULL)); i++)
        usleep(10000);
    if (!json)
        die("the sim wrote no counters to %s", counters_path);
    struct ctr c = {field(json, "\"instructions\": "), field(json, "\"cycles\": "),
                    field(json, "\"device_ns\": "), field(json, "\"flash_ns\": "), sp_now_ms()};
    free(json);
    return c;
}

static void send_all(const void *p, size_t n)
{
    if (write(usart, p, n) != (ssize_t)n)
        die("USART write: %s", strerror(errno));
}

static void send_frame(uint8_t type, const uint8_t *body, size_t len)
{
    static uint8_t wire[PV_UPD_WIRE_MAX];
    int n = pv_upd_frame_encode(wire, sizeof wire, type, body, len);
    if (n <= 0)
        die("frame encode: %s", pv_upd_strerror(n));
    send_all(wire, (size_t)n);
    link_out += (size_t)n;
}

/* The next frame from the device (console text counted and skipped). */
static void recv_frame(uint8_t want, uint8_t *body, size_t *len)
{
    uint64_t end = sp_now_ms() + 120000;
    for (;;) {
        uint8_t b;
        struct pollfd p = {.fd = usart, .events = POLLIN};
        if (sp_now_ms() > end || poll(&p, 1, 1000) < 0)
            die("no %s from the device", pv_upd_type_name(want));
        if (!(p.revents & POLLIN))
            continue;
        if (read(usart, &b, 1) != 1)
            die("the device's USART closed");
        pv_upd_frame f;
        int rc = pv_upd_reader_push(&rd, b, &f);
        seg_len++;
        if (b == 0) {
            /* a frame: its bytes, closing and opening delimiter; anything else was text */
            if (rc == PV_UPD_FRAME)
                link_in += seg_len + 1;
            else
                text_in += seg_len - 1;
            seg_len = 0;
        }
        if (rc == PV_UPD_FRAME) {
            if (f.type != want)
                die("got %s, wanted %s", pv_upd_type_name(f.type), pv_upd_type_name(want));
            memcpy(body, f.body, f.body_len);
            *len = f.body_len;
            return;
        }
    }
}

static bool wait_text(const char *needle, int ms)
{
    static char buf[65536];
    size_t n = sp_read_until(usart, buf, sizeof buf, needle, ms);
    return n && strstr(buf, needle);
}

static void row(const char *what, struct ctr a, struct ctr b)
{
    printf("  %-36s %11" PRIu64 " %11" PRIu64 " %10.2f %10.2f %9" PRIu64 "\n", what,
           b.insns - a.insns, b.cycles - a.cycles, (double)(b.ns - a.ns) / 1e6,
           (double)(b.flash_ns - a.flash_ns) / 1e6, b.wall_ms - a.wall_ms);
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
    if (argc != 5)
        die("usage: update_device SIM PROVISION FW_DIR KB (run bench/update_device.sh)");
    snprintf(sp_sim_bin, sizeof sp_sim_bin, "%s", argv[1]);
    const char *prov = argv[2], *fw = argv[3];
    size_t kb = strtoul(argv[4], NULL, 0);
    atexit(sp_kill_all);
    signal(SIGPIPE, SIG_IGN);
    alarm(900);

    char dir[] = "/tmp/bench_update.XXXXXX", path[4400], img[4400], key[4400], state[4400];
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    /* Version 2 of the demo application padded to the size under test (the padding is
     * transferred, written and hashed like code). */
    size_t app_len;
    snprintf(path, sizeof path, "%s/app_v2.bin", fw);
    uint8_t *app = slurp_or_die(path, &app_len);
    size_t pay = kb * 1024 - 512 - 144;
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
    size_t img_len, boot_len, v1_len;
    uint8_t *image = slurp_or_die(img, &img_len);
    snprintf(path, sizeof path, "%s/bootloader.bin", fw);
    uint8_t *boot = slurp_or_die(path, &boot_len);
    snprintf(path, sizeof path, "%s/app_v1.img", fw);
    uint8_t *v1 = slurp_or_die(path, &v1_len);

    /* The chip: bootloader, a key slot whose PSK the peer knows, version 1 booted once. */
    snprintf(state, sizeof state, "%s/chip.state", dir);
    char *create[] = {"--state",    state, "--create",     "--uid-seed", "7",
                      "--gdb-port", "0",   "--usart-port", "0",          NULL};
    char line[256];
    if ((sim_pid = sp_start_sim(create, NULL, line, sizeof line)) <= 0)
        die("sim did not start (%s)", sp_sim_bin);
    struct rsp r = {.fd = sp_connect(sp_port(line, "gdb"), 5000)};
    usart = sp_connect(sp_port(line, "usart"), 5000);
    if (r.fd < 0 || usart < 0)
        die("cannot connect to the sim");
    char uid_hex[64];
    rsp_monitor(&r, "uid", uid_hex, sizeof uid_hex);
    pv_keyslot ks = {.key_id = 1, .key_version = 1};
    for (int i = 0; i < 12; i++) {
        unsigned b;
        sscanf(uid_hex + 2 * i, "%2x", &b);
        ks.uid[i] = (uint8_t)b;
    }
    if (RAND_bytes(ks.psk, sizeof ks.psk) != 1)
        die("RAND_bytes failed");
    f = fopen(key, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    size_t n = 32;
    if (!k || EVP_PKEY_get_raw_public_key(k, ks.signer_pub, &n) != 1)
        die("cannot read the test key %s", key);
    fclose(f);
    /* the slot is signed by the same key as the images, as the trusted side signs it */
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
    rsp_flash(&r, PV_LAYOUT_DEFAULT_APP_ADDR, v1, v1_len);
    rsp_monitor(&r, "reset", NULL, 0);
    if (!wait_text("app: demo 1.0.0 running", 30000))
        die("version 1 did not boot");
    close(r.fd);
    close(usart);
    if (sp_stop(sim_pid, 10000) != 0)
        die("the sim did not power off");

    /* Power on with the core held until the USART connects; break into update mode. */
    snprintf(counters_path, sizeof counters_path, "%s/counters.json", dir);
    char *on[] = {"--state",     state, "--usart-port", "0", "--usart-wait", "--counters-file",
                  counters_path, NULL};
    if ((sim_pid = sp_start_sim(on, NULL, line, sizeof line)) <= 0)
        die("sim did not start");
    usart = sp_connect(sp_port(line, "usart"), 5000);
    if (usart < 0)
        die("cannot connect to the sim's USART");
    send_all("PVUPDATE", 8);
    if (!wait_text("update: waiting for START", 30000))
        die("no update mode after PVUPDATE");
    pv_upd_reader_init(&rd);

    uint8_t body[PV_UPD_FRAME_MAX];
    size_t len;
    struct ctr t0 = snap();
    send_frame(PV_UPD_START, NULL, 0);
    recv_frame(PV_UPD_MSG1, body, &len);
    struct ctr t1 = snap();
    uint8_t pro[PV_UPD_PROLOGUE_LEN], eph[32], pl[8], m2[PV_UPD_MSG2_LEN], off[PV_UPD_OFFER_LEN];
    pv_upd_prologue(pro, body);
    if (RAND_bytes(eph, sizeof eph) != 1)
        die("RAND_bytes failed");
    pv_noise_keys keys = {{[PV_NOISE_KEY_E] = eph, [PV_NOISE_KEY_PSK] = ks.psk}};
    pv_noise_handshake hs;
    pv_noise_cipherstate tx, rx;
    if (pv_noise_handshake_init(&hs, &pv_noise_provider_openssl, &pv_noise_pattern_NNpsk0, 0, pro,
                                sizeof pro, &keys) != PV_NOISE_OK ||
        pv_noise_handshake_read(&hs, body + PV_UPD_HELLO_LEN, PV_UPD_MSG1_NOISE_LEN, pl,
                                sizeof pl) != 0)
        die("message 1 did not verify");
    uint8_t digest[32];
    pv_sha256(digest, image, img_len);
    pv_upd_offer o = {.kind = PV_UPD_OFFER_IMAGE,
                      .chunk_units = PV_UPD_CHUNK_MAX / 256u,
                      .version = 0x02000000u,
                      .size = (uint32_t)img_len,
                      .load_addr = PV_LAYOUT_DEFAULT_APP_ADDR};
    memcpy(o.digest16, digest, 16);
    pv_upd_offer_encode(off, &o);
    if (pv_noise_handshake_write(&hs, off, sizeof off, m2, sizeof m2) != (int)sizeof m2 ||
        pv_noise_handshake_split(&hs, &tx, &rx) != PV_NOISE_OK)
        die("message 2 failed");
    send_frame(PV_UPD_MSG2, m2, sizeof m2);
    recv_frame(PV_UPD_READY, body, &len);
    struct ctr t2 = snap(), t3 = t2;
    static uint8_t pt[4 + PV_UPD_CHUNK_MAX], ct[PV_UPD_DATA_MAX];
    for (size_t at = 0; at < img_len; at += PV_UPD_CHUNK_MAX) {
        size_t c = img_len - at < PV_UPD_CHUNK_MAX ? img_len - at : PV_UPD_CHUNK_MAX;
        bool last = at + c == img_len;
        if (last)
            t3 = snap();
        pv_upd_put32(pt, (uint32_t)at);
        memcpy(pt + 4, image + at, c);
        int m = pv_noise_cipher_encrypt(&tx, NULL, 0, pt, 4 + c, ct, sizeof ct);
        if (m < 0)
            die("encrypt failed");
        send_frame(PV_UPD_DATA, ct, (size_t)m);
        recv_frame(last ? PV_UPD_REPORT : PV_UPD_ACK, body, &len);
    }
    struct ctr t4 = snap();
    uint8_t rep[PV_UPD_REPORT_LEN];
    pv_upd_report res;
    if (pv_noise_cipher_decrypt(&rx, NULL, 0, body, len, rep, sizeof rep) !=
            (int)PV_UPD_REPORT_LEN ||
        pv_upd_report_decode(&res, rep) != PV_UPD_OK || res.result != PV_UPD_INSTALLED)
        die("the update did not install");

    printf("bench-update: bootloader installing a %zu KB application (%zu-byte image, "
           "%u-byte DATA chunks) over USART1 on the virtual STM32F427 at 168 MHz\n",
           kb, img_len, PV_UPD_CHUNK_MAX);
    printf("  %-36s %11s %11s %10s %10s %9s\n", "phase", "instr", "cycles", "device ms", "flash ms",
           "wall ms");
    row("handshake: HELLO, e, message 1", t0, t1);
    row("handshake: message 2 (ee), OFFER", t1, t2);
    row("transfer: decrypt, erase, program", t2, t3);
    row("last chunk, verify, floor, REPORT", t3, t4);
    row("whole update", t0, t4);
    size_t moved = img_len - (img_len - 1) % PV_UPD_CHUNK_MAX - 1; /* bytes before the last */
    double busy = (double)(t3.flash_ns - t2.flash_ns) * HCLK_HZ / 1e9;
    printf("  transfer: %.1f core cycles per image byte outside flash busy time (decrypt, CRC,"
           " COBS, copy); %.1f instructions per byte in all (busy-wait polling included)\n",
           ((double)(t3.cycles - t2.cycles) - busy) / (double)moved,
           (double)(t3.insns - t2.insns) / (double)moved);
    printf("  verify: %.1f core cycles per image byte (two SHA-256 passes and one Ed25519 verify "
           "over the whole image)\n",
           (double)(t4.cycles - t3.cycles) / (double)img_len);
    printf("  link: %" PRIu64 " frame bytes to the device, %" PRIu64 " from it (%" PRIu64
           " console text bytes besides): %.4f link bytes per image byte "
           "(goal <= 1.05)\n",
           link_out, link_in, text_in, (double)(link_out + link_in) / (double)img_len);
    close(usart);
    sp_kill_all();
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "bench-update: could not remove %s\n", dir);
    free(big);
    free(app);
    free(image);
    free(boot);
    free(v1);
    return 0;
}
