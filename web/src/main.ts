// The dashboard: the rollouts of a namespace, and one rollout in detail,
// kept live by the server's event stream.
import { html } from 'htm/preact'
import { render } from 'preact'
import { useEffect, useErrorBoundary, useState } from 'preact/hooks'
import { act, actCanary, defaultNamespace, watch, type Action, type AnalysisRun, type Canary, type Rollout } from './api'
import { Chart } from './chart'
import './style.css'

// The location is #/NAMESPACE or #/NAMESPACE/ROLLOUT.
function parseHash(): { ns: string; name: string | null } {
  const [ns, name] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  return { ns: ns ?? '', name: name || null }
}

function App() {
  const [route, setRoute] = useState(parseHash())
  const [fallbackNs, setFallbackNs] = useState<string | null>(null)
  const [list, setList] = useState<Rollout[] | null>(null)
  const [canaries, setCanaries] = useState<Canary[]>([])
  const [one, setOne] = useState<Rollout | { error: string } | null>(null)
  const [live, setLive] = useState(false)
  const [failure, setFailure] = useState<string | null>(null)
  const [crash, reset] = useErrorBoundary()

  useEffect(() => {
    const onHash = () => setRoute(parseHash())
    addEventListener('hashchange', onHash)
    defaultNamespace().then(setFallbackNs, () => setFallbackNs('default'))
    return () => removeEventListener('hashchange', onHash)
  }, [])

  const ns = route.ns || fallbackNs
  useEffect(() => {
    if (!ns) return
    setOne(null)
    return watch(ns, route.name, { rollouts: setList, canaries: setCanaries, rollout: setOne, connected: setLive, failure: setFailure })
  }, [ns, route.name])

  return html`
    <header>
      <a class="brand" href=${'#/' + (ns ?? '')}>Vireo</a>
      <form class="ns" onSubmit=${(e: Event) => {
        e.preventDefault()
        const v = ((e.target as HTMLFormElement).elements.namedItem('ns') as HTMLInputElement).value.trim()
        if (v) location.hash = '#/' + encodeURIComponent(v)
      }}>
        <label>namespace <input name="ns" value=${ns ?? ''} size="16" /></label>
      </form>
      <span class=${'live ' + (live ? 'on' : 'off')} title="live updates">${live ? '● live' : '○ reconnecting'}</span>
    </header>
    <main>
      ${failure && html`<p class="error">${failure}</p>`}
      ${crash ? html`<p class="error">The page failed to show this: ${String(crash)} <button onClick=${reset}>Try again</button></p>` : !ns ? html`<p>Loading…</p>` : route.name ? html`<${Detail} ns=${ns} view=${one} />` : html`<${List} ns=${ns} list=${list} /><${Canaries} ns=${ns} list=${canaries} />`}
    </main>
  `
}

function Badge({ status }: { status: string }) {
  const icon: Record<string, string> = {
    Healthy: '✔', Paused: '‖', Progressing: '◌', Degraded: '✖',
    Succeeded: '✔', Initialized: '✔', Failed: '✖', Waiting: '‖', WaitingPromotion: '‖', Promoting: '◌', Finalising: '◌',
  }
  return html`<span class=${'badge ' + status}>${icon[status] ?? ''} ${status}</span>`
}

function List({ ns, list }: { ns: string; list: Rollout[] | null }) {
  if (!list) return html`<p>Loading rollouts of ${ns}…</p>`
  if (list.length === 0) return html`<p>No rollouts in namespace ${ns}.</p>`
  return html`
    <h1>Rollouts in ${ns}</h1>
    <table class="rollouts">
      <thead><tr><th>Name</th><th>Strategy</th><th>Status</th><th>Step</th><th>Weight</th><th>Available</th><th>Images</th></tr></thead>
      <tbody>
        ${list.map(
          (r) => html`<tr data-rollout=${r.name}>
            <td><a href=${`#/${encodeURIComponent(ns)}/${encodeURIComponent(r.name)}`}>${r.name}</a></td>
            <td>${r.strategy}</td>
            <td><${Badge} status=${r.status} /></td>
            <td>${r.steps ? `${r.step}/${r.steps}` : '-'}</td>
            <td>${r.setWeight ?? '-'}</td>
            <td>${r.replicas.available}/${r.replicas.desired}</td>
            <td>${(r.images ?? []).map((i) => html`<div>${i.image} <small>${i.roles?.join(', ')}</small></div>`)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  `
}

// Canaries lists Flagger's Canaries beside the rollouts, with their last
// checks, and the buttons of kubectl vireo canary promote|abort.
function Canaries({ ns, list }: { ns: string; list: Canary[] }) {
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null)
  if (list.length === 0) return null
  const run = (name: string, a: 'promote' | 'abort') =>
    actCanary(ns, name, a).then(
      (text) => setResult({ ok: true, text }),
      (e: Error) => setResult({ ok: false, text: e.message }),
    )
  return html`
    <h1>Canaries in ${ns}</h1>
    ${result && html`<p class=${result.ok ? 'result ok' : 'result error'}>${result.text}</p>`}
    <table class="canaries">
      <thead><tr><th>Name</th><th>Status</th><th>Weight</th><th>Failed checks</th><th>Last check</th><th></th></tr></thead>
      <tbody>
        ${list.map((c) => {
          const last = c.checks && c.checks.length > 0 ? c.checks[c.checks.length - 1] : null
          return html`<tr data-canary=${c.name}>
            <td title=${c.message ?? ''}>${c.name}</td>
            <td><${Badge} status=${c.status} /></td>
            <td>${c.weight}% <small>of ${c.maxWeight}%</small></td>
            <td>${c.failedChecks}/${c.threshold}</td>
            <td>${last ? html`${last.passed ? '✔' : '✖'} ${last.name} ${last.value ?? ''}` : '-'}</td>
            <td><button data-canary-action="promote" onClick=${() => run(c.name, 'promote')}>Promote</button>
                <button data-canary-action="abort" onClick=${() => run(c.name, 'abort')}>Abort</button></td>
          </tr>`
        })}
      </tbody>
    </table>
  `
}

function Detail({ ns, view }: { ns: string; view: Rollout | { error: string } | null }) {
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null)
  const [busy, setBusy] = useState(false)
  if (!view) return html`<p>Loading…</p>`
  if ('error' in view) return html`<p class="error">${view.error}</p>`
  const r = view
  const run = (a: Action) => {
    setBusy(true)
    act(ns, r.name, a).then(
      (text) => setResult({ ok: true, text }),
      (e: Error) => setResult({ ok: false, text: e.message }),
    ).finally(() => setBusy(false))
  }
  const buttons: [Action, string][] = [
    ['promote', 'Promote'],
    ['promote-full', 'Promote full'],
    ['abort', 'Abort'],
    ['retry', 'Retry'],
    ['restart', 'Restart'],
  ]
  return html`
    <h1>${r.name} <${Badge} status=${r.status} /></h1>
    ${r.message && html`<p class="message">${r.message}</p>`}
    <div class="actions">
      ${buttons.map(([a, label]) => html`<button data-action=${a} disabled=${busy} onClick=${() => run(a)}>${label}</button>`)}
      ${result && html`<span class=${result.ok ? 'result ok' : 'result error'}>${result.text}</span>`}
    </div>
    <section class="summary">
      <div><b>Strategy</b> ${r.strategy}</div>
      ${r.steps > 0 && html`<div><b>Step</b> <span class="step">${r.step}/${r.steps}</span></div>`}
      ${r.setWeight !== undefined && html`<div><b>Weight</b> <${WeightBar} set=${r.setWeight} actual=${r.actualWeight ?? 0} /></div>`}
      <div><b>Replicas</b> ${r.replicas.available} available of ${r.replicas.desired} (${r.replicas.updated} updated)</div>
      <div><b>Images</b> ${(r.images ?? []).map((i) => html`<div>${i.image} <small>${i.roles?.join(', ')}</small></div>`)}</div>
    </section>
    ${r.stepList && html`<${Steps} steps=${r.stepList} current=${r.step} />`}
    <h2>Revisions</h2>
    ${(r.revisions ?? []).map(
      (rev) => html`<section class="revision">
        <h3>Revision ${rev.number}</h3>
        ${rev.replicaSets.map(
          (rs) => html`<div class="replicaset">
            <div><b>${rs.name}</b> <${Badge} status=${rs.status} /> ${rs.roles?.map((x) => html`<span class=${'role ' + x}>${x}</span>`)}
              <small>${rs.available}/${rs.desired} available · ${rs.images.join(', ')}</small></div>
            <div class="pods">${(rs.pods ?? []).map(
              (p) => html`<span class=${'pod ' + (p.ready.split('/')[0] === p.ready.split('/')[1] ? 'ready' : 'unready')} title=${`${p.name}: ${p.status}, ready ${p.ready}, restarts ${p.restarts}`}></span>`,
            )}</div>
          </div>`,
        )}
        ${(rev.analysisRuns ?? []).map((run) => html`<${Run} run=${run} />`)}
      </section>`,
    )}
  `
}

function WeightBar({ set, actual }: { set: number; actual: number }) {
  return html`<span class="weight">
    <span class="bar"><span class="fill" style=${`width:${actual}%`}></span><span class="mark" style=${`left:${set}%`}></span></span>
    set <span class="set-weight">${set}</span>%, actual <span class="actual-weight">${actual}</span>%
  </span>`
}

function Steps({ steps, current }: { steps: string[]; current: number }) {
  return html`<ol class="steps">
    ${steps.map((s, i) => html`<li class=${i < current ? 'done' : i === current ? 'current' : 'todo'}>${s}</li>`)}
  </ol>`
}

function Run({ run }: { run: AnalysisRun }) {
  return html`<div class="run" data-run=${run.name}>
    <div><b>Analysis ${run.name}</b> ${run.kind && html`<small>${run.kind}</small>`} <${Badge} status=${run.status} />
      <small>✔ ${run.summary.successful} ✖ ${run.summary.failed} ? ${run.summary.inconclusive} ⚠ ${run.summary.error}</small></div>
    ${run.message && html`<div class="message">${run.message}</div>`}
    <div class="charts">${(run.metrics ?? []).map((m) => html`<${Chart} name=${m.name} measurements=${m.measurements ?? []} />`)}</div>
  </div>`
}

render(html`<${App} />`, document.getElementById('app')!)
