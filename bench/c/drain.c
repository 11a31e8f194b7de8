/* Reads standard input to its end with 64 KiB reads and prints, as JSON, how many
 * bytes came and the rate from the first byte to the last (GB/s): the reader the
 * harness puts behind ctr and behind a plain host pipe. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    static char buf[64 << 10];
    uint64_t total = 0;
    double first = 0, last = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n <= 0)
            break;
        last = now();
        if (total == 0)
            first = last;
        total += (uint64_t)n;
    }
    double secs = last - first;
    printf("{\"bytes\": %llu, \"gbps\": %.4f}\n", (unsigned long long)total,
            secs > 0 ? (double)total / secs / 1e9 : 0.0);
    return 0;
}
