#include "devdata/devdata.h"

#include <string.h>

#include "crypto/ed25519.h"
#include "crypto/wipe.h"
#include "util/le.h"

/* strlen bounded by max (strnlen is POSIX, not C11). */
static size_t name_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static int name_ok(const uint8_t *n, size_t len)
{
    if (len < 1 || len > PV_DEVDATA_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
            return 0;
    return 1;
}

static int value_ok(unsigned type, const uint8_t *v, size_t len)
{
    switch (type) {
    case PV_DEVDATA_TEXT:
        for (size_t i = 0; i < len; i++)
            if (v[i] < 0x20 || v[i] > 0x7e)
                return 0;
        return len <= PV_DEVDATA_VALUE_MAX;
    case PV_DEVDATA_MAC:
        return len == 6;
    case PV_DEVDATA_INT:
        return len == 8;
    default:
        return 0;
    }
}

/* Walks the fields of rec[0..body) (body: the signed length); calls fn for each unless fn is
 * NULL. PV_DEVDATA_ERR_FORMAT if anything does not parse or the padding is not zero. */
static int walk(const uint8_t *rec, size_t body,
                int (*fn)(void *ctx, unsigned type, const char *name, size_t name_len,
                          const uint8_t *value, size_t len),
                void *ctx)
{
    unsigned count = rec[20];
    size_t off = PV_DEVDATA_HDR;
    if (count > PV_DEVDATA_FIELDS_MAX || rec[21] || rec[22] || rec[23])
        return PV_DEVDATA_ERR_FORMAT;
    for (unsigned i = 0; i < count; i++) {
        if (body - off < PV_DEVDATA_FIELD_HDR)
            return PV_DEVDATA_ERR_FORMAT;
        unsigned type = rec[off], n = rec[off + 1], v = rec[off + 2];
        if (rec[off + 3] || body - off - PV_DEVDATA_FIELD_HDR < (size_t)n + v)
            return PV_DEVDATA_ERR_FORMAT;
        const uint8_t *name = rec + off + PV_DEVDATA_FIELD_HDR;
        if (!name_ok(name, n) || !value_ok(type, name + n, v))
            return PV_DEVDATA_ERR_FORMAT;
        if (fn) {
            int rc = fn(ctx, type, (const char *)name, n, name + n, v);
            if (rc)
                return rc;
        }
        off += PV_DEVDATA_FIELD_HDR + n + v;
    }
    for (; off < body; off++)
        if (rec[off])
            return PV_DEVDATA_ERR_FORMAT;
    return PV_DEVDATA_OK;
}

int pv_devdata_begin(pv_devdata_builder *b, uint8_t *buf, size_t cap, const uint8_t uid[12])
{
    if (cap > PV_DEVDATA_MAX)
        cap = PV_DEVDATA_MAX;
    if (cap < PV_DEVDATA_HDR + PV_DEVDATA_SIG_LEN)
        return PV_DEVDATA_ERR_FULL;
    memset(buf, 0, cap);
    pv_st32(buf, PV_DEVDATA_MAGIC);
    pv_st16(buf + 4, PV_DEVDATA_FORMAT);
    memcpy(buf + 8, uid, 12);
    b->buf = buf;
    b->cap = cap;
    b->used = PV_DEVDATA_HDR;
    b->count = 0;
    return PV_DEVDATA_OK;
}

struct same_name {
    const char *name;
    size_t len;
};

static int is_named(void *ctx, unsigned type, const char *name, size_t name_len,
                    const uint8_t *value, size_t len)
{
    const struct same_name *s = ctx;
    (void)type, (void)value, (void)len;
    return name_len == s->len && memcmp(name, s->name, name_len) == 0;
}

int pv_devdata_add(pv_devdata_builder *b, enum pv_devdata_type type, const char *name,
                   const uint8_t *value, size_t len)
{
    size_t n = name_len(name, PV_DEVDATA_NAME_MAX + 1);
    struct same_name s = {name, n};
    if (!name_ok((const uint8_t *)name, n) || !value_ok(type, value, len) ||
        b->count >= PV_DEVDATA_FIELDS_MAX ||
        b->cap - PV_DEVDATA_SIG_LEN - b->used < PV_DEVDATA_FIELD_HDR + n + len)
        return PV_DEVDATA_ERR_FULL;
    b->buf[20] = (uint8_t)b->count;
    if (walk(b->buf, b->used, is_named, &s))
        return PV_DEVDATA_ERR_FULL;
    uint8_t *f = b->buf + b->used;
    f[0] = (uint8_t)type, f[1] = (uint8_t)n, f[2] = (uint8_t)len, f[3] = 0;
    memcpy(f + PV_DEVDATA_FIELD_HDR, name, n);
    memcpy(f + PV_DEVDATA_FIELD_HDR + n, value, len);
    b->used += PV_DEVDATA_FIELD_HDR + n + len;
    b->buf[20] = (uint8_t)++b->count;
    return PV_DEVDATA_OK;
}

size_t pv_devdata_finish(pv_devdata_builder *b)
{
    size_t body = (b->used + 3u) & ~(size_t)3u;
    if (body + PV_DEVDATA_SIG_LEN > b->cap)
        return 0;
    memset(b->buf + b->used, 0, body - b->used);
    pv_st16(b->buf + 6, (uint16_t)(body + PV_DEVDATA_SIG_LEN));
    return body;
}

int pv_devdata_check(const uint8_t *rec, size_t avail, const uint8_t signer_pub[32],
                     const uint8_t uid[12], size_t *len)
{
    if (avail < PV_DEVDATA_HDR + PV_DEVDATA_SIG_LEN || pv_ld32(rec) != PV_DEVDATA_MAGIC)
        return PV_DEVDATA_ERR_MAGIC;
    size_t l = pv_ld16(rec + 6);
    if (pv_ld16(rec + 4) != PV_DEVDATA_FORMAT || l % 4 || l < PV_DEVDATA_HDR + PV_DEVDATA_SIG_LEN ||
        l > PV_DEVDATA_MAX || l > avail)
        return PV_DEVDATA_ERR_FORMAT;
    size_t body = l - PV_DEVDATA_SIG_LEN;
    if (walk(rec, body, NULL, NULL))
        return PV_DEVDATA_ERR_FORMAT;
    if (pv_ed25519_verify(rec + body, signer_pub, rec, body) != 0)
        return PV_DEVDATA_ERR_SIGNATURE;
    if (uid && !pv_ct_equal(uid, rec + 8, 12))
        return PV_DEVDATA_ERR_UID;
    if (len)
        *len = l;
    return PV_DEVDATA_OK;
}

struct finder {
    struct same_name s;
    unsigned type;
    const uint8_t *value;
    size_t len;
};

static int find_one(void *ctx, unsigned type, const char *name, size_t name_len,
                    const uint8_t *value, size_t len)
{
    struct finder *f = ctx;
    if (!is_named(&f->s, type, name, name_len, value, len))
        return 0;
    f->type = type, f->value = value, f->len = len;
    return 1;
}

int pv_devdata_find(const uint8_t *rec, const char *name, unsigned *type, const uint8_t **value,
                    size_t *len)
{
    struct finder f = {{name, name_len(name, PV_DEVDATA_NAME_MAX + 1)}, 0, NULL, 0};
    if (walk(rec, pv_ld16(rec + 6) - PV_DEVDATA_SIG_LEN, find_one, &f) != 1)
        return PV_DEVDATA_ERR_ABSENT;
    if (type)
        *type = f.type;
    *value = f.value;
    *len = f.len;
    return PV_DEVDATA_OK;
}

int pv_devdata_each(const uint8_t *rec,
                    int (*fn)(void *ctx, unsigned type, const char *name, size_t name_len,
                              const uint8_t *value, size_t len),
                    void *ctx)
{
    return walk(rec, pv_ld16(rec + 6) - PV_DEVDATA_SIG_LEN, fn, ctx);
}

const char *pv_devdata_strerror(int err)
{
    switch (err) {
    case PV_DEVDATA_OK:
        return "device data record valid";
    case PV_DEVDATA_ERR_MAGIC:
        return "no device data record (no PVDD magic)";
    case PV_DEVDATA_ERR_FORMAT:
        return "device data record malformed (format, length or fields)";
    case PV_DEVDATA_ERR_SIGNATURE:
        return "device data record signature does not verify (altered, or another key)";
    case PV_DEVDATA_ERR_UID:
        return "device data record belongs to another chip (UID differs)";
    case PV_DEVDATA_ERR_FULL:
        return "device data field does not fit or is malformed";
    case PV_DEVDATA_ERR_ABSENT:
        return "no such device data field";
    default:
        return "unknown device data error";
    }
}
