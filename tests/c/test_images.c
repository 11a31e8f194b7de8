/*
 * Images through the C ABI: pull from the test registry fixture with a progress
 * callback (on a library thread, all before the pull returns), list, remove, import,
 * and argument checking (NULLs, unknown option keys, out-parameters untouched).
 *
 * usage: test_images <state_dir> [<rootfs>]
 * Starts a registry with scripts/test-registry.sh under <state_dir>/registry.
 */
#include "harness.h"

#include <pthread.h>

#ifndef LCD_SOURCE_ROOT
#define LCD_SOURCE_ROOT "."
#endif

static int marker;
#define SENTINEL ((char *)&marker)

typedef struct progress {
    pthread_mutex_t mu;
    int calls;
    int on_caller_thread;
    bool first_resolving;
    bool saw_done;
    pthread_t caller;
} progress;

static void on_progress(void *user_data, const char *json) {
    progress *p = user_data;
    pthread_mutex_lock(&p->mu);
    if (p->calls == 0) {
        p->first_resolving = strstr(json, "\"status\":\"resolving\"") != NULL;
    }
    p->calls++;
    if (pthread_equal(pthread_self(), p->caller)) {
        p->on_caller_thread++;
    }
    if (strstr(json, "\"status\":\"done\"") != NULL) {
        p->saw_done = true;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Runs the fixture script with `verb` on `dir`; the address it prints goes to `out`. */
static bool registry(const char *verb, const char *dir, const char *rootfs, char *out, size_t n) {
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "LCD_TEST_ROOTFS='%s' '%s/scripts/test-registry.sh' %s '%s'", rootfs,
             LCD_SOURCE_ROOT, verb, dir);
    FILE *f = popen(cmd, "r");
    if (f == NULL) {
        return false;
    }
    char buf[256] = "";
    if (fgets(buf, sizeof buf, f) == NULL) {
        buf[0] = '\0';
    }
    int rc = pclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    if (out != NULL) {
        snprintf(out, n, "%s", buf);
    }
    return rc == 0;
}

static bool listed(lcd_remote *r, const char *name) {
    char *json = NULL;
    h_err e = h_take(lcd_remote_image_list(r, &json, NULL));
    if (e.code != LCD_OK) {
        h_bail("lcd_remote_image_list: %s", e.message);
    }
    char needle[512];
    snprintf(needle, sizeof needle, "\"name\":\"%s\"", name);
    bool found = strstr(json, needle) != NULL;
    lcd_string_free(json);
    return found;
}

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    char regdir[PATH_MAX + 16], addr[128];
    snprintf(regdir, sizeof regdir, "%s/registry", env.state_dir);
    if (!registry("seed", regdir, env.rootfs, addr, sizeof addr)) {
        h_bail("cannot start the test registry (scripts/test-registry.sh seed %s)", regdir);
    }
    h_remote(&env);
    lcd_remote *r = env.remote;

    char ref[256], opts[512], name[300];
    snprintf(ref, sizeof ref, "%s/test/busybox:latest", addr);
    snprintf(opts, sizeof opts, "{\"plain_http\":[\"%s\"],\"unpack\":false}", addr);

    /* Argument checking: INVALID_ARGUMENT, out-parameter untouched. */
    char *out = SENTINEL;
    h_ok_code(lcd_remote_image_pull(NULL, ref, opts, NULL, NULL, &out, NULL), LCD_INVALID_ARGUMENT, "r",
              "pull: NULL remote");
    h_ok_code(lcd_remote_image_pull(r, NULL, opts, NULL, NULL, &out, NULL), LCD_INVALID_ARGUMENT, "ref",
              "pull: NULL ref");
    h_ok_code(lcd_remote_image_pull(r, ref, opts, NULL, NULL, NULL, NULL), LCD_INVALID_ARGUMENT,
              "image_json", "pull: NULL out");
    h_ok_code(lcd_remote_image_pull(r, ref, "{\"plain_htttp\":[]}", NULL, NULL, &out, NULL),
              LCD_INVALID_ARGUMENT, "plain_htttp", "pull: unknown option key named");
    h_ok_code(lcd_remote_image_pull(r, "Not:A:Ref", opts, NULL, NULL, &out, NULL), LCD_INVALID_ARGUMENT,
              NULL, "pull: malformed ref");
    h_ok_code(lcd_remote_image_import(r, NULL, NULL, &out, NULL), LCD_INVALID_ARGUMENT, "archive_path",
              "import: NULL path");
    h_ok_code(lcd_remote_image_import(r, "/x.tar", "{\"nam\":\"a\"}", &out, NULL), LCD_INVALID_ARGUMENT,
              "nam", "import: unknown option key named");
    h_ok_code(lcd_remote_image_list(NULL, &out, NULL), LCD_INVALID_ARGUMENT, NULL, "list: NULL remote");
    h_ok_code(lcd_remote_image_list(r, NULL, NULL), LCD_INVALID_ARGUMENT, NULL, "list: NULL out");
    h_ok_code(lcd_remote_image_remove(r, NULL, NULL), LCD_INVALID_ARGUMENT, "ref", "remove: NULL ref");
    h_ok(out == SENTINEL, "out-parameters untouched on failure", "");

    /* Pull with progress. */
    progress p = {.mu = PTHREAD_MUTEX_INITIALIZER, .caller = pthread_self()};
    char *image = NULL;
    h_ok_call(lcd_remote_image_pull(r, ref, opts, on_progress, &p, &image, NULL), "pull by tag");
    pthread_mutex_lock(&p.mu);
    int calls = p.calls;
    h_ok(calls > 0 && p.first_resolving && p.saw_done, "progress: resolving first, done seen",
         "%d calls", calls);
    h_ok(p.on_caller_thread == 0, "progress runs on a library thread", "%d on the caller's",
         p.on_caller_thread);
    pthread_mutex_unlock(&p.mu);
    h_sleep_ms(200);
    pthread_mutex_lock(&p.mu);
    h_ok(p.calls == calls, "every progress call happened before the pull returned", "%d then %d",
         calls, p.calls);
    pthread_mutex_unlock(&p.mu);
    snprintf(name, sizeof name, "\"name\":\"%s\"", ref);
    h_ok(image != NULL && strstr(image, name) != NULL && strstr(image, "\"platform\":\"linux/amd64\""),
         "image_json names the image", "%s", image ? image : "(null)");
    lcd_string_free(image);

    h_ok(listed(r, ref), "list has the pulled image", "");
    h_ok_call(lcd_remote_image_remove(r, ref, NULL), "remove");
    h_ok(!listed(r, ref), "list no longer has it", "");
    h_ok_code(lcd_remote_image_remove(r, ref, NULL), LCD_NOT_FOUND, NULL, "remove again is NOT_FOUND");

    char unknown[256];
    snprintf(unknown, sizeof unknown, "%s/test/busybox:nosuchtag", addr);
    h_ok_code(lcd_remote_image_pull(r, unknown, opts, NULL, NULL, &out, NULL), LCD_NOT_FOUND, NULL,
              "unknown tag is NOT_FOUND");

    /* Import. */
    char archive[PATH_MAX + 64];
    snprintf(archive, sizeof archive, "%s/archives/busybox-oci.tar", regdir);
    char *images = NULL;
    h_ok_call(lcd_remote_image_import(r, archive, "{\"name\":\"example.com/c-import:1\"}", &images, NULL),
              "import oci-archive renamed");
    h_ok(images != NULL && strstr(images, "\"name\":\"example.com/c-import:1\"") != NULL,
         "images_json names the imported image", "%s", images ? images : "(null)");
    lcd_string_free(images);
    h_ok_call(lcd_remote_image_remove(r, "example.com/c-import:1", NULL), "remove imported");

    h_teardown(&env);
    registry("stop", regdir, env.rootfs, NULL, 0);
    return h_done();
}
