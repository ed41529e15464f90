/* `hsm-bridge serve` as a station meets it: the built binary on 127.0.0.1 with a SoftHSM2 token
 * of its own (keys by `provision keys init --dev`, the demo recipe's bootloader sealed at rest),
 * a station CA and certificates made with the CLI (`ca init`, `tls-cert`, `station enroll`), a
 * certificate from another CA, and requests through the station's client
 * (provisioner/bridge_client.c) and raw libcurl: health without a certificate, 401 without one,
 * 403 for a foreign CA, a server certificate used as a client or no rights, the plan and its stub
 * digest on one TLS connection, a station revoked while the bridge runs, 413, 400 naming the
 * field, 404, 405, a TLS 1.2 client refused at the handshake, Prometheus text, the CLI's
 * refusals and the config's, and SIGTERM ending the process with 0 within the grace period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "sim_process.h"

#include "../../provisioner/bridge_client.h"

/* SoftHSM2 leaks inside itself (C_SignInit with CKM_EDDSA); see provisioner/main.c. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

#define PRODUCT "pv-demo-sensor"
#define BATCH   "demo-001"
#define GRACE_S 3
#define PIN     "pin-5ecr3t-4711" /* must never reach the log */

static char dir[64], bridge_bin[4096], prov_bin[4096], repo[4096];
static char config[128], url[64], serve_log[128], stub_path[4200];
static pid_t server = -1;
static char out[65536];

/* ---- files and commands ---- */

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static int run_bin(const char *bin, const char *const *args)
{
    char err_path[128];
    path_of(err_path, sizeof err_path, "cmd.err");
    out[0] = 0;
    return sp_run_capture(bin, args, err_path, out, sizeof out, NULL, 0);
}

#define BRIDGE(...)  run_bin(bridge_bin, (const char *const[]){__VA_ARGS__, NULL})
#define PROV(...)    run_bin(prov_bin, (const char *const[]){__VA_ARGS__, NULL})
#define OPENSSL(...) run_bin("openssl", (const char *const[]){__VA_ARGS__, NULL})

static void expect(int got, int want, const char *needle)
{
    if (got != want || (needle && !strstr(out, needle)))
        fail_msg("exit %d (want %d), output lacks \"%s\":\n%s", got, want, needle ? needle : "",
                 out);
}

static void write_text(const char *name, const char *text, mode_t mode)
{
    char p[160];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
}

/* An Ed25519 key NAME.key and a CSR NAME.csr (subject CN=ignored). */
static void key_and_csr(const char *name)
{
    char key[160], csr[160];
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    snprintf(csr, sizeof csr, "%s/%s.csr", dir, name);
    expect(OPENSSL("genpkey", "-algorithm", "ed25519", "-out", key), 0, NULL);
    expect(OPENSSL("req", "-new", "-key", key, "-subj", "/CN=ignored", "-out", csr), 0, NULL);
}

/* Enrols NAME with rights (NULL: none); its certificate goes to NAME.crt. */
static void enroll(const char *name, const char *rights)
{
    char csr[160], crt[160];
    snprintf(csr, sizeof csr, "%s/%s.csr", dir, name);
    snprintf(crt, sizeof crt, "%s/%s.crt", dir, name);
    key_and_csr(name);
    if (rights)
        expect(BRIDGE("station", "enroll", name, "--csr", csr, "--rights", rights, "--config",
                      config, "-o", crt),
               0, "enrolled");
    else
        expect(BRIDGE("station", "enroll", name, "--csr", csr, "--config", config, "-o", crt), 0,
               "enrolled");
}

/* ---- raw requests (libcurl) ---- */

struct reply {
    long status;
    CURLcode rc;
    char body[65536];
    size_t len;
    char err[CURL_ERROR_SIZE];
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t k = size * n;
    if (r->len + k >= sizeof r->body)
        k = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return size * n;
}

/* One request; station NULL: no client certificate. tls12: a TLS 1.2-only client. */
static void request(struct reply *r, const char *method, const char *path, const char *station,
                    const void *body, size_t body_len, int tls12)
{
    memset(r, 0, sizeof *r);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    char u[256], crt[160], key[160], ca[160];
    snprintf(u, sizeof u, "%s%s", url, path);
    path_of(ca, sizeof ca, "station-ca.crt");
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION,
                     tls12 ? (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2)
                           : (long)CURL_SSLVERSION_TLSv1_3);
    if (station) {
        snprintf(crt, sizeof crt, "%s/%s.crt", dir, station);
        snprintf(key, sizeof key, "%s/%s.key", dir, station);
        curl_easy_setopt(h, CURLOPT_SSLCERT, crt);
        curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
}

/* The reply is status with JSON {"error": error, "reason" containing needle}. */
static void expect_refusal(const struct reply *r, long status, const char *error,
                           const char *needle)
{
    if (r->rc != CURLE_OK)
        fail_msg("transport: %s", r->err);
    json_error_t je;
    json_t *j = json_loads(r->body, 0, &je);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *why = json_string_value(json_object_get(j, "reason"));
    if (r->status != status || !e || strcmp(e, error) != 0 || !why ||
        (needle && !strstr(why, needle)))
        fail_msg("want %ld %s (\"%s\"), got %ld: %s", status, error, needle ? needle : "",
                 r->status, r->body);
    json_decref(j);
}

static pv_bridge_client *client(const char *station, const char *ca_name)
{
    char crt[160], key[160], ca[160], err[512];
    snprintf(crt, sizeof crt, "%s/%s.crt", dir, station);
    snprintf(key, sizeof key, "%s/%s.key", dir, station);
    path_of(ca, sizeof ca, ca_name);
    struct pv_bridge_client_config cfg = {
        .url = url, .cert = crt, .key = key, .ca = ca, .timeout_s = 20};
    pv_bridge_client *c = pv_bridge_client_new(&cfg, err, sizeof err);
    if (!c)
        fail_msg("client: %s", err);
    return c;
}

/* ---- the tests ---- */

static void test_healthz_without_certificate(void **state)
{
    (void)state;
    struct reply r;
    request(&r, "GET", "/healthz", NULL, NULL, 0, 0);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
}

static void test_no_certificate(void **state)
{
    (void)state;
    struct reply r;
    request(&r, "GET", "/v1/plan?product=" PRODUCT "&batch=" BATCH, NULL, NULL, 0, 0);
    expect_refusal(&r, 401, "no_client_certificate", "no client certificate");
    request(&r, "GET", "/metrics", NULL, NULL, 0, 0);
    expect_refusal(&r, 401, "no_client_certificate", NULL);
}

static void test_foreign_ca(void **state)
{
    (void)state;
    struct reply r;
    request(&r, "GET", "/v1/plan?product=" PRODUCT "&batch=" BATCH, "foreign", NULL, 0, 0);
    expect_refusal(&r, 403, "certificate_not_trusted", "unable to get local issuer");
    /* The bridge's own server certificate is from the right CA but not for a TLS client. */
    request(&r, "GET", "/v1/plan?product=" PRODUCT "&batch=" BATCH, "bridge", NULL, 0, 0);
    expect_refusal(&r, 403, "certificate_not_trusted", "purpose");
}

static void test_plan(void **state)
{
    (void)state;
    pv_bridge_client *c = client("line-1", "station-ca.crt");
    struct pv_bridge_plan p;
    struct pv_bridge_err e;
    for (int round = 0; round < 2; round++) {
        if (pv_bridge_client_plan(c, PRODUCT, BATCH, &p, &e) != 0)
            fail_msg("plan: %d %s: %s", e.status, e.error, e.reason);
        assert_string_equal(p.product, PRODUCT);
        assert_string_equal(p.batch, BATCH);
        assert_string_equal(p.chip_family, "stm32f4");
        assert_int_equal(p.device_id, 0x419);
        assert_int_equal(p.flash_kb, 2048);
        assert_int_equal(p.rdp_level, 2);
        assert_int_equal(p.stub_sram_base, 0x20000000u);
        assert_int_equal(p.layout.keyslot_addr, 0x08008000u);
        assert_int_equal(p.layout.app_addr, 0x08010000u);
        assert_true(p.boot_len > 0 && p.boot_len <= p.layout.boot_size);
        assert_int_equal(p.app_len, 0); /* the test's recipe has no application */
        /* The stub is the released stub.bin, and its digest is the file's. */
        size_t len = 0;
        uint8_t *file = (uint8_t *)sp_slurp(stub_path, &len);
        assert_non_null(file);
        assert_int_equal(p.stub_len, len);
        assert_memory_equal(p.stub, file, len);
        uint8_t md[32];
        unsigned mdlen = 0;
        assert_int_equal(EVP_Digest(file, len, md, &mdlen, EVP_sha256(), NULL), 1);
        assert_memory_equal(md, p.stub_sha256, 32);
        free(file);
        pv_bridge_client_plan_free(&p);
    }
    /* Two requests, one TLS connection. */
    assert_int_equal(pv_bridge_client_requests(c), 2);
    assert_int_equal(pv_bridge_client_connections(c), 1);
    /* A product this bridge has not. */
    assert_int_equal(pv_bridge_client_plan(c, "nope", BATCH, &p, &e), -1);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.error, "unknown_product");
    pv_bridge_client_free(c);
}

static void test_no_rights(void **state)
{
    (void)state;
    pv_bridge_client *c = client("line-2", "station-ca.crt");
    struct pv_bridge_plan p;
    struct pv_bridge_err e;
    assert_int_equal(pv_bridge_client_plan(c, PRODUCT, BATCH, &p, &e), -1);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.error, "no_rights");
    assert_non_null(strstr(e.reason, "line-2"));
    pv_bridge_client_free(c);
}

static void test_revoked(void **state)
{
    (void)state;
    expect(BRIDGE("station", "revoke", "line-3", "--reason", "laptop stolen", "--config", config),
           0, "revoked");
    pv_bridge_client *c = client("line-3", "station-ca.crt");
    struct pv_bridge_plan p;
    struct pv_bridge_err e;
    assert_int_equal(pv_bridge_client_plan(c, PRODUCT, BATCH, &p, &e), -1);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.error, "station_revoked");
    pv_bridge_client_free(c);
    /* The registry says so too, and a second revoke is refused. */
    expect(BRIDGE("station", "list", "--json", "--config", config), 0, "\"revoked_at\"");
    expect(BRIDGE("station", "revoke", "line-3", "--reason", "again", "--config", config), 1,
           "revoked already");
}

static void test_too_large(void **state)
{
    (void)state;
    size_t n = 16u * 1024u + 1u;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    struct reply r;
    request(&r, "POST", "/v1/sessions", "line-1", big, n, 0);
    expect_refusal(&r, 413, "too_large", "16384");
    free(big);
}

static void test_bad_json(void **state)
{
    (void)state;
    struct reply r;
    const char *text = "{\"product\": \"" PRODUCT "\", ";
    request(&r, "POST", "/v1/sessions", "line-1", text, strlen(text), 0);
    expect_refusal(&r, 400, "bad_request", "not JSON");
    text = "{\"product\": \"" PRODUCT "\", \"batch\": \"" BATCH "\", \"identity\": {\"uid\": 5}}";
    request(&r, "POST", "/v1/sessions", "line-1", text, strlen(text), 0);
    expect_refusal(&r, 400, "bad_request", "identity.uid");
    text = "{\"product\": \"" PRODUCT "\"}";
    request(&r, "POST", "/v1/sessions", "line-1", text, strlen(text), 0);
    expect_refusal(&r, 400, "bad_request", "'batch'");
    request(&r, "GET", "/v1/plan?product=" PRODUCT, "line-1", NULL, 0, 0);
    expect_refusal(&r, 400, "bad_request", "batch");
}

static void test_unknown_session(void **state)
{
    (void)state;
    pv_bridge_client *c = client("line-1", "station-ca.crt");
    struct pv_bridge_err e;
    assert_int_equal(
        pv_bridge_client_fail(c, "0123456789abcdef0123456789abcdef", "probe", "test", &e), -1);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.error, "unknown_session");
    const uint8_t reply[8] = {1, 2, 3};
    assert_int_equal(pv_bridge_client_verified(c, "fedcba9876543210fedcba9876543210", reply,
                                               sizeof reply, NULL, NULL, &e),
                     -1);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.error, "unknown_session");
    pv_bridge_client_free(c);
    struct reply r;
    const char *lock = "{\"reply\": \"AAAA\", \"observed\": {\"rdp_level\": 2, \"method\": \"x\"}}";
    request(&r, "POST", "/v1/sessions/nothex/lock", "line-1", lock, strlen(lock), 0);
    expect_refusal(&r, 404, "unknown_session", NULL);
}

static void test_wrong_method_and_path(void **state)
{
    (void)state;
    struct reply r;
    request(&r, "DELETE", "/v1/sessions", "line-1", NULL, 0, 0);
    expect_refusal(&r, 405, "method_not_allowed", "DELETE");
    request(&r, "POST", "/v1/plan", "line-1", "{}", 2, 0);
    expect_refusal(&r, 405, "method_not_allowed", NULL);
    request(&r, "GET", "/v2/anything", "line-1", NULL, 0, 0);
    expect_refusal(&r, 404, "not_found", NULL);
}

static void test_tls12_refused(void **state)
{
    (void)state;
    struct reply r;
    request(&r, "GET", "/healthz", NULL, NULL, 0, 1);
    assert_int_not_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 0);
    /* The station's client with the wrong CA for the bridge: a transport error, status 0. */
    pv_bridge_client *c = client("line-1", "foreign-ca.crt");
    struct pv_bridge_plan p;
    struct pv_bridge_err e;
    assert_int_equal(pv_bridge_client_plan(c, PRODUCT, BATCH, &p, &e), -1);
    assert_int_equal(e.status, 0);
    assert_string_equal(e.error, "transport");
    pv_bridge_client_free(c);
}

static void test_metrics(void **state)
{
    (void)state;
    struct reply r;
    request(&r, "GET", "/metrics", "line-1", NULL, 0, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "# TYPE hsm_bridge_http_requests_total counter"));
    assert_non_null(
        strstr(r.body, "hsm_bridge_http_requests_total{route=\"plan\",status=\"200\"}"));
    assert_non_null(
        strstr(r.body, "hsm_bridge_http_refusals_total{error=\"certificate_not_trusted\"}"));
    assert_non_null(strstr(r.body, "hsm_bridge_http_request_duration_seconds_bucket"));
    /* Every line is a comment or "name{labels} value". */
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        char *end;
        strtod(sp + 1, &end);
        if (*end)
            fail_msg("not a sample: %s", line);
    }
}

static void test_cli_refusals(void **state)
{
    (void)state;
    char csr[160], bad[160];
    path_of(csr, sizeof csr, "line-1.csr");
    expect(BRIDGE("station", "enroll", "line-1", "--csr", csr, "--config", config), 1,
           "enrolled already");
    expect(BRIDGE("station", "enroll", "bad name", "--csr", csr, "--config", config), 2, "NAME");
    expect(BRIDGE("station", "enroll", "line-9", "--csr", csr, "--rights", "noslash", "--config",
                  config),
           2, "PRODUCT/BATCH");
    expect(BRIDGE("station", "--help"), 0, "station enroll NAME");
    expect(BRIDGE("--help"), 0, "exit status");
    /* A configuration with a typo and a PIN file others may read. */
    write_text("bad.yaml",
               "listen: 127.0.0.1:0\n"
               "tls: {cert: bridge.crt, kye: bridge.key, station_ca: station-ca.crt}\n"
               "ledger: ledger.db\nproducts: [recipe.yaml]\n",
               0644);
    path_of(bad, sizeof bad, "bad.yaml");
    expect(BRIDGE("serve", "--config", bad), 5, "bad.yaml:2:");
    assert_non_null(strstr(out, "did you mean \"key\""));
    write_text("open-pin", "1234\n", 0644);
    write_text("bad-pin.yaml",
               "listen: 127.0.0.1:0\n"
               "tls: {cert: bridge.crt, key: bridge.key, station_ca: station-ca.crt}\n"
               "token: {pin_file: open-pin}\n"
               "ledger: ledger.db\nproducts: [recipe.yaml]\n",
               0644);
    path_of(bad, sizeof bad, "bad-pin.yaml");
    expect(BRIDGE("serve", "--config", bad), 5, "chmod 600");
}

static void test_sigterm(void **state)
{
    (void)state;
    uint64_t t0 = sp_now_ms();
    kill(server, SIGTERM);
    int st = sp_wait(server, (GRACE_S + 2) * 1000);
    uint64_t took = sp_now_ms() - t0;
    server = -1;
    assert_int_equal(st, 0);
    assert_true(took < (uint64_t)GRACE_S * 1000u);
    char *log = sp_slurp(serve_log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "SIGTERM: stopping"));
    assert_non_null(strstr(log, "hsm-bridge: stopped"));
    /* One line per request, with its station and outcome; no secrets. */
    assert_non_null(
        strstr(log, "station=line-2 plan product=" PRODUCT " batch=" BATCH " -> 403 no_rights"));
    assert_non_null(strstr(log, "station=line-1 plan product=" PRODUCT));
    assert_non_null(strstr(log, "-> 401 no_client_certificate"));
    int leaked = strstr(log, "5ecr3t") != NULL;
    free(log);
    assert_false(leaked);
    /* Nothing listens any more. */
    struct reply r;
    request(&r, "GET", "/healthz", NULL, NULL, 0, 0);
    assert_int_not_equal(r.rc, CURLE_OK);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    static char p[32768];
    char tokens[128], conf[128];
    path_of(tokens, sizeof tokens, "tokens");
    path_of(conf, sizeof conf, "softhsm2.conf");
    mkdir(tokens, 0700);
    snprintf(p, sizeof p,
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
    write_text("softhsm2.conf", p, 0600);
    setenv("SOFTHSM2_CONF", conf, 1);
    setenv("PROVISION_PIN", PIN, 1); /* for provision keys; the bridge reads its pin_file */
    setenv("PROVISION_SO_PIN", "so-" PIN, 1);

    /* The demo recipe with its images by absolute path, its bootloader sealed at rest, without
     * the application (signed by the demo's key, not this token's). */
    char recipe[128], sealed[128], boot[4200];
    path_of(recipe, sizeof recipe, "recipe.yaml");
    path_of(sealed, sizeof sealed, "bootloader.sealed");
    snprintf(boot, sizeof boot, "%s/firmware/bootloader.bin", sp_arm_dir);
    snprintf(p, sizeof p,
             "sed -e 's#^  image: \\.\\./build/arm/stub-loader/stub.bin#  image: %s#' "
             "-e 's#^  image: \\.\\./build/arm/firmware/bootloader.bin#  image: %s#' "
             "-e 's#\\./openocd/#%s/recipes/openocd/#' "
             "-e '/^application:/,+1d' %s/recipes/demo-stm32f427.yaml > %s",
             stub_path, boot, repo, repo, recipe);
    if (system(p) != 0)
        return -1;
    if (PROV("keys", "init", "--recipe", recipe) != 0) {
        fprintf(stderr, "keys init: %s\n", out);
        return -1;
    }
    if (PROV("keys", "seal", "--recipe", recipe, boot, sealed) != 0) {
        fprintf(stderr, "keys seal: %s\n", out);
        return -1;
    }
    snprintf(p, sizeof p, "sed -i 's#^  image: %s#  image: %s#' %s", boot, sealed, recipe);
    if (system(p) != 0)
        return -1;

    unsetenv("PROVISION_PIN");
    unsetenv("PROVISION_SO_PIN");
    write_text("pin", PIN "\n", 0600);
    snprintf(p, sizeof p,
             "listen: 127.0.0.1:0\n"
             "tls: {cert: bridge.crt, key: bridge.key, station_ca: station-ca.crt}\n"
             "token: {pin_file: pin}\n"
             "ledger: sqlite:ledger.db\n"
             "products: [recipe.yaml]\n"
             "session_ttl_s: 60\n"
             "shutdown_grace_s: %d\n",
             GRACE_S);
    write_text("bridge.yaml", p, 0644);
    path_of(config, sizeof config, "bridge.yaml");

    /* The station CA, the bridge's certificate, three stations. */
    if (BRIDGE("ca", "init", "--config", config, "--cn", "test station CA") != 0) {
        fprintf(stderr, "ca init: %s\n", out);
        return -1;
    }
    key_and_csr("bridge");
    char csr[160], crt[160];
    path_of(csr, sizeof csr, "bridge.csr");
    path_of(crt, sizeof crt, "bridge.crt");
    if (BRIDGE("tls-cert", "--config", config, "--csr", csr, "--san", "127.0.0.1", "--san",
               "localhost", "-o", crt) != 0) {
        fprintf(stderr, "tls-cert: %s\n", out);
        return -1;
    }
    enroll("line-1", PRODUCT "/" BATCH);
    enroll("line-2", NULL);
    enroll("line-3", PRODUCT "/*");

    /* Another CA and a station certificate from it (CN line-1, like an enrolled one). */
    char fkey[160], fca[160], fcsr[160], fcrt[160], fext[160];
    path_of(fkey, sizeof fkey, "foreign-ca.key");
    path_of(fca, sizeof fca, "foreign-ca.crt");
    path_of(fcsr, sizeof fcsr, "foreign.csr");
    path_of(fcrt, sizeof fcrt, "foreign.crt");
    path_of(fext, sizeof fext, "foreign.ext");
    write_text("foreign.ext", "extendedKeyUsage = clientAuth\n", 0644);
    if (OPENSSL("req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", fkey, "-out", fca,
                "-subj", "/CN=foreign CA", "-days", "2") != 0)
        return -1;
    char skey[160];
    path_of(skey, sizeof skey, "foreign.key");
    if (OPENSSL("genpkey", "-algorithm", "ed25519", "-out", skey) != 0 ||
        OPENSSL("req", "-new", "-key", skey, "-subj", "/CN=line-1", "-out", fcsr) != 0)
        return -1;
    if (OPENSSL("x509", "-req", "-in", fcsr, "-CA", fca, "-CAkey", fkey, "-CAcreateserial", "-days",
                "2", "-extfile", fext, "-out", fcrt) != 0) {
        fprintf(stderr, "foreign cert: %s\n", out);
        return -1;
    }

    /* The bridge. */
    path_of(serve_log, sizeof serve_log, "serve.log");
    char *argv[] = {bridge_bin, "serve", "--config", config, NULL};
    server = sp_spawn(argv, NULL, serve_log);
    if (server <= 0)
        return -1;
    for (int i = 0; i < 300 && !url[0]; i++) {
        usleep(100000);
        char *log = sp_slurp(serve_log, NULL);
        const char *at = log ? strstr(log, "listening on https://") : NULL;
        if (at) {
            at += strlen("listening on ");
            size_t n = strcspn(at, " \n");
            snprintf(url, sizeof url, "%.*s", (int)n, at);
        }
        if (!url[0] && sp_wait(server, 0) >= 0) {
            fprintf(stderr, "hsm-bridge serve exited:\n%s\n", log ? log : "");
            free(log);
            return -1;
        }
        free(log);
    }
    if (!url[0]) {
        fprintf(stderr, "hsm-bridge serve did not start\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (server > 0)
        sp_stop(server, 5000);
    return 0;
}

int main(void)
{
    if (!sp_install(120))
        return 1;
    if (!sp_host_bin(bridge_bin, sizeof bridge_bin, "hsm-bridge") ||
        !sp_host_bin(prov_bin, sizeof prov_bin, "provision")) {
        fprintf(stderr, "%s or %s is not built: run make first\n", bridge_bin, prov_bin);
        return 1;
    }
    snprintf(stub_path, sizeof stub_path, "%s/stub-loader/stub.bin", sp_arm_dir);
    if (access(stub_path, R_OK) != 0) {
        fprintf(stderr, "%s is not built: run make first\n", stub_path);
        return 1;
    }
    /* The repository: <repo>/<BUILD>/host, else the working directory (make runs tests there). */
    char probe[4200];
    if (sp_host_dir(repo, sizeof repo)) {
        for (int i = 0; i < 2; i++) {
            char *slash = strrchr(repo, '/');
            if (slash)
                *slash = 0;
        }
        snprintf(probe, sizeof probe, "%s/recipes/demo-stm32f427.yaml", repo);
        if (access(probe, R_OK) != 0 && !getcwd(repo, sizeof repo))
            return 1;
    } else if (!getcwd(repo, sizeof repo)) {
        return 1;
    }
    snprintf(probe, sizeof probe, "%s/recipes/demo-stm32f427.yaml", repo);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "run from the repository's top directory (no %s)\n", probe);
        return 1;
    }
    if (!sp_make_tmpdir(dir, sizeof dir, "test_bridge_server"))
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_without_certificate),
        cmocka_unit_test(test_no_certificate),
        cmocka_unit_test(test_foreign_ca),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_no_rights),
        cmocka_unit_test(test_revoked),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_unknown_session),
        cmocka_unit_test(test_wrong_method_and_path),
        cmocka_unit_test(test_tls12_refused),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_cli_refusals),
        cmocka_unit_test(test_sigterm),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    if (rc == 0 && sp_remove_tmpdir(dir) != 0)
        rc = 1;
    return rc;
}
