/* Fuzzing `ledger verify` (hsm-bridge/ledger_audit.c, ledger_updates.c, ledger_devdata.c) and
 * checkpoints (ledger_checkpoint.c) on a database as someone with write access to it may leave
 * it. The harness is the store (hsm-bridge/ledger_store.h): it serves the audit log and the
 * tables decoded from the input. The input is a list of records; the first byte of each says
 * what it is (t % 8), and the record's fields follow as NUL-terminated strings:
 *   0  an audit entry: a flags byte, then at, action, batch, uid, state, station, detail,
 *      key_id ("" is NULL for batch .. station). Its seq, previous hash and hash are the right
 *      ones (so the replay is reached) unless flags bit 0 (seq skips one), bit 1 (previous hash
 *      wrong) or bit 2 (hash wrong); bit 3 makes its signature fail;
 *   1  a batches row: batch, quota, created_at;
 *   2  a devices row: batch, uid, state, station, recipe_name, recipe_digest, image_digest,
 *      key_id ("" none), key_version, the five state times, attempts, rdp_level, lease_station,
 *      lease_session, lease_until;
 *   3  a failures row: id, uid, batch, state, phase, reason, station, at;
 *   4  a stations row: name, cert_sha256, serial, rights, enrolled_at, revoked_at, revoke_reason;
 *   5  an updates row: id, uid, session, station, product, batch, started_at, ended_at,
 *      from_version, floor, offered_version, image_sha256, result, reason, now_version,
 *      bytes_written, ephemeral;
 *   6  a device_data row: uid, batch, at, counter, counter_value, serial, mac ("" none),
 *      mac_text, mes;
 *   7  a checkpoint file: a flags byte (bit 3: its signature fails), then the file's text (up to
 *      a NUL), parsed, then checked against the log.
 * Aborts when a broken log verifies (an entry with a wrong seq, hash, previous hash or
 * signature), when verify reports a problem with no message or a message that is not
 * terminated, or when a checkpoint that does not parse leaves no reason. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hsm-bridge/ledger_checkpoint.h"
#include "../hsm-bridge/ledger_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXREC 64

struct audit_rec {
    uint8_t flags;
    const char *f[8];
    uint8_t prev[32], hash[32], sig[1];
    int64_t seq;
};

static struct input {
    struct audit_rec audit[MAXREC];
    size_t naudit;
    pv_store_batch batch[MAXREC];
    size_t nbatch;
    pv_ledger_row dev[MAXREC];
    size_t ndev;
    pv_store_failure fail[MAXREC];
    size_t nfail;
    pv_ledger_station st[MAXREC];
    size_t nst;
    pv_ledger_update upd[MAXREC];
    size_t nupd;
    pv_ledger_devdata dd[MAXREC];
    size_t ndd;
    int broken_log; /* an entry the chain must refuse */
} in;

/* ---- the store ---- */

static int s_begin(pv_store *s, enum pv_store_txn mode)
{
    (void)s, (void)mode;
    return PV_LEDGER_OK;
}
static int s_commit(pv_store *s)
{
    (void)s;
    return PV_LEDGER_OK;
}
static void s_rollback(pv_store *s)
{
    (void)s;
}
static int s_lost(pv_store *s)
{
    (void)s;
    return 0;
}
static int s_reconnect(pv_store *s)
{
    (void)s;
    return PV_LEDGER_E_DB;
}

static int s_audit_list(pv_store *s, int (*fn)(void *ctx, const pv_store_audit *e), void *ctx)
{
    (void)s;
    for (size_t i = 0; i < in.naudit; i++) {
        struct audit_rec *a = &in.audit[i];
        pv_store_audit e = {a->seq,  a->f[0], a->f[1], a->f[2], a->f[3],
                            a->f[4], a->f[5], a->f[6], a->f[7], a->prev,
                            a->hash, a->sig,  32,      32,      sizeof a->sig};
        int rc = fn(ctx, &e);
        if (rc)
            return rc;
    }
    return PV_LEDGER_OK;
}

/* A table's rows in input order; `by` is the list's filter parameter where it has one (device,
 * update and device-data lists take a batch or UID, which verify leaves NULL). */
#define BY const char *by __attribute__((unused)),
#define LIST(name, type, arr, n, by)                                                               \
    static int name(pv_store *s, by int (*fn)(void *ctx, const type *r), void *ctx)                \
    {                                                                                              \
        (void)s;                                                                                   \
        for (size_t i = 0; i < in.n; i++) {                                                        \
            int rc = fn(ctx, &in.arr[i]);                                                          \
            if (rc)                                                                                \
                return rc;                                                                         \
        }                                                                                          \
        return PV_LEDGER_OK;                                                                       \
    }
LIST(s_batch_list, pv_store_batch, batch, nbatch, )
LIST(s_failure_list, pv_store_failure, fail, nfail, )
LIST(s_station_list, pv_ledger_station, st, nst, )
LIST(s_device_list, pv_ledger_row, dev, ndev, BY)
LIST(s_update_list, pv_ledger_update, upd, nupd, BY)
LIST(s_devdata_list, pv_ledger_devdata, dd, ndd, BY)

/* Only what verify and checkpoint checks read; any other operation is a null pointer, so a read
 * path that starts writing shows up as a crash. */
static const pv_store_ops ops = {
    .name = "fuzz",
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .lost = s_lost,
    .reconnect = s_reconnect,
    .audit_list = s_audit_list,
    .batch_list = s_batch_list,
    .device_list = s_device_list,
    .failure_list = s_failure_list,
    .station_list = s_station_list,
    .update_list = s_update_list,
    .devdata_list = s_devdata_list,
};

/* Signatures: one byte, 1 = good (flags bit 3 makes it 0). */
static int check_sig(void *ctx, const char *key_id, const uint8_t hash[32], const uint8_t *sig,
                     size_t sig_len)
{
    (void)ctx, (void)key_id, (void)hash;
    return sig_len == 1 && sig[0] == 1 ? 0 : -1;
}

/* A checkpoint's signature: its record says whether it verifies. */
static int cp_sig_ok;
static int check_cp_sig(void *ctx, const char *key_id, const uint8_t hash[32], const uint8_t *sig,
                        size_t sig_len)
{
    (void)ctx, (void)key_id, (void)hash, (void)sig, (void)sig_len;
    return cp_sig_ok ? 0 : -1;
}

/* ---- decoding ---- */

struct cursor {
    const uint8_t *p, *end;
};

/* The next NUL-terminated string, or "" at the end of the input. */
static const char *next(struct cursor *c)
{
    if (c->p >= c->end)
        return "";
    const uint8_t *z = memchr(c->p, 0, (size_t)(c->end - c->p));
    if (!z)
        return "";
    const char *s = (const char *)c->p;
    c->p = z + 1;
    return s;
}

/* A table row's columns in the order the input gives them: text (copied, cut to its buffer) or
 * a number (decimal text; 'i' int64, 'u' uint32, 'n' unsigned). */
struct column {
    size_t off, cap;
    char kind;
};
#define T(type, f)                                                                                 \
    {                                                                                              \
        offsetof(type, f), sizeof((type *)0)->f, 's'                                               \
    }
#define N(type, f, k)                                                                              \
    {                                                                                              \
        offsetof(type, f), 0, k                                                                    \
    }

static void fill(void *row, const struct column *col, size_t n, struct cursor *c)
{
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)row + col[i].off;
        const char *v = next(c);
        if (col[i].kind == 's')
            pv_store_copy(p, col[i].cap, v);
        else if (col[i].kind == 'i')
            *(int64_t *)(void *)p = strtoll(v, NULL, 10);
        else if (col[i].kind == 'u')
            *(uint32_t *)(void *)p = (uint32_t)strtoul(v, NULL, 10);
        else
            *(unsigned *)(void *)p = (unsigned)strtoul(v, NULL, 10);
    }
}

static const struct column batch_cols[] = {T(pv_store_batch, batch), N(pv_store_batch, quota, 'u'),
                                           T(pv_store_batch, created_at)};
/* after batch, uid and state (decoded apart) */
static const struct column device_cols[] = {
    T(pv_ledger_row, station), T(pv_ledger_row, recipe_name), T(pv_ledger_row, recipe_digest),
    T(pv_ledger_row, image_digest)};
/* after key_id (decoded apart) */
static const struct column device_cols2[] = {N(pv_ledger_row, key_version, 'u'),
                                             T(pv_ledger_row, at[0]),
                                             T(pv_ledger_row, at[1]),
                                             T(pv_ledger_row, at[2]),
                                             T(pv_ledger_row, at[3]),
                                             T(pv_ledger_row, at[4]),
                                             N(pv_ledger_row, attempts, 'n'),
                                             N(pv_ledger_row, rdp_level, 'n'),
                                             T(pv_ledger_row, lease_station),
                                             T(pv_ledger_row, lease_session),
                                             T(pv_ledger_row, lease_until)};
static const struct column failure_cols[] = {
    N(pv_store_failure, id, 'i'), T(pv_store_failure, uid),   T(pv_store_failure, batch),
    T(pv_store_failure, state),   T(pv_store_failure, phase), T(pv_store_failure, reason),
    T(pv_store_failure, station), T(pv_store_failure, at)};
static const struct column station_cols[] = {
    T(pv_ledger_station, name),         T(pv_ledger_station, cert_sha256),
    T(pv_ledger_station, serial),       T(pv_ledger_station, rights),
    T(pv_ledger_station, enrolled_at),  T(pv_ledger_station, revoked_at),
    T(pv_ledger_station, revoke_reason)};
static const struct column update_cols[] = {N(pv_ledger_update, id, 'i'),
                                            T(pv_ledger_update, uid_hex),
                                            T(pv_ledger_update, session),
                                            T(pv_ledger_update, station),
                                            T(pv_ledger_update, product),
                                            T(pv_ledger_update, batch),
                                            T(pv_ledger_update, started_at),
                                            T(pv_ledger_update, ended_at),
                                            N(pv_ledger_update, from_version, 'u'),
                                            N(pv_ledger_update, floor, 'u'),
                                            N(pv_ledger_update, offered_version, 'u'),
                                            T(pv_ledger_update, image_sha256),
                                            T(pv_ledger_update, result),
                                            T(pv_ledger_update, reason),
                                            N(pv_ledger_update, now_version, 'u'),
                                            N(pv_ledger_update, bytes_written, 'u'),
                                            T(pv_ledger_update, ephemeral)};
static const struct column devdata_cols[] = {T(pv_ledger_devdata, uid_hex),
                                             T(pv_ledger_devdata, batch),
                                             T(pv_ledger_devdata, at),
                                             T(pv_ledger_devdata, counter),
                                             N(pv_ledger_devdata, counter_value, 'i'),
                                             T(pv_ledger_devdata, serial)};
/* after mac (decoded apart) */
static const struct column devdata_cols2[] = {T(pv_ledger_devdata, mac_text),
                                              T(pv_ledger_devdata, mes)};
#define FILL(row, cols, c) fill(row, cols, sizeof cols / sizeof cols[0], c)

static const char *null_if_empty(const char *s)
{
    return s[0] ? s : NULL;
}

static void decode(const uint8_t *data, size_t size, pv_ledger *l)
{
    struct cursor c = {data, data + size};
    uint8_t prev[32] = {0};
    int64_t seq = 1;
    while (c.p < c.end) {
        uint8_t t = *c.p++;
        switch (t % 8) {
        case 0: {
            if (in.naudit == MAXREC || c.p >= c.end)
                return;
            struct audit_rec *a = &in.audit[in.naudit++];
            a->flags = *c.p++;
            for (int k = 0; k < 8; k++)
                a->f[k] = next(&c);
            for (int k = 2; k < 6; k++)
                a->f[k] = null_if_empty(a->f[k]);
            a->seq = seq + (a->flags & 1);
            memcpy(a->prev, prev, 32);
            a->prev[0] ^= (uint8_t)((a->flags >> 1) & 1);
            pv_audit_entry e = {a->seq,  a->f[0], a->f[1], a->f[2], a->f[3],
                                a->f[4], a->f[5], a->f[6], a->f[7]};
            pv_ledger_audit_hash(prev, &e, a->hash);
            memcpy(prev, a->hash, 32);
            a->hash[31] ^= (uint8_t)((a->flags >> 2) & 1);
            a->sig[0] = (a->flags & 8) ? 0 : 1;
            in.broken_log |= (a->flags & 15) != 0;
            seq = a->seq + 1;
            break;
        }
        case 1:
            if (in.nbatch < MAXREC)
                FILL(&in.batch[in.nbatch++], batch_cols, &c);
            break;
        case 2:
            if (in.ndev < MAXREC) {
                pv_ledger_row *r = &in.dev[in.ndev++];
                pv_store_copy(r->batch, sizeof r->batch, next(&c));
                pv_store_copy(r->uid_hex, sizeof r->uid_hex, next(&c));
                pv_store_uid_bytes(r->uid_hex, r->uid);
                r->state = pv_ledger_state_from_name(next(&c));
                FILL(r, device_cols, &c);
                const char *k = next(&c);
                r->has_key = k[0] != 0;
                r->key_id = (uint32_t)strtoul(k, NULL, 10);
                FILL(r, device_cols2, &c);
            }
            break;
        case 3:
            if (in.nfail < MAXREC)
                FILL(&in.fail[in.nfail++], failure_cols, &c);
            break;
        case 4:
            if (in.nst < MAXREC)
                FILL(&in.st[in.nst++], station_cols, &c);
            break;
        case 5:
            if (in.nupd < MAXREC)
                FILL(&in.upd[in.nupd++], update_cols, &c);
            break;
        case 6:
            if (in.ndd < MAXREC) {
                pv_ledger_devdata *d = &in.dd[in.ndd++];
                FILL(d, devdata_cols, &c);
                const char *m = next(&c);
                d->has_mac = m[0] != 0;
                d->mac = strtoull(m, NULL, 16) & 0xFFFFFFFFFFFFull;
                FILL(d, devdata_cols2, &c);
            }
            break;
        default: {
            uint8_t flags = c.p < c.end ? *c.p++ : 0;
            const char *text = next(&c);
            pv_ledger_checkpoint cp;
            char err[512] = "";
            if (pv_ledger_checkpoint_parse(text, strlen(text), &cp, err, sizeof err) != 0) {
                if (!err[0] || !memchr(err, 0, sizeof err))
                    abort();
                break;
            }
            char msg[768] = "";
            cp_sig_ok = !(flags & 8);
            int rc = pv_ledger_checkpoint_check(l, &cp, check_cp_sig, NULL, msg, sizeof msg);
            if (getenv("FUZZ_LEDGER_PRINT"))
                fprintf(stderr, "checkpoint: rc %d: %s\n", rc, msg);
            if (!memchr(msg, 0, sizeof msg))
                abort();
            break;
        }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[768];
    static pv_store store = {&ops, err, sizeof err};
    pv_ledger l;
    memset(&l, 0, sizeof l);
    l.store = &store;
    l.read_only = 1;
    memset(&in, 0, sizeof in);
    decode(data, size, &l);
    pv_ledger_verify_report rep;
    int rc = pv_ledger_verify_chain(&l, check_sig, NULL, &rep);
    static int print = -1; /* FUZZ_LEDGER_PRINT=1: the verdict per input, to check seeds */
    if (print < 0)
        print = getenv("FUZZ_LEDGER_PRINT") != NULL;
    if (print)
        fprintf(stderr, "verify: rc %d, %lld entries: %s\n", rc, (long long)rep.entries,
                rep.message);
    if (!memchr(rep.message, 0, sizeof rep.message))
        abort();
    if (rc == PV_LEDGER_OK) {
        if (in.broken_log || rep.message[0])
            abort();
        if (rep.entries != (int64_t)in.naudit)
            abort();
    } else if (!rep.message[0]) {
        abort();
    }
    return 0;
}
