/* cli_live.c — `smtpsift live -i IF [-d DB] [-Z USER] [BPF expression]`:
 * captures from an interface into the database through the ingest pipeline,
 * commits every second, reports kernel drops (findings + status line), drops
 * root after opening the interface (as tcpdump -Z), stops cleanly on
 * SIGINT/SIGTERM. It does not decode anything itself. */
#include "capture.h"
#include "ingest.h"
#include "sift.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void live_usage(FILE *out)
{
    fprintf(out,
        "usage: smtpsift live -i IF [-d DB] [-Z USER] [-q|-v] [BPF expression]\n"
        "\n"
        "Capture SMTP from interface IF into the database (default ./smtpsift.db) until\n"
        "Ctrl-C or SIGTERM; everything seen is committed at least once a second, so\n"
        "`smtpsift query` on the same database shows new mail within seconds.\n"
        "\n"
        "  -i IF       interface to capture on (as in tcpdump; needs root or CAP_NET_RAW)\n"
        "  -d DB       database file (opened after privileges are dropped)\n"
        "  -Z USER     after opening the interface, switch to USER (groups, gid, uid);\n"
        "              refuses to go on if that fails. USER must be able to write DB.\n"
        "  -q          no status line and no summary;  -v  a status line every 10 s\n"
        "              even when stderr is not a terminal\n"
        "  BPF         a pcap filter (the rest of the command line, as tcpdump).\n"
        "              Careful: \"tcp port 25\" alone misses submission (587), 2525 and\n"
        "              other ports, and IP fragments (only the first carries ports).\n"
        "              SMTP is recognised on any port, so \"tcp\" is the safe filter.\n"
        "\n"
        "Kernel drops (pcap_stats) are shown in the status line and stored as\n"
        "capture_kernel_drops findings. Snaplen 262144, kernel buffer 64 MiB.\n"
        "\n"
        "examples:\n"
        "  smtpsift live -i eth0 -d mail.db -Z nobody tcp\n"
        "  smtpsift live -i lo \"tcp port 25 or tcp port 587 or tcp port 2525\"\n"
        "  smtpsift query -d mail.db \"SELECT time, mail_from, recipients, subject FROM v_mail\"\n");
}

/* Switch to user's uid, gid and supplementary groups. Returns 0, or -1 with
 * err filled. Verifies that root cannot be regained. */
static int drop_root(const char *user, char *err, size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "-Z %s: no such user%s%s", user, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "-Z %s: cannot switch to this user: %s (run as root, or leave out -Z)",
                 user, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
        snprintf(err, errlen, "-Z %s: root privileges could be regained; refusing to go on", user);
        return -1;
    }
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct status {
    const char *ifname;
    uint64_t recv, drop, ifdrop;
};

static void print_status(FILE *out, const struct status *s, const struct sift_capture_info *info,
                         const struct sift_ingest_counts *c, const char *end)
{
    fprintf(out,
            "smtpsift: live %s: %llu packets, %llu dropped by the kernel, %llu by the interface;"
            " %llu SMTP sessions, %llu messages, %llu findings%s",
            s->ifname, (unsigned long long)info->packets, (unsigned long long)s->drop,
            (unsigned long long)s->ifdrop, (unsigned long long)c->sessions,
            (unsigned long long)c->messages, (unsigned long long)c->findings, end);
    fflush(out);
}

int sift_cli_live(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "interface", required_argument, NULL, 'i' },
        { "db", required_argument, NULL, 'd' },
        { "user", required_argument, NULL, 'Z' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *ifname = NULL, *db = "smtpsift.db", *user = NULL;
    int quiet = 0, verbose = 0, c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "+i:d:Z:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': ifname = optarg; break;
        case 'd': db = optarg; break;
        case 'Z': user = optarg; break;
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case 'h': live_usage(stdout); return 0;
        default: live_usage(stderr); return 2;
        }
    }
    if (!ifname) {
        fprintf(stderr, "smtpsift: live needs an interface; try: smtpsift live -i eth0 tcp\n");
        return 2;
    }
    /* The filter is the rest of the command line, joined with spaces (tcpdump). */
    struct sift_buf fb = {0};
    for (int i = optind; i < argc; i++) {
        if (i > optind) sift_buf_putc(&fb, ' ');
        sift_buf_append(&fb, argv[i], strlen(argv[i]));
    }
    char *filter = fb.data ? (char *)sift_buf_steal(&fb, NULL) : sift_xstrdup("");
    struct sift_buf cb = {0};
    for (int i = 0; i < argc; i++) {
        if (i) sift_buf_putc(&cb, ' ');
        sift_buf_append(&cb, argv[i], strlen(argv[i]));
    }
    char *cmdline = (char *)sift_buf_steal(&cb, NULL);

    char err[512];
    int rc = 0;
    struct sift_live *live = NULL;
    struct sift_ingest_stream *stream = NULL;
    if (sift_capture_live_open(ifname, filter, &live, err, sizeof err) != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s: %s\n", ifname, err);
        rc = strstr(err, "filter") ? 2 : 1;
        goto out;
    }
    if (user && drop_root(user, err, sizeof err) != 0) {
        fprintf(stderr, "smtpsift: %s\n", err);
        rc = 1;
        goto out;
    }
    char source[128];
    snprintf(source, sizeof source, "live:%s", ifname);
    stream = sift_ingest_stream_open(db, cmdline, source, err, sizeof err);
    if (!stream) {
        fprintf(stderr, "smtpsift: %s: %s\n", db, err);
        rc = 1;
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;          /* no SA_RESTART: poll() returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct sift_capture_info info;
    memset(&info, 0, sizeof info);
    sift_capture_live_info(live, &info);
    int tty = isatty(STDERR_FILENO);
    if (!quiet)
        fprintf(stderr, "smtpsift: capturing on %s (link type %s)%s%s%s, writing %s; Ctrl-C to stop\n",
                ifname, info.dlt_name, *filter ? ", filter \"" : "", filter, *filter ? "\"" : "", db);
    struct status stat = { .ifname = ifname };
    uint64_t drop_reported = 0;
    double last_status = mono_s(), last_drop_finding = 0;
    const char *cap_status = "complete", *cap_error = NULL;
    char cap_err[512] = "";
    while (!g_stop) {
        int n = sift_capture_live_dispatch(live, 0, sift_ingest_stream_frame, stream, &info, 200,
                                           cap_err, sizeof cap_err);
        if (n < 0) {
            fprintf(stderr, "\nsmtpsift: %s: %s; stopping, everything seen so far is committed\n",
                    ifname, cap_err);
            cap_status = "failed";
            cap_error = cap_err;
            rc = 1;
            break;
        }
        const char *dberr = sift_ingest_stream_tick(stream, 0);
        if (dberr) {
            fprintf(stderr, "\nsmtpsift: %s: %s; stopping\n", db, dberr);
            rc = 1;
            break;
        }
        double t = mono_s();
        if (t - last_status < 1.0) continue;
        last_status = t;
        sift_capture_live_stats(live, &stat.recv, &stat.drop, &stat.ifdrop);
        uint64_t lost = stat.drop + stat.ifdrop;
        /* Drops become a finding at most once a minute, then once at the end. */
        if (lost > drop_reported && t - last_drop_finding >= 60.0) {
            char detail[256];
            snprintf(detail, sizeof detail,
                     "%llu frames lost before capture (%llu by the kernel, %llu by the interface) of "
                     "%llu received so far; connections may have gaps",
                     (unsigned long long)lost, (unsigned long long)stat.drop,
                     (unsigned long long)stat.ifdrop, (unsigned long long)stat.recv);
            struct sift_pktref where = { 0, info.packets, info.last_ts_us };
            sift_ingest_stream_finding(stream, "capture_kernel_drops", SIFT_SEV_MEDIUM, detail,
                                       info.packets ? &where : NULL);
            drop_reported = lost;
            last_drop_finding = t;
        }
        static double last_line;
        if (!quiet && (tty || (verbose && t - last_line >= 10.0))) {
            struct sift_ingest_counts cnt;
            sift_ingest_stream_counts(stream, &cnt);
            print_status(stderr, &stat, &info, &cnt, tty ? "\033[K\r" : "\n");
            last_line = t;
        }
    }
    sift_capture_live_stats(live, &stat.recv, &stat.drop, &stat.ifdrop);
    if (stat.drop + stat.ifdrop > drop_reported) {
        char detail[256];
        snprintf(detail, sizeof detail,
                 "%llu frames lost before capture in this run (%llu by the kernel, %llu by the "
                 "interface) of %llu received; connections may have gaps",
                 (unsigned long long)(stat.drop + stat.ifdrop), (unsigned long long)stat.drop,
                 (unsigned long long)stat.ifdrop, (unsigned long long)stat.recv);
        struct sift_pktref where = { 0, info.packets, info.last_ts_us };
        sift_ingest_stream_finding(stream, "capture_kernel_drops", SIFT_SEV_MEDIUM, detail,
                                   info.packets ? &where : NULL);
    }
    struct sift_ingest_counts cnt;
    if (sift_ingest_stream_close(stream, &info, cap_status, cap_error, &cnt) != 0) rc = 1;
    stream = NULL;
    if (!quiet) {
        if (tty) fputs("\033[K", stderr);
        print_status(stderr, &stat, &info, &cnt, g_stop ? "; stopped, all committed\n" : "\n");
    }
out:
    if (stream) sift_ingest_stream_close(stream, NULL, "failed", NULL, NULL);
    sift_capture_live_close(live);
    free(filter);
    free(cmdline);
    return rc;
}
