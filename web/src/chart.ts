// A small SVG line chart of one metric's measurements over time: a point per
// measurement, coloured by its outcome.
import { html } from 'htm/preact'
import type { Measurement } from './api'

const W = 320
const H = 120
const PAD = { left: 40, right: 10, top: 10, bottom: 22 }

export function Chart({ name, measurements }: { name: string; measurements: Measurement[] }) {
  const points = measurements
    .filter((m) => m.number !== undefined && m.number !== null && m.at)
    .map((m) => ({ t: Date.parse(m.at), v: m.number as number, status: m.status, value: m.value }))
  if (points.length === 0) {
    return html`<div class="chart empty">${name}: no numeric measurements yet</div>`
  }
  const t0 = Math.min(...points.map((p) => p.t))
  const t1 = Math.max(...points.map((p) => p.t))
  let lo = Math.min(...points.map((p) => p.v))
  let hi = Math.max(...points.map((p) => p.v))
  if (lo === hi) {
    lo -= 1
    hi += 1
  }
  const x = (t: number) => PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right)
  const y = (v: number) => H - PAD.bottom - ((v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom)
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')
  const span = Math.round((t1 - t0) / 1000)
  return html`
    <figure class="chart" data-metric=${name}>
      <svg viewBox="0 0 ${W} ${H}" width=${W} height=${H} role="img" aria-label=${`${name}: ${points.length} measurements`}>
        <line x1=${PAD.left} y1=${H - PAD.bottom} x2=${W - PAD.right} y2=${H - PAD.bottom} class="axis" />
        <line x1=${PAD.left} y1=${PAD.top} x2=${PAD.left} y2=${H - PAD.bottom} class="axis" />
        <text x=${PAD.left - 4} y=${PAD.top + 8} class="tick" text-anchor="end">${fmt(hi)}</text>
        <text x=${PAD.left - 4} y=${H - PAD.bottom} class="tick" text-anchor="end">${fmt(lo)}</text>
        <text x=${W - PAD.right} y=${H - 6} class="tick" text-anchor="end">${span}s</text>
        <text x=${PAD.left} y=${H - 6} class="tick">0s</text>
        <path d=${path} class="line" />
        ${points.map(
          (p) => html`<circle cx=${x(p.t)} cy=${y(p.v)} r="3.5" class=${'pt ' + p.status}>
            <title>${p.value} (${p.status}) at ${new Date(p.t).toLocaleTimeString()}</title>
          </circle>`,
        )}
      </svg>
      <figcaption>${name}</figcaption>
    </figure>
  `
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2)
}
