/* The library's side of the benchmark through the C ABI (include/libcontainerd.h),
 * driven by bench/run.py. Connects to the daemon the harness started and prints one
 * JSON object on stdout.
 *
 *   lcd_bench_c lifecycle SOCKET STATE_DIR SPEC_FILE NAMESPACE PREFIX ITERS WORKERS
 *   lcd_bench_c boundary  SOCKET STATE_DIR SPEC_FILE NAMESPACE PREFIX ITERS
 *
 * The spec file's process args are used as they are (run.py writes one running
 * /bin/true for this program). */
#define _GNU_SOURCE
#include <libcontainerd.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_WORKERS 64

struct slot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int exited;
    int64_t exited_at;
    int64_t seen_at;
};

struct shared {
    lcd_client *client;
    const char *spec;
    const char *prefix;
    int iters;
    int next;
    int failures;
    pthread_mutex_t mu;
    double *lat_ms;
    double *event_ms;
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
static lcd_error *state_changed(void *user_data, const char *container_id, const lcd_state_info *info) {
    struct shared *sh = user_data;
    if (strcmp(info->state, LCD_STATE_EXIT) != 0)
        return NULL;
    const char *p = container_id + strlen(sh->prefix) + 1;
    int w = atoi(p);
    if (w < 0 || w >= MAX_WORKERS)
        return NULL;
    struct slot *s = &sh->slots[w];
    pthread_mutex_lock(&s->mu);
    s->exited = 1;
    s->exited_at = info->exited_at_unix_nano;
    s->seen_at = now_ns(CLOCK_REALTIME);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
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
        /* One id per worker: `exit` comes before containerd has removed the
         * container, and a create of the same id waits for that removal, so each
         * iteration pays for the whole of the previous one. */
        snprintf(id, sizeof id, "%s-%d", sh->prefix, wa->w);
        pthread_mutex_lock(&s->mu);
        s->exited = 0;
        pthread_mutex_unlock(&s->mu);
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        lcd_error *e = lcd_client_create(sh->client, id, sh->spec, NULL);
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
        int64_t ev = s->seen_at - s->exited_at;
        pthread_mutex_unlock(&s->mu);
        double lat = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
        pthread_mutex_lock(&sh->mu);
        sh->lat_ms[sh->n] = lat;
        sh->event_ms[sh->n] = (double)ev / 1e6;
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
        fprintf(stderr, "usage: %s lifecycle|boundary SOCKET STATE_DIR SPEC NAMESPACE PREFIX ITERS [WORKERS]\n", argv[0]);
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
    lcd_error *e = lcd_remote_new(options, &remote);
    if (e)
        die("remote", e);
    lcd_backend backend = {
        .struct_size = sizeof(lcd_backend),
        .user_data = &sh,
        .state_changed = state_changed,
        .attach_streams = NULL,
        .user_data_free = NULL,
    };
    e = lcd_remote_client(remote, &backend, &sh.client);
    if (e)
        die("client", e);

    if (strcmp(mode, "lifecycle") == 0) {
        sh.lat_ms = calloc((size_t)sh.iters + 1, sizeof(double));
        sh.event_ms = calloc((size_t)sh.iters + 1, sizeof(double));
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
        printf("{");
        print_array("lat_ms", sh.lat_ms, sh.n);
        printf(", ");
        print_array("event_ms", sh.event_ms, sh.n);
        printf(", \"elapsed_s\": %.6f, \"n\": %d, \"cpu_ms\": %.3f, \"failures\": %d}\n", elapsed, sh.n,
               cpu_ms() - cpu0, sh.failures);
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
                e = lcd_client_list(sh.client, &json);
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
