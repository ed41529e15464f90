/* bridge_load: drives `hsm-bridge serve` with emulated stations and chips (emu_stub.h) from
 * several client threads at once and prints what it measured: sessions per second, the bridge's
 * time per session (the sum of the four requests' round trips as the client saw them, less the
 * emulated stub's work on the frames that arrived meanwhile), per-request percentiles and the
 * time per device. Every device is one whole session: plan, begin, verified, lock.
 *
 *   bridge_load --url https://127.0.0.1:PORT [--url ...] --cert C --key K --ca CA
 *               --product P --batch B [--devices N] [--clients C] [--warmup W]
 *               [--boot bootloader.bin] [--app app.img] [--reuse] [--quiet]
 *
 * Devices are spread over the URLs round robin. Without --reuse every device opens its own TLS
 * connection (as `provision run`, a process per device, does); with it each thread keeps one
 * connection per URL. --warmup W runs W devices per thread first, outside the figures. Exit 0
 * when no device broke (refusals are counted, not errors); 1 otherwise; 2 on bad usage.
 * The last line is machine-readable: "result locked=... refused=... sessions_per_s=... ...". */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "emu_stub.h"

#define URLS_MAX    16
#define CLIENTS_MAX 64

struct load {
    const char *urls[URLS_MAX];
    unsigned n_urls;
    const char *cert, *key, *ca, *product, *batch;
    unsigned devices, clients, warmup;
    int reuse, quiet;
    int warm_pass; /* the threads only run their warm-up devices */
    struct pv_emu_expect ex;
    atomic_uint next;        /* next device number */
    struct pv_emu_result *r; /* devices entries */
    atomic_uint broken;
};

struct worker {
    struct load *l;
    unsigned idx;
    pthread_t th;
    char err[512];
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static pv_bridge_client *client_for(const struct load *l, unsigned u, char *err, size_t len)
{
    struct pv_bridge_client_config cfg = {
        .url = l->urls[u], .cert = l->cert, .key = l->key, .ca = l->ca, .timeout_s = 60};
    return pv_bridge_client_new(&cfg, err, len);
}

/* One device on URL u; client from the cache (reuse) or a new one. */
static int one(struct worker *w, pv_emu_chip *chip, pv_bridge_client **cache, unsigned u,
               struct pv_emu_result *res)
{
    struct load *l = w->l;
    pv_bridge_client *c = cache[u];
    if (!c && !(c = client_for(l, u, w->err, sizeof w->err))) {
        memset(res, 0, sizeof *res);
        res->rc = PV_EMU_BROKEN;
        snprintf(res->why, sizeof res->why, "%.200s", w->err);
        return -1;
    }
    int rc = pv_emu_device(chip, c, l->product, l->batch, &l->ex, res);
    if (l->reuse)
        cache[u] = c;
    else
        pv_bridge_client_free(c);
    return rc;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct load *l = w->l;
    pv_emu_chip *chip = pv_emu_chip_new();
    pv_bridge_client *cache[URLS_MAX] = {0};
    if (!chip) {
        snprintf(w->err, sizeof w->err, "out of memory");
        atomic_fetch_add(&l->broken, 1);
        return NULL;
    }
    struct pv_emu_result warm;
    for (unsigned i = 0; l->warm_pass && i < l->warmup; i++)
        if (one(w, chip, cache, (w->idx + i) % l->n_urls, &warm) && warm.rc != PV_EMU_REFUSED) {
            fprintf(stderr, "bridge_load: warm-up device failed: %s%s%s\n", warm.why,
                    warm.err.error[0] ? " " : "", warm.err.reason);
            atomic_fetch_add(&l->broken, 1);
        }
    for (; !l->warm_pass;) {
        unsigned n = atomic_fetch_add(&l->next, 1);
        if (n >= l->devices)
            break;
        struct pv_emu_result *res = &l->r[n];
        one(w, chip, cache, n % l->n_urls, res);
        if (res->rc == PV_EMU_BROKEN || res->rc == PV_EMU_TRANSPORT) {
            atomic_fetch_add(&l->broken, 1);
            if (!l->quiet)
                fprintf(stderr, "bridge_load: device %u (uid %s) at step %d: %s%s%s\n", n,
                        res->uid_hex, res->step, res->why, res->err.error,
                        res->err.reason[0] ? res->err.reason : "");
        }
    }
    for (unsigned u = 0; u < URLS_MAX; u++)
        pv_bridge_client_free(cache[u]);
    pv_emu_chip_free(chip);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of the n sorted values (nearest rank). */
static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = b ? (size_t)n : 0;
    return b;
}

static int usage(void)
{
    fprintf(stderr, "usage: bridge_load --url URL [--url URL...] --cert FILE --key FILE --ca FILE "
                    "--product P --batch B [--devices N] [--clients C] [--warmup W] [--boot FILE] "
                    "[--app FILE] [--reuse] [--quiet]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct load l;
    l.devices = 100;
    l.clients = 4;
    const char *boot = NULL, *app = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reuse") == 0) {
            l.reuse = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            l.quiet = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--url") == 0 && l.n_urls < URLS_MAX)
            l.urls[l.n_urls++] = v;
        else if (strcmp(a, "--cert") == 0)
            l.cert = v;
        else if (strcmp(a, "--key") == 0)
            l.key = v;
        else if (strcmp(a, "--ca") == 0)
            l.ca = v;
        else if (strcmp(a, "--product") == 0)
            l.product = v;
        else if (strcmp(a, "--batch") == 0)
            l.batch = v;
        else if (strcmp(a, "--devices") == 0)
            l.devices = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--clients") == 0)
            l.clients = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--warmup") == 0)
            l.warmup = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--boot") == 0)
            boot = v;
        else if (strcmp(a, "--app") == 0)
            app = v;
        else
            return usage();
    }
    if (!l.n_urls || !l.cert || !l.key || !l.ca || !l.product || !l.batch || !l.devices ||
        !l.clients || l.clients > CLIENTS_MAX)
        return usage();
    uint8_t *boot_b = NULL, *app_b = NULL;
    if (boot && !(boot_b = slurp(boot, &l.ex.boot_len))) {
        fprintf(stderr, "bridge_load: cannot read %s\n", boot);
        return 2;
    }
    if (app && !(app_b = slurp(app, &l.ex.app_len))) {
        fprintf(stderr, "bridge_load: cannot read %s\n", app);
        return 2;
    }
    l.ex.boot = boot_b;
    l.ex.app = app_b;
    l.r = calloc(l.devices, sizeof *l.r);
    static struct worker w[CLIENTS_MAX];
    if (!l.r || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;

    /* warm-up (outside the figures), then the measured run */
    if (l.warmup) {
        l.warm_pass = 1;
        for (unsigned i = 0; i < l.clients; i++) {
            w[i] = (struct worker){.l = &l, .idx = i};
            pthread_create(&w[i].th, NULL, work, &w[i]);
        }
        for (unsigned i = 0; i < l.clients; i++)
            pthread_join(w[i].th, NULL);
        l.warm_pass = 0;
    }
    double t0 = now_ms();
    for (unsigned i = 0; i < l.clients; i++) {
        w[i] = (struct worker){.l = &l, .idx = i};
        pthread_create(&w[i].th, NULL, work, &w[i]);
    }
    for (unsigned i = 0; i < l.clients; i++)
        pthread_join(w[i].th, NULL);
    double wall = now_ms() - t0;

    /* figures over the locked devices */
    unsigned locked = 0, refused = 0, broken = 0;
    char refusals[512] = "";
    double *bt = calloc(l.devices, sizeof *bt), *dev = calloc(l.devices, sizeof *dev);
    double *rq[PV_EMU_STEPS];
    for (int s = 0; s < PV_EMU_STEPS; s++)
        rq[s] = calloc(l.devices, sizeof(double));
    double stub_sum = 0;
    unsigned frames = 0;
    for (unsigned i = 0; i < l.devices; i++) {
        const struct pv_emu_result *r = &l.r[i];
        if (r->rc == PV_EMU_REFUSED) {
            refused++;
            if (!strstr(refusals, r->err.error)) {
                size_t n = strlen(refusals);
                snprintf(refusals + n, sizeof refusals - n, "%s%ld %s", n ? ", " : "",
                         (long)r->err.status, r->err.error);
            }
            continue;
        }
        if (r->rc != PV_EMU_LOCKED) {
            broken++;
            continue;
        }
        bt[locked] = pv_emu_bridge_ms(r);
        dev[locked] = r->total_ms;
        for (int s = 0; s < PV_EMU_STEPS; s++)
            rq[s][locked] = r->req_ms[s];
        stub_sum += r->stub_ms;
        frames = r->frames;
        locked++;
    }
    qsort(bt, locked, sizeof *bt, cmp_double);
    qsort(dev, locked, sizeof *dev, cmp_double);
    for (int s = 0; s < PV_EMU_STEPS; s++)
        qsort(rq[s], locked, sizeof(double), cmp_double);
    double sps = wall > 0 ? (double)locked / (wall / 1e3) : 0;
    double dev_mean = 0;
    for (unsigned i = 0; i < locked; i++)
        dev_mean += dev[i];
    dev_mean = locked ? dev_mean / locked : 0;
    printf("bridge_load: %u devices, %u client thread(s), %u bridge(s), %s TLS connection%s: "
           "%u locked, %u refused%s%s%s, %u broken\n",
           l.devices, l.clients, l.n_urls, l.reuse ? "one" : "a new",
           l.reuse ? " per thread" : " per device", locked, refused, refused ? " (" : "", refusals,
           refused ? ")" : "", broken);
    printf("  wall %.2f s: %.1f sessions/s (locked devices)\n", wall / 1e3, sps);
    printf("  bridge time per session (4 requests, client round trips less stub time):\n"
           "    p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n",
           pct(bt, locked, 50), pct(bt, locked, 90), pct(bt, locked, 99), pct(bt, locked, 100));
    static const char *names[PV_EMU_STEPS] = {"plan", "begin", "verified", "lock"};
    for (int s = 0; s < PV_EMU_STEPS; s++)
        printf("    %-9s p50 %6.2f ms  p99 %6.2f ms\n", names[s], pct(rq[s], locked, 50),
               pct(rq[s], locked, 99));
    printf("  time per device (whole, with the emulated stub: %.2f ms mean, %u frames):\n"
           "    mean %.1f ms  p50 %.1f ms  p99 %.1f ms\n",
           locked ? stub_sum / locked : 0, frames, dev_mean, pct(dev, locked, 50),
           pct(dev, locked, 99));
    printf("result locked=%u refused=%u broken=%u wall_ms=%.1f sessions_per_s=%.1f "
           "bridge_p50_ms=%.2f bridge_p99_ms=%.2f device_mean_ms=%.2f device_p50_ms=%.2f "
           "device_p99_ms=%.2f stub_mean_ms=%.2f\n",
           locked, refused, broken, wall, sps, pct(bt, locked, 50), pct(bt, locked, 99), dev_mean,
           pct(dev, locked, 50), pct(dev, locked, 99), locked ? stub_sum / locked : 0);
    for (int s = 0; s < PV_EMU_STEPS; s++)
        free(rq[s]);
    free(bt);
    free(dev);
    free(l.r);
    free(boot_b);
    free(app_b);
    curl_global_cleanup();
    return broken || atomic_load(&l.broken) ? 1 : 0;
}
