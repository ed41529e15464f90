/* provision ledger list|export|verify: read the ledger of provisioned devices
 * (hsm-bridge/ledger.h, docs/ledger.md). Nothing here writes to the ledger except
 * confirm-locked, the recovery for a chip locked before its row said so (docs/ledger.md,
 * "A lock the ledger missed"), signed with the recipe's audit key in the token. */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "../hsm-bridge/file_read.h"
#include "../hsm-bridge/ledger.h"
#include "../hsm-bridge/ledger_checkpoint.h"
#include "../hsm-bridge/ledger_ed25519.h"
#include "commands.h"
#include "image/image.h"
#include "../hsm-bridge/keys_config.h"
#include "../hsm-bridge/recipe.h"
#include "../hsm-bridge/text_safe.h"

/* ---- history: a device's firmware updates ---- */

static int history_line(void *ctx, const pv_ledger_update *u)
{
    json_t *arr = ctx;
    char from[14], offered[14], now[14];
    pv_image_version_str(from, u->from_version);
    pv_image_version_str(offered, u->offered_version);
    pv_image_version_str(now, u->now_version);
    if (arr) {
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id",
                           (json_int_t)u->id, "started_at", u->started_at, "ended_at", u->ended_at,
                           "station", u->station, "from_version", from, "offered_version",
                           u->offered_version ? offered : "", "result", u->result, "reason",
                           u->reason, "now_version", u->now_version ? now : "", "session",
                           u->session, "bytes_written", (json_int_t)u->bytes_written));
        return 0;
    }
    /* the reason is the bridge's text: control characters shown escaped */
    printf("%-24s  %-16s %-8s -> %-8s %-16s ", u->started_at, u->station,
           u->from_version ? from : "-", u->offered_version ? offered : "-", u->result);
    for (const char *c = u->reason; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            printf("\\x%02x", (unsigned char)*c);
        else
            putchar(*c);
    putchar('\n');
    return 0;
}

static int history(const char *path, const char *uid_hex, int json)
{
    uint8_t uid[PV_LEDGER_UID_LEN];
    unsigned b;
    if (strlen(uid_hex) != 2 * PV_LEDGER_UID_LEN) {
        fprintf(stderr, "provision ledger history: '%s' is not a UID (24 hex digits)\n", uid_hex);
        return PV_EXIT_USAGE;
    }
    for (unsigned i = 0; i < PV_LEDGER_UID_LEN; i++) {
        if (sscanf(uid_hex + 2 * i, "%2x", &b) != 1 || !isxdigit((unsigned char)uid_hex[2 * i]) ||
            !isxdigit((unsigned char)uid_hex[2 * i + 1])) {
            fprintf(stderr, "provision ledger history: '%s' is not a UID (24 hex digits)\n",
                    uid_hex);
            return PV_EXIT_USAGE;
        }
        uid[i] = (uint8_t)b;
    }
    char err[1024];
    pv_ledger *l = pv_ledger_open(path, PV_LEDGER_READ_ONLY, err, sizeof err);
    if (!l) {
        fprintf(stderr, "provision ledger: %s\n", err);
        return PV_EXIT_IO;
    }
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-24s  %-16s %-8s    %-8s %-16s %s\n", "started", "station", "from", "offered",
               "result", "reason");
    int rc = pv_ledger_update_list(l, uid, history_line, arr);
    if (rc != PV_LEDGER_OK)
        fprintf(stderr, "provision ledger history: %s\n", pv_ledger_error(l));
    else if (arr) {
        char *text = json_dumps(arr, JSON_INDENT(1));
        if (text)
            printf("%s\n", text);
        free(text);
    }
    json_decref(arr);
    pv_ledger_close(l);
    return rc == PV_LEDGER_OK ? PV_EXIT_OK : PV_EXIT_LEDGER;
}

static const struct pv_cli_opt opts[] = {
    {'l', 0, "ledger", "PATH",
     "the ledger file or a postgresql:// URL (default $" PV_LEDGER_ENV
     ", else ./" PV_LEDGER_DEFAULT_PATH ")",
     NULL},
    {'b', 0, "batch", "B", "list, export: only devices of batch B", NULL},
    {'S', 0, "state", "S",
     "list: only devices in state S (reserved, keyed, written, verified, locked)", NULL},
    {'j', 0, "json", NULL, "list, history: a JSON array", NULL},
    {'f', 0, "format", "csv|jsonl|json|updates-csv",
     "export: devices as CSV (RFC 4180), JSON Lines (devices, then firmware update attempts), a "
     "JSON array, or the update attempts as CSV",
     NULL},
    {'o', 'o', "output", "FILE", "export, checkpoint: where to write (export: else stdout)", NULL},
    {'k', 0, "key", "PUB.pem", "verify: the audit signing key's public key (PEM)", NULL},
    {'H', 0, "head", "CHECKPOINT", "verify: a checkpoint (needs --key, which must have signed it)",
     NULL},
    {'u', 0, "uid", "UID", "confirm-locked, history: the device (24 hex digits, as listed)", NULL},
    {'r', 0, "recipe", "R",
     "confirm-locked, checkpoint: the recipe whose keys: name the token and the audit key "
     "(confirm-locked: the row's batch's recipe)",
     NULL},
    {'R', 0, "reason", "TEXT",
     "confirm-locked: why, for the audit log (default: the debug port is dead after an "
     "interrupted run)",
     NULL},
    {'s', 0, "station", "ID", "confirm-locked: this station's name (default: host name)", NULL},
    {'P', 0, "pin-file", "F",
     "confirm-locked, checkpoint: the token's user PIN, first line of F (mode 0600 or 0400, "
     "yours; else $" PV_PIN_ENV ")",
     NULL},
    {'m', 0, "module", "LIB",
     "confirm-locked, checkpoint: the PKCS#11 module (default: "
     "SoftHSM2's)",
     NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};
static const int exits[] = {
    PV_EXIT_OK, PV_EXIT_INVALID, PV_EXIT_USAGE, PV_EXIT_IO, PV_EXIT_KEY, PV_EXIT_LEDGER, -1};

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "provision ledger: %s%s%s (see provision ledger --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return PV_EXIT_USAGE;
}

static const char *latest_time(const pv_ledger_row *r)
{
    for (int i = 4; i >= 0; i--)
        if (r->at[i][0])
            return r->at[i];
    return "";
}

struct list_ctx {
    pv_ledger_state state; /* 0: every state */
    int rows;
    char batches[64][PV_LEDGER_TEXT_MAX];
    int nbatches;
};

static int print_row(void *ctx, const pv_ledger_row *r)
{
    struct list_ctx *c = ctx;
    if (c->state && r->state != c->state)
        return 0;
    if (c->rows++ == 0)
        printf("%-24s  %-16s  %-8s  %-16s  %-24s  %5s  %5s  %3s  %s\n", "UID", "BATCH", "STATE",
               "STATION", "UPDATED", "TRIES", "FAILS", "RDP", "LEASE");
    /* Every text column escaped (text_safe.h): a row written outside provision may hold
     * terminal escapes. */
    char rdp[8] = "-", lease[4 * (PV_LEDGER_TEXT_MAX * 2 + 48)] = "-";
    char raw_lease[PV_LEDGER_TEXT_MAX * 2 + 48];
    char batch[4 * PV_LEDGER_TEXT_MAX], station[4 * PV_LEDGER_TEXT_MAX], at[4 * 32],
        updated[4 * 32];
    if (r->state == PV_LEDGER_LOCKED)
        snprintf(rdp, sizeof rdp, "%u", r->rdp_level);
    if (r->lease_station[0]) {
        snprintf(raw_lease, sizeof raw_lease, "%s/%s until %s", r->lease_station, r->lease_session,
                 r->lease_until);
        pv_text_escape(raw_lease, lease, sizeof lease);
    }
    printf("%-24s  %-16s  %-8s  %-16s  %-24s  %5u  %5u  %3s  %s\n",
           pv_text_escape(r->uid_hex, at, sizeof at), pv_text_escape(r->batch, batch, sizeof batch),
           pv_ledger_state_name(r->state), pv_text_escape(r->station, station, sizeof station),
           pv_text_escape(latest_time(r), updated, sizeof updated), r->attempts, r->failures, rdp,
           lease);
    int seen = 0;
    for (int i = 0; i < c->nbatches; i++)
        seen |= strcmp(c->batches[i], r->batch) == 0;
    if (!seen && c->nbatches < 64)
        snprintf(c->batches[c->nbatches++], PV_LEDGER_TEXT_MAX, "%s", r->batch);
    return 0;
}

static int list(pv_ledger *l, const char *batch, pv_ledger_state state, int json)
{
    if (json)
        return pv_ledger_export(l, stdout, PV_LEDGER_JSON, batch) == PV_LEDGER_OK ? PV_EXIT_OK
                                                                                  : PV_EXIT_IO;
    struct list_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return PV_EXIT_IO;
    c->state = state;
    int rc = pv_ledger_list(l, batch, print_row, c);
    if (rc != PV_LEDGER_OK) {
        fprintf(stderr, "provision ledger list: %s\n", pv_ledger_error(l));
        free(c);
        return PV_EXIT_IO;
    }
    if (!c->rows)
        printf("no devices%s%s%s%s\n", batch ? " in batch " : "", batch ? batch : "",
               state ? " in state " : "", state ? pv_ledger_state_name(state) : "");
    char shown[4 * PV_LEDGER_TEXT_MAX];
    for (int i = 0; i < c->nbatches; i++) {
        uint32_t quota, used;
        if (pv_ledger_batch(l, c->batches[i], &quota, &used) == PV_LEDGER_OK)
            printf("batch %s: %u of %u devices counted\n",
                   pv_text_escape(c->batches[i], shown, sizeof shown), used, quota);
    }
    free(c);
    return PV_EXIT_OK;
}

static int export(pv_ledger *l, const char *format, const char *out_path, const char *batch)
{
    enum pv_ledger_format fmt;
    if (!format)
        return usage_error("export needs --format csv, jsonl, json or updates-csv", NULL);
    if (strcmp(format, "csv") == 0)
        fmt = PV_LEDGER_CSV;
    else if (strcmp(format, "json") == 0)
        fmt = PV_LEDGER_JSON;
    else if (strcmp(format, "jsonl") == 0)
        fmt = PV_LEDGER_JSONL;
    else if (strcmp(format, "updates-csv") == 0)
        fmt = PV_LEDGER_CSV_UPDATES;
    else
        return usage_error("--format is csv, jsonl, json or updates-csv, not", format);
    if (!out_path) {
        if (pv_ledger_export(l, stdout, fmt, batch) != PV_LEDGER_OK) {
            fprintf(stderr, "provision ledger export: %s\n", pv_ledger_error(l));
            return PV_EXIT_IO;
        }
        return PV_EXIT_OK;
    }
    /* Next to the target, then renamed: a reader never sees half an export. */
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid()) >= sizeof tmp)
        return usage_error("output path too long:", out_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "provision ledger export: %s: cannot create: %s\n", out_path,
                strerror(errno));
        return PV_EXIT_IO;
    }
    int rc = pv_ledger_export(l, f, fmt, batch);
    int closed = fclose(f) == 0;
    if (rc != PV_LEDGER_OK || !closed || rename(tmp, out_path) != 0) {
        fprintf(stderr, "provision ledger export: %s: %s\n", out_path,
                rc != PV_LEDGER_OK ? pv_ledger_error(l) : strerror(errno));
        unlink(tmp);
        return PV_EXIT_IO;
    }
    return PV_EXIT_OK;
}

static EVP_PKEY *load_key(const char *path)
{
    char why[160];
    FILE *f = pv_file_fopen_regular(path, why, sizeof why);
    if (!f) {
        fprintf(stderr, "provision ledger verify: %s: %s\n", path, why);
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!k) {
        rewind(f);
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
        fprintf(stderr,
                "provision ledger verify: %s: not an Ed25519 key in PEM (export the audit key's "
                "public half, e.g. openssl pkey -pubout)\n",
                path);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/* --head: the checkpoint file, its signature by key, and the chain still holding its head. */
static int check_head(pv_ledger *l, const char *path, const char *head_path, EVP_PKEY *key,
                      int64_t entries_now)
{
    uint8_t *text;
    size_t len;
    char why[192];
    int rc = pv_file_read(head_path, PV_CHECKPOINT_FILE_MAX, &text, &len, why, sizeof why);
    if (rc != PV_FILE_OK) {
        if (rc == PV_FILE_TOO_LARGE)
            snprintf(why, sizeof why, "%zu bytes, more than a checkpoint's %u", len,
                     PV_CHECKPOINT_FILE_MAX);
        fprintf(stderr, "provision ledger verify: %s: %s\n", head_path, why);
        return PV_EXIT_IO;
    }
    pv_ledger_checkpoint cp;
    char msg[768];
    rc = pv_ledger_checkpoint_parse((const char *)text, len, &cp, msg, sizeof msg);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "provision ledger verify: %s: %s\n", head_path, msg);
        return PV_EXIT_INVALID;
    }
    rc = pv_ledger_checkpoint_check(l, &cp, pv_ledger_ed25519_verify, key, msg, sizeof msg);
    if (rc == PV_LEDGER_E_SIGN) {
        fprintf(stderr, "provision ledger verify: %s: checkpoint refused: %s\n", head_path, msg);
        return PV_EXIT_INVALID;
    }
    if (rc == PV_LEDGER_E_CHAIN) {
        fprintf(stderr, "%s: %s (checkpoint %s)\n", path, msg, head_path);
        return PV_EXIT_INVALID;
    }
    if (rc != PV_LEDGER_OK) {
        fprintf(stderr, "%s: %s\n", path, pv_ledger_error(l));
        return PV_EXIT_IO;
    }
    printf("checkpoint %s: signed by %s at %s; the chain still holds its head, entry #%lld "
           "(%lld entries now)\n",
           head_path, cp.key_id, cp.at, (long long)cp.entries, (long long)entries_now);
    return PV_EXIT_OK;
}

static int verify(pv_ledger *l, const char *path, const char *key_path, const char *head_path)
{
    EVP_PKEY *key = NULL;
    char key_id[PV_LEDGER_KEY_ID_LEN] = "";
    if (key_path) {
        if (!(key = load_key(key_path)))
            return PV_EXIT_KEY;
        pv_ledger_ed25519_key_id(key, key_id);
    }
    pv_ledger_verify_report rep;
    int rc = pv_ledger_verify_chain(l, key ? pv_ledger_ed25519_verify : NULL, key, &rep);
    if (rc == PV_LEDGER_E_CHAIN) {
        char msg[4 * sizeof rep.message];
        fprintf(stderr, "%s: audit chain broken: %s\n", path,
                pv_text_escape(rep.message, msg, sizeof msg));
        EVP_PKEY_free(key);
        return PV_EXIT_INVALID;
    }
    if (rc != PV_LEDGER_OK) {
        fprintf(stderr, "%s: %s\n", path, rep.message[0] ? rep.message : pv_ledger_error(l));
        EVP_PKEY_free(key);
        return PV_EXIT_IO;
    }
    if (head_path) {
        int ex = check_head(l, path, head_path, key, rep.entries);
        EVP_PKEY_free(key);
        if (ex != PV_EXIT_OK)
            return ex;
    } else
        EVP_PKEY_free(key);
    printf("%s: audit chain intact: %lld entries, hashes %s, tables match the log\n", path,
           (long long)rep.entries, key ? "and signatures checked" : "checked");
    if (key)
        printf("signatures: every entry signed by %s\n", key_id);
    else
        printf("signatures: not checked (give --key PUB.pem with the audit key)\n");
    return PV_EXIT_OK;
}

struct confirm_opts {
    const char *uid, *recipe, *reason, *station, *pin_file, *module;
};

static int parse_uid(const char *s, uint8_t uid[PV_LEDGER_UID_LEN])
{
    if (!s || strlen(s) != 2 * PV_LEDGER_UID_LEN ||
        strspn(s, "0123456789abcdefABCDEF") != 2 * PV_LEDGER_UID_LEN)
        return -1;
    for (unsigned i = 0; i < PV_LEDGER_UID_LEN; i++) {
        char h[3] = {s[2 * i], s[2 * i + 1], 0};
        uid[i] = (uint8_t)strtoul(h, NULL, 16);
    }
    return 0;
}

/* The recipe that names the token and its audit key (confirm-locked, checkpoint). PV_EXIT_OK or
 * an exit code after saying why; `what` ends the message ("nothing written"). */
static int load_audit_recipe(const char *cmd, const char *path, pv_recipe *rc, const char *what)
{
    pv_recipe_diags d;
    int st = pv_recipe_load(path, 0, rc, &d);
    pv_recipe_diags_print(stderr, &d);
    pv_recipe_diags_free(&d);
    if (st != PV_RECIPE_OK) {
        fprintf(stderr, "provision ledger %s: recipe %s %s; %s\n", cmd, path,
                st == PV_RECIPE_UNREADABLE ? "cannot be read" : "is not valid", what);
        return st == PV_RECIPE_UNREADABLE ? PV_EXIT_IO : PV_EXIT_INVALID;
    }
    if (!rc->keys.audit_key[0]) {
        fprintf(stderr, "provision ledger %s: recipe %s has no keys.audit_key to sign with; %s\n",
                cmd, path, what);
        return PV_EXIT_INVALID;
    }
    return PV_EXIT_OK;
}

/* Only the recipe's audit key, opened in its token, and the key's id. */
static int open_audit_key(const char *cmd, const pv_recipe *rc, const struct confirm_opts *o,
                          pv_keystore **ks, char kid[PV_LEDGER_KEY_ID_LEN], const char *what)
{
    char kerr[512];
    int kex;
    *ks = pv_keys_open(rc, o->module, o->pin_file, 0, PV_KEYS_AUDIT, kerr, sizeof kerr, &kex);
    if (!*ks) {
        fprintf(stderr, "provision ledger %s: %s; %s\n", cmd, kerr, what);
        return kex ? PV_EXIT_IO : PV_EXIT_KEY;
    }
    if (pv_keys_audit_key_id(*ks, kid) != 0) {
        fprintf(stderr, "provision ledger %s: %s; %s\n", cmd, pv_keystore_error(*ks), what);
        pv_keystore_close(*ks);
        *ks = NULL;
        return PV_EXIT_KEY;
    }
    return PV_EXIT_OK;
}

/* confirm-locked: the recipe's token signs the audit entry; only a verified row of the recipe's
 * batch moves to locked. */
static int confirm_locked(pv_ledger *l, const struct confirm_opts *o)
{
    uint8_t uid[PV_LEDGER_UID_LEN];
    if (parse_uid(o->uid, uid))
        return usage_error("--uid wants the device's 24 hex digits (provision ledger list), not",
                           o->uid);
    pv_ledger_row row;
    if (pv_ledger_get(l, uid, &row) != PV_LEDGER_OK) {
        fprintf(stderr, "provision ledger confirm-locked: %s; nothing written\n",
                pv_ledger_error(l));
        return PV_EXIT_LEDGER;
    }
    static pv_recipe rc;
    int ex = load_audit_recipe("confirm-locked", o->recipe, &rc, "nothing written");
    if (ex != PV_EXIT_OK)
        return ex;
    if (strcmp(rc.batch, row.batch) != 0) {
        fprintf(stderr,
                "provision ledger confirm-locked: UID %s is in batch %s, recipe %s is for batch "
                "%s; give that batch's recipe. Nothing written\n",
                row.uid_hex, row.batch, o->recipe, rc.batch);
        return PV_EXIT_LEDGER;
    }
    /* who: the login on this station */
    char host[64] = "", by[PV_LEDGER_TEXT_MAX];
    const char *station = o->station;
    if (!station) {
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "station");
        station = host;
    }
    struct passwd *pw = getpwuid(geteuid());
    const char *user = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    int n = snprintf(by, sizeof by, "%s@%s", user && *user ? user : "unknown", station);
    if (n < 0 || (size_t)n >= sizeof by)
        return usage_error("user@station is too long for the ledger:", station);
    const char *reason =
        o->reason ? o->reason
                  : "debug port dead after an interrupted run: the chip was locked before the "
                    "ledger recorded it";

    /* Only the audit key signs the confirmation. */
    pv_keystore *ks;
    char kid[PV_LEDGER_KEY_ID_LEN];
    if ((ex = open_audit_key("confirm-locked", &rc, o, &ks, kid, "nothing written")) != PV_EXIT_OK)
        return ex;
    pv_ledger_signer sig = {.key_id = kid, .sign = pv_keystore_audit_sign, .ctx = ks};
    pv_ledger_set_signer(l, &sig);
    int lr = pv_ledger_confirm_locked(l, uid, by, reason);
    pv_ledger_set_signer(l, NULL);
    pv_keystore_close(ks);
    if (lr != PV_LEDGER_OK) {
        fprintf(stderr, "provision ledger confirm-locked: %s\n", pv_ledger_error(l));
        return lr == PV_LEDGER_E_SIGN ? PV_EXIT_KEY : PV_EXIT_LEDGER;
    }
    printf("UID %s (batch %s): verified -> locked, confirmed by %s: %s\n", row.uid_hex, row.batch,
           by, reason);
    return PV_EXIT_OK;
}

/* checkpoint: the chain's head signed by the recipe's audit key, written to out through a
 * temporary file and a rename. The ledger is only read. */
static int checkpoint(pv_ledger *l, const struct confirm_opts *o, const char *out_path)
{
    static pv_recipe rc;
    int ex = load_audit_recipe("checkpoint", o->recipe, &rc, "no checkpoint written");
    pv_keystore *ks = NULL;
    char kid[PV_LEDGER_KEY_ID_LEN];
    if (ex == PV_EXIT_OK)
        ex = open_audit_key("checkpoint", &rc, o, &ks, kid, "no checkpoint written");
    if (ex != PV_EXIT_OK)
        return ex;
    pv_ledger_signer sig = {.key_id = kid, .sign = pv_keystore_audit_sign, .ctx = ks};
    pv_ledger_checkpoint cp;
    int lr = pv_ledger_checkpoint_make(l, &sig, &cp);
    pv_keystore_close(ks);
    if (lr != PV_LEDGER_OK) {
        fprintf(stderr, "provision ledger checkpoint: %s; no checkpoint written\n",
                pv_ledger_error(l));
        return lr == PV_LEDGER_E_SIGN ? PV_EXIT_KEY : PV_EXIT_IO;
    }
    char *text = pv_ledger_checkpoint_json(&cp);
    char tmp[4096];
    if (!text ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid()) >= sizeof tmp) {
        free(text);
        fprintf(stderr, "provision ledger checkpoint: %s: out of memory or path too long\n",
                out_path);
        return PV_EXIT_IO;
    }
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0;
    ok = (f && fclose(f) == 0) && ok;
    free(text);
    if (!ok || rename(tmp, out_path) != 0) {
        fprintf(stderr, "provision ledger checkpoint: %s: cannot write: %s\n", out_path,
                strerror(errno));
        unlink(tmp);
        return PV_EXIT_IO;
    }
    printf("checkpoint %s: %lld entries, head entry #%lld, signed by %s at %s\n", out_path,
           (long long)cp.entries, (long long)cp.entries, cp.key_id, cp.at);
    return PV_EXIT_OK;
}

static int run(int argc, char **argv)
{
    struct confirm_opts co = {0};
    const char *state_name = NULL;
    int confirm_opt = 0, key_opt = 0; /* confirm-locked only; confirm-locked or checkpoint */
    const char *head = NULL;
    const char *path = getenv(PV_LEDGER_ENV), *batch = NULL, *format = NULL, *out = NULL,
               *key = NULL;
    int json = 0, c;
    if (!path || !path[0])
        path = PV_LEDGER_DEFAULT_PATH;
    struct pv_cli_parser ps;
    pv_cmd_begin(&ps, &pv_cmd_ledger, argc, argv);
    while ((c = pv_cli_next(&ps)) >= 0) {
        const char *v = ps.value;
        switch (c) {
        case 'l':
            path = v;
            break;
        case 'b':
            batch = v;
            break;
        case 'j':
            json = 1;
            break;
        case 'f':
            format = v;
            break;
        case 'o':
            out = v;
            break;
        case 'k':
            key = v;
            break;
        case 'S':
            state_name = v;
            break;
        case 'u':
            co.uid = v;
            confirm_opt = 1;
            break;
        case 'r':
            co.recipe = v;
            key_opt = 1;
            break;
        case 'R':
            co.reason = v;
            confirm_opt = 1;
            break;
        case 's':
            co.station = v;
            confirm_opt = 1;
            break;
        case 'P':
            co.pin_file = v;
            key_opt = 1;
            break;
        case 'm':
            co.module = v;
            key_opt = 1;
            break;
        case 'H':
            head = v;
            break;
        default:
            return usage_error("option not handled", ps.opt->name);
        }
    }
    if (c != PV_CLI_END)
        return c == PV_CLI_HELP ? PV_EXIT_OK : PV_EXIT_USAGE;
    char **args;
    int nargs = pv_cli_operands(&ps, &args);
    if (nargs < 1)
        return usage_error(
            "missing subcommand (list, export, verify, checkpoint or confirm-locked)", NULL);
    const char *sub = args[0];
    if (strcmp(sub, "help") == 0) {
        pv_cli_cmd_help(stdout, &pv_provision_cli, &pv_cmd_ledger);
        return PV_EXIT_OK;
    }
    if (strcmp(sub, "history") == 0) {
        if (nargs > 2 || (nargs == 2) == (co.uid != NULL))
            return usage_error("history takes one UID (24 hex digits)", NULL);
        return history(path, nargs == 2 ? args[1] : co.uid, json);
    }
    if (nargs > 1)
        return usage_error("unexpected argument", args[1]);
    int is_list = strcmp(sub, "list") == 0, is_export = strcmp(sub, "export") == 0,
        is_verify = strcmp(sub, "verify") == 0, is_confirm = strcmp(sub, "confirm-locked") == 0,
        is_checkpoint = strcmp(sub, "checkpoint") == 0;
    if (!is_list && !is_export && !is_verify && !is_confirm && !is_checkpoint)
        return usage_error("unknown subcommand", sub);
    if ((json && !is_list) || (format && !is_export) || (out && !is_export && !is_checkpoint) ||
        (key && !is_verify) || (head && !is_verify) ||
        (batch && (is_verify || is_confirm || is_checkpoint)) || (state_name && !is_list) ||
        (confirm_opt && !is_confirm) || (key_opt && !is_confirm && !is_checkpoint))
        return usage_error("option not valid with", sub);
    if (head && !key)
        return usage_error("--head needs --key PUB.pem, the audit key that signed the checkpoint",
                           NULL);
    if (is_checkpoint && (!co.recipe || !out))
        return usage_error("checkpoint needs --recipe R (its audit key signs) and -o FILE", NULL);
    pv_ledger_state state = 0;
    if (state_name && !(state = pv_ledger_state_from_name(state_name)))
        return usage_error("--state is reserved, keyed, written, verified or locked, not",
                           state_name);
    if (state && json)
        return usage_error("--state lists a table; for JSON use export --format json and filter "
                           "on \"state\"",
                           NULL);
    if (is_confirm && (!co.uid || !co.recipe))
        return usage_error("confirm-locked needs --uid UID and --recipe R", NULL);
    if (is_confirm && co.reason && (!co.reason[0] || strlen(co.reason) >= PV_LEDGER_REASON_MAX))
        return usage_error("--reason must be 1 to 511 characters", NULL);
    char err[1024];
    /* Only confirm-locked writes; every other subcommand reads, and a reader never writes. */
    pv_ledger *l = pv_ledger_open(path, is_confirm ? 0 : PV_LEDGER_READ_ONLY, err, sizeof err);
    if (!l) {
        fprintf(stderr, "provision ledger: %s\n", err);
        return PV_EXIT_IO;
    }
    int ex = is_list         ? list(l, batch, state, json)
             : is_export     ? export(l, format, out, batch)
             : is_confirm    ? confirm_locked(l, &co)
             : is_checkpoint ? checkpoint(l, &co, out)
                             : verify(l, path, key, head);
    pv_ledger_close(l);
    return ex;
}

const struct pv_cli_cmd pv_cmd_ledger = {
    .name = "ledger",
    .summary = "list, export (CSV, JSON Lines, JSON), verify, checkpoint the ledger; confirm a "
               "lock it missed",
    .usage =
        "ledger list [--batch B] [--state S] [--json] [--ledger PATH]\n"
        "ledger export --format csv|jsonl|json|updates-csv [-o FILE] [--batch B] [--ledger PATH]\n"
        "ledger verify [--key PUB.pem [--head CHECKPOINT]] [--ledger PATH]\n"
        "ledger checkpoint --recipe R -o FILE [--pin-file F] [--module LIB] [--ledger PATH]\n"
        "ledger history UID [--json] [--ledger PATH]\n"
        "ledger confirm-locked --uid UID --recipe R [--reason TEXT] [--station ID] "
        "[--pin-file F] [--module LIB] [--ledger PATH]",
    .about = "The ledger (docs/ledger.md) holds one row per device UID: its batch and state "
             "(reserved, keyed, written, verified, locked), station, recipe, image digest, key id "
             "and version, the time of each state and the failed attempts; per batch the quota; "
             "and a hash-chained, signed audit log of every change.\n\n"
             "list: one line per device and each batch's quota use.\n"
             "export: every field of every device as CSV or JSON, to stdout or FILE.\n"
             "history: the device's firmware updates, one line per attempt: when, station, from "
             "version, offered version, result and reason (refusals too).\n"
             "verify: checks the audit chain (order, hashes, and with --key the Ed25519 "
             "signatures) and that the tables say what the audit log says; names the first "
             "broken entry or row. With --head, also that the chain still holds the head a "
             "signed checkpoint recorded: deleting the newest entries and their rows (which the "
             "chain alone cannot see) is reported as truncation.\n"
             "checkpoint: writes a checkpoint of the chain's head (entries, head hash, time) "
             "signed by the recipe's audit key in the token, as JSON to FILE, for verify "
             "--head.\n"
             "confirm-locked: records that the chip UID, whose row is at verified, is locked: "
             "for a chip locked by a run that died before the ledger said so (provision run then "
             "exits 6 on its dead debug port and lists such rows). Only a verified row moves; "
             "the audit entry names who (user@station) and why, signed with the recipe's audit "
             "key. Check the chip first (e.g. its bootloader boots).\n\n"
             "list, export, history, verify and checkpoint open the ledger read-only: a missing, "
             "empty or "
             "foreign file is reported as not a ledger and left as it was.",
    .opts = opts,
    .exits = exits,
    .exit_note = "Here 1 also means: the chain or tables are broken, truncated against the "
                 "checkpoint, or the checkpoint's signature or format is wrong; 3: the ledger "
                 "cannot be opened or the output not written; 10: confirm-locked refused (no such "
                 "UID, or its row is not at verified), nothing written.",
    .run = run,
};
