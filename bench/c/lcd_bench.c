/* The library's side of the benchmark through the C ABI (include/libcontainerd.h),
 * driven by bench/run.py. Connects to the daemon the harness started and prints one
 * JSON object on stdout.
 *
 *   lcd_bench_c lifecycle SOCKET STATE_DIR SPEC_FILE NAMESPACE PREFIX ITERS WORKERS WATCHER
 *   lcd_bench_c boundary  SOCKET STATE_DIR SPEC_FILE NAMESPACE PREFIX ITERS
 *
 * The spec file's process args are used as they are (run.py writes one running
 * /bin/true for this program). A lifecycle iteration ends when containerd has deleted
 * the task and the container, as for every other peer: the C ABI has no view of that
 * (the library reports `exit` first and has containerd delete afterwards), so a
 * helper process, WATCHER (`lcd_bench watch-deletes`, the Rust driver's deletion
 * watcher), subscribes to containerd's delete events and writes one line per deleted
 * container to a pipe this program reads. Its CPU time is not this program's. */
#define _GNU_SOURCE
#include <libcontainerd.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_WORKERS 64

struct slot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char id[128]; /* the container of the worker's current iteration */
    int exited;
    int64_t exited_at;
    int64_t seen_at;      /* CLOCK_REALTIME when `exit` was delivered */
    int64_t seen_mono;    /* CLOCK_MONOTONIC of the same moment */
    int deleted;
    int64_t deleted_mono; /* CLOCK_MONOTONIC when its deletion was seen */
    int64_t deleted_real; /* CLOCK_REALTIME of the same moment */
};

struct shared {
    lcd_client *client;
    const char *spec;
    const char *prefix;
    int iters;
    int next;
    int failures;
    pthread_mutex_t mu;
    double *lat_ms;   /* create -> task and container deleted */
    double *exit_ms;  /* create -> exit delivered */
    double *event_ms; /* exited_at -> exit delivered */
    double *reaped_ms; /* exited_at -> deletion seen */
    int n;
    struct slot slots[MAX_WORKERS];
};

static int64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time (user + system) this process has used so far, in ms. */
static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void die(const char *what, lcd_error *e) {
    fprintf(stderr, "lcd_bench_c: %s: %s\n", what, e ? lcd_error_message(e) : "failed");
    exit(1);
}

/* Container ids are PREFIX-WORKER-N: the worker number finds the waiting slot. */
static struct slot *slot_of(struct shared *sh, const char *container_id) {
    size_t n = strlen(sh->prefix);
    if (strncmp(container_id, sh->prefix, n) != 0 || container_id[n] != '-')
        return NULL;
    int w = atoi(container_id + n + 1);
    if (w < 0 || w >= MAX_WORKERS)
        return NULL;
    return &sh->slots[w];
}

static lcd_error *state_changed(void *user_data, const char *container_id, const lcd_state_info *info) {
    struct shared *sh = user_data;
    if (strcmp(info->state, LCD_STATE_EXIT) != 0)
        return NULL;
    struct slot *s = slot_of(sh, container_id);
    if (!s)
        return NULL;
    pthread_mutex_lock(&s->mu);
    if (strcmp(s->id, container_id) == 0) {
        s->exited = 1;
        s->exited_at = info->exited_at_unix_nano;
        s->seen_at = now_ns(CLOCK_REALTIME);
        s->seen_mono = now_ns(CLOCK_MONOTONIC);
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The deletion watcher: its pid, the pipe its stdout goes to, and the write end of
 * its stdin (closing it ends the watcher). */
struct watcher {
    pid_t pid;
    FILE *out;
    int in_fd;
};

static struct shared *watched;
/* Set when the watcher's output ends: no deletion will be seen any more. */
static int watcher_gone;

/* Reads the watcher's lines (one deleted container id each) and wakes the worker
 * whose current container it is. */
static void *watch_thread(void *arg) {
    struct watcher *wt = arg;
    char line[256];
    while (fgets(line, sizeof line, wt->out)) {
        line[strcspn(line, "\n")] = 0;
        int64_t mono = now_ns(CLOCK_MONOTONIC), real = now_ns(CLOCK_REALTIME);
        struct slot *s = slot_of(watched, line);
        if (!s)
            continue;
        pthread_mutex_lock(&s->mu);
        if (strcmp(s->id, line) == 0) {
            s->deleted = 1;
            s->deleted_mono = mono;
            s->deleted_real = real;
            pthread_cond_broadcast(&s->cv);
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (int w = 0; w < MAX_WORKERS; w++) {
        struct slot *s = &watched->slots[w];
        pthread_mutex_lock(&s->mu);
        watcher_gone = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* Starts `WATCHER watch-deletes --socket SOCKET --namespace NS` and waits for its
 * `ready` (its subscription is live). */
static void watcher_start(struct watcher *wt, const char *exe, const char *socket, const char *ns) {
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
        perror("pipe");
        exit(1);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *argv[] = {(char *)exe, "watch-deletes", "--socket", (char *)socket, "--namespace", (char *)ns, NULL};
    int rc = posix_spawn(&wt->pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "lcd_bench_c: spawn %s: %s\n", exe, strerror(rc));
        exit(1);
    }
    close(in[0]);
    close(out[1]);
    wt->in_fd = in[1];
    wt->out = fdopen(out[0], "r");
    char line[64];
    if (!wt->out || !fgets(line, sizeof line, wt->out) || strcmp(line, "ready\n") != 0) {
        fprintf(stderr, "lcd_bench_c: the deletion watcher did not start\n");
        exit(1);
    }
}

static void watcher_stop(struct watcher *wt) {
    close(wt->in_fd);
    int status;
    waitpid(wt->pid, &status, 0);
}

struct worker_arg {
    struct shared *sh;
    int w;
};

static void *worker(void *arg) {
    struct worker_arg *wa = arg;
    struct shared *sh = wa->sh;
    struct slot *s = &sh->slots[wa->w];
    char id[128];
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        int i = sh->next++;
        pthread_mutex_unlock(&sh->mu);
        if (i >= sh->iters)
            return NULL;
        /* An id per iteration; the iteration ends when it is deleted. */
        snprintf(id, sizeof id, "%s-%d-%d", sh->prefix, wa->w, i);
        pthread_mutex_lock(&s->mu);
        snprintf(s->id, sizeof s->id, "%s", id);
        s->exited = 0;
        s->deleted = 0;
        pthread_mutex_unlock(&s->mu);
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        lcd_error *e = lcd_client_create(sh->client, id, sh->spec, NULL, NULL);
        if (e) {
            fprintf(stderr, "create %s: %s\n", id, lcd_error_message(e));
            lcd_error_free(e);
            pthread_mutex_lock(&sh->mu);
            sh->failures++;
            pthread_mutex_unlock(&sh->mu);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        while (!s->exited)
            pthread_cond_wait(&s->cv, &s->mu);
        while (!s->deleted && !watcher_gone)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->deleted) {
            pthread_mutex_unlock(&s->mu);
            fprintf(stderr, "%s: its deletion was not seen (the watcher ended)\n", id);
            pthread_mutex_lock(&sh->mu);
            sh->failures++;
            pthread_mutex_unlock(&sh->mu);
            return NULL;
        }
        int64_t ev = s->seen_at - s->exited_at;
        int64_t reaped = s->deleted_real - s->exited_at;
        int64_t exit_ns = s->seen_mono - t0;
        /* Done once both are in: the deletion can be seen before a delayed `exit`. */
        int64_t lat = (s->deleted_mono > s->seen_mono ? s->deleted_mono : s->seen_mono) - t0;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&sh->mu);
        sh->lat_ms[sh->n] = (double)lat / 1e6;
        sh->exit_ms[sh->n] = (double)exit_ns / 1e6;
        sh->event_ms[sh->n] = (double)ev / 1e6;
        sh->reaped_ms[sh->n] = (double)reaped / 1e6;
        sh->n++;
        pthread_mutex_unlock(&sh->mu);
    }
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void print_array(const char *name, const double *v, int n) {
    printf("\"%s\": [", name);
    for (int i = 0; i < n; i++)
        printf("%s%.4f", i ? ", " : "", v[i]);
    printf("]");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s lifecycle|boundary SOCKET STATE_DIR SPEC NAMESPACE PREFIX ITERS [WORKERS WATCHER]\n",
                argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    static struct shared sh;
    sh.spec = read_file(argv[4]);
    sh.prefix = argv[6];
    sh.iters = atoi(argv[7]);
    int workers = argc > 8 ? atoi(argv[8]) : 1;
    if (workers < 1 || workers > MAX_WORKERS)
        workers = 1;
    pthread_mutex_init(&sh.mu, NULL);
    for (int i = 0; i < MAX_WORKERS; i++) {
        pthread_mutex_init(&sh.slots[i].mu, NULL);
        pthread_cond_init(&sh.slots[i].cv, NULL);
    }

    char options[4096];
    snprintf(options, sizeof options,
             "{\"remote_addr\": \"%s\", \"start_daemon\": false, \"state_dir\": \"%s\", \"namespace\": \"%s\"}",
             argv[2], argv[3], argv[5]);
    lcd_remote *remote = NULL;
    lcd_error *e = lcd_remote_new(options, &remote, NULL);
    if (e)
        die("remote", e);
    lcd_backend backend = {
        .struct_size = sizeof(lcd_backend),
        .user_data = &sh,
        .state_changed = state_changed,
        .attach_streams = NULL,
        .user_data_free = NULL,
    };
    e = lcd_remote_client(remote, &backend, &sh.client, NULL);
    if (e)
        die("client", e);

    if (strcmp(mode, "lifecycle") == 0) {
        if (argc < 10) {
            fprintf(stderr, "lifecycle needs WORKERS and WATCHER\n");
            return 2;
        }
        struct watcher wt;
        pthread_t wth;
        watched = &sh;
        watcher_start(&wt, argv[9], argv[2], argv[5]);
        pthread_create(&wth, NULL, watch_thread, &wt);
        sh.lat_ms = calloc((size_t)sh.iters + 1, sizeof(double));
        sh.exit_ms = calloc((size_t)sh.iters + 1, sizeof(double));
        sh.event_ms = calloc((size_t)sh.iters + 1, sizeof(double));
        sh.reaped_ms = calloc((size_t)sh.iters + 1, sizeof(double));
        pthread_t th[MAX_WORKERS];
        struct worker_arg wa[MAX_WORKERS];
        double cpu0 = cpu_ms();
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        for (int w = 0; w < workers; w++) {
            wa[w].sh = &sh;
            wa[w].w = w;
            pthread_create(&th[w], NULL, worker, &wa[w]);
        }
        for (int w = 0; w < workers; w++)
            pthread_join(th[w], NULL);
        double elapsed = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
        double cpu = cpu_ms() - cpu0;
        watcher_stop(&wt);
        pthread_join(wth, NULL);
        printf("{");
        print_array("lat_ms", sh.lat_ms, sh.n);
        printf(", ");
        print_array("exit_ms", sh.exit_ms, sh.n);
        printf(", ");
        print_array("event_ms", sh.event_ms, sh.n);
        printf(", ");
        print_array("reaped_ms", sh.reaped_ms, sh.n);
        printf(", \"elapsed_s\": %.6f, \"n\": %d, \"cpu_ms\": %.3f, \"failures\": %d}\n", elapsed, sh.n, cpu,
               sh.failures);
    } else if (strcmp(mode, "boundary") == 0) {
        /* Median over 7 batches of the time per call. */
        double v[7], l[7];
        long nv = (long)sh.iters * 100;
        for (int r = 0; r < 7; r++) {
            int64_t t0 = now_ns(CLOCK_MONOTONIC);
            for (long i = 0; i < nv; i++) {
                const char *s = lcd_version();
                __asm__ volatile("" : : "r"(s) : "memory");
            }
            v[r] = (double)(now_ns(CLOCK_MONOTONIC) - t0) / (double)nv;
            t0 = now_ns(CLOCK_MONOTONIC);
            for (int i = 0; i < sh.iters; i++) {
                char *json = NULL;
                e = lcd_client_list(sh.client, &json, NULL);
                if (e)
                    die("list", e);
                if (strcmp(json, "[]") != 0) {
                    fprintf(stderr, "namespace %s is not empty: %s\n", argv[5], json);
                    return 1;
                }
                lcd_string_free(json);
            }
            l[r] = (double)(now_ns(CLOCK_MONOTONIC) - t0) / sh.iters;
        }
        qsort(v, 7, sizeof(double), cmp_double);
        qsort(l, 7, sizeof(double), cmp_double);
        printf("{\"version_ns\": %.3f, \"list_ns\": %.1f}\n", v[3], l[3]);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    lcd_client_free(sh.client);
    lcd_remote_free(remote);
    return sh.failures ? 1 : 0;
}
