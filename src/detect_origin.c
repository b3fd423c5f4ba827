/* detect_origin.c — where the message claims to come from against where the
 * connection came from: a local From domain from outside without AUTH, the
 * EHLO/HELO name (RFC 5321 §4.1.1.1, §4.1.3 address literals) and the newest
 * Received header's "by" hop (RFC 5321 §4.4). No DNS: names are not resolved. */
#include "detect_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void local_from(struct det_msg *x)
{
    if (!x->from_domain || x->client_local != 0 || x->s->auth_ok) return;
    if (!det_is_local_domain(x->d, x->from_domain)) return;
    if (x->list_id) {
        det_emit(x, "local_domain_from_list", SIFT_SEV_INFO,
                 "From <%s> is a local domain, from %s outside the local networks without AUTH, "
                 "but through a mailing list (List-Id: %s); not reported as forgery",
                 x->from_addr, x->s->client_ip, x->list_id);
        return;
    }
    det_emit(x, "local_domain_from_outside", SIFT_SEV_HIGH,
             "From <%s> claims local domain %s but client %s is outside the local networks and did "
             "not authenticate (MAIL FROM <%s>)",
             x->from_addr, x->from_domain, x->s->client_ip ? x->s->client_ip : "?", x->t->mail_from);
}

/* RFC 1123 host name: LDH labels of 1..63, not starting/ending with '-', at least two labels. */
static int valid_hostname(const char *h, int *has_dot)
{
    size_t len = strlen(h), lab = 0;
    *has_dot = 0;
    if (!len || len > 253) return 0;
    for (size_t i = 0; i <= len; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (c == '.') *has_dot = 1;
            if (c == '\0' && lab == 0 && i > 0 && h[i - 1] == '.') break;   /* trailing dot */
            if (lab == 0 || lab > 63 || h[i - lab] == '-' || h[i - 1] == '-') return 0;
            lab = 0;
        } else if (isalnum((unsigned char)c) || c == '-') {
            lab++;
        } else return 0;
    }
    return 1;
}

static int same_ip(const char *a, const char *b)
{
    int fa, fb;
    uint8_t ba[16], bb[16];
    if (!a || !b || det_parse_ip(a, &fa, ba) || det_parse_ip(b, &fb, bb)) return 0;
    return fa == fb && !memcmp(ba, bb, 16);
}

static void helo(struct det_msg *x)
{
    const char *h = x->s->helo;
    if (!h || !*h) return;
    size_t l = strlen(h);
    if (h[0] == '[' && h[l - 1] == ']') {
        char lit[80];
        size_t n = l - 2;
        if (n >= sizeof lit) n = sizeof lit - 1;
        memcpy(lit, h + 1, n);
        lit[n] = '\0';
        const char *ip = !strncasecmp(lit, "IPv6:", 5) ? lit + 5 : lit;
        int fam;
        uint8_t b[16];
        if (det_parse_ip(ip, &fam, b) != 0)
            det_emit(x, "helo_invalid", SIFT_SEV_LOW, "EHLO/HELO %s is not a valid address literal", h);
        else if (x->s->client_ip && !same_ip(ip, x->s->client_ip))
            det_emit(x, "helo_ip_mismatch", SIFT_SEV_MEDIUM,
                     "EHLO/HELO address literal %s is not the client's address %s", h, x->s->client_ip);
        return;
    }
    int fam;
    uint8_t b[16];
    if (det_parse_ip(h, &fam, b) == 0) {
        det_emit(x, "helo_invalid", SIFT_SEV_LOW,
                 "EHLO/HELO %s is a bare address (RFC 5321 4.1.3 wants [%s])%s", h, h,
                 x->s->client_ip && !same_ip(h, x->s->client_ip) ? " and not the client's address" : "");
        return;
    }
    int dot;
    if (!valid_hostname(h, &dot)) {
        det_emit(x, "helo_invalid", SIFT_SEV_LOW, "EHLO/HELO %s is not a valid host name", h);
        return;
    }
    if (!dot && x->client_local != 1) {
        det_emit(x, "helo_invalid", SIFT_SEV_LOW,
                 "EHLO/HELO %s is not a fully qualified domain name (client %s)", h,
                 x->s->client_ip ? x->s->client_ip : "?");
        return;
    }
    if (x->client_local == 0 && !x->s->auth_ok && det_is_local_domain(x->d, h))
        det_emit(x, "helo_local_name_from_outside", SIFT_SEV_MEDIUM,
                 "EHLO/HELO %s is a local name but client %s is outside the local networks", h,
                 x->s->client_ip ? x->s->client_ip : "?");
}

/* 1 if p starts with word followed by white space or the end. */
static int kw(const char *p, const char *word)
{
    size_t n = strlen(word);
    return !strncasecmp(p, word, n) && (p[n] == '\0' || isspace((unsigned char)p[n]));
}

/* Find the "by" clause of a Received value outside comments; returns its start
 * (after "by ") and sets *end to where the next clause (with/id/for/via/;) starts. */
static const char *by_clause(const char *v, const char **end)
{
    int depth = 0;
    const char *by = NULL;
    for (const char *p = v; *p && p - v < 8192; p++) {
        if (*p == '(') depth++;
        else if (*p == ')' && depth) depth--;
        else if (depth) continue;
        else if (*p == ';') break;
        else if (p == v || isspace((unsigned char)p[-1])) {
            if (!by && kw(p, "by")) by = p + 2;
            else if (by && (kw(p, "with") || kw(p, "id") || kw(p, "for") || kw(p, "via"))) {
                *end = p;
                return by;
            }
        }
    }
    if (!by) return NULL;
    const char *semi = strchr(by, ';');
    *end = semi ? semi : by + strlen(by);
    return by;
}

static void received(struct det_msg *x)
{
    const struct sift_mime_header *h = det_header(x->m, "Received", 0);
    if (!h || !h->value || !x->s->client_ip) return;
    const char *end;
    const char *by = by_clause(h->value, &end);
    if (!by) return;
    /* every IP-looking token of the clause: [a.b.c.d], (a.b.c.d), [IPv6:...], bare */
    char ips[4][64];
    size_t n_ips = 0;
    int match = 0;
    const char *p = by;
    while (p < end && n_ips < 4) {
        while (p < end && strchr(" \t\r\n[]()", *p)) p++;
        const char *s = p;
        while (p < end && !strchr(" \t\r\n[]()", *p)) p++;
        size_t n = (size_t)(p - s);
        if (!n || n >= 64) continue;
        char tok[64];
        memcpy(tok, s, n);
        tok[n] = '\0';
        const char *ip = !strncasecmp(tok, "IPv6:", 5) ? tok + 5 : tok;
        int fam;
        uint8_t b[16];
        if (det_parse_ip(ip, &fam, b) != 0) continue;
        snprintf(ips[n_ips++], sizeof ips[0], "%s", ip);
        if (same_ip(ip, x->s->client_ip)) match = 1;
    }
    char byname[256];
    {
        const char *s = by;
        while (s < end && isspace((unsigned char)*s)) s++;
        size_t n = 0;
        while (s + n < end && !isspace((unsigned char)s[n]) && s[n] != '(' && n < sizeof byname - 1) n++;
        memcpy(byname, s, n);
        byname[n] = '\0';
    }
    if (n_ips && !match) {
        det_emit(x, "received_hop_mismatch", SIFT_SEV_MEDIUM,
                 "newest Received header says it was added by %s (%s) but the client is %s",
                 byname, ips[0], x->s->client_ip);
    } else if (!n_ips && x->client_local == 0 && !x->s->auth_ok && det_is_local_domain(x->d, byname)) {
        det_emit(x, "received_hop_mismatch", SIFT_SEV_MEDIUM,
                 "newest Received header says it was added by local host %s but the client %s is "
                 "outside the local networks", byname, x->s->client_ip);
    }
}

void det_rules_origin(struct det_msg *x)
{
    local_from(x);
    helo(x);
    received(x);
}
