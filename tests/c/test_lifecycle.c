/*
 * Lifecycle through the C ABI: a container that exits with code 7 reports
 * start-container (pid > 0) then exactly one exit with code 7 and exited_at set; it is
 * then gone from the list and its id can be reused. A taken id is ALREADY_EXISTS, and
 * SIGKILL ends a running container with 137. user_data_free runs once.
 *
 * usage: test_lifecycle <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <signal.h>

static h_recorder rec;

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    h_recorder_init(&rec);
    h_setup(&env, &rec);

    const char *id = "lc-exit";
    char *spec = h_spec(env.rootfs, "lc-exit", (const char *const[]){"sh", "-c", "exit 7", NULL});

    for (int run = 1; run <= 2; run++) {
        char name[64];
        snprintf(name, sizeof name, "create (run %d)", run);
        if (!h_ok_call(lcd_client_create(env.client, id, spec, NULL, NULL), name)) {
            break;
        }
        h_event start, ex;
        long i_start = h_wait_nth(&rec, id, LCD_STATE_START_CONTAINER, NULL, run, 10000, &start);
        snprintf(name, sizeof name, "start-container with a pid (run %d)", run);
        h_ok(i_start >= 0 && start.pid > 0 && strcmp(start.process, "init") == 0, name,
             "index %ld pid %u process %s", i_start, start.pid, i_start >= 0 ? start.process : "");
        long i_exit = h_wait_nth(&rec, id, LCD_STATE_EXIT, NULL, run, 10000, &ex);
        snprintf(name, sizeof name, "exit with code 7 and exited_at (run %d)", run);
        h_ok(i_exit >= 0 && ex.exit_code == 7 && ex.exited_at > 0 && strcmp(ex.process, "init") == 0,
             name, "index %ld code %u exited_at %lld", i_exit, i_exit >= 0 ? ex.exit_code : 0,
             i_exit >= 0 ? (long long)ex.exited_at : 0LL);
        snprintf(name, sizeof name, "start-container before exit (run %d)", run);
        h_ok(i_start >= 0 && i_exit > i_start, name, "start at %ld, exit at %ld", i_start, i_exit);

        /* No second exit for the same run. */
        h_sleep_ms(1000);
        snprintf(name, sizeof name, "exactly one exit (run %d)", run);
        int exits = h_count(&rec, id, LCD_STATE_EXIT, NULL);
        h_ok(exits == run, name, "%d exit events after %d runs", exits, run);

        char *json = NULL;
        snprintf(name, sizeof name, "list (run %d)", run);
        if (h_ok_call(lcd_client_list(env.client, &json, NULL), name)) {
            snprintf(name, sizeof name, "list no longer shows the exited container (run %d)", run);
            h_ok(!h_list_has(json, id), name, "%s", json);
            lcd_string_free(json);
        }
    }
    free(spec);

    /* A running container: its id is taken until it exits; SIGKILL gives 137. */
    const char *sleeper = "lc-sleep";
    spec = h_spec(env.rootfs, sleeper, (const char *const[]){"sleep", "30", NULL});
    if (h_ok_call(lcd_client_create(env.client, sleeper, spec, NULL, NULL), "create a sleeping container")) {
        h_ok(h_wait_for(&rec, sleeper, LCD_STATE_START_CONTAINER, 10000, NULL) >= 0,
             "sleeping container started", "no start-container");
        h_ok_code(lcd_client_create(env.client, sleeper, spec, NULL, NULL), LCD_ALREADY_EXISTS, NULL,
                  "a taken id is ALREADY_EXISTS");
        char *json = NULL;
        if (h_ok_call(lcd_client_list(env.client, &json, NULL), "list with a running container")) {
            h_ok(h_list_has(json, sleeper) && strstr(json, "\"running\"") != NULL,
                 "list shows the running container", "%s", json);
            lcd_string_free(json);
        }
        h_ok_call(lcd_client_signal(env.client, sleeper, SIGKILL, NULL), "signal SIGKILL");
        h_event ex;
        long i = h_wait_for(&rec, sleeper, LCD_STATE_EXIT, 10000, &ex);
        h_ok(i >= 0 && ex.exit_code == 137, "SIGKILL exits with 137", "index %ld code %u", i,
             i >= 0 ? ex.exit_code : 0);
    }
    free(spec);

    /* Unknown containers. */
    h_ok_code(lcd_client_pause(env.client, "lc-none", NULL), LCD_NOT_FOUND, NULL,
              "pause of an unknown container is NOT_FOUND");
    h_ok_code(lcd_client_signal(env.client, "lc-none", SIGTERM, NULL), LCD_NOT_FOUND, NULL,
              "signal to an unknown container is NOT_FOUND");

    h_recorder_join(&rec, 5000);
    lcd_client_free(env.client);
    env.client = NULL;
    pthread_mutex_lock(&rec.mu);
    int freed = rec.freed;
    pthread_mutex_unlock(&rec.mu);
    h_ok(freed == 1, "user_data_free ran once", "ran %d times", freed);
    h_teardown(&env);
    return h_done();
}
