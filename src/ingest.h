/* ingest.h — the pipeline from capture files to the database:
 * capture → wire → reasm (libnids) → dissect → smtp → mime → store. */
#ifndef SIFT_INGEST_H
#define SIFT_INGEST_H

#include "sift.h"

struct sift_ingest_opts {
    const char *db_path;
    const char *const *paths;   /* files or directories, in the order given */
    size_t n_paths;
    int quiet;                  /* no summary */
    int verbose;
    const char *command_line;   /* recorded in the ingests table */
};

/* Runs one ingest. Returns the process exit code: 0 everything read, 1 some
 * input could not be read or the database failed (what was read is kept).
 * Messages go to stderr, one line each, naming the file. */
int sift_ingest_run(const struct sift_ingest_opts *o);

/* Async-signal-safe: stop reading, finish open sessions, commit. */
void sift_ingest_interrupt(void);

#endif
