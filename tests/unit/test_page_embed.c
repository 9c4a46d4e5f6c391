/* The browser page as the binary carries it (tools/embed.sh, server/page.html):
 * whole, one NUL-free string, and fetching nothing from the network. */
#include <string.h>

#include "tests/unit/check.h"

extern const char dllm_page_html[];
extern const unsigned long dllm_page_html_len;

void test_page_embed_whole(void)
{
    CHECK(dllm_page_html_len > 1000);
    CHECK_INT((long long)strlen(dllm_page_html), (long long)dllm_page_html_len);
    CHECK(strncmp(dllm_page_html, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(dllm_page_html, "</html>") != NULL);
}

/* The page must work with no network but the API: no external script, style,
 * font or image. (The browser test also watches every request it makes.) */
void test_page_embed_no_external_fetch(void)
{
    const char *bad[] = {"src=\"http", "src='http", "href=\"http", "href='http", "url(http", "url(\"http",
                         "@import", "<link", "src=\"//", "href=\"//"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_true(strstr(dllm_page_html, bad[i]) == NULL, bad[i], __FILE__, __LINE__);
}
