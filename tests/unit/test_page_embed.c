/* The browser page as the binary serves it (server/page.c, embedded from
 * server/page.html by tools/embed.sh): whole, one NUL-free string, and
 * fetching nothing from the network. */
#include <string.h>

#include "server/server.h"
#include "tests/unit/check.h"

void test_page_embed_whole(void)
{
    size_t len = 0;
    const char *page = page_html(&len);
    CHECK(len > 1000);
    CHECK_INT((long long)strlen(page), (long long)len);
    CHECK(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(page, "</html>") != NULL);
}

/* The page must work with no network but the API: no external script, style,
 * font or image. (The browser test also watches every request it makes.) */
void test_page_embed_no_external_fetch(void)
{
    size_t len;
    const char *page = page_html(&len);
    const char *bad[] = {"src=\"http", "src='http", "href=\"http", "href='http", "url(http", "url(\"http",
                         "@import", "rel=\"stylesheet\"", "src=\"//", "href=\"//"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_true(strstr(page, bad[i]) == NULL, bad[i], __FILE__, __LINE__);
}
