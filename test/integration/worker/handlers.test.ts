import { checkHandlers } from '../../../src/worker/handlers';

describe('queue handler registry', () => {
  it('refuses to start while a queue has no handler', () => {
    expect(() => checkHandlers({})).toThrow('no handler for queue(s): training');
    expect(() => checkHandlers({ training: 'not a function' })).toThrow(/training/);
    expect(() => checkHandlers({ training: async () => undefined })).not.toThrow();
  });
});
