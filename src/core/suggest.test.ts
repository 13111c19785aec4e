import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from './suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and swaps of neighbours as one edit each', () => {
    expect([
      editDistance('pretrainig', 'pretraining'),
      editDistance('applied', 'aplied'),
      editDistance('evals', 'evlas'),
      editDistance('interp', 'intern'),
      editDistance('', 'abc'),
      editDistance('serving', 'serving'),
      editDistance('kitten', 'sitting'),
    ]).toEqual([1, 1, 1, 1, 3, 0, 3]);
  });
});

describe('closest', () => {
  const teams = ['pretraining', 'alignment', 'interp', 'serving', 'evals'];

  it('names the team a misspelling was meant to be, ignoring case', () => {
    expect([closest('pretrainig', teams), closest('Serving', teams), closest('evlas', teams), closest('alignmnet', teams)]).toEqual([
      'pretraining',
      'serving',
      'evals',
      'alignment',
    ]);
  });

  it('names nothing when no candidate is close (a third of the length in edits, at least one)', () => {
    expect([closest('research', teams), closest('ab', ['xy']), closest('x', []), closest('a', ['b'])]).toEqual([
      undefined,
      undefined,
      undefined,
      'b',
    ]);
  });

  it('prefers the closest candidate, then the first listed', () => {
    expect([closest('team-b', ['team-a', 'team-b2', 'team-b']), closest('tam', ['tom', 'tim'])]).toEqual(['team-b', 'tom']);
  });
});

describe('didYouMean', () => {
  it('suggests the close name, or falls back to the given text', () => {
    expect(didYouMean('pretrainig', ['pretraining'], '; teams: pretraining')).toBe('; did you mean "pretraining"?');
    expect(didYouMean('research', ['pretraining'], '; teams: pretraining')).toBe('; teams: pretraining');
  });
});
