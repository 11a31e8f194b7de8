/*
 * Stdio through the C ABI: stdout and stderr arrive separately and exactly; stdin
 * written by the host reaches the process and closing it delivers EOF; an exec's
 * output and exit code are reported.
 *
 * usage: test_io <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <signal.h>

static h_recorder rec;

/* Compares a captured stream with what was expected. */
static void expect_stream(h_stream *s, const char *want, const char *name) {
    pthread_mutex_lock(&rec.mu);
    bool same = s->data != NULL && strcmp(s->data, want) == 0;
    h_ok(same, name, "got \"%s\" (%zu bytes)", s->data ? s->data : "(none)", s->len);
    pthread_mutex_unlock(&rec.mu);
}

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    h_recorder_init(&rec);
    h_setup(&env, &rec);

    /* stdout and stderr, separately. */
    const char *echo = "io-echo";
    char *spec = h_spec(env.rootfs, echo,
                        (const char *const[]){"sh", "-c", "echo hello; echo oops >&2", NULL});
    if (h_ok_call(lcd_client_create(env.client, echo, spec, NULL, NULL), "create echo")) {
        h_event ex;
        long i = h_wait_for(&rec, echo, LCD_STATE_EXIT, 10000, &ex);
        h_ok(i >= 0 && ex.exit_code == 0, "echo exits 0", "index %ld", i);
        h_capture *cap = h_capture_of(&rec, echo, "init");
        if (h_ok(cap != NULL, "attach_streams called for init", "no capture")) {
            h_ok(!cap->terminal, "no terminal", "terminal set");
            h_ok(h_wait_streams(&rec, cap, 10000), "echo output ends", "no EOF on stdout/stderr");
            expect_stream(&cap->out, "hello\n", "stdout is exactly hello");
            expect_stream(&cap->err, "oops\n", "stderr is separate");
        }
    }
    free(spec);

    /* stdin: what we write reaches cat, closing it ends cat. */
    const char *cat = "io-cat";
    spec = h_spec(env.rootfs, cat, (const char *const[]){"cat", NULL});
    pthread_mutex_lock(&rec.mu);
    rec.keep_stdin = true;
    pthread_mutex_unlock(&rec.mu);
    lcd_error *e = lcd_client_create(env.client, cat, spec, NULL, NULL);
    pthread_mutex_lock(&rec.mu);
    rec.keep_stdin = false;
    pthread_mutex_unlock(&rec.mu);
    if (h_ok_call(e, "create cat")) {
        h_capture *cap = h_capture_of(&rec, cat, "init");
        if (h_ok(cap != NULL && cap->stdin_fd >= 0, "cat has a stdin", "no capture")) {
            h_ok(h_write_stdin(cap, "abc"), "write to stdin", "%s", strerror(errno));
            h_sleep_ms(200);
            h_ok(h_count(&rec, cat, LCD_STATE_EXIT, NULL) == 0, "cat waits for more input",
                 "cat exited before stdin was closed");
            h_close_stdin(cap);
            h_event ex;
            long i = h_wait_for(&rec, cat, LCD_STATE_EXIT, 10000, &ex);
            h_ok(i >= 0 && ex.exit_code == 0, "closing stdin ends cat with 0", "index %ld code %u",
                 i, i >= 0 ? ex.exit_code : 0);
            h_ok(h_wait_streams(&rec, cap, 10000), "cat output ends", "no EOF");
            expect_stream(&cap->out, "abc", "cat echoes stdin");
            expect_stream(&cap->err, "", "cat writes nothing to stderr");
        }
    }
    free(spec);

    /* An exec: its own streams and exit code. */
    const char *host = "io-exec";
    spec = h_spec(env.rootfs, host, (const char *const[]){"sleep", "30", NULL});
    if (h_ok_call(lcd_client_create(env.client, host, spec, NULL, NULL), "create exec host")) {
        h_wait_for(&rec, host, LCD_STATE_START_CONTAINER, 10000, NULL);
        const char *proc = "{\"args\":[\"sh\",\"-c\",\"echo from exec; echo err >&2; exit 3\"]}";
        if (h_ok_call(lcd_client_add_process(env.client, host, "x1", proc, NULL), "add_process")) {
            h_event st, ex;
            long i_st = h_wait_nth(&rec, host, LCD_STATE_START_PROCESS, "x1", 1, 10000, &st);
            long i_ex = h_wait_nth(&rec, host, LCD_STATE_EXIT_PROCESS, "x1", 1, 10000, &ex);
            h_ok(i_st >= 0 && st.pid > 0, "start-process with a pid", "index %ld", i_st);
            h_ok(i_ex > i_st && ex.exit_code == 3, "exit-process with code 3", "index %ld code %u",
                 i_ex, i_ex >= 0 ? ex.exit_code : 0);
            h_capture *cap = h_capture_of(&rec, host, "x1");
            if (h_ok(cap != NULL, "attach_streams called for the exec", "no capture")) {
                h_ok(h_wait_streams(&rec, cap, 10000), "exec output ends", "no EOF");
                expect_stream(&cap->out, "from exec\n", "exec stdout");
                expect_stream(&cap->err, "err\n", "exec stderr");
            }
        }
        h_ok_call(lcd_client_signal(env.client, host, SIGKILL, NULL), "stop exec host");
        h_wait_for(&rec, host, LCD_STATE_EXIT, 10000, NULL);
    }
    free(spec);

    h_recorder_join(&rec, 5000);
    h_teardown(&env);
    return h_done();
}
