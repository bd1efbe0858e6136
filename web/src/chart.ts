// A small SVG line chart of one metric's measurements over time: a point per
// measurement, coloured by its outcome.
import { html } from 'htm/preact'
import type { Measurement } from './api'

const W = 320
const H = 120
const PAD = { left: 40, right: 10, top: 10, bottom: 22 }

export function Chart({ name, measurements }: { name: string; measurements: Measurement[] }) {
  if (measurements.some((m) => m.judge)) {
    return JudgeChart({ name, measurements })
  }
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

// The canary judge's chart: the e-value on a log scale with the line where
// the test fails (1/α), and under it the confidence interval on the
// canary/stable ratio, look after look, with the tolerated ratio.
export function JudgeChart({ name, measurements }: { name: string; measurements: Measurement[] }) {
  const looks = measurements
    .filter((m) => m.judge && m.at)
    .map((m) => ({ t: Date.parse(m.at), j: m.judge!, status: m.status }))
  const last = looks[looks.length - 1].j
  const t0 = Math.min(...looks.map((p) => p.t))
  const t1 = Math.max(...looks.map((p) => p.t))
  const x = (t: number) => PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right)
  const H2 = H / 2
  // Top half: log10 e-value from 0.01 to past the threshold.
  const eHi = Math.log10(Math.max(last.failsAt * 3, ...looks.map((p) => p.j.eValue)))
  const eLo = -2
  const ye = (e: number) => {
    const v = Math.min(Math.max(Math.log10(Math.max(e, 1e-300)), eLo), eHi)
    return H2 - 4 - ((v - eLo) / (eHi - eLo)) * (H2 - PAD.top - 4)
  }
  const ePath = looks.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${ye(p.j.eValue).toFixed(1)}`).join(' ')
  // Bottom half: the ratio on a log scale, 1/16 to 16, as a band.
  const rLo = Math.log2(1 / 16)
  const rHi = Math.log2(16)
  const yr = (r: number) => {
    const v = Math.min(Math.max(Math.log2(Math.max(r, 1 / 16)), rLo), rHi)
    return H - PAD.bottom - ((v - rLo) / (rHi - rLo)) * (H2 - PAD.bottom - 6)
  }
  const band =
    looks.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${yr(p.j.high ?? 16).toFixed(1)}`).join(' ') +
    ' ' +
    [...looks].reverse().map((p) => `L${x(p.t).toFixed(1)},${yr(p.j.low).toFixed(1)}`).join(' ') +
    ' Z'
  const high = last.high === undefined ? '∞' : fmt(last.high)
  const caption = `${name}: e-value ${fmtE(last.eValue)} (fails at ${fmtE(last.failsAt)}); ratio in [${fmt(last.low)}, ${high}], tolerated up to ${fmt(last.tolerated)}${last.boundary ? ` (slower than ${last.boundary}s)` : ''}`
  return html`
    <figure class="chart judge" data-metric=${name}>
      <svg viewBox="0 0 ${W} ${H}" width=${W} height=${H} role="img" aria-label=${caption}>
        <line x1=${PAD.left} y1=${ye(last.failsAt)} x2=${W - PAD.right} y2=${ye(last.failsAt)} class="threshold" />
        <text x=${PAD.left - 4} y=${ye(last.failsAt) + 3} class="tick" text-anchor="end">${fmtE(last.failsAt)}</text>
        <text x=${PAD.left - 4} y=${ye(1) + 3} class="tick" text-anchor="end">e 1</text>
        <path d=${ePath} class="line" />
        ${looks.map(
          (p) => html`<circle cx=${x(p.t)} cy=${ye(p.j.eValue)} r="3" class=${'pt ' + p.status}>
            <title>e-value ${fmtE(p.j.eValue)} (${p.status}) at ${new Date(p.t).toLocaleTimeString()}</title>
          </circle>`,
        )}
        <path d=${band} class="band" />
        <line x1=${PAD.left} y1=${yr(last.tolerated)} x2=${W - PAD.right} y2=${yr(last.tolerated)} class="threshold" />
        <text x=${PAD.left - 4} y=${yr(last.tolerated) + 3} class="tick" text-anchor="end">×${fmt(last.tolerated)}</text>
        <text x=${PAD.left - 4} y=${yr(1 / 16)} class="tick" text-anchor="end">ratio</text>
        <line x1=${PAD.left} y1=${H - PAD.bottom} x2=${W - PAD.right} y2=${H - PAD.bottom} class="axis" />
        <text x=${W - PAD.right} y=${H - 6} class="tick" text-anchor="end">${Math.round((t1 - t0) / 1000)}s</text>
        <text x=${PAD.left} y=${H - 6} class="tick">0s</text>
      </svg>
      <figcaption>${caption}</figcaption>
    </figure>
  `
}

function fmtE(v: number): string {
  return v >= 1000 || v < 0.01 ? v.toExponential(1) : fmt(v)
}
