/*
 * Hostile input through the C ABI, as a table: every row is one call with one bad
 * argument, the lcd_code it must return and what its message must name (the
 * argument, the key, the value). Covers NULL in every pointer position of every
 * export, invalid UTF-8, 10 MB strings, deeply nested JSON, wrong JSON types,
 * out-of-range numbers, unknown process ids, calls after lcd_remote_cleanup and
 * _free(NULL). Nothing a row does may create anything (checked with list at the end
 * of each part).
 *
 * usage: test_hostile <state_dir> [<rootfs>]   (needs root and containerd)
 * Without arguments only the rows that need no containerd run.
 */
#include "harness.h"

#include <signal.h>

static h_recorder rec;

/* ------------------------------------------------------------------------- */
/* The table                                                                 */

typedef enum op {
    OP_REMOTE_NEW,
    OP_UPDATE_OPTIONS,
    OP_REMOTE_CLIENT,
    OP_CLEANUP,
    OP_CREATE,
    OP_SIGNAL,
    OP_SIGNAL_PROCESS,
    OP_ADD_PROCESS,
    OP_RESIZE,
    OP_PAUSE,
    OP_RESUME,
    OP_RESTORE,
    OP_STATS,
    OP_GET_PIDS,
    OP_SUMMARY,
    OP_UPDATE_RESOURCES,
    OP_LIST,
    OP_ERROR_NEW,
} op;

/* Which handle or out-parameter of a row is NULL. */
#define NULL_HANDLE 1u  /* the lcd_remote * or lcd_client * */
#define NULL_OUT 2u     /* the out-parameter */
#define NULL_BACKEND 4u /* lcd_remote_client's table */

/*
 * A string argument is used as written (NULL is passed as NULL), except for these
 * tokens, built at run time:
 *   "@spec"          a valid OCI spec for the test rootfs
 *   "@huge"          a 10 MB string of 'a'
 *   "@huge:<fmt>"    <fmt> with its "%s" replaced by the 10 MB string
 *   "@deep:<prefix>" <prefix> followed by 100000 '[' (nesting far past any limit)
 *   "@run"           the id of the running container of the second part
 */
typedef struct row {
    const char *name;
    op op;
    unsigned nulls;
    const char *id;
    const char *pid;
    const char *json;  /* options_json, spec_json, process_json, resources_json */
    const char *json2; /* create's options_json */
    int sig;
    uint32_t w, h;
    lcd_code code;
    const char *needle;  /* the message contains this */
    const char *needle2; /* and this (optional) */
} row;

#define HUGE_LEN (10u * 1024u * 1024u)
#define DEEP_LEN 100000u

static const char *rootfs_path;
static const char *running_id = "hostile-run";

/* Resolves a token; the result is freed with `release` when it was built. */
static char *resolve(const char *s, bool *built) {
    *built = false;
    if (s == NULL || s[0] != '@') {
        return (char *)s;
    }
    *built = true;
    if (strcmp(s, "@spec") == 0) {
        return h_spec(rootfs_path, "hostile", (const char *const[]){"sleep", "600", NULL});
    }
    if (strcmp(s, "@run") == 0) {
        *built = false;
        return (char *)running_id;
    }
    if (strcmp(s, "@huge") == 0 || strncmp(s, "@huge:", 6) == 0) {
        const char *fmt = s[5] == ':' ? s + 6 : "%s";
        const char *hole = strstr(fmt, "%s");
        size_t pre = (size_t)(hole - fmt), post = strlen(hole + 2);
        char *buf = malloc(pre + HUGE_LEN + post + 1);
        if (buf == NULL) {
            h_bail("out of memory");
        }
        memcpy(buf, fmt, pre);
        memset(buf + pre, 'a', HUGE_LEN);
        memcpy(buf + pre + HUGE_LEN, hole + 2, post + 1);
        return buf;
    }
    if (strncmp(s, "@deep:", 6) == 0) {
        size_t pre = strlen(s + 6);
        char *buf = malloc(pre + DEEP_LEN + 1);
        if (buf == NULL) {
            h_bail("out of memory");
        }
        memcpy(buf, s + 6, pre);
        memset(buf + pre, '[', DEEP_LEN);
        buf[pre + DEEP_LEN] = '\0';
        return buf;
    }
    h_bail("unknown token %s", s);
    return NULL;
}

typedef struct handles {
    lcd_remote *remote;
    lcd_client *client;
} handles;

static int marker;
#define SENTINEL ((void *)&marker)

/* Makes the call of row `r` and checks its code, its message and that the
 * out-parameter was left alone. */
static void run_row(const row *r, handles *hs) {
    bool b_id, b_pid, b_json, b_json2;
    char *id = resolve(r->id, &b_id);
    char *pid = resolve(r->pid, &b_pid);
    char *json = resolve(r->json, &b_json);
    char *json2 = resolve(r->json2, &b_json2);
    lcd_remote *rm = (r->nulls & NULL_HANDLE) ? NULL : hs->remote;
    lcd_client *c = (r->nulls & NULL_HANDLE) ? NULL : hs->client;
    bool null_out = (r->nulls & NULL_OUT) != 0;
    char *s = SENTINEL;
    char **sp = null_out ? NULL : &s;
    lcd_remote *new_remote = SENTINEL;
    lcd_client *new_client = SENTINEL;
    lcd_backend b = h_backend(&rec);
    lcd_error *e = NULL;

    switch (r->op) {
    case OP_REMOTE_NEW:
        e = lcd_remote_new(json, null_out ? NULL : &new_remote, NULL);
        break;
    case OP_UPDATE_OPTIONS:
        e = lcd_remote_update_options(rm, json);
        break;
    case OP_REMOTE_CLIENT:
        e = lcd_remote_client(rm, (r->nulls & NULL_BACKEND) ? NULL : &b, null_out ? NULL : &new_client, NULL);
        break;
    case OP_CLEANUP:
        e = lcd_remote_cleanup(rm, NULL);
        break;
    case OP_CREATE:
        e = lcd_client_create(c, id, json, json2, NULL);
        break;
    case OP_SIGNAL:
        e = lcd_client_signal(c, id, r->sig, NULL);
        break;
    case OP_SIGNAL_PROCESS:
        e = lcd_client_signal_process(c, id, pid, r->sig, NULL);
        break;
    case OP_ADD_PROCESS:
        e = lcd_client_add_process(c, id, pid, json, NULL);
        break;
    case OP_RESIZE:
        e = lcd_client_resize(c, id, pid, r->w, r->h, NULL);
        break;
    case OP_PAUSE:
        e = lcd_client_pause(c, id, NULL);
        break;
    case OP_RESUME:
        e = lcd_client_resume(c, id, NULL);
        break;
    case OP_RESTORE:
        e = lcd_client_restore(c, id, json, NULL);
        break;
    case OP_STATS:
        e = lcd_client_stats(c, id, sp, NULL);
        break;
    case OP_GET_PIDS:
        e = lcd_client_get_pids(c, id, sp, NULL);
        break;
    case OP_SUMMARY:
        e = lcd_client_summary(c, id, sp, NULL);
        break;
    case OP_UPDATE_RESOURCES:
        e = lcd_client_update_resources(c, id, json, NULL);
        break;
    case OP_LIST:
        e = lcd_client_list(c, sp, NULL);
        break;
    case OP_ERROR_NEW:
        e = lcd_error_new(r->sig, json);
        break;
    }

    /* The whole message is searched: with a 10 MB input it may quote part of it. */
    lcd_code code = lcd_error_code(e);
    const char *msg = lcd_error_message(e);
    bool good = code == r->code && (r->needle == NULL || strstr(msg, r->needle) != NULL) &&
                (r->needle2 == NULL || strstr(msg, r->needle2) != NULL);
    h_ok(good, r->name, "want %s naming \"%s\"%s%s%s, got %s: %.300s (%zu bytes)", lcd_code_name((int32_t)r->code),
         r->needle ? r->needle : "", r->needle2 ? " and \"" : "", r->needle2 ? r->needle2 : "",
         r->needle2 ? "\"" : "", lcd_code_name((int32_t)code), msg, strlen(msg));
    /* A refused value is quoted in part: a 10 MB input never makes a 10 MB message
     * (lcd_error_new keeps the caller's own message whole). */
    if (r->op != OP_ERROR_NEW) {
        h_ok(strlen(msg) <= 1024, r->name, "a %zu-byte message", strlen(msg));
    }
    lcd_error_free(e);
    if (r->code != LCD_OK) {
        h_ok(s == SENTINEL && new_remote == SENTINEL && new_client == SENTINEL, r->name,
             "an out-parameter was written by a failed call");
    }
    if (b_id) free(id);
    if (b_pid) free(pid);
    if (b_json) free(json);
    if (b_json2) free(json2);
}

static void run_table(const row *rows, size_t n, handles *hs) {
    for (size_t i = 0; i < n; i++) {
        run_row(&rows[i], hs);
    }
}

#define INV LCD_INVALID_ARGUMENT
#define PROC "{\"args\":[\"true\"]}"

/* ------------------------------------------------------------------------- */
/* Part 1: no containerd needed                                              */

static const row no_daemon_rows[] = {
    /* lcd_remote_new: every row is invalid, so no daemon is ever started. */
    {.name = "remote_new: NULL out", .op = OP_REMOTE_NEW, .nulls = NULL_OUT, .json = "{}", .code = INV, .needle = "out is NULL"},
    {.name = "remote_new: invalid UTF-8", .op = OP_REMOTE_NEW, .json = "{\"state_dir\":\"/tmp/\xc3\x28\"}", .code = INV, .needle = "options_json", .needle2 = "UTF-8"},
    {.name = "remote_new: 10 MB namespace", .op = OP_REMOTE_NEW, .json = "@huge:{\"namespace\":\"%s\"}", .code = INV, .needle = "namespace", .needle2 = "10485760"},
    {.name = "remote_new: 10 MB unknown key", .op = OP_REMOTE_NEW, .json = "@huge:{\"%s\":1}", .code = INV, .needle = "unknown field"},
    {.name = "remote_new: 10 MB state_dir", .op = OP_REMOTE_NEW, .json = "@huge:{\"state_dir\":\"/%s\"}", .code = INV, .needle = "state_dir", .needle2 = "too long"},
    {.name = "remote_new: deeply nested", .op = OP_REMOTE_NEW, .json = "@deep:{\"runtime_args\":", .code = INV, .needle = "remote options", .needle2 = "runtime_args[0]"},
    {.name = "remote_new: deeply nested unknown key", .op = OP_REMOTE_NEW, .json = "@deep:{\"x\":", .code = INV, .needle = "remote options", .needle2 = "unknown field `x`"},
    {.name = "remote_new: not an object", .op = OP_REMOTE_NEW, .json = "[\"state_dir\"]", .code = INV, .needle = "remote options", .needle2 = "expected an object"},
    {.name = "remote_new: empty string", .op = OP_REMOTE_NEW, .json = "", .code = INV, .needle = "remote options", .needle2 = "expected an object"},
    {.name = "remote_new: trailing garbage", .op = OP_REMOTE_NEW, .json = "{} x", .code = INV, .needle = "remote options", .needle2 = "trailing"},
    {.name = "remote_new: oom_score wrong type", .op = OP_REMOTE_NEW, .json = "{\"oom_score\":\"high\"}", .code = INV, .needle = "oom_score", .needle2 = "invalid type"},
    {.name = "remote_new: start_daemon wrong type", .op = OP_REMOTE_NEW, .json = "{\"start_daemon\":1}", .code = INV, .needle = "start_daemon"},
    {.name = "remote_new: shim_pool out of range", .op = OP_REMOTE_NEW, .json = "{\"shim_pool\":65}", .code = INV, .needle = "shim_pool 65"},
    {.name = "remote_new: runtime_args wrong type", .op = OP_REMOTE_NEW, .json = "{\"runtime_args\":\"--debug\"}", .code = INV, .needle = "runtime_args"},
    {.name = "remote_new: runtime_args element wrong type", .op = OP_REMOTE_NEW, .json = "{\"runtime_args\":[1]}", .code = INV, .needle = "runtime_args[0]"},
    {.name = "remote_new: state_dir null byte", .op = OP_REMOTE_NEW, .json = "{\"state_dir\":\"/tmp/a\\u0000b\"}", .code = INV, .needle = "state_dir", .needle2 = "NUL"},
    {.name = "remote_new: oom_score 5000", .op = OP_REMOTE_NEW, .json = "{\"oom_score\":5000}", .code = INV, .needle = "oom_score", .needle2 = "5000"},
    {.name = "remote_new: oom_score -1001", .op = OP_REMOTE_NEW, .json = "{\"oom_score\":-1001}", .code = INV, .needle = "oom_score", .needle2 = "-1001"},
    {.name = "remote_new: oom_score beyond i32", .op = OP_REMOTE_NEW, .json = "{\"oom_score\":4294967296}", .code = INV, .needle = "oom_score", .needle2 = "4294967296"},
    {.name = "remote_new: oom_score fraction", .op = OP_REMOTE_NEW, .json = "{\"oom_score\":1.5}", .code = INV, .needle = "oom_score", .needle2 = "1.5"},
    {.name = "remote_new: namespace traversal", .op = OP_REMOTE_NEW, .json = "{\"namespace\":\"../x\"}", .code = INV, .needle = "namespace", .needle2 = "../x"},
    {.name = "remote_new: relative remote_addr", .op = OP_REMOTE_NEW, .json = "{\"remote_addr\":\"c.sock\"}", .code = INV, .needle = "remote_addr", .needle2 = "c.sock"},
    {.name = "remote_new: no daemon, no address", .op = OP_REMOTE_NEW, .json = "{\"start_daemon\":false}", .code = INV, .needle = "remote_addr"},
    {.name = "remote_new: a daemon to start and an address", .op = OP_REMOTE_NEW, .json = "{\"start_daemon\":true,\"remote_addr\":\"/run/x/containerd.sock\"}", .code = INV, .needle = "start_daemon", .needle2 = "remote_addr"},

    /* NULL handles: every export that takes one. */
    {.name = "update_options: NULL r", .op = OP_UPDATE_OPTIONS, .nulls = NULL_HANDLE, .json = "{}", .code = INV, .needle = "r (lcd_remote *) is NULL"},
    {.name = "remote_client: NULL r", .op = OP_REMOTE_CLIENT, .nulls = NULL_HANDLE, .code = INV, .needle = "r (lcd_remote *) is NULL"},
    {.name = "remote_cleanup: NULL r", .op = OP_CLEANUP, .nulls = NULL_HANDLE, .code = INV, .needle = "r (lcd_remote *) is NULL"},
    {.name = "create: NULL c", .op = OP_CREATE, .nulls = NULL_HANDLE, .id = "a", .json = "{}", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "signal: NULL c", .op = OP_SIGNAL, .nulls = NULL_HANDLE, .id = "a", .sig = SIGTERM, .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "signal_process: NULL c", .op = OP_SIGNAL_PROCESS, .nulls = NULL_HANDLE, .id = "a", .pid = "init", .sig = SIGTERM, .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "add_process: NULL c", .op = OP_ADD_PROCESS, .nulls = NULL_HANDLE, .id = "a", .pid = "p", .json = PROC, .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "resize: NULL c", .op = OP_RESIZE, .nulls = NULL_HANDLE, .id = "a", .pid = "init", .w = 80, .h = 24, .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "pause: NULL c", .op = OP_PAUSE, .nulls = NULL_HANDLE, .id = "a", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "resume: NULL c", .op = OP_RESUME, .nulls = NULL_HANDLE, .id = "a", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "restore: NULL c", .op = OP_RESTORE, .nulls = NULL_HANDLE, .id = "a", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "stats: NULL c", .op = OP_STATS, .nulls = NULL_HANDLE, .id = "a", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "get_pids: NULL c", .op = OP_GET_PIDS, .nulls = NULL_HANDLE, .id = "a", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "summary: NULL c", .op = OP_SUMMARY, .nulls = NULL_HANDLE, .id = "a", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "update_resources: NULL c", .op = OP_UPDATE_RESOURCES, .nulls = NULL_HANDLE, .id = "a", .json = "{}", .code = INV, .needle = "c (lcd_client *) is NULL"},
    {.name = "list: NULL c", .op = OP_LIST, .nulls = NULL_HANDLE, .code = INV, .needle = "c (lcd_client *) is NULL"},

    /* lcd_error_new: a NULL message is an empty one; an invalid code is INTERNAL
     * naming it; invalid UTF-8 in a message is replaced, not refused. */
    {.name = "error_new: NULL message", .op = OP_ERROR_NEW, .sig = LCD_NOT_FOUND, .json = NULL, .code = LCD_NOT_FOUND, .needle = ""},
    {.name = "error_new: code -1", .op = OP_ERROR_NEW, .sig = -1, .json = "m", .code = LCD_INTERNAL, .needle = "invalid error code -1"},
    {.name = "error_new: code 12", .op = OP_ERROR_NEW, .sig = 12, .json = "m", .code = LCD_INTERNAL, .needle = "invalid error code 12"},
    {.name = "error_new: code 11", .op = OP_ERROR_NEW, .sig = 11, .json = "m", .code = LCD_PERMISSION_DENIED, .needle = "m"},
    {.name = "error_new: invalid UTF-8 message", .op = OP_ERROR_NEW, .sig = LCD_IO, .json = "bad \xff byte", .code = LCD_IO, .needle = "bad \xef\xbf\xbd byte"},
    {.name = "error_new: 10 MB message", .op = OP_ERROR_NEW, .sig = LCD_IO, .json = "@huge", .code = LCD_IO, .needle = "aaaaaaaa"},
};

static void without_containerd(void) {
    handles hs = {NULL, NULL};
    run_table(no_daemon_rows, sizeof no_daemon_rows / sizeof no_daemon_rows[0], &hs);

    /* The functions without an lcd_error: NULL is harmless. */
    h_ok(lcd_error_code(NULL) == LCD_OK, "error_code(NULL) is LCD_OK", "");
    h_ok(strcmp(lcd_error_message(NULL), "") == 0, "error_message(NULL) is empty", "");
    h_ok(strcmp(lcd_code_name(-1), "UNKNOWN") == 0 && strcmp(lcd_code_name(INT32_MAX), "UNKNOWN") == 0,
         "code_name of out-of-range codes", "");
    lcd_error_free(NULL);
    lcd_string_free(NULL);
    lcd_client_free(NULL);
    lcd_remote_free(NULL);
    h_ok(true, "every _free(NULL) is a no-op", "");
}

/* ------------------------------------------------------------------------- */
/* Part 2: a remote and a client                                             */

static const row client_rows[] = {
    /* NULL in every other pointer position. */
    {.name = "update_options: NULL options_json changes nothing", .op = OP_UPDATE_OPTIONS, .json = NULL, .code = LCD_OK},
    {.name = "remote_client: NULL backend", .op = OP_REMOTE_CLIENT, .nulls = NULL_BACKEND, .code = INV, .needle = "backend is NULL"},
    {.name = "remote_client: NULL out", .op = OP_REMOTE_CLIENT, .nulls = NULL_OUT, .code = INV, .needle = "out is NULL"},
    {.name = "create: NULL id", .op = OP_CREATE, .id = NULL, .json = "@spec", .code = INV, .needle = "id is NULL"},
    {.name = "create: NULL spec_json", .op = OP_CREATE, .id = "a", .json = NULL, .code = INV, .needle = "spec_json is NULL"},
    {.name = "signal: NULL id", .op = OP_SIGNAL, .id = NULL, .sig = SIGTERM, .code = INV, .needle = "id is NULL"},
    {.name = "signal_process: NULL id", .op = OP_SIGNAL_PROCESS, .id = NULL, .pid = "init", .sig = SIGTERM, .code = INV, .needle = "id is NULL"},
    {.name = "signal_process: NULL process_id", .op = OP_SIGNAL_PROCESS, .id = "a", .pid = NULL, .sig = SIGTERM, .code = INV, .needle = "process_id is NULL"},
    {.name = "add_process: NULL id", .op = OP_ADD_PROCESS, .id = NULL, .pid = "p", .json = PROC, .code = INV, .needle = "id is NULL"},
    {.name = "add_process: NULL process_id", .op = OP_ADD_PROCESS, .id = "a", .pid = NULL, .json = PROC, .code = INV, .needle = "process_id is NULL"},
    {.name = "add_process: NULL process_json", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = NULL, .code = INV, .needle = "process_json is NULL"},
    {.name = "resize: NULL id", .op = OP_RESIZE, .id = NULL, .pid = "init", .w = 80, .h = 24, .code = INV, .needle = "id is NULL"},
    {.name = "resize: NULL process_id", .op = OP_RESIZE, .id = "a", .pid = NULL, .w = 80, .h = 24, .code = INV, .needle = "process_id is NULL"},
    {.name = "pause: NULL id", .op = OP_PAUSE, .id = NULL, .code = INV, .needle = "id is NULL"},
    {.name = "resume: NULL id", .op = OP_RESUME, .id = NULL, .code = INV, .needle = "id is NULL"},
    {.name = "restore: NULL id", .op = OP_RESTORE, .id = NULL, .code = INV, .needle = "id is NULL"},
    {.name = "stats: NULL id", .op = OP_STATS, .id = NULL, .code = INV, .needle = "id is NULL"},
    {.name = "stats: NULL stats_json", .op = OP_STATS, .nulls = NULL_OUT, .id = "a", .code = INV, .needle = "stats_json is NULL"},
    {.name = "get_pids: NULL id", .op = OP_GET_PIDS, .id = NULL, .code = INV, .needle = "id is NULL"},
    {.name = "get_pids: NULL pids_json", .op = OP_GET_PIDS, .nulls = NULL_OUT, .id = "a", .code = INV, .needle = "pids_json is NULL"},
    {.name = "summary: NULL id", .op = OP_SUMMARY, .id = NULL, .code = INV, .needle = "id is NULL"},
    {.name = "summary: NULL summary_json", .op = OP_SUMMARY, .nulls = NULL_OUT, .id = "a", .code = INV, .needle = "summary_json is NULL"},
    {.name = "update_resources: NULL id", .op = OP_UPDATE_RESOURCES, .id = NULL, .json = "{}", .code = INV, .needle = "id is NULL"},
    {.name = "update_resources: NULL resources_json", .op = OP_UPDATE_RESOURCES, .id = "a", .json = NULL, .code = INV, .needle = "resources_json is NULL"},
    {.name = "list: NULL containers_json", .op = OP_LIST, .nulls = NULL_OUT, .code = INV, .needle = "containers_json is NULL"},

    /* Invalid UTF-8 in every string position. */
    {.name = "update_options: invalid UTF-8", .op = OP_UPDATE_OPTIONS, .json = "{\"namespace\":\"\xff\"}", .code = INV, .needle = "options_json is not valid UTF-8"},
    {.name = "create: invalid UTF-8 id", .op = OP_CREATE, .id = "a\xff", .json = "@spec", .code = INV, .needle = "id is not valid UTF-8"},
    {.name = "create: invalid UTF-8 spec_json", .op = OP_CREATE, .id = "a", .json = "{\"hostname\":\"\xc0\xaf\"}", .code = INV, .needle = "spec_json is not valid UTF-8"},
    {.name = "create: invalid UTF-8 options_json", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "{\"\xed\xa0\x80\":1}", .code = INV, .needle = "options_json is not valid UTF-8"},
    {.name = "signal_process: invalid UTF-8 process_id", .op = OP_SIGNAL_PROCESS, .id = "a", .pid = "\xfe", .sig = SIGTERM, .code = INV, .needle = "process_id is not valid UTF-8"},
    {.name = "add_process: invalid UTF-8 process_json", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[\"\x80\"]}", .code = INV, .needle = "process_json is not valid UTF-8"},
    {.name = "restore: invalid UTF-8 options_json", .op = OP_RESTORE, .id = "a", .json = "{\xff}", .code = INV, .needle = "options_json is not valid UTF-8"},
    {.name = "update_resources: invalid UTF-8", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "\xf8", .code = INV, .needle = "resources_json is not valid UTF-8"},
    {.name = "stats: invalid UTF-8 id", .op = OP_STATS, .id = "\xc3", .code = INV, .needle = "id is not valid UTF-8"},

    /* 10 MB strings. */
    {.name = "create: id with a trailing separator", .op = OP_CREATE, .id = "a-", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "start and end"},
    {.name = "create: id with doubled separators", .op = OP_CREATE, .id = "a..b", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "in a row"},
    {.name = "add_process: process id with doubled separators", .op = OP_ADD_PROCESS, .id = "a", .pid = "p_-q", .json = PROC, .code = INV, .needle = "process id", .needle2 = "in a row"},
    {.name = "create: 10 MB id", .op = OP_CREATE, .id = "@huge", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "is 10485760 bytes long"},
    {.name = "signal_process: 10 MB process_id", .op = OP_SIGNAL_PROCESS, .id = "a", .pid = "@huge", .sig = SIGTERM, .code = INV, .needle = "process id", .needle2 = "is 10485760 bytes long"},
    {.name = "add_process: 10 MB process_id", .op = OP_ADD_PROCESS, .id = "a", .pid = "@huge", .json = PROC, .code = INV, .needle = "process id", .needle2 = "is 10485760 bytes long"},
    {.name = "create: 10 MB root.path", .op = OP_CREATE, .id = "a", .json = "@huge:{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"true\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}},\"root\":{\"path\":\"/%s\"}}", .code = INV, .needle = "root.path", .needle2 = "not a directory"},
    {.name = "create: 10 MB unknown option", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "@huge:{\"%s\":1}", .code = INV, .needle = "create options", .needle2 = "unknown field"},
    {.name = "add_process: 10 MB cwd", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "@huge:{\"args\":[\"true\"],\"cwd\":\"%s\"}", .code = INV, .needle = "cwd", .needle2 = "absolute"},
    {.name = "update_options: 10 MB namespace", .op = OP_UPDATE_OPTIONS, .json = "@huge:{\"namespace\":\"%s\"}", .code = INV, .needle = "namespace", .needle2 = "is 10485760 bytes long"},
    {.name = "update_resources: 10 MB junk", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "@huge:{\"memory\":{\"limit\":%s}}", .code = INV, .needle = "resources", .needle2 = "memory.limit"},

    /* Deeply nested JSON: refused at the first value of the wrong type, or (where
     * unknown keys are skipped, without recursion) at the end of the input; never a
     * stack overflow. */
    {.name = "create: deeply nested spec", .op = OP_CREATE, .id = "a", .json = "@deep:{\"process\":", .code = INV, .needle = "OCI spec", .needle2 = "process"},
    {.name = "create: deeply nested extension", .op = OP_CREATE, .id = "a", .json = "@deep:{\"x-extension\":", .code = INV, .needle = "OCI spec JSON at x-extension", .needle2 = "EOF while parsing a list"},
    {.name = "create: deeply nested options", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "@deep:{\"runtime\":", .code = INV, .needle = "create options", .needle2 = "runtime[0]"},
    {.name = "add_process: deeply nested process", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "@deep:{\"args\":", .code = INV, .needle = "process", .needle2 = "args[0]"},
    {.name = "restore: deeply nested options", .op = OP_RESTORE, .id = "a", .json = "@deep:{\"restart_policy\":", .code = INV, .needle = "create options", .needle2 = "restart_policy"},
    {.name = "update_resources: deeply nested", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "@deep:{\"devices\":", .code = INV, .needle = "resources", .needle2 = "devices[0]"},
    {.name = "update_resources: deeply nested extension", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "@deep:{\"x\":", .code = INV, .needle = "resources JSON at x", .needle2 = "EOF while parsing a list"},
    {.name = "update_options: deeply nested", .op = OP_UPDATE_OPTIONS, .json = "@deep:{\"runtime_args\":", .code = INV, .needle = "remote options", .needle2 = "runtime_args[0]"},

    /* Wrong JSON types, named by their key path. */
    {.name = "create: spec not an object", .op = OP_CREATE, .id = "a", .json = "[1]", .code = INV, .needle = "OCI spec", .needle2 = "expected an object"},
    {.name = "create: process.args a string", .op = OP_CREATE, .id = "a", .json = "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":\"true\",\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}},\"root\":{\"path\":\"/\"}}", .code = INV, .needle = "process.args"},
    {.name = "create: process.user.uid negative", .op = OP_CREATE, .id = "a", .json = "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"true\"],\"cwd\":\"/\",\"user\":{\"uid\":-1,\"gid\":0}},\"root\":{\"path\":\"/\"}}", .code = INV, .needle = "process.user.uid", .needle2 = "-1"},
    {.name = "create: restart_policy.name a number", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "{\"restart_policy\":{\"name\":1}}", .code = INV, .needle = "restart_policy.name"},
    {.name = "create: restart_policy unknown name", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "{\"restart_policy\":{\"name\":\"sometimes\"}}", .code = INV, .needle = "restart_policy.name", .needle2 = "sometimes"},
    {.name = "create: maximum_retry_count negative", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "{\"restart_policy\":{\"name\":\"on-failure\",\"maximum_retry_count\":-1}}", .code = INV, .needle = "restart_policy.maximum_retry_count", .needle2 = "-1"},
    {.name = "create: runtime.args not a list", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "{\"runtime\":{\"path\":\"runc\",\"args\":\"--debug\"}}", .code = INV, .needle = "runtime.args"},
    {.name = "create: unknown nested option", .op = OP_CREATE, .id = "a", .json = "@spec", .json2 = "{\"runtime\":{\"path\":\"runc\",\"argv\":[]}}", .code = INV, .needle = "argv"},
    {.name = "add_process: args a string", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":\"true\"}", .code = INV, .needle = "args", .needle2 = "invalid type"},
    {.name = "add_process: terminal a string", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[\"true\"],\"terminal\":\"yes\"}", .code = INV, .needle = "terminal"},
    {.name = "add_process: env entry a number", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[\"true\"],\"env\":[1]}", .code = INV, .needle = "env[0]"},
    {.name = "add_process: user.uid too large", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[\"true\"],\"user\":{\"uid\":4294967296}}", .code = INV, .needle = "user.uid", .needle2 = "4294967296"},
    {.name = "add_process: rlimit without soft", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[\"true\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1}]}", .code = INV, .needle = "rlimits[0]", .needle2 = "soft"},
    {.name = "add_process: unknown nested key", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[\"true\"],\"user\":{\"uid\":0,\"username\":\"root\"}}", .code = INV, .needle = "username"},
    {.name = "add_process: empty args", .op = OP_ADD_PROCESS, .id = "a", .pid = "p", .json = "{\"args\":[]}", .code = INV, .needle = "args"},
    {.name = "update_resources: memory.limit a string", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "{\"memory\":{\"limit\":\"1g\"}}", .code = INV, .needle = "memory.limit"},
    {.name = "update_resources: not an object", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "null", .code = INV, .needle = "resources", .needle2 = "expected an object"},
    {.name = "update_options: oom_score wrong type", .op = OP_UPDATE_OPTIONS, .json = "{\"oom_score\":[]}", .code = INV, .needle = "oom_score"},

    /* Out-of-range numbers, named with their value. */
    {.name = "update_resources: negative memory limit", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "{\"memory\":{\"limit\":-5}}", .code = INV, .needle = "memory.limit", .needle2 = "-5"},
    {.name = "update_resources: negative memory swap", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "{\"memory\":{\"swap\":-2}}", .code = INV, .needle = "memory.swap", .needle2 = "-2"},
    {.name = "update_resources: negative pids limit", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "{\"pids\":{\"limit\":-9}}", .code = INV, .needle = "pids.limit", .needle2 = "-9"},
    {.name = "update_resources: cpu.shares negative", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "{\"cpu\":{\"shares\":-1}}", .code = INV, .needle = "cpu.shares", .needle2 = "-1"},
    {.name = "update_resources: memory.limit beyond i64", .op = OP_UPDATE_RESOURCES, .id = "a", .json = "{\"memory\":{\"limit\":9223372036854775808}}", .code = INV, .needle = "memory.limit"},
    {.name = "update_options: oom_score 5000", .op = OP_UPDATE_OPTIONS, .json = "{\"oom_score\":5000}", .code = INV, .needle = "oom_score", .needle2 = "5000"},
    {.name = "signal 0", .op = OP_SIGNAL, .id = "@run", .sig = 0, .code = INV, .needle = "signal 0"},
    {.name = "signal 65", .op = OP_SIGNAL, .id = "@run", .sig = 65, .code = INV, .needle = "signal 65"},
    {.name = "signal -1", .op = OP_SIGNAL, .id = "@run", .sig = -1, .code = INV, .needle = "signal -1"},
    {.name = "signal_process 0", .op = OP_SIGNAL_PROCESS, .id = "@run", .pid = "init", .sig = 0, .code = INV, .needle = "signal 0"},
    {.name = "signal_process INT32_MIN", .op = OP_SIGNAL_PROCESS, .id = "@run", .pid = "init", .sig = INT32_MIN, .code = INV, .needle = "signal -2147483648"},
    {.name = "resize 0x0", .op = OP_RESIZE, .id = "@run", .pid = "init", .w = 0, .h = 0, .code = INV, .needle = "0x0"},
    {.name = "resize 80x0", .op = OP_RESIZE, .id = "@run", .pid = "init", .w = 80, .h = 0, .code = INV, .needle = "80x0"},
    {.name = "resize 70000x24", .op = OP_RESIZE, .id = "@run", .pid = "init", .w = 70000, .h = 24, .code = INV, .needle = "70000x24"},

    /* Ids that would escape their directories. */
    {.name = "create: id ../x", .op = OP_CREATE, .id = "../x", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "\"../x\""},
    {.name = "create: id ..", .op = OP_CREATE, .id = "..", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "\"..\""},
    {.name = "create: absolute id", .op = OP_CREATE, .id = "/etc", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "\"/etc\""},
    {.name = "create: id with a slash", .op = OP_CREATE, .id = "a/../../b", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "'/'"},
    {.name = "create: 65-character id", .op = OP_CREATE, .id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", .json = "@spec", .code = INV, .needle = "container id", .needle2 = "is 65 bytes long"},
    {.name = "add_process: process id ../../x", .op = OP_ADD_PROCESS, .id = "@run", .pid = "../../x", .json = PROC, .code = INV, .needle = "process id", .needle2 = "\"../../x\""},
    {.name = "add_process: absolute process id", .op = OP_ADD_PROCESS, .id = "@run", .pid = "/tmp/x", .json = PROC, .code = INV, .needle = "process id", .needle2 = "\"/tmp/x\""},
    {.name = "add_process: empty process id", .op = OP_ADD_PROCESS, .id = "@run", .pid = "", .json = PROC, .code = INV, .needle = "process id is empty"},
    {.name = "add_process: process id init", .op = OP_ADD_PROCESS, .id = "@run", .pid = "init", .json = PROC, .code = INV, .needle = "\"init\" is reserved"},
    {.name = "resize: process id with a newline", .op = OP_RESIZE, .id = "@run", .pid = "a\nb", .w = 80, .h = 24, .code = INV, .needle = "process id", .needle2 = "'\\n'"},

    /* Unknown containers and processes: NOT_FOUND, naming them. */
    {.name = "signal_process: unknown process id", .op = OP_SIGNAL_PROCESS, .id = "@run", .pid = "nope", .sig = SIGTERM, .code = LCD_NOT_FOUND, .needle = "nope"},
    {.name = "resize: unknown process id", .op = OP_RESIZE, .id = "@run", .pid = "nope", .w = 80, .h = 24, .code = LCD_NOT_FOUND, .needle = "nope"},
    {.name = "signal: unknown container", .op = OP_SIGNAL, .id = "ghost", .sig = SIGTERM, .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "pause: unknown container", .op = OP_PAUSE, .id = "ghost", .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "resume: unknown container", .op = OP_RESUME, .id = "ghost", .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "add_process: unknown container", .op = OP_ADD_PROCESS, .id = "ghost", .pid = "p", .json = PROC, .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "stats: unknown container", .op = OP_STATS, .id = "ghost", .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "get_pids: unknown container", .op = OP_GET_PIDS, .id = "ghost", .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "summary: unknown container", .op = OP_SUMMARY, .id = "ghost", .code = LCD_NOT_FOUND, .needle = "ghost"},
    {.name = "update_resources: unknown container", .op = OP_UPDATE_RESOURCES, .id = "ghost", .json = "{\"pids\":{\"limit\":10}}", .code = LCD_NOT_FOUND, .needle = "ghost"},
};

/* After lcd_remote_cleanup: every call on the remote and its clients (closed by the
 * cleanup) is refused. */
static const row after_cleanup_rows[] = {
    {.name = "after cleanup: create", .op = OP_CREATE, .id = "late", .json = "@spec", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: signal", .op = OP_SIGNAL, .id = "@run", .sig = SIGTERM, .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: signal_process", .op = OP_SIGNAL_PROCESS, .id = "@run", .pid = "init", .sig = SIGTERM, .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: add_process", .op = OP_ADD_PROCESS, .id = "@run", .pid = "p", .json = PROC, .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: resize", .op = OP_RESIZE, .id = "@run", .pid = "init", .w = 80, .h = 24, .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: pause", .op = OP_PAUSE, .id = "@run", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: resume", .op = OP_RESUME, .id = "@run", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: restore", .op = OP_RESTORE, .id = "@run", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: stats", .op = OP_STATS, .id = "@run", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: get_pids", .op = OP_GET_PIDS, .id = "@run", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: summary", .op = OP_SUMMARY, .id = "@run", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: update_resources", .op = OP_UPDATE_RESOURCES, .id = "@run", .json = "{}", .code = LCD_FAILED_PRECONDITION, .needle = "the client has been closed"},
    {.name = "after cleanup: list", .op = OP_LIST, .code = LCD_FAILED_PRECONDITION, .needle = "closed"},
    {.name = "after cleanup: remote_client", .op = OP_REMOTE_CLIENT, .code = LCD_FAILED_PRECONDITION, .needle = "the remote has been cleaned up"},
    {.name = "after cleanup: update_options", .op = OP_UPDATE_OPTIONS, .json = "{\"oom_score\":0}", .code = LCD_FAILED_PRECONDITION, .needle = "the remote has been cleaned up"},
    {.name = "after cleanup: invalid arguments still come first", .op = OP_SIGNAL, .id = "../x", .sig = SIGTERM, .code = INV, .needle = "container id"},
    {.name = "after cleanup: a second cleanup is OK", .op = OP_CLEANUP, .code = LCD_OK},
};

static void expect_nothing_but(lcd_client *c, const char *only, const char *name) {
    char *json = NULL;
    if (h_ok_call(lcd_client_list(c, &json, NULL), "list")) {
        bool fine = only == NULL ? strcmp(json, "[]") == 0
                                 : (h_list_has(json, only) && strstr(json, "\"id\":\"a\"") == NULL &&
                                    strstr(json, "\"id\":\"late\"") == NULL);
        h_ok(fine, name, "%s", json);
        lcd_string_free(json);
    }
}

static void with_containerd(h_env *env) {
    h_setup(env, &rec);
    handles hs = {env->remote, env->client};

    char *spec = h_spec(env->rootfs, "hostile", (const char *const[]){"sleep", "600", NULL});
    if (!h_ok_call(lcd_client_create(env->client, running_id, spec, NULL, NULL), "create the running container")) {
        free(spec);
        return;
    }
    free(spec);

    run_table(client_rows, sizeof client_rows / sizeof client_rows[0], &hs);
    expect_nothing_but(env->client, running_id, "the table created nothing");

    h_ok_call(lcd_remote_cleanup(env->remote, NULL), "remote_cleanup");
    run_table(after_cleanup_rows, sizeof after_cleanup_rows / sizeof after_cleanup_rows[0], &hs);

    lcd_client_free(env->client);
    env->client = NULL;
    lcd_remote_free(env->remote);
    env->remote = NULL;
}

int main(int argc, char **argv) {
    /* A C program keeps SIGPIPE's default action (terminate): the library must never
     * raise it, for instance by writing to containerd's socket after a cleanup
     * stopped the daemon. */
    struct sigaction sa;
    h_ok(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL, "SIGPIPE has its default action", "");
    h_env env;
    h_recorder_init(&rec);
    bool daemon = h_args(argc, argv, &env, false);
    rootfs_path = env.rootfs;
    without_containerd();
    if (daemon) {
        with_containerd(&env);
    } else {
        printf("# no <state_dir> given: skipped the rows that need containerd\n");
    }
    return h_done();
}
