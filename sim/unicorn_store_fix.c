/* Unicorn 2.0.1 (Debian 12's libunicorn2) sends every guest store to RAM through QEMU's
 * self-modifying-code check, and that check allocates and frees a GLib tree of page locks each
 * time (page_collection_lock/unlock), although Unicorn runs one vCPU and its page locks are
 * no-ops. Stores then cost ~1 us: the stub's X25519 ran at ~15 MIPS instead of ~150. Upstream
 * dropped the tree (unicorn-engine/unicorn pull request 1838, in 2.0.2 and later).
 *
 * The library calls both functions through its PLT, so the sim's own definitions (exported with
 * --export-dynamic-symbol, see sim.mk) take their place: with 2.0.1 they skip the tree, which
 * callers only hand back to page_collection_unlock; with any other version they forward to the
 * library's own. The check for invalidating translated code that a store overwrites is kept. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <unicorn/unicorn.h>

struct uc_struct;
struct page_collection;

typedef struct page_collection *(*lock_fn)(struct uc_struct *, uint64_t, uint64_t);
typedef void (*unlock_fn)(struct page_collection *);

/* 0 unknown, 1 skip (2.0.1), 2 forward */
static int mode;
static lock_fn real_lock;
static unlock_fn real_unlock;

static void decide(void)
{
    unsigned major, minor;
    unsigned v = uc_version(&major, &minor);
    /* uc_version: 0xMMmmppEE (major, minor, patch, release candidate / 255) */
    unsigned patch = (v >> 8) & 0xFFu;
    if (major == 2 && minor == 0 && patch <= 1) {
        mode = 1;
        return;
    }
    real_lock = (lock_fn)dlsym(RTLD_NEXT, "page_collection_lock_arm");
    real_unlock = (unlock_fn)dlsym(RTLD_NEXT, "page_collection_unlock_arm");
    mode = 2;
}

/* The names and argument lists are Unicorn 2.0.x's (qemu/accel/tcg/translate-all.c, built for
 * the arm target); they are not in any header. */
struct page_collection *page_collection_lock_arm(struct uc_struct *uc, uint64_t start,
                                                 uint64_t end);
void page_collection_unlock_arm(struct page_collection *set);

struct page_collection *page_collection_lock_arm(struct uc_struct *uc, uint64_t start, uint64_t end)
{
    if (!mode)
        decide();
    if (mode == 1 || !real_lock)
        return NULL;
    return real_lock(uc, start, end);
}

void page_collection_unlock_arm(struct page_collection *set)
{
    if (!mode)
        decide();
    if (mode == 1 || !real_unlock || !set)
        return;
    real_unlock(set);
}
