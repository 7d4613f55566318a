import { FloatList, IntList } from '../../../src/api/common/number-lists';

describe('IntList and FloatList', () => {
  it('serialise arrays and typed arrays to plain arrays of the same numbers', () => {
    expect(IntList.serialize(new Int32Array([1, -2, 2 ** 31 - 1]))).toEqual([1, -2, 2 ** 31 - 1]);
    expect(FloatList.serialize(new Float64Array([0.1, 1e-300, -5]))).toEqual([0.1, 1e-300, -5]);
    expect(FloatList.serialize([1.5, null])).toEqual([1.5, null]);
  });

  it('write the doubles JSON cannot hold as null', () => {
    expect(FloatList.serialize(new Float64Array([NaN, Infinity, -Infinity, 2]))).toEqual([
      null,
      null,
      null,
      2,
    ]);
  });

  it('refuse what is not a list of numbers (as input too)', () => {
    expect(() => IntList.serialize([1, 1.5])).toThrow('IntList: element 1 is not a valid number');
    expect(() => IntList.serialize([null])).toThrow('element 0');
    expect(() => FloatList.serialize(['1'])).toThrow('FloatList: element 0');
    expect(() => FloatList.serialize({ 0: 1, length: 1 })).toThrow('must be a list of numbers');
    expect(IntList.parseValue([3, 4])).toEqual([3, 4]);
    expect(() => FloatList.parseValue('1,2')).toThrow('must be a list of numbers');
  });
});
