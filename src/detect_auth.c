/* detect_auth.c — authentication evidence carried in the message: the DKIM-Signature
 * d= tag (RFC 6376 §3.5 tag list) against the From domain (DMARC alignment, RFC 7489
 * §3.1.1), and Authentication-Results (RFC 8601) written by a configured trusted
 * server reporting spf/dkim/dmarc=fail. Verifies no signature and asks no DNS. */
#include "detect_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Value of tag `tag` in a DKIM tag list, whitespace removed, lower-cased; NULL if absent. */
static char *dkim_tag(const char *v, const char *tag)
{
    size_t tl = strlen(tag);
    const char *p = v;
    for (int guard = 0; p && *p && guard < 64; guard++) {
        while (*p && (isspace((unsigned char)*p) || *p == ';')) p++;
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
            const char *ne = eq;
            while (ne > p && isspace((unsigned char)ne[-1])) ne--;
            if ((size_t)(ne - p) == tl && !strncasecmp(p, tag, tl)) {
                struct sift_buf b = {0};
                for (const char *q = eq + 1; q < end; q++)
                    if (!isspace((unsigned char)*q)) sift_buf_putc(&b, (uint8_t)tolower((unsigned char)*q));
                if (!b.len) return NULL;
                return (char *)sift_buf_steal(&b, NULL);
            }
        }
        p = semi ? semi + 1 : NULL;
    }
    return NULL;
}

static void dkim(struct det_msg *x)
{
    if (!x->m || !x->from_org) return;
    char first_d[256] = "";
    size_t n_sig = 0;
    for (size_t k = 0; k < 50; k++) {
        const struct sift_mime_header *h = det_header(x->m, "DKIM-Signature", k);
        if (!h) break;
        if (!h->value) continue;
        char *d = dkim_tag(h->value, "d");
        if (!d) continue;
        n_sig++;
        while (*d && d[strlen(d) - 1] == '.') d[strlen(d) - 1] = '\0';
        char *org = sift_detect_org_domain(x->d, d);
        int aligned = !strcmp(org, x->from_org);
        if (!first_d[0]) snprintf(first_d, sizeof first_d, "%s", d);
        free(org);
        free(d);
        if (aligned) return;
    }
    if (!n_sig) return;
    if (x->list_id || x->forward_reason) return;   /* list re-signing and forwarders: honest */
    det_emit(x, "dkim_not_aligned", SIFT_SEV_LOW,
             "DKIM-Signature d=%s%s is not aligned with From <%s> (organizational domain %s)",
             first_d, n_sig > 1 ? " (and the other signatures)" : "", x->from_addr, x->from_org);
}

/* Copy of s without (comments), whitespace collapsed. */
static char *strip_comments(const char *s)
{
    struct sift_buf b = {0};
    int depth = 0;
    for (; *s && b.len < 8192; s++) {
        if (*s == '(') depth++;
        else if (*s == ')' && depth) depth--;
        else if (!depth) sift_buf_putc(&b, (uint8_t)(isspace((unsigned char)*s) ? ' ' : *s));
    }
    if (!b.data) return sift_xstrdup("");
    return (char *)sift_buf_steal(&b, NULL);
}

static void auth_results(struct det_msg *x)
{
    const struct sift_detect_config *c = &x->d->cfg;
    if (!x->m || !c->n_trusted_authserv) return;
    for (size_t k = 0; k < 50; k++) {
        const struct sift_mime_header *h = det_header(x->m, "Authentication-Results", k);
        if (!h) break;
        if (!h->value) continue;
        char *v = strip_comments(h->value);
        char *save = NULL;
        char *part = strtok_r(v, ";", &save);
        if (!part) { free(v); continue; }
        while (*part == ' ') part++;
        char id[256];
        size_t n = strcspn(part, " ");
        if (n >= sizeof id) n = sizeof id - 1;
        for (size_t i = 0; i < n; i++) id[i] = (char)tolower((unsigned char)part[i]);
        id[n] = '\0';
        int trusted = 0;
        for (size_t i = 0; i < c->n_trusted_authserv && !trusted; i++)
            trusted = !strcmp(id, c->trusted_authserv[i]);
        if (!trusted) { free(v); continue; }
        char fails[512] = "";
        int dmarc = 0;
        while ((part = strtok_r(NULL, ";", &save)) != NULL) {
            while (*part == ' ') part++;
            static const char *const methods[] = { "spf", "dkim", "dmarc" };
            for (size_t m = 0; m < 3; m++) {
                size_t ml = strlen(methods[m]);
                if (strncasecmp(part, methods[m], ml) || part[ml] != '=') continue;
                const char *res = part + ml + 1;
                size_t rl = strcspn(res, " ");
                if (rl == 4 && !strncasecmp(res, "fail", 4)) {
                    if (m == 2) dmarc = 1;
                    size_t fl = strlen(fails);
                    snprintf(fails + fl, sizeof fails - fl, "%s%.200s", fl ? "; " : "", part);
                }
            }
        }
        if (fails[0])
            det_emit(x, "auth_results_fail", dmarc ? SIFT_SEV_HIGH : SIFT_SEV_MEDIUM,
                     "Authentication-Results from trusted server %s reports %s (From <%s>)", id, fails,
                     x->from_addr ? x->from_addr : "");
        free(v);
    }
}

void det_rules_auth(struct det_msg *x)
{
    dkim(x);
    auth_results(x);
}
