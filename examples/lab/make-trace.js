// Generates examples/lab/trace.csv: two weeks of a small lab, deterministic (seeded PRNG).
// Run: node examples/lab/make-trace.js > examples/lab/trace.csv
let seed = 20261126;
const random = () => {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (items) => items[Math.floor(random() * items.length)];
const exp = (mean) => -Math.log(1 - random()) * mean;
const kinds = [
  // team, class, gpus choices, mean duration (s), flavor, share of jobs, time limit factor
  ['pretraining', 'training', [16, 32, 64], 86400, 'h100', 0.03, 2],
  ['pretraining', 'research', [1, 2, 4, 8], 3 * 3600, '', 0.27, 0],
  ['alignment', 'training', [8, 16], 8 * 3600, 'h100', 0.1, 1.5],
  ['alignment', 'research', [1, 2, 4], 2 * 3600, '', 0.15, 0],
  ['interp', 'research', [1, 2, 4, 8], 4 * 3600, 'a100', 0.15, 2],
  ['serving', 'serving', [4, 8], 5 * 86400, 'h100', 0.02, 0],
  ['evals', 'research', [1, 2, 4, 8], 1800, '', 0.23, 3],
  ['evals', 'opportunistic', [8, 16], 6 * 3600, 'a100', 0.05, 0],
];
const rows = ['id,submit,team,gpus,duration,class,flavor,time_limit'];
let t = 0;
for (let i = 1; i <= 1200; i++) {
  t += exp(1000);
  let r = random();
  let kind = kinds[0];
  for (const k of kinds) {
    if (r < k[5]) {
      kind = k;
      break;
    }
    r -= k[5];
  }
  const [team, cls, sizes, mean, flavor, , limitFactor] = kind;
  const duration = Math.max(60, Math.round(exp(mean)));
  const limit = limitFactor > 0 ? Math.round(duration * limitFactor) : '';
  rows.push(`j${i},${Math.round(t)},${team},${pick(sizes)},${duration},${cls},${flavor},${limit}`);
}
process.stdout.write(rows.join('\n') + '\n');
