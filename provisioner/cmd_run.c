/* `provision run`: one device, end to end (ARCHITECTURE.md, "One device on a production line").
 *
 * Everything that can refuse without touching the chip comes first (recipe, token and keys,
 * sealed image, ledger file, probe, the chip's identity, the ledger's reservation), so a refusal
 * leaves flash and ledger as they were. The ledger records keyed before the session, written
 * and verified after the stub's verify passed and before the lock is sent, and locked only once
 * the lock is confirmed from outside (the debug port is dead, or RDP reads Level 2). Any failure
 * after the reservation is recorded with its phase; the chip is never locked without a verified
 * record, so a rerun resumes the same row without counting the device twice. One gap no station
 * closes alone: dying after the lock and before `locked` is recorded leaves a dead debug port
 * and a row at verified; the rerun exits 6 naming this station's pending rows, and a person
 * confirms one (provision ledger confirm-locked, docs/ledger.md "A lock the ledger missed"). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../hsm-bridge/keystore.h"
#include "../hsm-bridge/ledger.h"
#include "install_inproc.h"
#include "commands.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "image/image.h"
#include "image/layout.h"
#include "../hsm-bridge/keys_config.h"
#include "../hsm-bridge/recipe.h"
#include "run_report.h"
#include "station.h"

#define LOCK_CONFIRM_MS 5000
#define GANG_MAX        16 /* chips one run provisions at once (one --probe each) */
/* TEST ONLY, and only in the test build of provision (tests/provision-hooks, built with
 * -DPV_TEST_HOOKS): "after-lock" makes the process die by SIGKILL once the lock is confirmed and
 * before the ledger records it, as a station crash or power cut of the station there would. The
 * provision that `make` builds has no such hook. */
#define TEST_CRASH_ENV "PROVISION_TEST_CRASH_AT"
#define PENDING_MAX    8 /* rows named in the dead-port message */

struct run {
    /* options */
    const char *recipe_path, *ledger_path, *station, *pin_file, *module;
    int allow_plain;
    struct pv_station_probe sp;
    /* state */
    pv_recipe rc;
    struct pv_run_report rep;
    pv_keystore *ks;
    pv_ledger *ledger;
    char audit_key_id[PV_LEDGER_KEY_ID_LEN]; /* fingerprint of the audit key signing entries */
    pv_probe_link link;
    struct pv_probe_ident id;
    uint8_t *stub, *image, *app; /* app: the recipe's signed application, or NULL */
    size_t stub_len, image_len, app_len;
    int reserved; /* the ledger has a row for id.uid: failures go there */
    struct pv_install_result res;
    char station_buf[64];
    char err[4096];
};

static void help(FILE *out)
{
    fprintf(out,
            "usage: provision run --recipe FILE [options]\n\n"
            "Provisions the one chip on the probe: checks it against the recipe, reserves it in\n"
            "the ledger, derives its key in the token, installs the bootloader and key slot\n"
            "through the RAM stub's encrypted session, and locks it (the recipe's RDP level).\n"
            "With several --probe options, the chips on all of them at once (gang programming).\n\n"
            "options:\n"
            "  --recipe FILE        the product recipe (docs/recipes.md)\n"
            "  --probe TARGET       where the chip is, over the recipe's probe section:\n"
            "                       gdb:HOST:PORT, openocd (start OpenOCD from the recipe),\n"
            "                       openocd:HOST:PORT (attach to its Tcl port),\n"
            "                       cmsis-dap:usb[:SERIAL], cmsis-dap:tcp:HOST:PORT, or\n"
            "                       HOST:PORT for the recipe's backend; repeat it for a gang\n"
            "                       of up to 16 chips, each line then tagged [TARGET]\n"
            "  -c, --openocd-command CMD\n"
            "                       extra OpenOCD command before the target configuration\n"
            "                       (e.g. \"remote_bitbang port 3335\"); repeatable\n"
            "  --ledger DB          the ledger (default $%s, else %s)\n"
            "  --station ID         this station's name in the ledger (default: host name)\n"
            "  --pin-file FILE      the token's user PIN (default: $PROVISION_PIN)\n"
            "  --module LIB         the PKCS#11 module (default: SoftHSM2's; it reads\n"
            "                       $SOFTHSM2_CONF for its token directory)\n"
            "  --allow-plain-image  development: accept a bootloader image not sealed at rest\n"
            "  --json               one JSON object per device on stdout (for MES systems)\n"
            "  --quiet              no progress lines\n"
            "  -h, --help           this text\n\n"
            "exit status: 0 provisioned; 1 recipe or image not valid; 2 bad command line;\n"
            "3 file unreadable; 4 token, PIN or key missing; 5 wrong chip for the recipe;\n"
            "6 chip already locked or provisioned; 7 batch quota used up; 8 probe unreachable\n"
            "or failing; 9 install session failed (chip left unlocked, rerun); 10 ledger error.\n"
            "A gang exits 0 when every chip is done, otherwise with the first failing chip's\n"
            "status (in --probe order).\n",
            PV_LEDGER_ENV, PV_LEDGER_DEFAULT_PATH);
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "provision run: %s%s%s (see provision run --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return PV_EXIT_USAGE;
}

/* Records err as a failure of phase (if the device has a row) and returns code. */
static int fail(struct run *r, int code, const char *phase)
{
    if (r->reserved && r->ledger && pv_ledger_fail(r->ledger, r->id.uid, phase, r->err) != 0)
        fprintf(stderr, "provision run: the ledger did not record the failure: %s\n",
                pv_ledger_error(r->ledger));
    return code;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL &&
            fread(b, 1, (size_t)n, f) != (size_t)n) {
            free(b);
            b = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return b;
}

/* A file sealed at rest starts with the keystore's magic (docs/keystore.md: "PVSEAL1\0");
 * anything else is a plain image. */
static int is_sealed(const uint8_t *b, size_t n)
{
    return n >= 8 && memcmp(b, "PVSEAL1", 8) == 0;
}

/* Reads an image the recipe names: sealed at rest (opened in memory with the token's at-rest key)
 * or, with --allow-plain-image only, plain. what: "bootloader" or "application". */
/* A gang's chips open the token one at a time: SoftHSM2's file store fails opens that overlap
 * in several processes ("no token labelled ...", CKR_GENERAL_ERROR at C_Login). The turn is a
 * byte in a pipe the gang's processes share; a process that does not give it back within 30 s
 * (it died) no longer holds up the others. Outside a gang both are no-ops. */
static int token_turn[2] = {-1, -1};

static void token_turn_take(void)
{
    if (token_turn[0] < 0)
        return;
    struct pollfd pfd = {.fd = token_turn[0], .events = POLLIN};
    char b;
    while (poll(&pfd, 1, 30000) < 0 && errno == EINTR)
        ;
    if (pfd.revents & POLLIN)
        (void)!read(token_turn[0], &b, 1);
}

static void token_turn_give(void)
{
    if (token_turn[1] >= 0)
        (void)!write(token_turn[1], "t", 1);
}

static int load_image(struct run *r, const char *path, const char *what, uint8_t **out,
                      size_t *out_len)
{
    size_t n = 0;
    uint8_t *raw = slurp(path, &n);
    if (!raw) {
        snprintf(r->err, sizeof r->err, "cannot read the %s image %s (%s.image)", what, path, what);
        return PV_EXIT_IO;
    }
    if (!is_sealed(raw, n)) {
        if (!r->allow_plain) {
            free(raw);
            snprintf(r->err, sizeof r->err,
                     "%s image %s is not sealed at rest: seal it with `provision keys "
                     "seal` (or, for development only, pass --allow-plain-image)",
                     what, path);
            return PV_EXIT_INVALID;
        }
        pv_run_note(&r->rep,
                    "warning: using the PLAIN %s image %s (--allow-plain-image; "
                    "development only)",
                    what, path);
        *out = raw;
        *out_len = n;
        return 0;
    }
    pv_wipe(raw, n);
    free(raw);
    if (pv_keystore_open_sealed(r->ks, path, out, out_len)) {
        snprintf(r->err, sizeof r->err, "%s image %s: %s", what, path, pv_keystore_error(r->ks));
        return PV_EXIT_KEY;
    }
    return 0;
}

/* The application must be one the bootloader will boot: a well-formed image for the layout's
 * application region, signed by the token's image-signing key (the key slot's signer_pub). */
static int load_application(struct run *r)
{
    if (!r->rc.application.present)
        return 0;
    int ex = load_image(r, r->rc.application.image, "application", &r->app, &r->app_len);
    if (ex)
        return ex;
    uint8_t pub[32];
    pv_image img;
    int rc = pv_image_parse(&img, r->app, r->app_len, r->rc.layout.app_addr);
    if (rc == PV_IMAGE_OK && r->app_len > r->rc.layout.app_size)
        rc = PV_IMAGE_ERR_IMG_SIZE;
    if (rc == PV_IMAGE_OK) {
        if (pv_keystore_signer_public(r->ks, pub)) {
            snprintf(r->err, sizeof r->err, "%s", pv_keystore_error(r->ks));
            return PV_EXIT_KEY;
        }
        rc = pv_image_verify(&img, pub);
    }
    if (rc != PV_IMAGE_OK) {
        snprintf(r->err, sizeof r->err,
                 "application image %s (application.image) would not boot: %s; sign it with "
                 "`provision image sign` and the token's image-signing key",
                 r->rc.application.image, pv_image_strerror(rc));
        return PV_EXIT_INVALID;
    }
    char v[14];
    pv_image_version_str(v, img.hdr.version);
    pv_run_note(&r->rep, "application %s: version %s, %zu bytes at 0x%08x, signature valid",
                r->rc.application.image, v, r->app_len, (unsigned)r->rc.layout.app_addr);
    return 0;
}

static int layout_equal(const pv_layout *a, const pv_layout *b)
{
    return a->boot_addr == b->boot_addr && a->boot_size == b->boot_size &&
           a->keyslot_addr == b->keyslot_addr && a->keyslot_size == b->keyslot_size &&
           a->counter_addr == b->counter_addr && a->counter_size == b->counter_size &&
           a->app_addr == b->app_addr && a->app_size == b->app_size;
}

/* Recipe, token, images: nothing here touches the chip or the ledger. */
static int load(struct run *r)
{
    pv_recipe_diags d;
    int st = pv_recipe_load(r->recipe_path, PV_RECIPE_CHECK_FILES, &r->rc, &d);
    if (st != PV_RECIPE_OK) {
        pv_recipe_diags_print(stderr, &d);
        pv_recipe_diags_free(&d);
        snprintf(r->err, sizeof r->err, "recipe %s %s", r->recipe_path,
                 st == PV_RECIPE_UNREADABLE ? "cannot be read" : "is not valid (errors above)");
        return st == PV_RECIPE_UNREADABLE ? PV_EXIT_IO : PV_EXIT_INVALID;
    }
    pv_recipe_diags_free(&d);
    snprintf(r->rep.batch, sizeof r->rep.batch, "%s", r->rc.batch);
    snprintf(r->rep.recipe, sizeof r->rep.recipe, "%s", r->rc.name);
    pv_station_hex(r->rep.recipe_sha256, r->rc.digest, 32);
    if (!r->rc.keys.audit_key[0]) {
        snprintf(r->err, sizeof r->err,
                 "recipe %s: keys.audit_key is missing: the ledger's audit entries must be signed "
                 "by a key in the token (e.g. audit_key: ledger-audit)",
                 r->recipe_path);
        return PV_EXIT_INVALID;
    }

    struct pv_keys_config kc;
    char kerr[512];
    if (pv_keys_config_init(&kc, &r->rc, r->module, r->pin_file, 0, kerr, sizeof kerr)) {
        snprintf(r->err, sizeof r->err, "%s", kerr);
        return PV_EXIT_KEY;
    }
    token_turn_take();
    r->ks = pv_keystore_open(&kc.cfg, kerr, sizeof kerr);
    token_turn_give();
    pv_keys_config_wipe(&kc);
    if (!r->ks) {
        snprintf(r->err, sizeof r->err, "%s", kerr);
        return PV_EXIT_KEY;
    }

    if (!(r->stub = slurp(r->rc.stub.image, &r->stub_len))) {
        snprintf(r->err, sizeof r->err, "cannot read the stub %s (stub.image): build it with make",
                 r->rc.stub.image);
        return PV_EXIT_IO;
    }
    int ex = load_image(r, r->rc.bootloader.image, "bootloader", &r->image, &r->image_len);
    if (ex)
        return ex;
    /* the layout table the bootloader will follow is the recipe's */
    pv_layout have;
    if (r->image_len < PV_LAYOUT_OFFSET + PV_LAYOUT_LEN ||
        pv_layout_decode(&have, r->image + PV_LAYOUT_OFFSET) != 0) {
        snprintf(r->err, sizeof r->err,
                 "bootloader image %s has no layout table at offset 0x%x: not a pvboot image",
                 r->rc.bootloader.image, PV_LAYOUT_OFFSET);
        return PV_EXIT_INVALID;
    }
    if (!layout_equal(&have, &r->rc.layout)) {
        pv_layout_encode(r->image + PV_LAYOUT_OFFSET, &r->rc.layout);
        pv_run_note(&r->rep, "layout table of the bootloader patched from the recipe");
    }
    if (r->image_len > r->rc.layout.boot_size) {
        snprintf(r->err, sizeof r->err,
                 "bootloader image is %zu bytes, larger than layout.bootloader.size 0x%x",
                 r->image_len, (unsigned)r->rc.layout.boot_size);
        return PV_EXIT_INVALID;
    }
    uint8_t dig[32];
    pv_sha256(dig, r->image, r->image_len);
    pv_station_hex(r->rep.image_sha256, dig, 32);
    if ((ex = load_application(r)) != 0)
        return ex;

    const char *lp = r->ledger_path ? r->ledger_path : getenv(PV_LEDGER_ENV);
    if (!lp || !*lp)
        lp = PV_LEDGER_DEFAULT_PATH;
    r->ledger = pv_ledger_open(lp, PV_LEDGER_CREATE, kerr, sizeof kerr);
    if (!r->ledger) {
        snprintf(r->err, sizeof r->err, "ledger %s: %s", lp, kerr);
        return PV_EXIT_LEDGER;
    }
    if (pv_keys_audit_key_id(r->ks, r->audit_key_id) != 0) {
        snprintf(r->err, sizeof r->err, "%s", pv_keystore_error(r->ks));
        return PV_EXIT_KEY;
    }
    pv_ledger_signer sig = {
        .key_id = r->audit_key_id, .sign = pv_keystore_audit_sign, .ctx = r->ks};
    pv_ledger_set_signer(r->ledger, &sig);
    return 0;
}

static int probe_exit(int rc)
{
    return rc == PV_PROBE_ERR_DEAD ? PV_EXIT_LOCKED : PV_EXIT_PROBE;
}

/* A dead debug port may be a chip this station locked in a run that died before the ledger said
 * so (the row stays at verified). The station cannot read a locked chip's UID, so it can only
 * name the candidates: this batch's rows at this station left at verified. */
struct pending {
    const struct run *r;
    unsigned n, others;
    char *out;
    size_t cap, len;
};

static int pending_row(void *ctx, const pv_ledger_row *row)
{
    struct pending *p = ctx;
    if (row->state != PV_LEDGER_VERIFIED)
        return 0;
    if (strcmp(row->station, p->r->station) != 0) {
        p->others++;
        return 0;
    }
    if (p->n++ < PENDING_MAX && p->len < p->cap) {
        int k = snprintf(p->out + p->len, p->cap - p->len, "\n  %s (verified %s, %u attempt%s)",
                         row->uid_hex, row->at[PV_LEDGER_VERIFIED - 1], row->attempts,
                         row->attempts == 1 ? "" : "s");
        p->len += k > 0 ? (size_t)k : 0;
        if (p->len > p->cap)
            p->len = p->cap;
    }
    return 0;
}

/* Appends to r->err what the ledger says about devices that may be this dead-port chip. */
static void explain_pending(struct run *r)
{
    static char list[2048];
    struct pending p = {.r = r, .out = list, .cap = sizeof list};
    list[0] = 0;
    if (!r->ledger || pv_ledger_list(r->ledger, r->rc.batch, pending_row, &p) != PV_LEDGER_OK)
        return;
    size_t n = strlen(r->err);
    if (p.n)
        snprintf(r->err + n, sizeof r->err - n,
                 "\nthe ledger has %u device%s of batch %s at station %s left at verified (the "
                 "chip may have been locked by a run that died before the ledger recorded it):%s%s"
                 "\nif this chip is one of them, check it (e.g. its bootloader boots) and "
                 "confirm: provision ledger confirm-locked --uid UID --recipe %s --reason TEXT",
                 p.n, p.n == 1 ? "" : "s", r->rc.batch, r->station, list,
                 p.n > PENDING_MAX ? "\n  ... (provision ledger list --state verified)" : "",
                 r->recipe_path);
    else if (p.others)
        snprintf(r->err + n, sizeof r->err - n,
                 "\nthe ledger has %u device%s of batch %s left at verified at other stations: "
                 "provision ledger list --state verified --batch %s",
                 p.others, p.others == 1 ? "" : "s", r->rc.batch, r->rc.batch);
}

/* Connect, halt, identify, compare with the recipe. */
static int identify(struct run *r)
{
    char perr[512];
    int rc = pv_station_connect(&r->rc, &r->sp, &r->link, r->rep.probe, sizeof r->rep.probe, perr,
                                sizeof perr);
    if (rc == PV_PROBE_ERR_DEAD) {
        snprintf(r->err, sizeof r->err,
                 "chip locked: its debug port is dead (RDP Level 2, or the chip has no power): %s; "
                 "nothing written",
                 perr);
        explain_pending(r);
        return PV_EXIT_LOCKED;
    }
    if (rc) {
        snprintf(r->err, sizeof r->err, "probe unreachable: %s", perr);
        return PV_EXIT_PROBE;
    }
    /* A probe that reads memory while the core runs identifies it running: the halt would cost
     * OpenOCD a debug entry (every core and FPU register), and the install resets the chip. */
    if ((!r->link.ops->mem_while_running && (rc = r->link.ops->halt(r->link.p)) != 0) ||
        (rc = pv_probe_identify(&r->link, &r->id))) {
        snprintf(r->err, sizeof r->err, "%s: cannot halt and identify the chip: %s", r->rep.probe,
                 r->link.ops->error(r->link.p));
        if (rc == PV_PROBE_ERR_DEAD)
            explain_pending(r);
        return probe_exit(rc);
    }
    pv_station_hex(r->rep.uid, r->id.uid, 12);
    snprintf(r->rep.rdp, sizeof r->rep.rdp, "%s", pv_station_rdp_name(r->id.rdp));
    char why[512];
    if (pv_station_match(&r->rc, &r->id, why, sizeof why)) {
        snprintf(r->err, sizeof r->err, "chip %s refused: %s; nothing written", r->rep.uid, why);
        return PV_EXIT_WRONG_CHIP;
    }
    if (r->id.rdp != PV_RDP_LEVEL0) {
        snprintf(r->err, sizeof r->err,
                 "chip %s refused: it is locked (RDP %s, option byte 0x%02x); nothing written",
                 r->rep.uid, pv_station_rdp_name(r->id.rdp), r->id.rdp);
        return PV_EXIT_LOCKED;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "uid %s, DEV_ID 0x%03x, %u KB, RDP %s", r->rep.uid,
             (unsigned)(r->id.dbgmcu_idcode & 0xFFF), r->id.flash_kb,
             pv_station_rdp_name(r->id.rdp));
    pv_run_phase_done(&r->rep, PV_RUN_IDENTIFY, detail);
    return 0;
}

static int reserve(struct run *r)
{
    pv_ledger_recipe lr = {.name = r->rc.name};
    memcpy(lr.digest, r->rc.digest, 32);
    pv_ledger_row row;
    int rc =
        pv_ledger_reserve(r->ledger, r->rc.batch, r->id.uid, r->station, &lr, r->rc.quota, &row);
    switch (rc) {
    case PV_LEDGER_OK:
    case PV_LEDGER_RESUMED:
        r->reserved = 1;
        r->rep.resumed = rc == PV_LEDGER_RESUMED;
        snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "%s",
                 pv_ledger_state_name(row.state));
        pv_run_phase_done(&r->rep, PV_RUN_RESERVE,
                          rc == PV_LEDGER_RESUMED ? "resumed the device's row (not counted again)"
                                                  : "new row, counted in the batch's quota");
        return 0;
    case PV_LEDGER_E_QUOTA: {
        uint32_t q = 0, used = 0;
        pv_ledger_batch(r->ledger, r->rc.batch, &q, &used);
        snprintf(r->err, sizeof r->err,
                 "chip %s refused: batch %s has used its quota (%u of %u devices); nothing "
                 "written. Raise quota in the recipe only if the order allows it",
                 r->rep.uid, r->rc.batch, (unsigned)used, (unsigned)q);
        return PV_EXIT_QUOTA;
    }
    case PV_LEDGER_E_PROVISIONED:
        snprintf(r->err, sizeof r->err,
                 "chip %s refused: the ledger says it is provisioned already (locked); nothing "
                 "written",
                 r->rep.uid);
        return PV_EXIT_LOCKED;
    case PV_LEDGER_E_OTHER_BATCH:
        snprintf(r->err, sizeof r->err,
                 "chip %s refused: it is in progress in another batch (see provision ledger "
                 "list); nothing written",
                 r->rep.uid);
        return PV_EXIT_LEDGER;
    default:
        snprintf(r->err, sizeof r->err, "ledger: cannot reserve %s: %s", r->rep.uid,
                 pv_ledger_error(r->ledger));
        return rc == PV_LEDGER_E_SIGN ? PV_EXIT_KEY : PV_EXIT_LEDGER;
    }
}

static void on_progress(void *ctx, enum pv_install_phase ph)
{
    struct run *r = ctx;
    static const enum pv_run_phase map[] = {
        [PV_INSTALL_STUB] = PV_RUN_STUB,   [PV_INSTALL_ERASE] = PV_RUN_ERASE,
        [PV_INSTALL_WRITE] = PV_RUN_WRITE, [PV_INSTALL_VERIFY] = PV_RUN_VERIFY,
        [PV_INSTALL_LOCK] = PV_RUN_LOCK,
    };
    if (ph == PV_INSTALL_LOCK)
        return; /* reported once the lock is confirmed */
    const char *detail = NULL;
    char d[96];
    if (ph == PV_INSTALL_WRITE) {
        snprintf(d, sizeof d, "%zu bytes at 0x%08x", r->image_len,
                 (unsigned)r->rc.layout.boot_addr);
        detail = d;
    } else if (ph == PV_INSTALL_VERIFY) {
        snprintf(d, sizeof d, "key slot at 0x%08x; stub's digests match",
                 (unsigned)r->rc.layout.keyslot_addr);
        detail = d;
    }
    pv_run_phase_done(&r->rep, map[ph], detail);
}

/* The stub verified image and key slot: the ledger must say so before the lock goes out. */
static int before_final(void *ctx)
{
    struct run *r = ctx;
    if (memcmp(r->res.id.uid, r->id.uid, 12) != 0) {
        snprintf(r->err, sizeof r->err,
                 "the stub reports another UID than the debugger read: refusing to lock");
        return -1;
    }
    pv_ledger_details d = {.image_digest = r->rep.image_sha256};
    if (pv_ledger_advance(r->ledger, r->id.uid, PV_LEDGER_WRITTEN, &d) != 0 ||
        pv_ledger_advance(r->ledger, r->id.uid, PV_LEDGER_VERIFIED, &d) != 0) {
        snprintf(r->err, sizeof r->err, "ledger: cannot record written/verified: %s",
                 pv_ledger_error(r->ledger));
        return -1;
    }
    snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "verified");
    return 0;
}

/* After the final ack the stub resets the chip into Level 2: the port must die (or RDP must
 * read Level 2) within LOCK_CONFIRM_MS. */
static int confirm_lock(struct run *r)
{
    uint64_t end = pv_run_now_ms() + LOCK_CONFIRM_MS;
    int rc = 0;
    do {
        uint8_t b[4];
        rc = r->link.ops->read_mem(r->link.p, 0x40023C14u, b, 4);
        if (rc == PV_PROBE_ERR_DEAD || (rc == 0 && b[1] == PV_RDP_LEVEL2))
            return 0;
        usleep(20000);
    } while (pv_run_now_ms() < end);
    snprintf(r->err, sizeof r->err,
             "lock not confirmed: %d s after the final frame the debug port still answers (%s)",
             LOCK_CONFIRM_MS / 1000, rc ? pv_probe_strerror(rc) : "RDP not Level 2");
    return -1;
}

/* Level 1: once the stub's reset has loaded the option bytes, they say Level 1 and the
 * debugger's flash reads fail (the option register shows the new byte before the reset, so a
 * read that still works only means "not yet"). */
static int confirm_level1(struct run *r)
{
    uint64_t end = pv_run_now_ms() + LOCK_CONFIRM_MS;
    int rc = 0;
    bool level1 = false;
    uint8_t b[4] = {0};
    do {
        rc = r->link.ops->read_mem(r->link.p, 0x40023C14u, b, 4);
        level1 = rc == 0 && b[1] != PV_RDP_LEVEL0 && b[1] != PV_RDP_LEVEL2;
        if (level1 &&
            r->link.ops->read_mem(r->link.p, r->rc.layout.boot_addr, b, 4) == PV_PROBE_ERR_TARGET)
            return 0;
        usleep(20000);
    } while (pv_run_now_ms() < end);
    snprintf(r->err, sizeof r->err, "lock not confirmed: %d s after the final frame %s",
             LOCK_CONFIRM_MS / 1000,
             level1 ? "the option bytes say RDP Level 1 but the debugger still reads flash"
             : rc   ? pv_probe_strerror(rc)
                    : "the option bytes do not say RDP Level 1");
    return -1;
}

static int provision(struct run *r)
{
    int rc;
    if ((rc = identify(r)) != 0)
        return rc;
    if ((rc = reserve(r)) != 0)
        return rc;

    /* key: the PSK comes from the token; the key slot is sealed into frames in this process */
    struct pv_install in;
    memset(&in, 0, sizeof in);
    uint8_t priv[32], pub[32], entropy[32], stub_digest[32];
    if (pv_keystore_device_psk(r->ks, r->id.uid, in.keyslot.psk) ||
        pv_keystore_signer_public(r->ks, in.keyslot.signer_pub) ||
        pv_keystore_noise_static(r->ks, priv, pub)) {
        snprintf(r->err, sizeof r->err, "keys: %s", pv_keystore_error(r->ks));
        pv_wipe(&in, sizeof in);
        return fail(r, PV_EXIT_KEY, "key");
    }
    pv_ledger_details kd = {
        .has_key = 1, .key_id = r->rc.keys.key_id, .key_version = r->rc.keys.key_version};
    if (pv_ledger_advance(r->ledger, r->id.uid, PV_LEDGER_KEYED, &kd) != 0) {
        snprintf(r->err, sizeof r->err, "ledger: cannot record keyed: %s",
                 pv_ledger_error(r->ledger));
        pv_wipe(&in, sizeof in);
        pv_wipe(priv, sizeof priv);
        return fail(r, PV_EXIT_LEDGER, "key");
    }
    snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "keyed");
    char kdet[64];
    snprintf(kdet, sizeof kdet, "key id %u version %u", (unsigned)r->rc.keys.key_id,
             (unsigned)r->rc.keys.key_version);
    pv_run_phase_done(&r->rep, PV_RUN_KEY, kdet);

    struct pv_stub_image img;
    char perr[256];
    if (pv_stub_image_parse(&img, r->stub, r->stub_len, r->rc.stub.sram_base, perr, sizeof perr)) {
        snprintf(r->err, sizeof r->err, "stub %s: %s", r->rc.stub.image, perr);
        pv_wipe(&in, sizeof in);
        pv_wipe(priv, sizeof priv);
        return fail(r, PV_EXIT_INVALID, "stub");
    }
    pv_sha256(stub_digest, r->stub, r->stub_len);
    if (RAND_bytes(entropy, sizeof entropy) != 1) {
        snprintf(r->err, sizeof r->err, "no randomness for the stub's host entropy (OpenSSL)");
        pv_wipe(&in, sizeof in);
        pv_wipe(priv, sizeof priv);
        return fail(r, PV_EXIT_SESSION, "stub");
    }
    in.stub = &img;
    in.bridge_priv = priv;
    in.bridge_pub = pub;
    in.host_entropy = entropy;
    in.expect.stub_digest = stub_digest;
    in.expect.dev_id = (uint16_t)r->rc.chip.device_id;
    in.expect.flash_kb = (uint16_t)r->rc.chip.flash_kb;
    in.image_addr = r->rc.layout.boot_addr;
    in.image = r->image;
    in.image_len = r->image_len;
    in.app_addr = r->rc.layout.app_addr;
    in.app = r->app;
    in.app_len = r->app_len;
    in.keyslot_addr = r->rc.layout.keyslot_addr;
    in.keyslot.key_id = r->rc.keys.key_id;
    in.keyslot.key_version = r->rc.keys.key_version;
    in.rdp = r->rc.protection.rdp_level == 2   ? PV_RDP_LEVEL2
             : r->rc.protection.rdp_level == 1 ? PV_RDP_LEVEL1
                                               : PV_RDP_LEVEL0;
    in.nwrp = ~r->rc.protection.write_protect & 0xFFFFFFu;
    in.flags = PV_MBOX_F_CLOCK_168;
    if (r->link.ops->mem_while_running)
        in.flags |= PV_MBOX_F_SPIN; /* no halt and resume per batch of frames */
    in.progress = on_progress;
    in.before_final = before_final;
    in.station_ctx = r;
    r->err[0] = 0;
    rc = pv_session_install(&r->link, &in, &r->res);
    pv_wipe(&in.keyslot, sizeof in.keyslot);
    pv_wipe(priv, sizeof priv);
    if (rc) {
        const char *phase = pv_run_phase_name((enum pv_run_phase)r->rep.current);
        if (!r->err[0])
            snprintf(r->err, sizeof r->err, "%s", r->res.err);
        else {
            size_t n = strlen(r->err);
            snprintf(r->err + n, sizeof r->err - n, " (%s)", r->res.err);
        }
        return fail(r, PV_EXIT_SESSION, phase);
    }
    if (r->rc.protection.rdp_level == 0) {
        pv_run_phase_done(&r->rep, PV_RUN_LOCK, "not locked: recipe asks for RDP Level 0");
        return 0;
    }
    if (r->rc.protection.rdp_level == 1 ? confirm_level1(r) : confirm_lock(r))
        return fail(r, PV_EXIT_SESSION, "lock");
#ifdef PV_TEST_HOOKS
    const char *crash = getenv(TEST_CRASH_ENV);
    if (crash && strcmp(crash, "after-lock") == 0)
        raise(SIGKILL); /* test only, see TEST_CRASH_ENV */
#endif
    pv_ledger_details d = {.image_digest = r->rep.image_sha256};
    if (pv_ledger_advance(r->ledger, r->id.uid, PV_LEDGER_LOCKED, &d) != 0) {
        snprintf(r->err, sizeof r->err, "ledger: the chip is locked but the ledger refused: %s",
                 pv_ledger_error(r->ledger));
        return fail(r, PV_EXIT_LEDGER, "lock");
    }
    snprintf(r->rep.ledger_state, sizeof r->rep.ledger_state, "locked");
    if (r->rc.protection.rdp_level == 1) {
        snprintf(r->rep.rdp, sizeof r->rep.rdp, "Level 1");
        pv_run_phase_done(&r->rep, PV_RUN_LOCK, "RDP Level 1, flash closed to the debugger");
        return 0;
    }
    snprintf(r->rep.rdp, sizeof r->rep.rdp, "Level 2");
    pv_run_phase_done(&r->rep, PV_RUN_LOCK, "RDP Level 2, debug port dead");
    return 0;
}

/* One chip: the whole run on r's probe; tag (may be NULL) goes before every line. */
static int one_device(struct run *r, int quiet, int json, const char *tag)
{
    pv_run_report_init(&r->rep, quiet || json, json);
    if (tag) {
        snprintf(r->rep.tag, sizeof r->rep.tag, "[%s] ", tag);
        r->rep.tty = 0; /* several chips' lines interleave: no bar */
    }
    snprintf(r->rep.station, sizeof r->rep.station, "%s", r->station);

    int rc = load(r);
    if (rc == 0) {
        pv_run_phase_done(&r->rep, PV_RUN_LOAD, NULL);
        rc = provision(r);
    }
    pv_probe_disconnect(&r->link);
    pv_run_finish(&r->rep, rc, rc ? r->err : NULL);
    if (r->ledger)
        pv_ledger_close(r->ledger);
    if (r->ks)
        pv_keystore_close(r->ks);
    if (r->image) {
        pv_wipe(r->image, r->image_len);
        free(r->image);
    }
    if (r->app) {
        pv_wipe(r->app, r->app_len);
        free(r->app);
    }
    free(r->stub);
    pv_wipe(&r->res, sizeof r->res);
    return rc;
}

/* Several probes (gang programming): a process per chip runs one_device, so each has its own
 * token session, ledger connection and probe, and a crash stays with its chip. The ledger's
 * transactions keep the quota exact across them. The exit code is 0 when every chip is done,
 * otherwise the first failing chip's (in --probe order). */
static int gang(struct run *r, const char **probes, int n, int quiet, int json)
{
    pid_t pid[GANG_MAX];
    int started = 0, failed = 0, first_bad = 0;
    if (pipe2(token_turn, O_CLOEXEC) == 0)
        token_turn_give();
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < n; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            r->sp.target = probes[i];
            int rc = one_device(r, quiet, json, probes[i]);
            fflush(NULL);
            _exit(rc);
        }
        if (pid[i] < 0) {
            fprintf(stderr, "provision run: cannot start the run for probe %s: %s\n", probes[i],
                    strerror(errno));
            if (!first_bad)
                first_bad = PV_EXIT_IO;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        int st = 0;
        while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
            ;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        if (code) {
            failed++;
            if (!first_bad)
                first_bad = code;
            if (!quiet && !json)
                fprintf(stderr, "provision run: [%s] failed (exit %d)\n", probes[i], code);
        }
    }
    if (!quiet && !json)
        fprintf(stderr, "provision run: %d chips: %d done, %d failed%s\n", n, started - failed,
                failed + (n - started), started < n ? " (some not started)" : "");
    return first_bad;
}

static int run(int argc, char **argv)
{
    static struct run r;
    memset(&r, 0, sizeof r);
    int quiet = 0, json = 0, n_probes = 0;
    const char *probes[GANG_MAX];
    static const struct option opts[] = {
        {"recipe", required_argument, NULL, 'r'},
        {"probe", required_argument, NULL, 'p'},
        {"openocd-command", required_argument, NULL, 'c'},
        {"ledger", required_argument, NULL, 'l'},
        {"station", required_argument, NULL, 's'},
        {"pin-file", required_argument, NULL, 'P'},
        {"module", required_argument, NULL, 'm'},
        {"allow-plain-image", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hc:", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            r.recipe_path = optarg;
            break;
        case 'p':
            if (n_probes >= GANG_MAX)
                return usage_error("too many --probe options (at most 16 chips at once)", NULL);
            probes[n_probes++] = optarg;
            break;
        case 'c':
            if (r.sp.n_ocd_cmds >= PV_STATION_MAX_OCD_CMDS)
                return usage_error("too many --openocd-command options", NULL);
            r.sp.ocd_cmds[r.sp.n_ocd_cmds++] = optarg;
            break;
        case 'l':
            r.ledger_path = optarg;
            break;
        case 's':
            r.station = optarg;
            break;
        case 'P':
            r.pin_file = optarg;
            break;
        case 'm':
            r.module = optarg;
            break;
        case 'A':
            r.allow_plain = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            help(stdout);
            return PV_EXIT_OK;
        case ':':
            return usage_error("missing value for", argv[optind - 1]);
        default:
            return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (!r.recipe_path)
        return usage_error("--recipe FILE is required", NULL);
    if (!r.station) {
        if (gethostname(r.station_buf, sizeof r.station_buf - 1) != 0 || !r.station_buf[0])
            snprintf(r.station_buf, sizeof r.station_buf, "station");
        r.station = r.station_buf;
    }
    if (n_probes > 1)
        return gang(&r, probes, n_probes, quiet, json);
    r.sp.target = n_probes ? probes[0] : NULL;
    return one_device(&r, quiet, json, NULL);
}

const struct pv_command pv_cmd_run = {
    .name = "run",
    .summary = "provision the chip on the probe: check, key, install, verify, lock",
    .run = run,
    .help = help,
};
