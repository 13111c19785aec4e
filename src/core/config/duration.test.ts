import { describe, expect, test } from 'vitest';
import { describeValue, parseDecimal, parseDuration } from './duration.js';

describe('parseDuration', () => {
  test('reads a number of seconds, given as a number or a numeric string', () => {
    expect([600, 0.5, 0, '600', '0.5', '1e3', ' 42 '].map(parseDuration)).toEqual([
      600, 0.5, 0, 600, 0.5, 1000, 42,
    ]);
  });

  test('reads the units s, m, h and d', () => {
    expect(['90s', '10m', '1.5h', '7d', '.5m', '0s'].map(parseDuration)).toEqual([
      90, 600, 5400, 604_800, 30, 0,
    ]);
  });

  test('says what it expected and what it got for anything else', () => {
    const expected = 'expected a duration in seconds (600, 0.5) or with a unit (90s, 10m, 1.5h, 7d), got';
    expect(
      ['abc', '', '10 m', '10w', 'NaN', 'Infinity', '0x10', true, null, [], {}, Number.NaN].map(
        parseDuration,
      ),
    ).toEqual([
      `${expected} "abc"`,
      `${expected} ""`,
      `${expected} "10 m"`,
      `${expected} "10w"`,
      `${expected} "NaN"`,
      `${expected} "Infinity"`,
      `${expected} "0x10"`,
      `${expected} true`,
      `${expected} nothing`,
      `${expected} a list`,
      `${expected} a mapping`,
      `${expected} NaN`,
    ]);
  });

  test('rejects negative durations', () => {
    expect([-1, '-5', '-5m'].map(parseDuration)).toEqual([
      'a duration cannot be negative, got -1',
      'a duration cannot be negative, got "-5"',
      'a duration cannot be negative, got "-5m"',
    ]);
  });
});

describe('parseDecimal', () => {
  test('accepts decimal notation, with an exponent and a sign', () => {
    expect(['0', '12', '1.5', '.5', '5.', '1e3', '2.5E-1', '-3', '+4'].map(parseDecimal)).toEqual([
      0, 12, 1.5, 0.5, 5, 1000, 0.25, -3, 4,
    ]);
  });

  test('refuses what Number() would wrongly accept or turn into a non-finite value', () => {
    expect(
      ['', ' ', 'abc', 'NaN', 'Infinity', '-Infinity', '0x10', '0b1', ' 1', '1 ', '1e999', '1,5'].map(
        parseDecimal,
      ),
    ).toEqual(Array(12).fill(null));
  });
});

test('describeValue quotes strings and names lists and mappings', () => {
  expect(['x', 3, false, null, undefined, [1], { a: 1 }].map(describeValue)).toEqual([
    '"x"',
    '3',
    'false',
    'nothing',
    'nothing',
    'a list',
    'a mapping',
  ]);
});
