/* detect_session.c — risks of the session rather than of the identity: repeated
 * AUTH failures from one client across sessions (RFC 4954), open relay (an
 * unauthenticated outside client getting an outside recipient accepted, RFC 5321
 * §3.6 / RFC 2505), and attachment names with bidirectional overrides. Does not
 * open attachments (detect_content.c judges their bytes and extensions). */
#include "detect_int.h"

#include <stdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void open_relay(struct det_msg *x)
{
    const struct sift_detect_txn *t = x->t;
    if (x->client_local != 0 || x->s->auth_ok || !x->d->cfg.n_local_domains) return;
    const char *first = NULL;
    int code = 0;
    size_t n = 0;
    for (size_t i = 0; i < t->n_rcpts; i++) {
        const struct sift_detect_rcpt *r = &t->rcpts[i];
        if (r->reply_code != 250 && r->reply_code != 251) continue;
        char *dom = det_domain_of(r->address);
        if (dom && !det_is_local_domain(x->d, dom)) {
            if (!first) { first = r->address; code = r->reply_code; }
            n++;
        }
        free(dom);
    }
    if (first)
        det_emit(x, "open_relay", SIFT_SEV_HIGH,
                 "client %s (outside the local networks, no AUTH) got recipient <%s> outside the local "
                 "domains accepted with %d%s", x->s->client_ip ? x->s->client_ip : "?", first, code,
                 n > 1 ? " (and more)" : "");
}

/* Executable names, double extensions and type mismatches are detect_content.c's
 * (attachment_executable, attachment_double_extension); this adds the one trick a
 * name check there does not see: Unicode bidirectional overrides. */
static void attachments(struct det_msg *x)
{
    if (!x->m) return;
    static const char *const bidi[] = { "\xe2\x80\xae", "\xe2\x80\xad", "\xe2\x81\xa6",
                                        "\xe2\x81\xa7", "\xe2\x81\xa8" };
    for (size_t i = 0; i < x->m->n_parts; i++) {
        const struct sift_mime_part *p = &x->m->parts[i];
        if (!p->filename) continue;
        for (size_t k = 0; k < SIFT_ARRAY_LEN(bidi); k++)
            if (strstr(p->filename, bidi[k])) {
                det_emit(x, "attachment_bidi_override", SIFT_SEV_HIGH,
                         "attachment \"%.200s\" (%s) contains a Unicode bidirectional override "
                         "(U+202D/U+202E/U+2066-2068) that reverses how its name is shown",
                         p->filename, p->content_type ? p->content_type : "?");
                break;
            }
    }
}

void det_rules_session(struct det_msg *x)
{
    open_relay(x);
    attachments(x);
}

void sift_detect_session_end(struct sift_detect *d, const struct sift_detect_session *s,
                             sift_finding_fn fn, void *user)
{
    if (!s || !s->client_ip || !s->auth_failures) return;
    struct det_client *c = NULL;
    for (size_t i = 0; i < d->n_clients; i++)
        if (!strcmp(d->clients[i].ip, s->client_ip)) { c = &d->clients[i]; break; }
    if (!c) {
        if (!d->clients) d->clients = sift_xcalloc(DET_MAX_CLIENTS, sizeof *d->clients);
        if (d->n_clients < DET_MAX_CLIENTS) c = &d->clients[d->n_clients++];
        else { c = &d->clients[d->next_client]; d->next_client = (d->next_client + 1) % DET_MAX_CLIENTS; }
        memset(c, 0, sizeof *c);
        snprintf(c->ip, sizeof c->ip, "%s", s->client_ip);
    }
    c->failures += s->auth_failures;
    if (!c->reported && c->failures >= d->cfg.bruteforce_threshold) {
        c->reported = 1;
        char buf[256];
        snprintf(buf, sizeof buf,
                 "%u failed AUTH attempts from client %s so far in this capture (%u in this session; "
                 "threshold %u)", c->failures, c->ip, s->auth_failures, d->cfg.bruteforce_threshold);
        if (fn) fn(user, "auth_bruteforce", SIFT_SEV_HIGH, buf, NULL);
    }
}
