/**
 * The figures of one `bench:net` run that go into its history line, read from the report as written
 * to evidence/bench/net.json, so a kept report gives the same line as the run that wrote it.
 */

/** The value at `path` in `report`, which must be a finite number. */
function numberAt(report: unknown, path: string): number {
  let at: unknown = report
  for (const key of path.split('.')) {
    at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined
  }
  if (typeof at !== 'number' || !Number.isFinite(at))
    throw new TypeError(`a net report has no number at ${path}`)
  return at
}

const SIDES = ['ours', 'helia'] as const
const SMALL = ['put_p50', 'put_p99', 'get_p50', 'get_p99'] as const

export function netRunFigures(report: unknown): Record<string, unknown> {
  const rounds = (report as { rounds?: unknown }).rounds
  const targets = (report as { targets?: unknown }).targets
  if (!Array.isArray(rounds) || typeof targets !== 'object' || targets === null) {
    throw new TypeError('a net report has rounds and targets')
  }
  const per = (measure: (side: (typeof SIDES)[number]) => Record<string, number>) =>
    Object.fromEntries(SIDES.map((side) => [side, measure(side)]))
  return {
    ratios: { write: numberAt(report, 'ratios.write'), read: numberAt(report, 'ratios.read') },
    rounds: {
      write: rounds.map((r) => numberAt(r, 'ratios.write')),
      read: rounds.map((r) => numberAt(r, 'ratios.read')),
    },
    mib_s: per((side) => ({
      write: numberAt(report, `${side}.write_mib_s`),
      read: numberAt(report, `${side}.read_mib_s`),
    })),
    cpu_ms_per_mib: per((side) => ({
      write: numberAt(report, `${side}.write_cpu_ms_per_mib`),
      read: numberAt(report, `${side}.read_cpu_ms_per_mib`),
    })),
    small_ms: Object.fromEntries(
      SMALL.map((name) => [name, numberAt(report, `ours.small_objects.${name}_ms`)]),
    ),
    daemon_rss_anon_mib: numberAt(report, 'targets.daemon_rss_mib.value'),
    targets_pass: Object.fromEntries(
      Object.entries(targets).map(([name, t]) => [name, (t as { pass?: unknown }).pass === true]),
    ),
  }
}
