"""PyTorch peer of bench/generate.ts: greedy decoding of a LLaMA-style safetensors checkpoint with a KV cache.

A compact eager re-implementation (torch only; transformers is not installed here): RMSNorm, RoPE (rotate-half),
grouped-query attention, SwiGLU MLP, untied or tied head. The cache grows by concatenation, as transformers'
DynamicCache does. Usage: torch_llama.py MODEL_DIR --prompt 1,2,3 --lengths 32,64 --threads 2 --repeats 3
Prints one JSON line: {"lengths": [{"newTokens": n, "tokensPerSecond": x, "tokens": [...]}]}.
"""
import argparse, json, math, os, time
import torch

from safetensors_io import read_safetensors


class Llama:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.heads
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        self.head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def norm(self, x, name):
        return self.w[name] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):  # x (1, H, T, D)
        freqs = pos[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), -1)
        x1, x2 = x.chunk(2, -1)
        return x * emb.cos() + torch.cat((-x2, x1), -1) * emb.sin()

    @torch.no_grad()
    def forward(self, ids, cache):  # ids (1, T); cache: list of (k, v) or None
        t0 = 0 if cache[0] is None else cache[0][0].shape[2]
        pos = torch.arange(t0, t0 + ids.shape[1])
        x = self.w["model.embed_tokens.weight"][ids]
        T, D = ids.shape[1], self.head_dim
        for i in range(self.layers):
            p = f"model.layers.{i}."
            h = self.norm(x, p + "input_layernorm.weight")
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).view(1, T, self.heads, D).transpose(1, 2)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).view(1, T, self.kv_heads, D).transpose(1, 2)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).view(1, T, self.kv_heads, D).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache[i] is not None:
                k, v = torch.cat((cache[i][0], k), 2), torch.cat((cache[i][1], v), 2)
            cache[i] = (k, v)
            rep = self.heads // self.kv_heads
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            scores = q @ kk.transpose(2, 3) / math.sqrt(D)
            if T > 1:
                scores = scores + torch.full((T, T), float("-inf")).triu(1)
            ctx = (scores.softmax(-1) @ vv).transpose(1, 2).reshape(1, T, self.heads * D)
            x = x + ctx @ self.w[p + "self_attn.o_proj.weight"].T
            h = self.norm(x, p + "post_attention_layernorm.weight")
            gate = torch.nn.functional.silu(h @ self.w[p + "mlp.gate_proj.weight"].T)
            x = x + (gate * (h @ self.w[p + "mlp.up_proj.weight"].T)) @ self.w[p + "mlp.down_proj.weight"].T
        return self.norm(x[:, -1], "model.norm.weight") @ self.head.T

    def greedy(self, prompt, n):
        cache = [None] * self.layers
        logits = self.forward(torch.tensor([prompt]), cache)
        out = []
        for step in range(n):
            tok = int(logits.argmax(-1))
            out.append(tok)
            if step + 1 < n:
                logits = self.forward(torch.tensor([[tok]]), cache)
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--lengths", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = Llama(a.model)
    prompt = [int(x) for x in a.prompt.split(",")]
    results = []
    for n in [int(x) for x in a.lengths.split(",")]:
        m.greedy(prompt, n)  # warm-up
        best = float("inf")
        for _ in range(a.repeats):  # the fastest run counts, as in bench/generate.ts
            start = time.perf_counter()
            tokens = m.greedy(prompt, n)
            best = min(best, time.perf_counter() - start)
        results.append({"newTokens": n, "tokensPerSecond": n / best, "tokens": tokens})
    print(json.dumps({"torch": torch.__version__, "lengths": results}))


if __name__ == "__main__":
    main()
