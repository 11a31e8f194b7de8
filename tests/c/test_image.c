/*
 * Containers from an image through the C ABI: an image of two layers (the busybox
 * rootfs, then /srv/layer2.txt), built with umoci and skopeo and imported with
 * `ctr images import --no-unpack`, runs with "image" in the create options: the
 * library unpacks it, the container sees the second layer's file, and the image
 * config supplies the working directory. An image that is not there is NOT_FOUND; a
 * bad snapshotter name is INVALID_ARGUMENT.
 *
 * usage: test_image <state_dir> [<rootfs>]   (needs root, containerd, umoci, skopeo)
 */
#include "harness.h"

#define IMAGE "lcd.test/c-busybox:v1"

static h_recorder rec;

/* Runs a shell command; false (after a failed check) if it fails. */
static bool sh(const char *what, const char *fmt, ...) {
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return h_ok(rc == 0, what, "`%s` exited with %d", cmd, rc);
}

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    h_recorder_init(&rec);
    h_setup(&env, &rec);

    const char *d = env.state_dir;
    bool built = sh("build the image", "set -e; exec >/dev/null 2>&1; cd '%s'; umoci init --layout oci; "
                    "umoci new --image oci:img; umoci unpack --image oci:img bundle; "
                    "cp -a '%s'/. bundle/rootfs/; umoci repack --refresh-bundle --image oci:img bundle; "
                    "mkdir -p bundle/rootfs/srv; echo layer-two > bundle/rootfs/srv/layer2.txt; "
                    "umoci repack --refresh-bundle --image oci:img bundle; "
                    "umoci config --image oci:img --config.workingdir /srv; "
                    "skopeo copy -q oci:oci:img oci-archive:img.tar:" IMAGE "; rm -rf bundle oci",
                    d, env.rootfs) &&
                 sh("import the image", "ctr -a '%s/containerd/containerd.sock' -n libcontainerd images import "
                    "--no-unpack '%s/img.tar' >/dev/null", d, d);

    if (built) {
        const char *id = "img-c";
        /* No cwd in the process: the image's working directory applies. */
        char *spec = h_spec(env.rootfs, id, (const char *const[]){"cat", "layer2.txt", NULL});
        const char *needle = ",\"cwd\":\"/\"";
        char *cwd = strstr(spec, needle);
        h_ok(cwd != NULL, "the spec names a cwd to take out", "%s", spec);
        if (cwd != NULL) {
            memmove(cwd, cwd + strlen(needle), strlen(cwd + strlen(needle)) + 1);
        }
        if (h_ok_call(lcd_client_create(env.client, id, spec, "{\"image\":\"" IMAGE "\"}", NULL), "create from the image")) {
            h_event ex;
            long i = h_wait_for(&rec, id, LCD_STATE_EXIT, h_scaled_ms(30000), &ex);
            h_capture *cap = h_capture_of(&rec, id, "init");
            bool done = cap != NULL && h_wait_streams(&rec, cap, h_scaled_ms(10000));
            h_ok(i >= 0 && ex.exit_code == 0 && done && strcmp(cap->out.data, "layer-two\n") == 0,
                 "the container reads the second layer's file from the image's working directory",
                 "exit %u stdout %s stderr %s", i >= 0 ? ex.exit_code : 0, done ? cap->out.data : "?",
                 done ? cap->err.data : "?");
        }
        h_ok_code(lcd_client_create(env.client, "img-none", spec, "{\"image\":\"lcd.test/none:here\"}", NULL),
                  LCD_NOT_FOUND, "lcd.test/none:here", "an image that is not there is NOT_FOUND");
        h_ok_code(lcd_client_create(env.client, "img-bad", spec, "{\"image\":\"" IMAGE "\",\"snapshotter\":\"../x\"}", NULL),
                  LCD_INVALID_ARGUMENT, "snapshotter", "a bad snapshotter is INVALID_ARGUMENT");
        free(spec);
    }
    h_teardown(&env);
    h_recorder_join(&rec, 10000);
    return h_done();
}
