// "Did you mean": the known name closest to a misspelled one (a team, a class, a key), by edit
// distance, so that a message can name it: `unknown team "pretrainig"; did you mean "pretraining"?`.

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours each cost 1. Example: "pretrainig" -> "pretraining" is 1 (one insertion);
 * "aplied" -> "applied" is 1; "evlas" -> "evals" is 1 (a swap).
 */
export function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the (a.length+1) x (b.length+1) table.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate closest to `name`, when it is close enough to be what was meant: at most a
 * third of the name's length in edits (at least 1), compared without case. Ties go to the
 * candidate listed first; undefined when none is close.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  const allowed = Math.max(1, Math.floor(wanted.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(wanted, candidate.toLowerCase());
    if (d <= allowed && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** `; did you mean "x"?` after a message about `name`, or `otherwise` when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>, otherwise: string): string {
  const match = closest(name, candidates);
  return match === undefined ? otherwise : `; did you mean ${JSON.stringify(match)}?`;
}
