/* cli_multi.c — open one or several smtpsift databases as one, read-only:
 * the 2nd, 3rd... are ATTACHed as db2, db3...; TEMP views with the main
 * tables' names UNION ALL each table across the databases (plus a `db`
 * column naming the file), ids offset per database so joins stay inside one
 * database, and the main views are re-created as TEMP views over them. All SQL
 * goes through store.c; nothing is written to any database. */
#include "cli_multi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIFT_APPLICATION_ID_DEC "1397311060"   /* PRAGMA application_id of a smtpsift db ("SIFT") */
#define ID_STRIDE "1099511627776"                /* 2^40: ids of database k are offset by (k-1)·2^40 */

/* Rows of a query as a flat array of strings (NULL for SQL NULL). */
struct rows {
    int ncols;
    char **v;
    size_t n, cap;   /* n cells */
};

static int collect(void *user, int ncols, const char *const *names, const char *const *vals,
                   const char *types)
{
    (void)names;
    (void)types;
    struct rows *r = user;
    r->ncols = ncols;
    if (!vals) return 0;
    for (int i = 0; i < ncols; i++) {
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 64;
            r->v = sift_xrealloc(r->v, r->cap * sizeof *r->v);
        }
        r->v[r->n++] = vals[i] ? sift_xstrdup(vals[i]) : NULL;
    }
    return 0;
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->v[i]);
    free(r->v);
    memset(r, 0, sizeof *r);
}

static size_t rows_count(const struct rows *r)
{
    return r->ncols ? r->n / (size_t)r->ncols : 0;
}

static enum sift_status run_sql(struct sift_store *st, const char *sql, struct rows *out, char *err,
                                size_t errlen)
{
    struct rows dummy = {0};
    enum sift_status s = sift_store_query(st, sql, collect, out ? out : &dummy, err, errlen);
    rows_free(&dummy);
    return s;
}

/* Append s as an SQL string literal ('...', quotes doubled) or identifier ("..."). */
static void put_quoted(struct sift_buf *b, const char *s, char q)
{
    sift_buf_putc(b, (uint8_t)q);
    for (; *s; s++) {
        if (*s == q) sift_buf_putc(b, (uint8_t)q);
        sift_buf_putc(b, (uint8_t)*s);
    }
    sift_buf_putc(b, (uint8_t)q);
}

static void put(struct sift_buf *b, const char *s)
{
    sift_buf_append(b, s, strlen(s));
}

static char *schema_name(size_t k)
{
    char name[32];
    if (k == 0) snprintf(name, sizeof name, "main");
    else snprintf(name, sizeof name, "db%zu", k + 1);
    return sift_xstrdup(name);
}

/* 1 if column (name, declared type) holds a row id: `id`, or `..._id` of an
 * INTEGER type (messages.message_id, the Message-ID text, is not one). */
static int is_id_column(const char *name, const char *type)
{
    if (!strcmp(name, "id")) return 1;
    size_t n = strlen(name);
    if (n < 3 || strcmp(name + n - 3, "_id")) return 0;
    return type && (strstr(type, "INT") || strstr(type, "int"));
}

/* Does database k have column col in table? cols: rows of (name). */
static int has_col(const struct rows *cols, const char *col)
{
    for (size_t i = 0; i < cols->n; i++)
        if (cols->v[i] && !strcmp(cols->v[i], col)) return 1;
    return 0;
}

static enum sift_status union_table(struct sift_store *st, const char *table, const char *const *paths,
                                    size_t n, char *err, size_t errlen)
{
    struct sift_buf q = {0};
    struct rows main_cols = {0};
    struct rows *cols = sift_xcalloc(n, sizeof *cols);
    int *present = sift_xcalloc(n, sizeof *present);
    enum sift_status rc = SIFT_OK;
    for (size_t k = 0; k < n && rc == SIFT_OK; k++) {
        char *sch = schema_name(k);
        sift_buf_reset(&q);
        put(&q, "SELECT name, type FROM pragma_table_info(");
        put_quoted(&q, table, '\'');
        put(&q, ", ");
        put_quoted(&q, sch, '\'');
        put(&q, ")");
        rc = run_sql(st, (const char *)q.data, k == 0 ? &main_cols : &cols[k], err, errlen);
        present[k] = k == 0 ? rows_count(&main_cols) > 0 : rows_count(&cols[k]) > 0;
        free(sch);
    }
    if (rc == SIFT_OK) {
        sift_buf_reset(&q);
        put(&q, "CREATE TEMP VIEW ");
        put_quoted(&q, table, '"');
        put(&q, " AS ");
        int first = 1;
        for (size_t k = 0; k < n; k++) {
            if (!present[k]) continue;
            if (!first) put(&q, " UNION ALL ");
            first = 0;
            put(&q, "SELECT ");
            put_quoted(&q, paths[k], '\'');
            put(&q, " AS db");
            for (size_t c = 0; c + 1 < main_cols.n; c += 2) {
                const char *name = main_cols.v[c], *type = main_cols.v[c + 1];
                int everywhere = 1;
                for (size_t j = 1; j < n; j++)
                    if (present[j] && !has_col(&cols[j], name)) everywhere = 0;
                if (!everywhere) continue;   /* databases at different schema versions */
                put(&q, ", ");
                put_quoted(&q, name, '"');
                if (k > 0 && is_id_column(name, type)) {
                    char off[64];
                    snprintf(off, sizeof off, " + %zu * " ID_STRIDE " AS ", k);
                    put(&q, off);
                    put_quoted(&q, name, '"');
                }
            }
            char *sch = schema_name(k);
            put(&q, " FROM ");
            put_quoted(&q, sch, '"');
            put(&q, ".");
            put_quoted(&q, table, '"');
            free(sch);
        }
        rc = run_sql(st, (const char *)q.data, NULL, err, errlen);
    }
    for (size_t k = 0; k < n; k++) rows_free(&cols[k]);
    free(cols);
    free(present);
    rows_free(&main_cols);
    sift_buf_free(&q);
    return rc;
}

/* CREATE VIEW name AS body → CREATE TEMP VIEW name AS body. */
static enum sift_status temp_view(struct sift_store *st, const char *sql, char *err, size_t errlen)
{
    const char *p = sql;
    if (strncasecmp(p, "CREATE VIEW", 11) != 0) return SIFT_OK;
    struct sift_buf q = {0};
    put(&q, "CREATE TEMP VIEW");
    put(&q, p + 11);
    enum sift_status rc = run_sql(st, (const char *)q.data, NULL, err, errlen);
    sift_buf_free(&q);
    return rc;
}

enum sift_status sift_cli_open_dbs(const char *const *paths, size_t n, struct sift_store **out,
                                   char *err, size_t errlen)
{
    *out = NULL;
    for (size_t k = 0; k < n; k++)
        if (access(paths[k], F_OK) != 0) {
            snprintf(err, errlen, "%s: no such database; run smtpsift ingest first or give -d FILE",
                     paths[k]);
            return SIFT_ERR_IO;
        }
    struct sift_store *st;
    char e[512];
    if (sift_store_open_readonly(paths[0], &st, e, sizeof e) != SIFT_OK) {
        snprintf(err, errlen, "%s: %s", paths[0], e);
        return SIFT_ERR_DB;
    }
    if (n < 2) {
        *out = st;
        return SIFT_OK;
    }
    struct sift_buf q = {0};
    struct rows r = {0};
    enum sift_status rc = SIFT_OK;
    for (size_t k = 1; k < n && rc == SIFT_OK; k++) {
        char *sch = schema_name(k);
        sift_buf_reset(&q);
        put(&q, "ATTACH DATABASE ");
        put_quoted(&q, paths[k], '\'');
        put(&q, " AS ");
        put(&q, sch);
        rc = run_sql(st, (const char *)q.data, NULL, e, sizeof e);
        if (rc == SIFT_OK) {
            sift_buf_reset(&q);
            put(&q, "PRAGMA ");
            put(&q, sch);
            put(&q, ".application_id");
            rows_free(&r);
            rc = run_sql(st, (const char *)q.data, &r, e, sizeof e);
            if (rc == SIFT_OK && (r.n != 1 || !r.v[0] || strcmp(r.v[0], SIFT_APPLICATION_ID_DEC))) {
                snprintf(e, sizeof e, "not a smtpsift database");
                rc = SIFT_ERR_DB;
            }
        }
        if (rc != SIFT_OK) snprintf(err, errlen, "%s: %s", paths[k], e);
        free(sch);
    }
    /* Tables of the main database, except virtual tables (full-text indexes)
     * and their shadow tables, which cannot be merged by a view. */
    rows_free(&r);
    if (rc == SIFT_OK)
        rc = run_sql(st,
                     "SELECT t.name FROM main.sqlite_master t WHERE t.type = 'table'"
                     " AND t.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                     " AND t.sql NOT LIKE 'CREATE VIRTUAL%'"
                     " AND NOT EXISTS (SELECT 1 FROM main.sqlite_master v WHERE v.type = 'table'"
                     "   AND v.sql LIKE 'CREATE VIRTUAL%' AND t.name LIKE v.name || '\\_%' ESCAPE '\\')"
                     " ORDER BY t.name",
                     &r, err, errlen);
    for (size_t i = 0; rc == SIFT_OK && i < r.n; i++)
        rc = union_table(st, r.v[i], paths, n, err, errlen);
    rows_free(&r);
    if (rc == SIFT_OK)
        rc = run_sql(st, "SELECT sql FROM main.sqlite_master WHERE type = 'view' ORDER BY rowid", &r,
                     err, errlen);
    for (size_t i = 0; rc == SIFT_OK && i < r.n; i++)
        if (r.v[i]) rc = temp_view(st, r.v[i], err, errlen);
    rows_free(&r);
    sift_buf_free(&q);
    if (rc != SIFT_OK) {
        sift_store_close(st);
        return rc;
    }
    *out = st;
    return SIFT_OK;
}
