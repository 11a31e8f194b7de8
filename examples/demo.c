/*
 * demo: a tour of libcontainerd from C.
 *
 *   demo <state_dir> <rootfs_dir>
 *
 * Starts a containerd of its own under <state_dir>, runs a busybox container "demo"
 * from <rootfs_dir> that prints a few lines, execs `ps` in it, prints its stats and
 * the container list, stops it (SIGTERM, SIGKILL 2 s later) and waits for its exit
 * event, then stops containerd. The container's spec comes from lcd_spec_default.
 * Every event is printed as it arrives, and every line a process writes is printed
 * prefixed with container/process/stream. Needs root.
 *
 * With LCD_DEMO_REGISTRY=<host:port> (a registry reached over plain HTTP, e.g. one that
 * scripts/test-registry.sh seeds), it first pulls LCD_DEMO_IMAGE (default
 * test/busybox:latest) from it, showing the pull's progress as it comes (bytes done and
 * in all per layer: one updating line on a terminal, a line per report otherwise), and
 * runs a container "demo-image" from that image until it exits.
 *
 * Build (from the repository root):
 *   cargo build --release
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude examples/demo.c \
 *       -Ltarget/release -lcontainerd -Wl,-rpath,$PWD/target/release -o build/c/demo
 * or `make -C tests/c`, which builds it into build/c/demo.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "libcontainerd.h"

#define CONTAINER "demo"
#define EXEC_ID "ps"
#define IMAGE_CONTAINER "demo-image"

/* ---- output: one line at a time, from any thread ---------------------------- */

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&out_mu);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    va_end(ap);
}

/* ---- what the callbacks tell the main thread -------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static bool container_exited;
static uint32_t container_exit_code;
static bool exec_exited;
static uint32_t exec_exit_code;
static bool image_exited;
static uint32_t image_exit_code;

/* Waits until *flag is set or timeout_ms passed; returns the flag. */
static bool wait_flag(const bool *flag, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!*flag && pthread_cond_timedwait(&cond, &mu, &deadline) != ETIMEDOUT) {
    }
    bool set = *flag;
    pthread_mutex_unlock(&mu);
    return set;
}

/* ---- stream copiers: one thread per stream ----------------------------------- */

#define MAX_COPIERS 16

struct copier {
    pthread_t thread;
    int fd;
    char label[192];
    bool done;
};

static struct copier copiers[MAX_COPIERS];
static int n_copiers;

static void *copy_stream(void *arg) {
    struct copier *cp = arg;
    char buf[4096];
    char line[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(cp->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || len == sizeof line - 1) {
                line[len] = '\0';
                say("[%s] %s", cp->label, line);
                len = 0;
                if (buf[i] == '\n') {
                    continue;
                }
            }
            line[len++] = buf[i];
        }
    }
    if (len > 0) {
        line[len] = '\0';
        say("[%s] %s", cp->label, line);
    }
    close(cp->fd);
    pthread_mutex_lock(&mu);
    cp->done = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Starts copying fd to the terminal; takes ownership of fd. */
static bool start_copier(int fd, const char *container, const char *process, const char *stream) {
    pthread_mutex_lock(&mu);
    if (n_copiers == MAX_COPIERS) {
        pthread_mutex_unlock(&mu);
        close(fd);
        return false;
    }
    struct copier *cp = &copiers[n_copiers];
    cp->fd = fd;
    cp->done = false;
    snprintf(cp->label, sizeof cp->label, "%s/%s %s", container, process, stream);
    if (pthread_create(&cp->thread, NULL, copy_stream, cp) != 0) {
        pthread_mutex_unlock(&mu);
        close(fd);
        return false;
    }
    n_copiers++;
    pthread_mutex_unlock(&mu);
    return true;
}

/* Waits until the copiers whose label starts with prefix reached end of file. */
static bool wait_copiers(const char *prefix, int timeout_ms) {
    for (int waited = 0;; waited += 50) {
        bool all = true;
        pthread_mutex_lock(&mu);
        for (int i = 0; i < n_copiers; i++) {
            if (strncmp(copiers[i].label, prefix, strlen(prefix)) == 0 && !copiers[i].done) {
                all = false;
            }
        }
        pthread_mutex_unlock(&mu);
        if (all || waited >= timeout_ms) {
            return all;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- the backend ------------------------------------------------------------- */

static lcd_error *on_state_changed(void *user_data, const char *container_id,
                                   const lcd_state_info *info) {
    (void)user_data;
    say("event: container=%s state=%s pid=%u exit_code=%u process=%s%s", container_id, info->state,
        info->pid, info->exit_code, info->process_id, info->oom_killed ? " oom_killed" : "");
    pthread_mutex_lock(&mu);
    if (strcmp(container_id, IMAGE_CONTAINER) == 0 && strcmp(info->state, LCD_STATE_EXIT) == 0) {
        image_exited = true;
        image_exit_code = info->exit_code;
    }
    if (strcmp(container_id, CONTAINER) == 0) {
        if (strcmp(info->state, LCD_STATE_EXIT) == 0) {
            container_exited = true;
            container_exit_code = info->exit_code;
        } else if (strcmp(info->state, LCD_STATE_EXIT_PROCESS) == 0 &&
                   strcmp(info->process_id, EXEC_ID) == 0) {
            exec_exited = true;
            exec_exit_code = info->exit_code;
        }
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static lcd_error *on_attach_streams(void *user_data, const char *container_id,
                                    const char *process_id, const lcd_io_pipe *io) {
    (void)user_data;
    /* The descriptors are ours now. Nothing is written to stdin: close it. */
    close(io->stdin_fd);
    bool ok = start_copier(io->stdout_fd, container_id, process_id, io->terminal ? "tty" : "stdout");
    if (io->stderr_fd >= 0) {
        ok = start_copier(io->stderr_fd, container_id, process_id, "stderr") && ok;
    }
    return ok ? NULL : lcd_error_new(LCD_IO, "demo: cannot start a thread for the output");
}

static void on_user_data_free(void *user_data) {
    (void)user_data;
    say("backend released");
}

/* ---- JSON -------------------------------------------------------------------- */

/* Appends s as a JSON string to buf (capacity n, *len used). */
static void json_str(char *buf, size_t n, size_t *len, const char *s) {
    *len += (size_t)snprintf(buf + *len, n - *len, "\"");
    for (; *s != '\0' && *len + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            *len += (size_t)snprintf(buf + *len, n - *len, "\\%c", ch);
        } else if (ch < 0x20) {
            *len += (size_t)snprintf(buf + *len, n - *len, "\\u%04x", ch);
        } else {
            buf[(*len)++] = (char)ch;
            buf[*len] = '\0';
        }
    }
    *len += (size_t)snprintf(buf + *len, n - *len, "\"");
}

static void append(char *buf, size_t n, size_t *len, const char *s) {
    *len += (size_t)snprintf(buf + *len, n - *len, "%s", s);
}

/* ---- main -------------------------------------------------------------------- */

/* Prints what failed and frees the error; returns false if there was one. */
static bool check(lcd_error *e, const char *what) {
    if (e == NULL) {
        return true;
    }
    fprintf(stderr, "demo: %s: %s: %s\n", what, lcd_code_name((int32_t)lcd_error_code(e)),
            lcd_error_message(e));
    lcd_error_free(e);
    return false;
}

static bool absolute(const char *path, char *out, size_t n) {
    if (path[0] == '/') {
        return (size_t)snprintf(out, n, "%s", path) < n;
    }
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof cwd) != NULL && (size_t)snprintf(out, n, "%s/%s", cwd, path) < n;
}

/* ---- pulling an image, with a live progress line ------------------------------ */

#define MAX_BLOBS 32

/* What the progress reports said last of each blob, in the order first seen. */
struct blob {
    char digest[80];
    char status[16];
    unsigned long long current, total;
};

static struct blob blobs[MAX_BLOBS];
static int n_blobs;
static bool progress_tty;       /* stdout is a terminal: one line, rewritten */
static bool progress_line_open; /* that line is on the terminal, without its newline */

/* The string value of `key` in the flat JSON object of a progress report (digests and
 * statuses hold no escapes); false if absent or too long. */
static bool json_get_str(const char *js, const char *key, char *out, size_t n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(js, pat);
    if (p == NULL) {
        return false;
    }
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= n) {
        return false;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

/* The number value of `key` in a progress report (0 if absent). */
static unsigned long long json_get_u64(const char *js, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    return p == NULL ? 0 : strtoull(p + strlen(pat), NULL, 10);
}

static void human(unsigned long long b, char *out, size_t n) {
    if (b >= (1ULL << 20)) {
        snprintf(out, n, "%.1f MiB", (double)b / 1048576.0);
    } else if (b >= 1024) {
        snprintf(out, n, "%.1f KiB", (double)b / 1024.0);
    } else {
        snprintf(out, n, "%llu B", b);
    }
}

static int terminal_width(void) {
    struct winsize ws;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 ? ws.ws_col : 80;
}

/* A blob needs nothing more: downloaded (or already there) and, for a layer, unpacked. */
static bool finished(const struct blob *b) {
    return strcmp(b->status, "done") == 0 || strcmp(b->status, "exists") == 0 ||
           (strcmp(b->status, "extracting") == 0 && b->total > 0 && b->current == b->total);
}

/* The progress callback: on a terminal, rewrites one line with every blob still in
 * flight; otherwise prints each report as a line of its own. Runs on one library
 * thread, in order, before the pull returns. */
static void on_progress(void *user_data, const char *progress_json) {
    (void)user_data;
    char digest[80] = "", status[16] = "", cur[32], total[32];
    json_get_str(progress_json, "digest", digest, sizeof digest);
    if (!json_get_str(progress_json, "status", status, sizeof status)) {
        return;
    }
    unsigned long long current = json_get_u64(progress_json, "current");
    unsigned long long all = json_get_u64(progress_json, "total");
    const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
    if (!progress_tty) {
        human(current, cur, sizeof cur);
        human(all, total, sizeof total);
        say("pull: %.12s %s %s / %s", digest[0] != '\0' ? hex : "-", status, cur, total);
        return;
    }
    if (digest[0] == '\0') { /* resolving the reference: no blob yet */
        pthread_mutex_lock(&out_mu);
        printf("\r\033[Kpull: %s", status);
        fflush(stdout);
        progress_line_open = true;
        pthread_mutex_unlock(&out_mu);
        return;
    }
    struct blob *b = NULL;
    for (int i = 0; i < n_blobs && b == NULL; i++) {
        if (strcmp(blobs[i].digest, digest) == 0) {
            b = &blobs[i];
        }
    }
    if (b == NULL && n_blobs < MAX_BLOBS) {
        b = &blobs[n_blobs++];
        snprintf(b->digest, sizeof b->digest, "%s", digest);
    }
    if (b != NULL) {
        snprintf(b->status, sizeof b->status, "%s", status);
        b->current = current;
        b->total = all;
    }
    char line[2048];
    size_t len = 0;
    int n_finished = 0;
    for (int i = 0; i < n_blobs; i++) {
        n_finished += finished(&blobs[i]);
    }
    len += (size_t)snprintf(line, sizeof line, "pull: %d/%d done", n_finished, n_blobs);
    for (int i = 0; i < n_blobs && len < sizeof line; i++) {
        const struct blob *x = &blobs[i];
        if (finished(x)) {
            continue;
        }
        human(x->current, cur, sizeof cur);
        human(x->total, total, sizeof total);
        const char *h = strncmp(x->digest, "sha256:", 7) == 0 ? x->digest + 7 : x->digest;
        len += (size_t)snprintf(line + len, sizeof line - len, " | %.8s %s %s/%s", h, x->status, cur, total);
    }
    int width = terminal_width() - 1;
    pthread_mutex_lock(&out_mu);
    printf("\r\033[K%.*s", width, line);
    fflush(stdout);
    progress_line_open = true;
    pthread_mutex_unlock(&out_mu);
}

/* Pulls registry/image over plain HTTP with the live progress line, then runs a
 * container from it until it exits; true if all went well and it exited with 0. */
static bool pull_and_run(lcd_remote *remote, lcd_client *client, const char *registry, const char *image) {
    char ref[512], buf[1024];
    size_t len = 0;
    if ((size_t)snprintf(ref, sizeof ref, "%s/%s", registry, image) >= sizeof ref) {
        fprintf(stderr, "demo: image reference too long\n");
        return false;
    }
    append(buf, sizeof buf, &len, "{\"plain_http\":[");
    json_str(buf, sizeof buf, &len, registry);
    append(buf, sizeof buf, &len, "]}");
    progress_tty = isatty(STDOUT_FILENO);
    say("pulling %s", ref);
    char *image_json = NULL;
    lcd_error *e = lcd_remote_image_pull(remote, ref, buf, on_progress, NULL, &image_json, NULL);
    if (progress_line_open) {
        say("%s", "");
    }
    if (!check(e, "pull")) {
        return false;
    }
    say("pulled: %s", image_json);
    lcd_string_free(image_json);

    /* The image's config fills the process: no args, no rootfs in the spec. */
    char *spec = NULL;
    if (!check(lcd_spec_default("{\"hostname\":\"" IMAGE_CONTAINER "\"}", &spec), "default spec")) {
        return false;
    }
    len = 0;
    append(buf, sizeof buf, &len, "{\"image\":");
    json_str(buf, sizeof buf, &len, ref);
    append(buf, sizeof buf, &len, "}");
    bool created = check(lcd_client_create(client, IMAGE_CONTAINER, spec, buf, NULL), "create " IMAGE_CONTAINER);
    lcd_string_free(spec);
    if (!created) {
        return false;
    }
    say("created and started container " IMAGE_CONTAINER " from %s", ref);
    if (!wait_flag(&image_exited, 30000)) {
        fprintf(stderr, "demo: no exit event for " IMAGE_CONTAINER " within 30 s\n");
        return false;
    }
    wait_copiers(IMAGE_CONTAINER "/", 5000);
    say("container " IMAGE_CONTAINER " exited with %u", image_exit_code);
    return image_exit_code == 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <state_dir> <rootfs_dir>\n", argv[0]);
        return 2;
    }
    if (lcd_abi_version() != LCD_ABI_VERSION) {
        fprintf(stderr, "demo: built for ABI %d, library has %u\n", LCD_ABI_VERSION, lcd_abi_version());
        return 1;
    }
    char state_dir[PATH_MAX], rootfs[PATH_MAX];
    if (!absolute(argv[1], state_dir, sizeof state_dir)) {
        fprintf(stderr, "demo: state dir %s: path too long\n", argv[1]);
        return 1;
    }
    if (realpath(argv[2], rootfs) == NULL) {
        fprintf(stderr, "demo: rootfs %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);

    say("libcontainerd %s (ABI %u)", lcd_version(), lcd_abi_version());

    int rc = 1;
    lcd_remote *remote = NULL;
    lcd_client *client = NULL;
    char *json = NULL;
    char buf[16384];
    size_t len = 0;

    /* A containerd of our own, under state_dir. */
    append(buf, sizeof buf, &len, "{\"state_dir\":");
    json_str(buf, sizeof buf, &len, state_dir);
    append(buf, sizeof buf, &len, ",\"start_daemon\":true}");
    if (!check(lcd_remote_new(buf, &remote, NULL), "start containerd")) {
        return 1;
    }
    say("containerd is up, state in %s", state_dir);

    lcd_backend backend;
    memset(&backend, 0, sizeof backend);
    backend.struct_size = sizeof backend;
    backend.user_data = NULL;
    backend.state_changed = on_state_changed;
    backend.attach_streams = on_attach_streams;
    backend.user_data_free = on_user_data_free;
    if (!check(lcd_remote_client(remote, &backend, &client, NULL), "make a client")) {
        goto out;
    }

    /* With a registry: pull an image from it and run a container from that image. */
    const char *registry = getenv("LCD_DEMO_REGISTRY");
    if (registry != NULL && registry[0] != '\0') {
        const char *image = getenv("LCD_DEMO_IMAGE");
        if (!pull_and_run(remote, client, registry, image != NULL && image[0] != '\0' ? image : "test/busybox:latest")) {
            goto out;
        }
    }

    /* A complete, safe spec from the library's defaults: busybox sh in a read-only
     * rootfs, in its own namespaces, with containerd's default capabilities. */
    len = 0;
    append(buf, sizeof buf, &len, "{\"rootfs\":");
    json_str(buf, sizeof buf, &len, rootfs);
    append(buf, sizeof buf, &len, ",\"readonly\":true,\"hostname\":\"demo\",\"args\":[\"sh\",\"-c\",");
    json_str(buf, sizeof buf, &len,
             "echo hello from the container; i=0; while [ $i -lt 3 ]; do echo tick $i; "
             "i=$((i+1)); sleep 1; done; sleep 30");
    append(buf, sizeof buf, &len, "]}");
    if (len + 1 >= sizeof buf) {
        fprintf(stderr, "demo: spec options too long\n");
        goto out;
    }
    char *spec = NULL;
    if (!check(lcd_spec_default(buf, &spec), "default spec")) {
        goto out;
    }
    bool created = check(lcd_client_create(client, CONTAINER, spec, NULL, NULL), "create " CONTAINER);
    lcd_string_free(spec);
    if (!created) {
        goto out;
    }
    say("created and started container " CONTAINER);

    struct timespec two = {2, 0};
    nanosleep(&two, NULL);

    /* Run ps inside it, with its output and exit code. */
    if (!check(lcd_client_add_process(client, CONTAINER, EXEC_ID,
                                      "{\"args\":[\"sh\",\"-c\",\"ps; echo exec says hi\"]}", NULL),
               "exec ps")) {
        goto kill;
    }
    if (!wait_flag(&exec_exited, 10000)) {
        fprintf(stderr, "demo: no exit-process for " EXEC_ID " within 10 s\n");
        goto kill;
    }
    wait_copiers(CONTAINER "/" EXEC_ID " ", 5000);
    say("exec " EXEC_ID " exited with %u", exec_exit_code);

    if (check(lcd_client_stats(client, CONTAINER, &json, NULL), "stats")) {
        say("stats: %s", json);
        lcd_string_free(json);
        json = NULL;
    }
    if (check(lcd_client_list(client, &json, NULL), "list")) {
        say("list: %s", json);
        lcd_string_free(json);
        json = NULL;
    }
    rc = 0;

kill:
    /* Its shell (pid 1 of the container) ignores SIGTERM: SIGKILL follows after 2 s. */
    if (!check(lcd_client_stop(client, CONTAINER, 0, 2000, NULL), "stop " CONTAINER)) {
        rc = 1;
    } else if (!wait_flag(&container_exited, 10000)) {
        fprintf(stderr, "demo: no exit event for " CONTAINER " within 10 s\n");
        rc = 1;
    } else {
        say("container " CONTAINER " exited with %u", container_exit_code);
    }
    wait_copiers(CONTAINER "/", 5000);

out:
    if (!check(lcd_remote_cleanup(remote, NULL), "stop containerd")) {
        rc = 1;
    }
    lcd_client_free(client);
    lcd_remote_free(remote);
    /* Join the copiers that finished; any other is left to exit with the process. */
    pthread_mutex_lock(&mu);
    int n = n_copiers;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&mu);
        bool done = copiers[i].done;
        pthread_mutex_unlock(&mu);
        if (done) {
            pthread_join(copiers[i].thread, NULL);
        } else {
            pthread_detach(copiers[i].thread);
        }
    }
    say(rc == 0 ? "demo finished" : "demo failed");
    return rc;
}
