/*
 * Shared helpers for the C acceptance programs in tests/c: result lines, error
 * checks, an event recorder (a lcd_backend whose callbacks record every event and
 * capture every process's output), waiting with timeouts, and a minimal OCI spec.
 *
 * Each program prints "ok <name>" or "not ok <name> - <why>" per check and exits
 * non-zero if any check failed. Include this file first: it sets the feature macros.
 *
 * Environment: LCD_TEST_TIME_SCALE (a whole number, default 1) multiplies every wait
 * and timeout, for runs under valgrind.
 */
#ifndef LCD_TEST_HARNESS_H
#define LCD_TEST_HARNESS_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* POSIX.1-2008 with XSI (realpath) */
#endif

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libcontainerd.h"

/* ------------------------------------------------------------------------- */
/* Results                                                                   */

static int h_failures;

/* Prints "ok name" or "not ok name - detail" and counts failures. */
static inline bool h_ok(bool cond, const char *name, const char *fmt, ...) {
    if (cond) {
        printf("ok %s\n", name);
    } else {
        h_failures++;
        printf("not ok %s", name);
        if (fmt != NULL && fmt[0] != '\0') {
            va_list ap;
            va_start(ap, fmt);
            printf(" - ");
            vprintf(fmt, ap);
            va_end(ap);
        }
        printf("\n");
    }
    fflush(stdout);
    return cond;
}

/* Stops the program: a setup step failed, nothing else can be checked. */
static inline void h_bail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("not ok setup - ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(2);
}

/* The exit status of a program: 0 when every check passed. */
static inline int h_done(void) {
    printf("# %s\n", h_failures == 0 ? "all checks passed" : "some checks failed");
    return h_failures == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */

/* A taken-apart error: its code and a copy of its message. */
typedef struct h_err {
    lcd_code code;
    char message[1024];
} h_err;

/* Takes `e` apart and frees it (NULL gives LCD_OK and an empty message). */
static inline h_err h_take(lcd_error *e) {
    h_err r;
    r.code = lcd_error_code(e);
    snprintf(r.message, sizeof r.message, "%s", lcd_error_message(e));
    lcd_error_free(e);
    return r;
}

/* Checks that a call succeeded; reports it under `name`. */
static inline bool h_ok_call(lcd_error *e, const char *name) {
    h_err r = h_take(e);
    return h_ok(r.code == LCD_OK, name, "%s: %s", lcd_code_name((int32_t)r.code), r.message);
}

/* Checks that a call failed with `code` and, if `needle` is set, that its message
 * contains it. */
static inline bool h_ok_code(lcd_error *e, lcd_code code, const char *needle, const char *name) {
    h_err r = h_take(e);
    bool good = r.code == code && (needle == NULL || strstr(r.message, needle) != NULL);
    return h_ok(good, name, "want %s%s%s, got %s: %s", lcd_code_name((int32_t)code),
                needle ? " naming " : "", needle ? needle : "", lcd_code_name((int32_t)r.code),
                r.message);
}

/* ------------------------------------------------------------------------- */
/* Time                                                                      */

static inline int64_t h_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A wait of `ms` milliseconds stretched by LCD_TEST_TIME_SCALE (a whole number, default
 * 1): under valgrind a program runs many times slower, so its waits grow with it while
 * what it checks stays the same. */
static inline int64_t h_scaled_ms(int64_t ms) {
    const char *s = getenv("LCD_TEST_TIME_SCALE");
    long scale = s != NULL ? strtol(s, NULL, 10) : 1;
    return scale > 1 ? ms * scale : ms;
}

/* Sleeps `ms` milliseconds (scaled by h_scaled_ms). */
static inline void h_sleep_ms(int64_t ms) {
    ms = h_scaled_ms(ms);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* The monotonic time `timeout_ms` (scaled by h_scaled_ms) from now. */
static inline struct timespec h_deadline(int64_t timeout_ms) {
    timeout_ms = h_scaled_ms(timeout_ms);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ------------------------------------------------------------------------- */
/* The recorder: a lcd_backend that records events and captures output        */

#define H_MAX_EVENTS 1024
#define H_MAX_CAPTURES 64
#define H_ID_LEN 80

typedef struct h_event {
    char container[H_ID_LEN];
    char state[32];
    char process[H_ID_LEN];
    uint32_t pid;
    uint32_t exit_code;
    bool oom_killed;
    int64_t exited_at;
} h_event;

typedef struct h_stream {
    int fd;
    char *data; /* NUL-terminated */
    size_t len;
    size_t cap;
    bool done;
    pthread_t thread;
    bool started;
    struct h_recorder *rec;
} h_stream;

typedef struct h_capture {
    char container[H_ID_LEN];
    char process[H_ID_LEN];
    bool terminal;
    int stdin_fd; /* -1 once closed */
    h_stream out;
    h_stream err;
} h_capture;

typedef struct h_recorder h_recorder;

/* Called on the library's event thread after an event is recorded. */
typedef void (*h_event_hook)(h_recorder *rec, const char *container, const lcd_state_info *info);

struct h_recorder {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    h_event events[H_MAX_EVENTS];
    size_t n_events;
    h_capture captures[H_MAX_CAPTURES];
    size_t n_captures;
    /* Keep the stdin of the next attached process open (for h_write_stdin). */
    bool keep_stdin;
    /* How often user_data_free ran. */
    int freed;
    /* Called after each event, outside the recorder's lock; may call the library. */
    h_event_hook hook;
    /* For the hook's use (a client, usually). */
    void *ctx;
};

static inline void h_recorder_init(h_recorder *rec) {
    memset(rec, 0, sizeof *rec);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rec->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&rec->mu, NULL);
}

static inline lcd_error *h_state_changed(void *user_data, const char *container_id,
                                         const lcd_state_info *info) {
    h_recorder *rec = user_data;
    pthread_mutex_lock(&rec->mu);
    if (rec->n_events < H_MAX_EVENTS) {
        h_event *ev = &rec->events[rec->n_events++];
        snprintf(ev->container, sizeof ev->container, "%s", container_id);
        snprintf(ev->state, sizeof ev->state, "%s", info->state);
        snprintf(ev->process, sizeof ev->process, "%s", info->process_id);
        ev->pid = info->pid;
        ev->exit_code = info->exit_code;
        ev->oom_killed = info->oom_killed;
        ev->exited_at = info->exited_at_unix_nano;
    }
    h_event_hook hook = rec->hook;
    pthread_cond_broadcast(&rec->cond);
    pthread_mutex_unlock(&rec->mu);
    if (hook != NULL) {
        hook(rec, container_id, info);
    }
    return NULL;
}

static inline void *h_stream_reader(void *arg) {
    h_stream *s = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        pthread_mutex_lock(&s->rec->mu);
        if (s->len + (size_t)n + 1 > s->cap) {
            size_t cap = (s->cap ? s->cap * 2 : 8192);
            while (cap < s->len + (size_t)n + 1) {
                cap *= 2;
            }
            char *p = realloc(s->data, cap);
            if (p == NULL) {
                pthread_mutex_unlock(&s->rec->mu);
                break;
            }
            s->data = p;
            s->cap = cap;
        }
        memcpy(s->data + s->len, buf, (size_t)n);
        s->len += (size_t)n;
        s->data[s->len] = '\0';
        pthread_mutex_unlock(&s->rec->mu);
    }
    close(s->fd);
    pthread_mutex_lock(&s->rec->mu);
    s->done = true;
    pthread_cond_broadcast(&s->rec->cond);
    pthread_mutex_unlock(&s->rec->mu);
    return NULL;
}

/* Starts a reader thread for `fd` (-1: nothing to read, done at once). */
static inline void h_stream_start(h_recorder *rec, h_stream *s, int fd) {
    s->rec = rec;
    s->fd = fd;
    s->data = calloc(1, 1);
    s->done = fd < 0;
    if (fd >= 0) {
        s->started = pthread_create(&s->thread, NULL, h_stream_reader, s) == 0;
        if (!s->started) {
            close(fd);
            s->done = true;
        }
    }
}

static inline lcd_error *h_attach_streams(void *user_data, const char *container_id,
                                          const char *process_id, const lcd_io_pipe *io) {
    h_recorder *rec = user_data;
    pthread_mutex_lock(&rec->mu);
    if (rec->n_captures == H_MAX_CAPTURES) {
        pthread_mutex_unlock(&rec->mu);
        /* The descriptors are ours whatever we return. */
        close(io->stdin_fd);
        close(io->stdout_fd);
        if (io->stderr_fd >= 0) {
            close(io->stderr_fd);
        }
        return lcd_error_new(LCD_INTERNAL, "test harness: too many processes");
    }
    h_capture *cap = &rec->captures[rec->n_captures++];
    snprintf(cap->container, sizeof cap->container, "%s", container_id);
    snprintf(cap->process, sizeof cap->process, "%s", process_id);
    cap->terminal = io->terminal;
    if (rec->keep_stdin) {
        cap->stdin_fd = io->stdin_fd;
    } else {
        close(io->stdin_fd);
        cap->stdin_fd = -1;
    }
    h_stream_start(rec, &cap->out, io->stdout_fd);
    h_stream_start(rec, &cap->err, io->stderr_fd);
    pthread_mutex_unlock(&rec->mu);
    return NULL;
}

static inline void h_user_data_free(void *user_data) {
    h_recorder *rec = user_data;
    pthread_mutex_lock(&rec->mu);
    rec->freed++;
    pthread_cond_broadcast(&rec->cond);
    pthread_mutex_unlock(&rec->mu);
}

/* The callback table of a recorder. */
static inline lcd_backend h_backend(h_recorder *rec) {
    lcd_backend b;
    memset(&b, 0, sizeof b);
    b.struct_size = (uint32_t)sizeof b;
    b.user_data = rec;
    b.state_changed = h_state_changed;
    b.attach_streams = h_attach_streams;
    b.user_data_free = h_user_data_free;
    return b;
}

/* Index of the first event matching (container, state, process; NULL matches any)
 * at or after `from`, or -1. Call with the lock held. */
static inline long h_find_locked(h_recorder *rec, size_t from, const char *container,
                                 const char *state, const char *process) {
    for (size_t i = from; i < rec->n_events; i++) {
        h_event *ev = &rec->events[i];
        if ((container == NULL || strcmp(ev->container, container) == 0) &&
            (state == NULL || strcmp(ev->state, state) == 0) &&
            (process == NULL || strcmp(ev->process, process) == 0)) {
            return (long)i;
        }
    }
    return -1;
}

/* Waits up to `timeout_ms` for the `nth` (1-based) event matching (container, state,
 * process); copies it to `out` if set and returns its index, or -1 on timeout. */
static inline long h_wait_nth(h_recorder *rec, const char *container, const char *state,
                              const char *process, int nth, int64_t timeout_ms, h_event *out) {
    struct timespec deadline = h_deadline(timeout_ms);
    long found = -1;
    pthread_mutex_lock(&rec->mu);
    for (;;) {
        long i = -1;
        int seen = 0;
        size_t from = 0;
        while ((i = h_find_locked(rec, from, container, state, process)) >= 0) {
            if (++seen == nth) {
                break;
            }
            from = (size_t)i + 1;
        }
        if (i >= 0) {
            found = i;
            if (out != NULL) {
                *out = rec->events[i];
            }
            break;
        }
        if (pthread_cond_timedwait(&rec->cond, &rec->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&rec->mu);
    return found;
}

/* Waits for the first event `state` of `container` (any process). */
static inline long h_wait_for(h_recorder *rec, const char *container, const char *state,
                              int64_t timeout_ms, h_event *out) {
    return h_wait_nth(rec, container, state, NULL, 1, timeout_ms, out);
}

/* How many events match (container, state, process; NULL matches any). */
static inline int h_count(h_recorder *rec, const char *container, const char *state,
                          const char *process) {
    int n = 0;
    pthread_mutex_lock(&rec->mu);
    for (size_t from = 0;;) {
        long i = h_find_locked(rec, from, container, state, process);
        if (i < 0) {
            break;
        }
        n++;
        from = (size_t)i + 1;
    }
    pthread_mutex_unlock(&rec->mu);
    return n;
}

/* The most recent capture of (container, process), or NULL. */
static inline h_capture *h_capture_of(h_recorder *rec, const char *container,
                                      const char *process) {
    h_capture *found = NULL;
    pthread_mutex_lock(&rec->mu);
    for (size_t i = 0; i < rec->n_captures; i++) {
        if (strcmp(rec->captures[i].container, container) == 0 &&
            strcmp(rec->captures[i].process, process) == 0) {
            found = &rec->captures[i];
        }
    }
    pthread_mutex_unlock(&rec->mu);
    return found;
}

/* Waits until both output streams of `cap` reached their end. */
static inline bool h_wait_streams(h_recorder *rec, h_capture *cap, int64_t timeout_ms) {
    struct timespec deadline = h_deadline(timeout_ms);
    bool done;
    pthread_mutex_lock(&rec->mu);
    while (!(done = cap->out.done && cap->err.done)) {
        if (pthread_cond_timedwait(&rec->cond, &rec->mu, &deadline) == ETIMEDOUT) {
            done = cap->out.done && cap->err.done;
            break;
        }
    }
    pthread_mutex_unlock(&rec->mu);
    return done;
}

/* Writes all of `data` to the capture's stdin (kept open with keep_stdin). */
static inline bool h_write_stdin(h_capture *cap, const char *data) {
    size_t len = strlen(data);
    while (len > 0) {
        ssize_t n = write(cap->stdin_fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Closes the capture's stdin: the process reads EOF. */
static inline void h_close_stdin(h_capture *cap) {
    if (cap->stdin_fd >= 0) {
        close(cap->stdin_fd);
        cap->stdin_fd = -1;
    }
}

/* Joins the reader threads that finished, waiting up to `timeout_ms` for the others
 * (which are left running: the recorder must then stay alive). */
static inline void h_recorder_join(h_recorder *rec, int64_t timeout_ms) {
    for (size_t i = 0; i < rec->n_captures; i++) {
        h_capture *cap = &rec->captures[i];
        h_close_stdin(cap);
        if (h_wait_streams(rec, cap, timeout_ms)) {
            if (cap->out.started) {
                pthread_join(cap->out.thread, NULL);
                cap->out.started = false;
            }
            if (cap->err.started) {
                pthread_join(cap->err.thread, NULL);
                cap->err.started = false;
            }
        }
        timeout_ms = 0;
    }
}

/* ------------------------------------------------------------------------- */
/* JSON and the OCI spec                                                     */

/* Appends `s` as a JSON string to `buf` (of size `n`, holding `*len` bytes). */
static inline void h_json_str(char *buf, size_t n, size_t *len, const char *s) {
    static const char hex[] = "0123456789abcdef";
    if (*len + 1 < n) {
        buf[(*len)++] = '"';
    }
    for (; *s != '\0' && *len + 7 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)ch;
        } else if (ch < 0x20) {
            memcpy(buf + *len, "\\u00", 4);
            *len += 4;
            buf[(*len)++] = hex[ch >> 4];
            buf[(*len)++] = hex[ch & 15];
        } else {
            buf[(*len)++] = (char)ch;
        }
    }
    if (*len + 1 < n) {
        buf[(*len)++] = '"';
    }
    buf[*len] = '\0';
}

/* Appends formatted text to `buf`. */
static inline void h_append(char *buf, size_t n, size_t *len, const char *fmt, ...) {
    if (*len >= n) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w > 0) {
        *len += (size_t)w < n - *len ? (size_t)w : n - *len - 1;
    }
}

/* A JSON array of the NULL-terminated `args`, e.g. ["sh","-c","exit 7"]; malloc'd. */
static inline char *h_json_args(const char *const *args) {
    size_t n = 8192, len = 0;
    char *buf = malloc(n);
    if (buf == NULL) {
        h_bail("out of memory");
    }
    buf[0] = '\0';
    h_append(buf, n, &len, "[");
    for (size_t i = 0; args[i] != NULL; i++) {
        if (i > 0) {
            h_append(buf, n, &len, ",");
        }
        h_json_str(buf, n, &len, args[i]);
    }
    h_append(buf, n, &len, "]");
    return buf;
}

/* A minimal OCI runtime spec (malloc'd): runs `args` as root in `rootfs` (read-only)
 * with PATH=/bin, /proc, a tmpfs /dev and /tmp, and pid, ipc, uts and mount
 * namespaces (no network namespace: the host's network is shared). */
static inline char *h_spec(const char *rootfs, const char *hostname, const char *const *args) {
    size_t n = 16384, len = 0;
    char *buf = malloc(n);
    char *argv = h_json_args(args);
    if (buf == NULL) {
        h_bail("out of memory");
    }
    buf[0] = '\0';
    h_append(buf, n, &len, "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,"
                           "\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
                           "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},\"root\":{\"path\":",
             argv);
    h_json_str(buf, n, &len, rootfs);
    h_append(buf, n, &len, ",\"readonly\":true},\"hostname\":");
    h_json_str(buf, n, &len, hostname);
    h_append(buf, n, &len,
             ",\"mounts\":["
             "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\","
             "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
             "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
             "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
             "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
             "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
             "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
             "\"options\":[\"nosuid\",\"nodev\",\"mode=1777\"]}],"
             "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},"
             "{\"type\":\"uts\"},{\"type\":\"mount\"}]}}");
    free(argv);
    if (len + 1 >= n) {
        h_bail("spec too long");
    }
    return buf;
}

/* ------------------------------------------------------------------------- */
/* Setup                                                                     */

typedef struct h_env {
    char state_dir[PATH_MAX];
    char rootfs[PATH_MAX];
    lcd_remote *remote;
    lcd_client *client;
} h_env;

/* The pid in <state_dir>/containerd/containerd.pid, or -1. */
static inline pid_t h_daemon_pid(const h_env *env) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/containerd/containerd.pid", env->state_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1) {
        pid = -1;
    }
    fclose(f);
    return (pid_t)pid;
}

/* Parses `<state_dir> <rootfs>` (both made absolute; rootfs defaults to
 * build/rootfs). Returns false, after printing usage, when they are missing. */
static inline bool h_args(int argc, char **argv, h_env *env, bool required) {
    memset(env, 0, sizeof *env);
    if (argc < 2) {
        if (required) {
            fprintf(stderr, "usage: %s <state_dir> [<rootfs>]\n", argv[0]);
            exit(2);
        }
        return false;
    }
    const char *rootfs = argc >= 3 ? argv[2] : "build/rootfs";
    if (realpath(rootfs, env->rootfs) == NULL) {
        h_bail("rootfs %s: %s", rootfs, strerror(errno));
    }
    if (argv[1][0] == '/') {
        snprintf(env->state_dir, sizeof env->state_dir, "%s", argv[1]);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            h_bail("getcwd: %s", strerror(errno));
        }
        size_t len = 0;
        h_append(env->state_dir, sizeof env->state_dir, &len, "%s/%s", cwd, argv[1]);
    }
    return true;
}

/* A remote starting its own containerd in env->state_dir. */
static inline void h_remote(h_env *env) {
    char opts[PATH_MAX + 128];
    size_t len = 0;
    h_append(opts, sizeof opts, &len, "{\"state_dir\":");
    h_json_str(opts, sizeof opts, &len, env->state_dir);
    h_append(opts, sizeof opts, &len, ",\"start_daemon\":true}");
    h_err e = h_take(lcd_remote_new(opts, &env->remote, NULL));
    if (e.code != LCD_OK) {
        h_bail("lcd_remote_new: %s: %s", lcd_code_name((int32_t)e.code), e.message);
    }
}

/* A remote and a client reporting to `rec`. */
static inline void h_setup(h_env *env, h_recorder *rec) {
    h_remote(env);
    lcd_backend b = h_backend(rec);
    h_err e = h_take(lcd_remote_client(env->remote, &b, &env->client, NULL));
    if (e.code != LCD_OK) {
        h_bail("lcd_remote_client: %s: %s", lcd_code_name((int32_t)e.code), e.message);
    }
}

/* Frees the client, cleans the remote up and frees it. */
static inline void h_teardown(h_env *env) {
    lcd_client_free(env->client);
    env->client = NULL;
    if (env->remote != NULL) {
        h_ok_call(lcd_remote_cleanup(env->remote, NULL), "remote_cleanup");
        lcd_remote_free(env->remote);
        env->remote = NULL;
    }
}

/* Whether the JSON of lcd_client_list names container `id`. */
static inline bool h_list_has(const char *json, const char *id) {
    char needle[H_ID_LEN + 16];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", id);
    return strstr(json, needle) != NULL;
}

#endif /* LCD_TEST_HARNESS_H */
