/* The release policy's images (bridge.h, docs/bridge.md "Releases"): each product's release
 * images opened from their at-rest seal into memory when the bridge opens, and refused then
 * unless they are signed by the product's image-signing key, carry the configured version and
 * boot from the recipe's application region. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"
#include "crypto/sha256.h"
#include "crypto/wipe.h"
#include "file_read.h"
#include "image/image.h"

#define IMAGE_MAX (16u << 20)

int pv_bridge_release_check(const pv_recipe *rc, const uint8_t signer_pub[32], const uint8_t *img,
                            size_t len, uint32_t *version, char *why, size_t why_len)
{
    pv_image im;
    int st = pv_image_parse(&im, img, len, rc->layout.app_addr);
    if (st == PV_IMAGE_OK && (len > rc->layout.app_size || im.total_size != len))
        st = PV_IMAGE_ERR_IMG_SIZE;
    if (st == PV_IMAGE_OK)
        st = pv_image_verify(&im, signer_pub);
    if (st != PV_IMAGE_OK) {
        snprintf(why, why_len,
                 "%s (product %s: an image signed with the token's image-signing key by "
                 "`provision image sign`, for the application region 0x%08x, %u bytes)",
                 pv_image_strerror(st), rc->product, (unsigned)rc->layout.app_addr,
                 (unsigned)rc->layout.app_size);
        return -1;
    }
    *version = im.hdr.version;
    return 0;
}

/* The image in memory: opened from its seal, or plain when the configuration allows it. */
static int open_image(const struct pv_bridge_config *cfg, struct pv_bridge_product *p,
                      const char *path, uint8_t **out, size_t *len, char *err, size_t err_len)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    char why[160];
    if (pv_file_read(path, IMAGE_MAX, &raw, &n, why, sizeof why) != PV_FILE_OK) {
        snprintf(err, err_len, "release image %s: cannot read: %s", path, why);
        return -1;
    }
    if (n >= 8 && memcmp(raw, "PVSEAL1", 8) == 0) {
        pv_wipe(raw, n);
        free(raw);
        if (pv_keystore_open_sealed(p->ks, path, out, len)) {
            snprintf(err, err_len, "release image %s: %s", path, pv_keystore_error(p->ks));
            return -1;
        }
        return 0;
    }
    if (!cfg->allow_plain_images) {
        free(raw);
        snprintf(err, err_len,
                 "release image %s is not sealed at rest: add it with `hsm-bridge release add` "
                 "(or, for development only, allow plain images)",
                 path);
        return -1;
    }
    *out = raw;
    *len = n;
    return 0;
}

int pv_bridge_releases_load(const struct pv_bridge_config *cfg, struct pv_bridge_product *p,
                            char *err, size_t err_len)
{
    for (unsigned i = 0; i < cfg->n_releases; i++) {
        const struct pv_bridge_release *r = &cfg->releases[i];
        if (strcmp(r->product, p->rc.product) != 0)
            continue;
        struct pv_bridge_release_image *grown = realloc(p->rel, (p->n_rel + 1) * sizeof *grown);
        if (!grown) {
            snprintf(err, err_len, "release images: out of memory");
            return -1;
        }
        p->rel = grown;
        struct pv_bridge_release_image *o = &p->rel[p->n_rel];
        memset(o, 0, sizeof *o);
        if (open_image(cfg, p, r->image, &o->image, &o->len, err, err_len))
            return -1;
        p->n_rel++;
        char why[400], want[14], have[14];
        uint32_t v = 0;
        if (pv_bridge_release_check(&p->rc, p->signer_pub, o->image, o->len, &v, why, sizeof why)) {
            snprintf(err, err_len, "release image %s refused: %s", r->image, why);
            return -1;
        }
        if (v != r->version) {
            pv_image_version_str(want, r->version);
            pv_image_version_str(have, v);
            snprintf(err, err_len,
                     "release image %s is version %s by its signed header, the configuration "
                     "says %s: correct releases[].images[].version",
                     r->image, have, want);
            return -1;
        }
        o->version = v;
        pv_sha256(o->sha256, o->image, o->len);
        /* keep them in ascending version order: the latest is the last */
        for (unsigned k = p->n_rel - 1; k > 0 && p->rel[k - 1].version > p->rel[k].version; k--) {
            struct pv_bridge_release_image t = p->rel[k];
            p->rel[k] = p->rel[k - 1];
            p->rel[k - 1] = t;
        }
    }
    for (unsigned i = 0; i < cfg->n_pins; i++)
        if (strcmp(cfg->pins[i].product, p->rc.product) == 0 &&
            strcmp(cfg->pins[i].batch, p->rc.batch) == 0)
            p->pinned = cfg->pins[i].version;
    return 0;
}

void pv_bridge_releases_free(struct pv_bridge_product *p)
{
    for (unsigned i = 0; i < p->n_rel; i++)
        if (p->rel[i].image) {
            pv_wipe(p->rel[i].image, p->rel[i].len);
            free(p->rel[i].image);
        }
    free(p->rel);
    p->rel = NULL;
    p->n_rel = 0;
}

const struct pv_bridge_release_image *pv_bridge_release_pick(const struct pv_bridge_product *p)
{
    if (!p->n_rel)
        return NULL;
    if (p->pinned) {
        for (unsigned i = 0; i < p->n_rel; i++)
            if (p->rel[i].version == p->pinned)
                return &p->rel[i];
        return NULL;
    }
    return &p->rel[p->n_rel - 1];
}
