import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, request, subscribe } from '../api';
import type {
  CancelGenerationMutationVariables,
  CreateGenerationMutation,
  CreateGenerationMutationVariables,
  GenerationStreamSubscription,
  ModelsQuery,
  PlaygroundJobsQuery,
} from '../gql';
import { useT } from '../i18n';
import { ErrorText, useQuery, valueOf } from '../ui';
import { MODELS } from './models';

/**
 * The latest jobs' checkpoints, whatever the job's status now (a queued job may be resumed from one it kept), and
 * which methods' checkpoints generate text (createGeneration refuses the others').
 */
const PLAYGROUND_JOBS = /* GraphQL */ `
  query PlaygroundJobs {
    trainingMethods {
      method
      generates
    }
    trainingJobs(first: 100) {
      edges {
        node {
          id
          name
          method
          baseModel {
            id
          }
          checkpoints {
            id
            step
          }
        }
      }
    }
  }
`;
const CREATE_GENERATION = /* GraphQL */ `
  mutation CreateGeneration($input: CreateGenerationInput!) {
    createGeneration(input: $input) {
      id
    }
  }
`;
const CANCEL_GENERATION = /* GraphQL */ `
  mutation CancelGeneration($id: ID!) {
    cancelGeneration(id: $id) {
      id
      status
    }
  }
`;
const STREAM = /* GraphQL */ `
  subscription GenerationStream($id: ID!) {
    generationStream(id: $id) {
      kind
      text
      generatedTokens
      status
      finishReason
      error
    }
  }
`;

interface Target {
  modelId: string;
  checkpointId: string;
}
interface Answer {
  text: string;
  tokens: number;
  error: string | null;
  /** Why it stopped (or its final status); null while it streams. */
  finish: string | null;
}
interface Sampling {
  chatTemplate: boolean;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
}

/** One model or checkpoint: its selectors and its streamed answer. */
function Pane({
  n,
  models,
  jobs,
  target,
  onTarget,
  answer,
}: {
  n: number;
  models: ModelsQuery['models'];
  jobs: PlaygroundJobsQuery['trainingJobs']['edges'];
  target: Target;
  onTarget: (t: Target) => void;
  answer: Answer | null;
}) {
  const t = useT();
  const checkpoints = jobs
    .filter((e) => e.node.baseModel.id === target.modelId)
    .flatMap((e) => e.node.checkpoints.map((c) => ({ id: c.id, label: `${e.node.name} @ ${c.step}` })));
  return (
    <div class="card pane" data-pane={n}>
      <h2>{t('playgroundModel', { n })}</h2>
      <div class="row">
        <label>
          {t('model')}
          <select
            name={`model${n}`}
            value={target.modelId}
            onChange={(e) => onTarget({ modelId: valueOf(e), checkpointId: '' })}
          >
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('checkpoint')}
          <select
            name={`checkpoint${n}`}
            value={target.checkpointId}
            onChange={(e) => onTarget({ ...target, checkpointId: valueOf(e) })}
          >
            <option value="">{t('baseModelOnly')}</option>
            {checkpoints.map((c) => (
              <option key={c.id} value={c.id}>
                {c.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <h3>{t('answer')}</h3>
      <pre class="answer" data-testid={`answer${n}`}>
        {answer?.text}
      </pre>
      {answer && (
        <p class="muted" data-testid={`finish${n}`}>
          {t('tokens', { n: answer.tokens })} {answer.finish ?? '…'}
        </p>
      )}
      {answer?.error && <p class="error">{answer.error}</p>}
    </div>
  );
}

export function PlaygroundPage() {
  const t = useT();
  const models = useQuery<ModelsQuery>(MODELS);
  const jobs = useQuery<PlaygroundJobsQuery>(PLAYGROUND_JOBS);
  const [targets, setTargets] = useState<Target[]>([{ modelId: '', checkpointId: '' }]);
  const [prompt, setPrompt] = useState('');
  const [sampling, setSampling] = useState<Sampling>({
    chatTemplate: false,
    maxNewTokens: 32,
    temperature: 0,
    topP: 1,
    seed: 42,
  });
  const [answers, setAnswers] = useState<(Answer | null)[]>([]);
  const running = useRef<string[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const stops = useRef<(() => void)[]>([]);
  const modelList = models.data?.models ?? [];
  const resolved = targets.map((tg) => ({ ...tg, modelId: tg.modelId || modelList[0]?.id || '' }));
  // Only jobs whose method generates text (a reward model's checkpoint scores; generation refuses it).
  const generating = new Set(
    jobs.data?.trainingMethods.filter((m) => m.generates).map((m) => m.method) ?? [],
  );
  const jobList = jobs.data?.trainingJobs.edges.filter((e) => generating.has(e.node.method)) ?? [];
  const checkpointJob = (checkpointId: string) =>
    jobList.find((e) => e.node.checkpoints.some((c) => c.id === checkpointId))?.node.id;
  useEffect(() => () => stops.current.forEach((s) => s()), []);

  const run = async (e: Event) => {
    e.preventDefault();
    setError(null);
    stops.current.forEach((s) => s());
    setAnswers(resolved.map(() => ({ text: '', tokens: 0, error: null, finish: null })));
    const update = (i: number, next: Partial<Answer>) =>
      setAnswers((list) => list.map((a, j) => (j === i && a ? { ...a, ...next } : a)));
    try {
      const started = await Promise.all(
        resolved.map((tg) =>
          request<CreateGenerationMutation, CreateGenerationMutationVariables>(CREATE_GENERATION, {
            input: {
              baseModelId: tg.modelId,
              checkpointId: tg.checkpointId || null,
              trainingJobId: tg.checkpointId ? checkpointJob(tg.checkpointId) : null,
              prompt,
              ...sampling,
            },
          }),
        ),
      );
      running.current = started.map((s) => s.createGeneration.id);
      stops.current = running.current.map((id, i) =>
        subscribe<GenerationStreamSubscription>(
          STREAM,
          { id },
          {
            next: ({ generationStream: ev }) =>
              ev.kind === 'DELTA'
                ? setAnswers((list) =>
                    list.map((a, j) =>
                      j === i && a ? { ...a, text: a.text + ev.text, tokens: ev.generatedTokens } : a,
                    ),
                  )
                : update(i, {
                    text: ev.text,
                    tokens: ev.generatedTokens,
                    error: ev.error,
                    finish: ev.finishReason ?? ev.status,
                  }),
            error: (err) => update(i, { error: err.message }),
          },
        ),
      );
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const num = (key: keyof Sampling, step: string) => (
    <label>
      {t(
        key === 'maxNewTokens'
          ? 'maxNewTokens'
          : key === 'topP'
            ? 'topP'
            : key === 'seed'
              ? 'seed'
              : 'temperature',
      )}
      <input
        type="number"
        step={step}
        name={key}
        value={String(sampling[key])}
        onInput={(e) => setSampling({ ...sampling, [key]: Number(valueOf(e)) })}
      />
    </label>
  );
  return (
    <>
      <h1>{t('navPlayground')}</h1>
      <form class="card" onSubmit={run}>
        <label class="block">
          {t('prompt')}
          <textarea name="prompt" rows={4} value={prompt} onInput={(e) => setPrompt(valueOf(e))} />
        </label>
        <div class="row">
          <label>
            <input
              type="checkbox"
              checked={sampling.chatTemplate}
              onChange={(e) =>
                setSampling({ ...sampling, chatTemplate: (e.currentTarget as HTMLInputElement).checked })
              }
            />
            {t('chatTemplate')}
          </label>
          {num('maxNewTokens', '1')}
          {num('temperature', '0.05')}
          {num('topP', '0.05')}
          {num('seed', '1')}
          <span class="grow" />
          <button
            type="button"
            class="link"
            onClick={() =>
              setTargets(
                targets.length === 1 ? [...targets, { modelId: '', checkpointId: '' }] : targets.slice(0, 1),
              )
            }
          >
            {targets.length === 1 ? t('addSecond') : t('removeSecond')}
          </button>
          <button
            type="button"
            disabled={!answers.some((a) => a && !a.finish)}
            onClick={() =>
              running.current.forEach((id) =>
                request<unknown, CancelGenerationMutationVariables>(CANCEL_GENERATION, { id }).catch(
                  () => undefined,
                ),
              )
            }
          >
            {t('stop')}
          </button>
          <button type="submit" disabled={!prompt || !modelList.length}>
            {t('generate')}
          </button>
        </div>
        <ErrorText error={error} />
      </form>
      <div class="panes">
        {resolved.map((tg, i) => (
          <Pane
            key={i}
            n={i + 1}
            models={modelList}
            jobs={jobList}
            target={tg}
            onTarget={(next) => setTargets(targets.map((x, j) => (j === i ? next : x)))}
            answer={answers[i] ?? null}
          />
        ))}
      </div>
    </>
  );
}
