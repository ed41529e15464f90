/* Fuzzing the recipe parser (hsm-bridge/recipe.c, pv_recipe_parse on bytes, without the image
 * files): a recipe comes from a product owner's repository and names what goes into flash.
 * Aborts when a recipe is accepted with errors, refused without one, or accepted with a layout
 * the checks promise (regions inside flash, disjoint) broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../hsm-bridge/recipe.h"
#include "image/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    static pv_recipe r;
    pv_recipe_diags d;
    int rc = pv_recipe_parse("/fuzz/recipe.yaml", (const char *)data, size, 0, &r, &d);
    if ((rc == PV_RECIPE_OK) != (d.errors == 0))
        abort();
    for (size_t i = 0; i < d.count; i++) {
        char line[1024];
        pv_recipe_diag_format(&d, i, line, sizeof line);
    }
    if (rc == PV_RECIPE_OK &&
        (r.protection.rdp_level > 2 || r.chip.n_sectors > PV_RECIPE_SECTORS_MAX ||
         r.probe.openocd.n_commands > PV_RECIPE_CMDS_MAX ||
         pv_layout_check(&r.layout, 0x08000000u, r.chip.flash_kb * 1024u) != PV_LAYOUT_OK))
        abort();
    pv_recipe_diags_free(&d);
    return 0;
}
