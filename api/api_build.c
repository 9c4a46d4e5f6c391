/* A parsed request -> scheduler jobs: token ids through the model's
 * tokenizer and chat template, the canvas segments, and gen_params with the
 * config's defaults where the request left a field unset. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

int api_chat_family(const struct model *m, const struct config *cfg, enum chat_family *out, char *err,
                    size_t errlen)
{
    const char *override = cfg->chat_template && strcmp(cfg->chat_template, "auto") != 0 ? cfg->chat_template : NULL;
    return chat_resolve(m->chat_template, override, "chat_template (--chat-template)", out, err, errlen);
}

static int encode(const struct model *m, const char *text, int add_bos, int32_t **ids, int *n,
                  const char *param, struct api_error *e)
{
    char err[256] = "";
    if (tok_encode(m->tok, text, strlen(text), add_bos, ids, n, err, sizeof err)) {
        api_error_set(e, 400, param, "Could not tokenize '%s': %s", param, err);
        return -1;
    }
    return 0;
}

static int copy_ids(const struct model *m, const struct api_prompt *p, int32_t **ids, int *n,
                    struct api_error *e)
{
    int vocab = m->cfg.vocab_size > 0 ? m->cfg.vocab_size : tok_vocab_size(m->tok);
    for (int i = 0; i < p->n_ids; i++) {
        if (p->ids[i] >= vocab) {
            api_error_set(e, 400, "prompt", "Invalid token id %d in 'prompt': the vocabulary has %d tokens.",
                          (int)p->ids[i], vocab);
            return -1;
        }
    }
    *ids = malloc(sizeof **ids * (p->n_ids ? p->n_ids : 1));
    if (!*ids) {
        api_error_set(e, 500, "", "out of memory");
        return -1;
    }
    memcpy(*ids, p->ids, sizeof **ids * p->n_ids);
    *n = p->n_ids;
    return 0;
}

/* Text before the span, per request kind. */
static char *prompt_text(const struct api_request *r, const struct api_prompt *p, const struct model *m,
                         const enum chat_family *chat, int *add_bos)
{
    *add_bos = m->cfg.add_bos;
    if (r->kind == API_CHAT) {
        enum chat_family f = *chat;
        struct chat_msg *msgs = malloc(sizeof *msgs * r->n_messages);
        if (!msgs) return NULL;
        for (int i = 0; i < r->n_messages; i++) {
            msgs[i].role = r->messages[i].role;
            msgs[i].content = r->messages[i].content;
        }
        char *s = chat_render(f, m->tok, msgs, r->n_messages);
        free(msgs);
        /* A template writes its own BOS. */
        if (f != CHAT_NONE) *add_bos = 0;
        return s;
    }
    if (r->kind == API_INFILL) {
        const char *parts[3] = {r->extra, r->prefix, p->text};
        size_t total = 1;
        for (int i = 0; i < 3; i++) total += parts[i] ? strlen(parts[i]) : 0;
        char *s = malloc(total);
        if (!s) return NULL;
        s[0] = 0;
        for (int i = 0; i < 3; i++)
            if (parts[i]) strcat(s, parts[i]);
        return s;
    }
    return strdup(p->text);
}

/* The remasking rule a family's own reference uses when nobody chose one
 * ("auto"): Dream's README generates with entropy, LLaDA's generate with
 * low_confidence (also right for BERT-style and causal models), MDLM with
 * its ddpm_cache sampler, SEDD with the analytic sampler (run_sample.py). */
static enum remask family_remask(const struct model *m)
{
    switch (m->cfg.arch) {
    case ARCH_DREAM: return REMASK_ENTROPY;
    case ARCH_MDLM: return REMASK_MDLM;
    case ARCH_SEDD: return REMASK_SEDD_ANALYTIC;
    default: return REMASK_LOW_CONFIDENCE;
    }
}

static int is_schedule_rule(int r)
{
    return r == REMASK_MDLM || r == REMASK_SEDD_EULER || r == REMASK_SEDD_ANALYTIC;
}

static int is_schedule_model(const struct model *m)
{
    return m->cfg.arch == ARCH_MDLM || m->cfg.arch == ARCH_SEDD;
}

/* The request's rule, else the config's when it fits the model's family,
 * else the family's own. */
static enum remask pick_remask(const struct api_request *r, const struct model *m, const struct config *cfg)
{
    if (r->remasking >= 0) return (enum remask)r->remasking;
    int c = cfg->remasking ? api_remask_parse(cfg->remasking) : -1;
    if (c >= 0 && is_schedule_rule(c) == is_schedule_model(m)) return (enum remask)c;
    return family_remask(m);
}

/* Span length of a canvas request: the blanks' total; block length: the
 * request's (it must divide the total), else the config's when it divides
 * the total, else one block. */
static int canvas_block(const struct api_request *r, const struct config *cfg)
{
    long long total = r->canvas_masked;
    long long block = r->block_length.set ? r->block_length.v : cfg->block_length;
    if (block <= 0 || block >= total || total % block) return 0;
    return (int)block;
}

/* Block caches when neither the request nor the config chose ("auto"):
 * LLaDA and Dream use Fast-dLLM's dual cache (measured agreement with the
 * uncached run: README, Benchmarks); a causal model's prefix keys/values
 * never depend on later positions, so its prefix cache is exact; BERT-style
 * models were trained without blocks and get none by default;
 * time-conditioned models (MDLM/SEDD) cannot cache. */
enum cache_mode api_cache_auto(const struct model *m)
{
    if (m->cfg.time_cond) return CACHE_OFF;
    if (m->cfg.causal) return CACHE_PREFIX;
    if (m->cfg.arch == ARCH_LLADA || m->cfg.arch == ARCH_DREAM) return CACHE_DUAL;
    return CACHE_OFF;
}

static void fill_params(const struct api_request *r, const struct model *m, const struct config *cfg, int j,
                        struct gen_params *g)
{
    memset(g, 0, sizeof *g);
    g->remasking = pick_remask(r, m, cfg);
    int sched = is_schedule_rule(g->remasking);
    long long max_tokens = r->canvas ? r->canvas_masked : r->max_tokens.set ? r->max_tokens.v : cfg->gen_length;
    int block = r->block_length.set ? (int)r->block_length.v : cfg->block_length;
    if (sched) {
        block = 0; /* MDLM/SEDD denoise every span at once */
    } else if (r->canvas) {
        block = canvas_block(r, cfg);
    } else {
        /* The span is whole blocks: max_tokens above the block length rounds up
         * to a multiple of it (the answer may be that much longer); max_tokens
         * up to the block length is one block of exactly max_tokens. */
        if (block >= max_tokens) block = 0;
        if (block > 0 && max_tokens % block) max_tokens += block - max_tokens % block;
    }
    g->gen_length = (int)max_tokens;
    g->block_length = block;
    int n_blocks = block > 0 ? g->gen_length / block : 1;
    long long steps = r->steps.set ? r->steps.v : (cfg->steps > 0 ? cfg->steps : g->gen_length);
    /* Every block gets the same number of steps (LLaDA's rule): round up. */
    if (steps % n_blocks) steps += n_blocks - steps % n_blocks;
    g->steps = (int)steps;
    /* MDLM/SEDD draw from the model's own distribution (temperature 1)
     * unless the request asks otherwise; the server's sampling defaults are
     * for the other families. */
    g->temperature = (float)(r->temperature.set ? r->temperature.v : sched ? 1.0 : cfg->temperature);
    g->top_p = (float)(r->top_p.set ? r->top_p.v : sched ? 1.0 : cfg->top_p);
    g->top_k = (int)(r->top_k.set ? r->top_k.v : sched ? 0 : cfg->top_k);
    g->alg_temp = (float)(r->alg_temp.set ? r->alg_temp.v : cfg->alg_temp);
    g->threshold = (float)(r->threshold.set ? r->threshold.v : sched ? 0.0 : cfg->threshold);
    g->cfg_scale = (float)(r->cfg_scale.set ? r->cfg_scale.v : sched ? 0.0 : cfg->cfg_scale);
    g->t_eps = (float)(r->t_eps.set ? r->t_eps.v : 0.0); /* 0: the scheduler's 1e-5 */
    /* the request's cache, else the config's, else (auto) the family's; the
     * MDLM/SEDD samplers take none (a server-wide cache gives way to them) */
    int cache = r->cache >= 0 ? r->cache : sched ? CACHE_OFF : (cfg->cache ? api_cache_parse(cfg->cache) : -1);
    g->cache = cache >= 0 ? (enum cache_mode)cache : api_cache_auto(m);
    /* n choices: seeds seed, seed + 1, ... */
    g->seed = (uint64_t)r->seed.v + (uint64_t)j;
    /* The chosen token's logprob needs at least one entry. */
    g->n_logprobs = r->want_logprobs ? (r->top_logprobs > 0 ? r->top_logprobs : 1) : 0;
}

/* The rule must suit the model: LLaDA/Dream/BERT rules for those models,
 * mdlm/euler/analytic for MDLM and SEDD, with the fields those take. */
static int check_rule(const struct api_request *r, const struct model *m, const struct config *cfg,
                      struct api_error *e)
{
    enum remask rule = pick_remask(r, m, cfg);
    const char *name = api_remask_name(rule);
    if (is_schedule_rule(rule) && !is_schedule_model(m)) {
        api_error_set(e, 400, "remasking",
                      "Invalid value for 'remasking': '%s' samples MDLM and SEDD models; this %s model takes "
                      "auto, low_confidence, random, origin, maskgit_plus, topk_margin or entropy.",
                      name, arch_name(m->cfg.arch));
        return -1;
    }
    if (!is_schedule_rule(rule) && is_schedule_model(m)) {
        api_error_set(e, 400, "remasking",
                      "Invalid value for 'remasking': '%s' does not apply to a %s model; use auto, mdlm, euler "
                      "or analytic.",
                      name, arch_name(m->cfg.arch));
        return -1;
    }
    if (!is_schedule_rule(rule)) {
        if (r->t_eps.set) {
            api_error_set(e, 400, "t_eps", "'t_eps' applies only to the mdlm, euler and analytic samplers.");
            return -1;
        }
        return 0;
    }
    if (m->cfg.graph_uniform && rule == REMASK_MDLM) {
        api_error_set(e, 400, "remasking",
                      "Invalid value for 'remasking': 'mdlm' unmasks tokens and this SEDD model uses the uniform "
                      "transition graph (no mask); use auto, euler or analytic.");
        return -1;
    }
    const char *refused = r->block_length.set ? "block_length" : r->threshold.set && r->threshold.v > 0 ? "threshold"
                          : r->cfg_scale.set && r->cfg_scale.v > 0 ? "cfg_scale"
                          : r->cache > CACHE_OFF ? "cache" : NULL;
    if (refused) {
        api_error_set(e, 400, refused, "'%s' does not apply to the %s sampler (it denoises every span at once, "
                      "on its noise schedule).", refused, name);
        return -1;
    }
    return 0;
}

/* A client that sets the diffusion shape itself gets LLaDA's own rules
 * (gen_length % block_length == 0, steps % num_blocks == 0) checked rather
 * than silently bent; defaults are rounded as fill_params says. */
static int check_shape(const struct api_request *r, const struct config *cfg, struct api_error *e)
{
    if (!r->block_length.set || r->block_length.v <= 0)
        return 0;
    long long block = r->block_length.v;
    long long total = r->canvas ? r->canvas_masked : r->max_tokens.set ? r->max_tokens.v : cfg->gen_length;
    if (block < total && total % block) {
        if (r->canvas)
            api_error_set(e, 400, "block_length",
                          "'block_length' (%lld) must divide the canvas's masked tokens (%lld).", block, total);
        else
            api_error_set(e, 400, "block_length",
                          "'block_length' (%lld) must divide 'max_tokens' (%lld); or leave block_length out "
                          "to have max_tokens rounded up to whole blocks.",
                          block, total);
        return -1;
    }
    long long n_blocks = block < total ? total / block : 1;
    if (r->steps.set && r->steps.v % n_blocks) {
        api_error_set(e, 400, "steps", "'steps' (%lld) must be a multiple of the number of blocks (%lld).",
                      (long long)r->steps.v, n_blocks);
        return -1;
    }
    return 0;
}

/* Fill in the blanks: the request's segments in order (BOS first when the
 * model wants one), text through the tokenizer, n choices alike. */
static int build_canvas(const struct api_request *r, const struct model *m, const struct config *cfg,
                        struct api_job **jobs_out, int *n_jobs_out, struct api_error *e)
{
    int n_segs = r->n_canvas + 1, k = 0, n_ids = 0, cap = 0;
    int32_t *ids = NULL;
    /* per canvas segment: its length, and where its ids start (-1: masked) */
    int *len = calloc((size_t)n_segs, sizeof *len);
    int *at = calloc((size_t)n_segs, sizeof *at);
    struct api_job *jobs = calloc((size_t)r->n, sizeof *jobs);
    *jobs_out = NULL;
    *n_jobs_out = 0;
    if (!len || !at || !jobs) goto oom;
    for (int i = -1; i < r->n_canvas; i++) {
        int32_t *t = NULL, bos;
        int n = 0;
        if (i < 0) {
            if (!m->cfg.add_bos || m->cfg.bos_id < 0) continue;
            bos = m->cfg.bos_id;
            t = &bos;
            n = 1;
        } else if (!r->canvas[i].text) {
            len[k] = r->canvas[i].mask;
            at[k++] = -1;
            continue;
        } else {
            if (!r->canvas[i].text[0]) continue;
            char param[64];
            snprintf(param, sizeof param, "canvas[%d].text", i);
            if (encode(m, r->canvas[i].text, 0, &t, &n, param, e)) goto fail;
        }
        if (n_ids + n > cap) {
            int nc = (n_ids + n) * 2;
            int32_t *ni = realloc(ids, sizeof *ids * (size_t)nc);
            if (!ni) {
                if (i >= 0) free(t);
                goto oom;
            }
            ids = ni;
            cap = nc;
        }
        memcpy(ids + n_ids, t, sizeof *t * (size_t)n);
        if (i >= 0) free(t);
        len[k] = n;
        at[k++] = n_ids;
        n_ids += n;
    }
    long long total = (long long)n_ids + r->canvas_masked;
    long long limit = cfg->max_canvas;
    if (m->cfg.max_seq > 0 && m->cfg.max_seq < limit) limit = m->cfg.max_seq;
    if (total > limit) {
        api_error_set(e, 400, "canvas",
                      "This model's maximum context length is %lld tokens, however the canvas holds %lld "
                      "tokens (%d of text, %d masked).",
                      limit, total, n_ids, r->canvas_masked);
        e->code = "context_length_exceeded";
        goto fail;
    }
    for (int j = 0; j < r->n; j++) {
        struct api_job *jb = &jobs[j];
        jb->choice_index = j;
        fill_params(r, m, cfg, j, &jb->params);
        jb->canvas_ids = malloc(sizeof(int32_t) * (size_t)(n_ids ? n_ids : 1));
        jb->segs = calloc((size_t)k, sizeof *jb->segs);
        if (!jb->canvas_ids || !jb->segs) goto oom;
        if (n_ids) memcpy(jb->canvas_ids, ids, sizeof(int32_t) * (size_t)n_ids);
        for (int i = 0; i < k; i++)
            jb->segs[i] = (struct canvas_seg){at[i] < 0 ? NULL : jb->canvas_ids + at[i], len[i]};
        jb->n_segs = k;
        jb->prompt_tokens = n_ids;
    }
    free(ids);
    free(len);
    free(at);
    *jobs_out = jobs;
    *n_jobs_out = r->n;
    return 0;
oom:
    api_error_set(e, 500, "", "out of memory");
fail:
    free(ids);
    free(len);
    free(at);
    api_jobs_free(jobs, jobs ? r->n : 0);
    return -1;
}

int api_build(const struct api_request *r, const struct model *m, const struct config *cfg,
              struct api_job **jobs_out, int *n_jobs_out, struct api_error *e)
{
    if (check_rule(r, m, cfg, e) || check_shape(r, cfg, e))
        return -1;
    if (r->kind == API_COMPLETION && r->canvas)
        return build_canvas(r, m, cfg, jobs_out, n_jobs_out, e);
    enum chat_family chat = CHAT_NONE;
    char cerr[256];
    if (r->kind == API_CHAT && api_chat_family(m, cfg, &chat, cerr, sizeof cerr)) {
        api_error_set(e, 400, "messages", "This model cannot serve chat: %s.", cerr);
        return -1;
    }
    int n_prompts = r->kind == API_CHAT ? 1 : r->n_prompts;
    int n_jobs = n_prompts * r->n;
    struct api_job *jobs = calloc(n_jobs > 0 ? n_jobs : 1, sizeof *jobs);
    *jobs_out = NULL;
    *n_jobs_out = 0;
    if (!jobs) {
        api_error_set(e, 500, "", "out of memory");
        return -1;
    }
    int32_t *suffix = NULL;
    int n_suffix = 0;
    if (r->suffix && r->suffix[0] && encode(m, r->suffix, 0, &suffix, &n_suffix, "suffix", e)) goto fail;
    int made = 0;
    for (int p = 0; p < n_prompts; p++) {
        const struct api_prompt *pr = r->kind == API_CHAT ? NULL : &r->prompts[p];
        int32_t *ids = NULL;
        int n_ids = 0;
        char *text = NULL;
        if (pr && !pr->text) {
            if (copy_ids(m, pr, &ids, &n_ids, e)) goto fail;
        } else {
            int add_bos;
            text = prompt_text(r, pr, m, &chat, &add_bos);
            if (!text) {
                api_error_set(e, 500, "", "out of memory");
                goto fail;
            }
            if (encode(m, text, add_bos, &ids, &n_ids, r->kind == API_CHAT ? "messages" : "prompt", e)) {
                free(text);
                goto fail;
            }
        }
        for (int j = 0; j < r->n; j++) {
            struct api_job *jb = &jobs[made++];
            jb->prompt_index = p;
            jb->choice_index = p * r->n + j;
            fill_params(r, m, cfg, j, &jb->params);
            long long total = (long long)n_ids + jb->params.gen_length + n_suffix;
            long long limit = cfg->max_canvas;
            if (m->cfg.max_seq > 0 && m->cfg.max_seq < limit) limit = m->cfg.max_seq;
            if (total > limit) {
                api_error_set(e, 400, r->kind == API_CHAT ? "messages" : "prompt",
                              "This model's maximum context length is %lld tokens, however you requested %lld "
                              "tokens (%d in your prompt%s, %d for the completion).",
                              limit, total, n_ids + n_suffix, n_suffix ? " and suffix" : "",
                              jb->params.gen_length);
                e->code = "context_length_exceeded";
                free(ids);
                free(text);
                goto fail;
            }
            jb->ids[0] = malloc(sizeof(int32_t) * (n_ids ? n_ids : 1));
            jb->ids[1] = malloc(sizeof(int32_t) * (n_suffix ? n_suffix : 1));
            jb->segs = calloc(3, sizeof *jb->segs);
            if (!jb->ids[0] || !jb->ids[1] || !jb->segs) {
                api_error_set(e, 500, "", "out of memory");
                free(ids);
                free(text);
                goto fail;
            }
            if (n_ids) memcpy(jb->ids[0], ids, sizeof(int32_t) * n_ids);
            if (n_suffix) memcpy(jb->ids[1], suffix, sizeof(int32_t) * n_suffix);
            jb->n_ids[0] = n_ids;
            jb->n_ids[1] = n_suffix;
            jb->n_segs = 0;
            if (n_ids) jb->segs[jb->n_segs++] = (struct canvas_seg){jb->ids[0], n_ids};
            jb->segs[jb->n_segs++] = (struct canvas_seg){NULL, jb->params.gen_length};
            if (n_suffix) jb->segs[jb->n_segs++] = (struct canvas_seg){jb->ids[1], n_suffix};
            jb->prompt_tokens = n_ids + n_suffix;
            if (r->echo && r->kind == API_COMPLETION) {
                jb->echo_text = text ? strdup(text) : tok_decode(m->tok, ids, n_ids, 1);
                if (!jb->echo_text) {
                    api_error_set(e, 500, "", "out of memory");
                    free(ids);
                    free(text);
                    goto fail;
                }
            }
        }
        free(ids);
        free(text);
    }
    free(suffix);
    *jobs_out = jobs;
    *n_jobs_out = n_jobs;
    return 0;
fail:
    free(suffix);
    api_jobs_free(jobs, n_jobs);
    return -1;
}

void api_jobs_free(struct api_job *jobs, int n_jobs)
{
    if (!jobs) return;
    for (int i = 0; i < n_jobs; i++) {
        for (int k = 0; k < 3; k++) free(jobs[i].ids[k]);
        free(jobs[i].segs);
        free(jobs[i].canvas_ids);
        free(jobs[i].echo_text);
    }
    free(jobs);
}
