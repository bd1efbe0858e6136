// The dashboard server's API: the JSON of internal/rolloutview, the live
// event stream, and the actions.

export interface Rollout {
  name: string
  namespace: string
  created: string
  status: string
  message?: string
  strategy: string
  step: number
  steps: number
  stepList?: string[]
  setWeight?: number
  actualWeight?: number
  images: { image: string; roles: string[] | null }[] | null
  replicas: { desired: number; current: number; updated: number; ready: number; available: number }
  revisions: Revision[] | null
}

export interface Revision {
  number: number
  replicaSets: ReplicaSet[]
  analysisRuns?: AnalysisRun[]
}

export interface ReplicaSet {
  name: string
  status: string
  roles: string[] | null
  images: string[]
  desired: number
  available: number
  pods: Pod[] | null
}

export interface Pod {
  name: string
  status: string
  ready: string
  restarts: number
}

export interface AnalysisRun {
  name: string
  created: string
  status: string
  message?: string
  kind?: string
  summary: { successful: number; failed: number; inconclusive: number; error: number }
  metrics: Metric[] | null
}

export interface Metric {
  name: string
  status: string
  measurements: Measurement[] | null
}

export interface Measurement {
  at: string
  status: string
  value: string
  number?: number
  judge?: JudgeReading
}

// The canary judge's test at one measurement: the e-value and where it
// fails, and the confidence interval on the canary/stable ratio (high is
// absent while unbounded) with the tolerated ratio.
export interface JudgeReading {
  eValue: number
  failsAt: number
  low: number
  high?: number
  tolerated: number
  counts?: string
  boundary?: string
}

export type Action = 'promote' | 'promote-full' | 'abort' | 'retry' | 'restart'

// A Flagger Canary, as /api/namespaces/NS/canaries lists it.
export interface Canary {
  name: string
  status: string
  message?: string
  provider?: string
  weight: number
  maxWeight: number
  failedChecks: number
  threshold: number
  checks?: { name: string; kind: string; value?: string; passed: boolean; message?: string; time: string }[]
}

export async function actCanary(ns: string, name: string, action: 'promote' | 'abort'): Promise<string> {
  const r = await fetch(`/api/namespaces/${enc(ns)}/canaries/${enc(name)}/${action}`, {
    method: 'POST',
    headers: { 'X-Vireo-Dashboard': '1' },
  })
  if (!r.ok) throw await failure(r)
  return (await r.json()).result
}

async function failure(r: Response): Promise<Error> {
  try {
    const body = await r.json()
    return new Error(body.error ?? r.statusText)
  } catch {
    return new Error(`${r.status} ${r.statusText}`)
  }
}

export async function defaultNamespace(): Promise<string> {
  const r = await fetch('/api/config')
  if (!r.ok) throw await failure(r)
  return (await r.json()).namespace
}

export async function act(ns: string, name: string, action: Action): Promise<string> {
  const r = await fetch(`/api/namespaces/${enc(ns)}/rollouts/${enc(name)}/${action}`, {
    method: 'POST',
    headers: { 'X-Vireo-Dashboard': '1' },
  })
  if (!r.ok) throw await failure(r)
  return (await r.json()).result
}

export interface StreamHandlers {
  rollouts(list: Rollout[]): void
  canaries(list: Canary[]): void
  rollout(r: Rollout | { error: string }): void
  connected(live: boolean): void
  // failure is a listing the server could not make (e.g. forbidden); null
  // once one succeeds again.
  failure(error: string | null): void
}

// watch opens the live stream of a namespace (and one rollout); the browser
// reconnects by itself. It returns the function that closes it.
export function watch(ns: string, name: string | null, h: StreamHandlers): () => void {
  let url = `/api/namespaces/${enc(ns)}/events`
  if (name) url += `?rollout=${enc(name)}`
  const es = new EventSource(url)
  es.addEventListener('open', () => h.connected(true))
  es.addEventListener('error', () => h.connected(false))
  es.addEventListener('rollouts', (e) => {
    h.failure(null)
    h.rollouts(JSON.parse((e as MessageEvent).data))
  })
  es.addEventListener('canaries', (e) => h.canaries(JSON.parse((e as MessageEvent).data)))
  es.addEventListener('failure', (e) => h.failure(JSON.parse((e as MessageEvent).data).error))
  es.addEventListener('rollout', (e) => h.rollout(JSON.parse((e as MessageEvent).data)))
  return () => es.close()
}

const enc = encodeURIComponent
