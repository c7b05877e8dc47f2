/**
 * A small SVG writer for the bench charts: horizontal (grouped) bar charts and a latency-percentile line
 * chart. Plain strings, no dependencies, no browser; the output renders on GitHub and in any viewer.
 */

export const PALETTE = ['#2f6fde', '#8c8c8c', '#e0892b', '#3a9d5d', '#b04fc9', '#c0392b'];
const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"';

function esc(text) {
  return String(text).replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c],
  );
}

function text(x, y, body, { size = 12, anchor = 'start', weight = 'normal', fill = '#222' } = {}) {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" text-anchor="${anchor}" font-weight="${weight}" fill="${fill}" ${FONT}>${esc(body)}</text>`;
}

/** 1, 2, 5 x 10^n steps giving about `count` ticks from 0 to at least `max`. */
function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999 && ticks.length < 50; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function legend(series, x, y) {
  return series
    .map((s, i) => {
      const lx = x + i * 150;
      return `<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${s.color ?? PALETTE[i]}"/>${text(lx + 17, y, s.name)}`;
    })
    .join('');
}

/**
 * Horizontal grouped bars: one group per category, one bar per series. `values[i]` of a series belongs to
 * `categories[i]`; null draws "n/a".
 */
export function barChart({
  title,
  subtitle,
  unit,
  categories,
  series,
  format = (v) => v.toLocaleString('en-US'),
  width = 720,
}) {
  const labelWidth = 190;
  const barHeight = 18;
  const gap = 4;
  const groupGap = 16;
  const top = subtitle ? 66 : 50;
  const groupHeight = series.length * (barHeight + gap) - gap;
  const plotHeight = categories.length * (groupHeight + groupGap) - groupGap;
  const height = top + plotHeight + 50 + (series.length > 1 ? 22 : 0);
  const plotWidth = width - labelWidth - 90;
  const max = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v))));
  const ticks = niceTicks(max);
  const scale = (v) => (v / ticks[ticks.length - 1]) * plotWidth;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(12, 24, title, { size: 15, weight: 'bold' }),
  ];
  if (subtitle) out.push(text(12, 44, subtitle, { size: 12, fill: '#555' }));
  for (const t of ticks) {
    const x = labelWidth + scale(t);
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${top + plotHeight + 4}" stroke="#e4e4e4"/>`,
    );
    out.push(text(x, top + plotHeight + 20, format(t), { size: 11, anchor: 'middle', fill: '#555' }));
  }
  out.push(
    text(labelWidth + plotWidth / 2, top + plotHeight + 38, unit, {
      size: 11,
      anchor: 'middle',
      fill: '#555',
    }),
  );
  categories.forEach((category, c) => {
    const gy = top + c * (groupHeight + groupGap);
    out.push(text(labelWidth - 10, gy + groupHeight / 2 + 4, category, { anchor: 'end' }));
    series.forEach((s, i) => {
      const y = gy + i * (barHeight + gap);
      const v = s.values[c];
      if (v === null || v === undefined || !Number.isFinite(v)) {
        out.push(text(labelWidth + 4, y + barHeight - 5, 'n/a', { size: 11, fill: '#999' }));
        return;
      }
      const w = Math.max(1, scale(v));
      out.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${s.color ?? PALETTE[i]}"/>`,
      );
      out.push(text(labelWidth + w + 5, y + barHeight - 5, format(v), { size: 11 }));
    });
  });
  if (series.length > 1) out.push(legend(series, labelWidth, height - 12));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** x position of a percentile on the usual HdrHistogram axis: log10(1 / (1 - p)). */
function percentileX(p) {
  return Math.log10(1 / (1 - Math.min(p, 99.99) / 100));
}

/**
 * Latency by percentile (HdrHistogram style): x is 0%, 90%, 99%, 99.9%, 99.99% equally spaced, y is
 * milliseconds on a log scale. `series[i].points` are [percentile, ms] pairs.
 */
export function percentileChart({ title, subtitle, series, width = 720, height = 380 }) {
  const left = 70;
  const right = 20;
  const top = subtitle ? 66 : 50;
  const bottom = 70;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...values, 1))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, lo * 10)));
  const y = (v) =>
    top +
    plotH -
    ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const xMax = percentileX(99.99);
  const x = (p) => left + (percentileX(p) / xMax) * plotW;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(12, 24, title, { size: 15, weight: 'bold' }),
  ];
  if (subtitle) out.push(text(12, 44, subtitle, { size: 12, fill: '#555' }));
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    const yy = y(v);
    out.push(
      `<line x1="${left}" y1="${yy.toFixed(1)}" x2="${left + plotW}" y2="${yy.toFixed(1)}" stroke="#e4e4e4"/>`,
    );
    out.push(
      text(left - 8, yy + 4, `${Number(v.toPrecision(3))} ms`, { size: 11, anchor: 'end', fill: '#555' }),
    );
  }
  for (const p of [0, 90, 99, 99.9, 99.99]) {
    const xx = x(p);
    out.push(
      `<line x1="${xx.toFixed(1)}" y1="${top}" x2="${xx.toFixed(1)}" y2="${top + plotH}" stroke="#e4e4e4"/>`,
    );
    out.push(text(xx, top + plotH + 18, `${p}%`, { size: 11, anchor: 'middle', fill: '#555' }));
  }
  out.push(
    text(left + plotW / 2, top + plotH + 36, 'percentile (publish -> receive)', {
      size: 11,
      anchor: 'middle',
      fill: '#555',
    }),
  );
  series.forEach((s, i) => {
    const pts = s.points
      .filter(([p]) => p <= 99.99)
      .map(([p, v]) => `${x(p).toFixed(1)},${y(v).toFixed(1)}`)
      .join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color ?? PALETTE[i]}" stroke-width="2.2"/>`);
  });
  out.push(legend(series, left, height - 12));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
