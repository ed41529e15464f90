/* The boot decision, at every reset (docs/image-format.md, "Boot flow"):
 * flash driver -> layout table -> key slot of this chip -> image header and TLVs -> digest, key
 * hash, signature -> vector table -> anti-rollback floor -> raise the floor -> lock the flash
 * interface -> start the application. Any failure prints why and stays in the bootloader (update
 * mode, boot_update.c, when the layout and key slot are usable); so does a request for an update
 * (boot_update_wanted), once the floor is settled and before the flash interface is locked. */
#include <stdint.h>

#include "boot_check.h"
#include "boot_console.h"
#include "boot_platform.h"
#include "boot_recovery.h"
#include "boot_rollback.h"
#include "boot_update.h"
#include "boot_version.h"
#include "crypto/wipe.h"
#include "hal/flash.h"
#include "image/image.h"
#include "image/layout.h"
#include "keyslot/keyslot.h"

int main(void);

__attribute__((noreturn)) static void refuse(enum boot_reason why, const pv_layout *l,
                                             const char *what)
{
    con_puts("boot: refused: ");
    con_puts(what);
    con_eol();
    boot_recovery(why, l);
}

/* Layout from the table in this image, judged against the chip (flash size from the driver)
 * and against this image's own size. */
static void load_layout(pv_layout *l)
{
    int rc = pv_layout_decode(l, plat_layout_table());
    if (rc == PV_LAYOUT_OK)
        rc = pv_layout_check(l, PLAT_FLASH_BASE, pv_flash_size());
    if (rc == PV_LAYOUT_OK && plat_image_end() - PLAT_FLASH_BASE > l->boot_size)
        rc = PV_LAYOUT_ERR_BOOT;
    if (rc != PV_LAYOUT_OK)
        refuse(BOOT_REASON_LAYOUT, NULL, pv_layout_strerror(rc));
}

/* The key slot must verify under its own signer key (so only that key's owner made it) and carry
 * this chip's UID; only the signer key leaves here. */
static void load_signer(const pv_layout *l, uint8_t signer_pub[32])
{
    pv_keyslot ks;
    uint8_t uid[12];
    plat_uid(uid);
    int rc = pv_keyslot_decode(&ks, (const uint8_t *)(uintptr_t)l->keyslot_addr, uid);
    if (rc != PV_KEYSLOT_OK)
        refuse(BOOT_REASON_KEYSLOT, l, pv_keyslot_strerror(rc));
    for (int i = 0; i < 32; i++)
        signer_pub[i] = ks.signer_pub[i];
    uint32_t key_id = ks.key_id;
    pv_wipe(&ks, sizeof ks); /* the PSK is for the update protocol, not needed here */
    con_puts("boot: key slot ok (key id ");
    con_dec(key_id);
    con_puts(")");
    con_eol();
}

/* Everything about the image that decides whether it may run; kept out of line so the
 * benchmark can time exactly this (bench/boot_validate.sh). */
__attribute__((noinline)) int boot_check_image(const pv_layout *l, const uint8_t signer_pub[32],
                                               pv_image *img)
{
    int rc = pv_image_parse(img, (const uint8_t *)(uintptr_t)l->app_addr, l->app_size, l->app_addr);
    if (rc != PV_IMAGE_OK)
        return rc;
    con_puts("boot: image ");
    con_version(img->hdr.version);
    con_puts(", ");
    con_dec(img->hdr.img_size);
    con_puts(" bytes");
    con_eol();
    rc = pv_image_verify(img, signer_pub);
    if (rc == PV_IMAGE_OK && pv_image_check_vectors(img, PLAT_SRAM_LO, PLAT_SRAM_HI) != 0)
        rc = pv_image_check_vectors(img, PLAT_CCM_LO, PLAT_CCM_HI);
    if (rc == PV_IMAGE_OK && (img->hdr.load_addr & (PLAT_VTOR_ALIGN - 1u)))
        rc = PV_IMAGE_ERR_VECTORS; /* VTOR would silently point below the table */
    return rc;
}

/* Refuses an image older than the floor; raises the floor to a newer image's version. */
static void enforce_rollback(const pv_layout *l, uint32_t version)
{
    uint32_t floor, next;
    boot_rollback_read(l, &floor, &next);
    if (version < floor) {
        con_puts("boot: refused: image version ");
        con_version(version);
        con_puts(" is older than the rollback floor ");
        con_version(floor);
        con_eol();
        boot_recovery(BOOT_REASON_ROLLBACK, l);
    }
    if (version == floor)
        return;
    int rc = boot_rollback_raise(l, next, version);
    if (rc == BOOT_ROLLBACK_FULL) {
        /* Booting is still no rollback (version > floor); only the floor cannot follow. */
        con_puts("boot: warning: rollback counter full, floor stays at ");
        con_version(floor);
        con_eol();
        return;
    }
    if (rc != PV_FLASH_OK) {
        con_puts("boot: refused: rollback counter update failed: ");
        con_puts(pv_flash_strerror(rc));
        con_eol();
        boot_recovery(BOOT_REASON_COUNTER, l);
    }
    con_puts("boot: rollback floor ");
    con_version(floor);
    con_puts(" -> ");
    con_version(version);
    con_eol();
}

int main(void)
{
    pv_layout l;
    uint8_t signer_pub[32];
    pv_image img;

    int update = boot_update_wanted(); /* first: a request holds for one reset only */
    plat_clock_init();
    plat_console_init();
    con_puts("pvboot " PVBOOT_VERSION);
    con_eol();
    boot_update_say_why(update);
    int rc = pv_flash_init();
    if (rc != PV_FLASH_OK)
        refuse(BOOT_REASON_FLASH, NULL, pv_flash_strerror(rc));
    load_layout(&l);
    load_signer(&l, signer_pub);
    rc = boot_check_image(&l, signer_pub, &img);
    if (rc != PV_IMAGE_OK)
        refuse(BOOT_REASON_IMAGE, &l, pv_image_strerror(rc));
    con_puts("boot: signature ok");
    con_eol();
    enforce_rollback(&l, img.hdr.version);
    if (update)
        boot_update(&l, img.hdr.version); /* before the lock: the update writes flash */
    if (plat_flash_lock_until_reset() != 0)
        refuse(BOOT_REASON_LOCK, &l, "flash interface did not lock (FLASH_KEYR gave no bus error)");
    con_puts("boot: starting application at ");
    con_hex32(img.hdr.load_addr);
    con_eol();
    plat_deinit();
    plat_jump(img.hdr.load_addr);
}
