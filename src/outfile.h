/* outfile.h — files smtpsift writes into a user-given directory (exported
 * messages, extracted attachments): always named by us (a SHA-256), created
 * 0600 inside a 0700 directory, atomically, never following links. */
#ifndef SIFT_OUTFILE_H
#define SIFT_OUTFILE_H

#include "sift.h"

/* Creates dir (mode 0700) if missing and opens it. Returns a directory fd,
 * or -1 with err filled. */
int sift_outdir_open(const char *dir, char *err, size_t errlen);

/* A file being written in a directory: a temporary name until committed. */
struct sift_outfile {
    int dirfd;
    int fd;              /* -1 when not open */
    char tmp[64];
    int failed;          /* a write failed */
};

/* Opens a new temporary file (0600) in dirfd. Returns 0 or -1 (errno set). */
int sift_outfile_begin(struct sift_outfile *f, int dirfd);
/* Writes n bytes; a failure is remembered (f->failed) and later writes are ignored. */
void sift_outfile_write(struct sift_outfile *f, const void *p, size_t n);
/* Closes and gives the file its final name (only [0-9a-f.a-z] names are
 * accepted). An existing file of that name is kept (same hash, same bytes)
 * and the temporary file removed. Returns 1 if written now, 0 if it was
 * already there, -1 on failure (temporary removed, errno set). */
int sift_outfile_commit(struct sift_outfile *f, const char *name);
/* Closes and removes the temporary file. */
void sift_outfile_abort(struct sift_outfile *f);

/* begin + write + commit in one call. */
int sift_outfile_put(int dirfd, const char *name, const void *p, size_t n);

#endif
