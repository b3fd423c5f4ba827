/* html.h — a small bounded HTML reader for mail bodies: visible text for
 * searching and <a href> links with their visible text; plus URL spotting
 * in plain text. Not an HTML5 parser (no DOM, no CSS, no scripts). */
#ifndef SIFT_HTML_H
#define SIFT_HTML_H

#include "sift.h"

struct sift_link {
    char *url;           /* as written (entities decoded, white space trimmed), at most 2048 bytes */
    char *text;          /* visible text of the <a> element, collapsed white space, at most 512
                          * bytes; NULL for URLs found in plain text */
};

#define SIFT_LINKS_MAX 1000   /* links kept per body */

/* Reads n bytes of HTML (valid UTF-8 expected, borrowed). Returns the visible
 * text (malloc'd, NUL-terminated; <script>/<style>/comments dropped, entities
 * decoded, block tags become newlines, white space runs collapsed). If links
 * is not NULL, *links gets a malloc'd array of the <a href> links (*n_links
 * entries, at most SIFT_LINKS_MAX). Linear time; bounded memory (at most the
 * input size plus the links). */
char *sift_html_to_text(const char *s, size_t n, struct sift_link **links, size_t *n_links);

/* URLs written in plain text (http://, https://, ftp://, www.), in order, at
 * most SIFT_LINKS_MAX; trailing punctuation is not part of a URL. text is
 * NULL in the results. Appends to *links / *n_links. */
void sift_text_urls(const char *s, size_t n, struct sift_link **links, size_t *n_links);

/* Lower-case host of a URL (userinfo, port, path removed; "www.x" without a
 * scheme is host "www.x"), or NULL if it has none (mailto:, relative). */
char *sift_url_host(const char *url);

/* If text reads as a domain or URL (e.g. "www.bank.example", "https://a.b/c",
 * "bank.example"), its lower-case host, else NULL. */
char *sift_text_domain(const char *text);

void sift_links_free(struct sift_link *l, size_t n);

#endif
