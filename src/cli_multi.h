/* cli_multi.h — opening one or several databases read-only as one, for the
 * commands that read (query, report --html, export --jsonl). */
#ifndef SIFT_CLI_MULTI_H
#define SIFT_CLI_MULTI_H

#include "sift.h"
#include "store.h"

/* Open paths[0] read-only; with n > 1 attach paths[1..] as db2, db3... and
 * create TEMP views so that every table and view of the main database
 * (`messages`, `v_mail`, ...) covers all of them: each row gets a first column
 * `db` (the file name as given) and its id columns (`id`, `*_id` integers)
 * offset by (k-1)·2^40 for the k-th database, so joins on ids never mix
 * databases. Columns missing from some database are left out. At most 11
 * databases (SQLite's ATTACH limit). Returns SIFT_OK with *out set, or an error
 * with a one-line err that names the file. */
enum sift_status sift_cli_open_dbs(const char *const *paths, size_t n, struct sift_store **out,
                                   char *err, size_t errlen);

#endif
