/* workq.h — worker threads running a job function over a FIFO of jobs; the
 * owner takes finished jobs back in the order it submitted them (jobs start
 * in that order and may finish out of it).
 *
 * The capture thread (libpcap, libnids, the dissector, SQLite) submits each
 * finished message; the worker decodes and hashes it on the second core; the
 * capture thread stores the results in submission order, so the database sees
 * the same sequence of rows as a single-threaded run.
 *
 * Bounds: at most max_jobs jobs and max_bytes bytes (the weights given at
 * submit) are queued; sift_workq_full says when the owner must wait.
 *
 * Watchdog: a job whose work runs longer than its CPU-time limit (measured on
 * the worker thread's own CPU clock, so a loaded machine does not trigger it)
 * is given up: the owner gets it back with SIFT_WORKQ_TIMEOUT, the stuck
 * thread is left to itself (it owns the job's inputs from then on and must
 * not touch shared state; see sift_workq_abandoned) and a fresh worker takes
 * the next job. After max_abandoned such threads no more work is run: jobs
 * come back SIFT_WORKQ_SKIPPED. Without a thread (creation failed, or
 * threads == 0) the work runs inside submit. */
#ifndef SIFT_WORKQ_H
#define SIFT_WORKQ_H

#include <stddef.h>
#include <stdint.h>

enum sift_workq_status { SIFT_WORKQ_DONE = 0, SIFT_WORKQ_PASS, SIFT_WORKQ_TIMEOUT, SIFT_WORKQ_SKIPPED };

/* Runs on the worker. token identifies the run for sift_workq_abandoned. */
typedef void (*sift_workq_fn)(void *job, void *ctx, const volatile int *abandoned);

struct sift_workq_opts {
    size_t max_jobs;          /* [256] */
    uint64_t max_bytes;       /* [64 MiB] sum of weights */
    double cpu_limit_s;       /* [0 = no watchdog] base CPU seconds per job */
    double cpu_per_mb;        /* added per 10^6 bytes of weight */
    unsigned max_abandoned;   /* [2] */
    void (*drop)(void *job);  /* a given-up worker that returns after all frees its job with this */
    int threads;              /* worker threads (1 when opts is NULL, at most
                                 SIFT_WORKQ_MAX_THREADS); 0: run inline */
};

#define SIFT_WORKQ_MAX_THREADS 16

struct sift_workq;

struct sift_workq *sift_workq_new(sift_workq_fn fn, void *ctx, const struct sift_workq_opts *o);
/* Queues job; with needs_work == 0 the job only keeps its place in the order
 * (it comes back SIFT_WORKQ_PASS without running). */
void sift_workq_submit(struct sift_workq *q, void *job, uint64_t weight, int needs_work);
/* 1 if the queue is at its bounds (the owner should take jobs back, waiting). */
int sift_workq_full(const struct sift_workq *q);
/* Number of jobs submitted and not yet taken back. */
size_t sift_workq_pending(const struct sift_workq *q);
/* The oldest job if it is finished (status in *st), else NULL. With wait, blocks
 * until the oldest job finishes (or times out); NULL only when nothing is pending. */
void *sift_workq_take(struct sift_workq *q, int wait, enum sift_workq_status *st);
/* Cheap unlocked hint that the oldest job may be finished. */
int sift_workq_ready_hint(const struct sift_workq *q);
/* Number of worker threads given up so far. */
unsigned sift_workq_abandoned_count(const struct sift_workq *q);
/* Stops the worker (pending jobs must have been taken back) and frees q. */
void sift_workq_free(struct sift_workq *q);

#endif
