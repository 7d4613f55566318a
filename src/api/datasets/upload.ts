/**
 * POST /datasets/upload: a dataset sent from the client as the raw JSONL body, streamed line by line into the same
 * import as createDataset (same row checks, one transaction, nothing stored on error), so its size is bounded by
 * WHETSTONE_UPLOAD_MAX_BYTES, not by memory. The key is checked (by the caller) before any byte of the body is read.
 * Settings travel in the query string: name, kind, validationSplitRatio (default 0), splitSeed (default 42).
 * Answers `{"data": {"dataset": {...}}}` or `{"errors": [{message, extensions: {code, path}}]}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DatasetEntity, DatasetKind } from '../../db/entities';
import { quote } from '../../errors';
import type { Principal } from '../context';
import { badInput } from '../errors';
import { cappedBody, sendJson } from '../http';
import type { DatasetService, DatasetSettings } from './service';
import { jsonlLines } from './lines';

export const UPLOAD_PATH = '/datasets/upload';

function number(params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw badInput(`${name} must be a number, got ${quote(raw)}`, [name]);
  return value;
}

/** The dataset settings of the query string. */
function settingsOf(params: URLSearchParams): DatasetSettings {
  const name = params.get('name');
  if (name === null) throw badInput('name is missing from the query string', ['name']);
  const kind = params.get('kind') ?? '';
  if (!Object.values(DatasetKind).includes(kind as DatasetKind)) {
    throw badInput(`kind must be one of ${Object.values(DatasetKind).join(', ')}, got ${quote(kind)}`, [
      'kind',
    ]);
  }
  return {
    name,
    kind: kind as DatasetKind,
    validationSplitRatio: number(params, 'validationSplitRatio', 0),
    splitSeed: number(params, 'splitSeed', 42),
  };
}

/** The dataset as the GraphQL type `Dataset` shows it. */
export function datasetJson(d: DatasetEntity) {
  return {
    id: d.id,
    name: d.name,
    kind: d.kind,
    rowCount: d.rowCount,
    trainRowCount: d.trainRowCount,
    validationRowCount: d.validationRowCount,
    validationSplitRatio: d.validationSplitRatio,
    splitSeed: d.splitSeed,
    source: d.source,
    createdAt: d.createdAt.toISOString(),
  };
}

export async function handleUpload(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  principal: Principal,
  datasets: DatasetService,
  maxBytes: number,
): Promise<void> {
  const settings = settingsOf(url.searchParams);
  const dataset = await datasets.import(principal, settings, {
    lines: jsonlLines(cappedBody(req, maxBytes)),
    source: 'upload',
    at: [],
  });
  sendJson(res, 200, { data: { dataset: datasetJson(dataset) } });
}
