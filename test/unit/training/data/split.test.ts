import { splitTrainValidation } from '../../../../src/data';

describe('splitTrainValidation', () => {
  it('holds out round(ratio * n) rows, the same ones for the same seed, in row order', () => {
    const a = splitTrainValidation(100, 0.1, 7);
    expect(a.validation).toHaveLength(10);
    expect(a.train).toHaveLength(90);
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual([...Array(100).keys()]);
    expect(a.validation).toEqual([...a.validation].sort((x, y) => x - y));
    expect(splitTrainValidation(100, 0.1, 7)).toEqual(a);
    expect(splitTrainValidation(100, 0.1, 8).validation).not.toEqual(a.validation);
  });

  it('keeps at least one training row and accepts a zero ratio', () => {
    expect(splitTrainValidation(2, 0.9, 1).train).toHaveLength(1);
    expect(splitTrainValidation(5, 0, 1)).toEqual({ train: [0, 1, 2, 3, 4], validation: [] });
    expect(splitTrainValidation(0, 0.5, 1)).toEqual({ train: [], validation: [] });
    expect(() => splitTrainValidation(5, 1, 1)).toThrow(/ratio must be in \[0, 1\)/);
  });
});
