/* provision keys init|show|seal: the trusted side's keys in the PKCS#11 token
 * (hsm-bridge/keystore.h, docs/keystore.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../hsm-bridge/keystore.h"
#include "../hsm-bridge/p11.h"
#include "../hsm-bridge/seal_format.h"
#include "commands.h"
#include "../hsm-bridge/keys_config.h"

static const struct pv_cli_opt opts[] = {
    {'r', 0, "recipe", "R", "the recipe (its keys: section names the token and the labels)", NULL},
    {'p', 0, "pin-file", "F",
     "the user PIN, first line of F (mode 0600 or 0400, yours; else $" PV_PIN_ENV ")", NULL},
    {'s', 0, "so-pin-file", "F",
     "init: the security officer PIN, to create the token (same rules; else $" PV_SO_PIN_ENV ")",
     NULL},
    {'m', 0, "module", "LIB",
     "the PKCS#11 module (default $" PV_KEYS_MODULE_ENV ", else " PV_P11_DEFAULT_MODULE
     "; SoftHSM2 reads $SOFTHSM2_CONF for its token directory)",
     NULL},
    {'d', 0, "dev", NULL,
     "development only: PINs not given default to " PV_KEYS_DEV_PIN " / " PV_KEYS_DEV_SO_PIN, NULL},
    {'f', 0, "force", NULL, "init: replace existing keys (devices keyed before no longer match)",
     NULL},
    {'k', 0, "key", "signing|audit|noise", "export: which public key", NULL},
    {'o', 'o', "output", "PUB.pem", "export: where the PEM goes", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {PV_EXIT_OK, PV_EXIT_INVALID, PV_EXIT_USAGE,
                            PV_EXIT_IO, PV_EXIT_KEY,     -1};

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "provision keys: %s%s%s (see provision keys --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return PV_EXIT_USAGE;
}

static void print_hex(const char *what, const uint8_t *b, size_t n)
{
    printf("%-26s ", what);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

struct opts {
    const char *recipe, *pin_file, *so_pin_file, *module, *key, *out;
    int force, dev;
};

/* Loads the recipe (no image files needed) into a malloc'd struct. NULL and *ex on failure. */
static pv_recipe *load_recipe(const char *path, int *ex)
{
    pv_recipe *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "provision keys: out of memory\n");
        *ex = PV_EXIT_IO;
        return NULL;
    }
    pv_recipe_diags d;
    int rc = pv_recipe_load(path, 0, r, &d);
    pv_recipe_diags_print(stderr, &d);
    pv_recipe_diags_free(&d);
    if (rc != PV_RECIPE_OK) {
        if (rc == PV_RECIPE_INVALID)
            fprintf(stderr, "%s: not valid (fix it, see provision recipe check)\n", path);
        *ex = rc == PV_RECIPE_INVALID ? PV_EXIT_INVALID : PV_EXIT_IO;
        free(r);
        return NULL;
    }
    return r;
}

static int do_init(const struct opts *o, const pv_recipe *r)
{
    char err[640];
    struct pv_keys_config k;
    if (pv_keys_config_init(&k, r, o->module, o->pin_file, o->dev, err, sizeof err) != 0) {
        fprintf(stderr, "provision keys init: %s\n", err);
        return o->pin_file ? PV_EXIT_IO : PV_EXIT_KEY;
    }
    char so_pin[PV_PIN_MAX];
    int have_so = 1;
    if (pv_pin_read(o->so_pin_file, PV_SO_PIN_ENV, o->dev ? PV_KEYS_DEV_SO_PIN : NULL, "SO PIN",
                    so_pin, sizeof so_pin, err, sizeof err) != 0) {
        if (o->so_pin_file) {
            fprintf(stderr, "provision keys init: %s\n", err);
            pv_keys_config_wipe(&k);
            return PV_EXIT_IO;
        }
        have_so = 0; /* fine while the token exists */
    }
    int rc = pv_keystore_init_keys(&k.cfg, have_so ? so_pin : NULL, o->force, err, sizeof err);
    OPENSSL_cleanse(so_pin, sizeof so_pin);
    if (rc != 0) {
        fprintf(stderr, "provision keys init: %s\n", err);
        pv_keys_config_wipe(&k);
        return PV_EXIT_KEY;
    }
    pv_keystore *ks = pv_keystore_open(&k.cfg, err, sizeof err);
    pv_keys_config_wipe(&k);
    if (!ks) {
        fprintf(stderr, "provision keys init: keys created, but: %s\n", err);
        return PV_EXIT_KEY;
    }
    uint8_t priv[32], pub[32], sig[32];
    int ex = PV_EXIT_OK;
    printf("token '%s': created the keys of %s\n", r->keys.token, r->file);
    if (pv_keystore_noise_static(ks, priv, pub) != 0 || pv_keystore_signer_public(ks, sig) != 0) {
        fprintf(stderr, "provision keys init: %s\n", pv_keystore_error(ks));
        ex = PV_EXIT_KEY;
    } else {
        print_hex("noise static public key:", pub, 32);
        print_hex("image signing public key:", sig, 32);
        if (r->keys.audit_key[0] && pv_keystore_audit_public(ks, pub) == 0)
            print_hex("audit public key:", pub, 32);
    }
    OPENSSL_cleanse(priv, sizeof priv);
    pv_keystore_close(ks);
    return ex;
}

/* One line of `keys show`; returns 1 if the object is missing or badly protected. */
static int show_one(pv_p11 *p, const char *role, enum pv_p11_class cls, const char *label,
                    const char *type, int is_secret)
{
    char err[384];
    unsigned n = 0;
    printf("%-14s %-28s %-28s ", role, label, type);
    if (pv_p11_count(p, cls, label, &n, err, sizeof err) != 0) {
        printf("ERROR %s\n", err);
        return 1;
    }
    if (n != 1) {
        printf(n ? "DUPLICATE (%u objects)\n" : "MISSING\n", n);
        return 1;
    }
    pv_p11_obj h;
    if (pv_p11_find_key(p, cls, label, &h, err, sizeof err) != 0) {
        printf("ERROR %s\n", err);
        return 1;
    }
    if (cls == PV_P11_PUBLIC_KEY) {
        uint8_t pub[32];
        if (pv_p11_ed25519_public(p, h, pub, err, sizeof err) != 0) {
            printf("present, %s\n", err);
            return 1;
        }
        printf("present ");
        for (int i = 0; i < 32; i++)
            printf("%02x", pub[i]);
        printf("\n");
        return 0;
    }
    if (!is_secret) {
        printf("present\n");
        return 0;
    }
    struct pv_p11_key_flags fl;
    if (pv_p11_key_flags(p, h, &fl, err, sizeof err) != 0) {
        printf("present, %s\n", err);
        return 1;
    }
    int ok = fl.sensitive == 1 && fl.extractable == 0;
    printf("present %s %s%s\n", fl.sensitive == 1 ? "sensitive" : "NOT-SENSITIVE",
           fl.extractable == 0 ? "non-extractable" : "EXTRACTABLE",
           fl.never_extractable == 1 ? " never-extracted" : "");
    return ok ? 0 : 1;
}

static int do_show(const struct opts *o, const pv_recipe *r)
{
    char err[640];
    struct pv_keys_config k;
    if (pv_keys_config_init(&k, r, o->module, o->pin_file, o->dev, err, sizeof err) != 0) {
        fprintf(stderr, "provision keys show: %s\n", err);
        return o->pin_file ? PV_EXIT_IO : PV_EXIT_KEY;
    }
    pv_p11 *p = pv_p11_open(o->module, k.cfg.token_label, k.cfg.pin, err, sizeof err);
    if (!p) {
        char *h = strstr(err, "; create one with"); /* p11's softhsm2-util hint: ours below */
        if (h)
            strcpy(h, ")");
        fprintf(stderr, "provision keys show: %s%s\n", err,
                strstr(err, "CKR_PIN_INCORRECT")
                    ? " (wrong user PIN: check --pin-file / $" PV_PIN_ENV ")"
                    : "; create the token and its keys with `provision keys init`");
        pv_keys_config_wipe(&k);
        return PV_EXIT_KEY;
    }
    printf("token '%s' (module %s)\n", k.cfg.token_label,
           o->module ? o->module : PV_P11_DEFAULT_MODULE);
    int bad = 0;
    bad += show_one(p, "master key", PV_P11_SECRET_KEY, k.cfg.master_label,
                    "generic secret (HMAC-SHA256)", 1);
    bad += show_one(p, "noise static", PV_P11_SECRET_KEY, k.cfg.noise_label,
                    "AES-256 (seals the key)", 1);
    int noise_data_bad = show_one(p, "", PV_P11_DATA, k.cfg.noise_label, "sealed X25519 (data)", 0);
    bad += noise_data_bad;
    bad +=
        show_one(p, "image signing", PV_P11_PRIVATE_KEY, k.cfg.signing_label, "Ed25519 private", 1);
    bad += show_one(p, "", PV_P11_PUBLIC_KEY, k.cfg.signing_label, "Ed25519 public", 0);
    bad += show_one(p, "at rest", PV_P11_SECRET_KEY, k.cfg.at_rest_label, "AES-256 (AES-GCM)", 1);
    if (k.cfg.audit_label) {
        bad += show_one(p, "audit", PV_P11_PRIVATE_KEY, k.cfg.audit_label, "Ed25519 private", 1);
        bad += show_one(p, "", PV_P11_PUBLIC_KEY, k.cfg.audit_label, "Ed25519 public", 0);
    }
    pv_p11_close(p);
    if (!noise_data_bad) {
        /* The public half of the Noise key needs the sealed private half opened. */
        struct pv_keystore_config nc = {.module = k.cfg.module,
                                        .token_label = k.cfg.token_label,
                                        .pin = k.cfg.pin,
                                        .noise_label = k.cfg.noise_label};
        pv_keystore *ks = pv_keystore_open(&nc, err, sizeof err);
        uint8_t priv[32], pub[32];
        if (ks && pv_keystore_noise_static(ks, priv, pub) == 0)
            print_hex("noise static public key:", pub, 32);
        else {
            printf("noise static public key:   cannot open: %s\n",
                   ks ? pv_keystore_error(ks) : err);
            bad++;
        }
        OPENSSL_cleanse(priv, sizeof priv);
        pv_keystore_close(ks);
    }
    pv_keys_config_wipe(&k);
    if (bad) {
        fprintf(stderr,
                "provision keys show: %d key%s missing or not protected (create them with "
                "`provision keys init --recipe %s`)\n",
                bad, bad == 1 ? "" : "s", r->file);
        return PV_EXIT_KEY;
    }
    return PV_EXIT_OK;
}

static int do_seal(const struct opts *o, const pv_recipe *r, const char *in, const char *out)
{
    if (access(in, R_OK) != 0) {
        fprintf(stderr, "provision keys seal: %s: cannot read: %s\n", in, strerror(errno));
        return PV_EXIT_IO;
    }
    char err[640];
    int ex;
    pv_keystore *ks =
        pv_keys_open(r, o->module, o->pin_file, o->dev, PV_KEYS_AT_REST, err, sizeof err, &ex);
    if (!ks) {
        fprintf(stderr, "provision keys seal: %s\n", err);
        return ex ? PV_EXIT_IO : PV_EXIT_KEY;
    }
    if (pv_keystore_seal_file(ks, in, out) != 0) {
        const char *e = pv_keystore_error(ks);
        fprintf(stderr, "provision keys seal: %s\n", e);
        ex = strncmp(e, "keystore:", 9) == 0 ? PV_EXIT_KEY : PV_EXIT_IO;
    } else {
        char label[PV_KEYS_AT_REST_MAX];
        pv_keys_at_rest_label(r, label);
        printf("sealed %s -> %s (AES-GCM, at-rest key '%s' on token '%s')\n", in, out, label,
               r->keys.token);
    }
    pv_keystore_close(ks);
    return ex;
}

/* Public keys only: the private halves never leave the token (or, for the sealed Noise key, the
 * trusted side's memory, where it is wiped at once). */
static int do_export(const struct opts *o, const pv_recipe *r)
{
    int ed = strcmp(o->key, "noise") != 0;
    if (strcmp(o->key, "signing") != 0 && strcmp(o->key, "audit") != 0 && ed)
        return usage_error("--key must be signing, audit or noise, not", o->key);
    if (strcmp(o->key, "audit") == 0 && !r->keys.audit_key[0]) {
        fprintf(stderr,
                "provision keys export: %s: the recipe names no audit key (keys.audit_key)\n",
                r->file);
        return PV_EXIT_INVALID;
    }
    char err[640];
    int ex;
    unsigned which = strcmp(o->key, "signing") == 0 ? PV_KEYS_SIGNING
                     : strcmp(o->key, "audit") == 0 ? PV_KEYS_AUDIT
                                                    : PV_KEYS_NOISE;
    pv_keystore *ks = pv_keys_open(r, o->module, o->pin_file, o->dev, which, err, sizeof err, &ex);
    if (!ks) {
        fprintf(stderr, "provision keys export: %s\n", err);
        return ex ? PV_EXIT_IO : PV_EXIT_KEY;
    }
    uint8_t pub[32], priv[32];
    int rc = strcmp(o->key, "signing") == 0 ? pv_keystore_signer_public(ks, pub)
             : strcmp(o->key, "audit") == 0 ? pv_keystore_audit_public(ks, pub)
                                            : pv_keystore_noise_static(ks, priv, pub);
    OPENSSL_cleanse(priv, sizeof priv);
    if (rc != 0) {
        fprintf(stderr, "provision keys export: %s\n", pv_keystore_error(ks));
        pv_keystore_close(ks);
        return PV_EXIT_KEY;
    }
    pv_keystore_close(ks);
    EVP_PKEY *pk =
        EVP_PKEY_new_raw_public_key(ed ? EVP_PKEY_ED25519 : EVP_PKEY_X25519, NULL, pub, 32);
    FILE *f = pk ? fopen(o->out, "w") : NULL;
    int ok = f && PEM_write_PUBKEY(f, pk) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    EVP_PKEY_free(pk);
    if (!ok) {
        fprintf(stderr, "provision keys export: %s: cannot write: %s\n", o->out,
                errno ? strerror(errno) : "OpenSSL error");
        return PV_EXIT_IO;
    }
    printf("exported the %s public key to %s\n", o->key, o->out);
    return PV_EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing subcommand: init, show, seal or export", NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        pv_cli_cmd_help(stdout, &pv_provision_cli, &pv_cmd_keys);
        return PV_EXIT_OK;
    }
    if (strcmp(sub, "init") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "seal") != 0 &&
        strcmp(sub, "export") != 0)
        return usage_error("unknown subcommand", sub);
    struct opts o = {0};
    int c;
    struct pv_cli_parser ps;
    static char who[64];
    snprintf(who, sizeof who, "provision keys %s", sub);
    pv_cli_begin(&ps, &pv_provision_cli, &pv_cmd_keys, who, argc - 1, argv + 1);
    while ((c = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        switch (c) {
        case 'k':
            o.key = v;
            break;
        case 'o':
            o.out = v;
            break;
        case 'r':
            o.recipe = v;
            break;
        case 'p':
            o.pin_file = v;
            break;
        case 's':
            o.so_pin_file = v;
            break;
        case 'm':
            o.module = v;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'd':
            o.dev = 1;
            break;
        default:
            return usage_error("option not handled", ps.opt->name);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **args;
    int nargs = pv_cli_operands(&ps, &args);
    int want = strcmp(sub, "seal") == 0 ? 2 : 0;
    if (!o.recipe)
        return usage_error("--recipe R is required", NULL);
    if (nargs != want)
        return usage_error(want ? "seal needs IN and OUT" : "unexpected argument",
                           nargs > want ? args[want] : NULL);
    if ((o.force || o.so_pin_file) && strcmp(sub, "init") != 0)
        return usage_error("--force and --so-pin-file are for init only", NULL);
    if ((o.key || o.out) != (strcmp(sub, "export") == 0) || (o.key && !o.out) || (o.out && !o.key))
        return usage_error("export needs --key signing|audit|noise and -o FILE (export only)",
                           NULL);
    if (!o.module)
        o.module = getenv(PV_KEYS_MODULE_ENV); /* NULL: SoftHSM2 */
    int ex = PV_EXIT_OK;
    pv_recipe *r = load_recipe(o.recipe, &ex);
    if (!r)
        return ex;
    if (strcmp(sub, "init") == 0)
        ex = do_init(&o, r);
    else if (strcmp(sub, "show") == 0)
        ex = do_show(&o, r);
    else if (strcmp(sub, "export") == 0)
        ex = do_export(&o, r);
    else
        ex = do_seal(&o, r, args[0], args[1]);
    free(r);
    return ex;
}

const struct pv_cli_cmd pv_cmd_keys = {
    .name = "keys",
    .summary = "create, show and use the trusted side's keys in the PKCS#11 token",
    .usage = "keys init --recipe R [--so-pin-file F] [--pin-file F] [--force]\n"
             "keys show --recipe R [--pin-file F]\n"
             "keys seal --recipe R [--pin-file F] IN OUT\n"
             "keys export --recipe R --key signing|audit|noise -o PUB.pem",
    .about = "The keys of the recipe's `keys:` section in its PKCS#11 token (docs/keystore.md): "
             "the product master key (PSKs are HMAC-SHA256 of it, computed in the token), the "
             "Noise static key (sealed under a token AES key), the Ed25519 image-signing and "
             "audit keys, and the AES key that seals images at rest (label: the master key's "
             "label + \"" PV_KEYS_AT_REST_SUFFIX "\"). Every subcommand also takes --module LIB "
             "and --dev.\n\n"
             "init: creates the token if it is missing (needs the SO PIN) and every key the "
             "recipe names, all or none; refuses if one exists already unless --force. Prints "
             "the Noise static and the image-signing public keys in hex.\n"
             "show: labels, types, whether each key is present, sensitive and non-extractable, "
             "and the public keys. Exit 4 if a key is missing or not protected.\n"
             "seal: seals image IN with AES-GCM under the at-rest key into OUT (a " PV_SEAL_MAGIC
             " file).\n"
             "export: writes the public half of a key as PEM (SubjectPublicKeyInfo): signing "
             "(Ed25519, for provision image verify), audit (Ed25519, for provision ledger verify "
             "--key) or noise (X25519, the trusted side's Noise static key).\n\n"
             "PINs are never taken from the command line (--pin is refused) and never printed; "
             "the variables are read once and removed from the environment.",
    .opts = opts,
    .exits = exits,
    .run = run,
};
