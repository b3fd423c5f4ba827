/* store.h — the SQLite database: schema migrations (schema/NNN_*.sql through
 * PRAGMA user_version), prepared inserts in batched transactions, WAL mode,
 * idempotent re-ingest by capture SHA-256, and read-only queries for the CLI.
 * The only module that includes <sqlite3.h>. Every string is copied on bind. */
#ifndef SIFT_STORE_H
#define SIFT_STORE_H

#include "sift.h"
#include "smtp.h"
#include "mime.h"
#include "reasm.h"
#include "capture.h"

struct sift_store;

/* Open (creating if needed) the database at path for writing and bring its
 * schema up to date. A file that is not a smtpsift database, or one written by
 * a newer schema version, is refused with SIFT_ERR_DB and a one-line err. */
enum sift_status sift_store_open(const char *path, struct sift_store **out, char *err, size_t errlen);

/* Open an existing database read-only for queries (no schema changes). */
enum sift_status sift_store_open_readonly(const char *path, struct sift_store **out, char *err, size_t errlen);

/* Commit what is pending, checkpoint the WAL and close. NULL is fine. */
void sift_store_close(struct sift_store *st);

/* The first error met while writing (sticky), or NULL. After an error every
 * write is ignored; the open transaction is rolled back at close. */
const char *sift_store_error(const struct sift_store *st);

/* Commit the open batch (if any). Returns SIFT_OK or SIFT_ERR_DB. */
enum sift_status sift_store_commit(struct sift_store *st);
/* Bulk mode for a file ingest (on = 1, at the start; on = 0 after the last
 * commit): a rollback journal (journal_mode=DELETE, synchronous=FULL) instead
 * of the WAL, so the pages a run appends (most of them: message bytes) are
 * written once instead of twice (WAL, then checkpoint). Crash-safe the same
 * way; readers wait while a batch is written. Off: back to WAL. Does nothing
 * if another connection keeps the database in WAL, or for ":memory:". Call
 * outside a transaction (sift_store_commit first). */
void sift_store_bulk(struct sift_store *st, int on);

/* Rows written between unit_begin and unit_end reach the database in one
 * transaction: a batch commit that falls due inside waits for the end (units
 * nest). A message and its findings are a unit, so a crash never leaves half
 * of one visible. */
void sift_store_unit_begin(struct sift_store *st);
void sift_store_unit_end(struct sift_store *st);

/* Runs. */
int64_t sift_store_ingest_begin(struct sift_store *st, const char *command_line);
void sift_store_ingest_end(struct sift_store *st, int64_t ingest_id, const char *status);

/* Captures. Returns the id of a finished capture (complete or truncated) with
 * this SHA-256, or 0 if none. */
int64_t sift_store_capture_find(struct sift_store *st, const char *sha256);
/* Delete every unfinished capture (running/interrupted/failed) with this
 * SHA-256 and all rows that came from it. Returns how many were removed. */
int sift_store_capture_forget(struct sift_store *st, const char *sha256);
/* The same by fingerprint (see sift_hash_fingerprint): returns the id of a
 * finished capture with this fingerprint and copies its SHA-256 into sha_out,
 * or 0. The caller confirms with the full hash before skipping a file. */
int64_t sift_store_capture_find_fp(struct sift_store *st, const char *fingerprint, char sha_out[65]);
/* Delete unfinished captures with this fingerprint and their rows. */
int sift_store_capture_forget_fp(struct sift_store *st, const char *fingerprint);
/* Record a capture's fingerprint and (once known) full SHA-256 (NULL: leave as is). */
void sift_store_capture_set_hash(struct sift_store *st, int64_t capture_id, const char *sha256,
                                 const char *fingerprint);
int64_t sift_store_capture_add(struct sift_store *st, int64_t ingest_id, uint32_t file_idx,
                               const char *path, const char *sha256, uint64_t size);
/* captures.realpath: the file's absolute path (NULL: unknown). */
void sift_store_capture_set_realpath(struct sift_store *st, int64_t capture_id, const char *realpath);
void sift_store_capture_finish(struct sift_store *st, int64_t capture_id,
                               const struct sift_capture_info *info, const char *status,
                               const char *error);

/* Sessions. Returns the new session id. */
int64_t sift_store_session_open(struct sift_store *st, const struct sift_flow_info *fi,
                                const char *uid);
struct sift_store_session_end {
    const struct sift_smtp_session *smtp;   /* may be NULL */
    enum sift_close_reason reason;
    struct sift_pktref last;
    uint64_t bytes_c2s, bytes_s2c;
    uint32_t n_messages;
    const char *reassembly;                  /* "complete", ... (struct sift_flow_end) */
};
void sift_store_session_close(struct sift_store *st, int64_t session_id,
                              const struct sift_store_session_end *end);

/* A command row. With redaction on, an AUTH command keeps only its mechanism
 * (args and line lose the SASL initial response). */
/* Bytes of the session missing from the capture (sessions.gap_bytes). */
void sift_store_session_gap(struct sift_store *st, int64_t session_id, uint64_t gap_bytes);

void sift_store_command(struct sift_store *st, int64_t session_id, const struct sift_smtp_cmd *c);

/* --redact-secrets: from now on store no password (auth_attempts.password NULL)
 * and no SASL data (see sift_store_command). Off by default. */
void sift_store_set_redact(struct sift_store *st, int redact);
/* no_raw: from now on the bytes of messages are not stored (no message_raw rows;
 * messages.size and .sha256 still are, and everything decoded from them): the
 * capture file is their store (rebuild.h). The default is to store them. */
void sift_store_set_no_raw(struct sift_store *st, int no_raw);

/* One AUTH attempt (schema/002_protocol.sql: auth_attempts); a is borrowed. */
void sift_store_auth(struct sift_store *st, int64_t session_id, const struct sift_smtp_auth *a);

/* One XCLIENT/XFORWARD command (table xclient); x is borrowed. */
void sift_store_xclient(struct sift_store *st, int64_t session_id, const struct sift_smtp_xclient *x);

/* One mail transaction with its parsed content (mime may be NULL when there
 * was no content). sha256 is of t->content (NULL if none). Returns message id. */
int64_t sift_store_message(struct sift_store *st, int64_t session_id,
                           const struct sift_smtp_txn *t, const struct sift_mime_summary *mime,
                           const char *sha256);

/* A finding; any of the ids may be 0 (none). where may be NULL. */
void sift_store_finding(struct sift_store *st, int64_t capture_id, int64_t session_id,
                        int64_t message_id, const char *rule, enum sift_severity sev,
                        const char *detail, const struct sift_pktref *where);

/* Map the run's file index to its capture row id (provenance columns). */
void sift_store_map_file(struct sift_store *st, uint32_t file_idx, int64_t capture_id);
int64_t sift_store_capture_of(const struct sift_store *st, uint32_t file_idx);

/* Query: run sql (one or more statements). For each statement that returns
 * columns, row is first called once with values == NULL and types == NULL
 * (the header), then for each result row call row(user,
 * ncols, names, values) where values[i] is NULL for SQL NULL, text otherwise
 * (blobs are given as hex prefixed "x'"), and types[i] is 'n','i','r','t','b'.
 * Returns SIFT_OK or SIFT_ERR_DB with err filled. */
typedef int (*sift_store_row_fn)(void *user, int ncols, const char *const *names,
                                 const char *const *values, const char *types);
enum sift_status sift_store_query(struct sift_store *st, const char *sql,
                                  sift_store_row_fn row, void *user, char *err, size_t errlen);

/* Full-text search (schema 003, table message_search): FTS5 query syntax in
 * terms; at most limit rows (<= 0: all), best first. Columns: id, time,
 * sender, subject, snippet (matches in [brackets]). Rows as for sift_store_query. */
enum sift_status sift_store_search(struct sift_store *st, const char *terms, int limit,
                                   sift_store_row_fn row, void *user, char *err, size_t errlen);

/* Every stored message with its exact bytes (message_raw), in id order.
 * Everything in *m is borrowed for the call. fn returns non-zero to stop. */
struct sift_store_raw {
    int64_t id;
    const char *sha256;      /* of data */
    const char *mail_from;   /* envelope sender, "" for <>, NULL if none was seen */
    double ts;               /* first packet of the transaction (Unix seconds); valid if has_ts */
    int has_ts;
    const uint8_t *data;
    size_t len;
};
typedef int (*sift_store_raw_fn)(void *user, const struct sift_store_raw *m);
enum sift_status sift_store_each_raw(struct sift_store *st, sift_store_raw_fn fn, void *user,
                                     char *err, size_t errlen);
/* The same for one message (none if it has no stored bytes). */
enum sift_status sift_store_raw_one(struct sift_store *st, int64_t message_id, sift_store_raw_fn fn, void *user,
                                    char *err, size_t errlen);
/* id and SHA-256 of every message with content, in id order (no bytes read). */
typedef int (*sift_store_sha_fn)(void *user, int64_t id, const char *sha256);
enum sift_status sift_store_each_content_sha(struct sift_store *st, sift_store_sha_fn fn, void *user,
                                             char *err, size_t errlen);

/* Every message with content whose bytes are not in message_raw, in id order,
 * with where its session lies: the run (ingest) and the file_index of the
 * capture files it starts and ends in. */
struct sift_store_unstored {
    int64_t id;
    const char *sha256;      /* NULL if none was recorded */
    const char *mail_from;
    double ts;
    int has_ts;
    int64_t ingest_id, first_file, last_file;
    const char *client_ip, *server_ip;
};
typedef int (*sift_store_unstored_fn)(void *user, const struct sift_store_unstored *m);
enum sift_status sift_store_each_unstored(struct sift_store *st, sift_store_unstored_fn fn, void *user,
                                          char *err, size_t errlen);

/* The capture files of one ingest run, in file_index order. */
struct sift_store_capfile {
    int64_t id, file_index;
    const char *path, *realpath;   /* realpath may be NULL */
    const char *format;            /* pcap / pcapng / live / NULL */
    uint64_t size;
};
typedef int (*sift_store_capfile_fn)(void *user, const struct sift_store_capfile *c);
enum sift_status sift_store_each_capture(struct sift_store *st, int64_t ingest_id, sift_store_capfile_fn fn,
                                         void *user, char *err, size_t errlen);

/* parts.extracted_path of one part (store opened for writing). */
void sift_store_set_extracted(struct sift_store *st, int64_t message_id, size_t part_seq,
                              const char *path);

#endif
