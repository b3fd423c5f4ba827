/* outfile.c — safe output files: openat(O_EXCL|O_NOFOLLOW) of a temporary
 * name in an opened directory, then renameat2(RENAME_NOREPLACE) to a name we
 * made (a hash). No attacker-controlled string ever reaches a path. */
#include "outfile.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sift_outdir_open(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) snprintf(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
    return fd;
}

int sift_outfile_begin(struct sift_outfile *f, int dirfd)
{
    static atomic_ulong counter;   /* several decoding threads may extract at once */
    memset(f, 0, sizeof *f);
    f->dirfd = dirfd;
    f->fd = -1;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(f->tmp, sizeof f->tmp, ".smtpsift-%ld-%lu-%lx.tmp", (long)getpid(), atomic_fetch_add(&counter, 1) + 1,
                 (unsigned long)time(NULL));
        f->fd = openat(dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (f->fd >= 0 || errno != EEXIST) break;
    }
    return f->fd >= 0 ? 0 : -1;
}

void sift_outfile_write(struct sift_outfile *f, const void *p, size_t n)
{
    const char *c = p;
    if (f->fd < 0 || f->failed) return;
    while (n) {
        ssize_t w = write(f->fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            f->failed = errno ? errno : EIO;
            return;
        }
        c += w;
        n -= (size_t)w;
    }
}

static int name_ok(const char *name)
{
    if (!*name || name[0] == '.' || strlen(name) > 200) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '.')) return 0;
    return 1;
}

void sift_outfile_abort(struct sift_outfile *f)
{
    if (f->fd < 0) return;
    close(f->fd);
    f->fd = -1;
    unlinkat(f->dirfd, f->tmp, 0);
}

int sift_outfile_commit(struct sift_outfile *f, const char *name)
{
    if (f->fd < 0) { errno = EBADF; return -1; }
    int bad = f->failed;
    if (close(f->fd) != 0 && !bad) bad = errno;
    f->fd = -1;
    if (!bad && !name_ok(name)) bad = EINVAL;
    if (bad) {
        unlinkat(f->dirfd, f->tmp, 0);
        errno = bad;
        return -1;
    }
    if (renameat2(f->dirfd, f->tmp, f->dirfd, name, RENAME_NOREPLACE) == 0) return 1;
    int e = errno;
    if (e == EINVAL || e == ENOSYS) {            /* file system without RENAME_NOREPLACE */
        e = linkat(f->dirfd, f->tmp, f->dirfd, name, 0) == 0 ? 0 : errno;
        unlinkat(f->dirfd, f->tmp, 0);
        if (!e) return 1;
        if (e == EEXIST) return 0;
        errno = e;
        return -1;
    }
    unlinkat(f->dirfd, f->tmp, 0);
    if (e == EEXIST) return 0;
    errno = e;
    return -1;
}

int sift_outfile_put(int dirfd, const char *name, const void *p, size_t n)
{
    struct sift_outfile f;
    if (sift_outfile_begin(&f, dirfd) != 0) return -1;
    sift_outfile_write(&f, p, n);
    return sift_outfile_commit(&f, name);
}
