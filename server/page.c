/* GET /: the one page the server serves (no other file serving). Its bytes
 * are server/page.html, embedded at build time by tools/embed.sh. */
#include "server/server.h"

extern const char dllm_page_html[];
extern const unsigned long dllm_page_html_len;

const char *page_html(size_t *len)
{
    *len = (size_t)dllm_page_html_len;
    return dllm_page_html;
}
