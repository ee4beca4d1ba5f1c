import type { CalculatedMetricOptions, MetricGroup, MetricOptions, Metrics } from '@libp2p/interface'

type MetricsFactory<C> = (components: C) => Metrics

/**
 * libp2p's metrics with calculated groups that report 0 for a label they stop returning.
 *
 * A calculated group (libp2p's `libp2p_protocol_streams_total`, streams by direction and protocol,
 * for one) returns only the labels it counts now, and @libp2p/prometheus-metrics sets just those: a
 * protocol whose last stream closed kept its last count for good, which an operator reads as streams
 * still open. Each calculation here also returns 0 for every label an earlier one returned.
 */
export function withForgetfulGroups<C>(factory: MetricsFactory<C>): MetricsFactory<C> {
  return (components) => {
    const metrics = factory(components)
    const register = metrics.registerMetricGroup.bind(metrics) as (
      name: string,
      options?: MetricOptions | CalculatedMetricOptions<Record<string, number>>,
    ) => MetricGroup | undefined
    const patched = (
      name: string,
      options?: MetricOptions | CalculatedMetricOptions<Record<string, number>>,
    ): MetricGroup | undefined => {
      if (options === undefined || !('calculate' in options)) return register(name, options)
      return register(name, { ...options, calculate: zeroingGone(options.calculate) })
    }
    metrics.registerMetricGroup = patched as Metrics['registerMetricGroup']
    return metrics
  }
}

/** `calculate`, with 0 for every label an earlier call returned that this one does not. */
export function zeroingGone(
  calculate: () => Record<string, number> | Promise<Record<string, number>>,
): () => Promise<Record<string, number>> {
  const seen = new Set<string>()
  return async () => {
    const values = { ...(await calculate()) }
    for (const key of seen) if (!(key in values)) values[key] = 0
    for (const key of Object.keys(values)) seen.add(key)
    return values
  }
}
