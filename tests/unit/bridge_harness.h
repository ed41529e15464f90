/* A product owner's bridge and its stations in one test program, as tools/demo.sh sets them up,
 * for tests that attack the bridge end to end (test_bridge_run.c and the fault tests):
 *
 *  - bh_env_init: a temporary directory with a SoftHSM2 token holding the demo recipe's keys
 *    (the built `provision keys init`), the bootloader sealed at rest (`keys seal`), the demo
 *    application signed by the token's image-signing key and sealed (`image sign`, `keys seal`),
 *    the recipe pointing at them, the station CA in the token (`hsm-bridge ca init`) and the
 *    bridge's TLS certificate (`tls-cert`). SOFTHSM2_CONF is set in this process (the bridges
 *    inherit it; stations are run without it);
 *  - bh_bridge_*: a bridge configuration (its own ledger: an SQLite file, or a PostgreSQL URL
 *    from tests/common/pg_server.h; session_ttl_s), `hsm-bridge serve` on port 0 (the URL read
 *    from its log), stopped by PID with SIGTERM or SIGKILL; its log;
 *  - bh_station_*: a station's key and CSR (openssl), `hsm-bridge station enroll NAME --rights
 *    P/B` into that bridge's registry, its station.yaml, revocation;
 *  - bh_sim_*: a virtual chip (GDB, remote_bitbang and USART ports), its UID, its state file
 *    (option bytes and flash) after a power-off;
 *  - bh_run_*: `provision` (or the test build tests/provision-hooks) as a child with stdout,
 *    stderr and exit status captured; a child that stops itself (SIGSTOP hooks) is reported as
 *    stopped and can be killed;
 *  - bh_ledger_*: the bridge's ledger rows through hsm-bridge/ledger.h;
 *  - bh_proxy_*: a TCP proxy in front of a chip's GDB port that can record every byte both ways
 *    and rewrite the debugger's read of the UID (an `m1fff7a10,c` request's reply);
 *  - bh_memory_snapshot: what a core of a stopped process holds; bh_find_window: whether any
 *    16-byte run of a secret occurs in a buffer.
 *
 * Every process started here is registered with sim_process.h, so the watchdog and the atexit
 * hook kill and reap it when a test fails. Static inline functions, like sim_process.h; the
 * including file defines _GNU_SOURCE first (memmem). Call sp_install() from main. */
#ifndef TESTS_UNIT_BRIDGE_HARNESS_H
#define TESTS_UNIT_BRIDGE_HARNESS_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any #include (bridge_harness.h uses memmem)"
#endif

#include <ctype.h>
#include <sys/types.h>

#include "sim_process.h"

#include "../../hsm-bridge/ledger.h"
#include "../../provisioner/probe.h"
#include "common/pg_server.h"

#define BH_PRODUCT   "pv-demo-sensor"
#define BH_BATCH     "demo-001"
#define BH_RIGHTS    BH_PRODUCT "/" BH_BATCH
#define BH_TOKEN     "provision-demo"
#define BH_PIN       "2468-bridge"
#define BH_SO_PIN    "13579246"
#define BH_UID_ADDR  0x1FFF7A10u
#define BH_FLASH     (2048u * 1024u)
#define BH_STATE_HDR 64u  /* sim/state_file.c: the header */
#define BH_STATE_FIX 608u /* sim/state_file.c: fields before the flash */

struct bh_env {
    char dir[64];                 /* the temporary directory */
    char repo[4096];              /* the checkout (recipes/) */
    char prov[4200], hooks[4200]; /* provision, tests/provision-hooks */
    char bridge_bin[4200];        /* hsm-bridge */
    char boot[4200], stub[4200];  /* the built bootloader.bin and stub.bin (plaintext) */
    char app_bin[4200];           /* the built app_v1.bin */
    char app_img[160];            /* the signed application (plaintext) */
    char recipe[160];             /* the demo recipe, images sealed at rest */
    char pin[160], so_pin[160];   /* PIN files */
    char softhsm_conf[160];       /* this token's SoftHSM2 configuration */
    char ca_crt[160];             /* the station CA's certificate */
    char tls_crt[160], tls_key[160];
    unsigned runs;   /* names each run's stderr file */
    char out[65536]; /* the last bh_cmd's output */
};

struct bh_bridge {
    struct bh_env *env;
    char name[32];
    char dir[128];    /* env->dir/NAME */
    char config[160]; /* its bridge.yaml */
    char log[160];    /* serve's stderr, appended over restarts */
    char ledger[512]; /* a path or a postgresql URL */
    char url[64];     /* https://127.0.0.1:PORT while it runs */
    pid_t pid;
};

struct bh_station {
    char name[64];
    char dir[200]; /* the station's own folder: key, CSR, certificate, CA, station.yaml */
    char key[240], csr[240], crt[240], ca[240], config[240];
};

struct bh_sim {
    pid_t pid;
    int gdb, bitbang, usart;
    char state[200], log[220];
};

struct bh_run {
    pid_t pid;
    int status;   /* exit status (128 + signal when killed); -1 while it runs or is stopped */
    bool stopped; /* it stopped itself (SIGSTOP) and is still there */
    int out_fd;
    char err_path[200];
    char out[16384];
    char err[65536];
    uint64_t started_ms; /* sp_now_ms() at the start */
    uint64_t took_ms;    /* from the start to the exit (0 until it exited) */
};

struct bh_proxy {
    pid_t pid;
    int port; /* where the station connects */
};

/* ---- small things ---- */

static inline void bh_hex(char *out, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", v[i]);
}

static inline bool bh_write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode) == 0;
}

/* Runs bin with the NULL-terminated args; output (stdout then stderr) in env->out. */
static inline int bh_cmd(struct bh_env *env, const char *bin, const char *const *args)
{
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/cmd.err", env->dir);
    env->out[0] = 0;
    return sp_run_capture(bin, args, err_path, env->out, sizeof env->out, NULL, 0);
}

#define BH_CMD(env, bin, ...) bh_cmd((env), (bin), (const char *const[]){__VA_ARGS__, NULL})

/* The built file <repo>/build/... or <BUILD>/... of this test's build. */
static inline bool bh_find_paths(struct bh_env *env)
{
    if (!sp_find_build() || !sp_host_bin(env->prov, sizeof env->prov, "provision") ||
        !sp_host_bin(env->bridge_bin, sizeof env->bridge_bin, "hsm-bridge")) {
        fprintf(stderr, "bridge_harness: provision or hsm-bridge is not built: make all\n");
        return false;
    }
    char host[4096];
    if (!sp_host_dir(host, sizeof host))
        return false;
    snprintf(env->hooks, sizeof env->hooks, "%s/tests/provision-hooks", host);
    snprintf(env->boot, sizeof env->boot, "%s/firmware/bootloader.bin", sp_arm_dir);
    snprintf(env->stub, sizeof env->stub, "%s/stub-loader/stub.bin", sp_arm_dir);
    snprintf(env->app_bin, sizeof env->app_bin, "%s/firmware/app_v1.bin", sp_arm_dir);
    const char *need[] = {env->hooks, env->boot, env->stub, env->app_bin};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (access(need[i], R_OK) != 0) {
            fprintf(stderr, "bridge_harness: %s is not built: make all\n", need[i]);
            return false;
        }
    /* the checkout: <repo>/<BUILD>/host, else the working directory (make runs tests there) */
    char probe[4200];
    snprintf(env->repo, sizeof env->repo, "%s", host);
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(env->repo, '/');
        if (slash)
            *slash = 0;
    }
    snprintf(probe, sizeof probe, "%s/recipes/demo-stm32f427.yaml", env->repo);
    if (access(probe, R_OK) != 0 && !getcwd(env->repo, sizeof env->repo))
        return false;
    snprintf(probe, sizeof probe, "%s/recipes/demo-stm32f427.yaml", env->repo);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "bridge_harness: run from the repository's top directory (no %s)\n", probe);
        return false;
    }
    return true;
}

/* Replaces the first line of text starting with `prefix` (after spaces) by `line`. */
static inline bool bh_replace_line(char *text, size_t cap, const char *prefix, const char *line)
{
    char *at = strstr(text, prefix);
    if (!at)
        return false;
    char *bol = at;
    while (bol > text && bol[-1] != '\n')
        bol--;
    char *eol = strchr(at, '\n');
    size_t tail = eol ? strlen(eol) : 0;
    size_t head = (size_t)(bol - text), n = strlen(line);
    if (head + n + tail + 1 > cap)
        return false;
    memmove(bol + n, eol ? eol : bol + strlen(bol), tail + 1);
    memcpy(bol, line, n);
    return true;
}

/* ---- the product owner's side: token, images, CA ---- */

/* Everything a bridge needs, in a fresh temporary directory named after `name`. false (with
 * the failing step's output on stderr) if a step fails. */
static inline bool bh_env_init(struct bh_env *env, const char *name)
{
    memset(env, 0, sizeof *env);
    if (!bh_find_paths(env) || !sp_make_tmpdir(env->dir, sizeof env->dir, name))
        return false;
    char tokens[128], text[8192];
    snprintf(tokens, sizeof tokens, "%s/tokens", env->dir);
    snprintf(env->softhsm_conf, sizeof env->softhsm_conf, "%s/softhsm2.conf", env->dir);
    mkdir(tokens, 0700);
    snprintf(text, sizeof text,
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
    if (!bh_write_file(env->softhsm_conf, text, 0600))
        return false;
    setenv("SOFTHSM2_CONF", env->softhsm_conf, 1);
    unsetenv("PROVISION_PIN");
    unsetenv("PROVISION_SO_PIN");
    /* The tools are the test build (ASan): quiet about SoftHSM2's own leaks (as demo.sh). */
    setenv("LSAN_OPTIONS", "print_suppressions=0", 0);
    snprintf(env->pin, sizeof env->pin, "%s/pin", env->dir);
    snprintf(env->so_pin, sizeof env->so_pin, "%s/so-pin", env->dir);
    if (!bh_write_file(env->pin, BH_PIN "\n", 0600) ||
        !bh_write_file(env->so_pin, BH_SO_PIN "\n", 0600))
        return false;

    /* The demo recipe with its images by absolute path, both sealed at rest. */
    char src[4200], boot_sealed[160], app_sealed[160], line[4400];
    snprintf(src, sizeof src, "%s/recipes/demo-stm32f427.yaml", env->repo);
    size_t len = 0;
    char *demo = sp_slurp(src, &len);
    if (!demo || len + 4096 > sizeof text) {
        free(demo);
        return false;
    }
    snprintf(text, sizeof text, "%s", demo);
    free(demo);
    snprintf(boot_sealed, sizeof boot_sealed, "%s/bootloader.sealed", env->dir);
    snprintf(app_sealed, sizeof app_sealed, "%s/app.sealed", env->dir);
    snprintf(env->app_img, sizeof env->app_img, "%s/app.img", env->dir);
    snprintf(env->recipe, sizeof env->recipe, "%s/demo-stm32f427.yaml", env->dir);
    bool ok = true;
    snprintf(line, sizeof line, "  image: %s", env->stub);
    ok = ok && bh_replace_line(text, sizeof text, "image: ../build/arm/stub-loader/stub.bin", line);
    snprintf(line, sizeof line, "  image: %s", boot_sealed);
    ok = ok &&
         bh_replace_line(text, sizeof text, "image: ../build/arm/firmware/bootloader.bin", line);
    snprintf(line, sizeof line, "  image: %s", app_sealed);
    ok = ok && bh_replace_line(text, sizeof text, "image: ../build/arm/firmware/app_v1.img", line);
    snprintf(line, sizeof line, "    interface: %s/recipes/openocd/sim-remote-bitbang.cfg",
             env->repo);
    ok = ok && bh_replace_line(text, sizeof text, "interface: ./openocd/", line);
    if (!ok || !bh_write_file(env->recipe, text, 0644)) {
        fprintf(stderr, "bridge_harness: cannot rewrite the demo recipe\n");
        return false;
    }

    /* the token's keys, the bootloader sealed, the application signed then sealed */
    if (BH_CMD(env, env->prov, "keys", "init", "--recipe", env->recipe, "--pin-file", env->pin,
               "--so-pin-file", env->so_pin) != 0 ||
        BH_CMD(env, env->prov, "keys", "seal", "--recipe", env->recipe, "--pin-file", env->pin,
               env->boot, boot_sealed) != 0) {
        fprintf(stderr, "bridge_harness: keys init/seal: %s\n", env->out);
        return false;
    }
    setenv("PROVISION_PIN", BH_PIN, 1);
    int rc = BH_CMD(env, env->prov, "image", "sign", "--in", env->app_bin, "--out", env->app_img,
                    "--image-version", "1.0.0", "--pkcs11", "--token", BH_TOKEN, "--key-label",
                    "image-signing");
    unsetenv("PROVISION_PIN");
    if (rc != 0 || BH_CMD(env, env->prov, "keys", "seal", "--recipe", env->recipe, "--pin-file",
                          env->pin, env->app_img, app_sealed) != 0) {
        fprintf(stderr, "bridge_harness: image sign/seal: %s\n", env->out);
        return false;
    }

    /* the station CA (key in the token) and the bridge's TLS certificate, shared by every
     * bridge of this environment */
    char cfg[160], csr[160];
    snprintf(cfg, sizeof cfg, "%s/ca.yaml", env->dir);
    snprintf(env->ca_crt, sizeof env->ca_crt, "%s/station-ca.crt", env->dir);
    snprintf(env->tls_crt, sizeof env->tls_crt, "%s/bridge.crt", env->dir);
    snprintf(env->tls_key, sizeof env->tls_key, "%s/bridge.key", env->dir);
    snprintf(csr, sizeof csr, "%s/bridge.csr", env->dir);
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\n"
             "tls: {cert: bridge.crt, key: bridge.key, station_ca: station-ca.crt}\n"
             "token: {pin_file: pin}\n"
             "ledger: ca-setup.db\n"
             "products: [%s]\n",
             env->recipe);
    if (!bh_write_file(cfg, text, 0644))
        return false;
    if (BH_CMD(env, env->bridge_bin, "ca", "init", "--config", cfg, "--cn", "test station CA") !=
            0 ||
        BH_CMD(env, "openssl", "genpkey", "-algorithm", "ed25519", "-out", env->tls_key) != 0 ||
        BH_CMD(env, "openssl", "req", "-new", "-key", env->tls_key, "-subj", "/CN=bridge", "-out",
               csr) != 0 ||
        BH_CMD(env, env->bridge_bin, "tls-cert", "--config", cfg, "--csr", csr, "--san",
               "127.0.0.1", "-o", env->tls_crt) != 0) {
        fprintf(stderr, "bridge_harness: ca init / tls-cert: %s\n", env->out);
        return false;
    }
    return true;
}

/* Removes the temporary directory. */
static inline void bh_env_free(struct bh_env *env)
{
    if (env->dir[0])
        sp_remove_tmpdir(env->dir);
    env->dir[0] = 0;
}

/* ---- bridges ---- */

/* A bridge configuration in env->dir/NAME: ledger NULL is an SQLite file there, else a path or
 * postgresql URL; ttl_s 0 is the default (120). Not started. */
static inline bool bh_bridge_init(struct bh_env *env, struct bh_bridge *b, const char *name,
                                  const char *ledger, unsigned ttl_s)
{
    memset(b, 0, sizeof *b);
    b->env = env;
    b->pid = -1;
    snprintf(b->name, sizeof b->name, "%s", name);
    snprintf(b->dir, sizeof b->dir, "%s/%s", env->dir, name);
    snprintf(b->config, sizeof b->config, "%s/bridge.yaml", b->dir);
    snprintf(b->log, sizeof b->log, "%s/serve.log", b->dir);
    if (ledger)
        snprintf(b->ledger, sizeof b->ledger, "%s", ledger);
    else
        snprintf(b->ledger, sizeof b->ledger, "%s/ledger.db", b->dir);
    if (mkdir(b->dir, 0700) != 0 && errno != EEXIST)
        return false;
    char text[4096];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\n"
             "tls: {cert: %s, key: %s, station_ca: %s}\n"
             "token: {pin_file: %s}\n"
             "ledger: \"%s\"\n"
             "products: [%s]\n"
             "session_ttl_s: %u\n"
             "shutdown_grace_s: 1\n",
             env->tls_crt, env->tls_key, env->ca_crt, env->pin, b->ledger, env->recipe,
             ttl_s ? ttl_s : 120u);
    return bh_write_file(b->config, text, 0644);
}

/* `hsm-bridge serve`: waits for its "listening on https://..." line (20 s). */
static inline bool bh_bridge_start(struct bh_bridge *b)
{
    char *argv[] = {b->env->bridge_bin, "serve", "--config", b->config, NULL};
    size_t before = 0;
    free(sp_slurp(b->log, &before));
    b->url[0] = 0;
    b->pid = sp_spawn(argv, NULL, b->log);
    if (b->pid <= 0)
        return false;
    for (int i = 0; i < 400 && !b->url[0]; i++) {
        usleep(50000);
        size_t len = 0;
        char *log = sp_slurp(b->log, &len);
        const char *at = log && len > before ? strstr(log + before, "listening on https://") : NULL;
        if (at) {
            at += strlen("listening on ");
            snprintf(b->url, sizeof b->url, "%.*s", (int)strcspn(at, " \n"), at);
        }
        if (!b->url[0] && sp_wait(b->pid, 0) >= 0) {
            fprintf(stderr, "bridge_harness: hsm-bridge serve exited:\n%s\n", log ? log : "");
            free(log);
            b->pid = -1;
            return false;
        }
        free(log);
    }
    if (!b->url[0]) {
        fprintf(stderr, "bridge_harness: hsm-bridge serve did not say it listens\n");
        sp_stop(b->pid, 2000);
        b->pid = -1;
        return false;
    }
    return true;
}

/* Stops it by its PID with sig (SIGTERM: a drain, then exit; SIGKILL: at once); returns its
 * exit status (128 + signal if killed). */
static inline int bh_bridge_stop(struct bh_bridge *b, int sig)
{
    if (b->pid <= 0)
        return -1;
    kill(b->pid, sig);
    int st = sp_wait(b->pid, 10000);
    if (st < 0) {
        kill(b->pid, SIGKILL);
        st = sp_wait(b->pid, 5000);
    }
    b->pid = -1;
    return st;
}

/* serve's log so far (malloc'd, NUL-terminated; "" if none). */
static inline char *bh_bridge_log(const struct bh_bridge *b)
{
    char *log = sp_slurp(b->log, NULL);
    return log ? log : strdup("");
}

/* ---- stations ---- */

/* A station's folder (b->dir/stations/NAME), its Ed25519 key and a CSR whose subject is not
 * its name (the certificate's CN is the enrolled name), enrolled into b's registry with rights
 * ("P/B"; NULL: none). */
static inline bool bh_station_enroll(struct bh_bridge *b, struct bh_station *s, const char *name,
                                     const char *rights)
{
    struct bh_env *env = b->env;
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    char sd[160];
    snprintf(sd, sizeof sd, "%s/stations", b->dir);
    mkdir(sd, 0700);
    snprintf(s->dir, sizeof s->dir, "%s/%s", sd, name);
    if (mkdir(s->dir, 0700) != 0 && errno != EEXIST)
        return false;
    snprintf(s->key, sizeof s->key, "%s/station.key", s->dir);
    snprintf(s->csr, sizeof s->csr, "%s/station.csr", s->dir);
    snprintf(s->crt, sizeof s->crt, "%s/station.crt", s->dir);
    snprintf(s->ca, sizeof s->ca, "%s/ca.crt", s->dir);
    snprintf(s->config, sizeof s->config, "%s/station.yaml", s->dir);
    int rc = BH_CMD(env, "openssl", "genpkey", "-algorithm", "ed25519", "-out", s->key);
    if (rc == 0)
        rc = BH_CMD(env, "openssl", "req", "-new", "-key", s->key, "-subj", "/CN=not-the-name",
                    "-out", s->csr);
    if (rc == 0 && rights)
        rc = BH_CMD(env, env->bridge_bin, "station", "enroll", name, "--csr", s->csr, "--rights",
                    rights, "--config", b->config, "-o", s->crt);
    else if (rc == 0)
        rc = BH_CMD(env, env->bridge_bin, "station", "enroll", name, "--csr", s->csr, "--config",
                    b->config, "-o", s->crt);
    if (rc != 0) {
        fprintf(stderr, "bridge_harness: station %s: %s\n", name, env->out);
        return false;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", env->ca_crt, s->ca);
    return system(cmd) == 0;
}

static inline bool bh_station_revoke(struct bh_bridge *b, const char *name, const char *reason)
{
    return BH_CMD(b->env, b->env->bridge_bin, "station", "revoke", name, "--reason", reason,
                  "--config", b->config) == 0;
}

/* The station's station.yaml for bridge b (which must be running: its URL) and probe target
 * (as --probe: gdb:127.0.0.1:PORT, ...). */
static inline bool bh_station_config(const struct bh_bridge *b, const struct bh_station *s,
                                     const char *target)
{
    char text[2048];
    snprintf(text, sizeof text,
             "bridge: {url: \"%s\", ca: ca.crt}\n"
             "cert: station.crt\n"
             "key: station.key\n"
             "product: " BH_PRODUCT "\n"
             "batch: " BH_BATCH "\n"
             "probe:\n"
             "  target: \"%s\"\n",
             b->url, target);
    return bh_write_file(s->config, text, 0644);
}

/* ---- chips ---- */

/* A sim on env->dir/NAME.state: seed >= 0 creates a new chip with that UID seed, -1 powers on
 * the existing one. extra: more sim arguments (NULL-terminated; may be NULL), e.g.
 * {"--fault", "ignore-optstrt", NULL}. */
static inline bool bh_sim_start(struct bh_env *env, struct bh_sim *s, const char *name, int seed,
                                char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->state, sizeof s->state, "%s/%s.state", env->dir, name);
    snprintf(s->log, sizeof s->log, "%s.log", s->state);
    char sd[16];
    snprintf(sd, sizeof sd, "%d", seed);
    char *args[32];
    int n = 0;
    args[n++] = "--state";
    args[n++] = s->state;
    args[n++] = "--gdb-port";
    args[n++] = "0";
    args[n++] = "--bitbang-port";
    args[n++] = "0";
    args[n++] = "--usart-port";
    args[n++] = "0";
    args[n++] = "--quiet";
    if (seed >= 0) {
        args[n++] = "--create";
        args[n++] = "--uid-seed";
        args[n++] = sd;
    }
    for (int i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char line[512];
    s->pid = sp_start_sim(args, s->log, line, sizeof line);
    if (s->pid <= 0)
        return false;
    s->gdb = sp_port(line, "gdb");
    s->bitbang = sp_port(line, "bitbang");
    s->usart = sp_port(line, "usart");
    return s->gdb > 0 && s->bitbang > 0 && s->usart > 0;
}

/* Power off (the sim writes its state file); its exit status. */
static inline int bh_sim_stop(struct bh_sim *s)
{
    int st = s->pid > 0 ? sp_stop(s->pid, 10000) : -1;
    s->pid = 0;
    return st;
}

/* Power on again from its state file (extra as in bh_sim_start). */
static inline bool bh_sim_restart(struct bh_env *env, struct bh_sim *s, char *const *extra)
{
    char name[200];
    const char *base = strrchr(s->state, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : s->state);
    char *dot = strstr(name, ".state");
    if (dot)
        *dot = 0;
    return bh_sim_start(env, s, name, -1, extra);
}

/* "gdb:127.0.0.1:PORT" */
static inline void bh_sim_target(const struct bh_sim *s, char *out, size_t cap)
{
    snprintf(out, cap, "gdb:127.0.0.1:%d", s->gdb);
}

/* The chip's UID as a debugger reads it (the chip must not be locked). */
static inline bool bh_sim_uid(const struct bh_sim *s, uint8_t uid[12])
{
    pv_probe_link l;
    char t[64], err[256];
    snprintf(t, sizeof t, "127.0.0.1:%d", s->gdb);
    if (pv_probe_connect(&l, &pv_probe_gdb_ops, t, 10000, err, sizeof err) != 0) {
        fprintf(stderr, "bridge_harness: uid: %s\n", err);
        return false;
    }
    int rc = l.ops->read_mem(l.p, BH_UID_ADDR, uid, 12);
    pv_probe_disconnect(&l);
    return rc == 0;
}

/* The option bytes (FLASH_OPTCR as stored) and the flash (BH_FLASH bytes, malloc'd into *flash
 * if flash is not NULL) of a powered-off chip's state file. */
static inline bool bh_state_read(const char *path, uint32_t *optcr, uint8_t **flash)
{
    size_t len = 0;
    char *b = sp_slurp(path, &len);
    if (!b || len != BH_STATE_HDR + BH_STATE_FIX + BH_FLASH) {
        free(b);
        return false;
    }
    const uint8_t *p = (const uint8_t *)b + BH_STATE_HDR;
    *optcr = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    if (flash) {
        *flash = malloc(BH_FLASH);
        if (*flash)
            memcpy(*flash, p + BH_STATE_FIX, BH_FLASH);
    }
    free(b);
    return !flash || *flash;
}

/* The RDP byte of a powered-off chip (0xAA Level 0, 0xCC Level 2, else Level 1); -1 if the
 * state file cannot be read. */
static inline int bh_state_rdp(const char *path)
{
    uint32_t optcr = 0;
    return bh_state_read(path, &optcr, NULL) ? (int)(optcr >> 8 & 0xFF) : -1;
}

/* true when flash is all 0xFF from byte `from` to its end. */
static inline bool bh_erased(const uint8_t *flash, size_t from)
{
    for (size_t i = from; i < BH_FLASH; i++)
        if (flash[i] != 0xFF)
            return false;
    return true;
}

/* ---- runs of provision ---- */

/* Starts bin (provision or env->hooks) with args (NULL-terminated, without the program name).
 * envs: NULL-terminated "NAME=VALUE" to set or "-NAME" to unset in the child (may be NULL).
 * Through a bridge, pass {"-SOFTHSM2_CONF", "-PROVISION_PIN", NULL}: the station holds no
 * token. stdout is read into r->out, stderr goes to a file read into r->err at the end. */
static inline bool bh_run_start(struct bh_env *env, struct bh_run *r, const char *bin,
                                const char *const *envs, const char *const *args)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    r->started_ms = sp_now_ms();
    snprintf(r->err_path, sizeof r->err_path, "%s/run-%u.err", env->dir, ++env->runs);
    int p[2];
    if (pipe(p) != 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return false;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int err = open(r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(p[1], 1);
        dup2(err >= 0 ? err : nul, 2);
        close(p[0]);
        close(p[1]);
        for (int i = 0; envs && envs[i]; i++) {
            if (envs[i][0] == '-') {
                unsetenv(envs[i] + 1);
            } else {
                char kv[512];
                snprintf(kv, sizeof kv, "%s", envs[i]);
                char *eq = strchr(kv, '=');
                if (eq) {
                    *eq = 0;
                    setenv(kv, eq + 1, 1);
                }
            }
        }
        char *argv[48];
        int n = 0;
        argv[n++] = (char *)(uintptr_t)bin;
        for (int i = 0; args[i] && n < 47; i++)
            argv[n++] = (char *)(uintptr_t)args[i];
        argv[n] = NULL;
        execv(bin, argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    r->pid = pid;
    r->out_fd = p[0];
    fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == 0) {
            sp_children[i] = pid;
            break;
        }
    return true;
}

static inline void bh_run_collect(struct bh_run *r)
{
    size_t got = strlen(r->out);
    for (;;) {
        if (r->out_fd < 0 || got + 1 >= sizeof r->out)
            break;
        ssize_t n = read(r->out_fd, r->out + got, sizeof r->out - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        r->out[got] = 0;
    }
    size_t len = 0;
    char *e = sp_slurp(r->err_path, &len);
    snprintf(r->err, sizeof r->err, "%s", e ? e : "");
    free(e);
}

/* Waits up to ms for the run to exit or stop itself. Returns its exit status (r->status), or -1
 * when it stopped (r->stopped) or is still running after ms. */
static inline int bh_run_wait(struct bh_run *r, int ms)
{
    uint64_t end = sp_now_ms() + (uint64_t)ms;
    for (;;) {
        struct pollfd pfd = {.fd = r->out_fd, .events = POLLIN};
        if (r->out_fd >= 0 && poll(&pfd, 1, 20) > 0)
            bh_run_collect(r);
        else if (r->out_fd < 0)
            usleep(20000);
        int st;
        pid_t w = waitpid(r->pid, &st, WNOHANG | WUNTRACED);
        if (w == r->pid && WIFSTOPPED(st)) {
            r->stopped = true;
            bh_run_collect(r);
            return -1;
        }
        if (w == r->pid) {
            sp_forget(r->pid);
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            r->took_ms = sp_now_ms() - r->started_ms;
            r->stopped = false;
            bh_run_collect(r);
            close(r->out_fd);
            r->out_fd = -1;
            return r->status;
        }
        if (sp_now_ms() >= end) {
            bh_run_collect(r);
            return -1;
        }
    }
}

/* SIGKILL (also a stopped run) and reap; returns the exit status. */
static inline int bh_run_kill(struct bh_run *r)
{
    if (r->pid <= 0 || r->status >= 0)
        return r->status;
    kill(r->pid, SIGKILL);
    int st = 0;
    while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
        ;
    sp_forget(r->pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->stopped = false;
    bh_run_collect(r);
    if (r->out_fd >= 0)
        close(r->out_fd);
    r->out_fd = -1;
    return r->status;
}

/* Session ttls that a test lets run out are wall-clock windows that a whole run (or a refused
 * one) must fit in; a loaded machine stretches runs several times over. So such a ttl is sized
 * from the slowest whole station run this test program has seen (bh_note_run), three times
 * over, and is at least min_s: the pace of the machine stretches the test instead of failing
 * it. */
static uint64_t bh_slowest_run_ms;
static inline void bh_note_run(const struct bh_run *r)
{
    if (r->status == 0 && r->took_ms > bh_slowest_run_ms)
        bh_slowest_run_ms = r->took_ms;
}
static inline unsigned bh_expiry_ttl_s(unsigned min_s)
{
    unsigned s = (unsigned)((3 * bh_slowest_run_ms + 999) / 1000);
    return s > min_s ? s : min_s;
}

/* `provision run --config station.yaml` (writes it for b and target first) as the station, with
 * no token in its environment; bin NULL is provision, else e.g. env->hooks; hook (may be NULL)
 * is PROVISION_TEST_CRASH_AT. Waits up to 90 s for an exit or a stop; the status, or -1 when it
 * stopped itself (r->stopped; kill it with bh_run_kill). */
static inline int bh_station_run(struct bh_bridge *b, const struct bh_station *s,
                                 const char *target, const char *bin, const char *hook,
                                 struct bh_run *r)
{
    if (!bh_station_config(b, s, target))
        return -2;
    char hk[128];
    snprintf(hk, sizeof hk, "PROVISION_TEST_CRASH_AT=%s", hook ? hook : "");
    const char *envs[] = {"-SOFTHSM2_CONF", "-PROVISION_PIN", hook ? hk : NULL, NULL};
    const char *args[] = {"run", "--config", s->config, NULL};
    if (!bh_run_start(b->env, r, bin ? bin : b->env->prov, envs, args))
        return -2;
    int st = bh_run_wait(r, 90000);
    if (st < 0 && !r->stopped) {
        bh_run_kill(r);
        fprintf(stderr, "bridge_harness: provision did not finish in 90 s:\n%s%s\n", r->out,
                r->err);
        return -2;
    }
    bh_note_run(r);
    return st;
}

/* ---- the ledger ---- */

static inline pv_ledger *bh_ledger_open(const struct bh_bridge *b)
{
    char err[512];
    pv_ledger *l = pv_ledger_open(b->ledger, 0, err, sizeof err);
    if (!l)
        fprintf(stderr, "bridge_harness: ledger %s: %s\n", b->ledger, err);
    return l;
}

/* uid's row: PV_LEDGER_OK, PV_LEDGER_E_UNKNOWN, or another error. */
static inline int bh_ledger_get(const struct bh_bridge *b, const uint8_t uid[12],
                                pv_ledger_row *row)
{
    pv_ledger *l = bh_ledger_open(b);
    if (!l)
        return PV_LEDGER_E_DB;
    int rc = pv_ledger_get(l, uid, row);
    pv_ledger_close(l);
    return rc;
}

/* Devices counted in the batch (0 before the batch's first reservation). */
static inline uint32_t bh_ledger_used(const struct bh_bridge *b)
{
    pv_ledger *l = bh_ledger_open(b);
    uint32_t q = 0, used = 0;
    if (l && pv_ledger_batch(l, BH_BATCH, &q, &used) != PV_LEDGER_OK)
        used = 0;
    if (l)
        pv_ledger_close(l);
    return used;
}

static inline int bh_count_row(void *ctx, const pv_ledger_row *row)
{
    (void)row;
    (*(unsigned *)ctx)++;
    return 0;
}

/* Rows in the ledger (every batch). */
static inline unsigned bh_ledger_rows(const struct bh_bridge *b)
{
    unsigned n = 0;
    pv_ledger *l = bh_ledger_open(b);
    if (l) {
        pv_ledger_list(l, NULL, bh_count_row, &n);
        pv_ledger_close(l);
    }
    return n;
}

/* ---- a proxy on the GDB link ---- */

/* One direction's packet scanner: bytes outside packets pass at once; a packet ($...#cc) is
 * held until complete. */
struct bh_rsp_scan {
    uint8_t pkt[70000];
    size_t len;
    int state; /* 0 outside, 1 in a packet, 2 and 3 the checksum digits */
};

static inline bool bh_send_all(int fd, const uint8_t *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

/* The proxy's whole life (a child process): accepts on lfd, connects each client to upstream,
 * appends what the client sends to rec_to and what it receives to rec_from (when set), and,
 * when uid_from is set, rewrites the reply to a client's `m1fff7a10,c` from uid_from's hex to
 * uid_to's (checksum recomputed). Never returns. */
static inline void bh_proxy_main(int lfd, int upstream, const char *uid_from, const char *uid_to,
                                 int rec_to, int rec_from)
{
    static struct bh_rsp_scan down; /* upstream -> client */
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        int u = sp_connect(upstream, 5000);
        if (u < 0) {
            close(c);
            continue;
        }
        unsigned uid_reads = 0; /* UID requests whose reply has not come yet */
        const char *req = "$m1fff7a10,c#";
        size_t req_at = 0;
        down.len = 0;
        down.state = 0;
        uint8_t buf[16384];
        for (bool open = true; open;) {
            struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = u, .events = POLLIN}};
            if (poll(p, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            if (p[0].revents) {
                ssize_t n = read(c, buf, sizeof buf);
                if (n <= 0)
                    break;
                for (ssize_t i = 0; i < n; i++) { /* the client asks for the UID */
                    req_at = buf[i] == (uint8_t)req[req_at] ? req_at + 1 : buf[i] == '$' ? 1 : 0;
                    if (!req[req_at]) {
                        uid_reads++;
                        req_at = 0;
                    }
                }
                if (rec_to >= 0)
                    (void)!write(rec_to, buf, (size_t)n);
                if (!bh_send_all(u, buf, (size_t)n))
                    break;
            }
            if (p[1].revents) {
                ssize_t n = read(u, buf, sizeof buf);
                if (n <= 0)
                    break;
                if (rec_from >= 0)
                    (void)!write(rec_from, buf, (size_t)n);
                if (!uid_from) {
                    if (!bh_send_all(c, buf, (size_t)n))
                        break;
                    continue;
                }
                for (ssize_t i = 0; i < n && open; i++) {
                    uint8_t ch = buf[i];
                    if (down.state == 0) {
                        if (ch == '$') {
                            down.state = 1;
                            down.len = 0;
                            down.pkt[down.len++] = ch;
                        } else if (!bh_send_all(c, &ch, 1)) {
                            open = false;
                        }
                        continue;
                    }
                    if (down.len < sizeof down.pkt)
                        down.pkt[down.len++] = ch;
                    if (down.state == 1 && ch == '#')
                        down.state = 2;
                    else if (down.state == 2)
                        down.state = 3;
                    else if (down.state == 3) {
                        /* a whole packet: $payload#cc */
                        down.state = 0;
                        size_t plen = down.len - 4;
                        if (uid_reads && plen == 24 && memcmp(down.pkt + 1, uid_from, 24) == 0) {
                            memcpy(down.pkt + 1, uid_to, 24);
                            unsigned sum = 0;
                            for (size_t k = 1; k <= plen; k++)
                                sum += down.pkt[k];
                            snprintf((char *)down.pkt + 2 + plen, 3, "%02x", sum & 0xFFu);
                            uid_reads--;
                        } else if (uid_reads && plen == 24) {
                            uid_reads--;
                        }
                        if (!bh_send_all(c, down.pkt, down.len))
                            open = false;
                    }
                }
            }
        }
        close(c);
        close(u);
    }
}

/* A proxy in front of 127.0.0.1:upstream (a chip's GDB port). record (may be NULL): every byte
 * the client sends goes to RECORD.to, every byte it receives to RECORD.from. uid_from/uid_to
 * (may be NULL): the chip's real UID and the one the debugger is to read instead. */
static inline bool bh_proxy_start(struct bh_proxy *px, int upstream, const uint8_t *uid_from,
                                  const uint8_t *uid_to, const char *record)
{
    memset(px, 0, sizeof *px);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        if (lfd >= 0)
            close(lfd);
        return false;
    }
    px->port = ntohs(sa.sin_port);
    int to = -1, from = -1;
    if (record) {
        char p[300];
        snprintf(p, sizeof p, "%s.to", record);
        to = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        snprintf(p, sizeof p, "%s.from", record);
        from = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (to < 0 || from < 0) {
            close(lfd);
            return false;
        }
    }
    char hf[25], ht[25];
    if (uid_from && uid_to) {
        bh_hex(hf, uid_from, 12);
        bh_hex(ht, uid_to, 12);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        alarm(0);
        bh_proxy_main(lfd, upstream, uid_from && uid_to ? hf : NULL, ht, to, from);
    }
    close(lfd);
    if (to >= 0)
        close(to);
    if (from >= 0)
        close(from);
    px->pid = pid;
    for (int i = 0; i < SP_MAX_CHILDREN; i++)
        if (sp_children[i] == 0) {
            sp_children[i] = pid;
            break;
        }
    return true;
}

static inline void bh_proxy_stop(struct bh_proxy *px)
{
    if (px->pid > 0) {
        kill(px->pid, SIGKILL);
        sp_wait(px->pid, 5000);
    }
    px->pid = 0;
}

/* ---- a stopped process's memory ---- */

/* Writes to path what a core file of the (stopped) process pid holds: every readable mapping
 * that is not marked VM_DONTDUMP ("dd" in /proc/PID/smaps: ASan's shadow), one after another,
 * read through /proc/PID/mem; and to public_path (may be NULL) its read-only mappings of files
 * (program text, libraries' code and constants: public, whatever they hold). Returns the bytes
 * written to path, or -1. (gdb 13's gcore on an ASan process writes tens of GB: it dumps the
 * allocator's reserved regions.) */
static inline long bh_memory_snapshot(pid_t pid, const char *path, const char *public_path)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/smaps", (int)pid);
    FILE *maps = fopen(p, "r");
    snprintf(p, sizeof p, "/proc/%d/mem", (int)pid);
    int mem = open(p, O_RDONLY);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int pub = public_path ? open(public_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
    static uint8_t buf[1 << 20];
    long total = -1;
    if (!maps || mem < 0 || out < 0 || (public_path && pub < 0))
        goto done;
    total = 0;
    char line[1024], perms[8] = "";
    unsigned long lo = 0, hi = 0;
    bool file = false;
    while (fgets(line, sizeof line, maps)) {
        unsigned long a, b;
        char pm[8];
        int name = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &a, &b, pm, &name) == 3 &&
            strchr(line, '-') < strchr(line, ' ')) {
            lo = a, hi = b;
            snprintf(perms, sizeof perms, "%s", pm);
            file = name > 0 && line[name] == '/';
            continue;
        }
        if (strncmp(line, "VmFlags:", 8) != 0 || perms[0] != 'r' || strstr(line, " dd"))
            continue;
        bool public = file && perms[1] != 'w';
        for (unsigned long at = lo; at < hi;) {
            size_t n = hi - at < sizeof buf ? hi - at : sizeof buf;
            ssize_t got = pread(mem, buf, n, (off_t)at);
            if (got <= 0)
                break; /* [vvar] and the like */
            if (!bh_send_all(out, buf, (size_t)got) ||
                (public && pub >= 0 && !bh_send_all(pub, buf, (size_t)got))) {
                total = -1;
                goto done;
            }
            total += got;
            at += (unsigned long)got;
        }
    }
done:
    if (maps)
        fclose(maps);
    if (mem >= 0)
        close(mem);
    if (out >= 0)
        close(out);
    if (pub >= 0)
        close(pub);
    return total;
}

/* ---- scanning bytes for secrets ---- */

/* Whether any 16-byte window of secret (at every offset) occurs in hay, leaving out windows
 * with fewer than 6 distinct byte values (padding, erased flash) and windows that also occur
 * in pub (may be NULL: what is public anyway, e.g. the stub, and the station's program and
 * libraries, whose strings and tables the firmware shares). Returns the offset in secret of the
 * first window found, or -1. Windows are hashed by their first 8 bytes, so a scan of a few hundred
 * MB takes about a second. */
static inline long bh_find_window(const uint8_t *hay, size_t hay_len, const uint8_t *secret,
                                  size_t secret_len, const uint8_t *pub, size_t pub_len)
{
    if (secret_len < 16 || hay_len < 16)
        return -1;
    size_t n = secret_len - 15, cap = 1;
    while (cap < 4 * n)
        cap <<= 1;
    uint32_t *slot = calloc(cap, sizeof *slot); /* index + 1 into secret, 0: empty */
    uint8_t *gone = calloc(n, 1);               /* the window is public */
    if (!slot || !gone) {
        free(slot);
        free(gone);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *w = secret + i;
        uint8_t seen[256] = {0};
        unsigned distinct = 0;
        for (int k = 0; k < 16; k++)
            distinct += !seen[w[k]]++;
        if (distinct < 6)
            continue;
        uint64_t key;
        memcpy(&key, w, 8);
        size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = (uint32_t)i + 1;
    }
    long found = -1;
    for (int pass = pub ? 0 : 1; pass < 2; pass++) {
        const uint8_t *b = pass ? hay : pub;
        size_t len = pass ? hay_len : pub_len;
        for (size_t j = 0; j + 16 <= len && found < 0; j++) {
            uint64_t key;
            memcpy(&key, b + j, 8);
            size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
            for (; slot[h]; h = (h + 1) & (cap - 1)) {
                size_t i = slot[h] - 1;
                if (gone[i] || memcmp(secret + i, b + j, 16) != 0)
                    continue;
                if (!pass) {
                    gone[i] = 1;
                } else {
                    found = (long)i;
                    break;
                }
            }
        }
    }
    free(slot);
    free(gone);
    return found;
}

#endif
