/* gen-man: writes the generated parts of a manual page from the program's own tables
 * (lib/host/cli.h): the synopsis and options of each command and the exit status. `make man`
 * rewrites the pages, `make man-check` fails when a checked-in page is stale.
 *
 *   gen-man PROGRAM PAGE           the page with its generated parts, on stdout
 *   gen-man --check PROGRAM PAGE   exit 1 if PAGE differs from that
 *   gen-man --write PROGRAM PAGE   rewrite PAGE in place
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hsm-bridge/cmd.h"
#include "../provisioner/commands.h"
#include "host/cli.h"

static const struct pv_cli_prog *program(const char *name)
{
    if (strcmp(name, pv_provision_cli.name) == 0)
        return &pv_provision_cli;
    if (strcmp(name, pv_hsm_bridge_cli.name) == 0)
        return &pv_hsm_bridge_cli;
    return NULL;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = 0;
    return buf;
}

int main(int argc, char **argv)
{
    int check = 0, write = 0, a = 1;
    if (argc > 1 && strcmp(argv[1], "--check") == 0)
        check = 1, a++;
    else if (argc > 1 && strcmp(argv[1], "--write") == 0)
        write = 1, a++;
    if (argc - a != 2) {
        fprintf(stderr, "usage: gen-man [--check | --write] PROGRAM PAGE\n");
        return 2;
    }
    const struct pv_cli_prog *p = program(argv[a]);
    if (!p) {
        fprintf(stderr, "gen-man: no program '%s' (provision or hsm-bridge)\n", argv[a]);
        return 2;
    }
    const char *page = argv[a + 1];
    char *in = slurp(page), *out = NULL, why[256];
    if (!in) {
        fprintf(stderr, "gen-man: cannot read %s\n", page);
        return 1;
    }
    if (pv_cli_man_update(p, in, &out, why, sizeof why) != 0) {
        fprintf(stderr, "gen-man: %s: %s\n", page, why);
        free(in);
        return 1;
    }
    int rc = 0;
    if (check) {
        if (strcmp(in, out) != 0) {
            fprintf(stderr,
                    "gen-man: %s is stale: its options, synopsis or exit codes differ from "
                    "%s's tables; run 'make man' and commit the page\n",
                    page, p->name);
            rc = 1;
        }
    } else if (write) {
        if (strcmp(in, out) != 0) {
            FILE *f = fopen(page, "wb");
            if (!f || fputs(out, f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "gen-man: cannot write %s\n", page);
                rc = 1;
            }
        }
    } else
        fputs(out, stdout);
    free(in);
    free(out);
    return rc;
}
