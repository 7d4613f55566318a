import { ProgressMeter, progressBar, stepJsonLine } from '../../../src/training/progress';

test('the meter derives throughput and ETA from the steps it has seen', () => {
  let now = 100;
  const meter = new ProgressMeter(10, () => now);
  now = 102;
  const e1 = meter.event({ epoch: 1, step: 1, loss: 2, learningRate: 1e-3, gradNorm: 0.5, tokens: 1000 });
  expect(e1).toMatchObject({
    step: 1,
    totalSteps: 10,
    tokensPerSecond: 500,
    elapsedSeconds: 2,
    etaSeconds: 18,
  });
  now = 106;
  const e2 = meter.event({ epoch: 1, step: 2, loss: 1.5, learningRate: 1e-3, gradNorm: 0.4, tokens: 1000 });
  expect(e2.tokensPerSecond).toBeCloseTo(2000 / 6);
  expect(e2.etaSeconds).toBeCloseTo(3 * 8);
});

test('throughput and ETA leave out the seconds spent building graphs and sessions', () => {
  let now = 0;
  const meter = new ProgressMeter(3, () => now);
  now = 12; // a first step of 2 s after 10 s of graph building and session creation
  const first = meter.event({
    epoch: 1,
    step: 1,
    loss: 2,
    learningRate: 1e-3,
    gradNorm: 1,
    tokens: 1000,
    compileSeconds: 10,
  });
  expect(first.tokensPerSecond).toBeCloseTo(500);
  expect(first.elapsedSeconds).toBe(12);
  expect(first.etaSeconds).toBeCloseTo(4);
  now = 14;
  const second = meter.event({
    epoch: 1,
    step: 2,
    loss: 2,
    learningRate: 1e-3,
    gradNorm: 1,
    tokens: 1000,
    compileSeconds: 0,
  });
  expect(second.tokensPerSecond).toBeCloseTo(500);
});

test('JSON lines and the terminal bar carry the step fields', () => {
  const e = {
    epoch: 1,
    step: 5,
    totalSteps: 10,
    loss: 2.5,
    learningRate: 1e-4,
    gradNorm: 0.75,
    tokensPerSecond: 512,
    elapsedSeconds: 12,
    etaSeconds: 12,
    extra: { accuracy: 0.5 },
  };
  const line = JSON.parse(stepJsonLine(e));
  expect(line).toMatchObject({ event: 'step', epoch: 1, step: 5, totalSteps: 10, loss: 2.5, gradNorm: 0.75 });
  expect(line.learningRate).toBe(1e-4);
  expect(line.accuracy).toBe(0.5);
  expect(progressBar(e, 10)).toBe(
    '[#####.....] 5/10 epoch 1 loss 2.5000 lr 1.00e-4 |g| 0.750 512 tok/s 0:12<0:12',
  );
});
