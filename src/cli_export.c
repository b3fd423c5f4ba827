/* cli_export.c — `smtpsift export` (.eml files named by SHA-256, mbox in
 * mboxrd quoting) and `smtpsift extract` (attachments re-decoded from the
 * stored message bytes, named by SHA-256). Never uses a name from a message
 * as a path. Output files are created 0600, directories 0700. */
#include "mime.h"
#include "outfile.h"
#include "sift.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sift_cli_export(int argc, char **argv);
int sift_cli_extract(int argc, char **argv);

/* ---- export ---- */

struct export_ctx {
    int eml_dirfd;           /* -1: no --eml */
    FILE *mbox;              /* NULL: no --mbox */
    size_t n, written, errors;
};

static int hex64(const char *s)
{
    if (!s || strlen(s) != 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* The "From " separator: envelope sender (or MAILER-DAEMON) and the packet
 * time in asctime form, UTC. White space in the sender becomes '_'. */
static void mbox_from_line(FILE *f, const struct sift_store_raw *m)
{
    fputs("From ", f);
    if (!m->mail_from || !*m->mail_from) fputs("MAILER-DAEMON", f);
    else for (const char *p = m->mail_from; *p; p++) fputc((unsigned char)*p <= ' ' ? '_' : *p, f);
    time_t t = m->has_ts ? (time_t)m->ts : 0;
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
    fprintf(f, " %s\n", buf);
}

/* mboxrd: every line matching /^>*From / gets one more '>'. */
static void mbox_body(FILE *f, const uint8_t *d, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t *nl = memchr(d + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - d) + 1 : n;
        size_t k = i;
        while (k < e && d[k] == '>') k++;
        if (e - k >= 5 && !memcmp(d + k, "From ", 5)) fputc('>', f);
        fwrite(d + i, 1, e - i, f);
        i = e;
    }
    if (!n || d[n - 1] != '\n') fputc('\n', f);
    fputc('\n', f);
}

static int export_one(void *user, const struct sift_store_raw *m)
{
    struct export_ctx *x = user;
    x->n++;
    if (x->eml_dirfd >= 0) {
        char name[80];
        if (!hex64(m->sha256)) {
            fprintf(stderr, "smtpsift: message %lld has no valid SHA-256; not exported\n", (long long)m->id);
            x->errors++;
        } else {
            snprintf(name, sizeof name, "%s.eml", m->sha256);
            int r = sift_outfile_put(x->eml_dirfd, name, m->data ? m->data : (const uint8_t *)"", m->len);
            if (r < 0) {
                fprintf(stderr, "smtpsift: %s: %s\n", name, strerror(errno));
                x->errors++;
            } else if (r == 1) x->written++;
        }
    }
    if (x->mbox) {
        mbox_from_line(x->mbox, m);
        mbox_body(x->mbox, m->data ? m->data : (const uint8_t *)"", m->len);
    }
    return 0;
}

static void export_usage(FILE *f)
{
    fprintf(f, "usage: smtpsift export [-d DB] [--eml DIR] [--mbox FILE|-]\n"
               "  --eml DIR   each message byte for byte as DIR/<sha256>.eml (0600; DIR 0700)\n"
               "  --mbox FILE all messages in one mbox (mboxrd quoting; From line: envelope\n"
               "              sender and packet time, UTC); '-' writes to standard output\n");
}

int sift_cli_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "eml", required_argument, NULL, 'e' },
        { "mbox", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db", *eml = NULL, *mbox = NULL;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': eml = optarg; break;
        case 'm': mbox = optarg; break;
        case 'h': export_usage(stdout); return 0;
        default: export_usage(stderr); return 2;
        }
    }
    if ((!eml && !mbox) || optind < argc) { export_usage(stderr); return 2; }
    struct sift_store *st;
    char err[512];
    if (sift_store_open_readonly(db, &st, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        return 1;
    }
    struct export_ctx x = { .eml_dirfd = -1 };
    int rc = 0;
    if (eml && (x.eml_dirfd = sift_outdir_open(eml, err, sizeof err)) < 0) {
        fprintf(stderr, "smtpsift: %s\n", err);
        sift_store_close(st);
        return 1;
    }
    if (mbox) {
        x.mbox = strcmp(mbox, "-") ? fopen(mbox, "wb") : stdout;
        if (!x.mbox) {
            fprintf(stderr, "smtpsift: %s: %s\n", mbox, strerror(errno));
            if (x.eml_dirfd >= 0) close(x.eml_dirfd);
            sift_store_close(st);
            return 1;
        }
    }
    if (sift_store_each_raw(st, export_one, &x, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        rc = 1;
    }
    int64_t missing = sift_store_count_without_raw(st);
    if (x.mbox && (fflush(x.mbox) != 0 || ferror(x.mbox))) {
        fprintf(stderr, "smtpsift: %s: write error\n", mbox);
        rc = 1;
    }
    if (x.mbox && x.mbox != stdout) fclose(x.mbox);
    if (x.eml_dirfd >= 0) close(x.eml_dirfd);
    sift_store_close(st);
    if (x.errors) rc = 1;
    fprintf(stderr, "smtpsift: %zu messages exported%s", x.n, eml ? "" : "\n");
    if (eml) fprintf(stderr, " (%zu new .eml files in %s)\n", x.written, eml);
    if (missing > 0)
        fprintf(stderr, "smtpsift: %lld messages have no stored bytes (ingested with --no-raw): not exported\n",
                (long long)missing);
    return rc;
}

/* ---- extract ---- */

struct extract_ctx {
    struct sift_store *st;
    int dirfd;
    size_t messages, files, failed;
};

static void count_failure(void *user, const char *rule, enum sift_severity sev, const char *detail,
                          const struct sift_pktref *where)
{
    struct extract_ctx *x = user;
    (void)sev; (void)where;
    if (!strcmp(rule, "extract_failed")) {
        fprintf(stderr, "smtpsift: %s\n", detail);
        x->failed++;
    }
}

static int extract_one(void *user, const struct sift_store_raw *m)
{
    struct extract_ctx *x = user;
    struct sift_mime_opts o = { .extract_dirfd = x->dirfd };
    struct sift_mime_summary *s = sift_mime_parse_ex(m->data ? m->data : (const uint8_t *)"", m->len,
                                                     &o, count_failure, x);
    x->messages++;
    for (size_t i = 0; i < s->n_parts; i++)
        if (s->parts[i].extracted_path) {
            sift_store_set_extracted(x->st, m->id, i, s->parts[i].extracted_path);
            x->files++;
        }
    sift_mime_free(s);
    return 0;
}

int sift_cli_extract(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db";
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': printf("usage: smtpsift extract [-d DB] DIR\n"
                         "  writes every attachment once as DIR/<sha256> and records it in\n"
                         "  parts.extracted_path\n");
                  return 0;
        default: return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: smtpsift extract [-d DB] DIR\n");
        return 2;
    }
    char err[512];
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, strerror(errno));
        return 1;
    }
    struct extract_ctx x = {0};
    if (sift_store_open(db, &x.st, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        return 1;
    }
    x.dirfd = sift_outdir_open(argv[optind], err, sizeof err);
    if (x.dirfd < 0) {
        fprintf(stderr, "smtpsift: %s\n", err);
        sift_store_close(x.st);
        return 1;
    }
    sift_mime_init();
    int rc = 0;
    if (sift_store_each_raw(x.st, extract_one, &x, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        rc = 1;
    }
    sift_mime_shutdown();
    int64_t missing = sift_store_count_without_raw(x.st);
    if (sift_store_commit(x.st) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, sift_store_error(x.st));
        rc = 1;
    }
    sift_store_close(x.st);
    close(x.dirfd);
    if (x.failed) rc = 1;
    fprintf(stderr, "smtpsift: %zu messages, %zu attachments extracted to %s\n", x.messages, x.files,
            argv[optind]);
    if (missing > 0)
        fprintf(stderr, "smtpsift: %lld messages have no stored bytes (ingested with --no-raw): nothing"
                " extracted from them (ingest --extract DIR does it while ingesting)\n", (long long)missing);
    return rc;
}
