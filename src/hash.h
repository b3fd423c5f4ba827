/* hash.h — SHA-256 of buffers and files through OpenSSL's libcrypto (uses the
 * CPU's SHA extensions where present). The only module that includes OpenSSL. */
#ifndef SIFT_HASH_H
#define SIFT_HASH_H

#include "sift.h"

/* SHA-256 of len bytes as 64 lower-case hex chars + NUL. */
void sift_hash_sha256_hex(const void *data, size_t len, char out[65]);
/* SHA-256 of the first len bytes of fd (read with pread, 1 MiB at a time).
 * SIFT_OK, or SIFT_ERR_IO if they cannot all be read (out then empty). */
enum sift_status sift_hash_fd_sha256_hex(int fd, uint64_t len, char out[65]);

/* SHA-256 and size of the file at path. SIFT_ERR_IO with err filled on failure. */
enum sift_status sift_hash_file(const char *path, char out[65], uint64_t *size,
                                char *err, size_t errlen);

/* Like sift_hash_file, but gives up (SIFT_ERR_INTERRUPTED) soon after *cancel
 * becomes non-zero (checked between 1 MiB blocks). cancel may be NULL. */
enum sift_status sift_hash_file_cancel(const char *path, char out[65], uint64_t *size,
                                       const volatile int *cancel, char *err, size_t errlen);

/* A quick fingerprint of a file: SHA-256 over its size (8 bytes, little endian),
 * its first MiB and its last MiB. Equal files have equal fingerprints; a match
 * is confirmed with the full hash. SIFT_ERR_IO with err filled on failure. */
enum sift_status sift_hash_fingerprint(const char *path, char out[65], uint64_t *size,
                                       char *err, size_t errlen);

/* MD5, SHA-1 and SHA-256 of one stream at once (attachment hashes). */
struct sift_digests;
struct sift_digests *sift_digests_new(void);
void sift_digests_update(struct sift_digests *d, const void *data, size_t len);
/* Writes lower-case hex; d can be reused after sift_digests_reset. */
void sift_digests_final(struct sift_digests *d, char md5[33], char sha1[41], char sha256[65]);
void sift_digests_free(struct sift_digests *d);

#endif
