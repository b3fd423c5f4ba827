/* main.c — command line: subcommands (ingest, live, query, report, export...), tcpdump-style -r,
 * signal handling, exit codes (0 ok, 1 input problems, 2 usage). The only
 * place that calls exit(). */
#include "detect.h"
#include "ingest.h"
#include "sift.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int sift_cli_query(int argc, char **argv);
int sift_cli_live(int argc, char **argv);    /* cli_live.c */
int sift_cli_html(int argc, char **argv);    /* cli_html.c: report --html FILE */
int sift_cli_jsonl(int argc, char **argv);   /* cli_jsonl.c: export --jsonl FILE */
#ifdef SIFT_HAVE_CLI_REPORT
int sift_cli_report(int argc, char **argv);  /* cli_report.c: the terminal report */
#endif
#ifdef SIFT_HAVE_CLI_EXPORT
int sift_cli_export(int argc, char **argv);  /* cli_export.c: export --eml / --mbox */
int sift_cli_extract(int argc, char **argv); /* cli_export.c: extract DIR */
#endif
int sift_cli_search(int argc, char **argv);  /* cli_search.c */

/* 1 if one of argv[2..] is the option name (alone or as name=VALUE): picks
 * which file implements a subcommand whose modes live in different files. */
static int has_option(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strncmp(argv[i], name, n) && (argv[i][n] == '\0' || argv[i][n] == '=')) return 1;
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
        "smtpsift %s — passive SMTP traffic analyzer: captures in, SQLite out\n"
        "\n"
        "usage:\n"
        "  smtpsift ingest [-d DB] [-q|-v] PATH...  read pcap/pcapng files or directories\n"
        "  smtpsift -r FILE [-r FILE...] [-d DB]    the same, tcpdump style\n"
        "  smtpsift live -i IF [-d DB] [-Z USER] [BPF]   capture from an interface until Ctrl-C\n"
        "  smtpsift query [-d DB [-d DB2...]] [--csv|--json] SQL   (several -d: one view of all)\n"
        "  smtpsift search [-d DB] [-n N] TERMS     full-text search: subject, body, file names\n"
        "  smtpsift export [-d DB] --eml DIR | --mbox FILE [--id N] [--pcap-dir DIR]\n"
        "                                           messages as sent (<sha256>.eml / mboxrd)\n"
        "  smtpsift extract [-d DB] [--id N] [--pcap-dir DIR] DIR   attachments as DIR/<sha256>\n"
        "  smtpsift ingest --extract DIR ...        the same while ingesting\n"
        "  smtpsift ingest --redact-secrets ...     store no AUTH passwords or SASL data\n"
        "  smtpsift ingest --store-raw ...          keep message bytes in the database too (self-contained;\n"
        "                                           by default export/extract read them from the captures)\n"
        "  smtpsift ingest --mime-timeout S ...     CPU seconds a message may take to decode\n"
        "                                           (+0.2 s/MB; default 60, 0 = no limit)\n"
        "  smtpsift ingest --local-domain D --local-net CIDR --protected-name NAME\n"
        "                  --protected-domain D --trusted-authserv ID --config FILE ...\n"
        "                                           detection settings (repeatable; README)\n"
        "  smtpsift report [-d DB] [-n N]           findings by rule, then the messages to read first\n"
        "  smtpsift report --html FILE [-d DB]      one self-contained HTML report for a browser\n"
        "  smtpsift export --jsonl FILE|- [-d DB]   JSON lines, Zeek smtp.log + ECS email.* names\n"
        "  smtpsift --version | --help | COMMAND --help      (man smtpsift)\n"
        "\n"
        "The database defaults to ./smtpsift.db. Several files are read as one continuous\n"
        "capture in the order given; a directory means its capture files in name order.\n"
        "Files already ingested (same SHA-256) are skipped.\n"
        "\n"
        "examples:\n"
        "  smtpsift ingest samples/\n"
        "  smtpsift query \"SELECT mail_from, subject, recipients FROM v_mail\"\n"
        "  smtpsift query --csv \"SELECT filename, sha256 FROM v_attachments\"\n"
        "  smtpsift report --html report.html\n"
        "  smtpsift live -i eth0 -Z nobody tcp\n"
        "\n"
        "ingest draws a progress bar on stderr when it is a terminal; -q: no progress and\n"
        "no summary, -v: one line per file read.\n",
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
        { "extract", required_argument, NULL, 'X' },
        { "redact-secrets", no_argument, NULL, 'R' },
        { "mime-timeout", required_argument, NULL, 'T' },
        { "store-raw", no_argument, NULL, 'S' },
        /* detection settings (detect.h): codes 1000+ */
        { "local-domain", required_argument, NULL, 1000 },
        { "local-net", required_argument, NULL, 1001 },
        { "protected-name", required_argument, NULL, 1002 },
        { "protected-domain", required_argument, NULL, 1003 },
        { "trusted-authserv", required_argument, NULL, 1004 },
        { "bruteforce-threshold", required_argument, NULL, 1005 },
        { "config", required_argument, NULL, 1006 },
        { NULL, 0, NULL, 0 },
    };
    struct sift_detect_config dc = {0};
    char derr[512];
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
        case 'X': o.extract_dir = optarg; break;
        case 'R': o.redact_secrets = 1; break;
        case 'S': o.store_raw = 1; break;
        case 'T': {
            char *end;
            double v = strtod(optarg, &end);
            if (end == optarg || *end || v < 0 || v > 1e6) {
                fprintf(stderr, "smtpsift: --mime-timeout wants seconds (0 = no limit), not '%s'\n", optarg);
                sift_detect_config_free(&dc);
                free(paths);
                return 2;
            }
            o.mime_timeout = v == 0 ? -1 : v;
            break;
        }
        case 1000: case 1001: case 1002: case 1003: case 1004: case 1005: {
            const char *key = "";
            for (const struct option *lo = longopts; lo->name; lo++)
                if (lo->val == c) key = lo->name;
            if (sift_detect_config_set(&dc, key, optarg, derr, sizeof derr) != SIFT_OK) {
                fprintf(stderr, "smtpsift: --%s\n", derr);
                sift_detect_config_free(&dc);
                free(paths);
                return 2;
            }
            break;
        }
        case 1006:
            if (sift_detect_config_load(&dc, optarg, derr, sizeof derr) != SIFT_OK) {
                fprintf(stderr, "smtpsift: --config %s\n", derr);
                sift_detect_config_free(&dc);
                free(paths);
                return 2;
            }
            break;
        case 'h': usage(stdout); sift_detect_config_free(&dc); free(paths); return 0;
        default: usage(stderr); sift_detect_config_free(&dc); free(paths); return 2;
        }
    }
    for (int i = optind; i < argc; i++) paths[n++] = argv[i];
    if (n == 0) {
        fprintf(stderr, "smtpsift: no capture given; try: smtpsift ingest FILE.pcap\n");
        sift_detect_config_free(&dc);
        free(paths);
        return 2;
    }
    o.detect = &dc;
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
    sift_detect_config_free(&dc);
    free(cmdline);
    free(paths);
    return rc;
}

int main(int argc, char **argv)
{
    /* The database and any temporary file hold mail and credentials. */
    umask(077);
    /* Past a file size limit (ulimit -f) write() must fail with EFBIG, giving
     * a database error and a clean exit, rather than SIGXFSZ killing the process. */
    signal(SIGXFSZ, SIG_IGN);
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
    if (!strcmp(cmd, "search")) return sift_cli_search(argc, argv);
#ifdef SIFT_HAVE_CLI_EXPORT
    if (!strcmp(cmd, "extract")) return sift_cli_extract(argc, argv);
#endif
    if (!strcmp(cmd, "live")) return sift_cli_live(argc, argv);
    if (!strcmp(cmd, "report")) {
        if (has_option(argc, argv, "--html")) return sift_cli_html(argc, argv);
#ifdef SIFT_HAVE_CLI_REPORT
        return sift_cli_report(argc, argv);
#else
        fprintf(stderr, "smtpsift: the terminal report is not built yet; try: smtpsift report --html report.html\n");
        return 2;
#endif
    }
    if (!strcmp(cmd, "export")) {
        if (has_option(argc, argv, "--jsonl")) return sift_cli_jsonl(argc, argv);
#ifdef SIFT_HAVE_CLI_EXPORT
        return sift_cli_export(argc, argv);
#else
        fprintf(stderr, "smtpsift: only export --jsonl is built yet; try: smtpsift export --jsonl mail.jsonl\n");
        return 2;
#endif
    }
    if (cmd[0] == '-') return cmd_ingest(argc, argv, 1);   /* smtpsift -r x.pcap */
    fprintf(stderr, "smtpsift: unknown command '%s'; try smtpsift --help\n", cmd);
    return 2;
}
