// Fleet: every node by GPU flavor and rack, each GPU coloured by the team holding it, nodes
// reserved for a waiting job, draining or down marked; hovering a node names its jobs (GET /v1/fleet).
import { useState } from 'preact/hooks';
import { int, teamColour } from '../format';
import { useApi, useShared } from '../state';
import type { Fleet, FleetNode } from '../types';

/**
 * What the executor says of a node that takes no new job (Slurm's state, e.g. "IDLE+DRAIN" or
 * "DOWN"): draining when an operator drains it (its runs go on), down otherwise; null: usable.
 */
export function condition(n: FleetNode): 'draining' | 'down' | null {
  if (!n.unavailable) return null;
  return /DRAIN/.test(n.unavailable.state ?? '') ? 'draining' : 'down';
}

function describe(n: FleetNode): string {
  const jobs = n.held.map((h) => `${h.job} (${h.team}, ${h.gpus} GPU${h.gpus === 1 ? '' : 's'})`).join(', ');
  const state = condition(n);
  const unusable = state && n.unavailable ? `; ${state} (${n.unavailable.state ?? 'no state'}): ${n.unavailable.why}` : '';
  return `${n.name}: ${n.free} of ${n.gpus} free${jobs ? `; ${jobs}` : ''}${n.reservedFor ? `; reserved for ${n.reservedFor}` : ''}${unusable}`;
}

function Node({ n, onHover }: { n: FleetNode; onHover: (n: FleetNode) => void }) {
  const state = condition(n);
  return (
    <div
      class={`node${n.reservedFor ? ' reserved' : ''}${state ? ` ${state}` : ''}`}
      title={describe(n)}
      data-node={n.name}
      onMouseEnter={() => onHover(n)}
    >
      {n.held.map((h, i) => (
        <span key={i} style={{ flexGrow: h.gpus, background: teamColour(h.team) }} />
      ))}
      {n.free > 0 && <span class="free" style={{ flexGrow: n.free }} />}
    </div>
  );
}

export function FleetView() {
  const { navigate } = useShared();
  const { data, error } = useApi<Fleet>('/v1/fleet');
  const [hovered, setHovered] = useState<FleetNode | null>(null);
  if (error)
    return (
      <p role="alert" class="error">
        {error.message}
      </p>
    );
  if (!data) return <p class="loading">Loading the fleet…</p>;
  const teams = new Map<string, number>();
  let total = 0;
  let free = 0;
  let reserved = 0;
  const states = { draining: 0, down: 0 };
  for (const pool of data.pools)
    for (const n of pool.nodes) {
      total += n.gpus;
      free += n.free;
      if (n.reservedFor) reserved++;
      const state = condition(n);
      if (state) states[state]++;
      for (const h of n.held) teams.set(h.team, (teams.get(h.team) ?? 0) + h.gpus);
    }
  return (
    <section>
      <h1>Fleet</h1>
      <p class="summary" data-testid="fleet-summary">
        {int(total)} GPUs, {int(total - free)} in use, {int(free)} free, on{' '}
        {int(data.pools.reduce((s, p) => s + p.nodes.length, 0))} nodes. Nodes with a dashed outline are
        reserved for a waiting job (backfill may use them only until it can start); hatched nodes take no
        new job: draining (an operator drains them in the cluster manager; their runs go on) or down.
      </p>
      <ul class="legend" aria-label="Teams holding GPUs">
        {[...teams]
          .sort((a, b) => b[1] - a[1])
          .map(([team, gpus]) => (
            <li key={team}>
              <span class="swatch" style={{ background: teamColour(team) }} aria-hidden="true" />
              {team}: {int(gpus)}
            </li>
          ))}
        <li>
          <span class="swatch free" aria-hidden="true" />
          free: {int(free)}
        </li>
        <li data-testid="legend-reserved">
          <span class="swatch reserved" aria-hidden="true" />
          reserved: {int(reserved)} node{reserved === 1 ? '' : 's'}
        </li>
        <li data-testid="legend-draining">
          <span class="swatch draining" aria-hidden="true" />
          draining: {int(states.draining)} node{states.draining === 1 ? '' : 's'}
        </li>
        <li data-testid="legend-down">
          <span class="swatch down" aria-hidden="true" />
          down: {int(states.down)} node{states.down === 1 ? '' : 's'}
        </li>
      </ul>
      <p class="hovered" aria-live="polite">
        {hovered ? (
          <>
            {describe(hovered)}{' '}
            {hovered.held.map((h) => (
              <a
                key={h.job}
                href={`/ui/jobs/${encodeURIComponent(h.job)}`}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(`/ui/jobs/${encodeURIComponent(h.job)}`);
                }}
              >
                open {h.job}{' '}
              </a>
            ))}
          </>
        ) : (
          'Point at a node to see its jobs.'
        )}
      </p>
      {data.pools.map((pool) => {
        const racks = new Map<number, FleetNode[]>();
        for (const n of pool.nodes) (racks.get(n.rack) ?? racks.set(n.rack, []).get(n.rack)!).push(n);
        const poolFree = pool.nodes.reduce((s, n) => s + n.free, 0);
        return (
          <section class="pool" key={pool.name} data-pool={pool.name}>
            <h2>
              {pool.name} · {pool.flavor} · {pool.nodes.length} nodes × {pool.gpusPerNode} GPUs ·{' '}
              {int(poolFree)} free
            </h2>
            <div class="racks">
              {[...racks].map(([rack, nodes]) => (
                <div class="rack" key={rack}>
                  <span class="rack-name">rack {rack + 1}</span>
                  <div class="nodes">
                    {nodes.map((n) => (
                      <Node key={n.name} n={n} onHover={setHovered} />
                    ))}
                  </div>
                </div>
              ))}
            </div>
          </section>
        );
      })}
    </section>
  );
}
