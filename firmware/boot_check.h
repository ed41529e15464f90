/* The image checks the boot flow makes before it starts an application (boot_main.c); the update
 * session (boot_update.c) makes exactly the same ones on an image it has just written. */
#ifndef FIRMWARE_BOOT_CHECK_H
#define FIRMWARE_BOOT_CHECK_H

#include <stdint.h>

#include "image/image.h"
#include "image/layout.h"

/* Parses the image at the start of the application region and checks its digest, signature
 * (signer_pub: the key slot's), vector table and VTOR alignment; prints the image line. Returns
 * PV_IMAGE_OK or a PV_IMAGE_ERR_* code (pv_image_strerror). */
int boot_check_image(const pv_layout *l, const uint8_t signer_pub[32], pv_image *img);

#endif
