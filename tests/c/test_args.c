/*
 * Argument checking through the header: NULL pointers, bad ids, malformed JSON and
 * unknown keys are LCD_INVALID_ARGUMENT naming what is wrong, out-parameters stay
 * untouched, and _free(NULL) is a no-op.
 *
 * usage: test_args [<state_dir> [<rootfs>]]
 * Without arguments only the checks that need no containerd run; with them a remote
 * and a client are made for the rest (needs root and containerd).
 */
#include "harness.h"

#include <signal.h>

static h_recorder rec;
static int marker;
#define SENTINEL ((void *)&marker)

static void without_containerd(void) {
    h_ok(lcd_error_code(NULL) == LCD_OK, "lcd_error_code(NULL) is LCD_OK", "");
    h_ok(lcd_error_message(NULL) != NULL && lcd_error_message(NULL)[0] == '\0',
         "lcd_error_message(NULL) is empty", "");
    lcd_error_free(NULL);
    lcd_string_free(NULL);
    lcd_remote_free(NULL);
    lcd_client_free(NULL);
    h_ok(true, "free(NULL) is a no-op", "");

    h_ok(lcd_abi_version() == LCD_ABI_VERSION, "ABI version matches the header", "%u",
         lcd_abi_version());
    h_ok(lcd_version() != NULL && strlen(lcd_version()) > 0, "lcd_version", "");
    h_ok(strcmp(lcd_code_name(LCD_NOT_FOUND), "NOT_FOUND") == 0 &&
             strcmp(lcd_code_name(99), "UNKNOWN") == 0,
         "lcd_code_name", "");

    lcd_error *e = lcd_error_new(LCD_FAILED_PRECONDITION, "made by a callback");
    h_ok(lcd_error_code(e) == LCD_FAILED_PRECONDITION &&
             strcmp(lcd_error_message(e), "made by a callback") == 0,
         "lcd_error_new round trip", "");
    lcd_error_free(e);
    h_ok_code(lcd_error_new(LCD_OK, "x"), LCD_INTERNAL, NULL, "lcd_error_new(LCD_OK) is INTERNAL");

    /* lcd_remote_new: bad options fail before anything starts. */
    lcd_remote *r = SENTINEL;
    h_ok_code(lcd_remote_new("{\"start_deamon\":true}", &r, NULL), LCD_INVALID_ARGUMENT, "start_deamon",
              "unknown remote option is named");
    h_ok_code(lcd_remote_new("{", &r, NULL), LCD_INVALID_ARGUMENT, NULL, "malformed remote options");
    h_ok_code(lcd_remote_new("{\"oom_score\":5000}", &r, NULL), LCD_INVALID_ARGUMENT, "oom_score",
              "oom_score out of range");
    h_ok_code(lcd_remote_new("{\"state_dir\":\"relative\"}", &r, NULL), LCD_INVALID_ARGUMENT, "state_dir",
              "relative state_dir");
    h_ok_code(lcd_remote_new("{\"state_dir\":\"/w\\u00e9\",\"x\":1}", &r, NULL), LCD_INVALID_ARGUMENT, "`x`",
              "unknown key after valid ones");
    h_ok_code(lcd_remote_new("\xff", &r, NULL), LCD_INVALID_ARGUMENT, "UTF-8", "invalid UTF-8");
    h_ok_code(lcd_remote_new("{}", NULL, NULL), LCD_INVALID_ARGUMENT, "out", "NULL out");
    h_ok(r == SENTINEL, "out untouched on failure", "");

    /* NULL handles. */
    char *s = SENTINEL;
    lcd_client *c = SENTINEL;
    lcd_backend b = h_backend(&rec);
    h_ok_code(lcd_remote_update_options(NULL, "{}"), LCD_INVALID_ARGUMENT, "r", "update_options(NULL)");
    h_ok_code(lcd_remote_client(NULL, &b, &c, NULL), LCD_INVALID_ARGUMENT, "r", "remote_client(NULL)");
    h_ok_code(lcd_remote_cleanup(NULL, NULL), LCD_INVALID_ARGUMENT, "r", "remote_cleanup(NULL)");
    h_ok_code(lcd_client_create(NULL, "a", "{}", NULL, NULL), LCD_INVALID_ARGUMENT, "c", "create(NULL)");
    h_ok_code(lcd_client_signal(NULL, "a", SIGTERM, NULL), LCD_INVALID_ARGUMENT, "c", "signal(NULL)");
    h_ok_code(lcd_client_signal_process(NULL, "a", "init", SIGTERM, NULL), LCD_INVALID_ARGUMENT, "c",
              "signal_process(NULL)");
    h_ok_code(lcd_client_add_process(NULL, "a", "p", "{\"args\":[\"true\"]}", NULL), LCD_INVALID_ARGUMENT,
              "c", "add_process(NULL)");
    h_ok_code(lcd_client_resize(NULL, "a", "init", 80, 24, NULL), LCD_INVALID_ARGUMENT, "c", "resize(NULL)");
    h_ok_code(lcd_client_pause(NULL, "a", NULL), LCD_INVALID_ARGUMENT, "c", "pause(NULL)");
    h_ok_code(lcd_client_resume(NULL, "a", NULL), LCD_INVALID_ARGUMENT, "c", "resume(NULL)");
    h_ok_code(lcd_client_restore(NULL, "a", NULL, NULL), LCD_INVALID_ARGUMENT, "c", "restore(NULL)");
    h_ok_code(lcd_client_stats(NULL, "a", &s, NULL), LCD_INVALID_ARGUMENT, "c", "stats(NULL)");
    h_ok_code(lcd_client_get_pids(NULL, "a", &s, NULL), LCD_INVALID_ARGUMENT, "c", "get_pids(NULL)");
    h_ok_code(lcd_client_summary(NULL, "a", &s, NULL), LCD_INVALID_ARGUMENT, "c", "summary(NULL)");
    h_ok_code(lcd_client_update_resources(NULL, "a", "{}", NULL), LCD_INVALID_ARGUMENT, "c",
              "update_resources(NULL)");
    h_ok_code(lcd_client_list(NULL, &s, NULL), LCD_INVALID_ARGUMENT, "c", "list(NULL)");
    h_ok(s == SENTINEL && c == SENTINEL, "out-parameters untouched", "");
}

static void with_containerd(h_env *env) {
    h_remote(env);
    lcd_remote *r = env->remote;

    /* The callback table. */
    lcd_client *c = SENTINEL;
    h_ok_code(lcd_remote_client(r, NULL, &c, NULL), LCD_INVALID_ARGUMENT, "backend", "NULL backend");
    lcd_backend b = h_backend(&rec);
    h_ok_code(lcd_remote_client(r, &b, NULL, NULL), LCD_INVALID_ARGUMENT, "out", "NULL client out");
    b.struct_size = 0;
    h_ok_code(lcd_remote_client(r, &b, &c, NULL), LCD_INVALID_ARGUMENT, "struct_size", "struct_size 0");
    h_ok(c == SENTINEL, "client out untouched", "");
    pthread_mutex_lock(&rec.mu);
    h_ok(rec.freed == 0, "no user_data_free for a failed lcd_remote_client", "%d", rec.freed);
    pthread_mutex_unlock(&rec.mu);

    /* A table that stops before user_data_free: the missing field counts as NULL. */
    static h_recorder short_rec;
    h_recorder_init(&short_rec);
    lcd_backend shorter = h_backend(&short_rec);
    shorter.struct_size = (uint32_t)offsetof(lcd_backend, user_data_free);
    lcd_client *c2 = NULL;
    if (h_ok_call(lcd_remote_client(r, &shorter, &c2, NULL), "client with a shorter table")) {
        lcd_client_free(c2);
        pthread_mutex_lock(&short_rec.mu);
        int freed = short_rec.freed;
        pthread_mutex_unlock(&short_rec.mu);
        h_ok(freed == 0, "fields beyond struct_size are NULL", "user_data_free ran %d times", freed);
    }

    b = h_backend(&rec);
    if (!h_ok_call(lcd_remote_client(r, &b, &env->client, NULL), "lcd_remote_client")) {
        return;
    }
    c = env->client;

    /* Remote options. */
    h_ok_call(lcd_remote_update_options(r, NULL), "update_options(NULL) changes nothing");
    h_ok_code(lcd_remote_update_options(r, "{\"live_restor\":true}"), LCD_INVALID_ARGUMENT,
              "live_restor", "unknown key in update_options");

    /* Ids. */
    char *spec = h_spec(env->rootfs, "args", (const char *const[]){"true", NULL});
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    const char *bad_ids[] = {"../x", "a/b", "", long_id, ".x", "a b", "\xff"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "bad id #%zu refused by create", i);
        h_ok_code(lcd_client_create(c, bad_ids[i], spec, NULL, NULL), LCD_INVALID_ARGUMENT, NULL, name);
        snprintf(name, sizeof name, "bad id #%zu refused by signal", i);
        h_ok_code(lcd_client_signal(c, bad_ids[i], SIGTERM, NULL), LCD_INVALID_ARGUMENT, NULL, name);
        snprintf(name, sizeof name, "bad process id #%zu refused by add_process", i);
        h_ok_code(lcd_client_add_process(c, "a", bad_ids[i], "{\"args\":[\"true\"]}", NULL),
                  LCD_INVALID_ARGUMENT, NULL, name);
    }
    h_ok_code(lcd_client_add_process(c, "a", "init", "{\"args\":[\"true\"]}", NULL), LCD_INVALID_ARGUMENT,
              "init", "exec id init is reserved");

    /* NULL strings and out-parameters. */
    char *s = SENTINEL;
    h_ok_code(lcd_client_create(c, NULL, spec, NULL, NULL), LCD_INVALID_ARGUMENT, "id", "NULL id");
    h_ok_code(lcd_client_create(c, "a", NULL, NULL, NULL), LCD_INVALID_ARGUMENT, "spec_json", "NULL spec");
    h_ok_code(lcd_client_add_process(c, "a", "p", NULL, NULL), LCD_INVALID_ARGUMENT, "process_json",
              "NULL process");
    h_ok_code(lcd_client_stats(c, "a", NULL, NULL), LCD_INVALID_ARGUMENT, "stats_json", "NULL stats out");
    h_ok_code(lcd_client_list(c, NULL, NULL), LCD_INVALID_ARGUMENT, "containers_json", "NULL list out");
    h_ok_code(lcd_client_stats(c, "args-none", &s, NULL), LCD_NOT_FOUND, NULL,
              "stats of an unknown container is NOT_FOUND");
    h_ok(s == SENTINEL, "stats out untouched on failure", "");

    /* JSON. */
    h_ok_code(lcd_client_create(c, "a", "{", NULL, NULL), LCD_INVALID_ARGUMENT, "OCI spec", "malformed spec");
    h_ok_code(lcd_client_create(c, "a", spec, "{\"restart_polcy\":{}}", NULL), LCD_INVALID_ARGUMENT,
              "restart_polcy", "unknown create option is named");
    h_ok_code(lcd_client_add_process(c, "a", "p", "{\"args\":[\"sh\"],\"tty\":true}", NULL),
              LCD_INVALID_ARGUMENT, "tty", "unknown process key is named");
    h_ok_code(lcd_client_update_resources(c, "a", "{\"memory\":{\"limit\":-5}}", NULL),
              LCD_INVALID_ARGUMENT, "memory.limit", "negative memory limit");
    char *missing_root = h_spec("/nonexistent/lcd-rootfs", "args", (const char *const[]){"true", NULL});
    h_ok_code(lcd_client_create(c, "args-noroot", missing_root, NULL, NULL), LCD_INVALID_ARGUMENT,
              "root.path", "missing root.path directory");
    free(missing_root);

    /* Nothing was created by any of this. */
    char *json = NULL;
    if (h_ok_call(lcd_client_list(c, &json, NULL), "list")) {
        h_ok(strcmp(json, "[]") == 0, "invalid calls created nothing", "%s", json);
        lcd_string_free(json);
    }
    free(spec);
}

int main(int argc, char **argv) {
    h_env env;
    h_recorder_init(&rec);
    bool daemon = h_args(argc, argv, &env, false);
    without_containerd();
    if (daemon) {
        with_containerd(&env);
        h_teardown(&env);
    } else {
        printf("# no <state_dir> given: skipped the checks that need containerd\n");
    }
    return h_done();
}
