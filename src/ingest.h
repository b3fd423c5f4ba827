/* ingest.h — the pipeline from capture files to the database:
 * capture → wire → reasm (libnids) → dissect → smtp → mime → store. */
#ifndef SIFT_INGEST_H
#define SIFT_INGEST_H

#include "sift.h"

struct sift_detect_config;

struct sift_ingest_opts {
    const char *db_path;
    const char *const *paths;   /* files or directories, in the order given */
    size_t n_paths;
    int quiet;                  /* no summary */
    int verbose;
    const char *command_line;   /* recorded in the ingests table */
    int redact_secrets;         /* --redact-secrets: no AUTH passwords, no SASL data stored */
    int store_raw;              /* --store-raw: keep the bytes of messages in the database
                                 * (message_raw); otherwise the capture files are their store
                                 * (rebuild.h). Always kept for an ingest from memory. */
    const char *extract_dir;    /* --extract: write attachments there (created 0700), or NULL */
    const struct sift_detect_config *detect;   /* detection settings (detect.h), NULL = none */
    double mime_timeout;        /* --mime-timeout: CPU seconds one message may take to decode
                                 * (plus 0.2 s per MB); 0 = default (60), < 0 = no limit */
    /* For rebuild.c (reading captures again for their message bytes): */
    int rebuild;                /* no SHA-256 of the files, no detection, messages hashed and
                                 * stored but not decoded */
    int (*keep)(void *user, int version, const uint8_t *src, const uint8_t *dst);
    void *keep_user;            /* keep: only TCP between these addresses (sift_wire_set_filter) */
};

/* Runs one ingest. Returns the process exit code: 0 everything read, 1 some
 * input could not be read or the database failed (what was read is kept).
 * Messages go to stderr, one line each, naming the file. */
int sift_ingest_run(const struct sift_ingest_opts *o);

/* The same for one capture held in memory (len bytes of a pcap or pcapng file,
 * borrowed), recorded under the name o->paths[0] (o->n_paths must be 1): for
 * tests and the fuzz target. db_path may be ":memory:". */
int sift_ingest_memory(const struct sift_ingest_opts *o, const uint8_t *data, size_t len);

/* Async-signal-safe: stop reading, finish open sessions, commit. */
void sift_ingest_interrupt(void);

/* ---- the same pipeline fed frame by frame (live capture) ---- */

#include "capture.h"

#define SIFT_INGEST_COMMIT_INTERVAL 1.0   /* seconds: readers see new rows this soon */

struct sift_ingest_stream;
struct sift_ingest_counts { uint64_t sessions, messages, attachments, findings; };

/* Open db_path (created if needed), record a run and one capture row named
 * source (e.g. "live:eth0", format 'live'), start reassembly. Only one
 * pipeline (stream or file ingest) may run at a time: libnids is global.
 * Returns NULL with a one-line err if the database cannot be opened. */
struct sift_ingest_stream *sift_ingest_stream_open(const char *db_path, const char *command_line,
                                                   const char *source, char *err, size_t errlen);
/* Feed one frame (a sift_frame_fn: stream is the sift_ingest_stream). */
void sift_ingest_stream_frame(const struct sift_frame *f, void *stream);
/* A finding about the source itself (kernel drops, ...), tied to its capture row. */
void sift_ingest_stream_finding(struct sift_ingest_stream *s, const char *rule, enum sift_severity sev,
                                const char *detail, const struct sift_pktref *where);
/* Call often (at least every few hundred ms): commits when the last commit is
 * SIFT_INGEST_COMMIT_INTERVAL old, or now if force. Returns the sticky
 * database error, or NULL. */
const char *sift_ingest_stream_tick(struct sift_ingest_stream *s, int force);
void sift_ingest_stream_counts(const struct sift_ingest_stream *s, struct sift_ingest_counts *c);
/* End of input: every open connection is finished and stored, the capture row
 * gets info, status ('complete', 'failed', ...) and error (may be NULL), all is
 * committed and the database closed; s is freed. final (may be NULL) gets the
 * run's counts. Returns 0, or 1 if the database failed (message printed). */
int sift_ingest_stream_close(struct sift_ingest_stream *s, const struct sift_capture_info *info,
                             const char *status, const char *error, struct sift_ingest_counts *final);

#endif
