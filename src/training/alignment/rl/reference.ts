/**
 * The frozen reference policy of RL, computed with the least extra memory each parameterization allows:
 * - full update: the policy's own forward fed the starting weights;
 * - LoRA: the policy's own forward fed every lora_B as zero (B A x = 0 exactly: the base with the adapter
 *   switched off), so no second copy of the base weights is built;
 * - prompt tuning: the base without its virtual tokens (adapterEnabled false), a frozen forward of its own.
 */
import { HostTensor } from '../../objective';
import { CausalLMForward, Parameterization } from '../../parameterization';

export interface ReferencePolicy {
  forward: CausalLMForward;
  /** The trainable values to feed `forward` (none for a frozen one). */
  values: ReadonlyMap<string, HostTensor>;
  /** The reference runs on the policy's forward (so it can share the policy's sessions). */
  sharesPolicyForward: boolean;
}

export function referencePolicy(params: Parameterization): ReferencePolicy {
  const adapter = params.adapter;
  if (!adapter) return { forward: params.forward, values: params.initial, sharesPolicyForward: true };
  if (adapter.kind === 'lora') {
    const values = new Map(
      [...params.initial].map(([n, t]) => [
        n,
        /\.lora_B\.weight$/.test(n) ? { ...t, data: new Float32Array(t.data.length) } : t,
      ]),
    );
    return { forward: params.forward, values, sharesPolicyForward: true };
  }
  return {
    forward: (g, x) => params.forward(g, { ...x, adapterEnabled: false }),
    values: new Map(),
    sharesPolicyForward: false,
  };
}
