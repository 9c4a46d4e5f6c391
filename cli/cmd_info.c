/* dllm-cli info: what a model file holds, one "key: value" per line, so tests
 * and people can grep it. --tensors adds one line per tensor; --dump NAME
 * prints that tensor's values dequantized to float32, one row per line. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

static int dump_tensor(const struct model *m, const char *name)
{
    const struct tensor *t = model_tensor(m, name);
    if (!t) {
        fprintf(stderr, "dllm-cli: no tensor '%s'\n", name);
        return 1;
    }
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    float *row = malloc((size_t)t->ne[0] * sizeof *row);
    if (!row)
        return 1;
    for (int64_t r = 0; r < rows; r++) {
        if (tensor_rows_f32(t, r, 1, row) != 0) {
            fprintf(stderr, "dllm-cli: cannot read row %lld of '%s'\n", (long long)r, name);
            free(row);
            return 1;
        }
        for (int64_t i = 0; i < t->ne[0]; i++)
            printf("%s%.9g", i ? " " : "", row[i]);
        printf("\n");
    }
    free(row);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    struct model *m = cli_open_model(argc, argv);
    if (!m)
        return 1;
    const char *dump = cli_opt(argc, argv, "--dump");
    if (dump) {
        int rc = dump_tensor(m, dump);
        model_free(m);
        return rc;
    }
    const struct model_config *c = &m->cfg;
    printf("path: %s\n", m->path);
    printf("name: %s\n", m->name ? m->name : "");
    printf("architecture: %s\n", arch_name(c->arch));
    printf("layers: %d\n", c->n_layers);
    printf("d_model: %d\n", c->d_model);
    printf("heads: %d\n", c->n_heads);
    printf("kv_heads: %d\n", c->n_kv_heads);
    printf("head_dim: %d\n", c->head_dim);
    printf("d_ff: %d\n", c->d_ff);
    printf("vocab_size: %d\n", c->vocab_size);
    printf("tokenizer_vocab: %d\n", m->tok ? tok_vocab_size(m->tok) : 0);
    printf("context_length: %d\n", c->max_seq);
    printf("norm_eps: %g\n", c->norm_eps);
    printf("rope_theta: %g\n", c->rope_theta);
    printf("rope_dim: %d\n", c->rope_dim);
    printf("rope_interleaved: %d\n", c->rope_interleaved);
    printf("causal: %d\n", c->causal);
    printf("shift_logits: %d\n", c->shift_logits);
    printf("tied_output: %d\n", c->tied_output);
    if (c->arch == ARCH_MDLM || c->arch == ARCH_SEDD) {
        printf("time_conditioning: %d\n", c->time_cond);
        printf("cond_dim: %d\n", c->cond_dim);
        printf("noise: %s\n", c->noise == NOISE_GEOMETRIC ? "geometric" : "loglinear");
        printf("noise_eps: %g\n", c->noise_eps);
        printf("sigma_min: %g\n", c->sigma_min);
        printf("sigma_max: %g\n", c->sigma_max);
        printf("graph: %s\n", c->graph_uniform ? "uniform" : "absorb");
        printf("scale_by_sigma: %d\n", c->scale_by_sigma);
    }
    printf("bos_id: %d\n", c->bos_id);
    printf("eos_id: %d\n", c->eos_id);
    printf("pad_id: %d\n", c->pad_id);
    printf("mask_id: %d\n", c->mask_id);
    printf("eot_id: %d\n", c->eot_id);
    printf("unk_id: %d\n", c->unk_id);
    printf("cls_id: %d\n", c->cls_id);
    printf("sep_id: %d\n", c->sep_id);
    printf("add_bos: %d\n", c->add_bos);
    printf("chat_template: %s\n", chat_family_name(m->chat));
    size_t bytes = 0;
    for (int i = 0; i < m->n_tensors; i++)
        bytes += m->tensors[i].nbytes;
    printf("tensors: %d\n", m->n_tensors);
    printf("tensor_bytes: %zu\n", bytes);
    if (cli_flag(argc, argv, "--tensors"))
        for (int i = 0; i < m->n_tensors; i++) {
            const struct tensor *t = &m->tensors[i];
            printf("tensor: %s %s [%lld, %lld, %lld, %lld]\n", t->name, dtype_name(t->type), (long long)t->ne[0],
                   (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        }
    model_free(m);
    return 0;
}
