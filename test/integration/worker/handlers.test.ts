import { checkHandlers } from '../../../src/worker/handlers';

describe('queue handler registry', () => {
  it('refuses to start while a queue has no handler', () => {
    const handler = async () => undefined;
    expect(() => checkHandlers({})).toThrow('no handler for queue(s): training, evaluation, generation');
    expect(() => checkHandlers({ training: 'not a function', evaluation: handler })).toThrow(/training/);
    expect(() => checkHandlers({ training: handler })).toThrow(
      'no handler for queue(s): evaluation, generation',
    );
    expect(() => checkHandlers({ training: handler, evaluation: handler })).toThrow(/generation/);
    expect(() =>
      checkHandlers({ training: handler, evaluation: handler, generation: handler }),
    ).not.toThrow();
  });
});
