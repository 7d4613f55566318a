"""PyTorch peer of bench/rl.ts: one RL iteration (GRPO-style, PPO clip, k3 KL) on the same safetensors checkpoints.

Eager torch only (transformers is not installed here): a LLaMA-style decoder (RMSNorm, RoPE rotate-half, SwiGLU,
untied head) read from the policy folder, and the reward model read from its folder with a random score head.
Same work as bench/rl.ts: P prompts x G completions, N new tokens sampled with a growing KV cache (no early stop),
rewards at the last token (EOS appended), old and reference log-probabilities, one AdamW step (clip 1.0) of the
clipped-ratio loss; full update or LoRA r 8 (alpha 16) on q/v. A warm-up iteration first, then a timed one.
Usage: torch_rl.py POLICY_DIR REWARD_DIR --mode full|lora --prompts 8 --prompt-length 32 --generations 4
       --new-tokens 64 --threads 2
Prints one JSON line: {"torch": ..., "mode": ..., "timings": {...}, "iterationSeconds": ...}.
"""
import argparse, json, math, os, time
import torch
import torch.nn.functional as F

from safetensors_io import read_safetensors


class Llama(torch.nn.Module):
    def __init__(self, model_dir, lora_rank=0, score_head=False):
        super().__init__()
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        if score_head:
            w["score.weight"] = torch.randn(1, cfg["hidden_size"]) * 0.02
        self.w = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v, requires_grad=not lora_rank) for k, v in w.items()})
        self.layers, self.heads = cfg["num_hidden_layers"], cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.heads
        theta = cfg.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        self.lora, self.lora_on = torch.nn.ParameterDict(), True
        for i in range(self.layers if lora_rank else 0):
            for m in ("q_proj", "v_proj"):
                out_f, in_f = self.p(f"model.layers.{i}.self_attn.{m}.weight").shape
                key = f"{i}__{m}"
                self.lora[key + "__A"] = torch.nn.Parameter(torch.empty(lora_rank, in_f).uniform_(-1 / math.sqrt(in_f), 1 / math.sqrt(in_f)))
                self.lora[key + "__B"] = torch.nn.Parameter(torch.zeros(out_f, lora_rank))
        self.scale = 16 / lora_rank if lora_rank else 0

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def linear(self, x, i, m):  # q_proj / v_proj, with LoRA where adapted and switched on
        y = x @ self.p(f"model.layers.{i}.self_attn.{m}.weight").T
        key = f"{i}__{m}"
        if self.lora_on and key + "__A" in self.lora:
            y = y + (x @ self.lora[key + "__A"].T @ self.lora[key + "__B"].T) * self.scale
        return y

    def norm(self, x, name):
        return self.p(name) * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def rope(self, x, pos):
        freqs = pos[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), -1)
        x1, x2 = x.chunk(2, -1)
        return x * emb.cos() + torch.cat((-x2, x1), -1) * emb.sin()

    def hidden(self, ids, cache=None):  # ids (B, T); cache: list of (k, v) or None; all rows unpadded
        B, T, D = ids.shape[0], ids.shape[1], self.head_dim
        t0 = 0 if cache is None or cache[0] is None else cache[0][0].shape[2]
        pos = torch.arange(t0, t0 + T)
        x = self.p("model.embed_tokens.weight")[ids]
        for i in range(self.layers):
            pre = f"model.layers.{i}."
            h = self.norm(x, pre + "input_layernorm.weight")
            q = self.linear(h, i, "q_proj").view(B, T, self.heads, D).transpose(1, 2)
            k = (h @ self.p(pre + "self_attn.k_proj.weight").T).view(B, T, self.kv_heads, D).transpose(1, 2)
            v = self.linear(h, i, "v_proj").view(B, T, self.kv_heads, D).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache is not None:
                if cache[i] is not None:
                    k, v = torch.cat((cache[i][0], k), 2), torch.cat((cache[i][1], v), 2)
                cache[i] = (k, v)
            rep = self.heads // self.kv_heads
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            scores = q @ kk.transpose(2, 3) / math.sqrt(D)
            if T > 1:
                scores = scores + torch.full((T, T), float("-inf")).triu(1)
            ctx = (scores.softmax(-1) @ vv).transpose(1, 2).reshape(B, T, self.heads * D)
            x = x + ctx @ self.p(pre + "self_attn.o_proj.weight").T
            h = self.norm(x, pre + "post_attention_layernorm.weight")
            gate = F.silu(h @ self.p(pre + "mlp.gate_proj.weight").T)
            x = x + (gate * (h @ self.p(pre + "mlp.up_proj.weight").T)) @ self.p(pre + "mlp.down_proj.weight").T
        return self.norm(x, "model.norm.weight")

    def logits(self, ids, cache=None):
        return self.hidden(ids, cache) @ self.p("lm_head.weight").T

    def token_logps(self, seqs, prompt_len):  # log p of each completion token
        lp = self.logits(seqs[:, :-1]).log_softmax(-1)
        return lp.gather(-1, seqs[:, 1:, None]).squeeze(-1)[:, prompt_len - 1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("policy")
    ap.add_argument("reward")
    ap.add_argument("--mode", choices=["full", "lora"], default="full")
    for k, v in dict(prompts=8, prompt_length=32, generations=4, new_tokens=64, threads=2, vocab=8192).items():
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rank = 8 if a.mode == "lora" else 0
    policy = Llama(a.policy, lora_rank=rank)
    reference = Llama(a.policy) if a.mode == "full" else policy  # LoRA: the same model, adapter off
    for p in reference.parameters() if a.mode == "full" else []:
        p.requires_grad_(False)
    reward = Llama(a.reward, score_head=True)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-5, weight_decay=0.0)
    prompts = torch.cat([torch.ones(a.prompts, 1, dtype=torch.long), torch.randint(3, a.vocab, (a.prompts, a.prompt_length - 1))], 1)
    prompts = prompts.repeat_interleave(a.generations, 0)  # (P * G, Tp)

    def iteration():
        t = {}
        start = time.perf_counter()
        with torch.no_grad():
            cache = [None] * policy.layers
            logits = policy.logits(prompts, cache)[:, -1]
            out = []
            for step in range(a.new_tokens):
                tok = torch.multinomial(logits.softmax(-1), 1)
                out.append(tok)
                if step + 1 < a.new_tokens:
                    logits = policy.logits(tok, cache)[:, -1]
            seqs = torch.cat([prompts, torch.cat(out, 1)], 1)
        t["generation"] = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            with_eos = torch.cat([seqs, torch.full((seqs.shape[0], 1), 2)], 1)
            rewards = (reward.hidden(with_eos)[:, -1] @ reward.p("score.weight").T).squeeze(-1)
            g = rewards.view(a.prompts, a.generations)
            adv = ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + 1e-4)).view(-1, 1)
        t["rewards"] = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            old = policy.token_logps(seqs, a.prompt_length)
        t["oldLogProbs"] = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            reference.lora_on = False
            ref = reference.token_logps(seqs, a.prompt_length)
            reference.lora_on = True
        t["referenceLogProbs"] = time.perf_counter() - start
        start = time.perf_counter()
        logp = policy.token_logps(seqs, a.prompt_length)
        ratio = (logp - old).exp()
        surrogate = torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
        kl = (ref - logp).exp() - (ref - logp) - 1
        loss = (-surrogate + 0.04 * kl).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        t["update"] = time.perf_counter() - start
        return t

    iteration()  # warm-up
    start = time.perf_counter()
    timings = iteration()
    total = time.perf_counter() - start
    rows = a.prompts * a.generations
    print(json.dumps({
        "torch": torch.__version__, "mode": a.mode, "timings": timings, "iterationSeconds": total,
        "generatedTokensPerSecond": rows * a.new_tokens / timings["generation"],
    }))


if __name__ == "__main__":
    main()
