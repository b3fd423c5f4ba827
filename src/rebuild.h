/* rebuild.h — the bytes of every message, whether the database holds them
 * (message_raw: ingest --store-raw, live capture) or only their capture files
 * do (the default for a file ingest). A message that is not in the database
 * is rebuilt by reading its capture files again through the same pipeline
 * (only the packets between its session's two addresses while that finds
 * them all), and is handed out only if its SHA-256 is the one recorded at
 * ingest: the bytes are exactly those the first run saw, or none at all. */
#ifndef SIFT_REBUILD_H
#define SIFT_REBUILD_H

#include "store.h"

struct sift_rebuild_opts {
    const char *pcap_dir;   /* also look for capture files here, by their base name (or NULL) */
    int quiet;              /* no progress line on stderr */
    const int64_t *ids;     /* only these messages (messages.id), if n_ids > 0 */
    size_t n_ids;
};

struct sift_rebuild_counts {
    size_t stored;          /* messages whose bytes came from the database */
    size_t rebuilt;         /* ... from their capture files, SHA-256 checked */
    size_t missing;         /* messages that could not be had (each one named on stderr) */
    size_t files_read;      /* capture files read again */
    size_t unknown_ids;     /* ids asked for that name no message with content (named on stderr) */
};

/* Calls fn for every message with content: first those stored in the database
 * (in id order), then the rebuilt ones (in id order within each ingest run).
 * fn returning non-zero stops. Messages that cannot be rebuilt (capture file
 * gone, changed, unreadable) are named on stderr, one line per file or
 * message, and counted in missing; that is not an error return. Returns
 * SIFT_OK, or an error for the database or temporary files (err set). */
enum sift_status sift_each_message_bytes(struct sift_store *st, const struct sift_rebuild_opts *o,
                                         sift_store_raw_fn fn, void *user,
                                         struct sift_rebuild_counts *counts, char *err, size_t errlen);

#endif
