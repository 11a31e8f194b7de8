/*
 * Deadlines and cancellation (lcd_call) on a real containerd that stops answering
 * (SIGSTOP to the daemon the library started):
 *
 * - a create cancelled from another thread during the outage returns LCD_CANCELLED
 *   within 100 ms (plus slack for a loaded machine), and once containerd answers again
 *   neither the library's list nor `ctr containers ls` / `ctr tasks ls` shows the
 *   container; the id is usable again;
 * - a deadline on the hung daemon gives LCD_DEADLINE_EXCEEDED; after SIGCONT the
 *   library works as before;
 * - a cancelled lcd_call fails every later call at once; NULL means no deadline;
 * - the lcd_call functions accept NULL.
 *
 * usage: test_deadlines <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <dirent.h>

#include <signal.h>
#include <sys/types.h>

static h_env env;
static h_recorder rec;

/* The contract's 100 ms, plus slack for the scheduler of a loaded 2-CPU machine.
 * Without cancellation these calls block for the whole outage (20 s). */
static int64_t return_bound_ms(void) { return h_scaled_ms(100) + 400; }

struct canceller {
    lcd_call *call;
    int64_t after_ms;
    int64_t at_ms; /* when it cancelled */
};

static void *cancel_later(void *arg) {
    struct canceller *c = arg;
    h_sleep_ms(c->after_ms);
    c->at_ms = h_now_ms();
    lcd_call_cancel(c->call);
    return NULL;
}

/* Whether `ctr -n libcontainerd <what> ls -q` on the daemon's socket lists `id`;
 * -1 if ctr failed. */
static int ctr_lists(const char *what, const char *id) {
    char cmd[PATH_MAX + 256];
    snprintf(cmd, sizeof cmd, "ctr -a '%s/containerd/containerd.sock' -n libcontainerd %s ls -q 2>/dev/null",
             env.state_dir, what);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, id) == 0) {
            found = 1;
        }
    }
    return pclose(p) == 0 ? found : -1;
}

/* Waits until neither the library nor ctr shows container `id` (60 s at most). */
static bool wait_gone(const char *id) {
    int64_t end = h_now_ms() + h_scaled_ms(60000);
    while (h_now_ms() < end) {
        char *json = NULL;
        bool listed = true;
        if (lcd_client_list(env.client, &json, NULL) == NULL) {
            listed = h_list_has(json, id);
            lcd_string_free(json);
        }
        if (!listed && ctr_lists("containers", id) == 0 && ctr_lists("tasks", id) == 0) {
            return true;
        }
        h_sleep_ms(200);
    }
    return false;
}

static void null_handles_are_safe(void) {
    lcd_call_cancel(NULL);
    lcd_call_set_timeout_ms(NULL, 5);
    lcd_call_free(NULL);
    lcd_call *c = lcd_call_new();
    h_ok(c != NULL, "lcd_call_new", NULL);
    lcd_call_cancel(c);
    lcd_call_cancel(c);
    lcd_call_set_timeout_ms(c, 0);
    lcd_call_free(c);
    h_ok(true, "lcd_call functions accept NULL; cancel is idempotent", NULL);
}

static void cancelled_call_fails_at_once(void) {
    lcd_call *c = lcd_call_new();
    lcd_call_cancel(c);
    char *json = NULL;
    int64_t t0 = h_now_ms();
    h_ok_code(lcd_client_list(env.client, &json, c), LCD_CANCELLED, "cancelled",
              "a cancelled call fails the next call");
    char *spec = h_spec(env.rootfs, "dl", (const char *const[]){"true", NULL});
    h_ok_code(lcd_client_create(env.client, "dl-never", spec, NULL, c), LCD_CANCELLED, "cancelled",
              "a cancelled call fails a create");
    free(spec);
    h_ok(h_now_ms() - t0 < return_bound_ms(), "a cancelled call fails at once", "%lld ms",
         (long long)(h_now_ms() - t0));
    if (h_ok_call(lcd_client_list(env.client, &json, NULL), "a NULL call works as before")) {
        h_ok(!h_list_has(json, "dl-never"), "a cancelled create made nothing", "%s", json);
        lcd_string_free(json);
    }
    /* A deadline passing after the cancel does not change the outcome. */
    lcd_call_set_timeout_ms(c, 1);
    h_sleep_ms(5);
    h_ok_code(lcd_client_list(env.client, &json, c), LCD_CANCELLED, "cancelled",
              "a cancel wins over a later deadline");
    lcd_call_free(c);
}

/* Stops process `pid` (SIGSTOP) and waits until every one of its threads is stopped:
 * kill returns before a thread running on another CPU has stopped, and on a loaded
 * machine such a thread may still answer a request meanwhile. */
static void freeze(pid_t pid) {
    kill(pid, SIGSTOP);
    int64_t end = h_now_ms() + h_scaled_ms(60000);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    for (;;) {
        bool stopped = true;
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            char path[sizeof dir + 300], buf[512];
            snprintf(path, sizeof path, "%s/%s/stat", dir, de->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ' && p[2] != 'T' && p[2] != 't') stopped = false;
        }
        if (d) closedir(d);
        if (stopped || h_now_ms() > end) return;
        h_sleep_ms(5);
    }
}

static void cancelled_create_during_outage(pid_t daemon) {
    lcd_call *c = lcd_call_new();
    struct canceller cancel = {c, 300, 0};
    pthread_t t;
    char *spec = h_spec(env.rootfs, "dl", (const char *const[]){"sleep", "300", NULL});
    freeze(daemon);
    pthread_create(&t, NULL, cancel_later, &cancel);
    h_err e = h_take(lcd_client_create(env.client, "dl-outage", spec, NULL, c));
    int64_t returned = h_now_ms();
    pthread_join(t, NULL);
    kill(daemon, SIGCONT);
    h_ok(e.code == LCD_CANCELLED, "a create during an outage is cancelled", "%s: %s",
         lcd_code_name((int32_t)e.code), e.message);
    h_ok(returned - cancel.at_ms < return_bound_ms(), "the cancelled create returns within 100 ms",
         "%lld ms after the cancel", (long long)(returned - cancel.at_ms));
    h_ok(wait_gone("dl-outage"), "no container is left behind (library list, ctr)", NULL);
    if (h_ok_call(lcd_client_create(env.client, "dl-outage", spec, NULL, NULL), "the id is usable again")) {
        h_wait_for(&rec, "dl-outage", LCD_STATE_START_CONTAINER, h_scaled_ms(30000), NULL);
        h_ok_call(lcd_client_stop(env.client, "dl-outage", 9, 1000, NULL), "stop it");
        h_ok(h_count(&rec, "dl-outage", LCD_STATE_START_CONTAINER, NULL) == 1,
             "only the second create reported start-container", NULL);
    }
    free(spec);
    lcd_call_free(c);
}

static void deadline_on_hung_daemon(pid_t daemon) {
    lcd_call *c = lcd_call_new();
    lcd_call_set_timeout_ms(c, 300);
    char *json = NULL;
    freeze(daemon);
    int64_t t0 = h_now_ms();
    h_err e = h_take(lcd_client_list(env.client, &json, c));
    int64_t took = h_now_ms() - t0;
    kill(daemon, SIGCONT);
    h_ok(e.code == LCD_DEADLINE_EXCEEDED, "a deadline on a hung daemon is exceeded", "%s: %s",
         lcd_code_name((int32_t)e.code), e.message);
    h_ok(took < 300 + return_bound_ms(), "the call returns at its deadline", "%lld ms",
         (long long)took);
    h_ok(json == NULL, "the out-parameter is untouched", NULL);
    h_ok_code(lcd_client_list(env.client, &json, c), LCD_DEADLINE_EXCEEDED, "deadline",
              "past its deadline a call fails at once");
    /* The daemon is back (or relaunched by the supervisor): the library works. */
    int64_t end = h_now_ms() + h_scaled_ms(30000);
    lcd_error *err = NULL;
    while ((err = lcd_client_list(env.client, &json, NULL)) != NULL && h_now_ms() < end) {
        lcd_error_free(err);
        h_sleep_ms(200);
    }
    if (h_ok_call(err, "list works after SIGCONT")) {
        lcd_string_free(json);
    }
    lcd_call_free(c);
}

int main(int argc, char **argv) {
    h_args(argc, argv, &env, true);
    h_recorder_init(&rec);
    h_setup(&env, &rec);
    pid_t daemon = h_daemon_pid(&env);
    if (daemon <= 0) {
        h_bail("no containerd pid under %s", env.state_dir);
    }
    null_handles_are_safe();
    cancelled_call_fails_at_once();
    deadline_on_hung_daemon(daemon);
    daemon = h_daemon_pid(&env);
    cancelled_create_during_outage(daemon);
    h_teardown(&env);
    h_recorder_join(&rec, h_scaled_ms(10000));
    return h_done();
}
