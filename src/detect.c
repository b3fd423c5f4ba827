/* detect.c — the detection run context: configuration (options and a key = value
 * file), organizational domains from the Public Suffix List (libpsl; RFC 7489 §3.2),
 * networks, and the driver that runs each family of rules (detect_*.c) on a message.
 * The only file that includes libpsl. It decides nothing about a message itself. */
#include "detect_int.h"

#include <libpsl.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- configuration ---------- */

static void list_add(char ***v, size_t *n, const char *s, int lower)
{
    *v = sift_xrealloc(*v, (*n + 1) * sizeof **v);
    char *c = sift_xstrdup(s);
    if (lower)
        for (char *p = c; *p; p++) *p = (char)tolower((unsigned char)*p);
    size_t l = strlen(c);
    while (lower && l && c[l - 1] == '.') c[--l] = '\0';   /* "example.com." */
    (*v)[(*n)++] = c;
}

int det_parse_ip(const char *s, int *fam, uint8_t out[16])
{
    char buf[64];
    size_t l = strlen(s);
    if (l == 0 || l >= sizeof buf) return -1;
    memcpy(buf, s, l + 1);
    memset(out, 0, 16);
    if (inet_pton(AF_INET, buf, out) == 1) { *fam = 4; return 0; }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        static const uint8_t v4mapped[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
        if (!memcmp(out, v4mapped, 12)) {      /* ::ffff:a.b.c.d is IPv4 */
            memmove(out, out + 12, 4);
            memset(out + 4, 0, 12);
            *fam = 4;
        } else *fam = 6;
        return 0;
    }
    return -1;
}

int sift_detect_parse_net(const char *s, struct sift_detect_net *out)
{
    char buf[80];
    size_t l = strlen(s);
    if (l == 0 || l >= sizeof buf) return -1;
    memcpy(buf, s, l + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix < 0) return -1;
    }
    if (det_parse_ip(buf, &out->family, out->addr) != 0) return -1;
    long max = out->family == 4 ? 32 : 128;
    if (prefix < 0) prefix = max;
    if (prefix > max) return -1;
    out->prefix = (unsigned)prefix;
    return 0;
}

enum sift_status sift_detect_config_set(struct sift_detect_config *c, const char *key,
                                        const char *value, char *err, size_t errlen)
{
    if (!strncmp(key, "--", 2)) key += 2;
    if (!value || !*value) {
        snprintf(err, errlen, "%s: empty value", key);
        return SIFT_ERR_USAGE;
    }
    if (!strcmp(key, "local-domain")) list_add(&c->local_domains, &c->n_local_domains, value, 1);
    else if (!strcmp(key, "protected-domain")) list_add(&c->protected_domains, &c->n_protected_domains, value, 1);
    else if (!strcmp(key, "protected-name")) list_add(&c->protected_names, &c->n_protected_names, value, 0);
    else if (!strcmp(key, "trusted-authserv")) list_add(&c->trusted_authserv, &c->n_trusted_authserv, value, 1);
    else if (!strcmp(key, "local-net")) {
        struct sift_detect_net n;
        if (sift_detect_parse_net(value, &n) != 0) {
            snprintf(err, errlen, "local-net: '%s' is not an IPv4/IPv6 address or CIDR network", value);
            return SIFT_ERR_USAGE;
        }
        c->local_nets = sift_xrealloc(c->local_nets, (c->n_local_nets + 1) * sizeof *c->local_nets);
        c->local_nets[c->n_local_nets++] = n;
    } else if (!strcmp(key, "bruteforce-threshold")) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || *end || v < 1 || v > 1000000) {
            snprintf(err, errlen, "bruteforce-threshold: '%s' is not a number from 1 to 1000000", value);
            return SIFT_ERR_USAGE;
        }
        c->bruteforce_threshold = (unsigned)v;
    } else {
        snprintf(err, errlen, "unknown detection setting '%s'", key);
        return SIFT_ERR_USAGE;
    }
    return SIFT_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1])) s[--l] = '\0';
    return s;
}

enum sift_status sift_detect_config_load(struct sift_detect_config *c, const char *path,
                                         char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return SIFT_ERR_IO;
    }
    char line[4096];
    unsigned lineno = 0;
    enum sift_status st = SIFT_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = trim(line);
        if (!*p || *p == '#') continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
            st = SIFT_ERR_USAGE;
            break;
        }
        *eq = '\0';
        char *key = trim(p), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {   /* protected-name = "Jane Doe" */
            val[vl - 1] = '\0';
            val++;
        }
        char e2[256];
        if (sift_detect_config_set(c, key, val, e2, sizeof e2) != SIFT_OK) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, e2);
            st = SIFT_ERR_USAGE;
            break;
        }
    }
    fclose(f);
    return st;
}

static void list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void sift_detect_config_free(struct sift_detect_config *c)
{
    if (!c) return;
    list_free(c->local_domains, c->n_local_domains);
    list_free(c->protected_names, c->n_protected_names);
    list_free(c->protected_domains, c->n_protected_domains);
    list_free(c->trusted_authserv, c->n_trusted_authserv);
    free(c->local_nets);
    memset(c, 0, sizeof *c);
}

static char **list_copy(char *const *v, size_t n)
{
    if (!n) return NULL;
    char **o = sift_xcalloc(n, sizeof *o);
    for (size_t i = 0; i < n; i++) o[i] = sift_xstrdup(v[i]);
    return o;
}

/* ---------- context ---------- */

struct sift_detect *sift_detect_new(const struct sift_detect_config *cfg)
{
    struct sift_detect *d = sift_xcalloc(1, sizeof *d);
    if (cfg) {
        d->cfg = *cfg;
        d->cfg.local_domains = list_copy(cfg->local_domains, cfg->n_local_domains);
        d->cfg.protected_names = list_copy(cfg->protected_names, cfg->n_protected_names);
        d->cfg.protected_domains = list_copy(cfg->protected_domains, cfg->n_protected_domains);
        d->cfg.trusted_authserv = list_copy(cfg->trusted_authserv, cfg->n_trusted_authserv);
        if (cfg->n_local_nets) {
            d->cfg.local_nets = sift_xcalloc(cfg->n_local_nets, sizeof *d->cfg.local_nets);
            memcpy(d->cfg.local_nets, cfg->local_nets, cfg->n_local_nets * sizeof *cfg->local_nets);
        }
    }
    if (!d->cfg.bruteforce_threshold) d->cfg.bruteforce_threshold = 5;
    d->la = det_lookalike_new();
    /* The newer of the system list (Debian's publicsuffix package) and the built-in one. */
    const psl_ctx_t *psl = psl_latest(NULL);
    if (!psl) psl = psl_builtin();
    d->psl = psl;
    return d;
}

void sift_detect_free(struct sift_detect *d)
{
    if (!d) return;
    if (d->psl && d->psl != psl_builtin()) psl_free((psl_ctx_t *)d->psl);
    det_lookalike_free(d->la);
    list_free(d->seen, d->n_seen);
    free(d->clients);
    sift_detect_config_free(&d->cfg);
    free(d);
}

char *sift_detect_org_domain(const struct sift_detect *d, const char *domain)
{
    if (!domain) return NULL;
    char *u = det_to_unicode(d, domain);
    const char *r = d->psl ? psl_registrable_domain(d->psl, u) : NULL;
    char *out = sift_xstrdup(r ? r : u);
    free(u);
    return out;
}

void sift_detect_begin(struct sift_detect *d, sift_finding_fn fn, void *user)
{
    const struct sift_detect_config *c = &d->cfg;
    struct sift_buf b = {0};
    if (!c->n_local_domains || !c->n_local_nets) {
        const char *t = !c->n_local_domains && !c->n_local_nets ? "no --local-domain and no --local-net"
                        : !c->n_local_domains ? "no --local-domain" : "no --local-net";
        sift_buf_append(&b, t, strlen(t));
        t = ": skipped local_domain_from_outside, helo_local_name_from_outside, open_relay";
        sift_buf_append(&b, t, strlen(t));
    }
    if (!c->n_protected_names) {
        const char *t = "no --protected-name: skipped display_name_protected";
        if (b.len) sift_buf_append(&b, "; ", 2);
        sift_buf_append(&b, t, strlen(t));
    }
    if (!c->n_trusted_authserv) {
        const char *t = "no --trusted-authserv: skipped auth_results_fail";
        if (b.len) sift_buf_append(&b, "; ", 2);
        sift_buf_append(&b, t, strlen(t));
    }
    if (b.len && fn) fn(user, "detect_config_missing", SIFT_SEV_INFO, (const char *)b.data, NULL);
    sift_buf_free(&b);
}

/* ---------- helpers shared by the rule files ---------- */

void det_emit(struct det_msg *x, const char *rule, enum sift_severity sev, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if ((int)sev > x->max_sev) x->max_sev = (int)sev;
    if (x->fn) x->fn(x->user, rule, sev, buf, NULL);
}

int det_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

char *det_domain_of(const char *addr)
{
    if (!addr) return NULL;
    const char *at = strrchr(addr, '@');
    if (!at || !at[1]) return NULL;
    const char *p = at + 1;
    size_t l = strlen(p);
    if (*p == '[' && l >= 2 && p[l - 1] == ']') { p++; l -= 2; }
    while (l && p[l - 1] == '.') l--;
    if (!l) return NULL;
    char *c = sift_xstrndup(p, l);
    for (char *q = c; *q; q++) *q = (char)tolower((unsigned char)*q);
    return c;
}

int det_is_local_domain(const struct sift_detect *d, const char *domain)
{
    if (!domain) return 0;
    size_t dl = strlen(domain);
    for (size_t i = 0; i < d->cfg.n_local_domains; i++) {
        const char *l = d->cfg.local_domains[i];
        size_t ll = strlen(l);
        if (dl == ll && !strcasecmp(domain, l)) return 1;
        if (dl > ll && domain[dl - ll - 1] == '.' && !strcasecmp(domain + dl - ll, l)) return 1;
    }
    return 0;
}

static int net_contains(const struct sift_detect_net *n, int fam, const uint8_t *a)
{
    if (n->family != fam) return 0;
    unsigned full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, a, full)) return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((n->addr[full] & mask) != (a[full] & mask)) return 0;
    }
    return 1;
}

int det_ip_is_local(const struct sift_detect *d, const char *ip)
{
    if (!d->cfg.n_local_nets) return -1;
    int fam;
    uint8_t a[16];
    if (!ip || det_parse_ip(ip, &fam, a) != 0) return 0;
    for (size_t i = 0; i < d->cfg.n_local_nets; i++)
        if (net_contains(&d->cfg.local_nets[i], fam, a)) return 1;
    return 0;
}

const struct sift_mime_header *det_header(const struct sift_mime_summary *m, const char *name, size_t k)
{
    if (!m) return NULL;
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i].name && !strcasecmp(m->headers[i].name, name) && k-- == 0)
            return &m->headers[i];
    return NULL;
}

unsigned sift_detect_edit_distance(const char *a, const char *b, unsigned cap)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 253 || m > 253) return cap + 1;
    if ((n > m ? n - m : m - n) > cap) return cap + 1;
    /* three rows of the optimal string alignment table */
    unsigned r0[254], r1[254], r2[254];
    unsigned *pp = r0, *p = r1, *c = r2;
    for (size_t j = 0; j <= m; j++) p[j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        c[0] = (unsigned)i;
        unsigned rowmin = c[0];
        for (size_t j = 1; j <= m; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = p[j] + 1;
            if (c[j - 1] + 1 < v) v = c[j - 1] + 1;
            if (p[j - 1] + cost < v) v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
            if (v < rowmin) rowmin = v;
        }
        if (rowmin > cap) return cap + 1;
        unsigned *t = pp; pp = p; p = c; c = t;
    }
    return p[m] > cap ? cap + 1 : p[m];
}

/* ---------- driver ---------- */

static const char *forward_reason(const struct sift_detect_txn *t, const struct sift_mime_summary *m,
                                  const char *env_org, struct sift_detect *d, char *buf, size_t n)
{
    if (!t || !t->mail_from) return NULL;
    if (!strncasecmp(t->mail_from, "SRS0=", 5) || !strncasecmp(t->mail_from, "SRS1=", 5)) {
        snprintf(buf, n, "envelope sender <%s> is SRS-rewritten by a forwarder", t->mail_from);
        return buf;
    }
    const struct sift_mime_header *h = det_header(m, "Resent-From", 0);
    if (!h) h = det_header(m, "Resent-Sender", 0);
    if (h && h->value && env_org) {
        const char *lt = strchr(h->value, '<');
        char *dom = det_domain_of(lt ? lt + 1 : h->value);
        if (dom) {
            size_t l = strlen(dom);
            if (l && dom[l - 1] == '>') dom[l - 1] = '\0';
            char *org = sift_detect_org_domain(d, dom);
            int same = !strcmp(org, env_org);
            free(org);
            free(dom);
            if (same) {
                snprintf(buf, n, "%s: %s matches the envelope domain %s", h->name, h->value, env_org);
                return buf;
            }
        }
    }
    return NULL;
}

static void remember_seen(struct sift_detect *d, const char *org)
{
    for (size_t i = 0; i < d->n_seen; i++)
        if (!strcmp(d->seen[i], org)) return;
    if (d->n_seen >= DET_MAX_SEEN) return;
    d->seen = sift_xrealloc(d->seen, (d->n_seen + 1) * sizeof *d->seen);
    d->seen[d->n_seen++] = sift_xstrdup(org);
}

void sift_detect_message(struct sift_detect *d, const struct sift_detect_session *s,
                         const struct sift_detect_txn *t, const struct sift_mime_summary *msg,
                         sift_finding_fn fn, void *user)
{
    static const struct sift_detect_session no_session = {0};
    static const struct sift_detect_txn no_txn = { "", NULL, 0 };
    struct det_msg x = { .d = d, .s = s ? s : &no_session, .t = t ? t : &no_txn, .fn = fn,
                         .user = user, .max_sev = -1 };
    if (!x.t->mail_from) x.t = &no_txn;
    x.m = msg && msg->parsed ? msg : NULL;
    char *raw = det_domain_of(x.t->mail_from);
    if (raw) x.env_domain = det_to_unicode(d, raw);
    free(raw);
    x.env_org = sift_detect_org_domain(d, x.env_domain);
    if (x.m && x.m->from_addr && *x.m->from_addr) {
        x.from_addr = x.m->from_addr;
        raw = det_domain_of(x.m->from_addr);
        if (raw) x.from_domain = det_to_unicode(d, raw);
        free(raw);
        x.from_org = sift_detect_org_domain(d, x.from_domain);
    }
    const struct sift_mime_header *lh = det_header(x.m, "List-Id", 0);
    x.list_id = lh ? lh->value : NULL;
    char fwd[512];
    x.forward_reason = forward_reason(x.t, x.m, x.env_org, d, fwd, sizeof fwd);
    x.client_local = det_ip_is_local(d, x.s->client_ip);

    det_rules_align(&x);
    det_rules_lookalike(&x);
    det_rules_origin(&x);
    det_rules_auth(&x);
    det_rules_session(&x);

    if (x.max_sev < SIFT_SEV_MEDIUM && x.from_org && x.env_org && !strcmp(x.from_org, x.env_org))
        remember_seen(d, x.from_org);
    free(x.env_domain);
    free(x.env_org);
    free(x.from_domain);
    free(x.from_org);
}
