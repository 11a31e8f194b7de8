/*
 * The library's log records reach a C host through lcd_log_set_callback:
 *
 * - at LCD_LOG_WARN, killing containerd brings the supervisor's record that it died
 *   and is being relaunched (level error or warn, target in the library);
 * - at LCD_LOG_DEBUG, a container's lifecycle brings debug records naming it;
 * - a NULL callback turns forwarding off: a lifecycle and another relaunch then bring
 *   nothing;
 * - a callback that blocks (1 s at a time, until the test's exit event arrived, at
 *   most 10 s) does not hold up event delivery: the exit arrives while it blocks;
 * - an unknown level is LCD_INVALID_ARGUMENT.
 *
 * usage: test_log <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <signal.h>
#include <sys/types.h>

#define MAX_RECORDS 4096

typedef struct record {
    int32_t level;
    char target[128];
    char message[512];
} record;

/* What the logging callback received. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    record records[MAX_RECORDS];
    size_t n;
    size_t total;
    bool bad_args; /* a NULL string or a level outside 1..5 */
} logs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0, "", ""}}, 0, 0, false};

static void on_log(void *user_data, int32_t level, const char *target, const char *message) {
    pthread_mutex_lock(&logs.mu);
    if (user_data != &logs || target == NULL || message == NULL || level < LCD_LOG_ERROR ||
        level > LCD_LOG_TRACE) {
        logs.bad_args = true;
    } else if (logs.n < MAX_RECORDS) {
        record *r = &logs.records[logs.n++];
        r->level = level;
        snprintf(r->target, sizeof r->target, "%s", target);
        snprintf(r->message, sizeof r->message, "%s", message);
    }
    logs.total++;
    pthread_cond_broadcast(&logs.cond);
    pthread_mutex_unlock(&logs.mu);
}

/* Index of the first record from `from` on whose message contains `needle` and whose
 * level is at most `max_level`, waiting up to `timeout_ms`; -1 if none came. */
static long wait_record(size_t from, const char *needle, int32_t max_level, int64_t timeout_ms) {
    struct timespec deadline = h_deadline(timeout_ms);
    pthread_mutex_lock(&logs.mu);
    long found = -1;
    for (;;) {
        for (size_t i = from; i < logs.n && found < 0; i++) {
            if (logs.records[i].level <= max_level && strstr(logs.records[i].message, needle) != NULL) {
                found = (long)i;
            }
        }
        if (found >= 0) {
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
            break;
        }
        pthread_mutex_unlock(&logs.mu);
        h_sleep_ms(20);
        pthread_mutex_lock(&logs.mu);
    }
    pthread_mutex_unlock(&logs.mu);
    return found;
}

static size_t record_total(void) {
    pthread_mutex_lock(&logs.mu);
    size_t n = logs.total;
    pthread_mutex_unlock(&logs.mu);
    return n;
}

static size_t record_count(void) {
    pthread_mutex_lock(&logs.mu);
    size_t n = logs.n;
    pthread_mutex_unlock(&logs.mu);
    return n;
}

/* Kills containerd and waits until the supervisor has a new one running. */
static bool kill_daemon(h_env *env, const char *name) {
    pid_t pid = h_daemon_pid(env);
    if (!h_ok(pid > 1, "containerd's pid", "no pid file in %s", env->state_dir)) {
        return false;
    }
    kill(pid, SIGKILL);
    int64_t until = h_now_ms() + h_scaled_ms(30000);
    while (h_now_ms() < until) {
        pid_t now = h_daemon_pid(env);
        if (now > 1 && now != pid && kill(now, 0) == 0) {
            char *json = NULL;
            lcd_error *e = lcd_client_list(env->client, &json, NULL);
            lcd_string_free(json);
            if (e == NULL) {
                return h_ok(true, name, "");
            }
            lcd_error_free(e);
        }
        h_sleep_ms(100);
    }
    return h_ok(false, name, "containerd was not relaunched within 30 s");
}

/* Runs `sh -c true` as container `id` and waits for its exit. */
static bool run_container(h_env *env, h_recorder *rec, const char *id) {
    char *spec = h_spec(env->rootfs, id, (const char *const[]){"sh", "-c", "true", NULL});
    char name[128];
    snprintf(name, sizeof name, "create %s", id);
    bool ok = h_ok_call(lcd_client_create(env->client, id, spec, NULL, NULL), name);
    free(spec);
    if (ok) {
        snprintf(name, sizeof name, "%s exits", id);
        ok = h_ok(h_wait_for(rec, id, LCD_STATE_EXIT, 20000, NULL) >= 0, name, "no exit event");
    }
    return ok;
}

/* The blocking callback: blocks 1 s at a time until `released` (the test saw its
 * exit event) or 30 s passed, and notes whether it was blocking when released. */
static struct {
    pthread_mutex_t mu;
    bool released;
    bool inside;            /* a call is blocking now */
    bool blocking_at_exit;  /* a call was blocking when the exit event arrived */
    int calls;
} slow = {PTHREAD_MUTEX_INITIALIZER, false, false, false, 0};

static void on_log_slow(void *user_data, int32_t level, const char *target, const char *message) {
    (void)user_data, (void)level, (void)target, (void)message;
    pthread_mutex_lock(&slow.mu);
    slow.calls++;
    slow.inside = true;
    pthread_mutex_unlock(&slow.mu);
    for (int i = 0; i < 30; i++) {
        pthread_mutex_lock(&slow.mu);
        bool done = slow.released;
        pthread_mutex_unlock(&slow.mu);
        if (done) {
            break;
        }
        h_sleep_ms(1000);
    }
    pthread_mutex_lock(&slow.mu);
    slow.inside = false;
    pthread_mutex_unlock(&slow.mu);
}

/* Releases the slow callback at the first exit event of "log-slow". */
static void exit_hook(h_recorder *rec, const char *container, const lcd_state_info *info) {
    (void)rec;
    if (strcmp(container, "log-slow") == 0 && strcmp(info->state, LCD_STATE_EXIT) == 0) {
        pthread_mutex_lock(&slow.mu);
        if (!slow.released) {
            slow.blocking_at_exit = slow.inside;
            slow.released = true;
        }
        pthread_mutex_unlock(&slow.mu);
    }
}

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    static h_recorder rec;
    h_recorder_init(&rec);
    rec.hook = exit_hook;

    h_ok_code(lcd_log_set_callback(6, on_log, &logs), LCD_INVALID_ARGUMENT, "max_level", "level 6 is refused");
    h_ok_code(lcd_log_set_callback(-1, on_log, &logs), LCD_INVALID_ARGUMENT, "max_level", "level -1 is refused");

    /* 1. Warnings: containerd dies and is relaunched. */
    h_ok_call(lcd_log_set_callback(LCD_LOG_WARN, on_log, &logs), "set the callback at warn");
    h_setup(&env, &rec);
    size_t mark = record_count();
    if (kill_daemon(&env, "kill containerd")) {
        long i = wait_record(mark, "relaunch", LCD_LOG_WARN, 10000);
        if (h_ok(i >= 0, "the relaunch is logged at warn or error", "no such record among %zu", record_count())) {
            record *r = &logs.records[i];
            h_ok(strncmp(r->target, "containerd", 10) == 0, "its target names the library's module",
                 "target %s", r->target);
        }
    }
    pthread_mutex_lock(&logs.mu);
    bool only_warn = true;
    for (size_t i = 0; i < logs.n; i++) {
        only_warn = only_warn && logs.records[i].level <= LCD_LOG_WARN;
    }
    pthread_mutex_unlock(&logs.mu);
    h_ok(only_warn, "nothing above warn was forwarded", "");

    /* 2. Debug: a lifecycle is logged. */
    h_ok_call(lcd_log_set_callback(LCD_LOG_DEBUG, on_log, &logs), "set the callback at debug");
    mark = record_count();
    if (run_container(&env, &rec, "log-debug")) {
        h_ok(wait_record(mark, "log-debug", LCD_LOG_DEBUG, 10000) >= 0, "debug records name the container",
             "none among %zu records", record_count() - mark);
    }

    /* 3. Off: nothing more arrives. */
    h_ok_call(lcd_log_set_callback(LCD_LOG_OFF, on_log, &logs), "turn forwarding off (level 0)");
    h_ok_call(lcd_log_set_callback(LCD_LOG_DEBUG, NULL, NULL), "turn forwarding off (NULL callback)");
    size_t before = record_total();
    run_container(&env, &rec, "log-off");
    /* Let containerd remove the container before it dies: a removal cut off by the
     * daemon's death is not retried after the relaunch yet, and would leave its shim. */
    h_sleep_ms(1000);
    kill_daemon(&env, "kill containerd again");
    h_sleep_ms(1000);
    h_ok(record_total() == before, "no record after forwarding was turned off", "%zu more",
         record_total() - before);

    /* 4. A blocking callback holds up no event. */
    h_ok_call(lcd_log_set_callback(LCD_LOG_DEBUG, on_log_slow, NULL), "set a blocking callback");
    /* A first lifecycle's records get the callback blocking before the measured one
     * starts (records are delivered on their own thread, maybe after its exit). */
    run_container(&env, &rec, "log-slow-first");
    bool entered = false;
    for (int64_t w0 = h_now_ms(); !entered && h_now_ms() - w0 < h_scaled_ms(10000); h_sleep_ms(10)) {
        pthread_mutex_lock(&slow.mu);
        entered = slow.inside;
        pthread_mutex_unlock(&slow.mu);
    }
    h_ok(entered, "the blocking callback is blocking before the measured lifecycle", "");
    int64_t t0 = h_now_ms();
    if (run_container(&env, &rec, "log-slow")) {
        /* The recorder runs its hook after waking the waiter: wait for the hook. */
        bool released = false;
        for (int64_t w0 = h_now_ms(); !released && h_now_ms() - w0 < h_scaled_ms(10000); h_sleep_ms(5)) {
            pthread_mutex_lock(&slow.mu);
            released = slow.released;
            pthread_mutex_unlock(&slow.mu);
        }
        pthread_mutex_lock(&slow.mu);
        bool blocking = slow.blocking_at_exit;
        int calls = slow.calls;
        pthread_mutex_unlock(&slow.mu);
        h_ok(calls > 0, "the blocking callback was called", "");
        h_ok(blocking, "the exit event arrived while the log callback was blocking",
             "exit after %lld ms, callback called %d times", (long long)(h_now_ms() - t0), calls);
    }
    /* Returns once the blocking call is over: it was released by the exit. */
    h_ok_call(lcd_log_set_callback(LCD_LOG_OFF, NULL, NULL), "turn the blocking callback off");
    pthread_mutex_lock(&slow.mu);
    bool inside = slow.inside;
    pthread_mutex_unlock(&slow.mu);
    h_ok(!inside, "turning it off waited for the call in progress", "");

    h_ok(!logs.bad_args, "every record had a level 1..5, a target and a message", "");
    h_teardown(&env);
    h_recorder_join(&rec, 5000);
    return h_done();
}
