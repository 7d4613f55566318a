/**
 * How a graph is laid out for the provider it runs on. The layouts compute the same numbers (within float32
 * round-off); they differ in which nodes the provider runs fastest. Every graph a provider runs (training steps,
 * generation, log-probs, evaluation, reward scores) takes its layout from here.
 */
import { Graph } from './graph';
import type { ExecutionProvider } from './session';

export type GraphLayout = Partial<
  Pick<Graph, 'pretransposeWeights' | 'fuse' | 'joinProjections' | 'halfWeights'>
>;

/**
 * WebGPU: linear layers through pre-transposed weights (its Gemm with transB runs ~3x slower than its plain
 * product), frozen q/k/v joined in the graph (a device session holds its own copy of each weight anyway), and
 * bfloat16 frozen weights as float16 (the provider has no bfloat16 kernel; float16 ones stay 16-bit there).
 */
export const WEBGPU_GRAPH_LAYOUT = {
  pretransposeWeights: true,
  joinProjections: 'graph',
  halfWeights: 'float16',
} as const;

/** The layout of graphs run on `ep`: WebGPU's, else the defaults (the CPU's). */
export function providerLayout(ep: ExecutionProvider | undefined): GraphLayout {
  return ep === 'webgpu' ? WEBGPU_GRAPH_LAYOUT : {};
}

/**
 * The integer dtype of the ids, masks, labels and positions fed to graphs run on `ep`: int32 on WebGPU, whose int64
 * support covers only indices (docs/gpu.md), so with int32 feeds every node runs on the device; else int64.
 */
export function providerInts(ep: ExecutionProvider | undefined): 'int32' | 'int64' {
  return ep === 'webgpu' ? 'int32' : 'int64';
}

/** A new graph laid out as `layout` says (fields left undefined keep Graph's defaults). */
export function layoutGraph(layout: GraphLayout): Graph {
  const g = new Graph();
  if (layout.pretransposeWeights !== undefined) g.pretransposeWeights = layout.pretransposeWeights;
  if (layout.fuse !== undefined) g.fuse = layout.fuse;
  if (layout.joinProjections !== undefined) g.joinProjections = layout.joinProjections;
  if (layout.halfWeights !== undefined) g.halfWeights = layout.halfWeights;
  return g;
}

/** A new graph laid out for `ep`. */
export function providerGraph(ep: ExecutionProvider | undefined): Graph {
  return layoutGraph(providerLayout(ep));
}
