/* cli_report.c — `smtpsift report [-d DB] [-n N]`: the terminal report. Findings
 * grouped by rule and severity with counts, then the messages to look at first
 * (scored by the severities of their findings) with their evidence, then the
 * weightiest findings about sessions. Formatting only: the SQL runs in store.c.
 * `report --html` is cli_html.c's. */
#include "sift.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Score of a message: the sum over its findings of high 10, medium 4, low 1, info 0. */
#define SCORE_SQL "sum(CASE f.severity WHEN 'high' THEN 10 WHEN 'medium' THEN 4 WHEN 'low' THEN 1 ELSE 0 END)"
#define SEV_RANK "CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END"

struct rows {
    int ncols;
    char ***v;      /* v[row][col], NULL for SQL NULL */
    size_t n, cap;
};

static int collect(void *user, int ncols, const char *const *names, const char *const *values,
                   const char *types)
{
    (void)names;
    (void)types;
    struct rows *r = user;
    if (!values) { r->ncols = ncols; return 0; }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = sift_xrealloc(r->v, r->cap * sizeof *r->v);
    }
    char **row = sift_xcalloc((size_t)ncols, sizeof *row);
    for (int i = 0; i < ncols; i++) row[i] = values[i] ? sift_xstrdup(values[i]) : NULL;
    r->v[r->n++] = row;
    return 0;
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (int c = 0; c < r->ncols; c++) free(r->v[i][c]);
        free(r->v[i]);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static int run(struct sift_store *st, const char *sql, struct rows *r)
{
    char err[512];
    if (sift_store_query(st, sql, collect, r, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: report: %s\n", err);
        return -1;
    }
    return 0;
}

static const char *s_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

/* Print text on one line: control characters shown as spaces, Unicode
 * bidirectional controls (U+202A-202E, U+2066-2069) as <U+XXXX> so evidence
 * cannot reorder the terminal line it is printed on. */
static void put_line(const char *s)
{
    for (; s && *s; s++) {
        const unsigned char *u = (const unsigned char *)s;
        if (u[0] == 0xe2 && ((u[1] == 0x80 && u[2] >= 0xaa && u[2] <= 0xae) ||
                             (u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9))) {
            printf("<U+%04X>", ((u[0] & 0x0f) << 12) | ((u[1] & 0x3f) << 6) | (u[2] & 0x3f));
            s += 2;
            continue;
        }
        putchar(u[0] < 0x20 ? ' ' : *s);
    }
}

int sift_cli_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "top", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db";
    long top = 10;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': {
            char *end;
            top = strtol(optarg, &end, 10);
            if (*end || top < 0 || top > 100000) {
                fprintf(stderr, "smtpsift: report: -n wants a number from 0 to 100000\n");
                return 2;
            }
            break;
        }
        case 'h':
            printf("usage: smtpsift report [-d DB] [-n N]\n"
                   "\n"
                   "Prints the findings grouped by rule and severity with counts, then the N\n"
                   "messages (default 10) to look at first, ranked by the sum of their findings'\n"
                   "severities (high 10, medium 4, low 1, info 0), each with its evidence, then\n"
                   "the high and medium findings about sessions. The same data is in SQL:\n"
                   "  smtpsift query \"SELECT * FROM v_findings\"\n"
                   "Rules are described in docs/detection.md. For an HTML page: report --html FILE.\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "smtpsift: report: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct sift_store *st;
    char err[512];
    if (sift_store_open_readonly(db, &st, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        return 1;
    }
    int rc = 0;
    struct rows r = {0};

    /* 1. by rule and severity */
    if (run(st, "SELECT severity, rule, count(*), count(DISTINCT message_id) FROM findings "
                "GROUP BY rule, severity ORDER BY " SEV_RANK ", count(*) DESC, rule", &r)) { rc = 1; goto out; }
    unsigned long long total = 0;
    for (size_t i = 0; i < r.n; i++) total += strtoull(r.v[i][2], NULL, 10);
    printf("Findings by rule: %llu in %zu rule%s\n", total, r.n, r.n == 1 ? "" : "s");
    if (r.n) printf("  %-8s %7s %9s  %s\n", "severity", "count", "messages", "rule");
    for (size_t i = 0; i < r.n; i++)
        printf("  %-8s %7s %9s  %s\n", r.v[i][0], r.v[i][2], r.v[i][3], r.v[i][1]);
    rows_free(&r);

    /* 2. messages to look at first */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT f.message_id, " SCORE_SQL " AS score, m.mail_from, m.from_addr, m.subject, "
             "s.client_ip, s.uid FROM findings f JOIN messages m ON m.id = f.message_id "
             "LEFT JOIN sessions s ON s.id = m.session_id GROUP BY f.message_id HAVING score > 0 "
             "ORDER BY score DESC, f.message_id LIMIT %ld", top);
    if (run(st, sql, &r)) { rc = 1; goto out; }
    printf("\nMessages to look at first (score: high 10, medium 4, low 1): %zu shown\n", r.n);
    for (size_t i = 0; i < r.n; i++) {
        char **m = r.v[i];
        printf("%2zu. score %s  message %s  session %s  client %s\n", i + 1, m[1], m[0], s_or(m[6], "?"),
               s_or(m[5], "?"));
        printf("    MAIL FROM <%s>  From <%s>  Subject: ", s_or(m[2], ""), s_or(m[3], ""));
        put_line(s_or(m[4], ""));
        putchar('\n');
        struct rows e = {0};
        snprintf(sql, sizeof sql,
                 "SELECT severity, rule, detail FROM findings WHERE message_id = %lld AND severity <> 'info' "
                 "ORDER BY " SEV_RANK ", rule, id", strtoll(m[0], NULL, 10));
        if (run(st, sql, &e)) { rc = 1; rows_free(&e); goto out; }
        for (size_t k = 0; k < e.n; k++) {
            printf("    [%s] %s: ", e.v[k][0], e.v[k][1]);
            put_line(s_or(e.v[k][2], ""));
            putchar('\n');
        }
        rows_free(&e);
    }
    rows_free(&r);

    /* 3. weighty findings about sessions (no message) */
    snprintf(sql, sizeof sql,
             "SELECT f.severity, f.rule, f.detail, s.uid, s.client_ip FROM findings f "
             "JOIN sessions s ON s.id = f.session_id WHERE f.message_id IS NULL "
             "AND f.severity IN ('high','medium') ORDER BY CASE f.severity WHEN 'high' THEN 0 ELSE 1 END, "
             "f.id LIMIT %ld", top);
    if (run(st, sql, &r)) { rc = 1; goto out; }
    if (r.n) {
        printf("\nSession findings (high and medium): %zu shown\n", r.n);
        for (size_t i = 0; i < r.n; i++) {
            printf("  [%s] %s  session %s  client %s: ", r.v[i][0], r.v[i][1], s_or(r.v[i][3], "?"),
                   s_or(r.v[i][4], "?"));
            put_line(s_or(r.v[i][2], ""));
            putchar('\n');
        }
    }
out:
    rows_free(&r);
    sift_store_close(st);
    return rc;
}
