/* A deliberately faulty host program: it checks that the sanitizer and valgrind runs
 * of the C tests really see the library's allocations. `canary leak` drops an error
 * object from the library without lcd_error_free; `canary use-after-free` reads an
 * error's message after lcd_error_free. Under either tool each must be reported
 * (exit code 23, see tests/c/Makefile's asan-canary and valgrind-canary). */
#include <stdio.h>
#include <string.h>

#include "libcontainerd.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s leak|use-after-free\n", argv[0]);
        return 2;
    }
    struct lcd_remote *r = NULL;
    struct lcd_error *e = lcd_remote_new("{not json", &r, NULL);
    if (e == NULL) {
        fprintf(stderr, "canary: lcd_remote_new accepted invalid JSON\n");
        return 2;
    }
    if (strcmp(argv[1], "leak") == 0) {
        printf("canary: leaking an lcd_error: %s\n", lcd_error_message(e));
        e = NULL;
        return 0;
    }
    if (strcmp(argv[1], "use-after-free") == 0) {
        const char *msg = lcd_error_message(e);
        lcd_error_free(e);
        printf("canary: message after free: %zu bytes\n", strlen(msg));
        return 0;
    }
    fprintf(stderr, "canary: unknown mode %s\n", argv[1]);
    lcd_error_free(e);
    return 2;
}
