/* main.c — command line: subcommands ingest and query, tcpdump-style -r,
 * signal handling, exit codes (0 ok, 1 input problems, 2 usage). The only
 * place that calls exit(). */
#include "ingest.h"
#include "sift.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int sift_cli_query(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out,
        "smtpsift %s — passive SMTP traffic analyzer: captures in, SQLite out\n"
        "\n"
        "usage:\n"
        "  smtpsift ingest [-d DB] [-q] PATH...     read pcap/pcapng files or directories\n"
        "  smtpsift -r FILE [-r FILE...] [-d DB]    the same, tcpdump style\n"
        "  smtpsift query [-d DB] [--csv|--json] SQL\n"
        "  smtpsift --version | --help\n"
        "\n"
        "The database defaults to ./smtpsift.db. Several files are read as one continuous\n"
        "capture in the order given; a directory means its capture files in name order.\n"
        "Files already ingested (same SHA-256) are skipped.\n"
        "\n"
        "examples:\n"
        "  smtpsift ingest samples/\n"
        "  smtpsift query \"SELECT mail_from, subject, recipients FROM v_mail\"\n"
        "  smtpsift query --csv \"SELECT filename, sha256 FROM v_attachments\"\n",
        SIFT_VERSION);
}

static void on_signal(int sig)
{
    (void)sig;
    sift_ingest_interrupt();
}

static char *join_args(int argc, char **argv)
{
    struct sift_buf b = {0};
    for (int i = 0; i < argc; i++) {
        if (i) sift_buf_putc(&b, ' ');
        sift_buf_append(&b, argv[i], strlen(argv[i]));
    }
    return (char *)sift_buf_steal(&b, NULL);
}

static int cmd_ingest(int argc, char **argv, int tcpdump_style)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct sift_ingest_opts o = { .db_path = "smtpsift.db" };
    const char **paths = sift_xcalloc((size_t)argc + 1, sizeof *paths);
    size_t n = 0;
    int c;
    optind = tcpdump_style ? 1 : 2;
    while ((c = getopt_long(argc, argv, "d:r:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db_path = optarg; break;
        case 'r': paths[n++] = optarg; break;
        case 'q': o.quiet = 1; break;
        case 'v': o.verbose = 1; break;
        case 'h': usage(stdout); free(paths); return 0;
        default: usage(stderr); free(paths); return 2;
        }
    }
    for (int i = optind; i < argc; i++) paths[n++] = argv[i];
    if (n == 0) {
        fprintf(stderr, "smtpsift: no capture given; try: smtpsift ingest FILE.pcap\n");
        free(paths);
        return 2;
    }
    o.paths = paths;
    o.n_paths = n;
    char *cmdline = join_args(argc, argv);
    o.command_line = cmdline;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = sift_ingest_run(&o);
    free(cmdline);
    free(paths);
    return rc;
}

int main(int argc, char **argv)
{
    /* The database and any temporary file hold mail and credentials. */
    umask(077);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("smtpsift %s\n", SIFT_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "ingest")) return cmd_ingest(argc, argv, 0);
    if (!strcmp(cmd, "query")) return sift_cli_query(argc, argv);
    if (cmd[0] == '-') return cmd_ingest(argc, argv, 1);   /* smtpsift -r x.pcap */
    fprintf(stderr, "smtpsift: unknown command '%s'; try smtpsift --help\n", cmd);
    return 2;
}
