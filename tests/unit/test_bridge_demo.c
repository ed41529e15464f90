/* `make demo` as a test: the product owner's hsm-bridge and a station as two processes, a
 * virtual STM32F427 through unmodified OpenOCD, mutual TLS with a freshly enrolled station
 * certificate, SoftHSM2 and SQLite on the bridge. Checks the outcome, not the wording: the
 * station's run ends locked at RDP Level 2 with at most four bridge requests, the bridge's
 * ledger holds one locked row for that station with an intact signed audit chain, the chip boots
 * the signed application, a debugger is refused, and the station's folder holds no PIN, no
 * token and no byte run of the images in clear. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <dirent.h>

#define DEMO_DIR    "build/host/tests/bridge-demo"
#define RELEASE_BIN "build/release/host/bin"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = (size_t)n;
    }
    return b;
}

/* Any 16-byte window of secret[] inside hay[]. */
static int has_window(const char *hay, size_t hlen, const char *secret, size_t slen)
{
    for (size_t i = 0; i + 16 <= slen; i += 8)
        if (memmem(hay, hlen, secret + i, 16))
            return 1;
    return 0;
}

static void test_demo_through_bridge(void **state)
{
    (void)state;
    /* the release build (make test builds it before the tests), as `make demo` runs it: no
     * sanitizer runtime in its programs */
    assert_int_equal(system("ldd " RELEASE_BIN "/provision | grep -q libasan"), 256);
    assert_int_equal(system("ldd " RELEASE_BIN "/hsm-bridge | grep -q libasan"), 256);
    assert_int_equal(system("ldd build/host/bin/provision | grep -q libasan"), 0);
    int st = system("PV_DEMO_BIN=" RELEASE_BIN " PV_DEMO_DIR=$PWD/" DEMO_DIR
                    " tools/demo.sh >" DEMO_DIR ".log 2>&1");
    size_t n = 0;
    char *out = slurp(DEMO_DIR ".log", &n);
    assert_non_null(out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s\n", out);
        free(out);
        fail_msg("the demo exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    /* the station's run: locked at Level 2 after a reset, four requests to the bridge */
    assert_non_null(strstr(out, "provision: trusted side: bridge https://127.0.0.1:"));
    assert_non_null(strstr(out, "provision: bridge requests: 4\n"));
    assert_non_null(strstr(out, "rdp Level 2  ledger locked"));
    assert_non_null(strstr(out, "debug port dead; batch demo-001: 1 of 1000"));
    /* the bridge's ledger: one locked row for the enrolled station, chain intact */
    assert_non_null(strstr(out, "locked    demo-line-1"));
    assert_non_null(strstr(out, "batch demo-001: 1 of 1000 devices counted"));
    assert_non_null(strstr(out, "audit chain intact"));
    assert_non_null(strstr(out, "station=demo-line-1"));
    /* the chip: boots the signed application, refuses a debugger */
    assert_non_null(strstr(out, "usart: app: demo 1.0.0 running"));
    assert_non_null(strstr(out, "JTAG scan chain interrogation failed"));

    /* the station's folder: no PIN, no token, no image in clear */
    size_t pin_len = 0, boot_len = 0, app_len = 0;
    char *pin = slurp(DEMO_DIR "/bridge/pin", &pin_len);
    char *boot = slurp("build/arm/firmware/bootloader.bin", &boot_len);
    char *app = slurp(DEMO_DIR "/app.img", &app_len);
    assert_non_null(pin);
    assert_non_null(boot);
    assert_non_null(app);
    while (pin_len && (pin[pin_len - 1] == '\n'))
        pin_len--;
    DIR *d = opendir(DEMO_DIR "/station");
    assert_non_null(d);
    struct dirent *e;
    unsigned files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, DEMO_DIR "/station/%s", e->d_name);
        size_t len = 0;
        char *b = slurp(path, &len);
        assert_non_null(b);
        files++;
        if (memmem(b, len, pin, pin_len) || has_window(b, len, boot, boot_len) ||
            has_window(b, len, app, app_len))
            fail_msg("station file %s holds the PIN or a run of an image in clear", path);
        assert_null(strstr(e->d_name, "pin"));
        assert_null(strstr(e->d_name, "token"));
        free(b);
    }
    closedir(d);
    assert_true(files >= 4);
    free(pin);
    free(boot);
    free(app);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_through_bridge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
