/* cli_export.c — `smtpsift export` (.eml files named by SHA-256, mbox in
 * mboxrd quoting) and `smtpsift extract` (attachments re-decoded from the
 * stored message bytes, named by SHA-256). Never uses a name from a message
 * as a path. Output files are created 0600, directories 0700. */
#include "mime.h"
#include "outfile.h"
#include "rebuild.h"
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

/* ---- --id N (repeatable) ---- */

struct id_list {
    int64_t *v;
    size_t n;
};

static int id_add(struct id_list *l, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0) {
        fprintf(stderr, "smtpsift: --id wants a message id (messages.id), not '%s'\n", s);
        return -1;
    }
    l->v = sift_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = (int64_t)v;
    return 0;
}

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
    fprintf(f, "usage: smtpsift export [-d DB] [--eml DIR] [--mbox FILE|-] [--id N]... [--pcap-dir DIR]\n"
               "  --eml DIR   each message byte for byte as DIR/<sha256>.eml (0600; DIR 0700)\n"
               "  --mbox FILE all messages in one mbox (mboxrd quoting; From line: envelope\n"
               "              sender and packet time, UTC); '-' writes to standard output\n"
               "  --id N      only message N (messages.id); may be repeated\n"
               "  --pcap-dir DIR  capture files moved since ingest are looked for in DIR\n"
               "  Messages not stored in the database (the default) are read again from\n"
               "  their capture files and checked against their recorded SHA-256.\n");
}

int sift_cli_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "eml", required_argument, NULL, 'e' },
        { "mbox", required_argument, NULL, 'm' },
        { "id", required_argument, NULL, 'i' },
        { "pcap-dir", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db", *eml = NULL, *mbox = NULL;
    struct sift_rebuild_opts ro = {0};
    struct id_list ids = {0};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': eml = optarg; break;
        case 'm': mbox = optarg; break;
        case 'i': if (id_add(&ids, optarg) != 0) { free(ids.v); return 2; } break;
        case 'p': ro.pcap_dir = optarg; break;
        case 'h': export_usage(stdout); free(ids.v); return 0;
        default: export_usage(stderr); free(ids.v); return 2;
        }
    }
    if ((!eml && !mbox) || optind < argc) { export_usage(stderr); free(ids.v); return 2; }
    ro.ids = ids.v;
    ro.n_ids = ids.n;
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
    struct sift_rebuild_counts rcnt;
    if (sift_each_message_bytes(st, &ro, export_one, &x, &rcnt, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        rc = 1;
    }
    free(ids.v);
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
    if (rcnt.rebuilt)
        fprintf(stderr, "smtpsift: %zu of them read again from their capture files (SHA-256 checked)\n",
                rcnt.rebuilt);
    if (rcnt.missing) {
        fprintf(stderr, "smtpsift: %zu message%s could not be exported (see above)\n", rcnt.missing,
                rcnt.missing == 1 ? "" : "s");
        rc = 1;
    }
    if (rcnt.unknown_ids) rc = 1;
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
        { "id", required_argument, NULL, 'i' },
        { "pcap-dir", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db";
    struct sift_rebuild_opts ro = {0};
    struct id_list ids = {0};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'i': if (id_add(&ids, optarg) != 0) { free(ids.v); return 2; } break;
        case 'p': ro.pcap_dir = optarg; break;
        case 'h': printf("usage: smtpsift extract [-d DB] [--id N]... [--pcap-dir DIR] DIR\n"
                         "  writes every attachment once as DIR/<sha256> and records it in\n"
                         "  parts.extracted_path; --id: only message N (repeatable); messages not\n"
                         "  stored in the database are read again from their capture files\n"
                         "  (--pcap-dir: capture files moved since ingest are looked for there)\n");
                  free(ids.v);
                  return 0;
        default: free(ids.v); return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: smtpsift extract [-d DB] [--id N]... [--pcap-dir DIR] DIR\n");
        free(ids.v);
        return 2;
    }
    ro.ids = ids.v;
    ro.n_ids = ids.n;
    char err[512];
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, strerror(errno));
        free(ids.v);
        return 1;
    }
    struct extract_ctx x = {0};
    if (sift_store_open(db, &x.st, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        free(ids.v);
        return 1;
    }
    x.dirfd = sift_outdir_open(argv[optind], err, sizeof err);
    if (x.dirfd < 0) {
        fprintf(stderr, "smtpsift: %s\n", err);
        sift_store_close(x.st);
        free(ids.v);
        return 1;
    }
    sift_mime_init();
    int rc = 0;
    struct sift_rebuild_counts rcnt;
    if (sift_each_message_bytes(x.st, &ro, extract_one, &x, &rcnt, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        rc = 1;
    }
    free(ids.v);
    sift_mime_shutdown();
    if (sift_store_commit(x.st) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, sift_store_error(x.st));
        rc = 1;
    }
    sift_store_close(x.st);
    close(x.dirfd);
    if (x.failed) rc = 1;
    fprintf(stderr, "smtpsift: %zu messages, %zu attachments extracted to %s\n", x.messages, x.files,
            argv[optind]);
    if (rcnt.rebuilt)
        fprintf(stderr, "smtpsift: %zu of the messages read again from their capture files (SHA-256 checked)\n",
                rcnt.rebuilt);
    if (rcnt.missing) {
        fprintf(stderr, "smtpsift: %zu message%s could not be read (see above): nothing extracted from %s\n",
                rcnt.missing, rcnt.missing == 1 ? "" : "s", rcnt.missing == 1 ? "it" : "them");
        rc = 1;
    }
    if (rcnt.unknown_ids) rc = 1;
    return rc;
}
