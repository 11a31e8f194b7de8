/*
 * Callbacks that call back into the library must not deadlock: from inside
 * state_changed, a chain of lcd_client_list, lcd_client_add_process (whose
 * attach_streams then runs on the event thread) and lcd_client_signal drives a
 * container to its end; and a client freed from inside its own callback releases its
 * user_data once, after that callback returned.
 *
 * usage: test_callback_reentry <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <signal.h>

static h_recorder rec;
static h_recorder rec2;

static pthread_mutex_t results_mu = PTHREAD_MUTEX_INITIALIZER;
static int list_ok, list_failed, exec_ok, signal_ok, in_callback_freed = -1;
static char last_error[1200];

static void note_error(lcd_error *e, const char *what) {
    h_err r = h_take(e);
    pthread_mutex_lock(&results_mu);
    snprintf(last_error, sizeof last_error, "%s: %s: %s", what, lcd_code_name((int32_t)r.code),
             r.message);
    pthread_mutex_unlock(&results_mu);
}

/* Runs on the library's event thread for every event of the first client. */
static void hook(h_recorder *r, const char *container, const lcd_state_info *info) {
    lcd_client *c = r->ctx;
    char *json = NULL;
    lcd_error *e = lcd_client_list(c, &json, NULL);
    pthread_mutex_lock(&results_mu);
    if (e == NULL) {
        list_ok++;
    } else {
        list_failed++;
    }
    pthread_mutex_unlock(&results_mu);
    if (e != NULL) {
        note_error(e, "list");
    }
    lcd_string_free(json);

    if (strcmp(container, "re-1") != 0) {
        return;
    }
    if (strcmp(info->state, LCD_STATE_START_CONTAINER) == 0) {
        e = lcd_client_add_process(c, "re-1", "x1", "{\"args\":[\"echo\",\"from the callback\"]}", NULL);
        if (e == NULL) {
            pthread_mutex_lock(&results_mu);
            exec_ok++;
            pthread_mutex_unlock(&results_mu);
        } else {
            note_error(e, "add_process");
        }
    } else if (strcmp(info->state, LCD_STATE_EXIT_PROCESS) == 0 &&
               strcmp(info->process_id, "x1") == 0) {
        e = lcd_client_signal(c, "re-1", SIGKILL, NULL);
        if (e == NULL) {
            pthread_mutex_lock(&results_mu);
            signal_ok++;
            pthread_mutex_unlock(&results_mu);
        } else {
            note_error(e, "signal");
        }
    }
}

/* The second client frees itself from inside its exit callback. */
static void hook2(h_recorder *r, const char *container, const lcd_state_info *info) {
    (void)container;
    if (strcmp(info->state, LCD_STATE_EXIT) != 0) {
        return;
    }
    lcd_client *c = r->ctx;
    lcd_client_free(c);
    /* user_data_free must wait until this callback has returned. */
    pthread_mutex_lock(&r->mu);
    int freed = r->freed;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&results_mu);
    in_callback_freed = freed;
    pthread_mutex_unlock(&results_mu);
}

/* The third client frees itself from inside attach_streams, while lcd_client_create
 * is still running on that very handle. */
static h_recorder rec3;
static lcd_error *attach_then_free(void *user_data, const char *container_id, const char *process_id,
                                   const lcd_io_pipe *io) {
    h_recorder *r = user_data;
    lcd_error *e = h_attach_streams(user_data, container_id, process_id, io);
    lcd_client_free((lcd_client *)r->ctx);
    return e;
}

static void *watchdog(void *arg) {
    (void)arg;
    h_sleep_ms(90000);
    printf("not ok callback_reentry - timed out: a callback that calls the library deadlocked\n");
    fflush(stdout);
    _exit(1);
    return NULL;
}

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    pthread_detach(dog);

    h_recorder_init(&rec);
    h_setup(&env, &rec);
    pthread_mutex_lock(&rec.mu);
    rec.ctx = env.client;
    rec.hook = hook;
    pthread_mutex_unlock(&rec.mu);

    char *spec = h_spec(env.rootfs, "re-1", (const char *const[]){"sleep", "30", NULL});
    if (h_ok_call(lcd_client_create(env.client, "re-1", spec, NULL, NULL), "create")) {
        h_event ex;
        long i = h_wait_for(&rec, "re-1", LCD_STATE_EXIT, 30000, &ex);
        pthread_mutex_lock(&results_mu);
        h_ok(i >= 0 && ex.exit_code == 137, "callbacks drove the container to its end",
             "exit index %ld; last error: %s", i, last_error);
        h_ok(exec_ok == 1, "add_process from inside a callback", "%s", last_error);
        h_ok(signal_ok == 1, "signal from inside a callback", "%s", last_error);
        h_ok(list_ok >= 3 && list_failed == 0, "list from inside every callback",
             "%d ok, %d failed: %s", list_ok, list_failed, last_error);
        pthread_mutex_unlock(&results_mu);
        h_capture *cap = h_capture_of(&rec, "re-1", "x1");
        if (h_ok(cap != NULL, "attach_streams ran for the exec started in a callback", "")) {
            h_wait_streams(&rec, cap, 10000);
            pthread_mutex_lock(&rec.mu);
            h_ok(strcmp(cap->out.data, "from the callback\n") == 0, "its output arrived", "got \"%s\"",
                 cap->out.data);
            pthread_mutex_unlock(&rec.mu);
        }
    }
    free(spec);

    /* A client freed from inside its own callback. */
    h_recorder_init(&rec2);
    lcd_backend b2 = h_backend(&rec2);
    lcd_client *c2 = NULL;
    if (h_ok_call(lcd_remote_client(env.remote, &b2, &c2, NULL), "second client")) {
        pthread_mutex_lock(&rec2.mu);
        rec2.ctx = c2;
        rec2.hook = hook2;
        pthread_mutex_unlock(&rec2.mu);
        spec = h_spec(env.rootfs, "re-2", (const char *const[]){"true", NULL});
        if (h_ok_call(lcd_client_create(c2, "re-2", spec, NULL, NULL), "create on the second client")) {
            struct timespec deadline = h_deadline(20000);
            pthread_mutex_lock(&rec2.mu);
            while (rec2.freed == 0 &&
                   pthread_cond_timedwait(&rec2.cond, &rec2.mu, &deadline) != ETIMEDOUT) {
            }
            int freed = rec2.freed;
            pthread_mutex_unlock(&rec2.mu);
            h_ok(freed == 1, "lcd_client_free inside a callback releases user_data once", "%d", freed);
            pthread_mutex_lock(&results_mu);
            h_ok(in_callback_freed == 0, "user_data_free waited for the callback to return",
                 "freed %d times before it returned", in_callback_freed);
            pthread_mutex_unlock(&results_mu);
        } else {
            lcd_client_free(c2);
        }
        free(spec);
    }

    /* A client freed from inside attach_streams, during its own create. */
    h_recorder_init(&rec3);
    lcd_backend b3 = h_backend(&rec3);
    b3.attach_streams = attach_then_free;
    lcd_client *c3 = NULL;
    if (h_ok_call(lcd_remote_client(env.remote, &b3, &c3, NULL), "third client")) {
        pthread_mutex_lock(&rec3.mu);
        rec3.ctx = c3;
        pthread_mutex_unlock(&rec3.mu);
        spec = h_spec(env.rootfs, "re-3", (const char *const[]){"true", NULL});
        /* The client is gone when attach_streams returns: the create fails and undoes
         * itself (nothing of re-3 stays behind). */
        h_ok_code(lcd_client_create(c3, "re-3", spec, NULL, NULL), LCD_FAILED_PRECONDITION, "attach_streams",
                  "create whose client is freed inside attach_streams fails");
        free(spec);
        char *json = NULL;
        if (h_ok_call(lcd_client_list(env.client, &json, NULL), "list after the failed create")) {
            h_ok(!h_list_has(json, "re-3"), "the failed create left nothing behind", "%s", json);
            lcd_string_free(json);
        }
        struct timespec deadline = h_deadline(20000);
        pthread_mutex_lock(&rec3.mu);
        while (rec3.freed == 0 && pthread_cond_timedwait(&rec3.cond, &rec3.mu, &deadline) != ETIMEDOUT) {
        }
        int freed = rec3.freed;
        pthread_mutex_unlock(&rec3.mu);
        h_ok(freed == 1, "user_data released once after a free inside attach_streams", "%d", freed);
    }

    h_recorder_join(&rec, 5000);
    h_recorder_join(&rec2, 5000);
    h_recorder_join(&rec3, 5000);
    h_teardown(&env);
    return h_done();
}
