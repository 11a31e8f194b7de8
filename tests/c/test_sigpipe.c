/*
 * A C host program keeps SIGPIPE's default action (terminate), unlike Rust, Python and
 * Go programs. The library writes to pipes and sockets whose other end can go away at
 * any time: a process's stdin fifo once the process is gone, containerd's socket when
 * the daemon dies. Such a write must fail with EPIPE inside the library, never kill
 * the host program.
 *
 * - Input written to the stdin of a container that already exited (so the library's
 *   stdin relay writes into a fifo nobody reads any more).
 * - containerd killed with SIGKILL while calls are being made (the library's gRPC
 *   connection writes into a socket whose peer died); the supervisor relaunches it.
 *
 * This program leaves SIGPIPE at its default action in every thread the library could
 * use; only its own writer thread blocks SIGPIPE (a write to its own broken pipe is its
 * own business). Being killed by SIGPIPE shows as exit status 141 and fails the run.
 *
 * usage: test_sigpipe <state_dir> [<rootfs>]   (needs root and containerd)
 */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>

static h_recorder rec;

struct writer {
    int fd;
    int rounds;
    int written; /* rounds whose write succeeded */
    int epipe;   /* rounds that failed with EPIPE (the relay closed its end) */
};

/* Writes a 64 KiB chunk `rounds` times, 10 ms apart, with SIGPIPE blocked in this
 * thread only. */
static void *write_stdin(void *arg) {
    struct writer *w = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < w->rounds; i++) {
        ssize_t n = write(w->fd, chunk, sizeof chunk);
        if (n > 0) {
            w->written++;
        } else if (n < 0 && errno == EPIPE) {
            w->epipe++;
            break;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        }
        h_sleep_ms(10);
    }
    return NULL;
}

#define HAMMERS 6
#define KILL_ROUNDS 8

struct hammer {
    lcd_client *client;
    int index;
    int round;
    int64_t until_ms;
    int ok;          /* calls that succeeded */
    int unexpected;  /* calls that failed with a code an outage does not explain */
    char what[256];  /* the first of those */
};

/* Counts one call's result: success, a failure an outage explains (containerd
 * unreachable or a process it lost), the harness's own refusal of more processes
 * than it captures, or anything else. */
static void tally(struct hammer *h, const char *call, lcd_error *e) {
    lcd_code code = lcd_error_code(e);
    if (code == LCD_OK) {
        h->ok++;
    } else if (code != LCD_UNAVAILABLE && code != LCD_DEADLINE_EXCEEDED && code != LCD_NOT_FOUND &&
               code != LCD_FAILED_PRECONDITION &&
               !(code == LCD_INTERNAL && strstr(lcd_error_message(e), "test harness: too many processes"))) {
        if (h->unexpected++ == 0) {
            snprintf(h->what, sizeof h->what, "%s: %s: %s", call, lcd_code_name((int32_t)code), lcd_error_message(e));
        }
    }
    lcd_error_free(e);
}

/* A process JSON of about 1 MB ("true" with eight 128 KB arguments): a request that
 * large is still being written when the daemon dies. */
static char *big_process(void) {
    enum { ARGS = 8, ARG_LEN = 128 * 1024 - 64 };
    size_t n = ARGS * (ARG_LEN + 4) + 64;
    char *s = malloc(n);
    if (s == NULL) {
        h_bail("out of memory");
    }
    size_t len = 0;
    h_append(s, n, &len, "{\"args\":[\"true\"");
    for (int i = 0; i < ARGS; i++) {
        h_append(s, n, &len, ",\"");
        memset(s + len, 'a' + i, ARG_LEN);
        len += ARG_LEN;
        s[len] = '\0';
        h_append(s, n, &len, "\"");
    }
    h_append(s, n, &len, "]}");
    return s;
}

/* Calls list, stats and add_process (with a large request) back to back until
 * `until_ms`. */
static void *hammer(void *arg) {
    struct hammer *h = arg;
    char *process = big_process();
    for (int n = 0; h_now_ms() < h->until_ms; n++) {
        char *json = NULL;
        tally(h, "list", lcd_client_list(h->client, &json, NULL));
        lcd_string_free(json);
        json = NULL;
        tally(h, "stats", lcd_client_stats(h->client, "sp-run", &json, NULL));
        lcd_string_free(json);
        char exec_id[64];
        snprintf(exec_id, sizeof exec_id, "big-%d-%d-%d", h->round, h->index, n);
        tally(h, "add_process", lcd_client_add_process(h->client, "sp-run", exec_id, process, NULL));
    }
    free(process);
    return NULL;
}

int main(int argc, char **argv) {
    h_env env;
    h_args(argc, argv, &env, true);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);

    h_recorder_init(&rec);
    h_setup(&env, &rec);

    /* 1. stdin of a container that is gone. */
    const char *id = "sp-stdin";
    char *spec = h_spec(env.rootfs, id, (const char *const[]){"sh", "-c", "exit 3", NULL});
    pthread_mutex_lock(&rec.mu);
    rec.keep_stdin = true;
    pthread_mutex_unlock(&rec.mu);
    lcd_error *e = lcd_client_create(env.client, id, spec, NULL, NULL);
    pthread_mutex_lock(&rec.mu);
    rec.keep_stdin = false;
    pthread_mutex_unlock(&rec.mu);
    if (h_ok_call(e, "create a container that ignores its stdin")) {
        h_event ex;
        long i = h_wait_for(&rec, id, LCD_STATE_EXIT, 10000, &ex);
        h_ok(i >= 0 && ex.exit_code == 3, "it exits with 3", "index %ld", i);
        h_capture *cap = h_capture_of(&rec, id, "init");
        if (h_ok(cap != NULL && cap->stdin_fd >= 0, "its stdin was kept", "no stdin")) {
            struct writer w = {cap->stdin_fd, 50, 0, 0};
            pthread_t t;
            pthread_create(&t, NULL, write_stdin, &w);
            pthread_join(t, NULL);
            h_ok(w.written + w.epipe > 0, "input written after the exit", "no write went through");
            h_close_stdin(cap);
            h_sleep_ms(500);
            h_ok(true, "writing to the stdin of an exited container did not kill the program", "");
        }
    }
    free(spec);

    /* 2. containerd killed while the connection is in use. */
    spec = h_spec(env.rootfs, "sp-run", (const char *const[]){"sleep", "3600", NULL});
    bool running = h_ok_call(lcd_client_create(env.client, "sp-run", spec, NULL, NULL), "create sp-run");
    free(spec);
    for (int round = 0; round < KILL_ROUNDS && running; round++) {
        pid_t pid = h_daemon_pid(&env);
        if (!h_ok(pid > 1, "containerd's pid", "no pid file in %s", env.state_dir)) {
            break;
        }
        /* Calls in flight from several threads while the daemon dies: they fail (or
         * succeed once the daemon is back); either way the program lives on. */
        struct hammer hs[HAMMERS];
        pthread_t ts[HAMMERS];
        for (int k = 0; k < HAMMERS; k++) {
            hs[k].client = env.client;
            hs[k].index = k;
            hs[k].round = round;
            hs[k].until_ms = h_now_ms() + 1500;
            hs[k].ok = 0;
            hs[k].unexpected = 0;
            hs[k].what[0] = '\0';
            pthread_create(&ts[k], NULL, hammer, &hs[k]);
        }
        h_sleep_ms(300);
        kill(pid, SIGKILL);
        int ok = 0, unexpected = 0;
        const char *what = "";
        for (int k = 0; k < HAMMERS; k++) {
            pthread_join(ts[k], NULL);
            ok += hs[k].ok;
            if (hs[k].unexpected > 0 && unexpected == 0) {
                what = hs[k].what;
            }
            unexpected += hs[k].unexpected;
        }
        /* Reaching here alive is the point; the calls' results say the library saw
         * the outage for what it was. */
        char name[128];
        snprintf(name, sizeof name,
                 "containerd killed during calls (round %d): the program lives on, calls succeed or fail as an outage",
                 round + 1);
        h_ok(ok > 0 && unexpected == 0, name, "%d calls succeeded, %d failed unexpectedly (first: %s)", ok,
             unexpected, what);
    }
    if (running) {
        /* The daemon is back and the container still answers. */
        int64_t until = h_now_ms() + h_scaled_ms(30000);
        lcd_error *last = NULL;
        for (;;) {
            char *json = NULL;
            lcd_error_free(last);
            last = lcd_client_stats(env.client, "sp-run", &json, NULL);
            lcd_string_free(json);
            if (last == NULL || h_now_ms() > until) {
                break;
            }
            h_sleep_ms(100);
        }
        h_ok_call(last, "stats once containerd is back");
        h_ok_call(lcd_client_signal(env.client, "sp-run", SIGKILL, NULL), "stop sp-run");
        h_ok(h_wait_for(&rec, "sp-run", LCD_STATE_EXIT, 30000, NULL) >= 0, "sp-run exits", "no exit");
    }

    h_recorder_join(&rec, 5000);
    h_teardown(&env);
    return h_done();
}
