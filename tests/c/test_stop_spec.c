/*
 * lcd_client_stop, lcd_client_update_restart_policy and lcd_spec_default through the
 * C ABI: containers from the default spec run as root and as the rootfs's `app` user
 * with masked /proc paths; a stop of a container ignoring SIGTERM kills it after the
 * timeout and reports one exit; a stop cancels an `always` restart; updating the
 * policy to `no` during a backoff cancels the pending restart, to `always` makes a
 * container restart; bad arguments are INVALID_ARGUMENT.
 *
 * usage: test_stop_spec <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <signal.h>

static h_recorder rec;
static h_env env;

/* A default spec running `sh -c script` in `rootfs` as `user` (NULL: root); the
 * caller frees it with lcd_string_free. NULL on failure (recorded). */
static char *default_spec(const char *rootfs, const char *user, const char *script) {
    char opts[PATH_MAX + 2048];
    size_t len = 0;
    h_append(opts, sizeof opts, &len, "{\"rootfs\":");
    h_json_str(opts, sizeof opts, &len, rootfs);
    if (user != NULL) {
        h_append(opts, sizeof opts, &len, ",\"user\":");
        h_json_str(opts, sizeof opts, &len, user);
    }
    h_append(opts, sizeof opts, &len, ",\"args\":[\"sh\",\"-c\",");
    h_json_str(opts, sizeof opts, &len, script);
    h_append(opts, sizeof opts, &len, "]}");
    char *spec = NULL;
    if (!h_ok_call(lcd_spec_default(opts, &spec), "lcd_spec_default")) {
        return NULL;
    }
    return spec;
}

/* Runs a default-spec container to its end; checks its exit code and stdout. */
static void run_expect(const char *env_rootfs, const char *id, const char *user, const char *script,
                       const char *want, const char *name) {
    char *spec = default_spec(env_rootfs, user, script);
    if (spec == NULL) {
        return;
    }
    if (h_ok_call(lcd_client_create(env.client, id, spec, NULL, NULL), name)) {
        h_event ex;
        long i = h_wait_for(&rec, id, LCD_STATE_EXIT, h_scaled_ms(20000), &ex);
        h_capture *cap = h_capture_of(&rec, id, "init");
        bool streams = cap != NULL && h_wait_streams(&rec, cap, h_scaled_ms(10000));
        const char *out = streams && cap->out.data != NULL ? cap->out.data : "";
        h_ok(i >= 0 && ex.exit_code == 0 && strcmp(out, want) == 0, name,
             "exit %ld code %u stdout %s", i, i >= 0 ? ex.exit_code : 0, out);
    }
    lcd_string_free(spec);
}

static const char *const USR1_EXITS =
    "trap 'exit 3' USR1; trap '' TERM; echo ready; while true; do sleep 0.1; done";

/* Waits until the latest run of `id` printed `ready`: its traps are set (pid 1
 * ignores a signal it has no handler for, so an earlier one would be lost). */
static bool wait_ready(const char *id, int64_t timeout_ms) {
    int64_t deadline = h_now_ms() + h_scaled_ms(timeout_ms);
    while (h_now_ms() < deadline) {
        h_capture *cap = h_capture_of(&rec, id, "init");
        bool ready = false;
        pthread_mutex_lock(&rec.mu);
        ready = cap != NULL && cap->out.data != NULL && strstr(cap->out.data, "ready") != NULL;
        pthread_mutex_unlock(&rec.mu);
        if (ready) {
            return true;
        }
        h_sleep_ms(20);
    }
    return false;
}

int main(int argc, char **argv) {
    h_args(argc, argv, &env, true);
    h_recorder_init(&rec);
    h_setup(&env, &rec);

    /* lcd_spec_default: defaults, errors. */
    char *spec = NULL;
    if (h_ok_call(lcd_spec_default(NULL, &spec), "spec_default with NULL options")) {
        h_ok(strstr(spec, "\"noNewPrivileges\":true") != NULL && strstr(spec, "/dev/mqueue") != NULL &&
                 strstr(spec, "\"maskedPaths\"") != NULL,
             "the default spec is complete", "%s", spec);
        lcd_string_free(spec);
    }
    h_ok_code(lcd_spec_default("{\"rootfz\":\"/\"}", &spec), LCD_INVALID_ARGUMENT, "rootfz",
              "an unknown spec option is INVALID_ARGUMENT naming it");
    h_ok_code(lcd_spec_default("{\"user\":\"nosuchuser\"}", &spec), LCD_INVALID_ARGUMENT, "user",
              "a user name without a rootfs is INVALID_ARGUMENT");
    h_ok_code(lcd_spec_default(NULL, NULL), LCD_INVALID_ARGUMENT, "spec_json",
              "a NULL out-parameter is INVALID_ARGUMENT");

    /* Containers from it: root, the rootfs's app user, masked paths. */
    run_expect(env.rootfs, "ss-root", NULL,
               "id -u; [ \"$(wc -c < /proc/timer_list)\" = 0 ] && echo masked; grep CapEff /proc/self/status",
               "0\nmasked\nCapEff:\t00000000a80425fb\n", "default spec runs as root, /proc/timer_list masked");
    run_expect(env.rootfs, "ss-app", "app", "id -u; id -g; echo $HOME", "1000\n1000\n/home/app\n",
               "default spec runs as the rootfs's app user");

    /* stop: SIGTERM ignored, SIGKILL after the timeout, one exit. */
    spec = default_spec(env.rootfs, NULL, "trap '' TERM; while true; do sleep 0.1; done");
    if (spec != NULL && h_ok_call(lcd_client_create(env.client, "ss-stop", spec, NULL, NULL), "create ss-stop")) {
        h_wait_for(&rec, "ss-stop", LCD_STATE_START_CONTAINER, h_scaled_ms(10000), NULL);
        int64_t t0 = h_now_ms();
        h_ok_call(lcd_client_stop(env.client, "ss-stop", 0, 1000, NULL), "stop ss-stop");
        int64_t took = h_now_ms() - t0;
        h_ok(took >= 1000, "stop waits for the timeout before SIGKILL", "took %lld ms", (long long)took);
        h_event ex;
        long i = h_wait_for(&rec, "ss-stop", LCD_STATE_EXIT, h_scaled_ms(10000), &ex);
        h_ok(i >= 0 && ex.exit_code == 137, "stopped with SIGKILL", "index %ld code %u", i, i >= 0 ? ex.exit_code : 0);
        h_sleep_ms(500);
        int exits = h_count(&rec, "ss-stop", LCD_STATE_EXIT, NULL);
        h_ok(exits == 1, "one exit reported", "%d exits", exits);
    }
    lcd_string_free(spec);
    h_ok_code(lcd_client_stop(env.client, "ss-none", 0, 0, NULL), LCD_NOT_FOUND, NULL,
              "stop of an unknown container is NOT_FOUND");
    h_ok_code(lcd_client_stop(env.client, "ss-none", 99, 0, NULL), LCD_INVALID_ARGUMENT, "signal",
              "stop with signal 99 is INVALID_ARGUMENT");
    h_ok_code(lcd_client_stop(env.client, NULL, 0, 0, NULL), LCD_INVALID_ARGUMENT, NULL,
              "stop with a NULL id is INVALID_ARGUMENT");

    const char *always = "{\"restart_policy\":{\"name\":\"always\"}}";
    /* stop cancels an always restart. */
    spec = default_spec(env.rootfs, NULL, "sleep 300");
    if (spec != NULL && h_ok_call(lcd_client_create(env.client, "ss-always", spec, always, NULL), "create ss-always")) {
        h_wait_for(&rec, "ss-always", LCD_STATE_START_CONTAINER, h_scaled_ms(10000), NULL);
        h_ok_call(lcd_client_stop(env.client, "ss-always", SIGKILL, 1000, NULL), "stop ss-always");
        h_wait_for(&rec, "ss-always", LCD_STATE_EXIT, h_scaled_ms(10000), NULL);
        h_sleep_ms(500);
        int starts = h_count(&rec, "ss-always", LCD_STATE_START_CONTAINER, NULL);
        int restarts = h_count(&rec, "ss-always", LCD_STATE_RESTART, NULL);
        h_ok(starts == 1 && restarts == 0, "stop cancels an always restart", "%d starts, %d restarts", starts, restarts);
    }
    lcd_string_free(spec);

    /* update_restart_policy "no" during the backoff cancels the pending restart. */
    spec = default_spec(env.rootfs, NULL, "exit 4");
    if (spec != NULL && h_ok_call(lcd_client_create(env.client, "ss-upd-no", spec, always, NULL), "create ss-upd-no")) {
        /* The 5th restart waits 1.6 s. */
        h_wait_nth(&rec, "ss-upd-no", LCD_STATE_RESTART, NULL, 5, h_scaled_ms(20000), NULL);
        h_ok_call(lcd_client_update_restart_policy(env.client, "ss-upd-no", "{\"name\":\"no\"}", NULL),
                  "update_restart_policy no");
        h_event ex;
        long i = h_wait_for(&rec, "ss-upd-no", LCD_STATE_EXIT, h_scaled_ms(10000), &ex);
        h_ok(i >= 0 && ex.exit_code == 4, "the exit follows", "index %ld", i);
        h_sleep_ms(2000);
        int starts = h_count(&rec, "ss-upd-no", LCD_STATE_START_CONTAINER, NULL);
        h_ok(starts == 5, "no restart after the update to no", "%d starts", starts);
    }
    lcd_string_free(spec);

    /* update_restart_policy "always" makes a container restart. */
    spec = default_spec(env.rootfs, NULL, USR1_EXITS);
    if (spec != NULL && h_ok_call(lcd_client_create(env.client, "ss-upd-always", spec, NULL, NULL), "create ss-upd-always")) {
        h_ok(wait_ready("ss-upd-always", 10000), "ss-upd-always ready", "no ready line");
        h_ok_call(lcd_client_update_restart_policy(env.client, "ss-upd-always", "{\"name\":\"always\"}", NULL),
                  "update_restart_policy always");
        h_ok_call(lcd_client_signal(env.client, "ss-upd-always", SIGUSR1, NULL), "signal SIGUSR1");
        long i = h_wait_nth(&rec, "ss-upd-always", LCD_STATE_START_CONTAINER, NULL, 2, h_scaled_ms(10000), NULL);
        h_ok(i >= 0 && h_count(&rec, "ss-upd-always", LCD_STATE_RESTART, NULL) == 1,
             "the updated policy restarts the container", "index %ld", i);
        h_ok_call(lcd_client_stop(env.client, "ss-upd-always", SIGKILL, 1000, NULL), "stop ss-upd-always");
        h_ok(h_wait_for(&rec, "ss-upd-always", LCD_STATE_EXIT, h_scaled_ms(10000), NULL) >= 0, "stopped", "no exit");
    }
    lcd_string_free(spec);
    h_ok_code(lcd_client_update_restart_policy(env.client, "ss-x", "{\"name\":\"always\",\"maximum_retry_count\":2}", NULL),
              LCD_INVALID_ARGUMENT, "maximum_retry_count", "a retry count without on-failure is INVALID_ARGUMENT");
    h_ok_code(lcd_client_update_restart_policy(env.client, "ss-x", "{\"nme\":\"no\"}", NULL), LCD_INVALID_ARGUMENT,
              "nme", "an unknown policy key is INVALID_ARGUMENT naming it");
    h_ok_code(lcd_client_update_restart_policy(env.client, "ss-x", NULL, NULL), LCD_INVALID_ARGUMENT, NULL,
              "a NULL policy is INVALID_ARGUMENT");
    h_ok_code(lcd_client_update_restart_policy(env.client, "ss-none", "{\"name\":\"no\"}", NULL), LCD_NOT_FOUND, NULL,
              "update of an unknown container is NOT_FOUND");

    h_recorder_join(&rec, 5000);
    h_teardown(&env);
    return h_done();
}
