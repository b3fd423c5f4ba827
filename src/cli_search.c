/* cli_search.c — `smtpsift search [-d DB] [-n N] TERMS`: full-text search
 * over subjects, body text and attachment file names (FTS5 query syntax),
 * one block per message: id, time, sender, subject, then a snippet.
 * Formatting only; the query runs in store.c. */
#include "sift.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sift_cli_search(int argc, char **argv);

struct hits { size_t n; };

/* Control characters (newlines included) become spaces: one line per field. */
static void put_clean(const char *v)
{
    if (!v) { fputs("-", stdout); return; }
    for (const char *p = v; *p; p++) putchar((unsigned char)*p < 0x20 ? ' ' : *p);
}

static int on_hit(void *user, int ncols, const char *const *names, const char *const *vals,
                  const char *types)
{
    struct hits *h = user;
    (void)names; (void)types;
    if (!vals || ncols < 5) return 0;
    h->n++;
    put_clean(vals[0]);
    fputs("  ", stdout); put_clean(vals[1]);
    fputs("  ", stdout); put_clean(vals[2]);
    fputs("  ", stdout); put_clean(vals[3]);
    fputs("\n    ", stdout); put_clean(vals[4]);
    putchar('\n');
    return 0;
}

int sift_cli_search(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "limit", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = "smtpsift.db";
    int limit = 100, c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': limit = atoi(optarg); break;
        case 'h':
            printf("usage: smtpsift search [-d DB] [-n LIMIT] TERMS\n"
                   "  TERMS in FTS5 syntax: words, \"a phrase\", AND/OR/NOT, prefix*,\n"
                   "  subject:word, body:word, filenames:word. Lists id, time, sender,\n"
                   "  subject and a snippet with the matches in [brackets].\n");
            return 0;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "smtpsift: search needs terms; try: smtpsift search invoice\n");
        return 2;
    }
    struct sift_buf terms = {0};
    for (int i = optind; i < argc; i++) {
        if (terms.len) sift_buf_putc(&terms, ' ');
        sift_buf_append(&terms, argv[i], strlen(argv[i]));
    }
    struct sift_store *st;
    char err[512];
    if (sift_store_open_readonly(db, &st, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        sift_buf_free(&terms);
        return 1;
    }
    struct hits h = {0};
    enum sift_status rc = sift_store_search(st, (const char *)terms.data, limit, on_hit, &h, err, sizeof err);
    sift_store_close(st);
    sift_buf_free(&terms);
    if (rc != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        return 1;
    }
    if (!h.n) fprintf(stderr, "smtpsift: no message matches\n");
    return 0;
}
