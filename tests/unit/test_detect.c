/* test_detect.c — detection rules (src/detect*.c) on hand-built inputs: for each
 * rule a true positive with its exact evidence or name, and the near misses that
 * must not fire (bounces, mailing lists, forwarding, authenticated clients). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "detect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------- collected findings ---------- */

struct got { char rule[64][64]; char detail[64][1024]; int sev[64]; int n; };

static void sink(void *user, const char *rule, enum sift_severity sev, const char *detail,
                 const struct sift_pktref *where)
{
    struct got *g = user;
    assert_null(where);
    if (g->n >= 64) return;
    snprintf(g->rule[g->n], sizeof g->rule[0], "%s", rule);
    snprintf(g->detail[g->n], sizeof g->detail[0], "%s", detail ? detail : "");
    g->sev[g->n] = (int)sev;
    g->n++;
}

static int has(const struct got *g, const char *rule)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->rule[i], rule)) return i + 1;
    return 0;
}

/* ---------- a small message builder ---------- */

struct msg {
    struct sift_mime_summary m;
    struct sift_mime_header h[16];
    struct sift_mime_address a[8];
    struct sift_mime_part p[4];
};

static void msg_init(struct msg *x, const char *from_name, const char *from_addr)
{
    memset(x, 0, sizeof *x);
    x->m.parsed = 1;
    x->m.headers = x->h;
    x->m.addresses = x->a;
    x->m.parts = x->p;
    x->m.from_name = (char *)from_name;
    x->m.from_addr = (char *)from_addr;
    if (from_addr) {
        x->a[0] = (struct sift_mime_address){ "from", (char *)from_name, (char *)from_addr, NULL };
        x->m.n_addresses = 1;
    }
}

static void hdr(struct msg *x, const char *name, const char *value)
{
    x->h[x->m.n_headers++] = (struct sift_mime_header){ (char *)name, (char *)value, NULL, 0 };
}

static void addr(struct msg *x, const char *field, const char *address)
{
    x->a[x->m.n_addresses++] = (struct sift_mime_address){ (char *)field, NULL, (char *)address, NULL };
}

static struct sift_detect_config cfg_full(void)
{
    struct sift_detect_config c = {0};
    char err[256];
    assert_int_equal(sift_detect_config_set(&c, "local-domain", "Corp.Example.", err, sizeof err), SIFT_OK);
    assert_int_equal(sift_detect_config_set(&c, "--local-net", "10.0.0.0/8", err, sizeof err), SIFT_OK);
    assert_int_equal(sift_detect_config_set(&c, "local-net", "2001:db8:100::/48", err, sizeof err), SIFT_OK);
    assert_int_equal(sift_detect_config_set(&c, "protected-name", "Alice Chief", err, sizeof err), SIFT_OK);
    assert_int_equal(sift_detect_config_set(&c, "protected-domain", "paypal.com", err, sizeof err), SIFT_OK);
    assert_int_equal(sift_detect_config_set(&c, "trusted-authserv", "MX.corp.example", err, sizeof err), SIFT_OK);
    return c;
}

/* Run all message rules once with a fresh context. */
static void run(struct got *g, const struct sift_detect_session *s, const char *mail_from,
                const struct sift_detect_rcpt *r, size_t nr, const struct msg *m)
{
    struct sift_detect_config c = cfg_full();
    struct sift_detect *d = sift_detect_new(&c);
    sift_detect_config_free(&c);
    struct sift_detect_txn t = { mail_from, r, nr };
    memset(g, 0, sizeof *g);
    sift_detect_message(d, s, &t, m ? &m->m : NULL, sink, g);
    sift_detect_free(d);
}

static const struct sift_detect_session OUTSIDE = { "203.0.113.5", "mail.sender.example", 0, 0, 0 };
static const struct sift_detect_rcpt LOCAL_RCPT[] = { { "bob@corp.example", 250 } };

/* ---------- configuration ---------- */

static void test_config(void **state)
{
    (void)state;
    struct sift_detect_config c = {0};
    char err[256];
    assert_int_equal(sift_detect_config_set(&c, "local-net", "10.0.0.0/33", err, sizeof err), SIFT_ERR_USAGE);
    assert_string_equal(err, "local-net: '10.0.0.0/33' is not an IPv4/IPv6 address or CIDR network");
    assert_int_equal(sift_detect_config_set(&c, "colour", "red", err, sizeof err), SIFT_ERR_USAGE);
    assert_string_equal(err, "unknown detection setting 'colour'");
    struct sift_detect_net n;
    assert_int_equal(sift_detect_parse_net("2001:db8::/32", &n), 0);
    assert_int_equal(n.family, 6);
    assert_int_equal(n.prefix, 32);
    assert_int_equal(sift_detect_parse_net("192.0.2.7", &n), 0);
    assert_int_equal(n.prefix, 32);

    char path[] = "/tmp/test_detect_confXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n\nlocal-domain = corp.example\nprotected-name = \"Jane Doe\"\nlocal-net=10.0.0.0/8\n", f);
    fclose(f);
    assert_int_equal(sift_detect_config_load(&c, path, err, sizeof err), SIFT_OK);
    assert_int_equal(c.n_local_domains, 1);
    assert_string_equal(c.protected_names[0], "Jane Doe");
    assert_int_equal(c.n_local_nets, 1);
    f = fopen(path, "w");
    fputs("local-domain corp.example\n", f);
    fclose(f);
    assert_int_equal(sift_detect_config_load(&c, path, err, sizeof err), SIFT_ERR_USAGE);
    assert_non_null(strstr(err, ":1: expected 'key = value'"));
    unlink(path);
    sift_detect_config_free(&c);
}

static void test_config_missing(void **state)
{
    (void)state;
    struct got g = {0};
    struct sift_detect *d = sift_detect_new(NULL);
    sift_detect_begin(d, sink, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.rule[0], "detect_config_missing");
    assert_int_equal(g.sev[0], SIFT_SEV_INFO);
    assert_string_equal(g.detail[0],
        "no --local-domain and no --local-net: skipped local_domain_from_outside, helo_local_name_from_outside, "
        "open_relay; no --protected-name: skipped display_name_protected; no --trusted-authserv: skipped "
        "auth_results_fail");
    /* the other rules still run */
    struct msg m;
    msg_init(&m, NULL, "service@bigbank.example");
    struct sift_detect_txn t = { "x@spam.example", NULL, 0 };
    memset(&g, 0, sizeof g);
    sift_detect_message(d, &OUTSIDE, &t, &m.m, sink, &g);
    assert_true(has(&g, "envelope_from_misaligned"));
    sift_detect_free(d);

    struct sift_detect_config c = cfg_full();
    d = sift_detect_new(&c);
    sift_detect_config_free(&c);
    memset(&g, 0, sizeof g);
    sift_detect_begin(d, sink, &g);
    assert_int_equal(g.n, 0);
    sift_detect_free(d);
}

/* ---------- alignment ---------- */

static void test_org_domain(void **state)
{
    (void)state;
    struct sift_detect *d = sift_detect_new(NULL);
    char *o = sift_detect_org_domain(d, "a.b.example.co.uk");
    assert_string_equal(o, "example.co.uk");
    free(o);
    o = sift_detect_org_domain(d, "mail.corp.example");
    assert_string_equal(o, "corp.example");
    free(o);
    o = sift_detect_org_domain(d, "xn--mnchen-3ya.example");
    assert_string_equal(o, "m\xc3\xbcnchen.example");
    free(o);
    sift_detect_free(d);
}

static void test_envelope_alignment(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, "Service", "service@bigbank.example");
    run(&g, &OUTSIDE, "x@spam.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "envelope_from_misaligned");
    assert_true(i);
    assert_int_equal(g.sev[i - 1], SIFT_SEV_MEDIUM);
    assert_string_equal(g.detail[i - 1],
        "MAIL FROM <x@spam.example> (organizational domain spam.example) is not aligned with From "
        "<service@bigbank.example> (organizational domain bigbank.example), relaxed alignment (RFC 7489 3.1)");

    /* strict only: same organizational domain */
    msg_init(&m, NULL, "letter@news.example");
    run(&g, &OUTSIDE, "b-1@em.news.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "envelope_from_misaligned"));
    i = has(&g, "envelope_from_strict_misaligned");
    assert_true(i);
    assert_int_equal(g.sev[i - 1], SIFT_SEV_INFO);

    /* registrable domains under a multi-label public suffix align */
    msg_init(&m, NULL, "a@shop.example.co.uk");
    run(&g, &OUTSIDE, "b@mail.example.co.uk", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "envelope_from_misaligned"));
    /* ... but two registrants of co.uk do not */
    msg_init(&m, NULL, "a@example.co.uk");
    run(&g, &OUTSIDE, "b@other.co.uk", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "envelope_from_misaligned"));

    /* near misses: null sender, list, SRS, Resent-From */
    msg_init(&m, NULL, "MAILER-DAEMON@mx.partner.example");
    run(&g, &OUTSIDE, "", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);

    msg_init(&m, NULL, "carol@othercorp.example");
    hdr(&m, "List-Id", "<dev.listhost.example>");
    addr(&m, "reply-to", "dev@listhost.example");
    run(&g, &OUTSIDE, "dev-bounces@listhost.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "envelope_from_misaligned"));
    assert_false(has(&g, "reply_to_divergent"));
    assert_true(has(&g, "envelope_misaligned_list"));

    msg_init(&m, NULL, "bob@partner.example");
    run(&g, &OUTSIDE, "SRS0=HH=TT=partner.example=bob@forwarder.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "envelope_from_misaligned"));
    assert_true(has(&g, "envelope_misaligned_forwarded"));

    msg_init(&m, NULL, "bob@partner.example");
    hdr(&m, "Resent-From", "Fwd <me@forwarder.example>");
    run(&g, &OUTSIDE, "me@forwarder.example", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "envelope_misaligned_forwarded"));
    /* a Resent-From that is not the envelope's does not excuse it */
    msg_init(&m, NULL, "bob@partner.example");
    hdr(&m, "Resent-From", "<me@unrelated.example>");
    run(&g, &OUTSIDE, "me@forwarder.example", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "envelope_from_misaligned"));
}

static void test_header_divergence(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "news@store.example");
    addr(&m, "reply-to", "collect@harvest.example");
    addr(&m, "sender", "agent@other.example");
    addr(&m, "return-path", "bounce@elsewhere.example");
    run(&g, &OUTSIDE, "news@store.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "reply_to_divergent");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "Reply-To <collect@harvest.example> (organizational domain "
                                         "harvest.example) differs from From <news@store.example> (store.example)");
    assert_true(has(&g, "sender_header_divergent"));
    i = has(&g, "return_path_divergent");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "Return-Path <bounce@elsewhere.example> differs from MAIL FROM <news@store.example>");

    /* near misses: same organization, Return-Path equal to MAIL FROM (case aside) */
    msg_init(&m, NULL, "news@store.example");
    addr(&m, "reply-to", "help@support.store.example");
    addr(&m, "return-path", "NEWS@store.example");
    run(&g, &OUTSIDE, "news@store.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
}

static void test_display_name(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, "alice@corp.example", "alice@attacker.example");
    run(&g, &OUTSIDE, "alice@attacker.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "display_name_address_mismatch");
    assert_true(i);
    assert_int_equal(g.sev[i - 1], SIFT_SEV_HIGH);
    assert_string_equal(g.detail[i - 1], "From display name shows alice@corp.example (organizational domain "
                                         "corp.example) but the address is <alice@attacker.example> (attacker.example)");
    /* near misses: the real address, or another address of the same organization */
    msg_init(&m, "bob@partner.example", "bob@partner.example");
    run(&g, &OUTSIDE, "bob@partner.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    msg_init(&m, "Bob (bob.smith@mail.partner.example)", "bob@partner.example");
    run(&g, &OUTSIDE, "bob@partner.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);

    /* protected name */
    msg_init(&m, "CEO  alice CHIEF", "ceo@freemail.example");
    run(&g, &OUTSIDE, "ceo@freemail.example", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "display_name_protected"));
    msg_init(&m, "Alice Chief", "alice.chief@corp.example");
    struct sift_detect_session inside = { "10.1.2.3", "ws.corp.example", 0, 0, 0 };
    run(&g, &inside, "alice.chief@corp.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    msg_init(&m, "Alice Chiefson", "ac@freemail.example");    /* not on a word boundary */
    run(&g, &OUTSIDE, "ac@freemail.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "display_name_protected"));
}

/* ---------- look-alikes ---------- */

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(sift_detect_edit_distance("paypal", "paypal", 2), 0);
    assert_int_equal(sift_detect_edit_distance("paypa1", "paypal", 2), 1);
    assert_int_equal(sift_detect_edit_distance("crop", "corp", 2), 1);       /* transposition */
    assert_int_equal(sift_detect_edit_distance("micorsfot", "microsoft", 2), 2);
    assert_int_equal(sift_detect_edit_distance("abcdef", "uvwxyz", 2), 3);   /* capped */
}

static void test_lookalike(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "support@paypa1.com");
    run(&g, &OUTSIDE, "support@paypa1.com", LOCAL_RCPT, 1, &m);
    int i = has(&g, "lookalike_domain_confusable");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "From domain paypa1.com is confusable with protected domain paypal.com "
                                         "(same UTS 39 skeleton \"paypal.corn\")");

    msg_init(&m, NULL, "security@xn--pypal-4ve.com");
    run(&g, &OUTSIDE, "security@xn--pypal-4ve.com", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "lookalike_domain_confusable"));
    i = has(&g, "lookalike_domain_mixed_script");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "From domain p\xd0\xb0ypal.com (xn--pypal-4ve.com) mixes scripts "
                                         "(fails the UTS 39 highly restrictive level)");
    assert_false(has(&g, "envelope_from_misaligned"));   /* A-label and U-label are one domain */

    msg_init(&m, NULL, "hr@crop.example");
    run(&g, &OUTSIDE, "hr@crop.example", LOCAL_RCPT, 1, &m);
    i = has(&g, "lookalike_domain_edit");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "From domain crop.example is 1 edit from local domain corp.example "
                                         "(label \"crop\" vs \"corp\")");

    /* near misses: the protected domain itself, a subdomain of it, short labels, one-script IDN */
    const char *fine[] = { "a@paypal.com", "a@mail.paypal.com", "a@abc.example", "a@xn--mnchen-3ya.example",
                           "a@corp.example", "a@partner.example" };
    for (size_t k = 0; k < sizeof fine / sizeof *fine; k++) {
        msg_init(&m, NULL, fine[k]);
        struct sift_detect_session s = OUTSIDE;
        run(&g, !strcmp(fine[k], "a@corp.example") ? &(struct sift_detect_session){ "10.0.0.9", "ws.corp.example", 0, 0, 0 } : &s,
            fine[k], LOCAL_RCPT, 1, &m);
        for (int j = 0; j < g.n; j++) fprintf(stderr, "unexpected for %s: %s %s\n", fine[k], g.rule[j], g.detail[j]);
        assert_int_equal(g.n, 0);
    }
}

static void test_lookalike_seen(void **state)
{
    (void)state;
    struct sift_detect_config c = cfg_full();
    struct sift_detect *d = sift_detect_new(&c);
    sift_detect_config_free(&c);
    struct got g = {0};
    struct msg m;
    struct sift_detect_txn t = { "bob@partner.example", LOCAL_RCPT, 1 };
    msg_init(&m, NULL, "bob@partner.example");
    sift_detect_message(d, &OUTSIDE, &t, &m.m, sink, &g);
    assert_int_equal(g.n, 0);
    /* a misaligned message does not make its From domain "seen legitimately" */
    t.mail_from = "x@spam.example";
    msg_init(&m, NULL, "y@lender.example");
    sift_detect_message(d, &OUTSIDE, &t, &m.m, sink, &g);
    memset(&g, 0, sizeof g);
    t.mail_from = "bob@partnre.example";
    msg_init(&m, NULL, "bob@partnre.example");
    sift_detect_message(d, &OUTSIDE, &t, &m.m, sink, &g);
    int i = has(&g, "lookalike_domain_seen");
    assert_true(i);
    assert_int_equal(g.sev[i - 1], SIFT_SEV_MEDIUM);
    assert_string_equal(g.detail[i - 1], "From domain partnre.example is 1 edit from domain seen earlier in this "
                                         "capture partner.example (label \"partnre\" vs \"partner\")");
    memset(&g, 0, sizeof g);
    t.mail_from = "z@lendor.example";
    msg_init(&m, NULL, "z@lendor.example");
    sift_detect_message(d, &OUTSIDE, &t, &m.m, sink, &g);
    assert_false(has(&g, "lookalike_domain_seen"));
    sift_detect_free(d);
}

/* ---------- origin ---------- */

static void test_local_from(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "alice@corp.example");
    run(&g, &OUTSIDE, "alice@corp.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "local_domain_from_outside");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "From <alice@corp.example> claims local domain corp.example but client "
                                         "203.0.113.5 is outside the local networks and did not authenticate "
                                         "(MAIL FROM <alice@corp.example>)");
    /* near misses: authenticated, inside (IPv4 and IPv6), via a list */
    struct sift_detect_session auth = OUTSIDE;
    auth.auth_ok = 1;
    run(&g, &auth, "alice@corp.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    struct sift_detect_session in6 = { "2001:db8:100::25", "ws.corp.example", 0, 0, 0 };
    run(&g, &in6, "alice@corp.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    hdr(&m, "List-Id", "<dev.listhost.example>");
    run(&g, &OUTSIDE, "dev-bounces@listhost.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "local_domain_from_outside"));
    assert_true(has(&g, "local_domain_from_list"));
}

static void test_helo(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "n@shop.example");
    struct sift_detect_session s = OUTSIDE;
    s.helo = "[198.51.100.99]";
    run(&g, &s, "n@shop.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "helo_ip_mismatch");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "EHLO/HELO address literal [198.51.100.99] is not the client's address 203.0.113.5");
    s.helo = "[203.0.113.5]";
    run(&g, &s, "n@shop.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    struct sift_detect_session s6 = { "2001:db8::1", "[IPv6:2001:DB8::1]", 0, 0, 0 };
    run(&g, &s6, "n@shop.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);

    const char *bad[] = { "bad_host!", "-x.example", "203.0.113.5", "[1.2.3]", "desktop-42" };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        s.helo = bad[k];
        run(&g, &s, "n@shop.example", LOCAL_RCPT, 1, &m);
        assert_true(has(&g, "helo_invalid"));
    }
    /* a short name from inside is tolerated */
    struct sift_detect_session in = { "10.1.1.1", "desktop-42", 0, 0, 0 };
    run(&g, &in, "n@shop.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "helo_invalid"));

    s.helo = "mx.corp.example";
    run(&g, &s, "n@shop.example", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "helo_local_name_from_outside"));
    s.helo = "mail.shop.example.";
    run(&g, &s, "n@shop.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
}

static void test_received(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "n@sender.example");
    hdr(&m, "Received", "from trusted (trusted.sender.example [10.9.9.9]) by relay.sender.example "
                        "(198.51.100.200) with ESMTP id 77; Tue, 14 Nov 2023 22:13:19 +0000");
    run(&g, &OUTSIDE, "n@sender.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "received_hop_mismatch");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "newest Received header says it was added by relay.sender.example "
                                         "(198.51.100.200) but the client is 203.0.113.5");
    /* near misses: the by-hop is the client; no IP in the by clause; IP only in the from clause */
    msg_init(&m, NULL, "n@sender.example");
    hdr(&m, "Received", "from x (x [10.9.9.9]) by relay.sender.example ([203.0.113.5]) with ESMTP id 1; date");
    run(&g, &OUTSIDE, "n@sender.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    msg_init(&m, NULL, "n@sender.example");
    hdr(&m, "Received", "from x (x [10.9.9.9]) by relay.sender.example (Postfix) with ESMTP id 1; date");
    run(&g, &OUTSIDE, "n@sender.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    /* a hop claimed by a local host, from outside */
    msg_init(&m, NULL, "n@sender.example");
    hdr(&m, "Received", "from x by mail.corp.example (Postfix) with ESMTP id 1; date");
    run(&g, &OUTSIDE, "n@sender.example", LOCAL_RCPT, 1, &m);
    assert_true(has(&g, "received_hop_mismatch"));
}

/* ---------- authentication evidence ---------- */

static void test_dkim(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "billing@vendor.example");
    hdr(&m, "DKIM-Signature", "v=1; a=rsa-sha256; d = Evil-Signer.example ; s=s1; h=from; bh=AA; b=BB");
    run(&g, &OUTSIDE, "billing@vendor.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "dkim_not_aligned");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "DKIM-Signature d=evil-signer.example is not aligned with From "
                                         "<billing@vendor.example> (organizational domain vendor.example)");
    /* near misses: one of two signatures aligned (subdomain); list re-signing */
    hdr(&m, "DKIM-Signature", "v=1; d=mail.vendor.example; s=s2; b=CC");
    run(&g, &OUTSIDE, "billing@vendor.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
    msg_init(&m, NULL, "carol@othercorp.example");
    hdr(&m, "DKIM-Signature", "v=1; d=listhost.example; s=s; b=x");
    hdr(&m, "List-Id", "<dev.listhost.example>");
    run(&g, &OUTSIDE, "carol@othercorp.example", LOCAL_RCPT, 1, &m);
    assert_false(has(&g, "dkim_not_aligned"));
}

static void test_auth_results(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "support@bank.example");
    hdr(&m, "Authentication-Results", "mx.corp.example; spf=fail smtp.mailfrom=bank.example; dkim=none; "
                                      "dmarc=fail (p=reject) header.from=bank.example");
    run(&g, &OUTSIDE, "support@bank.example", LOCAL_RCPT, 1, &m);
    int i = has(&g, "auth_results_fail");
    assert_true(i);
    assert_int_equal(g.sev[i - 1], SIFT_SEV_HIGH);
    assert_string_equal(g.detail[i - 1], "Authentication-Results from trusted server mx.corp.example reports "
                                         "spf=fail smtp.mailfrom=bank.example; dmarc=fail  header.from=bank.example "
                                         "(From <support@bank.example>)");
    /* spf alone: medium */
    msg_init(&m, NULL, "support@bank.example");
    hdr(&m, "Authentication-Results", "mx.corp.example 1; spf=fail smtp.mailfrom=bank.example");
    run(&g, &OUTSIDE, "support@bank.example", LOCAL_RCPT, 1, &m);
    i = has(&g, "auth_results_fail");
    assert_true(i);
    assert_int_equal(g.sev[i - 1], SIFT_SEV_MEDIUM);
    /* near misses: untrusted server; pass; softfail; "fail" inside a comment */
    msg_init(&m, NULL, "support@bank.example");
    hdr(&m, "Authentication-Results", "mx.attacker.example; dmarc=fail header.from=bank.example");
    hdr(&m, "Authentication-Results", "mx.corp.example; spf=softfail (dmarc=fail) smtp.mailfrom=bank.example; dkim=pass");
    run(&g, &OUTSIDE, "support@bank.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 0);
}

/* ---------- session ---------- */

static void test_open_relay(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "a@relay.example");
    struct sift_detect_rcpt r[] = { { "bob@corp.example", 250 }, { "victim@faraway.example", 250 },
                                    { "v2@far2.example", 251 } };
    run(&g, &OUTSIDE, "a@relay.example", r, 3, &m);
    int i = has(&g, "open_relay");
    assert_true(i);
    assert_string_equal(g.detail[i - 1], "client 203.0.113.5 (outside the local networks, no AUTH) got recipient "
                                         "<victim@faraway.example> outside the local domains accepted with 250 (and more)");
    /* near misses: refused; authenticated; inside; local subdomain; no content (still a relay) */
    struct sift_detect_rcpt refused[] = { { "victim@faraway.example", 554 }, { "x@sub.corp.example", 250 } };
    run(&g, &OUTSIDE, "a@relay.example", refused, 2, &m);
    assert_false(has(&g, "open_relay"));
    struct sift_detect_session auth = OUTSIDE;
    auth.auth_ok = 1;
    run(&g, &auth, "a@relay.example", r, 3, &m);
    assert_false(has(&g, "open_relay"));
    struct sift_detect_session in = { "10.2.2.2", "ws.corp.example", 0, 0, 0 };
    run(&g, &in, "a@relay.example", r, 3, &m);
    assert_false(has(&g, "open_relay"));
    run(&g, &OUTSIDE, "a@relay.example", r, 3, NULL);
    assert_true(has(&g, "open_relay"));
}

static void test_bruteforce(void **state)
{
    (void)state;
    struct sift_detect *d = sift_detect_new(NULL);
    struct got g = {0};
    struct sift_detect_session s = { "203.0.113.66", "[203.0.113.66]", 0, 2, 0 };
    sift_detect_session_end(d, &s, sink, &g);
    sift_detect_session_end(d, &s, sink, &g);
    assert_int_equal(g.n, 0);
    struct sift_detect_session other = { "203.0.113.67", "x", 0, 4, 0 };   /* counted apart */
    sift_detect_session_end(d, &other, sink, &g);
    assert_int_equal(g.n, 0);
    sift_detect_session_end(d, &s, sink, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.rule[0], "auth_bruteforce");
    assert_string_equal(g.detail[0], "6 failed AUTH attempts from client 203.0.113.66 so far in this capture "
                                     "(2 in this session; threshold 5)");
    sift_detect_session_end(d, &s, sink, &g);    /* once per client */
    assert_int_equal(g.n, 1);
    sift_detect_free(d);
}

static void test_bidi_attachment(void **state)
{
    (void)state;
    struct got g;
    struct msg m;
    msg_init(&m, NULL, "scan@docs.example");
    m.p[0] = (struct sift_mime_part){ .path = "2", .content_type = "application/octet-stream",
                                      .filename = "invoice\xe2\x80\xae" "fdp.exe", .is_attachment = 1 };
    m.p[1] = (struct sift_mime_part){ .path = "3", .content_type = "application/pdf",
                                      .filename = "invoice.pdf", .is_attachment = 1 };
    m.m.n_parts = 2;
    run(&g, &OUTSIDE, "scan@docs.example", LOCAL_RCPT, 1, &m);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.rule[0], "attachment_bidi_override");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_missing),
        cmocka_unit_test(test_org_domain),
        cmocka_unit_test(test_envelope_alignment),
        cmocka_unit_test(test_header_divergence),
        cmocka_unit_test(test_display_name),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_lookalike),
        cmocka_unit_test(test_lookalike_seen),
        cmocka_unit_test(test_local_from),
        cmocka_unit_test(test_helo),
        cmocka_unit_test(test_received),
        cmocka_unit_test(test_dkim),
        cmocka_unit_test(test_auth_results),
        cmocka_unit_test(test_open_relay),
        cmocka_unit_test(test_bruteforce),
        cmocka_unit_test(test_bidi_attachment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
