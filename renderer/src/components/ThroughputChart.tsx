import type { ThroughputPoint, ThroughputSeries } from '../../../core/api/model.ts';
import { formatClock, formatCount } from '../format.ts';

const WIDTH = 720;
const HEIGHT = 200;
const MARGIN = { top: 10, right: 8, bottom: 24, left: 40 };

/**
 * Rounds up to 1, 2 or 5 times a power of ten, and to an even number, so
 * the axis labels at the top and half way are whole message counts.
 */
function niceMax(value: number): number {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= value) ?? 10;
  return Math.ceil((step * power) / 2) * 2;
}

function totals(points: readonly ThroughputPoint[]) {
  return points.reduce(
    (sum, point) => ({
      sent: sum.sent + point.sent,
      deferred: sum.deferred + point.deferred,
      bounced: sum.bounced + point.bounced,
      queued: sum.queued + point.queued,
    }),
    { sent: 0, deferred: 0, bounced: 0, queued: 0 },
  );
}

/** Stacked bars of sent, deferred and bounced messages, and a line of queued ones. */
export function ThroughputChart({ series }: { series: ThroughputSeries }) {
  const points = series.points;
  const innerWidth = WIDTH - MARGIN.left - MARGIN.right;
  const innerHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const peak = Math.max(0, ...points.map((point) => Math.max(point.sent + point.deferred + point.bounced, point.queued)));
  const yMax = niceMax(peak);
  const slot = innerWidth / Math.max(points.length, 1);
  const barWidth = Math.max(1, slot * 0.8);
  const y = (value: number) => MARGIN.top + innerHeight - (value / yMax) * innerHeight;
  const labelEvery = series.range === 'hour' ? 15 : 12;
  const sum = totals(points);
  const period = series.range === 'hour' ? 'the last hour' : 'the last 24 hours';
  const summary =
    `In ${period}: ${formatCount(sum.sent)} sent, ${formatCount(sum.deferred)} deferred, ` +
    `${formatCount(sum.bounced)} bounced, ${formatCount(sum.queued)} received from devices.`;
  const queuedPath = points
    .map((point, index) => `${index === 0 ? 'M' : 'L'}${MARGIN.left + slot * index + slot / 2},${y(point.queued)}`)
    .join(' ');

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={summary}>
        {[0, 0.5, 1].map((fraction) => (
          <g key={fraction}>
            <line className="chart-grid" x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(yMax * fraction)} y2={y(yMax * fraction)} />
            <text className="chart-axis" x={MARGIN.left - 6} y={y(yMax * fraction) + 4} textAnchor="end">
              {formatCount(yMax * fraction)}
            </text>
          </g>
        ))}
        {points.map((point, index) => {
          const x = MARGIN.left + slot * index + (slot - barWidth) / 2;
          const sentTop = y(point.sent);
          const deferredTop = y(point.sent + point.deferred);
          const bouncedTop = y(point.sent + point.deferred + point.bounced);
          return (
            <g key={point.at}>
              <rect className="chart-sent" x={x} width={barWidth} y={sentTop} height={y(0) - sentTop} />
              <rect className="chart-deferred" x={x} width={barWidth} y={deferredTop} height={sentTop - deferredTop} />
              <rect className="chart-bounced" x={x} width={barWidth} y={bouncedTop} height={deferredTop - bouncedTop} />
              {index % labelEvery === 0 ? (
                <text className="chart-axis" x={x + barWidth / 2} y={HEIGHT - 6} textAnchor="middle">
                  {formatClock(point.at)}
                </text>
              ) : null}
            </g>
          );
        })}
        <path className="chart-queued" d={queuedPath} fill="none" />
      </svg>
      <figcaption>
        <ul className="legend">
          <li><span className="swatch chart-sent" aria-hidden="true" /> Sent</li>
          <li><span className="swatch chart-deferred" aria-hidden="true" /> Deferred</li>
          <li><span className="swatch chart-bounced" aria-hidden="true" /> Bounced</li>
          <li><span className="swatch swatch-line" aria-hidden="true" /> Received from devices</li>
        </ul>
        <p className="muted">{summary}</p>
      </figcaption>
    </figure>
  );
}
