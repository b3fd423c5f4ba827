/* progress.c — the ingest progress bar: "[#####.....]  42%  120.0/285.3 MB
 * 95.2 MB/s  0:02 left" redrawn in place with \r on a terminal, at most
 * every 0.25 s. No output at all when stderr is not a terminal. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct sift_progress {
    uint64_t total;
    double t0, last;
    int drawn;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct sift_progress *sift_progress_new(uint64_t total, int disabled)
{
    if (disabled || !isatty(STDERR_FILENO)) return NULL;
    struct sift_progress *p = sift_xcalloc(1, sizeof *p);
    p->total = total ? total : 1;
    p->t0 = p->last = now();
    return p;
}

void sift_progress_update(struct sift_progress *p, uint64_t done)
{
    if (!p) return;
    double t = now();
    if (t - p->last < 0.25) return;
    p->last = t;
    if (done > p->total) done = p->total;
    double frac = (double)done / (double)p->total, el = t - p->t0;
    double rate = el > 0 ? (double)done / el : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char left[32] = "";
    if (rate > 0 && done < p->total) {
        long s = (long)((double)(p->total - done) / rate + 0.5);
        if (s >= 3600) snprintf(left, sizeof left, "%ld:%02ld:%02ld left", s / 3600, s / 60 % 60, s % 60);
        else snprintf(left, sizeof left, "%ld:%02ld left", s / 60, s % 60);
    }
    fprintf(stderr, "\r[%s] %3d%%  %.1f/%.1f MB  %.1f MB/s  %s\033[K", bar, (int)(frac * 100),
            (double)done / 1e6, (double)p->total / 1e6, rate / 1e6, left);
    fflush(stderr);
    p->drawn = 1;
}

void sift_progress_end(struct sift_progress *p)
{
    if (!p) return;
    if (p->drawn) fputs("\r\033[K", stderr);
    fflush(stderr);
    free(p);
}
