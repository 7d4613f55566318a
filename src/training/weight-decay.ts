/**
 * Which parameters get weight decay. By default, as the transformers Trainer (`get_decay_parameter_names`):
 * none of the biases and normalisation weights; `decayAll` decays every parameter (what a bare
 * torch.optim.AdamW over `model.parameters()` does, and what the reference fixtures use).
 */

// transformers' forbidden name patterns (lower-cased names), plus GPT-2's LayerNorm modules `ln_1`, `ln_2`,
// `ln_f`, which transformers excludes by their nn.LayerNorm type rather than by name.
const NO_DECAY = [
  /bias/,
  /layernorm/,
  /rmsnorm/,
  /(?:^|\.)norm(?:$|\.)/,
  /_norm(?:$|\.)/,
  /(?:^|\.)ln_[^.]*\./,
];

export function isDecayed(paramName: string, decayAll = false): boolean {
  if (decayAll) return true;
  const name = paramName.toLowerCase();
  return !NO_DECAY.some((pattern) => pattern.test(name));
}
