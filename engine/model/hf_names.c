/* Hugging Face tensor names -> llama.cpp GGUF names (see model.h), per family:
 *   LLaDA:  model.transformer.{wte, ln_f, ff_out}, model.transformer.blocks.N.*
 *   Qwen2 / Dream / Llama: model.{embed_tokens, norm}, lm_head, model.layers.N.*
 *   BERT / RoBERTa: [bert.|roberta.]embeddings.*, encoder.layer.N.*,
 *                   cls.predictions.* / lm_head.*
 *   MDLM / SEDD (DiT): [backbone.]vocab_embed, sigma_map.mlp.{0,2},
 *                   blocks.N.*, output_layer.* (MDLM's Hugging Face model
 *                   keeps the DiT under "backbone.", SEDD's hub mixin does not) */
#include "engine/model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct name_pair {
    const char *hf;
    const char *ours;
};

static const struct name_pair llada_top[] = {
    {"model.transformer.wte.weight", "token_embd.weight"},
    {"model.transformer.ln_f.weight", "output_norm.weight"},
    {"model.transformer.ff_out.weight", "output.weight"},
};
static const struct name_pair llada_blk[] = {
    {"attn_norm.weight", "attn_norm.weight"}, {"q_proj.weight", "attn_q.weight"},
    {"k_proj.weight", "attn_k.weight"},       {"v_proj.weight", "attn_v.weight"},
    {"q_proj.bias", "attn_q.bias"},           {"k_proj.bias", "attn_k.bias"},
    {"v_proj.bias", "attn_v.bias"},           {"attn_out.weight", "attn_output.weight"},
    {"ff_norm.weight", "ffn_norm.weight"},    {"ff_proj.weight", "ffn_gate.weight"},
    {"up_proj.weight", "ffn_up.weight"},      {"ff_out.weight", "ffn_down.weight"},
};

static const struct name_pair qwen_top[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
static const struct name_pair qwen_blk[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

/* BERT names after the optional "bert." / "roberta." prefix; older
 * checkpoints call LayerNorm parameters gamma/beta (normalised first). */
static const struct name_pair bert_top[] = {
    {"embeddings.word_embeddings.weight", "token_embd.weight"},
    {"embeddings.position_embeddings.weight", "position_embd.weight"},
    {"embeddings.token_type_embeddings.weight", "token_types.weight"},
    {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
    {"embeddings.LayerNorm.bias", "token_embd_norm.bias"},
    {"cls.predictions.transform.dense.weight", "mlm.dense.weight"},
    {"cls.predictions.transform.dense.bias", "mlm.dense.bias"},
    {"cls.predictions.transform.LayerNorm.weight", "mlm.norm.weight"},
    {"cls.predictions.transform.LayerNorm.bias", "mlm.norm.bias"},
    {"cls.predictions.decoder.weight", "output.weight"},
    {"cls.predictions.decoder.bias", "output.bias"},
    {"cls.predictions.bias", "output.bias"},
    {"lm_head.dense.weight", "mlm.dense.weight"},
    {"lm_head.dense.bias", "mlm.dense.bias"},
    {"lm_head.layer_norm.weight", "mlm.norm.weight"},
    {"lm_head.layer_norm.bias", "mlm.norm.bias"},
    {"lm_head.decoder.weight", "output.weight"},
    {"lm_head.decoder.bias", "output.bias"},
    {"lm_head.bias", "output.bias"},
};
static const struct name_pair bert_blk[] = {
    {"attention.self.query.weight", "attn_q.weight"},
    {"attention.self.query.bias", "attn_q.bias"},
    {"attention.self.key.weight", "attn_k.weight"},
    {"attention.self.key.bias", "attn_k.bias"},
    {"attention.self.value.weight", "attn_v.weight"},
    {"attention.self.value.bias", "attn_v.bias"},
    {"attention.output.dense.weight", "attn_output.weight"},
    {"attention.output.dense.bias", "attn_output.bias"},
    {"attention.output.LayerNorm.weight", "attn_output_norm.weight"},
    {"attention.output.LayerNorm.bias", "attn_output_norm.bias"},
    {"intermediate.dense.weight", "ffn_up.weight"},
    {"intermediate.dense.bias", "ffn_up.bias"},
    {"output.dense.weight", "ffn_down.weight"},
    {"output.dense.bias", "ffn_down.bias"},
    {"output.LayerNorm.weight", "layer_output_norm.weight"},
    {"output.LayerNorm.bias", "layer_output_norm.bias"},
};

/* The DiT's names (models/dit.py, model/transformer.py) -> ours (model.h). */
static const struct name_pair dit_top[] = {
    {"vocab_embed.embedding", "token_embd.weight"},
    {"sigma_map.mlp.0.weight", "t_embd.fc1.weight"},
    {"sigma_map.mlp.0.bias", "t_embd.fc1.bias"},
    {"sigma_map.mlp.2.weight", "t_embd.fc2.weight"},
    {"sigma_map.mlp.2.bias", "t_embd.fc2.bias"},
    {"output_layer.norm_final.weight", "output_norm.weight"},
    {"output_layer.linear.weight", "output.weight"},
    {"output_layer.linear.bias", "output.bias"},
    {"output_layer.adaLN_modulation.weight", "output_adaln.weight"},
    {"output_layer.adaLN_modulation.bias", "output_adaln.bias"},
};
static const struct name_pair dit_blk[] = {
    {"norm1.weight", "attn_norm.weight"},
    {"attn_qkv.weight", "attn_qkv.weight"},
    {"attn_out.weight", "attn_output.weight"},
    {"norm2.weight", "ffn_norm.weight"},
    {"mlp.0.weight", "ffn_up.weight"},
    {"mlp.0.bias", "ffn_up.bias"},
    {"mlp.2.weight", "ffn_down.weight"},
    {"mlp.2.bias", "ffn_down.bias"},
    {"adaLN_modulation.weight", "adaln.weight"},
    {"adaLN_modulation.bias", "adaln.bias"},
};

static const char *lookup(const struct name_pair *t, size_t n, const char *hf)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].hf, hf) == 0)
            return t[i].ours;
    return NULL;
}

/* "PREFIX<N>.rest": N and rest, when name starts with prefix and a number. */
static int split_layer(const char *name, const char *prefix, int *layer, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0)
        return -1;
    const char *s = name + n;
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > 1000000)
            return -1;
        s++;
    }
    if (*s != '.')
        return -1;
    *layer = (int)v;
    *rest = s + 1;
    return 0;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

int hf_map_name(enum arch a, const char *hf, char *out, size_t outlen)
{
    const struct name_pair *top, *blk;
    size_t ntop, nblk;
    const char *layer_prefix;
    char norm[256];
    if (a == ARCH_LLADA) {
        top = llada_top, ntop = N_OF(llada_top), blk = llada_blk, nblk = N_OF(llada_blk);
        layer_prefix = "model.transformer.blocks.";
    } else if (a == ARCH_BERT || a == ARCH_ROBERTA) {
        top = bert_top, ntop = N_OF(bert_top), blk = bert_blk, nblk = N_OF(bert_blk);
        layer_prefix = "encoder.layer.";
        if (strncmp(hf, "bert.", 5) == 0)
            hf += 5;
        else if (strncmp(hf, "roberta.", 8) == 0)
            hf += 8;
        /* gamma/beta are the pre-2019 names of LayerNorm weight/bias */
        size_t n = strlen(hf);
        if (n + 8 >= sizeof norm)
            return -1;
        strcpy(norm, hf);
        if (n > 6 && strcmp(norm + n - 6, ".gamma") == 0)
            strcpy(norm + n - 6, ".weight");
        else if (n > 5 && strcmp(norm + n - 5, ".beta") == 0)
            strcpy(norm + n - 5, ".bias");
        hf = norm;
    } else if (a == ARCH_MDLM || a == ARCH_SEDD) {
        top = dit_top, ntop = N_OF(dit_top), blk = dit_blk, nblk = N_OF(dit_blk);
        layer_prefix = "blocks.";
        if (strncmp(hf, "backbone.", 9) == 0)
            hf += 9;
    } else {
        top = qwen_top, ntop = N_OF(qwen_top), blk = qwen_blk, nblk = N_OF(qwen_blk);
        layer_prefix = "model.layers.";
    }
    const char *ours = lookup(top, ntop, hf);
    if (ours) {
        snprintf(out, outlen, "%s", ours);
        return 0;
    }
    int layer;
    const char *rest;
    if (split_layer(hf, layer_prefix, &layer, &rest) == 0 && (ours = lookup(blk, nblk, rest))) {
        snprintf(out, outlen, "blk.%d.%s", layer, ours);
        return 0;
    }
    return -1;
}
