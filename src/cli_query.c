/* cli_query.c — `smtpsift query`: runs SQL on a database opened read-only
 * and prints an aligned table (default), CSV (RFC 4180) or a JSON array.
 * Formatting only; the SQL runs in store.c. */
#include "sift.h"
#include "store.h"
#include "cli_multi.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON };

struct qstate {
    enum fmt fmt;
    int ncols;
    char **names;
    /* table mode: all cells kept to compute widths */
    char ***rows;
    size_t n_rows, cap_rows;
    size_t json_rows;
    int json_open;
};

/* Display width of UTF-8 text (code points; good enough for a terminal table). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

/* Table cells show control characters escaped so rows stay on one line. */
static char *table_cell(const char *v)
{
    if (!v) return sift_xstrdup("NULL");
    struct sift_buf b = {0};
    for (const char *p = v; *p; p++) {
        if (*p == '\n') sift_buf_append(&b, "\\n", 2);
        else if (*p == '\r') sift_buf_append(&b, "\\r", 2);
        else if (*p == '\t') sift_buf_append(&b, "\\t", 2);
        else if ((unsigned char)*p < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*p);
            sift_buf_append(&b, esc, 4);
        } else sift_buf_putc(&b, (uint8_t)*p);
    }
    if (!b.data) return sift_xstrdup("");
    return (char *)sift_buf_steal(&b, NULL);
}

static void print_table(struct qstate *q)
{
    if (!q->ncols) return;
    size_t *w = sift_xcalloc((size_t)q->ncols, sizeof *w);
    for (int c = 0; c < q->ncols; c++) w[c] = width(q->names[c]);
    for (size_t r = 0; r < q->n_rows; r++)
        for (int c = 0; c < q->ncols; c++) {
            size_t x = width(q->rows[r][c]);
            if (x > w[c]) w[c] = x;
        }
    for (int c = 0; c < q->ncols; c++)
        printf("%s%s%*s", c ? "  " : "", q->names[c], (int)(w[c] - width(q->names[c])), "");
    printf("\n");
    for (int c = 0; c < q->ncols; c++) {
        printf("%s", c ? "  " : "");
        for (size_t i = 0; i < w[c]; i++) putchar('-');
    }
    printf("\n");
    for (size_t r = 0; r < q->n_rows; r++) {
        for (int c = 0; c < q->ncols; c++) {
            const char *v = q->rows[r][c];
            /* no trailing spaces after the last column */
            if (c + 1 == q->ncols) printf("%s%s", c ? "  " : "", v);
            else printf("%s%s%*s", c ? "  " : "", v, (int)(w[c] - width(v)), "");
        }
        printf("\n");
    }
    free(w);
}

static void free_result(struct qstate *q)
{
    for (size_t r = 0; r < q->n_rows; r++) {
        for (int c = 0; c < q->ncols; c++) free(q->rows[r][c]);
        free(q->rows[r]);
    }
    free(q->rows);
    q->rows = NULL;
    q->n_rows = q->cap_rows = 0;
    for (int c = 0; c < q->ncols; c++) free(q->names[c]);
    free(q->names);
    q->names = NULL;
    q->ncols = 0;
}

static void csv_field(const char *v)
{
    if (!v) return;
    if (strpbrk(v, ",\"\r\n") == NULL) {
        fputs(v, stdout);
        return;
    }
    putchar('"');
    for (const char *p = v; *p; p++) {
        if (*p == '"') putchar('"');
        putchar(*p);
    }
    putchar('"');
}

static void json_string(const char *v)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20) printf("\\u%04x", *p);
            else putchar(*p);
        }
    }
    putchar('"');
}

static int on_row(void *user, int ncols, const char *const *names, const char *const *vals,
                  const char *types)
{
    struct qstate *q = user;
    if (!vals) {   /* header of a new statement's result */
        if (q->fmt == FMT_TABLE) {
            if (q->ncols) { print_table(q); printf("\n"); }
            free_result(q);
            q->ncols = ncols;
            q->names = sift_xcalloc((size_t)ncols, sizeof *q->names);
            for (int c = 0; c < ncols; c++) q->names[c] = sift_xstrdup(names[c]);
        } else if (q->fmt == FMT_CSV) {
            for (int c = 0; c < ncols; c++) {
                if (c) putchar(',');
                csv_field(names[c]);
            }
            printf("\r\n");
        }
        return 0;
    }
    switch (q->fmt) {
    case FMT_TABLE:
        if (q->n_rows == q->cap_rows) {
            q->cap_rows = q->cap_rows ? 2 * q->cap_rows : 64;
            q->rows = sift_xrealloc(q->rows, q->cap_rows * sizeof *q->rows);
        }
        q->rows[q->n_rows] = sift_xcalloc((size_t)ncols, sizeof(char *));
        for (int c = 0; c < ncols; c++) q->rows[q->n_rows][c] = table_cell(vals[c]);
        q->n_rows++;
        break;
    case FMT_CSV:
        for (int c = 0; c < ncols; c++) {
            if (c) putchar(',');
            csv_field(vals[c]);
        }
        printf("\r\n");
        break;
    case FMT_JSON:
        printf("%s\n  {", q->json_rows++ ? "," : "[");
        for (int c = 0; c < ncols; c++) {
            if (c) printf(", ");
            json_string(names[c]);
            printf(": ");
            if (types[c] == 'n') printf("null");
            else if (types[c] == 'i' || types[c] == 'r') printf("%s", vals[c]);
            else json_string(vals[c]);
        }
        printf("}");
        break;
    }
    return 0;
}

int sift_cli_query(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "csv", no_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db";
    struct qstate q = { .fmt = FMT_TABLE };
    const char **dbs = sift_xcalloc((size_t)argc, sizeof *dbs);   /* -d may repeat */
    size_t n_db = 0;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dbs[n_db++] = optarg; break;
        case 'c': q.fmt = FMT_CSV; break;
        case 'j': q.fmt = FMT_JSON; break;
        case 'h':
            printf("usage: smtpsift query [-d DB [-d DB2...]] [--csv|--json] \"SQL\"\n"
                   "\n"
                   "Runs SQL on the database (default ./smtpsift.db), opened read-only, and prints\n"
                   "an aligned table, RFC 4180 CSV (--csv) or a JSON array (--json).\n"
                   "With several -d (captures ingested separately, or several sensors), every\n"
                   "table and view covers all of them: each row gets a first column `db` (the\n"
                   "file), and the ids of the k-th database are offset by (k-1)*2^40 so joins\n"
                   "on ids stay inside one database. Up to 11 databases.\n"
                   "Tables and views are described in schema/README.md.\n"
                   "\n"
                   "examples:\n"
                   "  smtpsift query \"SELECT time, mail_from, recipients, subject FROM v_mail\"\n"
                   "  smtpsift query --csv \"SELECT filename, sha256 FROM v_attachments\" > att.csv\n"
                   "  smtpsift query -d a.db -d b.db \"SELECT db, count(*) FROM messages GROUP BY db\"\n");
            free(dbs);
            return 0;
        default: free(dbs); return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "smtpsift: query needs exactly one SQL argument; try smtpsift query --help\n");
        free(dbs);
        return 2;
    }
    if (n_db == 0) dbs[n_db++] = db;
    struct sift_store *st;
    char err[512];
    enum sift_status os = sift_cli_open_dbs(dbs, n_db, &st, err, sizeof err);
    free(dbs);
    if (os != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        return 1;
    }
    enum sift_status rc = sift_store_query(st, argv[optind], on_row, &q, err, sizeof err);
    if (q.fmt == FMT_TABLE) print_table(&q);
    if (q.fmt == FMT_JSON) printf("%s\n", q.json_rows ? "\n]" : "[]");
    free_result(&q);
    sift_store_close(st);
    if (rc != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        return 1;
    }
    return 0;
}
