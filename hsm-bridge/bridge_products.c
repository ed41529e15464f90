/* A product the bridge serves, loaded once at start: the recipe (authoritative), its keys in the
 * token, the released stub and the images opened from their at-rest seal into memory. Nothing
 * here reaches a chip or the ledger. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "image/image.h"
#include "image/layout.h"
#include "file_read.h"
#include "keys_config.h"
#include "seal_format.h"

#define IMAGE_MAX (16u << 20) /* larger than any flash this chip family has */

/* A regular file the recipe names (file_read.h: a FIFO or a device is refused, not read). */
static uint8_t *slurp(const char *path, size_t *len, char *why, size_t why_len)
{
    uint8_t *b = NULL;
    if (pv_file_read(path, IMAGE_MAX, &b, len, why, why_len) != PV_FILE_OK)
        return NULL;
    return b;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* An image the recipe names, sealed at rest (seal_format.h) and opened here;
 * plain only when the configuration allows it (development). */
static int load_image(const struct pv_bridge_config *cfg, struct pv_bridge_product *p,
                      const char *path, const char *what, uint8_t **out, size_t *out_len, char *err,
                      size_t err_len)
{
    size_t n = 0;
    char why[160];
    uint8_t *raw = slurp(path, &n, why, sizeof why);
    if (!raw) {
        snprintf(err, err_len, "cannot read the %s image %s (%s.image in recipe %s): %s", what,
                 path, what, p->rc.file, why);
        return -1;
    }
    if (!pv_seal_is_sealed(raw, n)) {
        if (!cfg->allow_plain_images) {
            free(raw);
            snprintf(err, err_len,
                     "%s image %s is not sealed at rest: seal it with `provision keys seal` (or, "
                     "for development only, allow plain images)",
                     what, path);
            return -1;
        }
        *out = raw;
        *out_len = n;
        return 0;
    }
    pv_wipe(raw, n);
    free(raw);
    if (pv_keystore_open_sealed(p->ks, path, out, out_len)) {
        snprintf(err, err_len, "%s image %s: %s", what, path, pv_keystore_error(p->ks));
        return -1;
    }
    return 0;
}

static int load_images(const struct pv_bridge_config *cfg, struct pv_bridge_product *p, char *err,
                       size_t err_len)
{
    pv_recipe *rc = &p->rc;
    char perr[256];
    if (!(p->stub = slurp(rc->stub.image, &p->stub_len, perr, sizeof perr))) {
        snprintf(err, err_len, "cannot read the stub %s (stub.image): %s; build it with make",
                 rc->stub.image, perr);
        return -1;
    }
    if (pv_stub_image_parse(&p->stub_img, p->stub, p->stub_len, rc->stub.sram_base, perr,
                            sizeof perr)) {
        snprintf(err, err_len, "stub %s: %s", rc->stub.image, perr);
        return -1;
    }
    pv_sha256(p->stub_sha256, p->stub, p->stub_len);
    if (load_image(cfg, p, rc->bootloader.image, "bootloader", &p->boot, &p->boot_len, err,
                   err_len))
        return -1;
    /* the layout table the bootloader follows is the recipe's */
    if (p->boot_len < PV_LAYOUT_OFFSET + PV_LAYOUT_LEN) {
        snprintf(err, err_len, "bootloader image %s has no layout table at offset 0x%x",
                 rc->bootloader.image, PV_LAYOUT_OFFSET);
        return -1;
    }
    pv_layout have;
    if (pv_layout_decode(&have, p->boot + PV_LAYOUT_OFFSET) != 0 ||
        memcmp(&have, &rc->layout, sizeof have) != 0)
        pv_layout_encode(p->boot + PV_LAYOUT_OFFSET, &rc->layout);
    if (p->boot_len > rc->layout.boot_size) {
        snprintf(err, err_len,
                 "bootloader image is %zu bytes, larger than layout.bootloader.size 0x%x",
                 p->boot_len, (unsigned)rc->layout.boot_size);
        return -1;
    }
    uint8_t d[32];
    pv_sha256(d, p->boot, p->boot_len);
    hex(p->boot_sha256, d, 32);
    if (!rc->application.present)
        return 0;
    if (load_image(cfg, p, rc->application.image, "application", &p->app, &p->app_len, err,
                   err_len))
        return -1;
    /* The application must be one the bootloader will boot. */
    pv_image img;
    int st = pv_image_parse(&img, p->app, p->app_len, rc->layout.app_addr);
    if (st == PV_IMAGE_OK && p->app_len > rc->layout.app_size)
        st = PV_IMAGE_ERR_IMG_SIZE;
    if (st == PV_IMAGE_OK)
        st = pv_image_verify(&img, p->signer_pub);
    if (st != PV_IMAGE_OK) {
        snprintf(err, err_len,
                 "application image %s (application.image) would not boot: %s; sign it with "
                 "`provision image sign` and the token's image-signing key",
                 rc->application.image, pv_image_strerror(st));
        return -1;
    }
    return 0;
}

struct pv_bridge_product *pv_bridge_product_load(const struct pv_bridge_config *cfg,
                                                 const char *recipe, char *err, size_t err_len)
{
    struct pv_bridge_product *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    pv_recipe_diags d;
    int st = pv_recipe_load(recipe, PV_RECIPE_CHECK_FILES, &p->rc, &d);
    if (st != PV_RECIPE_OK) {
        char first[600] = "";
        for (size_t i = 0; i < d.count; i++)
            if (!d.items[i].warning) {
                pv_recipe_diag_format(&d, i, first, sizeof first);
                break;
            }
        snprintf(err, err_len, "recipe %s %s%s%s", recipe,
                 st == PV_RECIPE_UNREADABLE ? "cannot be read" : "is not valid",
                 first[0] ? ": " : "", first);
        pv_recipe_diags_free(&d);
        free(p);
        return NULL;
    }
    pv_recipe_diags_free(&d);
    if (!p->rc.keys.audit_key[0]) {
        snprintf(err, err_len,
                 "recipe %s: keys.audit_key is missing: the ledger's audit entries must be signed "
                 "by a key in the token (e.g. audit_key: ledger-audit)",
                 recipe);
        free(p);
        return NULL;
    }
    int unreadable = 0;
    char kerr[512];
    p->ks = pv_keys_open(&p->rc, cfg->module, cfg->pin_file, cfg->dev_pin,
                         PV_KEYS_MASTER | PV_KEYS_NOISE | PV_KEYS_SIGNING | PV_KEYS_AT_REST |
                             PV_KEYS_AUDIT,
                         kerr, sizeof kerr, &unreadable);
    if (!p->ks) {
        snprintf(err, err_len, "%s", kerr);
        free(p);
        return NULL;
    }
    char kid[PV_LEDGER_KEY_ID_LEN];
    if (pv_keystore_noise_static(p->ks, p->noise_priv, p->noise_pub) ||
        pv_keystore_signer_public(p->ks, p->signer_pub) || pv_keys_audit_key_id(p->ks, kid)) {
        snprintf(err, err_len, "%s", pv_keystore_error(p->ks));
        pv_bridge_product_free(p);
        return NULL;
    }
    snprintf(p->audit_key_id, sizeof p->audit_key_id, "%s", kid);
    if (load_images(cfg, p, err, err_len)) {
        pv_bridge_product_free(p);
        return NULL;
    }
    return p;
}

void pv_bridge_product_free(struct pv_bridge_product *p)
{
    if (!p)
        return;
    if (p->boot) {
        pv_wipe(p->boot, p->boot_len);
        free(p->boot);
    }
    if (p->app) {
        pv_wipe(p->app, p->app_len);
        free(p->app);
    }
    free(p->stub);
    pv_bridge_releases_free(p);
    if (p->ks)
        pv_keystore_close(p->ks);
    pv_wipe(p, sizeof *p);
    free(p);
}
